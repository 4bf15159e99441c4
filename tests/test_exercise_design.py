"""What the exercises ask of a learner: every lesson has a transfer exercise and at most one
rebuild; the course has at least eight find-the-bug exercises; every heading names its kind; and
an exercise whose function (its name, or its body) is already written in the lesson is marked as
a rebuild, since the learner could copy it from the page."""

from __future__ import annotations

import io
import keyword
import re
import tokenize

import pytest

from llmcourse.course import LESSONS
from llmcourse.grading import KINDS, exercises_for
from tools.make_exercises import BEGIN, END, GIVEN
from tools.nbutil import REPO, read

HEADING = re.compile(r"^##\s*Exercise\s+(\d\d\.\d+)\s+—\s+(?P<title>.+?)\s+\((?P<kind>[a-z ]+),\s*"
                     r"(?P<points>\d+)\s+points?\)\s*$", re.M)
CHECK = re.compile(r"""check\(\s*["'](\d\d\.\d+)["']\s*,\s*([A-Za-z_]\w*)""")
NUMBERS = [les.id for les in LESSONS]


def _code(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def _solution_lines(src: str) -> list[str]:
    """The meaningful lines of the solution regions of one cell (comments, blanks and the given
    broken lines dropped), whitespace-normalised."""
    out, inside = [], False
    for line in src.split("\n"):
        if BEGIN.match(line):
            inside = True
        elif END.match(line):
            inside = False
        elif inside and not GIVEN.match(line):
            code = line.split("#", 1)[0].strip()
            if code and code not in ("return", "pass", ")", "]", "}", "else:"):
                out.append(re.sub(r"\s+", " ", code))
    return out


def shape(line: str) -> str:
    """A line with its variable names blanked (attributes, called functions and module names
    kept), so that the same code with other names matches.

    >>> shape("y = Q @ K.transpose(-2, -1)") == shape("out = q @ k.transpose(-2, -1)")
    True
    """
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(line).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return line
    out = []
    for i, t in enumerate(toks):
        if t.type == tokenize.NAME and not keyword.iskeyword(t.string):
            after = toks[i + 1].string if i + 1 < len(toks) else ""
            before = toks[i - 1].string if i else ""
            keep = before == "." or after == "(" or t.string in ("torch", "F", "math", "nn", "np")
            out.append(t.string if keep else "v")
        elif t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT,
                            tokenize.DEDENT, tokenize.COMMENT):
            out.append(t.string)
    return " ".join(out)


def copied_from_lesson(lesson_code: str, names: set[str], solution: list[str]) -> str | None:
    """Why the solution can be copied from the lesson's code, or None: the lesson defines a
    function or class of the same name, or holds most of its lines (up to the names used).

    >>> copied_from_lesson("def f(x):\\n    return x + 1", {"f"}, ["return x + 1"])
    'the lesson defines f'
    >>> copied_from_lesson("s = Q @ K.T\\nw = s.softmax(-1)", {"g"}, ["a = q @ k.T", "b = a.softmax(-1)"])
    'the lesson contains 2 of its 2 solution lines (up to names)'
    >>> copied_from_lesson("y = a @ b", {"g"}, ["y = a @ b", "w = y.relu()", "return w"]) is None
    True
    """
    for name in names:
        if re.search(rf"^\s*(def|class)\s+{re.escape(name)}\b", lesson_code, re.M):
            return f"the lesson defines {name}"
    flat = {shape(line.split("#", 1)[0].strip()) for line in lesson_code.split("\n") if line.strip()}
    found = sum(shape(line) in flat for line in solution)
    if len(solution) >= 2 and found >= 0.6 * len(solution):
        return f"the lesson contains {found} of its {len(solution)} solution lines (up to names)"
    return None


@pytest.mark.parametrize("nn", NUMBERS)
def test_lesson_has_a_transfer_exercise_and_at_most_one_rebuild(nn):
    kinds = [ex.kind for ex in exercises_for(nn)]
    assert all(k in KINDS for k in kinds), f"lesson {nn}: every exercise needs kind= one of {KINDS}, got {kinds}"
    assert "transfer" in kinds, f"lesson {nn} has no transfer exercise: {kinds}"
    assert kinds.count("rebuild") <= 1, f"lesson {nn} has {kinds.count('rebuild')} rebuild exercises"


def test_the_course_has_eight_find_the_bug_exercises_and_one_parameter_count():
    from llmcourse.grading import all_exercises

    exs = all_exercises()
    bugs = [ex.id for ex in exs if ex.kind == "find the bug"]
    assert len(bugs) >= 8, f"only {len(bugs)} find-the-bug exercises: {bugs}"
    counts = [ex.id for ex in exs if re.search(r"\bparameters?\b", ex.title, re.I) and "GPT-3" not in ex.title]
    assert len(counts) <= 1, f"counting parameters is one exercise, found {counts}"


@pytest.mark.parametrize("nn", NUMBERS)
def test_headings_name_kind_and_points_and_nothing_is_copied_from_the_lesson(nn):
    les = LESSONS[int(nn) - 1]
    sol = read(REPO / les.solutions)
    markdown = "\n".join(c.source for c in sol.cells if c.cell_type == "markdown")
    headings = {m.group(1): m for m in HEADING.finditer(markdown)}
    lesson_code = "\n".join(_code(read(REPO / les.notebook)))
    cells = _code(sol)
    problems = []
    for ex in exercises_for(nn):
        m = headings.get(ex.id)
        if m is None:
            problems.append(f"{ex.id}: no heading '## Exercise {ex.id} — <title> ({ex.kind}, {ex.points} "
                            f"point{'s' if ex.points > 1 else ''})'")
            continue
        if m["kind"] != ex.kind or int(m["points"]) != ex.points:
            problems.append(f"{ex.id}: the heading says ({m['kind']}, {m['points']} points), the grader "
                            f"({ex.kind}, {ex.points} points)")
        if ex.kind in ("rebuild", "predict"):
            continue
        names = {name for src in cells for i, name in CHECK.findall(src) if i == ex.id}
        defining = [src for src in cells if any(re.search(rf"^(def|class)\s+{n}\b", src, re.M) for n in names)]
        solution = [line for src in defining for line in _solution_lines(src)]
        why = copied_from_lesson(lesson_code, names, solution)
        if why:
            problems.append(f"{ex.id} ({ex.kind}): {why}; mark it (rebuild) or ask for something the lesson "
                            f"did not show")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("nn", NUMBERS)
def test_every_exercise_has_a_correct_alternative(nn):
    missing = [ex.id for ex in exercises_for(nn) if not ex.alternatives]
    assert not missing, f"give each exercise a correct Alternative written differently: {missing}"
