"""The exercise registry. Each lesson's exercises live in their own module,
``llmcourse/grading/lessons/lNN.py``, which is imported the first time one of its exercises is
needed, so lesson authors never edit a shared file. See ``AUTHORING.md`` next to this file.

>>> ex = get("10.1")
>>> ex.id, ex.title, ex.points
('10.1', 'The causal mask', 1)
>>> normalize_id("7.2"), normalize_id("07.2")
('07.2', '07.2')
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch.nn as nn

from .cases import Case, Rand
from .compare import close

_ID = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\s*$")
#: What an exercise asks of the learner; every exercise heading names its kind in brackets.
#: ``rebuild``: write again what the lesson built; ``transfer``: a component the lesson explains
#: but does not implement; ``find the bug``: repair a given broken implementation; ``predict``:
#: write down a number before a cell computes it.
KINDS = ("rebuild", "transfer", "find the bug", "predict")
_REGISTRY: dict[str, "Exercise"] = {}
_LOADED: set[str] = set()


@dataclass
class Mistake:
    """A typical learner mistake for one exercise.

    ``fn`` is a buggy copy of the reference (a function, or an ``nn.Module`` class for module
    exercises): a *planted bug*. The test suite requires the check to reject it, and when a
    learner's output equals this buggy output on the failing case, and the buggy copy agreed with
    the reference on every case before it (as the learner's output did), the learner sees ``hint``.
    ``detect(got, want, case) -> bool`` is an alternative trigger for mistakes that are easier to
    recognise than to write down (``fn`` may then be omitted: a hint-only mistake).
    """

    name: str
    fn: Callable | type | None = None
    hint: str = ""
    detect: Callable[[Any, Any, Case], bool] | None = None

    @property
    def planted(self) -> bool:
        return self.fn is not None


@dataclass
class Alternative:
    """A correct implementation written differently from the reference (``einsum`` for ``@``, a
    loop for a vectorised expression, ``exp(x - logsumexp(x))`` for softmax, ...).

    The test suite requires the check to pass it on every seed: it guards the tolerances and the
    hidden cases against rejecting answers that are right but computed another way.
    """

    name: str
    fn: Callable | type


@dataclass
class Exercise:
    """One graded exercise. Build it with :func:`exercise`; fields are documented there."""

    id: str
    title: str
    points: int
    reference: Callable | type
    visible: Any = ()
    hidden: Any = None
    compare: Callable = field(default_factory=close)
    mistakes: list[Mistake] = field(default_factory=list)
    hint: str | None = None
    run: Callable | None = None
    time_limit: float = 10.0
    alternatives: list[Alternative] = field(default_factory=list)
    kind: str | None = None
    given: Callable | type | None = None

    @property
    def lesson(self) -> str:
        return self.id.split(".")[0]

    @property
    def is_module(self) -> bool:
        return isinstance(self.reference, type) and issubclass(self.reference, nn.Module)

    def param_names(self) -> list[str] | None:
        target = self.reference.forward if self.is_module else self.reference
        try:
            params = list(inspect.signature(target).parameters.values())
        except (TypeError, ValueError):
            return None
        if self.is_module and params and params[0].name == "self":
            params = params[1:]
        return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]

    def cases(self, rand: Rand) -> list[Case]:
        """Visible cases first (marked ``visible``), then the hidden ones drawn from ``rand``."""
        out = []
        for source, visible in ((self.visible, True), (self.hidden, False)):
            if source is None:
                continue
            items = source(rand) if callable(source) else source
            for case in items:
                if not isinstance(case, Case):
                    raise TypeError(f"exercise {self.id}: case generators must yield Case(...), got {case!r}")
                case.visible = visible
                out.append(case)
        if not out:
            raise ValueError(f"exercise {self.id} has no cases: give visible=[Case(...)] or hidden=...")
        return out


def normalize_id(exercise_id: str) -> str:
    """``"7.2"`` -> ``"07.2"``; raises ``KeyError`` with an explanation for anything else."""
    m = _ID.match(str(exercise_id))
    if not m:
        raise KeyError(f"exercise ids look like '10.1' (lesson . exercise), got {exercise_id!r}.")
    return f"{int(m.group(1)):02d}.{int(m.group(2))}"


def exercise(id: str, title: str, *, reference: Callable | type, points: int = 1,
             visible: Iterable[Case] | Callable[[Rand], Iterable[Case]] = (),
             hidden: Callable[[Rand], Iterable[Case]] | Iterable[Case] | None = None,
             compare: Callable | None = None, mistakes: Iterable[Mistake] = (),
             hint: str | None = None, run: Callable | None = None,
             time_limit: float = 10.0, alternatives: Iterable[Alternative] = (),
             kind: str | None = None, given: Callable | type | None = None) -> Exercise:
    """Register an exercise and return it.

    - ``reference``: the correct function, or an ``nn.Module`` class (then learners submit a
      class or an instance; the grader builds it with each case's ``build_with`` arguments and
      copies the reference's weights in before comparing outputs).
    - ``visible``: cases the notebook shows (a list of :class:`Case`, or ``rand -> cases``).
    - ``hidden``: ``rand -> cases`` drawn afresh on every check (``rand`` is a :class:`Rand`).
    - ``compare``: :func:`close` (default, atol=rtol=1e-5) or :func:`exact`, or any
      ``(got, want) -> Mismatch | None``.
    - ``mistakes``: :class:`Mistake` entries, each a planted bug with the hint it deserves.
    - ``hint``: shown when a failure matches no known mistake.
    - ``run``: ``run(submission, case) -> output`` replaces the default call (function:
      ``submission(*case.args, **case.kwargs)``; module: build, copy weights, forward).
    - ``time_limit``: seconds for all cases of one check together.
    - ``alternatives``: :class:`Alternative` entries, correct answers written differently from the
      reference; the test suite requires each to pass on every seed.
    - ``kind``: one of :data:`KINDS`, named in the exercise's heading.
    - ``given`` (``kind="find the bug"`` only): the broken implementation the notebook starts
      from. A submission that still behaves like it on every case is "not fixed yet" (no points,
      and no failure in strict mode, so an untouched exercises notebook runs through).
      ``kind="predict"``: ``reference`` takes no arguments and returns the true value; the learner
      submits the value itself (``...`` means "not predicted yet"). Its one case takes no inputs
      (``visible`` defaults to ``[Case()]``) and there are no hidden ones: a prediction is one value.
    """
    ex_id = normalize_id(id)
    if ex_id in _REGISTRY:
        raise ValueError(f"exercise {ex_id} is registered twice; each id must be unique.")
    if not callable(reference):
        raise TypeError(f"exercise {ex_id}: reference must be a function or nn.Module class.")
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        raise ValueError(f"exercise {ex_id}: points must be a positive integer, got {points!r}.")
    mistakes = list(mistakes)
    names = [m.name for m in mistakes]
    if len(set(names)) != len(names):
        raise ValueError(f"exercise {ex_id}: mistake names must be unique, got {names}.")
    alternatives = list(alternatives)
    alt_names = [a.name for a in alternatives]
    if len(set(alt_names)) != len(alt_names):
        raise ValueError(f"exercise {ex_id}: alternative names must be unique, got {alt_names}.")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"exercise {ex_id}: kind must be one of {KINDS}, got {kind!r}.")
    if (given is not None) != (kind == "find the bug"):
        raise ValueError(f"exercise {ex_id}: a 'find the bug' exercise gives the broken code as given=..., "
                         f"and only such an exercise has one.")
    if kind == "predict":
        if ex_id_params(reference):
            raise ValueError(f"exercise {ex_id}: a predict exercise's reference takes no arguments.")
        visible = visible or [Case()]
        hidden = _no_cases if hidden is None else hidden
    ex = Exercise(ex_id, title, points, reference, visible, hidden, compare or close(), mistakes,
                  hint, run, float(time_limit), alternatives, kind, given)
    _REGISTRY[ex_id] = ex
    return ex


def _no_cases(rand: Rand) -> list[Case]:
    return []


def ex_id_params(fn) -> list[str]:
    """The names of the parameters ``fn`` requires (no defaults)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _lesson_modules() -> list[str]:
    from . import lessons

    return sorted(m.name for m in pkgutil.iter_modules(lessons.__path__) if re.fullmatch(r"l\d\d", m.name))


def load_lesson(lesson_id: str) -> None:
    """Import ``lessons/lNN.py`` once (if it exists) and verify it only registered ``NN.x`` ids."""
    lesson_id = f"{int(lesson_id):02d}"
    if lesson_id in _LOADED:
        return
    name = f"{__package__}.lessons.l{lesson_id}"
    before = set(_REGISTRY)
    if importlib.util.find_spec(name) is not None:
        importlib.import_module(name)
    _LOADED.add(lesson_id)
    wrong = sorted(i for i in set(_REGISTRY) - before if not i.startswith(lesson_id + "."))
    if wrong:
        raise ValueError(f"lessons/l{lesson_id}.py registered {wrong}: it may only define exercises "
                         f"{lesson_id}.1, {lesson_id}.2, ...")


def load_all() -> None:
    for mod in _lesson_modules():
        load_lesson(mod[1:])


def get(exercise_id: str) -> Exercise:
    """The exercise with this id; ``KeyError`` with the lesson's known ids if there is none."""
    ex_id = normalize_id(exercise_id)
    lesson = ex_id.split(".")[0]
    load_lesson(lesson)
    if ex_id not in _REGISTRY:
        known = [e.id for e in exercises_for(lesson)]
        raise KeyError(f"there is no exercise {ex_id}; lesson {lesson} has {known or 'no exercises yet'}.")
    return _REGISTRY[ex_id]


def _order(ex_id: str) -> tuple[int, int]:
    a, b = ex_id.split(".")
    return int(a), int(b)


def exercises_for(lesson: str | int) -> list[Exercise]:
    """All exercises of one lesson, in order."""
    lesson_id = f"{int(lesson):02d}"
    load_lesson(lesson_id)
    return sorted((e for e in _REGISTRY.values() if e.lesson == lesson_id), key=lambda e: _order(e.id))


def all_exercises() -> list[Exercise]:
    """Every registered exercise of every lesson, in order."""
    load_all()
    return sorted(_REGISTRY.values(), key=lambda e: _order(e.id))
