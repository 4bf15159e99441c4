"""Exercise kinds the grader understands beyond "write this function": find the bug (an
untouched given implementation is "not fixed yet", neither passed nor failed) and predict (the
learner submits a value; ``...`` is "not predicted yet")."""

from __future__ import annotations

import pytest
import torch

from llmcourse.grading import NOT_IMPLEMENTED, FAILED, PASSED, Case, Mistake, check, close, exercise, registry
from llmcourse.grading.cases import Rand


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("LLMCOURSE_STRICT", "0")
    monkeypatch.setenv("LLMCOURSE_PROGRESS_FILE", "off")


def _register(ex_id, **kw):
    registry._REGISTRY.pop(ex_id, None)
    registry._LOADED.add(ex_id.split(".")[0])
    return exercise(ex_id, "test", **kw)


def _last_row_given(x):
    return x.softmax(dim=0)  # the bug: over the rows


def _fixed(x):
    return x.softmax(dim=-1)


@pytest.fixture
def bug():
    ex = _register("99.1", kind="find the bug", reference=_fixed, given=_last_row_given,
                   visible=[Case(torch.tensor([[1.0, 2.0], [3.0, 5.0]]))],
                   hidden=lambda r: [Case(r.randn(3, 4))],
                   mistakes=[Mistake("no exp", lambda x: x / x.sum(-1, keepdim=True), hint="exp first")])
    yield ex
    registry._REGISTRY.pop("99.1", None)


def test_untouched_given_code_is_not_fixed_yet_and_never_raises_in_strict_mode(bug, monkeypatch):
    monkeypatch.setenv("LLMCOURSE_STRICT", "1")
    r = check("99.1", _last_row_given, quiet=True, record=False)
    assert (r.status, r.points) == (NOT_IMPLEMENTED, 0) and "not fixed yet" in r.message
    same_bug_rewritten = lambda x: torch.exp(x) / torch.exp(x).sum(0, keepdim=True)  # noqa: E731
    assert check("99.1", same_bug_rewritten, quiet=True, record=False).status == NOT_IMPLEMENTED


def test_a_repair_passes_and_another_bug_fails(bug):
    assert check("99.1", lambda x: torch.softmax(x, -1), quiet=True, record=False).status == PASSED
    r = check("99.1", lambda x: x / x.sum(-1, keepdim=True), quiet=True, record=False)
    assert r.status == FAILED and r.mistake == "no exp"


def test_find_the_bug_needs_given_and_only_it_has_one():
    with pytest.raises(ValueError, match="given"):
        _register("99.2", kind="find the bug", reference=_fixed)
    with pytest.raises(ValueError, match="given"):
        _register("99.2", kind="transfer", reference=_fixed, given=_last_row_given)
    with pytest.raises(ValueError, match="kind must be one of"):
        _register("99.2", kind="copy", reference=_fixed)


@pytest.fixture
def predict():
    ex = _register("99.3", kind="predict", reference=lambda: 4.1744, compare=close(atol=0.01, rtol=0),
                   mistakes=[Mistake("log2", lambda: 6.02, hint="natural log")])
    yield ex
    registry._REGISTRY.pop("99.3", None)


@pytest.mark.parametrize("value, status", [(..., NOT_IMPLEMENTED), (None, NOT_IMPLEMENTED), (4.17, PASSED),
                                           (torch.tensor(4.175), PASSED), (6.02, FAILED), ("4.17", FAILED)])
def test_predict_takes_the_value(predict, value, status):
    assert [c.describe([]) for c in predict.cases(Rand(0))] == [Case().describe([])]  # the kind's one case
    r = check("99.3", value, quiet=True, record=False)
    assert r.status == status, r.message
    if value is ...:
        assert "no prediction yet" in r.message


def test_predict_reference_takes_no_arguments():
    with pytest.raises(ValueError, match="no arguments"):
        _register("99.4", kind="predict", reference=lambda x: x)
