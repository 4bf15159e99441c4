"""``python -m llmcourse grade``: notebooks run in a fresh kernel, every check is collected, a
notebook that raises is graded up to the error. Starts Jupyter kernels (a few seconds each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmcourse.grading.registry import exercises_for
from nbformat.v4 import new_code_cell, new_notebook

from llmcourse.__main__ import main
from llmcourse.grading.cli import format_report, grade_notebook
from tools import nbutil

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("LLMCOURSE_PROGRESS_FILE", str(tmp_path / "progress.json"))
    monkeypatch.setenv("LLMCOURSE_STRICT", "1")  # grade must switch it off inside the kernel


def test_grade_worked_example_pair(capsys, tmp_path):
    ex, sol = REPO / "exercises/10_causal_masking_exercises.ipynb", REPO / "solutions/10_causal_masking_exercises.ipynb"
    assert main(["grade", "--json", str(ex), str(sol)]) == 0
    report = json.loads(capsys.readouterr().out)
    by_path = {Path(n["path"]).parent.name: n for n in report["notebooks"]}
    exs = exercises_for("10")
    total = sum(e.points for e in exs)
    assert [(r["id"], r["status"]) for r in by_path["exercises"]["exercises"]] == [
        (e.id, "not implemented") for e in exs]
    assert (by_path["exercises"]["points"], by_path["solutions"]["points"]) == (0, total)
    assert (report["points"], report["max_points"]) == (total, 2 * total)
    assert by_path["solutions"]["error"] is None
    assert (tmp_path / "progress.json").exists()  # learners' grade runs count as progress


def _broken_notebook(tmp_path, body: list[str]) -> Path:
    nb = new_notebook(cells=[new_code_cell(nbutil.setup_source("exercises"))] + [new_code_cell(s) for s in body])
    path = tmp_path / "exercises" / "10_causal_masking_exercises.ipynb"
    nbutil.write(nb, path)
    return path


GOOD_MASK = "import torch\ndef causal_mask(T):\n    return torch.tril(torch.ones(T, T, dtype=torch.bool))"
BAD_SOFTMAX = "def masked_softmax(s, m):\n    return s.softmax(-1)"


def test_notebook_that_raises_is_graded_up_to_the_error(tmp_path):
    path = _broken_notebook(tmp_path, [GOOD_MASK, 'check("10.1", causal_mask)', "raise ValueError('boom')",
                                       BAD_SOFTMAX, 'check("10.2", masked_softmax)'])
    entry = grade_notebook(path, record=False)
    assert [(r["id"], r["status"], r["points"]) for r in entry["exercises"]][:2] == [
        ("10.1", "passed", 1), ("10.2", "not reached", 0)]
    assert entry["error"]["error"].startswith("ValueError: boom") and entry["error"]["cell"] == 4
    text = format_report({"notebooks": [entry], "points": 1, "max_points": 3})
    assert "stopped: code cell 4: ValueError: boom" in text and "TOTAL 1/3" in text
    entry = grade_notebook(path, keep_going=True, record=False)
    assert [(r["id"], r["status"]) for r in entry["exercises"]][:2] == [("10.1", "passed"), ("10.2", "failed")]
    assert "hint" in entry["exercises"][1]["message"]


def test_grade_switches_strict_mode_off_in_the_kernel(tmp_path):
    # LLMCOURSE_STRICT=1 is set in this process; a failing check must not stop the notebook
    bad_mask = GOOD_MASK.replace("torch.tril(", "torch.triu(")
    good_softmax = "def masked_softmax(s, m):\n    return s.masked_fill(~m, float('-inf')).softmax(-1)"
    path = _broken_notebook(tmp_path, [bad_mask, 'check("10.1", causal_mask)', good_softmax,
                                       'check("10.2", masked_softmax)'])
    entry = grade_notebook(path, record=False)
    assert entry["error"] is None
    assert [(r["id"], r["status"], r["points"]) for r in entry["exercises"]][:2] == [
        ("10.1", "failed", 0), ("10.2", "passed", 2)]


def test_missing_and_empty_paths(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "nope.ipynb"), "--no-progress"]) == 1
    assert "file not found" in capsys.readouterr().out
    (tmp_path / "empty").mkdir()
    assert main(["grade", str(tmp_path / "empty")]) == 2
