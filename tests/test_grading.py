"""The grading framework: check() outcomes, robustness against learner code, strict mode,
module submissions, progress, summary. (Planted bugs of real exercises: test_grading_mutants.py.)"""

from __future__ import annotations

import json
import threading
import time

import pytest
import torch
import torch.nn as nn

import llmcourse
from llmcourse import course
from llmcourse.grading import (ERROR, FAILED, NOT_IMPLEMENTED, PASSED, SESSION, Case, CheckFailed, Mistake,
                               check, close, exact, exercise, get, progress, registry, summary)
from llmcourse.grading.cases import Rand
from llmcourse.grading.sandbox import run_limited
from llmcourse.grading.registry import exercises_for
from llmcourse.norm import LayerNorm


@pytest.fixture(autouse=True)
def _quiet_env(monkeypatch, tmp_path):
    monkeypatch.setenv("LLMCOURSE_STRICT", "0")
    monkeypatch.setenv("LLMCOURSE_PROGRESS_FILE", str(tmp_path / "progress.json"))
    monkeypatch.delenv("LLMCOURSE_GRADE_DIR", raising=False)


@pytest.fixture
def temp_exercise():
    """Register throw-away exercises under lesson 99 and remove them afterwards."""
    made = []

    def make(ex_id, **kw):
        kw.setdefault("title", "test exercise")
        made.append(exercise(ex_id, **kw))
        return made[-1]

    yield make
    for ex in made:
        registry._REGISTRY.pop(ex.id, None)


def tril(T):
    return torch.tril(torch.ones(T, T, dtype=torch.bool))


# --- outcomes ---------------------------------------------------------------------------------
def test_correct_submission_passes_with_points(capsys):
    r = check("10.1", tril)
    assert (r.passed, r.points, r.max_points, r.status) == (True, 1, 1, PASSED)
    out = capsys.readouterr().out
    assert out.strip() == r.message and out.count("\n") == 1  # one line
    assert "passed" in r.message and "1/1" in r.message


def test_not_implemented_is_zero_and_never_raises_even_in_strict_mode(monkeypatch):
    def stub(T):
        raise NotImplementedError("replace this line with your code")

    monkeypatch.setenv("LLMCOURSE_STRICT", "1")
    r = check("10.1", stub)
    assert (r.status, r.points, r.passed) == (NOT_IMPLEMENTED, 0, False)
    assert "not implemented yet" in r.message and "\n" not in r.message


def test_strict_mode_raises_on_failure(monkeypatch):
    monkeypatch.setenv("LLMCOURSE_STRICT", "1")
    with pytest.raises(CheckFailed, match="10.1"):
        check("10.1", lambda T: torch.ones(T, T, dtype=torch.bool))
    monkeypatch.setenv("LLMCOURSE_STRICT", "0")
    assert check("10.1", lambda T: torch.ones(T, T, dtype=torch.bool)).status == FAILED
    with pytest.raises(CheckFailed):
        check("10.1", lambda T: None, strict=True)


def test_failure_message_names_case_expected_got_and_problem():
    r = check("10.1", lambda T: torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=1), seed=3)
    assert r.status == FAILED
    for part in ("failed (0/1)", "inputs:", "T = 4", "expected:", "got:", "shape (4, 4) bool",
                 "problem:", "first at index (0, 1)", "hint:"):
        assert part in r.message, part
    assert r.message.splitlines()[0].startswith("❌ 10.1 The causal mask: failed")


def test_unknown_exercise_is_an_error_not_an_exception():
    r = check("10.9", tril)
    assert r.status == ERROR and "10.1" in r.message and "10.2" in r.message
    assert check("ten", tril).status == ERROR


def test_hidden_cases_are_fresh_but_replayable_with_seed():
    ex = get("10.1")
    from llmcourse.grading.cases import Rand

    a = [c.describe() for c in ex.cases(Rand(5))]
    b = [c.describe() for c in ex.cases(Rand(5))]
    draws = {tuple(c.describe() for c in ex.cases(Rand(s))) for s in range(6)}
    assert a == b and len(draws) > 1
    assert check("10.1", tril).seed != check("10.1", tril).seed


def test_hidden_failure_prints_seed_that_replays_it():
    def wrong_for_large(T):  # right on the visible T=4, wrong from T=9 on
        return tril(T) if T < 9 else torch.ones(T, T, dtype=torch.bool)

    for seed in range(40):
        r = check("10.1", wrong_for_large, seed=seed)
        if r.status == FAILED:
            break
    assert "hidden test" in r.message and f"seed={seed}" in r.message
    assert check("10.1", wrong_for_large, seed=seed).case == r.case


# --- robustness against learner code -----------------------------------------------------------
def test_exception_is_reported_with_the_learners_line():
    def broken(T):
        ones = torch.ones(T, T)
        return ones @ torch.ones(T + 1)

    r = check("10.1", broken)
    assert r.status == FAILED and "it raised RuntimeError" in r.message and "in broken" in r.message


def test_infinite_loop_hits_the_time_limit(temp_exercise):
    temp_exercise("99.1", reference=lambda n: n + 1, visible=[Case(1)], time_limit=0.3)

    def endless(n):
        while True:
            n += 1

    start = time.perf_counter()
    r = check("99.1", endless)
    assert r.status == FAILED and "time limit" in r.message
    assert time.perf_counter() - start < 3


def test_time_limit_fallback_off_the_main_thread():
    box = {}
    worker = threading.Thread(target=lambda: box.update(out=run_limited(lambda: time.sleep(5), 0.2)))
    start = time.perf_counter()
    worker.start()
    worker.join()
    assert box["out"].timed_out and time.perf_counter() - start < 2


@pytest.mark.parametrize("answer, problem", [
    (lambda T: tril(T).tolist(), "expected a torch.Tensor"),
    (lambda T: tril(T).numpy(), "numpy array"),
    (lambda T: tril(T + 1), "expected shape (4, 4), got (5, 5)"),
    (lambda T: tril(T).flatten(), "got (16,)"),
    (lambda T: tril(T).float(), "expected dtype bool, got float32"),
    (lambda T: "mask", "expected a torch.Tensor"),
    (lambda T: None, "expected a torch.Tensor"),
])
def test_wrong_types_shapes_dtypes(answer, problem):
    r = check("10.1", answer)
    assert r.status == FAILED and problem in r.message


def test_nan_output_is_named():
    r = check("10.2", lambda s, m: torch.full_like(s, float("nan")))
    assert r.status == FAILED and "16 entries are nan/inf where finite values were expected" in r.message


def test_fallback_hints_when_no_known_mistake_matches():
    r = check("10.2", lambda s, m: torch.zeros_like(s))
    assert r.mistake is None and r.hint == get("10.2").hint and r.hint in r.message
    r = check("10.1", lambda T: tril(T).long())  # no exercise hint for this: the generic dtype one
    assert r.mistake is None and "convert with .bool()" in r.message


def test_huge_output_and_print_spam_stay_short(capsys):
    def spam(T):
        for _ in range(20000):
            print("debug line " * 10)
        return torch.ones(3000, 3000, dtype=torch.bool)

    r = check("10.1", spam)
    out = capsys.readouterr().out
    assert r.status == FAILED and "printed" in r.message and "2,220,000 characters" in r.message
    assert len(out) < 3000 and "debug line" in out


def test_learner_objects_with_broken_dunder_methods_do_not_crash_the_grader():
    class Weird:
        def __repr__(self):
            raise RuntimeError("no repr")

        def __eq__(self, other):
            raise RuntimeError("no eq")

    assert check("10.1", lambda T: Weird()).status == FAILED
    assert check("10.1", lambda T: [Weird()] * 100).status == FAILED


def test_input_exit_and_recursion_are_failures():
    assert check("10.1", lambda T: input("value? ")).status == FAILED

    def leave(T):
        raise SystemExit(1)

    def recurse(T):
        return recurse(T)

    assert check("10.1", leave).status == FAILED
    assert "RecursionError" in check("10.1", recurse).message


def test_submission_must_be_the_function_itself():
    for wrong in (tril(4), None, 3):
        r = check("10.1", wrong)
        assert r.status == FAILED and "Pass the function itself" in r.message or "pass your function" in r.message
    assert "pass your function" in check("10.1").message


def test_inputs_edited_in_place_do_not_leak_into_the_reference_or_later_checks():
    def mutating(scores, mask):  # edits its inputs in place, and is otherwise right
        scores.masked_fill_(~mask, float("-inf"))
        mask.fill_(False)
        return torch.softmax(scores, dim=-1)

    visible = get("10.2").cases(Rand(0))[0]
    before = [a.clone() for a in visible.args]
    assert check("10.2", mutating).passed
    assert all(torch.equal(a, b) for a, b in zip(get("10.2").cases(Rand(0))[0].args, before))
    assert check("10.2", get("10.2").reference).passed


# --- comparisons --------------------------------------------------------------------------------
def test_close_and_exact_details():
    c = close(atol=1e-3, rtol=0)
    assert c(torch.tensor([1.0005]), torch.tensor([1.0])) is None
    assert c(torch.tensor([1.002]), torch.tensor([1.0])).kind == "value"
    assert c(torch.tensor([1.0], dtype=torch.float64), torch.tensor([1.0])) is None
    assert exact()(torch.tensor([1, 2]), torch.tensor([1, 3])).kind == "value"
    assert exact()(torch.tensor([1, 2], dtype=torch.int32), torch.tensor([1, 2])).kind == "dtype"
    assert c((torch.ones(2), 3), (torch.ones(2), 3)) is None
    m = c((torch.ones(2), 3), (torch.ones(2), 4))
    assert m.where == "[1]" and "expected 4" in m.text
    assert c([1.0], (1.0, 2.0)).kind == "length"
    assert c({"a": 1.0}, {"a": 1.0}) is None and c({"a": 1.0}, {"b": 1.0}).kind == "length"
    assert c(torch.tensor(2.0), 2.0) is None and c("2", 2.0).kind == "type"
    assert exact()(3, 3) is None and exact()(2.5, 3).kind == "type"
    assert exact()("ab", "ab") is None and exact()("ab", "ba").kind == "value"
    assert c(torch.tensor([float("nan")]), torch.tensor([1.0])).kind == "nan"
    assert c(torch.tensor([float("nan")]), torch.tensor([float("nan")])) is None


# --- module submissions -----------------------------------------------------------------------
class _NoEps(LayerNorm):
    def forward(self, x):
        mean = x.mean(-1, keepdim=True)  # (..., 1)
        var = x.var(-1, keepdim=True, unbiased=False)  # (..., 1)
        return (x - mean) / var.sqrt() * self.weight + self.bias


class MyLayerNorm(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n_embd))
        self.bias = nn.Parameter(torch.zeros(n_embd))

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)  # (..., 1)
        var = ((x - mean) ** 2).mean(-1, keepdim=True)  # (..., 1)
        return (x - mean) / torch.sqrt(var + 1e-5) * self.weight + self.bias


@pytest.fixture
def layer_norm_exercise(temp_exercise):
    return temp_exercise(
        "99.2", reference=LayerNorm, points=2,
        visible=[Case(torch.tensor([[1.0, 2.0, 3.0, 4.0]])).build_with(4)],
        hidden=lambda r: [Case(r.randn(2, 3, 8)).build_with(8), Case(torch.zeros(1, 8)).build_with(8)],
        mistakes=[Mistake("no eps", _NoEps, hint="Add eps inside the square root.")])


def test_module_class_and_instance_are_accepted(layer_norm_exercise):
    assert check("99.2", MyLayerNorm).points == 2
    assert check("99.2", MyLayerNorm(3)).passed  # an instance: its class is rebuilt per case


def test_learner_random_state_is_left_alone(layer_norm_exercise):
    torch.manual_seed(123)  # module checks seed torch to build both modules alike
    expected = torch.rand(3)
    torch.manual_seed(123)
    assert check("99.2", MyLayerNorm).passed
    assert torch.equal(torch.rand(3), expected)


def test_module_weights_are_copied_in_before_comparing(layer_norm_exercise):
    class RandomInit(MyLayerNorm):
        def __init__(self, n_embd):
            super().__init__(n_embd)
            nn.init.normal_(self.weight)  # irrelevant: the reference's weights are loaded

    assert check("99.2", RandomInit).passed


def test_module_mistakes_and_naming_problems(layer_norm_exercise):
    r = check("99.2", _NoEps)
    assert r.status == FAILED and r.mistake == "no eps" and "Add eps" in r.message

    class Renamed(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.gamma = nn.Parameter(torch.ones(n))

        def forward(self, x):
            return x

    r = check("99.2", Renamed)
    assert "Missing: weight (4,), bias (4,)" in r.message and "Unexpected: gamma (4,)" in r.message
    assert "nn.Module class" in check("99.2", lambda x: x).message

    class NotAModule:
        pass

    assert "must subclass torch.nn.Module" in check("99.2", NotAModule).message


def test_grader_bugs_are_reported_as_errors(temp_exercise):
    temp_exercise("99.3", reference=lambda x: 1 / 0, visible=[Case(1)])
    r = check("99.3", lambda x: x)
    assert r.status == ERROR and "not your fault" in r.message


def test_registration_validates(temp_exercise):
    temp_exercise("99.4", reference=abs, visible=[Case(-1)])
    with pytest.raises(ValueError, match="twice"):
        exercise("99.4", "again", reference=abs)
    with pytest.raises(KeyError):
        exercise("99", "bad id", reference=abs)
    with pytest.raises(ValueError, match="points"):
        exercise("99.5", "zero points", reference=abs, points=0)
    with pytest.raises(ValueError, match="unique"):
        exercise("99.6", "dup", reference=abs, mistakes=[Mistake("a", abs), Mistake("a", abs)])
    assert registry.normalize_id("7.2") == "07.2"


LESSON_10 = exercises_for("10")  # read from the registry: the lesson's exercises may grow


def _lesson10_totals():
    """(number of exercises, total points) of lesson 10."""
    return len(LESSON_10), sum(e.points for e in LESSON_10)


# --- session, results file, summary, progress -------------------------------------------------
def test_grade_records_outputs_not_verdicts_and_judges_them_itself(monkeypatch, tmp_path):
    from llmcourse.grading.cli import _judge_record, _records

    monkeypatch.setenv("LLMCOURSE_GRADE_DIR", str(tmp_path))
    check("10.1", tril)
    check("10.2", lambda s, m: s)
    check("10.3", 42)  # not even a function
    recs = _records(str(tmp_path))
    assert [r["exercise_id"] for r in recs] == ["10.1", "10.2", "10.3"]
    assert all("status" not in r and "points" not in r for r in recs)  # no verdict to trust
    assert isinstance(recs[0]["outcomes"][0]["value"], torch.Tensor)
    verdicts = [_judge_record(r) for r in recs]
    assert [(v.exercise_id, v.status, v.points) for v in verdicts] == [
        ("10.1", PASSED, 1), ("10.2", FAILED, 0), ("10.3", FAILED, 0)]
    assert verdicts[1].message == SESSION["10.2"].message  # the same judge as in the notebook
    assert "Pass the function itself" in verdicts[2].message
    (tmp_path / "1-99999.out").write_bytes(b"not a record")  # unreadable files are ignored
    assert len(_records(str(tmp_path))) == 3


def test_summary_totals_and_strict_expectations(capsys):
    SESSION.clear()
    with pytest.raises(CheckFailed, match="never checked"):
        summary("10", strict=True)
    check("10.1", tril)
    check("10.2", lambda s, m: (_ for _ in ()).throw(NotImplementedError()))
    s = summary("10")
    n, total = _lesson10_totals()
    assert (s.points, s.max_points) == (1, total)
    assert f"Lesson 10 — Causal Masking: 1/{total} points" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="full marks"):
        summary("10", strict=True, expect="full")
    with pytest.raises(CheckFailed, match="must score 0"):
        summary("10", strict=True, expect="zero")
    def stub(*args):
        raise NotImplementedError
    for ex in LESSON_10:
        check(ex.id, stub)
    summary("10", strict=True, expect="zero")  # all stubs: fine
    for ex in LESSON_10:
        check(ex.id, ex.reference)
    summary("10", strict=True, expect="full")


def test_progress_store(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    assert progress.progress_path() == path
    check("10.1", lambda T: None)
    check("10.1", tril)
    check("10.1", lambda T: None)
    e = progress.load()["exercises"]["10.1"]
    assert (e["attempts"], e["best_points"], e["status"]) == (3, 1, FAILED) and e["first_passed"]
    table = progress.table()
    n, total = _lesson10_totals()
    assert "10      Causal Masking" in table and f"1/{n}" in table and f"1/{total}" in table
    check("10.1", tril, record=False)
    assert progress.load()["exercises"]["10.1"]["attempts"] == 3
    path.write_text("{not json")
    assert progress.load() == {"version": 1, "exercises": {}}
    monkeypatch.setenv("LLMCOURSE_PROGRESS_FILE", "off")
    assert progress.progress_path() is None
    check("10.1", tril)  # recording off: nothing written, nothing raised
    monkeypatch.setenv("LLMCOURSE_PROGRESS_FILE", str(tmp_path / "missing-dir" / "x" / "p.json"))
    check("10.1", tril)
    assert progress.load()["exercises"]["10.1"]["best_points"] == 1


def test_progress_default_is_in_home(monkeypatch, tmp_path):
    monkeypatch.delenv("LLMCOURSE_PROGRESS_FILE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert progress.progress_path() == tmp_path / ".llmcourse_progress.json"


def test_cli_progress(capsys, tmp_path):
    from llmcourse.__main__ import main

    check("10.2", get("10.2").reference)
    assert main(["progress"]) == 0
    out = capsys.readouterr().out
    n, total = _lesson10_totals()
    assert "Causal Masking" in out and f"1/{n}" in out and f"2/{total}" in out
    assert main(["progress", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["exercises"]["10.2"]["best_points"] == 2
    assert main(["progress", "--reset"]) == 0
    assert not (tmp_path / "progress.json").exists()


def test_result_display_is_not_doubled_in_ipython(capsys):
    r = check("10.1", tril)
    capsys.readouterr()
    r._ipython_display_()
    assert capsys.readouterr().out == ""
    assert str(r) == r.message


def test_package_reexports_check():
    assert llmcourse.check is check


def test_course_table():
    assert len(course.LESSONS) == 20 and course.lesson(19).title == "Scaling LLMs: From nano-GPT to GPT-3"
    assert [les.number for les in course.LESSONS] == list(range(1, 21))
    with pytest.raises(KeyError):
        course.lesson(21)
