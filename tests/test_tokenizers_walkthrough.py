"""Lesson 2's BPE walk-through by hand (llmcourse.tokenizers.walkthrough): every line of the
article's "low lower lowest lowly" example, its tie rule and word boundaries."""

import pytest

from llmcourse.tokenizers import bpe_walkthrough, count_pairs, merge_pair

# ---- the article's walk-through ----------------------------------------------------------------

# Copied from the article (section "BPE — Step by Step"): every line must come out exactly.
ARTICLE_LINES = [
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
ARTICLE_ENCODINGS = [
    '"lowest" → ["lowe", "s", "t"] → IDs: [11, 5, 6]',
    '"lowly" → ["low", "l", "y"] → IDs: [10, 0, 7]',
    '"low" → ["low"] → IDs: [10]',
]


def test_walkthrough_reproduces_every_line_of_the_article():
    wt = bpe_walkthrough("low lower lowest lowly", num_merges=3)
    assert wt.lines() == ARTICLE_LINES
    assert [wt.encode_line(w) for w in ("lowest", "lowly", "low")] == ARTICLE_ENCODINGS
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
