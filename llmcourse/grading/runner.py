"""``check(exercise_id, submission)``: grade one submission against the package's reference.

Every case runs the reference and the submission on fresh copies of the same inputs, under a
time limit with output captured (see :mod:`.sandbox`). The first failing case is reported with
its inputs, the expected and actual outputs, what differs, and a hint: when the submission's
output equals one of the exercise's known mistakes on that case, the hint for that mistake.
"""

from __future__ import annotations

import secrets
import time

import torch
import torch.nn as nn

from . import registry
from .cases import Case, Rand
from .result import ERROR, FAILED, NOT_IMPLEMENTED, PASSED, Result
from .sandbox import learner_frame, run_limited
from .show import kind, show, text

_MISSING = object()
GENERIC_HINTS = {
    "nan": "nan or inf usually comes from exp() of a large number, a division by zero or log(0).",
    "dtype": "convert with .bool(), .long() or .float(), or create the tensor with the right dtype=.",
}


class SubmissionError(Exception):
    """A problem with the submission itself (wrong kind of object, wrong parameter names)."""


def _submission_problem(ex: registry.Exercise, sub) -> str | None:
    fn_name = getattr(ex.reference, "__name__", "your_function")
    if sub is _MISSING or sub is None:
        return (f"no submission: pass your {'class' if ex.is_module else 'function'} itself, "
                f"e.g. check({ex.id!r}, {fn_name}).")
    if ex.is_module:
        if isinstance(sub, nn.Module) or (isinstance(sub, type) and issubclass(sub, nn.Module)):
            return None
        if isinstance(sub, type):
            return f"your class {sub.__name__} must subclass torch.nn.Module (class {sub.__name__}(nn.Module): ...)."
        return (f"this exercise expects an nn.Module class (or an instance of it), got {kind(sub)}. "
                f"Pass the class itself, e.g. check({ex.id!r}, My{fn_name}).")
    if not callable(sub):
        return (f"expected a function, got {show(sub, 80)}. Pass the function itself, "
                f"without calling it: check({ex.id!r}, {fn_name}), not check({ex.id!r}, {fn_name}(...)).")
    return None


def _copy_weights(ref: nn.Module, mod: nn.Module) -> None:
    want, have = ref.state_dict(), mod.state_dict()
    missing = [k for k in want if k not in have]
    unexpected = [k for k in have if k not in want]
    if missing or unexpected:
        fmt = lambda sd, keys: ", ".join(f"{k} {tuple(sd[k].shape)}" for k in keys) or "none"  # noqa: E731
        raise SubmissionError(
            f"your module's parameters must be named like the reference's so its weights can be "
            f"copied in. Missing: {fmt(want, missing)}. Unexpected: {fmt(have, unexpected)}. "
            f"Use the attribute names given in the exercise.")
    for k, v in want.items():
        if tuple(have[k].shape) != tuple(v.shape):
            raise SubmissionError(f"parameter {k} has shape {tuple(have[k].shape)}, expected {tuple(v.shape)}: "
                                  f"check the sizes you pass to nn.Linear / nn.Parameter.")
    mod.load_state_dict(want)


def _build(ex: registry.Exercise, cls, case: Case, seed: int, ref: nn.Module | None = None) -> nn.Module:
    cls = type(cls) if isinstance(cls, nn.Module) else cls
    torch.manual_seed(seed)
    mod = cls(*case.init_args, **case.init_kwargs)
    if not isinstance(mod, nn.Module):
        raise SubmissionError(f"building your class returned {kind(mod)}, not an nn.Module.")
    if ref is not None:
        _copy_weights(ref, mod)
    return mod.eval()


def _call(ex: registry.Exercise, target, case: Case, seed: int, ref: nn.Module | None = None):
    """Run ``target`` (reference, submission or mistake) on a fresh copy of the case's inputs."""
    if ex.run is not None:
        return ex.run(target, case)
    args, kwargs = case.inputs()
    if ex.is_module:
        mod = ref if target is ex.reference and ref is not None else _build(ex, target, case, seed, ref)
        with torch.no_grad():
            return mod(*args, **kwargs)
    return target(*args, **kwargs)


def _diagnose(ex: registry.Exercise, case: Case, got, want, seed: int, ref, mismatch):
    """(hint, mistake name) for a wrong output: the first known mistake it reproduces."""
    for m in ex.mistakes:
        if m.detect is not None:
            out = run_limited(lambda: m.detect(got, want, case), 2.0)
            if out.value is True:
                return m.hint, m.name
        if m.fn is not None:
            out = run_limited(lambda: _call(ex, m.fn, case, seed, ref), 2.0)
            if out.error is None and not out.timed_out:
                same = run_limited(lambda: ex.compare(got, out.value), 2.0)
                if same.error is None and not same.timed_out and same.value is None:
                    return m.hint, m.name
    return ex.hint or GENERIC_HINTS.get(mismatch.kind if mismatch else ""), None


def grade(ex: registry.Exercise, submission, seed: int) -> Result:
    """Grade without printing or recording (``check`` wraps this)."""
    head = f"{ex.id} {ex.title}"
    res = Result(ex.id, ex.title, FAILED, 0, ex.points, seed=seed)
    problem = _submission_problem(ex, submission)
    if problem:
        res.message = f"❌ {head}: failed (0/{ex.points}): {problem}"
        return res
    cases = ex.cases(Rand(seed))
    names = ex.param_names()
    deadline = time.perf_counter() + ex.time_limit
    for i, case in enumerate(cases, 1):
        case_seed = seed + i
        ref = _build(ex, ex.reference, case, case_seed) if ex.is_module and ex.run is None else None
        want = _call(ex, ex.reference, case, case_seed, ref)
        out = run_limited(lambda: _call(ex, submission, case, case_seed, ref), deadline - time.perf_counter())
        where = f"{'example' if case.visible else 'hidden test'} {i} of {len(cases)}"
        lines = [f"   inputs:   {case.describe(names)}"]
        mismatch = None
        if out.timed_out:
            problem = (f"it did not finish within the {ex.time_limit:g} s time limit of this check "
                       f"(is there a loop that never ends?)")
        elif out.error is not None:
            if isinstance(out.error, NotImplementedError):
                res.status = NOT_IMPLEMENTED
                res.message = (f"⏳ {head}: not implemented yet (0/{ex.points}): replace the "
                               f"`raise NotImplementedError` with your code, then run this cell again.")
                return res
            if isinstance(out.error, SubmissionError):
                problem = str(out.error)
            else:
                at = learner_frame(out.error)
                problem = f"it raised {type(out.error).__name__}: {text(out.error, 300)}"
                problem += f" ({at})" if at else ""
        else:
            cmp = run_limited(lambda: ex.compare(out.value, want), 5.0)
            if cmp.error is not None or cmp.timed_out:
                problem = f"its output ({kind(out.value)}) could not be compared with the expected one"
            elif cmp.value is None:
                continue
            else:
                mismatch = cmp.value
                problem = str(mismatch)
            lines += [f"   expected: {show(want)}", f"   got:      {show(out.value)}"]
        if out.error is None and not out.timed_out:
            res.hint, res.mistake = _diagnose(ex, case, out.value, want, case_seed, ref, mismatch)
        else:
            res.hint = ex.hint
        lines.append(f"   problem:  {problem}")
        if res.hint:
            lines.append(f"   hint:     {res.hint}")
        if out.printed_chars:
            lines.append(f"   printed:  {out.printed_chars:,} characters during the check (hidden), "
                         f"starting: {text(out.stdout, 120)}")
        if not case.visible:
            lines.append(f"   (hidden tests are random; replay these with check({ex.id!r}, ..., seed={seed}))")
        res.case = case.describe(names)
        res.message = "\n".join([f"❌ {head}: failed (0/{ex.points}) on {where}"] + lines)
        return res
    res.status, res.points = PASSED, ex.points
    res.message = f"✅ {head}: passed ({ex.points}/{ex.points} points)"
    return res


def run_check(exercise_id: str, submission=_MISSING, seed: int | None = None) -> Result:
    """Look the exercise up and grade; never raises (except ``KeyboardInterrupt``)."""
    start = time.perf_counter()
    try:
        ex = registry.get(exercise_id)
    except KeyError as exc:
        return Result(str(exercise_id), "", ERROR, message=f"❌ {exc.args[0]}")
    except Exception as exc:  # noqa: BLE001 - a lesson's grader module failed to import
        return Result(str(exercise_id), "", ERROR,
                      message=f"❌ the grader for {exercise_id} could not load ({type(exc).__name__}: {exc}). "
                              f"Update the package (pip install -U llmcourse) or report this.")
    seed = secrets.randbits(30) if seed is None else int(seed)
    try:
        with torch.random.fork_rng(devices=[]):  # leave the learner's random state untouched
            res = grade(ex, submission, seed)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - a bug in the exercise definition, not the learner's
        res = Result(ex.id, ex.title, ERROR, 0, ex.points, seed=seed,
                     message=f"❌ {ex.id} {ex.title}: the grader itself failed ({type(exc).__name__}: {exc}). "
                             f"This is not your fault; please report it.")
    res.elapsed = time.perf_counter() - start
    return res
