"""Remember which exercises a learner has passed, in a small JSON file.

The file is ``$LLMCOURSE_PROGRESS_FILE`` if set (empty or ``off`` disables recording), else
``~/.llmcourse_progress.json``, else (home not writable) ``.llmcourse_progress.json`` in the
working folder. Writing never raises: losing a progress entry must not break a notebook.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "p.json")
>>> from llmcourse.grading.result import Result, PASSED
>>> record(Result("10.1", "The causal mask", PASSED, 1, 1), path)
>>> load(path)["exercises"]["10.1"]["best_points"]
1
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import tempfile
from pathlib import Path

PROGRESS_ENV = "LLMCOURSE_PROGRESS_FILE"
FILE_NAME = ".llmcourse_progress.json"


def progress_path() -> Path | None:
    """Where progress is stored, or ``None`` when recording is switched off."""
    env = os.environ.get(PROGRESS_ENV)
    if env is not None:
        return None if env.strip().lower() in {"", "off", "0", "none", "false"} else Path(env).expanduser()
    home = Path.home()
    if os.access(home, os.W_OK):
        return home / FILE_NAME
    return Path.cwd() / FILE_NAME


def _empty() -> dict:
    return {"version": 1, "exercises": {}}


def load(path: str | os.PathLike | None = None) -> dict:
    """The stored progress (an empty record if the file is missing or unreadable)."""
    p = Path(path) if path is not None else progress_path()
    if p is None or not p.exists():
        return _empty()
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return _empty()
    if not isinstance(data, dict) or not isinstance(data.get("exercises"), dict):
        return _empty()
    return data


@contextlib.contextmanager
def _locked(p: Path):
    """Serialise writers (parallel notebook runs) with an advisory lock where the OS has one."""
    try:
        import fcntl
    except ImportError:  # Windows: last writer wins, which is acceptable for progress
        yield
        return
    with open(p.with_name(p.name + ".lock"), "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write(p: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=p.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
    os.replace(tmp, p)  # atomic: readers never see half a file


def record(result, path: str | os.PathLike | None = None) -> None:
    """Add one check's result: last status, best points, attempts, when first passed."""
    p = Path(path) if path is not None else progress_path()
    if p is None or not result.max_points:
        return
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        with _locked(p):
            data = load(p)
            now = _dt.datetime.now().isoformat(timespec="seconds")
            e = data["exercises"].setdefault(result.exercise_id, {"attempts": 0, "best_points": 0})
            e.update(title=result.title, status=result.status, points=result.points,
                     max_points=result.max_points, last_checked=now)
            e["attempts"] = int(e.get("attempts", 0)) + 1
            e["best_points"] = max(int(e.get("best_points", 0)), result.points)
            if result.passed and not e.get("first_passed"):
                e["first_passed"] = now
            _write(p, data)
    except OSError:
        pass


def reset(path: str | os.PathLike | None = None) -> Path | None:
    p = Path(path) if path is not None else progress_path()
    if p is not None and p.exists():
        p.unlink()
    return p


def table(data: dict | None = None) -> str:
    """Exercises passed per lesson, as a plain-text table (what ``python -m llmcourse progress``
    prints). Lessons whose exercises are not written yet show ``-``."""
    from ..course import LESSONS
    from . import registry

    data = load() if data is None else data
    done = data.get("exercises", {})
    rows = [("lesson", "title", "passed", "points")]
    tot = [0, 0, 0, 0]
    for les in LESSONS:
        exs = registry.exercises_for(les.number)
        if not exs:
            rows.append((les.id, les.title, "-", "-"))
            continue
        passed = sum(1 for e in exs if done.get(e.id, {}).get("first_passed"))
        pts = sum(min(int(done.get(e.id, {}).get("best_points", 0)), e.points) for e in exs)
        maxp = sum(e.points for e in exs)
        tot = [tot[0] + passed, tot[1] + len(exs), tot[2] + pts, tot[3] + maxp]
        rows.append((les.id, les.title, f"{passed}/{len(exs)}", f"{pts}/{maxp}"))
    rows.append(("all", "", f"{tot[0]}/{tot[1]}", f"{tot[2]}/{tot[3]}"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    fmt = lambda r: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    lines = [fmt(rows[0]), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows[1:-1]]
    return "\n".join(lines + ["  ".join("-" * w for w in widths), fmt(rows[-1])])
