"""The engine room of the byte-level BPE tokenizer (lesson 2): pre-splitting, training, encoding.

``BPETokenizer`` in :mod:`llmcourse.bpe` is the friendly wrapper; this module holds the three
algorithms it needs, written so a reader can follow them:

* :func:`split_chunks` cuts text into chunks with the GPT-2 regex (merges never cross chunks);
* :func:`learn_merges` learns the ordered merges with incremental pair counts;
* :func:`merge_piece` encodes one chunk exactly the way tiktoken does.

Token ids 0..255 are the raw bytes; merge number ``i`` creates id ``256 + i``.

>>> split_chunks("Hello world's 42!!")
['Hello', ' world', "'s", ' 42', '!!']
>>> merges, vocab, counts = learn_merges({"aaab": 2, "ab": 1}, num_merges=2)
>>> merges, [vocab[i] for i in (256, 257)], counts
([(97, 97), (97, 98)], [b'aa', b'ab'], [4, 3])
>>> merge_piece(b"aaab", {**{bytes([i]): i for i in range(256)}, b"aa": 256, b"ab": 257})
[256, 257]
"""

from __future__ import annotations

import heapq
from collections import Counter

import regex

#: The pre-split regex of GPT-2 (OpenAI's ``encoder.py``): contractions, optional space + letters,
#: optional space + digits, optional space + other symbols, whitespace runs (the last space of a
#: run before a word stays with that word).
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

_COMPILED: dict[str, regex.Pattern] = {}


def compile_pattern(pattern: str) -> regex.Pattern:
    """Compile (and cache) a pre-split pattern, with a clear error if it is not a valid regex."""
    if pattern not in _COMPILED:
        try:
            _COMPILED[pattern] = regex.compile(pattern)
        except regex.error as e:
            raise ValueError(f"the pre-split pattern {pattern!r} is not a valid regex: {e}.") from None
    return _COMPILED[pattern]


def split_chunks(text: str, pattern: str = GPT2_PATTERN) -> list[str]:
    """Lesson 2: cut ``text`` into the chunks that BPE works on separately.

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


def _merge_ids(word: list[int], a: int, b: int, new: int) -> list[int]:
    """Replace every non-overlapping ``a, b`` (left to right) in ``word`` by ``new``."""
    out, i, n = [], 0, len(word)
    while i < n:
        if i + 1 < n and word[i] == a and word[i + 1] == b:
            out.append(new)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


def learn_merges(chunk_counts, num_merges: int):
    """Lesson 2: learn up to ``num_merges`` byte-pair merges from ``{chunk: count}``.

    Returns ``(merges, vocab, counts)``: ``merges[i] = (a, b)`` created id ``256 + i`` whose
    bytes are ``vocab[256 + i] = vocab[a] + vocab[b]``, and ``counts[i]`` is how often the pair
    occurred when it was merged.

    Rules (documented because lessons and tests rely on them):

    * pairs are counted inside chunks only, each distinct chunk weighted by its count, and
      overlapping pairs count (``aaa`` holds ``(a, a)`` twice); a merge replaces occurrences left
      to right without overlap;
    * **ties**: among pairs with the highest count, the pair with the smallest
      ``(left id, right id)`` wins;
    * if a pair's bytes already form a token (``ab + c`` after ``a + bc``), its occurrences are
      relabelled to that token and no new id is made (tiktoken needs unique bytes per token).
      This is a safeguard: it never happened on the corpus (15,000 merges) nor on 50,000 random
      small-alphabet trials;
    * training stops early when no pair is left (every chunk is a single token).

    Speed: instead of recounting every pair after each merge, it keeps the counts, an index of
    the chunks where each pair occurs, and a max-heap of counts (stale entries are skipped). A
    merge only revisits the chunks that contain the merged pair.
    """
    if isinstance(num_merges, bool) or not isinstance(num_merges, int) or num_merges < 0:
        raise ValueError(f"num_merges must be a non-negative integer, got {num_merges!r}.")
    words, freq = [], []
    for chunk, c in chunk_counts.items():
        data = chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
        if len(data) > 1:  # a one-byte chunk has no pair to count
            words.append(list(data))
            freq.append(int(c))
    pair_count: dict[tuple[int, int], int] = {}
    where: dict[tuple[int, int], set[int]] = {}
    for i, w in enumerate(words):
        c = freq[i]
        for p in zip(w, w[1:]):
            pair_count[p] = pair_count.get(p, 0) + c
            where.setdefault(p, set()).add(i)
    heap = [(-n, a, b) for (a, b), n in pair_count.items()]  # max count first, then smallest ids
    heapq.heapify(heap)

    vocab = [bytes([i]) for i in range(256)]
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
        if new is None:  # the usual case: a brand new token
            new = len(vocab)
            vocab.append(joined)
            id_of[joined] = new
            merges.append((a, b))
            counts.append(n)
        changed: set[tuple[int, int]] = set()
        for i in where.pop((a, b)):
            old_w, c = words[i], freq[i]
            new_w = _merge_ids(old_w, a, b, new)
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


def merge_piece(piece: bytes, ranks: dict[bytes, int]) -> list[int]:
    """Lesson 2: encode one chunk's bytes exactly as tiktoken does.

    Start from single bytes; repeatedly join the adjacent pair whose *joined bytes* have the
    lowest rank (the leftmost such pair on a tie) until no adjacent pair is a token. A chunk that
    is itself a token comes out whole. Parts are kept as a linked list over byte offsets and the
    candidate pairs in a heap, so long chunks cost O(n log n), not O(n^2).

    >>> ranks = {**{bytes([i]): i for i in range(256)}, b"lo": 256, b"low": 257, b"lowe": 258}
    >>> merge_piece(b"lowest", ranks), merge_piece(b"lowly", ranks)
    ([258, 115, 116], [257, 108, 121])
    """
    whole = ranks.get(piece)
    if whole is not None:
        return [whole]
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
