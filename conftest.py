"""Repository-wide pytest setup: applies to the unit tests and to the notebooks run by nbval.

Kernels that nbval starts inherit this process's environment, so setting variables here reaches
every notebook.
"""

import os

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
