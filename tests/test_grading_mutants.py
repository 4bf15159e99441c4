"""Graders must be able to fail: every planted bug (a Mistake with a buggy copy of the reference)
of every registered exercise is rejected, and the learner sees that mistake's hint. The reference
itself, and every correct alternative (an Alternative: right, but written differently), must get
full marks. New lesson modules are picked up automatically. ``tools/mutation_check.py --grader``
runs the same over seeds 1-20; here each planted bug meets three draws of the hidden cases.

The code graded here is the package's own (references, planted bugs, alternatives), so most tests
run it in a thread of this process (the grader's isolation where there is no fork()), which takes
a third less time than a forked worker; the last test sends every planted bug through a forked
worker, as notebooks on Linux do, and needs the same verdicts there."""

from __future__ import annotations

import pytest

from llmcourse.grading import FAILED, NOT_IMPLEMENTED, PASSED, all_exercises, check
from llmcourse.grading.sandbox import ISOLATION_ENV, isolation

SEEDS = (0, 1)  # hidden cases are random: a planted bug must be caught on every draw
FORK_SEED = 2  # the forked sweep's draw, a third one
EXERCISES = all_exercises()
PLANTED = [(ex, m) for ex in EXERCISES for m in ex.mistakes if m.planted]
ALTERNATIVES = [(ex, a) for ex in EXERCISES for a in ex.alternatives]
GIVEN = [ex for ex in EXERCISES if ex.given is not None]


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("LLMCOURSE_STRICT", "0")
    monkeypatch.setenv("LLMCOURSE_PROGRESS_FILE", "off")
    monkeypatch.setenv(ISOLATION_ENV, "thread")


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.id)
def test_reference_gets_full_marks(ex):
    for seed in SEEDS:
        r = check(ex.id, ex.reference, seed=seed, quiet=True, record=False)
        assert (r.status, r.points) == (PASSED, ex.points), r.message


@pytest.mark.parametrize("ex, alt", ALTERNATIVES, ids=[f"{e.id}-{a.name}" for e, a in ALTERNATIVES])
def test_correct_alternative_gets_full_marks(ex, alt):
    for seed in SEEDS:
        r = check(ex.id, alt.fn, seed=seed, quiet=True, record=False)
        assert (r.status, r.points) == (PASSED, ex.points), f"correct alternative {alt.name!r}: {r.message}"


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda e: e.id)
def test_every_exercise_has_planted_bugs_cases_and_hints(ex):
    planted = sum(m.planted for m in ex.mistakes)
    assert planted >= 3, f"{ex.id}: plant at least three typical mistakes, Mistake(name, buggy_fn, hint=...)"
    assert all(m.hint for m in ex.mistakes), f"{ex.id}: every mistake needs a hint"
    assert ex.visible, f"{ex.id}: give at least one visible case (the lesson's example)"
    assert ex.hidden is not None, f"{ex.id}: give hidden cases drawn from fresh random inputs"


@pytest.mark.parametrize("ex, mistake", PLANTED, ids=[f"{e.id}-{m.name}" for e, m in PLANTED])
def test_planted_bug_is_rejected_with_its_hint(ex, mistake):
    for seed in SEEDS:
        r = check(ex.id, mistake.fn, seed=seed, quiet=True, record=False)
        assert r.status == FAILED and r.points == 0, f"planted bug {mistake.name!r} passed {ex.id} (seed {seed})"
        assert r.mistake == mistake.name, (
            f"{ex.id}: planted bug {mistake.name!r} was rejected, but the learner would see the hint for "
            f"{r.mistake!r}; add a case where the two differ, or order the mistakes")
        assert mistake.hint in r.message


@pytest.mark.parametrize("ex", GIVEN, ids=lambda e: e.id)
def test_find_the_bug_given_code_is_not_fixed_yet(ex):
    """The broken code a find-the-bug notebook starts from scores nothing, on every seed, and says
    "not fixed yet" (it is no failure: the untouched exercises notebook must run through)."""
    for seed in SEEDS:
        r = check(ex.id, ex.given, seed=seed, quiet=True, record=False)
        assert (r.status, r.points) == (NOT_IMPLEMENTED, 0), f"{ex.id} given code (seed {seed}): {r.message}"


@pytest.mark.slow
def test_every_planted_bug_is_rejected_with_its_hint_in_a_forked_worker(monkeypatch, capsys):
    monkeypatch.setenv(ISOLATION_ENV, "fork")
    if isolation() != "fork":
        pytest.skip("this platform has no fork(): checks run in a thread here")
    wrong = []
    for ex, m in PLANTED:
        r = check(ex.id, m.fn, seed=FORK_SEED, quiet=True, record=False)
        if r.status != FAILED or r.mistake != m.name or m.hint not in r.message:
            wrong.append(f"{ex.id} {m.name!r}: {r.status}, named {r.mistake!r}")
    with capsys.disabled():
        print(f"\nplanted bugs: {len(PLANTED)} in {len(EXERCISES)} exercises, caught with their hints "
              f"in a forked worker: {len(PLANTED) - len(wrong)}")
    assert PLANTED and not wrong, wrong
