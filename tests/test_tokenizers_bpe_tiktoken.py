"""Lesson 2: our byte-level BPE gives exactly tiktoken's ids when tiktoken gets our merges.

tiktoken is only a reference here (a [dev] extra): the tokenizer itself is pure Python.

Known, documented gap: the ``regex`` package knows newer Unicode versions (16/17) than tiktoken
0.14's Rust tables, so characters first assigned there (e.g. CJK Extension J) may be pre-split
differently. The random-text tests therefore draw characters that Python's own ``unicodedata``
knows (category not Cn), which predate both.
"""

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmcourse
from llmcourse.tokenizers import BPETokenizer

tiktoken = pytest.importorskip("tiktoken")

CORPUS = (Path(llmcourse.__file__).parent / "data" / "tinyshakespeare.txt").read_text(encoding="utf-8")

# text that exercises the pre-split regex and multi-byte UTF-8
EXTRAS = [
    "Emoji: 🙂🙃 👍🏽 👨‍👩‍👧‍👦 🇫🇷!",
    "Accents: naïve café, Ångström, crème brûlée, São Paulo, Dvořák, œuvre, ß.",
    "CJK: 日本語のテキスト、中文文本，한국어 텍스트。",
    "Digits: 3.14159 2024-06-01 1,000,000 ٣٤٥ ①② 00042",
    "Whitespace:   three  two\ttab\t\tdouble\n\n\nnewlines \n  \r\n trailing   ",
    "Contractions: it's we'll they've I'm you'd don't CAN'T 'S 're",
    "Symbols: <|endoftext|> mid<|endoftext|>word <|endoftext <|endoftext|><|endoftext|>",
    "Mixed: x²+y²=z² — «quotes» “curly” ‘single’ … ¿qué? ¡sí! ǅ ﬁ",
    "\u00a0nbsp\u2003em\u3000ideographic\u200bzero-width\u2028line\u0085nel",
    "",
    " ",
    "\n",
]


def _tiktoken(tok):
    return tiktoken.Encoding("llmcourse-test", pat_str=tok.pattern,
                             mergeable_ranks=tok.mergeable_ranks(), special_tokens=tok.special_tokens)


def _multilingual_text(n, seed):
    rnd = random.Random(seed)
    pieces = [w for e in EXTRAS for w in e.split(" ") if w] + ["  ", "\n", " 's", "é", "日本"]
    return " ".join(rnd.choice(pieces) for _ in range(n))


# trained on the first part of the corpus; held-out text comes from the last part
TOK = BPETokenizer.train(CORPUS[:400_000], vocab_size=1024)
ENC = _tiktoken(TOK)
# many merges of multi-byte characters, emoji pieces and whitespace
UNI = BPETokenizer.train(CORPUS[:50_000] + _multilingual_text(20_000, 0), vocab_size=1200)
UNI_ENC = _tiktoken(UNI)
# a dense vocabulary over a tiny alphabet: long merge chains where joining "by rank of the joined
# bytes" (tiktoken) and "replaying the merges in training order" give different ids
_rnd = random.Random(1)
DENSE = BPETokenizer.train("".join(_rnd.choice("aab b\n'") for _ in range(30_000)), vocab_size=700)
DENSE_ENC = _tiktoken(DENSE)

FRAGMENTS = st.sampled_from(["<|endoftext|>", " ", "  ", "\n", "\t", "'s", "'ll", " the", "thee", "é",
                             "日本", "🙂", "👍🏽", "123", "4567", "!", "...", "\r\n", "LORD", "ſ"])
ASSIGNED_CHARS = st.characters(exclude_categories=("Cs", "Cn"))
TEXTS = st.one_of(
    st.text(ASSIGNED_CHARS, max_size=60),
    st.lists(st.one_of(FRAGMENTS, st.text(ASSIGNED_CHARS, max_size=4)), max_size=25).map("".join),
)


def test_mergeable_ranks_are_the_ids():
    ranks = TOK.mergeable_ranks()
    assert len(ranks) == 256 + len(TOK.merges) == TOK.vocab_size - 1
    assert all(ranks[bytes([b])] == b for b in range(256))
    assert all(ranks[TOK.token_bytes(i)] == i for i in range(len(ranks)))
    assert ENC.n_vocab == TOK.vocab_size


def test_identical_ids_on_held_out_corpus_and_extras():
    held_out = CORPUS[-200_000:]
    assert TOK.encode(held_out) == ENC.encode(held_out, allowed_special="all")
    assert TOK.encode_ordinary(held_out) == ENC.encode_ordinary(held_out)
    for tok, enc in ((TOK, ENC), (UNI, UNI_ENC), (DENSE, DENSE_ENC)):
        for text in EXTRAS + ["\n".join(EXTRAS), held_out[:3000] + "".join(EXTRAS)]:
            assert tok.encode(text) == enc.encode(text, allowed_special="all"), text
            assert tok.encode_ordinary(text) == enc.encode_ordinary(text), text
            assert tok.encode(text, allowed_special=()) == enc.encode(text, disallowed_special=()), text


def test_multibyte_merges_are_really_exercised():
    # guard against a vacuous test: UNI must hold merges inside CJK / emoji byte sequences
    multibyte = [UNI.token_bytes(i) for i in range(256, len(UNI.merges) + 256)]
    assert sum(any(b >= 0x80 for b in t) for t in multibyte) > 100
    assert len(UNI.encode("日本語のテキスト 🙂")) < len("日本語のテキスト 🙂".encode())


@settings(max_examples=1000, deadline=None)
@given(TEXTS)
def test_identical_ids_on_random_unicode(s):
    assert UNI.encode(s) == UNI_ENC.encode(s, allowed_special="all")
    assert TOK.encode_ordinary(s) == ENC.encode_ordinary(s)


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet="aab b\n'", max_size=80))
def test_identical_ids_on_dense_merge_chains(s):
    assert DENSE.encode(s) == DENSE_ENC.encode(s, allowed_special="all")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, TOK.vocab_size - 1), max_size=30))
def test_decode_matches_tiktoken_even_for_partial_characters(ids):
    assert TOK.decode(ids) == ENC.decode(ids)  # errors="replace" on both sides
    assert TOK.decode_bytes(ids) == ENC.decode_bytes(ids)


# ---- tiktoken's rules on merges our trainer would never produce --------------------------------
# With trained merges, several encoders agree (replaying the merges in order, skipping the
# whole-chunk shortcut, ...). Hand-made and random merge lists tell them apart.

def test_hand_made_merges_follow_tiktoken_rules():
    a, b, c, d = b"abcd"
    # bc=256, cd=257, ab=258, abcd=ab+cd=259: joining by rank gets stuck at a|bc|d, but a chunk that
    # is itself a token comes out whole
    tok = BPETokenizer([(b, c), (c, d), (a, b), (258, 257)], special_tokens=())
    assert tok.encode("abcd") == [259]
    assert tok.encode("xabcd") == [ord("x"), a, 256, d]
    # bc=256, ab=257, abc=ab+c=258: "a"+"bc" also has the bytes of 258, so it joins by rank
    tok = BPETokenizer([(b, c), (a, b), (257, c)], special_tokens=())
    assert tok.encode("abcabc") == [258, 258]  # replaying the merges in order would give a bc a bc
    for tok in (BPETokenizer([(b, c), (c, d), (a, b), (258, 257)], special_tokens=()), tok):
        enc = _tiktoken(tok)
        for text in ("abcd", "xabcd", "abcabc", "abcdabcd", "dabcabcd"):
            assert tok.encode(text) == enc.encode(text)


@st.composite
def random_merges_and_text(draw):
    """A valid random merge list over the bytes of " abc" (unique bytes per token) and a text."""
    rnd = random.Random(draw(st.integers(0, 2**32)))
    vocab = [bytes([i]) for i in range(256)]
    ids, seen, merges = [32, 97, 98, 99], set(vocab), []
    for _ in range(rnd.randint(1, 40)):
        x, y = rnd.choice(ids), rnd.choice(ids)
        if vocab[x] + vocab[y] not in seen:
            seen.add(vocab[x] + vocab[y])
            merges.append((x, y))
            ids.append(len(vocab))
            vocab.append(vocab[x] + vocab[y])
    return merges, draw(st.text(alphabet="abc ", max_size=40))


@settings(max_examples=400, deadline=None)
@given(random_merges_and_text())
def test_random_merge_lists_give_tiktoken_ids(case):
    merges, text = case
    tok = BPETokenizer(merges, special_tokens=())
    assert tok.encode(text) == _tiktoken(tok).encode(text)
