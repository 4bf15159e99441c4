"""``python -m llmcourse grade PATH...`` and ``python -m llmcourse progress``.

``grade`` runs each exercise notebook cell by cell in a fresh kernel (nbclient). Every
``check(...)`` in the kernel saves what the submission *returned* on each case (plain data, in a
folder named by ``LLMCOURSE_GRADE_DIR``); ``grade`` then judges those outputs itself, against
references computed in its own process, which never runs notebook code. A cell that patches the
package, the comparison or the check, or writes fake results, cannot change a verdict: at most it
can report outputs, and only correct outputs pass. Only the notebook's own lesson counts toward its
score; checks of other lessons' exercises are listed apart. A cell that raises stops the notebook
(exercises after it are "not reached"); a cell that runs past ``--timeout`` seconds gets its kernel
killed, and the notebook is graded up to that cell. Paths that are missing, unreadable or not
notebooks are refused before any notebook runs (one line, exit 1); a kernel that dies exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import progress, registry
from .api import GRADE_ENV, STRICT_ENV
from .result import ERROR, Result
from .runner import judge
from .sandbox import loads, standard_state

NOT_REACHED, NOT_CHECKED = "not reached", "not checked"
MAX_RECORD_BYTES = 64 << 20


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


def notebook_problem(path: Path) -> str | None:
    """Why ``path`` cannot be graded (missing, unreadable, not a notebook), or ``None``."""
    import nbformat

    if not path.exists():
        return "file not found"
    if not path.is_file():
        return "not a file"
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot be read ({type(exc).__name__})"
    if not raw.strip():
        return "the file is empty, not a notebook"
    try:
        data = json.loads(raw)
    except ValueError:
        return "not a notebook (not JSON)"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return "not a notebook (JSON without a list of cells)"
    try:
        nbformat.reads(raw, as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat's many validation errors
        return f"not a valid notebook ({type(exc).__name__})"
    return None


def _execute(path: Path, timeout: int, kernel: str, keep_going: bool, outdir: str) -> dict | None:
    """Run the notebook's code cells in order in a fresh kernel; the first error (or ``None``).
    Cells are counted here (code cell 1, 2, ...), never from saved execution counts."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    env = {GRADE_ENV: outdir, STRICT_ENV: "0", "MPLBACKEND": "Agg", progress.PROGRESS_ENV: "off"}
    error, k = None, 0
    with _env(**env):
        client = NotebookClient(nb, timeout=timeout, kernel_name=kernel, allow_errors=False,
                                shutdown_kernel="immediate",
                                resources={"metadata": {"path": str(path.parent.resolve())}})
        with client.setup_kernel(stderr=subprocess.DEVNULL):  # the kernel's own log noise
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                k += 1
                try:
                    client.execute_cell(cell, index)
                except CellExecutionError as exc:
                    ename = getattr(exc, "ename", "Error")
                    evalue = str(getattr(exc, "evalue", "") or "").splitlines()[:1]
                    err = {"cell": k, "error": f"{ename}: {evalue[0] if evalue else ''}"[:300]}
                    error = error or err
                    if not keep_going:
                        break
                except CellTimeoutError:
                    error = {"cell": k, "error": f"ran longer than {timeout} s; the kernel was stopped"}
                    break
                except DeadKernelError:
                    error = {"cell": k, "error": "the kernel died", "fatal": True}
                    break
    return error


def _records(outdir: str) -> list[dict]:
    """The outcome records the kernel saved, oldest first. Read as plain data only
    (:func:`~.sandbox.loads`): a file the notebook forged cannot run code here."""
    out = []
    names = [n for n in os.listdir(outdir) if re.fullmatch(r"\d+-\d+\.out", n)]  # PID-SEQ.out
    for name in sorted(names, key=lambda n: tuple(int(x) for x in n[:-4].split("-"))[::-1]):
        p = os.path.join(outdir, name)
        with contextlib.suppress(Exception):
            if os.path.getsize(p) > MAX_RECORD_BYTES:
                continue
            with open(p, "rb") as fh:
                rec = loads(fh.read())
            if isinstance(rec, dict) and isinstance(rec.get("exercise_id"), str) \
                    and isinstance(rec.get("seed"), int) and isinstance(rec.get("outcomes"), list) \
                    and all(isinstance(o, dict) for o in rec["outcomes"]):
                out.append(rec)
    return out


def _judge_record(rec: dict) -> Result | None:
    """The verdict on one record, computed here from the package's own references."""
    try:
        ex = registry.get(rec["exercise_id"])
    except Exception:  # noqa: BLE001 - an unknown id: the kernel's check already said so
        return None
    try:
        with standard_state(threads=1):
            return judge(ex, rec["seed"], rec["outcomes"])
    except Exception as exc:  # noqa: BLE001 - a bug in the exercise definition
        return Result(ex.id, ex.title, ERROR, 0, ex.points, seed=rec["seed"],
                      message=f"the grader itself failed ({type(exc).__name__}: {exc})")


def grade_notebook(path: Path, timeout: int = 600, kernel: str = "python3", keep_going: bool = False,
                   record: bool = True) -> dict:
    """Execute and grade one notebook; returns the dict that ``--json`` prints for it."""
    from ..course import lesson

    try:
        les = lesson(path.name)
    except KeyError:
        les = None
    entry = {"path": str(path), "lesson": les.id if les else None, "error": None, "exercises": [],
             "other_exercises": []}
    problem = notebook_problem(path)
    latest: dict[str, Result] = {}
    if problem:
        entry["error"] = {"cell": None, "error": problem, "fatal": True}
    else:
        outdir = tempfile.mkdtemp(prefix="llmcourse-grade-")
        try:
            entry["error"] = _execute(path, timeout, kernel, keep_going, outdir)
            for rec in _records(outdir):
                res = _judge_record(rec)
                if res is not None:
                    latest[res.exercise_id] = res
        except Exception as exc:  # noqa: BLE001 - missing kernel, nbclient failure, ...
            entry["error"] = {"cell": None, "error": f"{type(exc).__name__}: {exc}"[:300], "fatal": True}
        finally:
            shutil.rmtree(outdir, ignore_errors=True)
    rows = []
    for ex in (registry.exercises_for(les.number) if les else []):
        r = latest.pop(ex.id, None)
        if r is None:
            status = NOT_REACHED if entry["error"] else NOT_CHECKED
            rows.append({"id": ex.id, "title": ex.title, "status": status, "points": 0,
                         "max_points": ex.points, "message": ""})
        else:
            rows.append(_row(r))
            if record:
                progress.record(r)
    entry["exercises"] = rows
    entry["other_exercises"] = [_row(r) for r in latest.values()]  # listed, not counted
    entry["points"] = sum(r["points"] for r in rows)
    entry["max_points"] = sum(r["max_points"] for r in rows)
    return entry


def _row(r: Result) -> dict:
    return {"id": r.exercise_id, "title": r.title, "status": r.status, "points": r.points,
            "max_points": r.max_points, "message": r.message}


def format_report(report: dict) -> str:
    lines = []
    for nb in report["notebooks"]:
        lines.append(f"{nb['path']}" + (f"  (lesson {nb['lesson']})" if nb["lesson"] else ""))
        rows = nb["exercises"] + nb.get("other_exercises", [])
        w = max([len(r["title"]) for r in rows] + [10])
        for r in nb["exercises"]:
            lines.append(f"  {r['id']:<6}{r['title']:<{w}}  {r['status']:<16}{r['points']:>3}/{r['max_points']}")
        if not nb["exercises"]:
            lines.append("  (no graded exercises found)")
        if nb.get("other_exercises"):
            lines.append("  other lessons' exercises checked here (not counted):")
            for r in nb["other_exercises"]:
                lines.append(f"  {r['id']:<6}{r['title']:<{w}}  {r['status']:<16}{r['points']:>3}/{r['max_points']}")
        if nb["error"]:
            where = f"code cell {nb['error']['cell']}" if nb["error"].get("cell") else "the notebook"
            lines.append(f"  stopped: {where}: {nb['error']['error']}")
        lines.append(f"  {'notebook total':<{w + 6}}  {'':<16}{nb['points']:>3}/{nb['max_points']}")
        lines.append("")
    lines.append(f"TOTAL {report['points']}/{report['max_points']} points over {len(report['notebooks'])} notebook(s)")
    return "\n".join(lines)


def _refuse(message: str, as_json: bool) -> int:
    print(f"grade: {message}", file=sys.stderr)
    if as_json:
        print(json.dumps({"error": message, "notebooks": [], "points": 0, "max_points": 0}))
    return 1


def cli_grade(argv: list[str]) -> int:
    """Exit 0 when every notebook ran to its end or to a cell that raised or timed out; 1 when a
    path cannot be graded (checked before anything runs) or a kernel died; 2 for usage errors."""
    ap = argparse.ArgumentParser(prog="python -m llmcourse grade",
                                 description="Run exercise notebooks in a fresh kernel and print their scores.")
    ap.add_argument("paths", nargs="+", metavar="PATH", help="notebooks, or folders of notebooks")
    ap.add_argument("--json", action="store_true", help="print the full report as JSON (for instructors)")
    ap.add_argument("--timeout", type=int, default=600,
                    help="seconds per cell; a longer cell's kernel is stopped (default 600)")
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
    if args.timeout < 1:
        return _refuse(f"--timeout must be at least 1 second, got {args.timeout}", args.json)
    paths = _notebooks(args.paths)
    if not paths:
        print("no notebooks found in " + " ".join(args.paths), file=sys.stderr)
        return 2
    for p in paths:
        problem = notebook_problem(p)
        if problem:
            return _refuse(f"{p}: {problem}", args.json)
    nbs = [grade_notebook(p, args.timeout, args.kernel, args.continue_on_error, not args.no_progress)
           for p in paths]
    report = {"notebooks": nbs, "points": sum(n["points"] for n in nbs),
              "max_points": sum(n["max_points"] for n in nbs)}
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    fatal = [n for n in nbs if n["error"] and n["error"].get("fatal")]
    for n in fatal:
        where = f" in code cell {n['error']['cell']}" if n["error"].get("cell") else ""
        print(f"grade: {n['path']}: {n['error']['error']}{where}", file=sys.stderr)
    return 1 if fatal else 0


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
