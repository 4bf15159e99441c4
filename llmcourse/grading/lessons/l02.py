"""Lesson 2 (Tokenization Basics) exercises.

02.1 ``merge_pair(word, pair, new)`` (find the bug): one BPE merge, left to right, without
     overlaps; the given version merges the joined text with ``str.replace`` and so also joins
     letters that belong to other symbols.
02.2 ``bpe_encode(text, merges, vocab)`` (rebuild): apply learned merges in order, then look the
     ids up.
02.3 ``decode(ids, token_bytes)`` (find the bug): byte-level decoding; the given version decodes
     each token on its own instead of joining the bytes first.
02.4 ``byte_fallback_encode(text, vocab)`` (transfer): a character vocabulary that spells every
     unknown character as its UTF-8 bytes, ``<0xC3>`` ``<0xA9>``, as Llama's tokenizer does.

The article's example, the vocabulary after three merges of "low lower lowest lowly":

>>> bpe_encode("lowest", SEED_MERGES, SEED_VOCAB), bpe_encode("low lowly", SEED_MERGES, SEED_VOCAB)
([11, 5, 6], [10, 8, 10, 0, 7])
>>> decode([99, 97, 102, 195, 169], BYTES)     # "caf" + the two bytes of "é"
'café'
>>> byte_fallback_encode("hé", FALLBACK_VOCAB)  # 'h' is known; 'é' is the bytes C3 A9
[264, 196, 170]
"""

from __future__ import annotations

import re

from llmcourse.tokenizers import BPETokenizer
from llmcourse.grading import Case, Mistake, exact, exercise
from llmcourse.grading.registry import Alternative
from llmcourse.tokenizers.walkthrough import BPEWalkthrough, bpe_walkthrough
from llmcourse.tokenizers.walkthrough import merge_pair as _merge_pair

SEED_TEXT = "low lower lowest lowly"
_SEED = bpe_walkthrough(SEED_TEXT, num_merges=3)
SEED_MERGES = list(_SEED.merges)  # [('l', 'o'), ('lo', 'w'), ('low', 'e')]
SEED_VOCAB = dict(_SEED.vocab)  # token -> id, the article's 12-entry table
SEED_WORDS = [list(w) for w in SEED_TEXT.split(" ")]

ALPHABET = "abcdelorstw"


def _random_word(r, alphabet: str = ALPHABET, low: int = 1, high: int = 9) -> str:
    return "".join(r.choice(alphabet) for _ in range(r.integer(low, high)))


def _random_text(r, alphabet: str = ALPHABET, words: int = 6) -> str:
    return " ".join(_random_word(r, alphabet) for _ in range(r.integer(1, words)))


# --- 02.1 one merge step (find the bug) --------------------------------------------------------------------------
def merge_pair(word, pair, new):
    """Reference: ``llmcourse.tokenizer_walkthrough.merge_pair``."""
    return _merge_pair(word, pair, new)


def _replace_text(word, pair, new):
    """The given bug: merge the space-joined text with ``str.replace``. It also joins letters
    that belong to other symbols: ['a', 'aa'] with the pair ('a', 'a') becomes ['aaa']."""
    text = " ".join(word)
    return text.replace(pair[0] + " " + pair[1], new).split(" ")


def _regex_bounded(word, pair, new):
    # the repair the solutions notebook shows: the pair must be two whole symbols
    pattern = r"(?<!\S)" + re.escape(pair[0] + " " + pair[1]) + r"(?!\S)"
    return re.sub(pattern, new, " ".join(word)).split(" ")


def _first_only(word, pair, new):
    word = list(word)
    for i in range(len(word) - 1):
        if (word[i], word[i + 1]) == tuple(pair):
            return word[:i] + [new] + word[i + 2:]
    return word


def _advance_by_one(word, pair, new):
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == tuple(pair):
            out.append(new)  # ... but forgets to skip the second symbol of the pair
        else:
            out.append(word[i])
        i += 1
    return out


def _drops_last(word, pair, new):
    out, i = [], 0
    while i < len(word) - 1:  # the last symbol is never looked at on its own
        if (word[i], word[i + 1]) == tuple(pair):
            out.append(new)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


def _right_to_left(word, pair, new):
    rev = _merge_pair(list(reversed(word)), (pair[1], pair[0]), new)
    return list(reversed(rev))


def _no_return(word, pair, new):
    _merge_pair(word, pair, new)  # computes the answer, then forgets to return it


def _joined_match(word, pair, new):
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and word[i] + word[i + 1] == "".join(pair):  # compares the text only
            out.append(new)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


def _recursive(word, pair, new):
    if len(word) < 2:
        return list(word)
    if (word[0], word[1]) == tuple(pair):
        return [new] + _recursive(word[2:], pair, new)
    return [word[0]] + _recursive(word[1:], pair, new)


def _slice_compare(word, pair, new):
    out, i, word = [], 0, list(word)
    while i < len(word):
        if word[i:i + 2] == list(pair):
            out.append(new)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


def _merge_cases(r):
    w = list(_random_word(r, "alo", 4, 12))
    return [
        Case(["l", "ow", "lo", "w"], ("lo", "w"), "low").named("same letters, other symbols: 'l' + 'ow' is not ('lo', 'w')"),
        Case(list("aaa"), ("a", "a"), "aa").named("overlapping pair 'aaa'"),
        Case(list("lowlow"), ("l", "o"), "lo").named("the pair occurs twice"),
        Case(list("yellow"), ("o", "w"), "ow").named("the pair is at the very end"),
        Case(w, ("l", "o"), "lo").named("a random word"),
        Case(["lo", "w", "e", "r"], ("lo", "w"), "low").named("a merged symbol in the pair"),
        Case(list("abc"), ("x", "y"), "xy").named("the pair does not occur"),
        Case(["a"], ("a", "a"), "aa").named("a one-symbol word"),
        Case(["a", "aa"], ("a", "a"), "aa").named("['a', 'aa']: the pair ('a', 'a') is not there"),
        Case(["ba", "b", "l", "o"], ("a", "b"), "ab").named("'ba' + 'b' ends in 'ab' but is not the pair ('a', 'b')"),
        Case(["lo", "w", "er"] + list(_random_word(r, "low", 2, 6)), ("w", "e"), "we")
        .named("'w' + 'er' spells 'w e' in the joined text"),
    ]


exercise(
    "02.1", "One merge step, on symbols not text", points=2, kind="find the bug", given=_replace_text,
    reference=merge_pair,
    visible=[Case(["l", "o", "w", "e", "r"], ("l", "o"), "lo").named("iteration 1 on 'lower'"),
             Case(["lo", "w", "l", "y"], ("lo", "w"), "low").named("iteration 2 on 'lowly'")],
    hidden=_merge_cases,
    compare=exact(),
    hint="Work on the list of symbols, not on the joined text: walk through the word with an index i; "
         "if (word[i], word[i+1]) is the pair, append `new` and move i by 2; otherwise append word[i] "
         "and move i by 1. Return the new list.",
    mistakes=[
        Mistake("forgot to return", _no_return,
                hint="Your function returns None: end it with `return` and the new list."),
        Mistake("first occurrence only", _first_only,
                hint="Replace every occurrence of the pair, not only the first one: 'lowlow' "
                     "becomes ['lo', 'w', 'lo', 'w']."),
        Mistake("second symbol not skipped", _advance_by_one,
                hint="After a merge, skip both symbols of the pair (i += 2); otherwise the second "
                     "symbol is copied again."),
        Mistake("last symbol dropped", _drops_last,
                hint="The last symbol of the word must still be copied when it is not part of a "
                     "merge: let the loop run while i < len(word)."),
        Mistake("merged right to left", _right_to_left,
                hint="Scan from the left: 'aaa' with the pair (a, a) becomes ['aa', 'a'], not "
                     "['a', 'aa']."),
        Mistake("matched the joined text", _joined_match,
                hint="Compare the two symbols with the pair, (word[i], word[i+1]) == pair, not their "
                     "joined text: ['l', 'ow'] spells 'low' but is not the pair ('lo', 'w')."),
    ],
    alternatives=[Alternative("recursion", _recursive), Alternative("slices word[i:i+2]", _slice_compare),
                  Alternative("a regex that matches whole symbols only", _regex_bounded)],
)


# --- 02.2 encode with given merges (rebuild) ----------------------------------------------------------------
def bpe_encode(text, merges, vocab):
    """Reference: the walk-through's encoder (``BPEWalkthrough.encode``) with these merges and
    this vocabulary (``token -> id``, ids 0..n-1)."""
    tokens = sorted(vocab, key=vocab.get)  # id -> token
    return BPEWalkthrough(text, [], tokens, [tuple(m) for m in merges]).encode(text)


def _encode_with(text, merges, vocab, transform):
    ids = []
    for k, word in enumerate(text.split(" ")):
        if k:
            ids.append(vocab["_"])
        ids.extend(vocab[t] for t in transform(list(word), merges, vocab))
    return ids


def _apply(symbols, merges):
    for a, b in merges:
        symbols = _merge_pair(symbols, (a, b), a + b)
    return symbols


def _reversed(text, merges, vocab):
    return _encode_with(text, merges, vocab, lambda s, m, v: _apply(s, list(reversed(m))))


def _no_merges(text, merges, vocab):
    return _encode_with(text, merges, vocab, lambda s, m, v: s)


def _no_separator(text, merges, vocab):
    return [i for i in bpe_encode(text, merges, vocab) if i != vocab["_"]]


def _longest_match(symbols, merges, vocab):
    word, out, i = "".join(symbols), [], 0
    while i < len(word):
        j = max(k for k in range(i + 1, len(word) + 1) if word[i:k] in vocab)  # longest known piece
        out.append(word[i:j])
        i = j
    return out


def _greedy(text, merges, vocab):
    return _encode_with(text, merges, vocab, _longest_match)


def _once_each(text, merges, vocab):
    def first_only(symbols, m, v):
        for a, b in m:
            symbols = _first_only(symbols, (a, b), a + b)
        return symbols
    return _encode_with(text, merges, vocab, first_only)


def _own_encoder(text, merges, vocab):
    ids = []
    for k, word in enumerate(text.split(" ")):
        if k:
            ids.append(vocab["_"])
        symbols = list(word)
        for a, b in merges:
            out, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            symbols = out
        ids += [vocab[s] for s in symbols]
    return ids


ORDER_MERGES = [("b", "c"), ("a", "b")]
ORDER_VOCAB = {"a": 0, "b": 1, "c": 2, "_": 3, "bc": 4, "ab": 5}


def _encode_cases(r):
    wt = bpe_walkthrough(_random_text(r, words=8) + " " + _random_text(r, words=8), num_merges=r.integer(3, 9))
    chars = "".join(wt.tokens[:wt.n_chars - 1])  # the characters this vocabulary knows ("_" excluded)
    text = " ".join(_random_word(r, chars, 2, 10) for _ in range(r.integer(1, 4)))
    return [
        Case("abc", ORDER_MERGES, ORDER_VOCAB).named("merge order matters: (b, c) was learned first"),
        Case("lowlow", SEED_MERGES, SEED_VOCAB).named("the same merge twice in one word"),
        Case(text, list(wt.merges), wt.vocab).named("merges learned on a random text"),
        Case(wt.text.split(" ")[0], list(wt.merges), wt.vocab).named("a word of that training text"),
    ]


exercise(
    "02.2", "Encode with learned merges", points=2, kind="rebuild",
    reference=bpe_encode,
    visible=[Case("lowest", SEED_MERGES, SEED_VOCAB).named('the article: "lowest" -> [11, 5, 6]'),
             Case("lowly", SEED_MERGES, SEED_VOCAB).named('the article: "lowly" -> [10, 0, 7]'),
             Case("low", SEED_MERGES, SEED_VOCAB).named('the article: "low" -> [10]'),
             Case("low lowest", SEED_MERGES, SEED_VOCAB).named("two words")],
    hidden=_encode_cases,
    compare=exact(),
    hint="Split the text on spaces. For each word start from its characters and apply every merge "
         "(a, b) in the order it was learned, with merge_pair; then map each symbol to vocab[symbol] "
         "and put vocab['_'] between words.",
    mistakes=[
        Mistake("merges never applied", _no_merges,
                hint="Apply the merges: start from the characters of each word and run merge_pair "
                     "for every (a, b) in `merges`, in order."),
        Mistake("longest match instead of BPE", _greedy,
                hint="BPE is not 'take the longest known piece from the left': replay the merges in "
                     "their learned order. With merges [(b, c), (a, b)], 'abc' becomes ['a', 'bc'], "
                     "not ['ab', 'c']."),
        Mistake("merges in reverse order", _reversed,
                hint="Apply the merges in the order they were learned (first to last): 'low' can only "
                     "form after 'lo' exists."),
        Mistake("each merge applied once", _once_each,
                hint="A merge joins every occurrence of its pair in the word ('lowlow' holds (l, o) "
                     "twice), not only the first."),
        Mistake("no word separator", _no_separator,
                hint="Put the id of '_' (vocab['_']) between the words, as the article's table does."),
    ],
    alternatives=[Alternative("merges replayed with an inline loop", _own_encoder)],
)


# --- 02.3 byte-level decoding (find the bug) ---------------------------------------------------------------------
def decode(ids, token_bytes):
    """Reference: join the tokens' bytes, then decode UTF-8 with ``errors="replace"``, exactly
    what ``BPETokenizer.decode`` does."""
    return b"".join(token_bytes[int(i)] for i in ids).decode("utf-8", errors="replace")


def _per_token(ids, token_bytes):
    return "".join(token_bytes[int(i)].decode("utf-8", errors="replace") for i in ids)


def _latin1(ids, token_bytes):
    return b"".join(token_bytes[int(i)] for i in ids).decode("latin-1")


def _ignore(ids, token_bytes):
    return b"".join(token_bytes[int(i)] for i in ids).decode("utf-8", errors="ignore")


def _drop_last_on_error(ids, token_bytes):
    data = b"".join(token_bytes[int(i)] for i in ids)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data[:-1].decode("utf-8", errors="replace")  # drops the last byte, hoping it was the cut


def _bytearray(ids, token_bytes):
    buf = bytearray()
    for i in ids:
        buf.extend(token_bytes[int(i)])
    return buf.decode("utf-8", errors="replace")


def _str_of_bytes(ids, token_bytes):
    return str(b"".join(token_bytes[int(i)] for i in ids))


# trained on plain English text: every non-ASCII character is split into its single bytes
_TRAIN = "low lower lowest lowly newer newest wider widest " * 8 + "To be, or not to be, that is the question. " * 4
TOKENIZER = BPETokenizer.train(_TRAIN, vocab_size=300)
BYTES = {i: TOKENIZER.token_bytes(i) for i in range(TOKENIZER.vocab_size)}  # id -> bytes


def _decode_cases(r):
    words = ["naïve", "café", "Ångström", "日本", "🙂", "lowest", "question", " ", "\n", "ß"]
    text = " ".join(r.choice(words) for _ in range(r.integer(2, 8)))
    ids = TOKENIZER.encode(text)
    return [
        Case(TOKENIZER.encode("naïve café 🙂"), BYTES).named("accents and an emoji"),
        Case(ids, BYTES).named("random multilingual text"),
        Case(TOKENIZER.encode("日本")[:-1], BYTES).named("cut in the middle of a character"),
        Case(TOKENIZER.encode("日本")[:-2] + TOKENIZER.encode(" ok"), BYTES)
        .named("a broken character in the middle of the text"),
        Case(TOKENIZER.encode("café")[:-1], BYTES).named("cut after the first byte of 'é'"),
        Case([], BYTES).named("no ids"),
    ]


exercise(
    "02.3", "Decode bytes, not tokens", points=1, kind="find the bug", given=_per_token,
    reference=decode,
    visible=[Case(TOKENIZER.encode("To be, or not to be"), BYTES).named("plain ASCII"),
             Case(TOKENIZER.encode("café"), BYTES).named("'é' is two bytes")],
    hidden=_decode_cases,
    compare=exact(),
    hint="A token can hold half a character ('é' is the two bytes C3 A9). Look up each id's bytes, "
         "join them with b''.join(...), and decode once at the end with .decode('utf-8', errors='replace').",
    mistakes=[
        Mistake("str() of bytes", _str_of_bytes,
                hint="str(some_bytes) gives the Python literal \"b'...'\"; call "
                     "some_bytes.decode('utf-8', errors='replace') instead."),
        Mistake("latin-1 instead of UTF-8", _latin1,
                hint="The bytes are UTF-8: decode with 'utf-8' (latin-1 turns 'é' into 'Ã©')."),
        Mistake("invalid bytes dropped", _ignore,
                hint="Use errors='replace', not 'ignore': an incomplete character becomes '\\ufffd' "
                     "(as tiktoken and BPETokenizer.decode do) instead of vanishing."),
        Mistake("the last byte dropped on an error", _drop_last_on_error,
                hint="A decoding error is not always in the last byte, and the bytes you drop are text. "
                     "Decode all the joined bytes once with errors='replace'."),
    ],
    alternatives=[Alternative("bytearray, extended token by token", _bytearray)],
)


# --- 02.4 byte fallback (transfer) ----------------------------------------------------------------
def _fallback_vocab(chars: str) -> dict[str, int]:
    """A SentencePiece-style table: ``<unk>`` = 0, the 256 byte tokens ``<0x00>`` .. ``<0xFF>`` =
    1..256, then one id per known character."""
    vocab = {"<unk>": 0}
    vocab.update({f"<0x{b:02X}>": 1 + b for b in range(256)})
    vocab.update({c: 257 + k for k, c in enumerate(dict.fromkeys(chars))})
    return vocab


FALLBACK_VOCAB = _fallback_vocab("abcdefghijklmnopqrstuvwxyz ,.!?")


def byte_fallback_encode(text: str, vocab: dict[str, int]) -> list[int]:
    """Reference: a known character is its own id; an unknown one is spelled as the ids of its
    UTF-8 bytes, ``vocab[f"<0x{b:02X}>"]`` for each byte ``b``."""
    ids = []
    for ch in text:
        if ch in vocab:
            ids.append(vocab[ch])
        else:
            ids.extend(vocab[f"<0x{b:02X}>"] for b in ch.encode("utf-8"))
    return ids


def _fallback_unk(text, vocab):
    return [vocab.get(ch, vocab["<unk>"]) for ch in text]


def _fallback_dropped(text, vocab):
    return [vocab[ch] for ch in text if ch in vocab]


def _always_bytes(text, vocab):
    return [vocab[f"<0x{b:02X}>"] for b in text.encode("utf-8")]


def _first_byte_only(text, vocab):
    return [vocab[ch] if ch in vocab else vocab[f"<0x{ch.encode('utf-8')[0]:02X}>"] for ch in text]


def _fallback_via_table(text, vocab):
    byte_id = [vocab["<0x%02X>" % b] for b in range(256)]  # byte value -> id, built once
    out = []
    for ch in text:
        out += [vocab[ch]] if ch in vocab else [byte_id[b] for b in bytearray(ch, "utf-8")]
    return out


def _fallback_cases(r):
    known = "".join(r.py.sample("abcdefghijklmnopqrstuvwxyz", r.integer(5, 15))) + " "
    vocab = _fallback_vocab(known + "é")  # 'é' is a known character in this table
    extra = ["é", "ß", "日", "🙂", "Å", "\n", "€", "x", "q"]
    text = "".join(r.choice(list(known)) if r.rand(1).item() < 0.6 else r.choice(extra)
                   for _ in range(r.integer(4, 16)))
    return [
        Case(text, vocab).named("random text, some characters unknown"),
        Case("é日", vocab).named("'é' is in this table, '日' is not (three bytes E6 97 A5)"),
        Case("🙂", FALLBACK_VOCAB).named("an emoji: four bytes"),
        Case("€ ß\n", FALLBACK_VOCAB).named("only unknown characters and a space"),
        Case("", FALLBACK_VOCAB).named("the empty text"),
        Case("plain ascii, known.", FALLBACK_VOCAB).named("every character known"),
    ]


exercise(
    "02.4", "Byte fallback for unknown characters", points=2, kind="transfer",
    reference=byte_fallback_encode,
    visible=[Case("café", FALLBACK_VOCAB).named("'é' is not in the table: its bytes C3 A9"),
             Case("hi!", FALLBACK_VOCAB).named("every character known")],
    hidden=_fallback_cases,
    compare=exact(),
    hint="For each character ch of the text: if ch is a key of vocab, append vocab[ch]; otherwise append "
         "vocab[f'<0x{b:02X}>'] for every byte b of ch.encode('utf-8'), in order.",
    mistakes=[
        Mistake("unknown characters become <unk>", _fallback_unk,
                hint="Byte fallback never needs <unk>: spell an unknown character as the tokens of its "
                     "UTF-8 bytes, vocab[f'<0x{b:02X}>'] for b in ch.encode('utf-8')."),
        Mistake("unknown characters dropped", _fallback_dropped,
                hint="Nothing may vanish: an unknown character becomes one token per UTF-8 byte."),
        Mistake("every character spelled in bytes", _always_bytes,
                hint="Fall back to bytes only for characters the vocabulary does not have; a known "
                     "character (even a non-ASCII one such as 'é' when the table has it) is one id."),
        Mistake("only the first byte", _first_byte_only,
                hint="A character outside ASCII has 2 to 4 UTF-8 bytes; append one token for EACH of "
                     "them, in order."),
    ],
    alternatives=[Alternative("a byte -> id table built once", _fallback_via_table)],
)
