"""Every lesson runs after ``pip install -e ".[lab]"`` alone, and the lessons that compare against
``transformers`` or ``tiktoken`` (only in ``[dev]``) make those comparisons where they are installed.

The ``[lab]`` side costs nothing extra: the root ``conftest.py`` starts the kernels in which nbval
runs every lessons and exercises notebook with both packages unimportable (the import blocker of
``tools/without_extras.py``), and fails a notebook whose kernel did not load the blocker. The
lessons skip the comparisons there, saying so in one line. This file tests the blocker, and runs
again, with the packages importable, the lessons whose code names them (the list below, which a
test keeps complete): each must finish without an error and without skipping a comparison.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell

from tools.nbutil import read
from tools.without_extras import EXTRAS, blocker_folder, loaded_in, pythonpath_with

REPO = Path(__file__).resolve().parent.parent
LESSONS = sorted((REPO / "notebooks").glob("*.ipynb"))
#: The lessons that compare against an extra where it is installed.
WITH_EXTRAS = ("02_tokenization", "04_position_embeddings", "05_input_embedding",
               "15_transformer_block", "17_output_layer", "18_output_softmax")
#: What a lesson's code says when it uses an extra: the packages, the package's wrappers of them.
NAMES_AN_EXTRA = re.compile(r"\b(tiktoken|transformers|HAVE_HF|load_gpt2|hf)\b")

IMPORTED = f'''import sys
print("imported:", sorted(name for name in {EXTRAS!r} if name in sys.modules))
'''

#: What a lesson prints when it skips a comparison because an extra is missing.
SKIPPED = "is not installed"


def code(path: Path) -> str:
    return "\n".join(c.source for c in read(path).cells if c.cell_type == "code")


def test_every_lesson_that_names_an_extra_is_run_with_it():
    naming = {p.stem for p in LESSONS if NAMES_AN_EXTRA.search(code(p))}
    assert naming == set(WITH_EXTRAS), (
        f"lessons naming transformers/tiktoken: {sorted(naming)}; WITH_EXTRAS lists {sorted(WITH_EXTRAS)}")


@pytest.mark.slow
def test_lessons_compare_with_the_extras_where_they_are_installed():
    """The lessons of WITH_EXTRAS, one after another in one kernel (so transformers is imported
    once), each from a cleared namespace and closed figures; none may raise or skip a comparison."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbformat.v4 import new_notebook

    nb, owner = new_notebook(), []
    for name in WITH_EXTRAS:
        cells = [new_code_cell("%reset -f\nimport matplotlib.pyplot\nmatplotlib.pyplot.close('all')")]
        cells += [new_code_cell(c.source) for c in read(REPO / "notebooks" / f"{name}.ipynb").cells
                  if c.cell_type == "code"]  # without the committed outputs and counts
        nb.cells += cells
        owner += [name] * len(cells)
    nb.cells.append(new_code_cell(IMPORTED))
    env = dict(os.environ, LLMCOURSE_FAST="1")
    env.pop("MPLBACKEND", None)  # the kernel's inline backend, as in a learner's notebook
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(REPO / "notebooks")}})
    try:
        client.execute(env=env)
    except CellExecutionError as err:
        ran = [i for i, c in enumerate(nb.cells) if c.get("execution_count")]
        raise AssertionError(f"{owner[ran[-1]]} failed with the extras installed:\n{err}") from None
    for cell, name in zip(nb.cells, owner):
        text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        assert SKIPPED not in text, f"{name} skipped a comparison with the extras installed: {text}"
    assert nb.cells[-1].outputs[-1]["text"].split(":", 1)[1].strip() == str(sorted(EXTRAS))


def test_the_blocker_makes_the_extras_unimportable_and_says_it_loaded(tmp_path):
    folder = blocker_folder(tmp_path / "blocker")
    env = dict(os.environ, PYTHONPATH=pythonpath_with(folder, os.environ.get("PYTHONPATH")))
    check = ("import importlib, json, os\n"
             "failed = []\n"
             f"for name in {EXTRAS!r}:\n"
             "    try:\n        importlib.import_module(name)\n"
             "    except ModuleNotFoundError as e:\n        failed.append(e.name)\n"
             "print(os.getpid(), json.dumps(failed))")
    out = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, check=True)
    pid, failed = out.stdout.split(maxsplit=1)
    assert failed.strip() == '["transformers", "tiktoken"]'
    assert loaded_in(folder) == {int(pid)}
    # without the folder on its path, the same process imports both (they are installed here)
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert out.stdout.split(maxsplit=1)[1].strip() == "[]"
