"""Byte-level BPE, the GPT-2 way (lesson 2): pre-split, learn merges, encode, decode, save, load.

Text is cut into chunks by the GPT-2 regex (:func:`split_chunks`), each chunk becomes UTF-8 bytes
(ids 0..255), and the learned merges join bytes into longer tokens (merge ``i`` makes id
``256 + i``). Special tokens such as ``<|endoftext|>`` come after the merges and are never split.

The module reads top to bottom in the order of the lesson:

* **pre-split**: :data:`GPT2_PATTERN`, :func:`split_chunks`;
* **training**: :func:`get_stats` counts adjacent pairs, :func:`merge` replaces one pair, and
  :func:`learn_merges` repeats the two. ``learn_merges(..., fast=True)`` (the default) runs the
  same rules incrementally (only the chunks that hold the merged pair are recounted); the
  tests assert both forms learn the same merges;
* **encoding**: :func:`merge_piece` encodes one chunk the way tiktoken does, again with a plain
  loop and a ``fast`` form beside it;
* :class:`BPETokenizer`: the tokenizer a lesson uses.

>>> split_chunks("Hello world's 42!!")
['Hello', ' world', "'s", ' 42', '!!']
>>> tok = BPETokenizer.train("low lower lowest lowly " * 10, vocab_size=262)
>>> [tok.token_bytes(i) for i in range(256, 261)]
[b'lo', b'low', b' low', b' lowe', b'ly']
>>> tok.encode("lowest<|endoftext|>"), tok.vocab_size
([257, 101, 115, 116, 261], 262)
>>> tok.decode(tok.encode("slow lowly")) == "slow lowly"
True

The ids equal tiktoken's given the same merges (``tests/test_tokenizers_bpe_tiktoken.py`` proves
it)::

    enc = tiktoken.Encoding("mine", pat_str=tok.pattern, mergeable_ranks=tok.mergeable_ranks(),
                            special_tokens=tok.special_tokens)
    enc.encode(text, allowed_special="all") == tok.encode(text)

One known difference: the ``regex`` package knows newer Unicode versions than tiktoken 0.14, so
characters first assigned in Unicode 16 or 17 may be pre-split differently by the two.
"""

from __future__ import annotations

import heapq
import json
import warnings
from collections import Counter
from pathlib import Path

import regex

__all__ = ["BPETokenizer", "ENDOFTEXT", "GPT2_PATTERN", "split_chunks", "count_chunks", "get_stats",
           "merge", "learn_merges", "merge_piece"]

#: The pre-split regex of GPT-2 (OpenAI's ``encoder.py``): contractions, optional space + letters,
#: optional space + digits, optional space + other symbols, whitespace runs (the last space of a
#: run before a word stays with that word).
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

_COMPILED: dict[str, regex.Pattern] = {}


# ---- pre-split ----------------------------------------------------------------------------------
def compile_pattern(pattern: str) -> regex.Pattern:
    """Compile (and cache) a pre-split pattern, with a clear error if it is not a valid regex."""
    if pattern not in _COMPILED:
        try:
            _COMPILED[pattern] = regex.compile(pattern)
        except regex.error as e:
            raise ValueError(f"the pre-split pattern {pattern!r} is not a valid regex: {e}.") from None
    return _COMPILED[pattern]


def split_chunks(text: str, pattern: str = GPT2_PATTERN) -> list[str]:
    """Lesson 2: cut ``text`` into the chunks that BPE works on separately (merges never cross
    chunks).

    >>> split_chunks("  two spaces, 3.14")
    [' ', ' two', ' spaces', ',', ' 3', '.', '14']
    """
    return compile_pattern(pattern).findall(text)


def count_chunks(texts, pattern: str = GPT2_PATTERN) -> Counter:
    """Count every distinct chunk over an iterable of texts (training only needs the counts)."""
    counts: Counter = Counter()
    finder = compile_pattern(pattern).findall
    for text in texts:
        counts.update(finder(text))
    return counts


# ---- training: count pairs, merge the most frequent, repeat -------------------------------------
def get_stats(words, freqs=None) -> dict[tuple, int]:
    """Lesson 2: how often each adjacent pair occurs, inside each word only (never across words).

    ``freqs[i]`` says how many times ``words[i]`` occurs (1 each by default). Overlapping pairs
    count: ``[97, 97, 97]`` holds ``(97, 97)`` twice.

    >>> get_stats([[97, 97, 97], [97, 98]], freqs=[3, 5])
    {(97, 97): 6, (97, 98): 5}
    """
    stats: dict[tuple, int] = {}
    for k, word in enumerate(words):
        c = 1 if freqs is None else freqs[k]
        for pair in zip(word, word[1:]):
            stats[pair] = stats.get(pair, 0) + c
    return stats


def merge(ids, pair, new) -> list:
    """Lesson 2: replace every ``pair`` in ``ids`` by ``new``, left to right, without overlap.

    >>> merge([97, 97, 97, 98], (97, 97), 256)
    [256, 97, 98]
    """
    a, b = pair
    out, i, n = [], 0, len(ids)
    while i < n:
        if i + 1 < n and ids[i] == a and ids[i + 1] == b:
            out.append(new)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def learn_merges(chunk_counts, num_merges: int, fast: bool = True):
    """Lesson 2: learn up to ``num_merges`` byte-pair merges from ``{chunk: count}``.

    Returns ``(merges, vocab, counts)``: ``merges[i] = (a, b)`` created id ``256 + i`` whose
    bytes are ``vocab[256 + i] = vocab[a] + vocab[b]``, and ``counts[i]`` is how often the pair
    occurred when it was merged.

    Rules (lessons and tests rely on them):

    * pairs are counted inside chunks only, each distinct chunk weighted by its count, and
      overlapping pairs count (``aaa`` holds ``(a, a)`` twice); a merge replaces occurrences left
      to right without overlap;
    * **ties**: among pairs with the highest count, the pair with the smallest
      ``(left id, right id)`` wins;
    * if a pair's bytes already form a token (``ab + c`` after ``a + bc``), its occurrences are
      relabelled to that token and no new id is made (tiktoken needs unique bytes per token);
    * training stops early when no pair is left (every chunk is a single token).

    ``fast=False`` is the loop as the lesson tells it: recount every pair (:func:`get_stats`),
    merge the best one everywhere (:func:`merge`), repeat. ``fast=True`` follows the same rules
    but keeps the counts between merges, with an index of the chunks where each pair occurs and
    a max-heap of counts, so a merge revisits only the chunks that hold the merged pair; on
    real text that is orders of magnitude faster.

    >>> merges, vocab, counts = learn_merges({"aaab": 2, "ab": 1}, num_merges=2, fast=False)
    >>> merges, [vocab[i] for i in (256, 257)], counts
    ([(97, 97), (97, 98)], [b'aa', b'ab'], [4, 3])
    >>> learn_merges({"aaab": 2, "ab": 1}, num_merges=2, fast=True) == (merges, vocab, counts)
    True
    """
    if isinstance(num_merges, bool) or not isinstance(num_merges, int) or num_merges < 0:
        raise ValueError(f"num_merges must be a non-negative integer, got {num_merges!r}.")
    words, freqs = [], []
    for chunk, c in chunk_counts.items():
        data = chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
        if len(data) > 1:  # a one-byte chunk has no pair to count
            words.append(list(data))
            freqs.append(int(c))
    vocab = [bytes([i]) for i in range(256)]
    if fast:
        return _learn_merges_incremental(words, freqs, num_merges, vocab)
    id_of = {t: i for i, t in enumerate(vocab)}
    merges: list[tuple[int, int]] = []
    counts: list[int] = []
    while len(merges) < num_merges:
        stats = get_stats(words, freqs)
        if not stats:
            break  # every chunk is a single token
        pair = min(stats, key=lambda p: (-stats[p], p))  # highest count, then smallest ids
        joined = vocab[pair[0]] + vocab[pair[1]]
        new = id_of.get(joined)
        if new is None:  # the usual case: a brand new token
            new = id_of[joined] = len(vocab)
            vocab.append(joined)
            merges.append(pair)
            counts.append(stats[pair])
        words = [merge(w, pair, new) for w in words]
    return merges, vocab, counts


def _learn_merges_incremental(words, freqs, num_merges, vocab):
    """:func:`learn_merges` with ``fast=True``: the same merges, without recounting every pair."""
    pair_count: dict[tuple[int, int], int] = get_stats(words, freqs)
    where: dict[tuple[int, int], set[int]] = {}  # pair -> indices of the words that hold it
    for i, w in enumerate(words):
        for p in zip(w, w[1:]):
            where.setdefault(p, set()).add(i)
    heap = [(-n, a, b) for (a, b), n in pair_count.items()]  # max count first, then smallest ids
    heapq.heapify(heap)
    id_of = {t: i for i, t in enumerate(vocab)}
    merges: list[tuple[int, int]] = []
    counts: list[int] = []
    while len(merges) < num_merges and heap:
        neg, a, b = heapq.heappop(heap)
        n = pair_count.get((a, b), 0)
        if n == 0 or n != -neg:
            continue  # stale heap entry: the count changed after it was pushed
        joined = vocab[a] + vocab[b]
        new = id_of.get(joined)
        if new is None:
            new = id_of[joined] = len(vocab)
            vocab.append(joined)
            merges.append((a, b))
            counts.append(n)
        changed: set[tuple[int, int]] = set()
        for i in where.pop((a, b)):
            old_w, c = words[i], freqs[i]
            new_w = merge(old_w, (a, b), new)
            old_pairs, new_pairs = list(zip(old_w, old_w[1:])), list(zip(new_w, new_w[1:]))
            for p in old_pairs:
                pair_count[p] -= c
            for p in new_pairs:
                pair_count[p] = pair_count.get(p, 0) + c
            old_set, new_set = set(old_pairs), set(new_pairs)
            for p in old_set - new_set:
                if p != (a, b):
                    where[p].discard(i)
            for p in new_set - old_set:
                where.setdefault(p, set()).add(i)
            changed |= old_set | new_set
            words[i] = new_w
        for p in changed:
            m = pair_count[p]
            if m > 0:
                heapq.heappush(heap, (-m, p[0], p[1]))
            else:
                del pair_count[p]
                where.pop(p, None)
    return merges, vocab, counts


# ---- encoding one chunk ---------------------------------------------------------------------------
def merge_piece(piece: bytes, ranks: dict[bytes, int], fast: bool = True) -> list[int]:
    """Lesson 2: encode one chunk's bytes exactly as tiktoken does.

    Start from single bytes; repeatedly join the adjacent pair whose *joined bytes* have the
    lowest rank (the leftmost such pair on a tie) until no adjacent pair is a token. A chunk that
    is itself a token comes out whole.

    ``fast=False`` is that loop as written (O(n^2) in the chunk's length); ``fast=True`` keeps
    the parts as a linked list over byte offsets and the candidate pairs in a heap, so long
    chunks cost O(n log n). Both give the same ids.

    >>> ranks = {**{bytes([i]): i for i in range(256)}, b"lo": 256, b"low": 257, b"lowe": 258}
    >>> merge_piece(b"lowest", ranks), merge_piece(b"lowly", ranks, fast=False)
    ([258, 115, 116], [257, 108, 121])
    """
    whole = ranks.get(piece)
    if whole is not None:
        return [whole]
    if fast:
        return _merge_piece_heap(piece, ranks)
    parts = [piece[i:i + 1] for i in range(len(piece))]
    while len(parts) > 1:
        ranked = [(ranks[p + q], i) for i, (p, q) in enumerate(zip(parts, parts[1:])) if p + q in ranks]
        if not ranked:
            break
        _, i = min(ranked)  # lowest rank, then leftmost
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return [ranks[p] for p in parts]


def _merge_piece_heap(piece: bytes, ranks: dict[bytes, int]) -> list[int]:
    """:func:`merge_piece` with ``fast=True``: a linked list of parts and a heap of pairs."""
    n = len(piece)
    nxt = list(range(1, n + 1))  # nxt[s]: start of the part after the part starting at s
    prv = list(range(-1, n - 1))
    alive = [True] * n
    heap = []
    for s in range(n - 1):
        r = ranks.get(piece[s:s + 2])
        if r is not None:
            heap.append((r, s, s + 2))
    heapq.heapify(heap)
    while heap:
        r, s, e = heapq.heappop(heap)
        m = nxt[s]
        if not alive[s] or m >= n or nxt[m] != e:
            continue  # this pair no longer exists (its rank depends only on s and e)
        nxt[s] = e  # join the parts starting at s and m
        alive[m] = False
        if e < n:
            prv[e] = s
            r2 = ranks.get(piece[s:nxt[e]])
            if r2 is not None:
                heapq.heappush(heap, (r2, s, nxt[e]))
        p = prv[s]
        if p >= 0:
            r2 = ranks.get(piece[p:e])
            if r2 is not None:
                heapq.heappush(heap, (r2, p, e))
    out, s = [], 0
    while s < n:
        out.append(ranks[piece[s:nxt[s]]])
        s = nxt[s]
    return out


# ---- the tokenizer ----------------------------------------------------------------------------------
FORMAT = "llmcourse-bpe"
VERSION = 1
ENDOFTEXT = "<|endoftext|>"


def _readable(b: bytes) -> str:
    """Bytes as text for humans: valid UTF-8 as is, other bytes as ``\\xNN``."""
    return b.decode("utf-8", errors="backslashreplace")


class BPETokenizer:
    """Lesson 2: a byte-level BPE tokenizer whose ids match tiktoken's on the same merges.

    Build one with :meth:`train` or :meth:`load`; ``BPETokenizer(merges, special_tokens)`` takes
    ``merges`` as ``(left id, right id)`` pairs in order and ``special_tokens`` as a list of
    strings (ids follow the merges) or a ``{string: id}`` dict.

    ``encode(text)`` recognises special tokens in the text by default (tiktoken's
    ``allowed_special="all"``); ``encode(text, allowed_special=())`` or :meth:`encode_ordinary`
    treat them as plain text (tiktoken's ``encode_ordinary``); a set allows only those.
    ``decode`` joins the bytes and decodes UTF-8 with ``errors="replace"`` like tiktoken, so a
    token list that ends inside a character shows ``\\ufffd``:

    >>> tok = BPETokenizer([])
    >>> tok.encode("é"), tok.decode([195]), tok.decode_bytes([195])
    ([195, 169], '\\ufffd', b'\\xc3')
    """

    def __init__(self, merges=(), special_tokens=(ENDOFTEXT,), pattern: str = GPT2_PATTERN):
        self._regex = compile_pattern(pattern)
        self.pattern = pattern
        vocab = [bytes([i]) for i in range(256)]
        ranks = {t: i for i, t in enumerate(vocab)}
        self.merges: list[tuple[int, int]] = []
        for k, pair in enumerate(merges):
            try:
                a, b = (int(x) for x in pair)
            except (TypeError, ValueError):
                raise ValueError(f"merge {k} must be a pair of token ids, got {pair!r}.") from None
            if not (0 <= a < len(vocab) and 0 <= b < len(vocab)):
                raise ValueError(f"merge {k} = {pair!r} uses an id that does not exist yet (ids so far: "
                                 f"0..{len(vocab) - 1}); merges must only join earlier tokens.")
            joined = vocab[a] + vocab[b]
            if joined in ranks:
                raise ValueError(f"merge {k} = {pair!r} makes {joined!r}, which is already token "
                                 f"{ranks[joined]}; every token must have different bytes.")
            ranks[joined] = len(vocab)
            vocab.append(joined)
            self.merges.append((a, b))
        self._vocab, self._ranks = vocab, ranks
        if isinstance(special_tokens, dict):
            specials = {str(s): int(i) for s, i in special_tokens.items()}
        else:
            specials = {str(s): len(vocab) + k for k, s in enumerate(special_tokens)}
        expected = list(range(len(vocab), len(vocab) + len(specials)))
        if sorted(specials.values()) != expected or any(not s for s in specials):
            raise ValueError(f"special tokens must be non-empty strings with ids {expected} (right after "
                             f"the {len(vocab)} byte and merge tokens), got {specials!r}.")
        self.special_tokens: dict[str, int] = specials
        self._special_of_id = {i: s.encode("utf-8") for s, i in specials.items()}
        self._special_rx: dict[frozenset, regex.Pattern | None] = {}
        self._cache: dict[str, list[int]] = {}

    # ---- training ---------------------------------------------------------------------------
    @classmethod
    def train(cls, text: str, vocab_size: int, special_tokens=(ENDOFTEXT,),
              pattern: str = GPT2_PATTERN, fast: bool = True) -> "BPETokenizer":
        """Learn ``vocab_size - 256 - len(special_tokens)`` merges from ``text`` (lesson 2).

        ``vocab_size`` counts everything: 256 byte tokens, the merges, the special tokens.
        Special tokens found in ``text`` are cut out first, so no merge crosses or enters them.
        Ties go to the smallest ``(left id, right id)`` pair; the full rules are in
        :func:`learn_merges` (``fast`` picks its form; both learn the same merges). If the text
        runs out of pairs first, a warning says so and the vocabulary is smaller.
        """
        if not isinstance(text, str):
            raise TypeError(f"BPETokenizer.train expects the training text as a str, got {type(text).__name__}.")
        special_tokens = list(special_tokens)
        floor = 256 + len(special_tokens)
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < floor:
            raise ValueError(f"vocab_size must be an integer >= {floor} (256 bytes + {len(special_tokens)} "
                             f"special tokens), got {vocab_size!r}. Try vocab_size=512.")
        parts = [text]
        if special_tokens:
            alternatives = "|".join(regex.escape(s) for s in sorted(special_tokens, key=len, reverse=True))
            parts = regex.split(alternatives, text)
        merges, _, _ = learn_merges(count_chunks(parts, pattern), vocab_size - floor, fast=fast)
        if len(merges) < vocab_size - floor:
            warnings.warn(f"the training text only supports {len(merges)} merges, fewer than the "
                          f"{vocab_size - floor} asked for: vocab_size is {floor + len(merges)}. Use more "
                          f"text or a smaller vocab_size.", stacklevel=2)
        return cls(merges, special_tokens, pattern)

    # ---- vocabulary ---------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Number of ids: 256 bytes + merges + special tokens."""
        return len(self._vocab) + len(self.special_tokens)

    def mergeable_ranks(self) -> dict[bytes, int]:
        """``{token bytes: id}`` for every non-special token: tiktoken's ``mergeable_ranks``."""
        return dict(self._ranks)

    def token_bytes(self, i: int) -> bytes:
        """The bytes of token ``i`` (special tokens too)."""
        return self._bytes_of(int(i), None)

    def _bytes_of(self, i: int, pos) -> bytes:
        if 0 <= i < len(self._vocab):
            return self._vocab[i]
        if i in self._special_of_id:
            return self._special_of_id[i]
        where = "" if pos is None else f" at position {pos}"
        raise IndexError(f"token id {i}{where} is outside the vocabulary (ids 0..{self.vocab_size - 1}). "
                         f"Decode ids made by this same tokenizer.")

    # ---- encoding -----------------------------------------------------------------------------
    def encode_ordinary(self, text: str) -> list[int]:
        """Encode ``text`` with special-token strings treated as plain text."""
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}. Decode bytes first.")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: replaced by U+FFFD, as tiktoken does
            text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        cache, ranks, out = self._cache, self._ranks, []
        if len(cache) > 200_000:
            cache.clear()
        for chunk in self._regex.findall(text):
            ids = cache.get(chunk)
            if ids is None:
                ids = cache[chunk] = merge_piece(chunk.encode("utf-8"), ranks)
            out.extend(ids)
        return out

    def encode(self, text: str, allowed_special="all") -> list[int]:
        """Lesson 2: text -> ids. Special tokens in ``allowed_special`` ("all", or a set of strings)
        become their ids; everything between them is encoded as ordinary text.

        >>> tok = BPETokenizer([])
        >>> tok.encode("hi<|endoftext|>"), tok.encode("<|endoftext|>", allowed_special=())[:3]
        ([104, 105, 256], [60, 124, 101])
        """
        rx = self._special_regex(allowed_special)
        if rx is None:
            return self.encode_ordinary(text)
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}. Decode bytes first.")
        out, start = [], 0
        for m in rx.finditer(text):
            out.extend(self.encode_ordinary(text[start:m.start()]))
            out.append(self.special_tokens[m.group()])
            start = m.end()
        out.extend(self.encode_ordinary(text[start:]))
        return out

    def _special_regex(self, allowed):
        if allowed == "all":
            allowed = self.special_tokens.keys()
        elif isinstance(allowed, str):
            raise ValueError(f"allowed_special must be 'all' or a set of special tokens, got {allowed!r}.")
        key = frozenset(allowed)
        if key not in self._special_rx:
            unknown = key - self.special_tokens.keys()
            if unknown:
                raise ValueError(f"{sorted(unknown)} are not special tokens of this tokenizer "
                                 f"(it has {sorted(self.special_tokens)}).")
            alts = sorted(key, key=len, reverse=True)  # longest first if one contains another
            self._special_rx[key] = regex.compile("|".join(map(regex.escape, alts))) if alts else None
        return self._special_rx[key]

    # ---- decoding -----------------------------------------------------------------------------
    def decode_bytes(self, ids) -> bytes:
        """ids -> the raw bytes they stand for (no UTF-8 decoding)."""
        return b"".join(self._bytes_of(int(i), pos) for pos, i in enumerate(ids))

    def decode(self, ids, errors: str = "replace") -> str:
        """Lesson 2: ids -> text. Invalid UTF-8 (a list that cuts a character in half) becomes
        ``\\ufffd`` with ``errors="replace"``; ``errors="strict"`` raises instead."""
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    def pieces(self, text: str) -> list[str]:
        """The tokens of ``text`` as readable strings (partial characters as ``\\xNN``).

        >>> BPETokenizer.train("ab ab ab", vocab_size=259).pieces("ab abc")
        ['ab', ' ab', 'c']
        """
        return [_readable(self.token_bytes(i)) for i in self.encode(text)]

    # ---- saving -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The JSON-ready description; each merge is ``[left id, right id, "readable result"]``
        (the third item is for humans and is checked on load)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "pattern": self.pattern,
            "special_tokens": self.special_tokens,
            "merges": [[a, b, _readable(t)] for (a, b), t in zip(self.merges, self._vocab[256:])],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "BPETokenizer":
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            got = d.get("format", d.get("type")) if isinstance(d, dict) else type(d).__name__
            raise ValueError(f"not a BPETokenizer file: expected format {FORMAT!r}, got {got!r}. "
                             f"Char tokenizers load with CharTokenizer.load.")
        if d.get("version") != VERSION:
            raise ValueError(f"BPETokenizer file version {d.get('version')!r} is not supported (this "
                             f"llmcourse reads version {VERSION}). Re-train or re-save it.")
        merges = d["merges"]
        tok = cls([m[:2] for m in merges], d["special_tokens"], d["pattern"])
        for k, (m, t) in enumerate(zip(merges, tok._vocab[256:])):
            if len(m) > 2 and m[2] != _readable(t):
                raise ValueError(f"merge {k} {m!r} says it makes {m[2]!r} but its ids make {_readable(t)!r}: "
                                 f"the file was edited by hand or damaged.")
        return tok

    def save(self, path) -> None:
        """Write a readable JSON file (UTF-8), one merge per line."""
        d = self.to_dict()
        merges = d.pop("merges")
        head = json.dumps(d, ensure_ascii=False, indent=1)[:-2]  # drop the closing "\n}"
        body = ",\n  ".join(json.dumps(m, ensure_ascii=False) for m in merges)
        text = head + ',\n "merges": [' + (f"\n  {body}\n " if merges else "") + "]\n}\n"
        Path(path).write_text(text, encoding="utf-8")

    @classmethod
    def load(cls, path) -> "BPETokenizer":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def __repr__(self) -> str:
        return (f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
                f"special_tokens={list(self.special_tokens)})")
