"""Make ``exercises/`` from ``solutions/``: every region between ``# BEGIN SOLUTION`` and
``# END SOLUTION`` becomes a stub that raises ``NotImplementedError``; outputs are cleared.

Rules (errors name the notebook and cell):
- A code region must sit inside a function or method body (indented), after its signature and
  docstring, which are kept. At top level a stub would stop the notebook, so it is refused.
- Find-the-bug exercises: lines of a region written ``# GIVEN: <code>`` are the broken code the
  learner starts from. The exercises notebook gets them as code (the ``# GIVEN: `` prefix
  removed, indentation kept) instead of the stub; the solutions notebook keeps them as comments
  beside the repaired code.
- Predict exercises: a top-level line ``name = <value>  # PREDICT`` becomes
  ``name = ...  # your prediction``: the learner writes a number before the next cell computes it.
- In markdown cells a region becomes "*Write your answer here.*".
- ``nbval-check-output`` tags and ``# NBVAL_CHECK_OUTPUT`` lines are dropped: the exercises
  notebook has no stored outputs to compare with.
- The header cell is re-stamped for the exercises path (its Colab badge opens the exercises).

    python tools/make_exercises.py            # write exercises/*.ipynb
    python tools/make_exercises.py --check    # exit 1 if exercises/ is out of date (CI, tests)

>>> print(stub_source('def f(x):\\n    \"\"\"Doc.\"\"\"\\n    # BEGIN SOLUTION\\n    return x\\n    # END SOLUTION'))
def f(x):
    \"\"\"Doc.\"\"\"
    # YOUR CODE HERE
    raise NotImplementedError("replace this line with your code")
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.nbutil import REPO, dumps, kind_of, read, write  # noqa: E402
from tools.stamp_notebooks import stamp  # noqa: E402

BEGIN = re.compile(r"^(?P<indent>[ \t]*)#+\s*BEGIN SOLUTION\s*$")
END = re.compile(r"^[ \t]*#+\s*END SOLUTION\s*$")
MD_BEGIN = re.compile(r"^\s*(<!--)?\s*#*\s*BEGIN SOLUTION\s*(-->)?\s*$")
MD_END = re.compile(r"^\s*(<!--)?\s*#*\s*END SOLUTION\s*(-->)?\s*$")
STUB = 'raise NotImplementedError("replace this line with your code")'
GIVEN = re.compile(r"^(?P<indent>[ \t]*)#\s*GIVEN:(?: (?P<code>.*)|\s*)$")
PREDICT = re.compile(r"^(?P<name>[A-Za-z_]\w*)\s*=\s*(?P<value>.+?)\s*#\s*PREDICT\s*$")
PREDICT_STUB = "...  # your prediction: replace ... with a number, then run the check"
TEXT_STUB = "*Write your answer here.*"
CHECK_OUTPUT = re.compile(r"^\s*#\s*NBVAL_CHECK_OUTPUT\s*$")


class MarkerError(ValueError):
    pass


def stub_source(src: str, where: str = "cell") -> str:
    """Replace each solution region of a code cell by ``# YOUR CODE HERE`` + a raise, or by its
    ``# GIVEN:`` lines (find-the-bug); blank the value of each ``# PREDICT`` line.

    >>> print(stub_source("def f(x):\\n    # BEGIN SOLUTION\\n    # GIVEN: return x + 1\\n    return x\\n    # END SOLUTION"))
    def f(x):
        return x + 1
    >>> print(stub_source("loss_at_init = math.log(65)  # PREDICT"))
    loss_at_init = ...  # your prediction: replace ... with a number, then run the check
    """
    out, inside, indent, given = [], False, "", []
    for n, line in enumerate(src.split("\n"), 1):
        m = BEGIN.match(line)
        if m:
            if inside:
                raise MarkerError(f"{where}, line {n}: BEGIN SOLUTION inside another solution region.")
            if not m.group("indent"):
                raise MarkerError(f"{where}, line {n}: a solution region must be inside a function or "
                                  f"method body; at top level its stub would stop the notebook.")
            inside, indent, given = True, m.group("indent"), []
        elif END.match(line):
            if not inside:
                raise MarkerError(f"{where}, line {n}: END SOLUTION without BEGIN SOLUTION.")
            inside = False
            out += given or [f"{indent}# YOUR CODE HERE", f"{indent}{STUB}"]
        elif inside:
            g = GIVEN.match(line)
            if g:
                given.append(g.group("indent") + (g.group("code") or "").rstrip())
        else:
            p = PREDICT.match(line)
            out.append(f"{p.group('name')} = {PREDICT_STUB}" if p else line)
    if inside:
        raise MarkerError(f"{where}: BEGIN SOLUTION without END SOLUTION.")
    return "\n".join(out)


def stub_markdown(src: str, where: str = "cell") -> str:
    out, inside = [], False
    for line in src.split("\n"):
        if MD_BEGIN.match(line) and not inside:
            inside = True
            out.append(TEXT_STUB)
        elif MD_END.match(line) and inside:
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise MarkerError(f"{where}: BEGIN SOLUTION without END SOLUTION.")
    return "\n".join(out)


def make_exercises(nb, name: str = "notebook"):
    """The exercises version of a solutions notebook (a new notebook; ``nb`` is not changed)."""
    ex = copy.deepcopy(nb)
    for i, cell in enumerate(ex.cells):
        where = f"{name}, cell {i + 1}"
        if cell.cell_type == "code":
            cell.source = stub_source(cell.source, where)
            cell.source = "\n".join(l for l in cell.source.split("\n") if not CHECK_OUTPUT.match(l))
            cell.outputs, cell.execution_count = [], None
        elif cell.cell_type == "markdown":
            cell.source = stub_markdown(cell.source, where)
        tags = [t for t in cell.get("metadata", {}).get("tags", []) if t != "nbval-check-output"]
        if "tags" in cell.get("metadata", {}):
            cell.metadata["tags"] = tags
    return ex


def exercises_for(solution_path: Path):
    """(target path, exercises notebook) for one solutions notebook."""
    kind, les = kind_of(solution_path)
    if kind != "solutions":
        raise ValueError(f"{solution_path} is not in solutions/.")
    ex = make_exercises(read(solution_path), solution_path.name)
    stamp(ex, "exercises", les)
    return solution_path.parent.parent / "exercises" / solution_path.name, ex


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", help="solutions notebooks (default: all of solutions/)")
    ap.add_argument("--check", action="store_true", help="exit 1 if exercises/ differs from what this makes")
    args = ap.parse_args(argv)
    paths = [Path(p) for p in args.paths] or sorted((REPO / "solutions").glob("*.ipynb"))
    stale = []
    for path in paths:
        target, ex = exercises_for(path)
        if args.check:
            if not target.exists() or target.read_text(encoding="utf-8") != dumps(ex):
                stale.append(target)
        elif write(ex, target):
            print(f"wrote {target}")
    for t in stale:
        print(f"out of date: {t} (run python tools/make_exercises.py)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
