"""``python -m llmcourse grade PATH...`` and ``python -m llmcourse progress``.

``grade`` runs each exercise notebook top to bottom in a fresh kernel (nbclient), collects the
result of every ``check(...)`` call through a results file (``LLMCOURSE_RESULTS_FILE``), and
prints a score table per notebook and a total (``--json`` for instructors). A notebook that raises
is graded up to the failing cell; exercises after it count as "not reached".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from . import progress, registry
from .api import RESULTS_ENV, STRICT_ENV

NOT_REACHED, NOT_CHECKED = "not reached", "not checked"


@contextlib.contextmanager
def _env(**values):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update({k: v for k, v in values.items() if v is not None})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _notebooks(paths: list[str]) -> list[Path]:
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.glob("*.ipynb") if ".ipynb_checkpoints" not in q.parts)
        else:
            out.append(p)
    return out


def _execute(path: Path, timeout: int, kernel: str, keep_going: bool, record: bool) -> tuple[list[dict], dict | None]:
    """Run one notebook; return (check results in order, error or None)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    fd, results_file = tempfile.mkstemp(prefix="llmcourse-grade-", suffix=".jsonl")
    os.close(fd)
    error = None
    env = {RESULTS_ENV: results_file, STRICT_ENV: "0", "MPLBACKEND": "Agg"}
    if not record:
        env[progress.PROGRESS_ENV] = "off"
    try:
        with _env(**env):
            client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, allow_errors=keep_going,
                                    resources={"metadata": {"path": str(path.parent.resolve())}})
            try:
                client.execute(stderr=subprocess.DEVNULL)  # the kernel's own log noise
            except CellExecutionError as exc:
                error = _cell_error(nb, exc)
            except CellTimeoutError:
                error = {"cell": _running_cell(nb), "error": f"a cell ran longer than {timeout} s"}
            except DeadKernelError as exc:
                error = {"cell": _running_cell(nb), "error": f"the kernel died ({exc})"}
        results = []
        with open(results_file, encoding="utf-8") as fh:
            for line in fh:
                with contextlib.suppress(ValueError):
                    results.append(json.loads(line))
    finally:
        os.unlink(results_file)
    return results, error


def _running_cell(nb) -> int | None:
    """Index (1-based, code cells) of the last cell that started executing."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    started = [i for i, c in enumerate(code, 1) if c.get("execution_count") is not None]
    return started[-1] if started else None


def _cell_error(nb, exc) -> dict:
    ename = getattr(exc, "ename", "Error")
    evalue = str(getattr(exc, "evalue", "") or "").splitlines()[:1]
    return {"cell": _running_cell(nb), "error": f"{ename}: {evalue[0] if evalue else ''}"[:300]}


def grade_notebook(path: Path, timeout: int = 600, kernel: str = "python3", keep_going: bool = False,
                   record: bool = True) -> dict:
    """Execute and grade one notebook; returns the dict that ``--json`` prints for it."""
    from ..course import lesson

    try:
        les = lesson(path.name)
    except KeyError:
        les = None
    entry = {"path": str(path), "lesson": les.id if les else None, "error": None, "exercises": []}
    if not path.exists():
        entry["error"] = {"cell": None, "error": "file not found"}
        results = []
    else:
        try:
            results, entry["error"] = _execute(path, timeout, kernel, keep_going, record)
        except Exception as exc:  # noqa: BLE001 - unreadable notebook, missing kernel, ...
            results, entry["error"] = [], {"cell": None, "error": f"{type(exc).__name__}: {exc}"[:300]}
    latest = {r["exercise_id"]: r for r in results}
    rows = []
    for ex in (registry.exercises_for(les.number) if les else []):
        r = latest.pop(ex.id, None)
        if r is None:
            status = NOT_REACHED if entry["error"] else NOT_CHECKED
            rows.append({"id": ex.id, "title": ex.title, "status": status, "points": 0,
                         "max_points": ex.points, "message": ""})
        else:
            rows.append(_row(r))
    rows += [_row(r) for r in latest.values() if r.get("max_points")]  # other lessons' checks
    entry["exercises"] = rows
    entry["points"] = sum(r["points"] for r in rows)
    entry["max_points"] = sum(r["max_points"] for r in rows)
    return entry


def _row(r: dict) -> dict:
    return {"id": r["exercise_id"], "title": r.get("title", ""), "status": r["status"],
            "points": r.get("points", 0), "max_points": r.get("max_points", 0), "message": r.get("message", "")}


def format_report(report: dict) -> str:
    lines = []
    for nb in report["notebooks"]:
        lines.append(f"{nb['path']}" + (f"  (lesson {nb['lesson']})" if nb["lesson"] else ""))
        w = max([len(r["title"]) for r in nb["exercises"]] + [10])
        for r in nb["exercises"]:
            lines.append(f"  {r['id']:<6}{r['title']:<{w}}  {r['status']:<16}{r['points']:>3}/{r['max_points']}")
        if not nb["exercises"]:
            lines.append("  (no graded exercises found)")
        if nb["error"]:
            where = f"cell {nb['error']['cell']}" if nb["error"].get("cell") else "the notebook"
            lines.append(f"  stopped: {where} raised {nb['error']['error']}")
        lines.append(f"  {'notebook total':<{w + 6}}  {'':<16}{nb['points']:>3}/{nb['max_points']}")
        lines.append("")
    lines.append(f"TOTAL {report['points']}/{report['max_points']} points over {len(report['notebooks'])} notebook(s)")
    return "\n".join(lines)


def cli_grade(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m llmcourse grade",
                                 description="Run exercise notebooks in a fresh kernel and print their scores.")
    ap.add_argument("paths", nargs="+", metavar="PATH", help="notebooks, or folders of notebooks")
    ap.add_argument("--json", action="store_true", help="print the full report as JSON (for instructors)")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    ap.add_argument("--kernel", default="python3", help="Jupyter kernel name (default python3)")
    ap.add_argument("--continue-on-error", action="store_true",
                    help="keep running cells after one raises (default: grade up to the error)")
    ap.add_argument("--no-progress", action="store_true",
                    help="do not record results in your progress file (instructors grading others)")
    args = ap.parse_args(argv)
    try:
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401
    except ImportError:
        print("grade runs notebooks with nbclient: pip install nbclient nbformat ipykernel", file=sys.stderr)
        return 2
    paths = _notebooks(args.paths)
    if not paths:
        print("no notebooks found in " + " ".join(args.paths), file=sys.stderr)
        return 2
    nbs = [grade_notebook(p, args.timeout, args.kernel, args.continue_on_error, not args.no_progress)
           for p in paths]
    report = {"notebooks": nbs, "points": sum(n["points"] for n in nbs),
              "max_points": sum(n["max_points"] for n in nbs)}
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 1 if any(n["error"] and n["error"]["error"] == "file not found" for n in nbs) else 0


def cli_progress(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m llmcourse progress",
                                 description="Show the exercises you have passed, per lesson.")
    ap.add_argument("--json", action="store_true", help="print the stored progress as JSON")
    ap.add_argument("--reset", action="store_true", help="forget all progress")
    ap.add_argument("--file", help=f"progress file (default ${progress.PROGRESS_ENV} or ~/{progress.FILE_NAME})")
    args = ap.parse_args(argv)
    path = Path(args.file) if args.file else progress.progress_path()
    if path is None:
        print(f"progress recording is switched off (${progress.PROGRESS_ENV} is empty).")
        return 0
    if args.reset:
        progress.reset(path)
        print(f"progress reset ({path}).")
        return 0
    data = progress.load(path)
    if args.json:
        print(json.dumps(data, indent=1, sort_keys=True))
        return 0
    print(f"Exercise progress ({path})\n")
    print(progress.table(data))
    return 0
