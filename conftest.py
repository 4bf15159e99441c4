"""Repository-wide pytest setup: applies to the unit tests and to the notebooks run by nbval.

Kernels that nbval starts inherit this process's environment, so setting variables here reaches
every notebook.
"""

import atexit
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from tools import warm_kernels

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
NOTEBOOK_FOLDERS = LAB_ONLY_FOLDERS + ("solutions",)
_blocker = None


def _blocker_folder() -> Path:
    global _blocker
    if _blocker is None:
        from tools.without_extras import blocker_folder

        _blocker = blocker_folder(Path(tempfile.mkdtemp(prefix="llmcourse-lab-only-")))
        atexit.register(shutil.rmtree, _blocker, True)
    return _blocker


# --- notebook kernels start warm (tools/warm_kernels.py) -----------------------------------------
# nbval starts every notebook's kernel with the kernelspec below (--nbval-kernel-name in
# pyproject.toml): a launcher that gets its kernel from a kernel server of this pytest process,
# forked after torch and the package are imported. Each notebook still runs in a new process, in
# its own folder and environment. One server runs [lab]-only (the blocker loaded before anything
# else), one with everything installed.
WARM_KERNEL = "llmcourse-warm"
_warm = Path(tempfile.mkdtemp(prefix="llmcourse-warm-kernels-"))
atexit.register(shutil.rmtree, _warm, True)
(_warm / "kernels" / WARM_KERNEL).mkdir(parents=True)
WARM = sys.platform.startswith("linux")  # fork() with torch loaded is safe on Linux; elsewhere: plain kernels
_launcher = [warm_kernels.SCRIPT] if WARM else ["-m", "ipykernel_launcher"]
(_warm / "kernels" / WARM_KERNEL / "kernel.json").write_text(json.dumps({
    "argv": [sys.executable, *_launcher, "-f", "{connection_file}"],
    "display_name": "Python 3 (llmcourse tests)", "language": "python"}), encoding="utf-8")
os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(_warm), os.environ.get("JUPYTER_PATH")) if p)
_servers: dict[bool, tuple[object, str]] = {}  # lab_only -> (server process, socket)


def _server(lab_only: bool) -> str:
    """The socket of this process's kernel server ([lab]-only or not), started on first use."""
    if lab_only not in _servers:
        from tools.without_extras import loaded_in, pythonpath_with

        env = dict(os.environ)
        if lab_only:
            env["PYTHONPATH"] = pythonpath_with(_blocker_folder(), env.get("PYTHONPATH"))
        path = str(_warm / f"server-{'lab' if lab_only else 'all'}.sock")
        proc = warm_kernels.start_server(path, env)
        atexit.register(proc.kill)
        if lab_only:
            assert proc.pid in loaded_in(_blocker_folder()), "the [lab]-only kernel server did not load the blocker"
        _servers[lab_only] = proc, path
    return _servers[lab_only][1]


@pytest.fixture
def warm_kernel(monkeypatch) -> str:
    """A kernel name for tests that start kernels themselves (with everything installed): warm
    where kernels are forked, an ordinary kernel elsewhere."""
    if WARM:
        monkeypatch.setenv(warm_kernels.SERVER_ENV, _server(lab_only=False))
    return WARM_KERNEL


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item):
    notebook = item.parent
    folder_name = Path(str(getattr(notebook, "fspath", ""))).parent.name
    starts_kernel = hasattr(notebook, "kernel") and notebook.kernel is None and folder_name in NOTEBOOK_FOLDERS
    if not starts_kernel:
        yield
        return
    from tools.without_extras import loaded_in, pythonpath_with

    lab_only = folder_name in LAB_ONLY_FOLDERS
    saved = {name: os.environ.get(name) for name in ("PYTHONPATH", warm_kernels.SERVER_ENV)}
    if WARM:
        os.environ[warm_kernels.SERVER_ENV] = _server(lab_only)
    if lab_only:
        folder = _blocker_folder()
        before = loaded_in(folder)
        os.environ["PYTHONPATH"] = pythonpath_with(folder, saved["PYTHONPATH"])
    try:
        yield  # nbval starts the notebook's kernel with this environment
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if lab_only and notebook.kernel is not None:
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
