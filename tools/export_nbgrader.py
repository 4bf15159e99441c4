"""Export solutions notebooks to nbgrader *source* notebooks, for instructors who grade with
nbgrader (JupyterHub / a local Jupyter, not Colab).

What changes (the rest of the notebook is copied as is):
- ``# BEGIN SOLUTION`` / ``# END SOLUTION`` become nbgrader's ``### BEGIN SOLUTION`` /
  ``### END SOLUTION`` and the cell gets ``nbgrader`` metadata as an *autograded answer*.
  (Markdown regions become *manually graded answers* worth 1 point.)
- Each check cell, ``check("10.1", fn)``, becomes an *autograder test* cell worth the exercise's
  points: ``assert check("10.1", fn, record=False).passed``. It runs the same visible and hidden
  cases as in the notebook.

Then, in the nbgrader course folder: ``nbgrader generate_assignment NN_<slug>`` and the usual
``autograde``. The grading machine needs the course package installed (``pip install
"llmcourse @ git+<REPO_URL>"``); the notebooks' Colab install line is skipped outside Colab.

    python tools/export_nbgrader.py                      # all of solutions/ -> out/nbgrader/source/
    python tools/export_nbgrader.py --out course/source solutions/10_causal_masking_exercises.ipynb
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.make_exercises import BEGIN, END, MD_BEGIN, MD_END  # noqa: E402
from tools.nbutil import REPO, kind_of, read, write  # noqa: E402

CHECK = re.compile(r"""^(?P<indent>\s*)check\(\s*(?P<q>["'])(?P<id>\d{1,2}\.\d{1,2})(?P=q)\s*,\s*(?P<rest>.*)\)\s*;?\s*$""")
SCHEMA = 3


def _meta(grade_id: str, *, solution: bool, grade: bool, points: int | None = None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": SCHEMA,
            "solution": solution, "task": False}
    if grade:
        meta["points"] = points
    return meta


def _markers(src: str, begin, end) -> tuple[str, int]:
    out, n = [], 0
    for line in src.split("\n"):
        m = begin.match(line)
        if m:
            indent = m.groupdict().get("indent") or ""
            out.append(f"{indent}### BEGIN SOLUTION")
            n += 1
        elif end.match(line):
            out.append(line[: len(line) - len(line.lstrip())] + "### END SOLUTION")
        else:
            out.append(line)
    return "\n".join(out), n


def export(nb, name: str = "notebook"):
    """The nbgrader source version of a solutions notebook (a new notebook)."""
    from llmcourse.grading import get

    out = copy.deepcopy(nb)
    for i, cell in enumerate(out.cells):
        cell.metadata.pop("nbgrader", None)
        cid = cell.get("id") or f"cell{i}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            src, regions = _markers(cell.source, BEGIN, END)
            lines, points, ids = [], 0, []
            for line in src.split("\n"):
                m = CHECK.match(line)
                if m:
                    ex = get(m.group("id"))
                    points += ex.points
                    ids.append(ex.id)
                    line = (f"{m.group('indent')}assert check({ex.id!r}, {m.group('rest')}, record=False).passed, "
                            f"\"exercise {ex.id} failed: see the message above\"")
                lines.append(line)
            cell.source = "\n".join(lines)
            if regions and ids:
                raise ValueError(f"{name}, cell {i + 1}: keep the solution and its check in separate cells.")
            if regions:
                cell.metadata["nbgrader"] = _meta(f"answer-{cid}", solution=True, grade=False)
            elif ids:
                gid = "check-" + "-".join(x.replace(".", "_") for x in ids)
                cell.metadata["nbgrader"] = _meta(gid, solution=False, grade=True, points=points)
        elif cell.cell_type == "markdown":
            src, regions = _markers(cell.source, MD_BEGIN, MD_END)
            if regions:
                cell.source = src
                cell.metadata["nbgrader"] = _meta(f"answer-{cid}", solution=True, grade=True, points=1)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", help="solutions notebooks (default: all of solutions/)")
    ap.add_argument("--out", default=str(REPO / "out" / "nbgrader" / "source"),
                    help="nbgrader source folder (one sub-folder per assignment)")
    args = ap.parse_args(argv)
    paths = [Path(p) for p in args.paths] or sorted((REPO / "solutions").glob("*.ipynb"))
    for path in paths:
        _, les = kind_of(path)
        target = Path(args.out) / les.stem / path.name
        write(export(read(path), path.name), target)
        print(f"exported {path} -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
