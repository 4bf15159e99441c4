"""llmcourse.experiments.embedding_groups agrees with brute force over pairs of characters."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from llmcourse.experiments.embedding_groups import case_twins, group_cosines, group_of

CHARS = list("aeiobcdxyzABCXYZ .,?$&3\n")


def _cos(E, i, j):
    return F.cosine_similarity(E[i].double(), E[j].double(), dim=0).item()


def test_group_cosines_equal_averages_over_pairs():
    g = torch.Generator().manual_seed(0)
    E = torch.randn(len(CHARS), 8, generator=g)
    rows = {r["group"]: r for r in group_cosines(E, CHARS)}
    groups = [group_of(c) for c in CHARS]
    for name in set(groups):
        members = [i for i, x in enumerate(groups) if x == name]
        pairs = [(i, j) for i, j in itertools.permutations(members, 2)]
        assert rows[name]["size"] == len(members)
        want = sum(_cos(E, i, j) for i, j in pairs) / len(pairs)
        assert abs(rows[name]["mean_cosine"] - want) < 1e-5
    between = [(i, j) for i, j in itertools.permutations(range(len(CHARS)), 2) if groups[i] != groups[j]]
    want = sum(_cos(E, i, j) for i, j in between) / len(between)
    assert abs(rows["between groups"]["mean_cosine"] - want) < 1e-5
    assert list(rows)[-1] == "between groups"


def test_a_group_of_one_has_no_average():
    rows = group_cosines(torch.randn(3, 4), ["a", "b", "?"])
    assert {r["group"]: r["mean_cosine"] for r in rows}["vowel"] is None


def test_case_twins_counts_the_capital_as_nearest_only_when_it_is():
    E = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [1.0, 0.05]])  # a, A, b, B: B is nearer a than b
    tw = case_twins(E, ["a", "A", "b", "B"])
    assert tw["letters"] == 2 and tw["nearest_is_twin"] == 0
    assert abs(tw["mean_cosine"] - round((_cos(E, 0, 1) + _cos(E, 2, 3)) / 2, 2)) < 1e-9
