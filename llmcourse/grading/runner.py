"""``check(exercise_id, submission)``: grade one submission against the package's reference.

Grading has two halves that never share a process with learner code at the same time:

1. :func:`run_submission` runs the submission on every case in a worker (see :mod:`.sandbox`):
   calling it, building a module, and turning its output or exception into plain data (plain
   tensors, numbers, strings, containers; :class:`~.sandbox.Opaque` descriptions of anything else)
   all happen there, under the time limit. Only plain data comes back.
2. :func:`judge` computes the reference's output for each case *after* the worker has produced
   the submission's, in a standard state, compares the two plain values, and on the first failing
   case reports its inputs, the expected and actual outputs, what differs, and a hint. The hint of
   a known mistake is given only when the submission behaves like that mistake on every case so
   far where the mistake differs from the reference.

``python -m llmcourse grade`` calls :func:`judge` itself on the plain outputs a notebook's checks
recorded, so the verdict never comes from code the notebook could change.
"""

from __future__ import annotations

import itertools
import secrets
import time
from typing import Iterable, Iterator

import torch
import torch.nn as nn

from . import registry
from .cases import Case, Rand
from .result import ERROR, FAILED, NOT_IMPLEMENTED, PASSED, Result
from .sandbox import captured, describe_error, run_limited, standard_state, stream, to_plain
from .show import kind, show, text

_MISSING = object()
GENERIC_HINTS = {
    "nan": "nan or inf usually comes from exp() of a large number, a division by zero or log(0).",
    "dtype": "convert with .bool(), .long() or .float(), or create the tensor with the right dtype=.",
}


class SubmissionError(Exception):
    """A problem with the submission itself (wrong kind of object, wrong parameter names)."""


def _not_predicted(sub) -> bool:
    return sub is _MISSING or sub is None or sub is Ellipsis


def _as_prediction(sub):
    """A predict exercise's submission is the value itself; the grader calls it like a function."""
    if callable(sub) and not isinstance(sub, torch.Tensor):
        return sub
    return lambda: sub


def _submission_problem(ex: registry.Exercise, sub) -> str | None:
    fn_name = getattr(ex.reference, "__name__", "your_function")
    if ex.kind == "predict":
        return None
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
        return (f"expected a function, got {kind(sub)}. Pass the function itself, "
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


def reference_modules(ex: registry.Exercise, cases: list[Case], seed: int) -> list:
    """The reference module built for each case (``None`` for function exercises)."""
    if not (ex.is_module and ex.run is None):
        return [None] * len(cases)
    with standard_state():
        return [_build(ex, ex.reference, case, seed + i) for i, case in enumerate(cases, 1)]


def run_submission(ex: registry.Exercise, submission, cases: list[Case], seed: int,
                   refs: list) -> Iterator[dict]:
    """The submission's outcome on each case, as plain data, produced in a worker under the
    exercise's time limit: ``{"value", "stdout", "printed"}`` or ``{"error": {...}, ...}``, then
    possibly ``{"timed_out": True}`` or ``{"died": text}``."""

    def job():
        for i, case in enumerate(cases, 1):
            item: dict = {}
            with captured() as buf:
                try:
                    item["value"] = to_plain(_call(ex, submission, case, seed + i, refs[i - 1]))
                except SubmissionError as exc:
                    item["error"] = {"type": "SubmissionError", "text": str(exc), "where": "",
                                     "not_implemented": False, "submission": True}
                except BaseException as exc:  # noqa: BLE001 - the learner's exception, as data
                    item["error"] = describe_error(exc)
            item.update(stdout=buf.getvalue(), printed=buf.total)
            yield item

    return stream(job, ex.time_limit)


def _agrees(ex: registry.Exercise, a, b) -> bool:
    out = run_limited(lambda: ex.compare(a, b), 5.0)
    return out.error is None and not out.timed_out and out.value is None


def _mistake_output(ex: registry.Exercise, m: registry.Mistake, case: Case, seed: int, ref):
    with standard_state():
        out = run_limited(lambda: _call(ex, m.fn, case, seed, ref), 2.0)
    return (None, False) if out.error is not None or out.timed_out else (out.value, True)


def _diagnose(ex: registry.Exercise, case: Case, got, want, seed: int, ref, mismatch, history: list):
    """(hint, mistake name) for a wrong output. A mistake is named when the output equals the
    mistake's on the failing case, and on every earlier case (where the submission matched the
    reference) the mistake matched the reference too: otherwise the submission is not making it."""
    for m in ex.mistakes:
        if m.detect is not None:
            out = run_limited(lambda: m.detect(got, want, case), 2.0)
            if out.value is True:
                return m.hint, m.name
        if m.fn is not None:
            value, ok = _mistake_output(ex, m, case, seed, ref)
            if not ok or not _agrees(ex, got, value):
                continue
            consistent = True
            for c, w, s, r in history:
                v, ok = _mistake_output(ex, m, c, s, r)
                if not ok or not _agrees(ex, v, w):
                    consistent = False
                    break
            if consistent:
                return m.hint, m.name
    return ex.hint or GENERIC_HINTS.get(mismatch.kind if mismatch else ""), None


def _behaves_like_given(ex: registry.Exercise, cases: list[Case], refs: list, seed: int, items: list) -> bool:
    """True when the submission's outcome on every case is the given broken code's outcome: the
    learner has not changed what the find-the-bug exercise handed them (or changed nothing that
    matters)."""
    if len(items) < len(cases):
        return False
    for i, (case, item) in enumerate(zip(cases, items), 1):
        with standard_state(), torch.random.fork_rng(devices=[]):
            out = run_limited(lambda: _call(ex, ex.given, case, seed + i, refs[i - 1]), 5.0)
        if out.timed_out or item.get("timed_out") or "died" in item:
            return False
        error = item.get("error")
        if out.error is not None or error is not None:
            if out.error is None or not isinstance(error, dict) or error.get("type") != type(out.error).__name__:
                return False
            continue
        if not _agrees(ex, item.get("value"), to_plain(out.value)):
            return False
    return True


def judge(ex: registry.Exercise, seed: int, outcomes: Iterable[dict], *, cases: list[Case] | None = None,
          refs: list | None = None, problem: str | None = None) -> Result:
    """The verdict on a submission's plain-data ``outcomes`` (from :func:`run_submission`): the
    reference runs here, on its own, after the submission has run."""
    head = f"{ex.id} {ex.title}"
    res = Result(ex.id, ex.title, FAILED, 0, ex.points, seed=seed)
    items, first = iter(outcomes), None
    if problem is None:  # outcomes recorded for a submission that could not be run at all
        first = next(items, None)
        problem = first.get("problem") if isinstance(first, dict) else None
        items = itertools.chain([first] if first is not None else [], items)
    if problem:
        res.message = f"❌ {head}: failed (0/{ex.points}): {text(problem, 400)}"
        return res
    if isinstance(first, dict) and first.get("not_predicted"):
        res.status = NOT_IMPLEMENTED
        res.message = (f"⏳ {head}: no prediction yet (0/{ex.points}): replace the ... with the number "
                       f"you expect, then run this cell again.")
        return res
    cases = ex.cases(Rand(seed)) if cases is None else cases
    refs = reference_modules(ex, cases, seed) if refs is None else refs
    names = ex.param_names()
    history: list = []  # (case, want, case seed, reference module) of the cases passed so far
    passed: list = []  # the submission's outcomes on those cases
    for i, case in enumerate(cases, 1):
        case_seed, ref = seed + i, refs[i - 1]
        item = next(items, None) or {"timed_out": True}
        where = f"{'example' if case.visible else 'hidden test'} {i} of {len(cases)}"
        lines: list[str] = []  # the failure message's lines after "inputs" (built only on a failure)
        mismatch, got, want, ran = None, None, None, False
        error = item.get("error")
        if item.get("timed_out"):
            problem = (f"it did not finish within the {ex.time_limit:g} s time limit of this check "
                       f"(is there a loop that never ends?)")
            if item.get("abandoned"):
                problem += ("; it may keep running in the background until it ends: restart the "
                            "kernel if the notebook gets slow")
        elif "died" in item:
            problem = str(item["died"])
        elif isinstance(error, dict):
            if error.get("not_implemented"):
                res.status = NOT_IMPLEMENTED
                res.message = (f"⏳ {head}: not implemented yet (0/{ex.points}): replace the "
                               f"`raise NotImplementedError` with your code, then run this cell again.")
                return res
            if error.get("submission"):
                problem = str(error.get("text", ""))
            else:
                problem = f"it raised {error.get('type', 'an exception')}: {error.get('text', '')}"
                problem += f" ({error['where']})" if error.get("where") else ""
        else:
            got, ran = item.get("value"), True
            with standard_state(), torch.random.fork_rng(devices=[]):
                want = _call(ex, ex.reference, case, case_seed, ref)
            cmp = run_limited(lambda: ex.compare(got, want), 5.0)
            if cmp.error is not None or cmp.timed_out:
                problem = f"its output ({kind(got)}) could not be compared with the expected one"
            elif cmp.value is None:
                history.append((case, want, case_seed, ref))
                passed.append(item)
                continue
            else:
                mismatch = cmp.value
                problem = str(mismatch)
            shown_want, shown_got = show(want), show(got)
            lines += [f"   expected: {shown_want}", f"   got:      {shown_got}"]
            if shown_want == shown_got and mismatch is not None:
                lines[-1] += "   (equal at the precision shown: the problem line gives the difference)"
        if ex.given is not None and _behaves_like_given(ex, cases, refs, seed, passed + [item] + list(items)):
            res.status = NOT_IMPLEMENTED
            res.message = (f"⏳ {head}: not fixed yet (0/{ex.points}): this still behaves like the code as "
                           f"given, which has a bug. Find it, fix it, then run this cell again.")
            return res
        if ran:
            res.hint, res.mistake = _diagnose(ex, case, got, want, case_seed, ref, mismatch, history)
        else:
            res.hint = ex.hint
        lines.append(f"   problem:  {problem}")
        if res.hint:
            lines.append(f"   hint:     {res.hint}")
        if item.get("printed"):
            lines.append(f"   printed:  {item['printed']:,} characters during the check (hidden), "
                         f"starting: {text(item.get('stdout', ''), 120)}")
        if not case.visible:
            lines.append(f"   (hidden tests are random; replay these with check({ex.id!r}, ..., seed={seed}))")
        res.case = case.describe(names)
        head_lines = [f"❌ {head}: failed (0/{ex.points}) on {where}", f"   inputs:   {res.case}"]
        res.message = "\n".join(head_lines + lines)
        return res
    res.status, res.points = PASSED, ex.points
    res.message = f"✅ {head}: passed ({ex.points}/{ex.points} points)"
    return res


def grade(ex: registry.Exercise, submission, seed: int, trace: list | None = None) -> Result:
    """Grade without printing or recording (``check`` wraps this). ``trace``, if given, receives
    the plain outcomes the verdict was based on (what ``grade`` re-judges)."""
    if ex.kind == "predict":
        if _not_predicted(submission):
            if trace is not None:
                trace.append({"not_predicted": True})
            return judge(ex, seed, [{"not_predicted": True}])
        submission = _as_prediction(submission)
    problem = _submission_problem(ex, submission)
    if problem:
        if trace is not None:
            trace.append({"problem": problem})
        return judge(ex, seed, [], problem=problem)
    with standard_state():
        cases = ex.cases(Rand(seed))
    refs = reference_modules(ex, cases, seed)
    outcomes = run_submission(ex, submission, cases, seed, refs)
    seen = outcomes if trace is None else _tee(outcomes, trace)
    try:
        return judge(ex, seed, seen, cases=cases, refs=refs)
    except Exception:
        for _ in seen:  # grade judges the outputs itself: let it see them all
            pass
        raise
    finally:
        outcomes.close()  # stops the worker if the verdict came before its last case


def _tee(items: Iterator[dict], into: list) -> Iterator[dict]:
    for item in items:
        into.append(item)
        yield item


def run_check(exercise_id: str, submission=_MISSING, seed: int | None = None,
              trace: list | None = None) -> Result:
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
        with standard_state(threads=1):  # the standard state, on one thread: no idle pool spins beside the worker
            res = grade(ex, submission, seed, trace)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - a bug in the exercise definition, not the learner's
        res = Result(ex.id, ex.title, ERROR, 0, ex.points, seed=seed,
                     message=f"❌ {ex.id} {ex.title}: the grader itself failed ({type(exc).__name__}: {exc}). "
                             f"This is not your fault; please report it.")
    res.elapsed = time.perf_counter() - start
    return res
