"""What exercise notebooks call: :func:`check` after each exercise and :func:`summary` at the end.

Strict mode (``LLMCOURSE_STRICT=1``, set by the test suite and CI): a check that *fails* raises
:class:`CheckFailed`, so a solutions notebook with a regression fails under nbval. A check that
finds the stub untouched ("not implemented yet") never raises, so the generated exercises
notebooks still run top to bottom. :func:`summary` then asserts the notebook's overall outcome.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import progress, registry
from .result import ERROR, FAILED, NOT_IMPLEMENTED, PASSED, CheckFailed, Result
from .runner import _MISSING, run_check
from .sandbox import dumps

STRICT_ENV = "LLMCOURSE_STRICT"
#: Set by ``python -m llmcourse grade``: every check saves the plain outputs of the submission
#: (not its verdict) in this folder, and ``grade`` judges them itself.
GRADE_ENV = "LLMCOURSE_GRADE_DIR"
_RECORDS = itertools.count(1)
#: The latest result of each exercise checked in this Python session (this kernel).
SESSION: dict[str, Result] = {}


def strict_mode() -> bool:
    return os.environ.get(STRICT_ENV, "0").strip().lower() in {"1", "true", "yes", "on"}


def _save_outcomes(res: Result, trace: list) -> None:
    """For ``grade``: what the submission returned on each case, never the verdict."""
    folder = os.environ.get(GRADE_ENV)
    if not folder or not trace:  # no trace: an unknown exercise id
        return
    record = {"exercise_id": res.exercise_id, "seed": res.seed, "outcomes": trace}
    path = os.path.join(folder, f"{os.getpid()}-{next(_RECORDS):05d}.out")
    try:
        with open(path + ".tmp", "wb") as fh:
            fh.write(dumps(record))
        os.replace(path + ".tmp", path)
    except OSError:
        pass


def check(exercise_id: str, submission=_MISSING, *, seed: int | None = None, strict: bool | None = None,
          quiet: bool = False, record: bool = True) -> Result:
    """Grade ``submission`` (your function, or your ``nn.Module`` class) for ``exercise_id``.

    Prints one verdict line (and, on failure, the first failing case and a hint) and returns a
    :class:`Result` with ``passed``, ``points``, ``max_points`` and ``message``. Hidden cases are
    random and fresh on every call; ``seed=`` replays a particular draw. Your code runs in a
    separate worker process (a thread on Windows and macOS) that the check stops at its time
    limit, and nothing it changes (default dtype, grad mode, random state) outlives the check.
    Never raises on anything your code does, unless strict mode is on and the check fails.

    >>> import torch
    >>> r = check("10.1", lambda T: torch.tril(torch.ones(T, T, dtype=torch.bool)), record=False)
    ✅ 10.1 The causal mask: passed (1/1 points)
    >>> r.passed, r.points, r.max_points
    (True, 1, 1)
    """
    trace: list = []
    res = run_check(exercise_id, submission, seed, trace)
    if not quiet:
        print(res.message)
        res.printed = True
    SESSION[res.exercise_id] = res
    _save_outcomes(res, trace)
    if record and res.status != ERROR:
        progress.record(res)
    if (strict_mode() if strict is None else strict) and res.status in (FAILED, ERROR):
        raise CheckFailed(res.message)
    return res


@dataclass
class LessonSummary:
    lesson: str
    points: int
    max_points: int
    rows: list = field(default_factory=list)  # (exercise id, title, status, points, max points)
    message: str = ""

    def __str__(self) -> str:
        return self.message

    def _ipython_display_(self):  # already printed by summary()
        pass


def summary(lesson: str | int, *, strict: bool | None = None, expect: str | None = None) -> LessonSummary:
    """Print this session's results for one lesson's exercises, with the total.

    In strict mode it also asserts that every exercise of the lesson was checked, and the
    outcome the notebook's folder implies (``expect`` overrides): in ``solutions/`` every
    exercise passed ("full"), in ``exercises/`` none did ("zero": all still stubs). nbval runs
    each notebook in its own folder, so one run of the suite proves both.
    """
    from ..course import lesson as course_lesson

    les = course_lesson(int(lesson))
    exs = registry.exercises_for(les.number)
    rows, got, total = [], 0, 0
    for ex in exs:
        r = SESSION.get(ex.id)
        status = r.status if r else "not checked"
        pts = r.points if r else 0
        rows.append((ex.id, ex.title, status, pts, ex.points))
        got, total = got + pts, total + ex.points
    marks = {PASSED: "✅", NOT_IMPLEMENTED: "⏳", FAILED: "❌", ERROR: "❌", "not checked": "·"}
    lines = [f"Lesson {les.number} — {les.title}: {got}/{total} points, "
             f"{sum(r[2] == PASSED for r in rows)} of {len(rows)} exercises passed"]
    lines += [f"  {marks[s]} {i} {t}: {s} ({p}/{m})" for i, t, s, p, m in rows]
    out = LessonSummary(les.id, got, total, rows, "\n".join(lines))
    print(out.message)
    if strict_mode() if strict is None else strict:
        expect = expect or {"solutions": "full", "exercises": "zero"}.get(Path.cwd().name)
        problems = [f"exercise {i} was never checked in this notebook: add a check cell "
                    f"check({i!r}, ...)." for i, _, s, _, _ in rows if s == "not checked"]
        if expect == "full":
            problems += [f"exercise {i} is {s}: a solutions notebook must get full marks."
                         for i, _, s, _, _ in rows if s not in (PASSED, "not checked")]
        if expect == "zero":
            problems += [f"exercise {i} is {s}, but an untouched exercises notebook must score 0 "
                         f"(is part of the solution outside # BEGIN/END SOLUTION?)."
                         for i, _, s, _, _ in rows if s not in (NOT_IMPLEMENTED, "not checked")]
        if problems:
            raise CheckFailed("\n".join(problems))
    return out
