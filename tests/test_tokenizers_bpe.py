"""Lesson 2's byte-level BPE (llmcourse.tokenizers.bpe): merge order, tie rule, the readable and
the fast forms of training and encoding (equal), special tokens, save/load, round trips and
malformed input. (Equality with tiktoken: test_tokenizers_bpe_tiktoken.py.)"""

import json
import random
import warnings
from collections import Counter
from pathlib import Path

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

import llmcourse
from llmcourse import tokenizers as T
from llmcourse.tokenizers import BPETokenizer, CharTokenizer
from llmcourse.tokenizers.bpe import GPT2_PATTERN, count_chunks, get_stats, learn_merges, merge, merge_piece

CORPUS = (Path(llmcourse.__file__).parent / "data" / "tinyshakespeare.txt").read_text(encoding="utf-8")
SMALL = BPETokenizer.train(CORPUS[:100_000], vocab_size=400)


# ---- merge order, tie rule, incremental counts ------------------------------------------------

@pytest.mark.parametrize("fast", [False, True])
def test_merges_on_hand_checkable_text(fast):
    # chunks: "low", " lower", " lowest", " lowly"  (l=108 o=111 w=119 e=101 space=32)
    # pass 1: (l,o)=4 ties (o,w)=4 -> smaller ids win: (108,111) -> 256 "lo"
    # pass 2: (lo,w)=4 -> 257 "low"; pass 3: (space,low)=3 -> 258 " low"; pass 4: (" low",e)=2
    merges, vocab, counts = learn_merges(count_chunks(["low lower lowest lowly"]), 4, fast=fast)
    assert merges == [(108, 111), (256, 119), (32, 257), (258, 101)]
    assert counts == [4, 4, 3, 2]
    assert vocab[256:] == [b"lo", b"low", b" low", b" lowe"]
    tok = BPETokenizer.train("low lower lowest lowly", vocab_size=256 + 4 + 1)
    assert tok.merges == merges
    assert tok.pieces("lowest lowly") == ["low", "e", "s", "t", " low", "l", "y"]


@pytest.mark.parametrize("fast", [False, True])
def test_ties_go_to_the_smallest_pair_of_ids(fast):
    # every pair occurs once: (32,97) " a" < (120,121) "xy" < (256,98) " ab"; a first-seen rule would
    # pick "xy" first, a largest-pair rule " ab"/"xy" in another order
    merges, _, counts = learn_merges(count_chunks(["xy ab"]), 10, fast=fast)
    assert merges == [(32, 97), (120, 121), (256, 98)]
    assert counts == [1, 1, 1]


@pytest.mark.parametrize("fast", [False, True])
def test_counts_are_weighted_by_chunk_frequency_and_overlap(fast):
    # "aaa" holds (a,a) twice, so 2*3 = 6 beats (a,b) = 5 (counting without overlap would give 3);
    # after the merge "aaa" is [aa, a]: (a,b) = 5 wins the second round
    merges, _, counts = learn_merges({"aaa": 3, "ab": 5}, 2, fast=fast)
    assert merges == [(97, 97), (97, 98)] and counts == [6, 5]


def test_get_stats_and_merge_are_the_two_steps():
    assert get_stats([[1, 1, 1], [1, 2]], freqs=[3, 5]) == {(1, 1): 6, (1, 2): 5}
    assert get_stats([[1, 2], [1, 2, 1, 2]]) == {(1, 2): 3, (2, 1): 1}
    assert merge([1, 1, 1, 2, 1, 1], (1, 1), 9) == [9, 1, 2, 9]
    assert merge([], (1, 1), 9) == [] and merge([1], (1, 1), 9) == [1]


def _naive_merges(text, num_merges):
    """Reference: recount every pair from scratch before each merge (slow, obviously right)."""
    words = [list(c.encode("utf-8")) for c in regex.findall(GPT2_PATTERN, text)]
    merges = []
    for _ in range(num_merges):
        counts = Counter()
        for w in words:
            counts.update(zip(w, w[1:]))
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        new = 256 + len(merges)
        merges.append(best)
        out = []
        for w in words:
            merged, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    merged.append(new)
                    i += 2
                else:
                    merged.append(w[i])
                    i += 1
            out.append(merged)
        words = out
    return merges


def _random_text(seed):
    rnd = random.Random(seed)
    if seed < 6:  # tiny alphabets: long runs, overlapping pairs, many ties
        text = "".join(rnd.choice("aab  b\n") for _ in range(1500))
    elif seed < 9:
        text = "".join(rnd.choice(["é", "日", "a", " ", "🙂", "1", "'s"]) for _ in range(800))
    else:
        start = rnd.randrange(len(CORPUS) - 5000)
        text = CORPUS[start:start + 5000]
    return text


@pytest.mark.parametrize("seed", range(12))
def test_both_forms_of_training_equal_an_independent_recount(seed):
    text = _random_text(seed)
    readable = learn_merges(count_chunks([text]), 60, fast=False)
    fast = learn_merges(count_chunks([text]), 60, fast=True)
    assert readable == fast  # merges, vocabulary and counts
    assert fast[0] == _naive_merges(text, 60)


def test_train_fast_flag_learns_the_same_tokenizer():
    text = CORPUS[:20_000]
    assert BPETokenizer.train(text, 300, fast=False).merges == BPETokenizer.train(text, 300).merges


@pytest.mark.parametrize("seed", range(6))
def test_both_forms_of_encoding_a_chunk_are_equal(seed):
    ranks = SMALL.mergeable_ranks()
    rnd = random.Random(seed)
    start = rnd.randrange(len(CORPUS) - 3000)
    chunks = [c.encode("utf-8") for c in SMALL._regex.findall(CORPUS[start:start + 3000])]
    chunks += [bytes(rnd.choice(b"ea th") for _ in range(rnd.randint(2, 40))) for _ in range(200)]
    for chunk in chunks:
        assert merge_piece(chunk, ranks, fast=False) == merge_piece(chunk, ranks, fast=True), chunk


# ---- special tokens ---------------------------------------------------------------------------

def test_special_tokens_are_never_split_nor_learned_from():
    text = "hello<|endoftext|>" * 50
    with pytest.warns(UserWarning, match="only supports 4 merges"):
        tok = BPETokenizer.train(text, vocab_size=300)
    assert tok.vocab_size == 256 + 4 + 1
    assert tok.special_tokens == {"<|endoftext|>": 260}
    assert [tok.token_bytes(i) for i in range(256, 260)] == [b"el", b"hel", b"lo", b"hello"]
    assert tok.encode("hello<|endoftext|>hello") == [259, 260, 259]
    assert tok.decode([259, 260]) == "hello<|endoftext|>"


def test_allowed_special_options():
    tok = BPETokenizer([], special_tokens=["<|endoftext|>", "<|pad|>"])
    text = "a<|pad|>b<|endoftext|>"
    eot, pad = 256, 257
    assert tok.encode(text) == [97, pad, 98, eot]
    assert tok.encode(text, allowed_special={"<|pad|>"}) == [97, pad, 98] + list(b"<|endoftext|>")
    assert tok.encode(text, allowed_special=()) == tok.encode_ordinary(text) == list(text.encode())
    with pytest.raises(ValueError, match="not special tokens"):
        tok.encode(text, allowed_special={"<|nope|>"})
    with pytest.raises(ValueError, match="'all' or a set"):
        tok.encode(text, allowed_special="none")


def test_longest_special_token_wins():
    tok = BPETokenizer([], special_tokens=["<|a|>", "<|a|>x"])
    assert tok.encode("<|a|>x<|a|>") == [257, 256]


# ---- round trips ------------------------------------------------------------------------------

@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=120))
def test_bpe_round_trip_on_arbitrary_unicode(s):
    assert SMALL.decode(SMALL.encode(s)) == s
    assert SMALL.decode(SMALL.encode_ordinary(s)) == s


def test_round_trip_of_the_held_out_corpus():
    held_out = CORPUS[-50_000:]
    ids = SMALL.encode(held_out)
    assert SMALL.decode(ids) == held_out
    assert len(ids) < 0.7 * len(held_out.encode())  # 144 merges already save over 30%


# ---- save / load ------------------------------------------------------------------------------

def test_save_load_gives_identical_encodings(tmp_path):
    path = tmp_path / "bpe.json"
    SMALL.save(path)
    text = path.read_text(encoding="utf-8")
    assert '"format": "llmcourse-bpe"' in text and '"version": 1' in text
    assert '  [32, 116, " t"],' in text  # one readable merge per line
    back = BPETokenizer.load(path)
    assert back.merges == SMALL.merges and back.special_tokens == SMALL.special_tokens
    assert back.pattern == SMALL.pattern
    sample = CORPUS[-20_000:] + " naïve 日本語 🙂 <|endoftext|>   12345\n\n"
    assert back.encode(sample) == SMALL.encode(sample)
    assert isinstance(T.load(path), BPETokenizer)


def test_load_rejects_wrong_format_version_and_damage(tmp_path):
    path = tmp_path / "x.json"
    CharTokenizer.from_text("abc").save(path)
    with pytest.raises(ValueError, match="expected format 'llmcourse-bpe', got 'char'"):
        BPETokenizer.load(path)
    d = SMALL.to_dict()
    path.write_text(json.dumps({**d, "version": 2}), encoding="utf-8")
    with pytest.raises(ValueError, match="version 2 is not supported"):
        BPETokenizer.load(path)
    damaged = [list(m) for m in d["merges"]]
    damaged[3][2] = "zz"
    path.write_text(json.dumps({**d, "merges": damaged}), encoding="utf-8")
    with pytest.raises(ValueError, match="merge 3 .*edited by hand"):
        BPETokenizer.load(path)


# ---- malformed input --------------------------------------------------------------------------

def test_decode_unknown_id_is_a_clear_error():
    n = SMALL.vocab_size
    for bad in (n, -1, 10**9):
        with pytest.raises(IndexError, match=rf"token id {bad} at position 2 .*ids 0\.\.{n - 1}"):
            SMALL.decode([104, 105, bad])
    assert SMALL.decode([n - 1]) == "<|endoftext|>"


def test_partial_utf8_is_replaced_as_documented():
    ids = BPETokenizer([]).encode("é🙂")  # 2 + 4 bytes, no merges
    assert ids == [0xC3, 0xA9, 0xF0, 0x9F, 0x99, 0x82]
    assert SMALL.decode(ids[:1]) == "\ufffd"
    assert SMALL.decode(ids[:4]) == "é\ufffd"
    assert SMALL.decode_bytes(ids[:1]) == b"\xc3"
    with pytest.raises(UnicodeDecodeError):
        SMALL.decode(ids[:1], errors="strict")


def test_lone_surrogates_are_replaced_like_tiktoken():
    assert SMALL.decode(SMALL.encode("a\ud800b")) == "a\ufffdb"


def test_bad_training_and_construction_inputs():
    with pytest.raises(ValueError, match=r"vocab_size must be an integer >= 257.*got 100"):
        BPETokenizer.train("abc", vocab_size=100)
    with pytest.raises(TypeError, match="as a str"):
        BPETokenizer.train(b"abc", vocab_size=300)
    with pytest.raises(ValueError, match="merge 0 .*does not exist yet"):
        BPETokenizer([(97, 256)])
    with pytest.raises(ValueError, match="merge 3 .*b'abc'.*already token 258"):
        BPETokenizer([(97, 98), (98, 99), (256, 99), (97, 257)])  # "ab"+"c" then "a"+"bc"
    with pytest.raises(ValueError, match="special tokens must"):
        BPETokenizer([], special_tokens={"<|x|>": 5})
    with pytest.raises(ValueError, match="not a valid regex"):
        BPETokenizer([], pattern="(")
    with pytest.raises(TypeError, match="expects a str"):
        SMALL.encode(b"bytes")


def test_training_warns_when_text_runs_out_of_pairs():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        tok = BPETokenizer.train("ab", vocab_size=300, special_tokens=())
    assert tok.vocab_size == 257 and "only supports 1 merges" in str(w[0].message)
