"""Lesson 2: the exercise references (llmcourse/grading/lessons/l02.py) agree with the package and
with independent implementations, and reproduce the article's worked numbers."""

from __future__ import annotations

import random

import pytest

from llmcourse.grading.lessons import l02
from llmcourse.tokenizers import BPETokenizer, bpe_walkthrough


def test_seed_vocabulary_and_ids():
    assert l02.SEED_MERGES == [("l", "o"), ("lo", "w"), ("low", "e")]
    assert list(l02.SEED_VOCAB) == ["l", "o", "w", "e", "r", "s", "t", "y", "_", "lo", "low", "lowe"]
    enc = lambda s: l02.bpe_encode(s, l02.SEED_MERGES, l02.SEED_VOCAB)  # noqa: E731
    assert (enc("lowest"), enc("lowly"), enc("low")) == ([11, 5, 6], [10, 0, 7], [10])
    assert enc("low lowest") == [10, 8, 11, 5, 6]


def test_merge_pair_reference_and_regex_repair_agree_and_the_given_bug_differs():
    rnd = random.Random(0)
    symbols = ["a", "b", "l", "o", "w", "ab", "ba", "aa", "lo", "ow", "low"]
    given_wrong = 0
    for _ in range(500):
        word = [rnd.choice(symbols) for _ in range(rnd.randint(1, 8))]
        pair = (rnd.choice(symbols[:5]), rnd.choice(symbols))
        want = l02.merge_pair(word, pair, pair[0] + pair[1])
        assert l02._regex_bounded(word, pair, pair[0] + pair[1]) == want
        given_wrong += l02._replace_text(word, pair, pair[0] + pair[1]) != want
    assert given_wrong > 0
    assert l02._replace_text(["a", "aa"], ("a", "a"), "aa") == ["aaa"] != l02.merge_pair(["a", "aa"], ("a", "a"), "aa")


def test_byte_fallback_round_trips_and_uses_bytes_only_for_unknown_characters():
    inverse = {i: t for t, i in l02.FALLBACK_VOCAB.items()}
    for text in ["café", "naïve 🙂 日本", "plain text.", "", "€ß\n"]:
        ids = l02.byte_fallback_encode(text, l02.FALLBACK_VOCAB)
        data = b"".join(bytes([int(inverse[i][3:5], 16)]) if inverse[i].startswith("<0x") else inverse[i].encode()
                        for i in ids)
        assert data.decode("utf-8") == text
        assert len(ids) == sum(1 if ch in l02.FALLBACK_VOCAB else len(ch.encode()) for ch in text)
    assert l02.byte_fallback_encode("café", l02.FALLBACK_VOCAB) == [259, 257, 262, 196, 170]


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
