"""Lesson 2 (Tokenization Basics) exercises.

02.1 ``count_pairs(words)``: how often each adjacent pair occurs inside the words.
02.2 ``merge_pair(word, pair, new)``: one BPE merge, left to right, without overlaps.
02.3 ``bpe_encode(text, merges, vocab)``: apply learned merges in order, then look the ids up.
02.4 ``decode(ids, token_bytes)``: byte-level decoding, joining the bytes before UTF-8.

The seed's example, the vocabulary after three merges of "low lower lowest lowly":

>>> bpe_encode("lowest", SEED_MERGES, SEED_VOCAB), bpe_encode("low lowly", SEED_MERGES, SEED_VOCAB)
([11, 5, 6], [10, 8, 10, 0, 7])
>>> decode([99, 97, 102, 195, 169], BYTES)     # "caf" + the two bytes of "é"
'café'
"""

from __future__ import annotations

from llmcourse.bpe import BPETokenizer
from llmcourse.grading import Case, Mistake, exact, exercise
from llmcourse.grading.registry import Alternative
from llmcourse.tokenizer_walkthrough import BPEWalkthrough, bpe_walkthrough
from llmcourse.tokenizer_walkthrough import count_pairs as _count_pairs
from llmcourse.tokenizer_walkthrough import merge_pair as _merge_pair

SEED_TEXT = "low lower lowest lowly"
_SEED = bpe_walkthrough(SEED_TEXT, num_merges=3)
SEED_MERGES = list(_SEED.merges)  # [('l', 'o'), ('lo', 'w'), ('low', 'e')]
SEED_VOCAB = dict(_SEED.vocab)  # token -> id, the seed's 12-entry table
SEED_WORDS = [list(w) for w in SEED_TEXT.split(" ")]

ALPHABET = "abcdelorstw"


def _random_word(r, alphabet: str = ALPHABET, low: int = 1, high: int = 9) -> str:
    return "".join(r.choice(alphabet) for _ in range(r.integer(low, high)))


def _random_text(r, alphabet: str = ALPHABET, words: int = 6) -> str:
    return " ".join(_random_word(r, alphabet) for _ in range(r.integer(1, words)))


# --- 02.1 pair counts -----------------------------------------------------------------------------
def count_pairs(words):
    """Reference: ``llmcourse.tokenizer_walkthrough.count_pairs``."""
    return _count_pairs(words)


def _flattened(words):
    flat = [s for w in words for s in w]  # one long sequence: pairs cross word boundaries
    return _count_pairs([flat])


def _with_separator(words):
    flat = [s for k, w in enumerate(words) for s in (["_"] if k else []) + list(w)]
    return _count_pairs([flat])


def _once_per_word(words):
    counts = {}
    for w in words:
        for pair in dict.fromkeys(zip(w, w[1:])):  # each distinct pair once per word
            counts[pair] = counts.get(pair, 0) + 1
    return counts


def _last_pair_missed(words):
    counts = {}
    for w in words:
        for i in range(len(w) - 2):  # stops one pair early
            pair = (w[i], w[i + 1])
            counts[pair] = counts.get(pair, 0) + 1
    return counts


def _non_overlapping(words):
    counts = {}
    for w in words:
        seen_at = {}
        for i in range(len(w) - 1):
            pair = (w[i], w[i + 1])
            if seen_at.get(pair) == i - 1:  # "aaa": the second (a, a) overlaps the first
                continue
            seen_at[pair] = i
            counts[pair] = counts.get(pair, 0) + 1
    return counts


def _distinct_words(words):
    return _count_pairs([list(w) for w in dict.fromkeys(tuple(w) for w in words)])  # repeats dropped


def _counter(words):
    from collections import Counter

    return dict(Counter(p for w in words for p in zip(w, w[1:])))


def _index_loop(words):
    counts = {}
    for w in words:
        for i in range(1, len(w)):
            counts[w[i - 1], w[i]] = counts.get((w[i - 1], w[i]), 0) + 1
    return counts


def _pairs_cases(r):
    words = [list(_random_word(r)) for _ in range(r.integer(2, 7))]
    merged = [_merge_pair(list(w), ("l", "o"), "lo") for w in ("lowlow", "lower", "slow")]
    distinct = [list(_random_word(r, low=2)) for _ in range(r.integer(1, 3))]
    repeated = [list(w) for w in distinct * r.integer(2, 3)]
    r.py.shuffle(repeated)
    return [
        Case([list("aaaa"), list("baab")]).named("repeated letters: (a, a) overlaps itself"),
        Case(words).named("random words"),
        Case([list("low"), list("low"), list("lower"), list("low")]).named("a word that occurs three times"),
        Case(repeated).named("random words, each repeated"),
        Case(merged).named("words with a merged symbol 'lo'"),
        Case([list("x")]).named("a one-letter word has no pairs"),
        Case([]).named("no words at all"),
    ]


exercise(
    "02.1", "Count adjacent pairs", points=1,
    reference=count_pairs,
    visible=[Case(SEED_WORDS).named("the seed's corpus: low lower lowest lowly")],
    hidden=_pairs_cases,
    compare=exact(),
    hint="Loop over the words, and inside each word over its neighbours zip(word, word[1:]); add 1 "
         "to counts[(a, b)] for every pair you see. Return a dict {(a, b): count}.",
    mistakes=[
        Mistake("pairs across words", _flattened,
                hint="Count pairs inside each word only: the last symbol of one word and the first "
                     "of the next are not neighbours (the seed's '_' is a word boundary)."),
        Mistake("the boundary counted as a symbol", _with_separator,
                hint="'_' only marks where a word ends when the seed prints the corpus; it is not a "
                     "symbol, so no pair contains it. Count inside each word."),
        Mistake("each pair once per word", _once_per_word,
                hint="A pair that occurs twice in the same word counts twice: 'aaaa' holds "
                     "(a, a) three times. Do not de-duplicate with set()."),
        Mistake("last pair missed", _last_pair_missed,
                hint="A word of n symbols has n - 1 pairs: loop i over range(len(word) - 1), or use "
                     "zip(word, word[1:])."),
        Mistake("overlapping pairs skipped", _non_overlapping,
                hint="Count every adjacent pair, overlapping ones too: 'aaa' holds (a, a) twice "
                     "(positions 0-1 and 1-2), even though one merge can only join one of them."),
        Mistake("a repeated word counted once", _distinct_words,
                hint="The corpus is a list of words, repeats included: 'low' three times adds its "
                     "pairs three times. Do not de-duplicate the words (no set() or dict keys)."),
    ],
    alternatives=[Alternative("collections.Counter over zip", _counter),
                  Alternative("index loop", _index_loop)],
)


# --- 02.2 one merge step --------------------------------------------------------------------------
def merge_pair(word, pair, new):
    """Reference: ``llmcourse.tokenizer_walkthrough.merge_pair``."""
    return _merge_pair(word, pair, new)


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
    ]


exercise(
    "02.2", "One merge step", points=1,
    reference=merge_pair,
    visible=[Case(["l", "o", "w", "e", "r"], ("l", "o"), "lo").named("iteration 1 on 'lower'"),
             Case(["lo", "w", "l", "y"], ("lo", "w"), "low").named("iteration 2 on 'lowly'")],
    hidden=_merge_cases,
    compare=exact(),
    hint="Walk through the word with an index i: if (word[i], word[i+1]) is the pair, append `new` "
         "and move i by 2; otherwise append word[i] and move i by 1. Return the new list.",
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
    alternatives=[Alternative("recursion", _recursive), Alternative("slices word[i:i+2]", _slice_compare)],
)


# --- 02.3 encode with given merges ----------------------------------------------------------------
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
    "02.3", "Encode with learned merges", points=2,
    reference=bpe_encode,
    visible=[Case("lowest", SEED_MERGES, SEED_VOCAB).named('the seed: "lowest" -> [11, 5, 6]'),
             Case("lowly", SEED_MERGES, SEED_VOCAB).named('the seed: "lowly" -> [10, 0, 7]'),
             Case("low", SEED_MERGES, SEED_VOCAB).named('the seed: "low" -> [10]'),
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
                hint="Put the id of '_' (vocab['_']) between the words, as the seed's table does."),
    ],
    alternatives=[Alternative("merges replayed with an inline loop", _own_encoder)],
)


# --- 02.4 byte-level decoding ---------------------------------------------------------------------
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
    "02.4", "Decode bytes, not tokens", points=1,
    reference=decode,
    visible=[Case(TOKENIZER.encode("To be, or not to be"), BYTES).named("plain ASCII"),
             Case(TOKENIZER.encode("café"), BYTES).named("'é' is two bytes")],
    hidden=_decode_cases,
    compare=exact(),
    hint="Look up each id's bytes, join them with b''.join(...), and decode once at the end with "
         ".decode('utf-8', errors='replace').",
    mistakes=[
        Mistake("str() of bytes", _str_of_bytes,
                hint="str(some_bytes) gives the Python literal \"b'...'\"; call "
                     "some_bytes.decode('utf-8', errors='replace') instead."),
        Mistake("each token decoded on its own", _per_token,
                hint="A token can hold half a character ('é' is the two bytes C3 A9). Join all the "
                     "bytes first, then decode once."),
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
