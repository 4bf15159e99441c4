"""The outcome of one check: :class:`Result`, and the error strict mode raises.

>>> r = Result("10.1", "The causal mask", PASSED, points=1, max_points=1, message="10.1 passed")
>>> r.passed, r.points, r.max_points
(True, 1, 1)
>>> print(r)
10.1 passed
>>> r
Result('10.1', passed, 1/1 points)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

#: Statuses a check can end in.
PASSED = "passed"
FAILED = "failed"  # the submission ran and was wrong, raised, timed out, or returned junk
NOT_IMPLEMENTED = "not implemented"  # the stub still raises NotImplementedError
ERROR = "error"  # not the learner's code: unknown exercise id, or a bug in the grader itself
STATUSES = (PASSED, FAILED, NOT_IMPLEMENTED, ERROR)


class CheckFailed(AssertionError):
    """Raised by a failing check when ``LLMCOURSE_STRICT=1`` (CI), so a regression stops the run."""


@dataclass
class Result:
    """What :func:`llmcourse.grading.check` returns. ``message`` is exactly what was printed."""

    exercise_id: str
    title: str
    status: str
    points: int = 0
    max_points: int = 0
    message: str = ""
    hint: str | None = None
    mistake: str | None = None  # name of the known mistake the submission behaved like
    case: str | None = None  # description of the first failing case
    seed: int | None = None  # seed of the random cases, to reproduce: check(..., seed=seed)
    elapsed: float = 0.0
    printed: bool = field(default=False, repr=False, compare=False)

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("printed")
        d["passed"] = self.passed
        return d

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"Result({self.exercise_id!r}, {self.status}, {self.points}/{self.max_points} points)"

    def _ipython_display_(self):
        # check() already printed the message; a check cell ending in check(...) would otherwise
        # show it a second time as the cell's value. Shown again only if it was never printed.
        if not self.printed:
            print(self.message)
