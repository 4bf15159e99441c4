"""Lesson 2 tokenizers: the char tokenizer and the seed's "low lower lowest lowly" walk-through.

The byte-level BPE tokenizer is tested in test_tokenizer_bpe.py (rules, save/load, errors) and
test_tokenizer_tiktoken.py (ids identical to tiktoken's).
"""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcourse import tokenizer as T
from llmcourse.tokenizer import BPETokenizer, CharTokenizer, bpe_walkthrough, count_pairs, merge_pair

# ---- CharTokenizer ----------------------------------------------------------------------------

ALPHABET_TEXT = "Hello, world! Ça va? 日本 🙂\n\t0123456789"
CHAR_TOK = CharTokenizer.from_text(ALPHABET_TEXT)


def test_char_vocab_is_sorted_distinct_characters():
    tok = CharTokenizer.from_text("hello")
    assert tok.chars == ["e", "h", "l", "o"]
    assert tok.vocab_size == 4
    assert tok.encode("hello") == [1, 0, 2, 2, 3]
    assert tok.decode([1, 0, 2, 2, 3]) == "hello"
    assert CHAR_TOK.chars == sorted(set(ALPHABET_TEXT))


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=sorted(set(ALPHABET_TEXT)), max_size=80))
def test_char_round_trip_on_its_alphabet(s):
    assert CHAR_TOK.decode(CHAR_TOK.encode(s)) == s


def test_char_unknown_character_error_names_character_and_position():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(KeyError) as e:
        tok.encode("abxc")
    msg = str(e.value)
    assert "'x'" in msg and "position 2" in msg and "unk=" in msg


def test_char_unk_option_maps_unknown_characters():
    tok = CharTokenizer.from_text("abc", unk="?")
    assert tok.vocab_size == 4
    assert tok.encode("axb") == [0, 3, 1]
    assert tok.decode(tok.encode("axb")) == "a?b"


def test_char_decode_out_of_range_id_is_a_clear_error():
    tok = CharTokenizer.from_text("abc")
    for bad in (3, -1):
        with pytest.raises(IndexError, match=rf"token id {bad} at position 1 .*0\.\.2"):
            tok.decode([0, bad])


def test_char_save_load_identical(tmp_path):
    tok = CharTokenizer.from_text("déjà vu 🙂", unk="?")
    path = tmp_path / "char.json"
    tok.save(path)
    assert "🙂" in path.read_text(encoding="utf-8")  # readable, UTF-8
    back = CharTokenizer.load(path)
    assert back.chars == tok.chars and back.unk == "?"
    assert back.encode("vu déjà ?x") == tok.encode("vu déjà ?x")
    assert isinstance(T.load(path), CharTokenizer)


def test_char_load_rejects_other_files(tmp_path):
    path = tmp_path / "bpe.json"
    BPETokenizer([]).save(path)
    with pytest.raises(ValueError, match="expected type 'char'.*llmcourse-bpe"):
        CharTokenizer.load(path)
    path.write_text(json.dumps({"type": "char", "version": 99, "chars": ["a"]}), encoding="utf-8")
    with pytest.raises(ValueError, match="version 99"):
        CharTokenizer.load(path)


def test_char_bad_inputs():
    with pytest.raises(ValueError, match="non-empty"):
        CharTokenizer.from_text("")
    with pytest.raises(TypeError, match="expects a str"):
        CharTokenizer.from_text("ab").encode(b"ab")


# ---- the seed's walk-through -------------------------------------------------------------------

# Copied from the seed article (section "BPE — Step by Step"): every line must come out exactly.
SEED_LINES = [
    'Training corpus: "low lower lowest lowly"',
    "Iteration 0: Start with characters",
    "l o w _ l o w e r _ l o w e s t _ l o w l y",
    'Iteration 1: Most frequent pair: (l, o) → merge into "lo"',
    "lo w _ lo w e r _ lo w e s t _ lo w l y",
    'Iteration 2: Most frequent pair: (lo, w) → merge into "low"',
    "low _ low e r _ low e s t _ low l y",
    'Iteration 3: Most frequent pair: (low, e) → merge into "lowe"',
    "low _ lowe r _ lowe s t _ low l y",
    "ID: 0 1 2 3 4 5 6 7 8 9 10 11",
    'Token: "l" "o" "w" "e" "r" "s" "t" "y" "_" "lo" "low" "lowe"',
]
SEED_ENCODINGS = [
    '"lowest" → ["lowe", "s", "t"] → IDs: [11, 5, 6]',
    '"lowly" → ["low", "l", "y"] → IDs: [10, 0, 7]',
    '"low" → ["low"] → IDs: [10]',
]


def test_walkthrough_reproduces_every_seed_line():
    wt = bpe_walkthrough("low lower lowest lowly", num_merges=3)
    assert wt.lines() == SEED_LINES
    assert [wt.encode_line(w) for w in ("lowest", "lowly", "low")] == SEED_ENCODINGS
    assert wt.encode("lowest") == [11, 5, 6] and wt.encode("lowly") == [10, 0, 7] and wt.encode("low") == [10]


def test_walkthrough_tie_is_broken_by_first_occurrence():
    step1 = bpe_walkthrough().steps[1]
    assert step1.pair_counts[("l", "o")] == step1.pair_counts[("o", "w")] == 4
    assert max(step1.pair_counts.values()) == 4
    assert step1.pair == ("l", "o")
    # reversing the order of first occurrence flips the winner
    assert bpe_walkthrough("wol", num_merges=1).steps[1].pair == ("w", "o")


def test_walkthrough_pairs_never_cross_the_word_boundary():
    steps = bpe_walkthrough().steps
    for step in steps[1:]:
        assert all("_" not in pair for pair in step.pair_counts)
    # iteration 3: (low, e) occurs twice; (_, low) would occur 3 times if "_" were a symbol
    assert steps[3].pair_counts[("low", "e")] == 2
    assert max(steps[3].pair_counts.values()) == 2
    assert steps[3].pair == ("low", "e")


def test_walkthrough_multiword_encode_and_errors():
    wt = bpe_walkthrough()
    assert wt.tokenize("low lowest") == ["low", "_", "lowe", "s", "t"]
    assert wt.encode("low lowest") == [10, 8, 11, 5, 6]
    with pytest.raises(KeyError, match="'z'.*position 2"):
        wt.encode("loz")
    with pytest.raises(ValueError, match="'_'"):
        bpe_walkthrough("a_b")
    # more merges than the text supports: stops when every word is one token
    assert len(bpe_walkthrough("ab ab", num_merges=5).merges) == 1


def test_count_pairs_and_merge_pair():
    assert count_pairs([["a", "a", "a"], ["a", "b"]]) == {("a", "a"): 2, ("a", "b"): 1}
    assert merge_pair(["a", "a", "a"], ("a", "a"), "aa") == ["aa", "a"]
    assert merge_pair([1, 2, 1, 2, 3], (1, 2), 9) == [9, 9, 3]
