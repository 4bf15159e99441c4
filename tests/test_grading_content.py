"""The content side of the graders: correct alternatives are registered and checked, and
``tools/mutation_check.py --grader`` reports (and fails on) planted mistakes that pass or correct
answers that fail."""

from __future__ import annotations

import pytest
import torch

from llmcourse.grading import Mistake, get
from llmcourse.grading import registry
from llmcourse.grading.lessons._common import scaled
from llmcourse.grading.registry import Alternative
from tools import mutation_check


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("LLMCOURSE_STRICT", "0")
    monkeypatch.setenv("LLMCOURSE_PROGRESS_FILE", "off")


def test_alternative_names_must_be_unique():
    alt = Alternative("same", lambda x: x)
    with pytest.raises(ValueError, match="alternative names must be unique"):
        registry.exercise("99.1", "t", reference=lambda x: x, alternatives=[alt, alt])
    assert "99.1" not in registry._REGISTRY


def test_the_reported_correct_alternatives_are_registered():
    names = {ex_id: {a.name for a in get(ex_id).alternatives} for ex_id in ("07.3", "10.2", "11.1")}
    assert "einsum" in names["07.3"]
    assert "additive log-mask" in names["10.2"] and "exp(x - logsumexp(x))" in names["10.2"]
    assert "exp(x - logsumexp(x))" in names["11.1"]


def test_scaled_tolerance_grows_with_the_values_not_below_close():
    cmp = scaled(atol=1e-5, rtol=0.0)
    assert cmp(torch.tensor([1000.004]), torch.tensor([1000.0])) is None  # 4e-3 <= 1e-5 * 1000
    assert cmp(torch.tensor([1000.02]), torch.tensor([1000.0])) is not None
    assert cmp(torch.tensor([0.5 + 2e-5]), torch.tensor([0.5])) is not None  # small values: plain 1e-5
    assert cmp((torch.tensor([3.0]), torch.tensor([1.0 + 2e-5])), (torch.tensor([3.0]), torch.tensor([1.0]))) is None


def test_grader_table_passes_and_prints_totals(capsys):
    assert mutation_check.main(["--grader", "--seeds", "1-2", "11.1"]) == 0
    out = capsys.readouterr().out
    assert "alt: exp(x - logsumexp(x)): passed 2/2" in out
    assert "rejected on all 2 seeds" in out


def test_grader_table_fails_when_a_planted_mistake_passes(monkeypatch, capsys):
    ex = get("11.1")
    monkeypatch.setattr(ex, "mistakes", [Mistake("not a mistake at all", ex.reference, hint="-")])
    monkeypatch.setattr(ex, "alternatives", [])
    assert mutation_check.main(["--grader", "--seeds", "1-2", "11.1"]) == 1
    assert "PASSED on some seed" in capsys.readouterr().out


def test_grader_table_fails_when_a_correct_alternative_fails(monkeypatch, capsys):
    ex = get("11.1")
    monkeypatch.setattr(ex, "mistakes", [])
    monkeypatch.setattr(ex, "alternatives", [Alternative("wrong axis", lambda x, dim=-1: torch.softmax(x, dim=0))])
    assert mutation_check.main(["--grader", "--seeds", "1", "11.1"]) == 1
    assert "a correct answer FAILED" in capsys.readouterr().out
