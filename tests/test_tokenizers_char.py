"""Lesson 2's character tokenizer (llmcourse.tokenizers.char): vocabulary, round trips, unknown
characters, save/load and errors."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcourse import tokenizers as T
from llmcourse.tokenizers import BPETokenizer, CharTokenizer

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
