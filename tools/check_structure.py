"""Check that course notebooks have the shared skeleton (see llmcourse/grading/AUTHORING.md).

A lesson notebook ``notebooks/NN_<slug>.ipynb`` must have:
1. first cell: markdown starting ``# Lesson N of 20 — <title>`` (title from llmcourse.course);
2. the Colab badge linking to its own Colab address;
3. the stamped setup cell as its first code cell (exactly ``tools/stamp_notebooks.py``'s text);
4. a markdown cell with a "What you will learn" heading and 3 to 5 bullets;
5. at least one figure (an ``image/png`` or ``image/svg+xml`` output);
6. a link to ``../exercises/NN_<slug>_exercises.ipynb``;
7. links to the previous and next lessons (where they exist);
8. been executed top to bottom: execution counts exactly 1..n, no error outputs.

An exercises / solutions notebook must have the stamped header (title, badge, link back to the
lesson) and setup cell, a ``check("NN.k", ...)`` cell for every registered exercise of the lesson
and none for unknown ids, ``summary("NN")`` as its last code cell; a solutions notebook has at
least one ``# BEGIN SOLUTION`` region, and an exercises notebook is committed without outputs.

    python tools/check_structure.py                  # all course notebooks; exit 1 on problems
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.nbutil import BADGE, LESSONS, colab_url, header_source, kind_of, read, setup_source  # noqa: E402

CHECK_CALL = re.compile(r"""\bcheck\(\s*["'](\d{1,2}\.\d{1,2})["']""")
SUMMARY_CALL = re.compile(r"""^\s*summary\(\s*["']?(\d{1,2})["']?\s*\)\s*;?\s*$""")
BULLET = re.compile(r"^\s*(?:[-*+]|\d+\.)\s+\S")


def _markdown(nb) -> str:
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def _links(text: str) -> set[str]:
    return set(re.findall(r"\]\(([^)\s]+)\)", text))


def _common(nb, kind, les) -> list[str]:
    problems = []
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = nb.cells[0] if nb.cells else None
    title = header_source(kind, les).split("\n")[0]
    if first is None or first.cell_type != "markdown" or not first.source.startswith(title):
        problems.append(f"the first cell must be markdown starting with {title!r} "
                        f"(run tools/stamp_notebooks.py)")
    path = {"lesson": les.notebook, "exercises": les.exercises, "solutions": les.solutions}[kind]
    if f"[![Open In Colab]({BADGE})]({colab_url(path)})" not in _markdown(nb):
        problems.append(f"no Colab badge linking to {colab_url(path)} (run tools/stamp_notebooks.py)")
    if not code or code[0].source != setup_source(kind):
        problems.append("the first code cell must be the stamped setup cell (run tools/stamp_notebooks.py)")
    return problems


def lesson_problems(path) -> list[str]:
    """Everything missing from a lesson notebook's skeleton (empty list: all good)."""
    path = Path(path)
    kind, les = kind_of(path)
    if kind != "lesson":
        raise ValueError(f"{path} is not a lesson notebook (notebooks/NN_<slug>.ipynb)")
    nb = read(path)
    problems = _common(nb, kind, les)
    md = _markdown(nb)
    objectives = [c.source for c in nb.cells if c.cell_type == "markdown"
                  and re.search(r"^#+\s*What you will learn", c.source, re.M | re.I)]
    if not objectives:
        problems.append("no markdown cell with a 'What you will learn' heading")
    elif not 3 <= sum(bool(BULLET.match(line)) for line in objectives[0].split("\n")) <= 5:
        problems.append("'What you will learn' must list 3 to 5 bullets")
    code = [c for c in nb.cells if c.cell_type == "code"]
    outputs = [o for c in code for o in c.get("outputs", [])]
    if not any({"image/png", "image/svg+xml"} & set(o.get("data", {})) for o in outputs):
        problems.append("no figure: the executed lesson must show at least one matplotlib figure")
    links = _links(md)
    if f"../exercises/{les.stem}_exercises.ipynb" not in links:
        problems.append(f"no link to ../exercises/{les.stem}_exercises.ipynb")
    if les.number > 1 and f"{LESSONS[les.number - 2].stem}.ipynb" not in links:
        problems.append(f"no link to the previous lesson {LESSONS[les.number - 2].stem}.ipynb")
    if les.number < len(LESSONS) and f"{LESSONS[les.number].stem}.ipynb" not in links:
        problems.append(f"no link to the next lesson {LESSONS[les.number].stem}.ipynb")
    counts = [c.get("execution_count") for c in code]
    if counts != list(range(1, len(code) + 1)):
        problems.append(f"not executed top to bottom in a fresh kernel: execution counts are {counts[:12]}"
                        f"{'...' if len(counts) > 12 else ''}, expected 1..{len(code)} "
                        f"(run tools/execute_notebooks.py)")
    errors = [o for o in outputs if o.get("output_type") == "error"]
    if errors:
        problems.append(f"{len(errors)} error output(s), first: {errors[0].get('ename')}: {errors[0].get('evalue')}")
    return problems


def exercise_problems(path) -> list[str]:
    """Everything missing from an exercises or solutions notebook's skeleton."""
    from llmcourse.grading import exercises_for

    path = Path(path)
    kind, les = kind_of(path)
    if kind == "lesson":
        raise ValueError(f"{path} is a lesson notebook")
    nb = read(path)
    problems = _common(nb, kind, les)
    if f"../notebooks/{les.stem}.ipynb" not in _links(_markdown(nb)):
        problems.append(f"no link back to the lesson ../notebooks/{les.stem}.ipynb")
    code = [c for c in nb.cells if c.cell_type == "code"]
    checked = [m for c in code for m in CHECK_CALL.findall(c.source)]
    known = [e.id for e in exercises_for(les.number)]
    norm = [f"{int(a):02d}.{int(b)}" for a, b in (x.split(".") for x in checked)]
    for ex_id in known:
        if ex_id not in norm:
            problems.append(f"exercise {ex_id} is registered but has no check cell check({ex_id!r}, ...)")
    for ex_id in norm:
        if ex_id not in known:
            problems.append(f"check({ex_id!r}, ...) refers to an exercise that is not registered "
                            f"in llmcourse/grading/lessons/l{les.id}.py")
    last = code[-1].source.strip() if code else ""
    m = SUMMARY_CALL.match(last)
    if not m or int(m.group(1)) != les.number:
        problems.append(f"the last code cell must be summary({les.id!r})")
    if kind == "solutions" and not any(re.search(r"#+\s*BEGIN SOLUTION", c.source) for c in code):
        problems.append("no '# BEGIN SOLUTION' region: solutions notebooks are the source of exercises/")
    if kind == "exercises" and any(c.get("outputs") or c.get("execution_count") for c in code):
        problems.append("exercises notebooks are committed without outputs (made by tools/make_exercises.py)")
    return problems


def main(argv=None) -> int:
    from tools.nbutil import REPO

    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    paths = paths or sorted(p for d in ("notebooks", "solutions", "exercises") for p in (REPO / d).glob("*.ipynb"))
    bad = 0
    for path in paths:
        probs = lesson_problems(path) if path.parent.name == "notebooks" else exercise_problems(path)
        for p in probs:
            print(f"{path}: {p}")
        bad += bool(probs)
    print(f"{len(paths) - bad} of {len(paths)} notebooks have the skeleton")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
