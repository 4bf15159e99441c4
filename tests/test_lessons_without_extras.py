"""Every lesson runs after ``pip install -e ".[lab]"`` alone.

``transformers`` and ``tiktoken`` are only in ``[dev]``: the lessons compare against them where
they are installed and skip those comparisons (saying so in one line) where they are not. Each
lesson is executed here top to bottom, in fast mode, in a fresh kernel for which both packages
cannot be imported (a ``sitecustomize`` on the kernel's ``PYTHONPATH`` puts an import blocker
first on ``sys.meta_path``), and must finish without an error. A last cell, added here, proves
that the blocker held in that kernel.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell

from tools.nbutil import read

REPO = Path(__file__).resolve().parent.parent
LESSONS = sorted((REPO / "notebooks").glob("*.ipynb"))
EXTRAS = ("transformers", "tiktoken")  # in [dev], not in the base requirements or [lab]

BLOCKER = f'''"""Test kernels only: {", ".join(EXTRAS)} cannot be imported, as after pip install ".[lab]"."""
import sys

BLOCKED = {EXTRAS!r}


class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
'''

PROOF = f'''import importlib, sys
for name in {EXTRAS!r}:
    assert name not in sys.modules, name
    try:
        importlib.import_module(name)
    except ModuleNotFoundError:
        continue
    raise AssertionError(f"{{name}} was importable: the blocker did not hold")
print("blocked:", {", ".join(EXTRAS)!r})
'''


@pytest.fixture(scope="module")
def blocked_env(tmp_path_factory):
    folder = tmp_path_factory.mktemp("without_extras")
    (folder / "sitecustomize.py").write_text(BLOCKER, encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), str(REPO), env.get("PYTHONPATH")) if p)
    env["LLMCOURSE_FAST"] = "1"
    env.pop("MPLBACKEND", None)  # the kernel's inline backend, as in a learner's notebook
    return env


def run_without_extras(path: Path, env: dict, timeout: int = 300):
    """Execute the notebook at ``path`` in a fresh kernel started with ``env`` and its folder as
    the working directory; returns the executed notebook (raises ``CellExecutionError``)."""
    from nbclient import NotebookClient

    nb = read(path)
    nb.cells.append(new_code_cell(PROOF))
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=env)
    return nb


@pytest.mark.slow
@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_lesson_runs_without_transformers_and_tiktoken(path, blocked_env):
    nb = run_without_extras(path, blocked_env)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    assert "blocked:" in nb.cells[-1].outputs[-1]["text"]


def test_the_blocker_makes_an_extra_unimportable(tmp_path):
    """The blocker, in a plain subprocess: the notebooks' guards see what a [lab] install gives."""
    import subprocess
    import sys

    (tmp_path / "sitecustomize.py").write_text(BLOCKER, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    code = ("import importlib.util\n"
            "try:\n    import tiktoken\nexcept ImportError as e:\n    print(type(e).__name__, e.name)\n"
            "import json; print(json.dumps(1))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["ModuleNotFoundError", "tiktoken", "1"]
