"""Submissions that try to hang, corrupt or fool ``check``: every check ends within its time limit
plus a few seconds, leaves the caller's state as it was, and judges plain data the submission
cannot make lie. (What ``grade`` trusts: test_grading_cli.py.)"""

from __future__ import annotations

import faulthandler
import gc
import random
import signal
import sys
import time

import pytest
import torch

from llmcourse.grading import FAILED, NOT_IMPLEMENTED, PASSED, Case, Mistake, check, close, exercise, get, registry
from llmcourse.grading.cases import Rand

ISOLATION_ENV = "LLMCOURSE_CHECK_ISOLATION"  # fork (default on Linux) or thread

LIMIT = 0.5  # seconds: the time limit of the throw-away exercise below
SLACK = 4.0  # what "ends in bounded time" allows on top of it (worker start and kill, a loaded CPU)


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("LLMCOURSE_STRICT", "0")
    monkeypatch.setenv("LLMCOURSE_PROGRESS_FILE", "off")
    # a regression that hangs fails loudly (the whole run stops with a traceback) instead of hanging
    faulthandler.dump_traceback_later(120, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def quick():
    """Exercise 99.1: ``n -> n + 1`` with a 0.5 s time limit."""
    ex = exercise("99.1", "add one", reference=lambda n: n + 1, visible=[Case(1)],
                  hidden=lambda r: [Case(r.integer(2, 9))], time_limit=LIMIT)
    yield ex
    registry._REGISTRY.pop(ex.id, None)


def _timed(ex_id, submission):
    start = time.perf_counter()
    r = check(ex_id, submission, quiet=True, record=False)
    return r, time.perf_counter() - start


# --- hangs --------------------------------------------------------------------------------------
def nested_excepts(n):
    while True:
        try:
            try:
                try:
                    while True:
                        pass
                except BaseException:
                    pass
            except BaseException:
                pass
        except BaseException:
            pass


def disarms_the_timer(n):
    if hasattr(signal, "setitimer"):
        signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, signal.SIG_IGN) if hasattr(signal, "SIGALRM") else None
    while True:
        pass


class EndlessRepr:
    def __repr__(self):
        while True:
            pass


class EndlessStr(Exception):
    def __str__(self):
        while True:
            pass


def endless_repr(n):
    return EndlessRepr()


def endless_str(n):
    raise EndlessStr()


@pytest.mark.parametrize("submission", [nested_excepts, disarms_the_timer, endless_repr, endless_str],
                         ids=["nested-except-BaseException", "timer-disarmed", "repr-never-returns",
                              "exception-str-never-returns"])
def test_every_check_ends_in_bounded_time(quick, submission):
    r, took = _timed("99.1", submission)
    assert took < LIMIT + SLACK, f"the check took {took:.1f} s"
    assert r.status == FAILED and r.points == 0
    if submission in (nested_excepts, disarms_the_timer):
        assert "time limit" in r.message


class bool_:  # noqa: N801 - named like numpy's bool, which the comparison accepts for a bool
    def __ne__(self, other):
        while True:
            pass

    __eq__ = __ne__
    __hash__ = object.__hash__


def test_comparing_a_returned_object_never_runs_its_eq():
    ex = exercise("99.5", "positive?", reference=lambda n: n > 0, visible=[Case(3)], time_limit=LIMIT)
    try:
        r, took = _timed("99.5", lambda n: bool_())
    finally:
        registry._REGISTRY.pop(ex.id, None)
    assert r.status == FAILED and took < LIMIT + SLACK and "bool_" in r.message


def test_a_submission_that_kills_its_worker_is_a_failure(quick):
    import os

    r = check("99.1", lambda n: os._exit(3), quiet=True, record=False)
    assert r.status == FAILED and "ended early" in r.message


def test_thread_fallback_also_ends_in_bounded_time(quick, monkeypatch):
    """Without fork (Windows, macOS): the check stops waiting; the thread is abandoned. Here the
    abandoned thread spins until the test releases it: left spinning, it would share the GIL with
    every later test in this process and slow them all down."""
    import threading

    monkeypatch.setenv(ISOLATION_ENV, "thread")
    release = threading.Event()

    def spins_until_released(n):
        while not release.is_set():
            pass
        return n + 1

    try:
        r, took = _timed("99.1", spins_until_released)
    finally:
        release.set()
    for t in threading.enumerate():
        if t.name == "llmcourse-check":
            t.join(5)
            assert not t.is_alive(), "the abandoned check did not end after its release"
    assert r.status == FAILED and took < LIMIT + SLACK
    assert "background" in r.message  # the learner is told the code may still be running
    assert check("99.1", lambda n: n + 1, quiet=True, record=False).passed


def test_check_from_another_thread_still_isolates(quick):
    import threading

    box = {}
    worker = threading.Thread(target=lambda: box.update(r=_timed("99.1", nested_excepts)))
    worker.start()
    worker.join(LIMIT + SLACK + 5)
    r, took = box["r"]
    assert r.status == FAILED and took < LIMIT + SLACK


# --- state a submission may change --------------------------------------------------------------
def dtype_changer(scores, mask):
    torch.set_default_dtype(torch.float64)
    return get("10.2").reference(scores, mask)


def grad_switcher(scores, mask):
    torch.set_grad_enabled(False)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    random.seed(0)
    return get("10.2").reference(scores, mask)


@pytest.mark.parametrize("isolation", ["fork", "thread"])
@pytest.mark.parametrize("changer", [dtype_changer, grad_switcher])
def test_state_a_submission_changes_is_restored(monkeypatch, isolation, changer):
    monkeypatch.setenv(ISOLATION_ENV, isolation)
    torch.manual_seed(123)
    random.seed(123)
    before = (torch.get_default_dtype(), torch.is_grad_enabled(), torch.are_deterministic_algorithms_enabled(),
              torch.get_num_threads(), torch.get_rng_state(), random.getstate())
    r = check("10.2", changer, quiet=True, record=False)
    assert r.status == PASSED, r.message
    after = (torch.get_default_dtype(), torch.is_grad_enabled(), torch.are_deterministic_algorithms_enabled(),
             torch.get_num_threads(), torch.get_rng_state(), random.getstate())
    assert after[:4] == before[:4] and torch.equal(after[4], before[4]) and after[5] == before[5]
    # and later correct answers are graded as such, never "the grader itself failed"
    for ex_id in ("10.1", "10.2", "14.1", "14.2"):
        res = check(ex_id, get(ex_id).reference, quiet=True, record=False)
        assert res.status == PASSED, res.message


def test_state_changed_before_the_check_does_not_blame_the_grader():
    """A learner who switched grad off or float64 on in an earlier cell still gets a verdict."""
    saved = torch.get_default_dtype(), torch.is_grad_enabled(), torch.are_deterministic_algorithms_enabled()
    try:
        torch.set_default_dtype(torch.float64)
        torch.set_grad_enabled(False)
        torch.use_deterministic_algorithms(True)
        for ex_id in ("14.2", "20.2", "10.2"):
            res = check(ex_id, get(ex_id).reference, quiet=True, record=False)
            assert res.status == PASSED, res.message
        assert (torch.get_default_dtype(), torch.is_grad_enabled(), torch.are_deterministic_algorithms_enabled()
                ) == (torch.float64, False, True)  # the learner's settings, back after each check
    finally:
        torch.set_default_dtype(saved[0])
        torch.set_grad_enabled(saved[1])
        torch.use_deterministic_algorithms(saved[2])


# --- outputs that lie, and looking for the answer -----------------------------------------------
class Agreeable(torch.Tensor):
    """A tensor that says it equals anything."""

    def __eq__(self, other):
        return torch.ones_like(torch.Tensor.as_subclass(self, torch.Tensor), dtype=torch.bool)

    def __ne__(self, other):
        return torch.zeros_like(torch.Tensor.as_subclass(self, torch.Tensor), dtype=torch.bool)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.Tensor.__eq__, torch.Tensor.eq, torch.eq, torch.equal):
            return True if func is torch.equal else torch.ones(args[0].shape, dtype=torch.bool)
        if func in (torch.Tensor.__ne__, torch.Tensor.ne, torch.ne):
            return torch.zeros(args[0].shape, dtype=torch.bool)
        return super().__torch_function__(func, types, args, kwargs or {})


class AlwaysEqual(str):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = str.__hash__


def test_lying_tensors_and_strings_are_judged_by_their_values(quick):
    r = check("10.1", lambda T: torch.zeros(T, T, dtype=torch.bool).as_subclass(Agreeable),
              quiet=True, record=False)
    assert r.status == FAILED and "entries differ" in r.message
    ex = exercise("99.2", "echo", reference=lambda s: s, visible=[Case("abc")], time_limit=LIMIT)
    try:
        assert check("99.2", lambda s: AlwaysEqual("nope"), quiet=True, record=False).status == FAILED
        assert check("99.2", lambda s: AlwaysEqual(s), quiet=True, record=False).status == PASSED
    finally:
        registry._REGISTRY.pop(ex.id, None)


def stack_walker(T):
    """Looks for the expected answer in the grader's frames and in every live object."""
    f = sys._getframe(1)
    while f is not None:
        for name in ("want", "expected"):
            if isinstance(f.f_locals.get(name), torch.Tensor) and f.f_locals[name].shape == (T, T):
                return f.f_locals[name]
        f = f.f_back
    for obj in gc.get_objects():
        if isinstance(obj, dict) and isinstance(obj.get("want"), torch.Tensor) and obj["want"].shape == (T, T):
            return obj["want"]
    return torch.zeros(T, T, dtype=torch.bool)


def test_the_expected_output_cannot_be_read_by_walking_the_stack():
    r = check("10.1", stack_walker, quiet=True, record=False)
    assert r.status == FAILED and r.points == 0


# --- hints and messages -------------------------------------------------------------------------
@pytest.fixture
def doubling():
    """99.3 doubles; its planted mistake returns x unchanged. The first case is all zeros, where
    the mistake is right by accident."""
    ex = exercise("99.3", "double", reference=lambda x: x * 2, time_limit=5.0,
                  visible=[Case(torch.zeros(2))],
                  hidden=lambda r: [Case(torch.tensor([1.0, 2.0])), Case(torch.tensor([3.0, 4.0]))],
                  mistakes=[Mistake("forgot to double", lambda x: x.clone(), hint="Multiply by 2.")])
    yield ex
    registry._REGISTRY.pop(ex.id, None)


def test_a_hint_names_a_mistake_only_if_the_submission_makes_it_on_every_case(doubling):
    # right on [1, 2] (where the mistake is wrong), then returns x on [3, 4]: not that mistake
    r = check("99.3", lambda x: x * 2 if x.sum() < 5 else x.clone(), quiet=True, record=False)
    assert r.status == FAILED and r.mistake is None and "Multiply by 2" not in r.message
    r = check("99.3", lambda x: x.clone(), quiet=True, record=False)  # the mistake itself
    assert r.status == FAILED and r.mistake == "forgot to double" and "Multiply by 2" in r.message


def test_a_value_difference_is_never_shown_as_two_equal_numbers():
    ex = exercise("99.4", "big values", reference=lambda x: x.clone(), visible=[Case(torch.tensor([1000.0001],
                  dtype=torch.float64))], compare=close(atol=1e-6, rtol=0.0), time_limit=5.0)
    try:
        r = check("99.4", lambda x: x + 2e-5, quiet=True, record=False)
    finally:
        registry._REGISTRY.pop(ex.id, None)
    assert r.status == FAILED
    problem = next(line for line in r.message.splitlines() if "problem:" in line)
    assert "expected 1000.0001, got 1000.00012" in problem, problem
    assert "equal at the precision shown" in r.message


def test_not_implemented_and_module_submissions_still_work_in_the_worker():
    def stub(T):
        raise NotImplementedError

    assert check("10.1", stub, quiet=True, record=False).status == NOT_IMPLEMENTED
    from llmcourse.grading import all_exercises

    modules = [e for e in all_exercises() if e.is_module][:3]
    assert modules
    for ex in modules:
        r = check(ex.id, ex.reference, quiet=True, record=False)
        assert r.status == PASSED, r.message


def _right_first_then(ex, mistake):
    """A submission that is right on the first case, then behaves like ``mistake``."""
    calls = [0]

    def submission(*args, **kwargs):
        calls[0] += 1
        return (ex.reference if calls[0] == 1 else mistake.fn)(*args, **kwargs)

    return submission


@pytest.mark.parametrize("ex_id", ["02.3", "03.3", "06.1"])
def test_real_exercises_name_no_mistake_the_submission_did_not_make(ex_id):
    ex = get(ex_id)
    first = ex.cases(Rand(0))[0]
    named_wrongly = []
    for m in ex.mistakes:
        if not m.planted:
            continue
        ref_out, m_out = (f(*first.inputs()[0], **first.inputs()[1]) for f in (ex.reference, m.fn))
        if ex.compare(m_out, ref_out) is None:
            continue  # the mistake is right on the first case: the test below would say nothing
        r = check(ex_id, _right_first_then(ex, m), seed=0, quiet=True, record=False)
        assert r.status == FAILED
        if r.mistake == m.name:
            named_wrongly.append(m.name)
    assert not named_wrongly, f"{ex_id}: hints of mistakes the submission did not make: {named_wrongly}"
