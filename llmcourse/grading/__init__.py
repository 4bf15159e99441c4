"""Graded exercises (all lessons): the checks learners call from exercise notebooks, and the
registry lesson authors add exercises to.

Learners::

    from llmcourse.grading import check
    check("10.1", causal_mask)           # prints one verdict line, returns a Result

Lesson authors write ``llmcourse/grading/lessons/lNN.py`` (see ``AUTHORING.md`` in this folder)::

    exercise("10.1", "The causal mask", reference=attention.causal_mask, points=1,
             visible=[Case(4)], hidden=lambda r: [Case(r.integer(1, 12)) for _ in range(4)],
             compare=exact(), mistakes=[Mistake("sees the next token", buggy_fn, hint="...")])

>>> from llmcourse.grading import get
>>> get("10.2").points
2
"""

from .api import GRADE_ENV, SESSION, STRICT_ENV, LessonSummary, check, strict_mode, summary
from .cases import Case, Rand
from .compare import Mismatch, close, exact
from .registry import KINDS, Alternative, Exercise, Mistake, all_exercises, exercise, exercises_for, get
from .result import ERROR, FAILED, NOT_IMPLEMENTED, PASSED, CheckFailed, Result

__all__ = [
    "check", "summary", "Result", "CheckFailed", "LessonSummary", "strict_mode", "SESSION",
    "exercise", "Exercise", "Mistake", "Alternative", "KINDS", "Case", "Rand", "close", "exact", "Mismatch",
    "get", "exercises_for", "all_exercises",
    "PASSED", "FAILED", "NOT_IMPLEMENTED", "ERROR", "STRICT_ENV", "GRADE_ENV",
]
