"""Repository-wide pytest setup: applies to the unit tests and to the notebooks run by nbval.

Kernels that nbval starts inherit this process's environment, so setting variables here reaches
every notebook.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Fast mode: long notebook work (training cells) shrinks to a few steps under the test suite.
os.environ.setdefault("LLMCOURSE_FAST", "1")
# No display: figures render off-screen.
os.environ.setdefault("MPLBACKEND", "Agg")
# Keep the test suite's exercise-progress file out of the user's home folder.
os.environ.setdefault("LLMCOURSE_PROGRESS_FILE", os.path.join(os.path.dirname(__file__), ".pytest_cache", "progress.json"))
# Strict grading: a failing check raises, so a solutions notebook that regresses fails its nbval
# test; "not implemented yet" never raises, so the generated exercises notebooks still run, and
# their final summary() cell asserts they score zero (see llmcourse/grading/AUTHORING.md).
os.environ.setdefault("LLMCOURSE_STRICT", "1")
# pytest-xdist runs one worker per core and each notebook kernel or test would otherwise start as
# many math threads as there are cores: oversubscribed, torch spends its time waiting. Give each
# worker (and the kernels it starts) its share of the cores instead.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT") and "OMP_NUM_THREADS" not in os.environ:
    _share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ["OMP_NUM_THREADS"] = str(_share)
# GNU OpenMP threads that wait for work spin on a core by default. With one pytest-xdist worker per
# core, a test that runs torch on two threads would then fight the other worker's spinning threads
# for the cores and run thirty times slower; waiting threads sleep instead.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


# --- lessons and exercises notebooks run as after pip install ".[lab]" ---------------------------
# Their kernels start with transformers and tiktoken unimportable (tools/without_extras.py), so
# every lesson and every exercises notebook is proven to run without the [dev] extras; the
# solutions notebooks, and the lessons that compare against the extras (run again with them by
# tests/test_lessons_extras.py), run with them.
LAB_ONLY_FOLDERS = ("notebooks", "exercises")
_blocker = None


def _blocker_folder() -> Path:
    global _blocker
    if _blocker is None:
        from tools.without_extras import blocker_folder

        _blocker = blocker_folder(Path(tempfile.mkdtemp(prefix="llmcourse-lab-only-")))
        atexit.register(shutil.rmtree, _blocker, True)
    return _blocker


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item):
    notebook = item.parent
    starts_kernel = (hasattr(notebook, "kernel") and notebook.kernel is None
                     and Path(str(notebook.fspath)).parent.name in LAB_ONLY_FOLDERS)
    if not starts_kernel:
        yield
        return
    from tools.without_extras import loaded_in, pythonpath_with

    folder = _blocker_folder()
    before, pythonpath = loaded_in(folder), os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = pythonpath_with(folder, pythonpath)
    try:
        yield  # nbval starts the notebook's kernel with this environment
    finally:
        if pythonpath is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = pythonpath
    if notebook.kernel is not None:
        assert loaded_in(folder) - before, f"the [lab]-only import blocker did not load in {notebook.fspath}'s kernel"


# --- long work first ----------------------------------------------------------------------------
# pytest-xdist hands out whole files (--dist loadfile) in collection order (--no-loadscope-reorder).
# A file that holds one long test, handed out last, would keep one worker busy while the others
# wait, so files go out longest first, roughly: files with a test marked slow, then the lessons,
# then the other unit tests, then the many short solutions and exercises notebooks.
def _rank(item) -> int:
    top = item.nodeid.split("/", 1)[0]
    if top == "notebooks":
        return 1
    if top in ("solutions", "exercises"):
        return 3
    return 2


def pytest_collection_modifyitems(items):
    rank: dict[str, int] = {}
    for item in items:
        file = item.nodeid.split("::", 1)[0]
        r = 0 if item.get_closest_marker("slow") else _rank(item)
        rank[file] = min(rank.get(file, r), r)
    items.sort(key=lambda item: rank[item.nodeid.split("::", 1)[0]])  # stable: order within a rank kept
