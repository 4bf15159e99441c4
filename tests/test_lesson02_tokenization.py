"""Lesson 2: the exercise references (llmcourse/grading/lessons/l02.py) agree with the package and
with independent implementations, and reproduce the article's worked numbers."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from llmcourse.grading.lessons import l02
from llmcourse.tokenizers import BPETokenizer, bpe_walkthrough


def test_seed_vocabulary_and_ids():
    assert l02.SEED_MERGES == [("l", "o"), ("lo", "w"), ("low", "e")]
    assert list(l02.SEED_VOCAB) == ["l", "o", "w", "e", "r", "s", "t", "y", "_", "lo", "low", "lowe"]
    enc = lambda s: l02.bpe_encode(s, l02.SEED_MERGES, l02.SEED_VOCAB)  # noqa: E731
    assert (enc("lowest"), enc("lowly"), enc("low")) == ([11, 5, 6], [10, 0, 7], [10])
    assert enc("low lowest") == [10, 8, 11, 5, 6]


def test_count_pairs_equals_a_counter_over_each_word():
    rnd = random.Random(0)
    for _ in range(200):
        words = [[rnd.choice("abl") for _ in range(rnd.randint(0, 8))] for _ in range(rnd.randint(0, 5))]
        want = Counter(p for w in words for p in zip(w, w[1:]))
        assert l02.count_pairs(words) == dict(want)


def _encode_by_hand(text, merges, vocab):
    """Independent encoder: repeatedly join the earliest-learned pair present (rank order), which
    equals replaying the merges in order."""
    rank = {tuple(m): r for r, m in enumerate(merges)}
    ids = []
    for k, word in enumerate(text.split(" ")):
        if k:
            ids.append(vocab["_"])
        sym = list(word)
        while True:
            pairs = [(rank[(a, b)], i) for i, (a, b) in enumerate(zip(sym, sym[1:])) if (a, b) in rank]
            if not pairs:
                break
            r, _ = min(pairs)
            a, b = merges[r]
            out, i = [], 0
            while i < len(sym):
                if i + 1 < len(sym) and (sym[i], sym[i + 1]) == (a, b):
                    out.append(a + b)
                    i += 2
                else:
                    out.append(sym[i])
                    i += 1
            sym = out
        ids.extend(vocab[s] for s in sym)
    return ids


@pytest.mark.parametrize("seed", range(30))
def test_bpe_encode_reference_equals_an_independent_encoder(seed):
    rnd = random.Random(seed)
    text = " ".join("".join(rnd.choice("lowersty") for _ in range(rnd.randint(1, 8))) for _ in range(12))
    wt = bpe_walkthrough(text, num_merges=rnd.randint(1, 12))
    probe = " ".join(rnd.choice(text.split(" ")) for _ in range(4))
    assert l02.bpe_encode(probe, wt.merges, wt.vocab) == _encode_by_hand(probe, wt.merges, wt.vocab)


def test_merge_order_case_distinguishes_bpe_from_longest_match():
    assert l02.bpe_encode("abc", l02.ORDER_MERGES, l02.ORDER_VOCAB) == [0, 4]          # a | bc
    assert l02._greedy("abc", l02.ORDER_MERGES, l02.ORDER_VOCAB) == [5, 2]             # ab | c


def test_decode_reference_equals_the_package_tokenizer():
    with pytest.warns(UserWarning, match="only supports 28 merges"):  # a small text, on purpose
        tok = BPETokenizer.train("naïve café 日本 🙂 low lower lowest " * 20, vocab_size=300)
    table = {i: tok.token_bytes(i) for i in range(tok.vocab_size)}
    rnd = random.Random(1)
    for _ in range(100):
        ids = [rnd.randrange(tok.vocab_size) for _ in range(rnd.randint(0, 12))]
        assert l02.decode(ids, table) == tok.decode(ids)


def test_the_decode_exercise_really_splits_characters_across_tokens():
    # 02.4 teaches "join bytes before decoding": its tokenizer must cut 'é' into two tokens
    ids = l02.TOKENIZER.encode("café")
    assert len(ids) == 5 and l02._per_token(ids, l02.BYTES) != "café" == l02.decode(ids, l02.BYTES)
