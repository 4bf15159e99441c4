"""``python -m llmcourse grade``: notebooks run in a fresh kernel, every check is collected, a
notebook that raises is graded up to the error. Starts Jupyter kernels: the worked example pair an
ordinary ``python3`` kernel, as a learner's grade does; the other tests a warm one (the root
conftest.py's ``warm_kernel``), which dies, hangs and is stopped the same way."""

from __future__ import annotations

import json
import time
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


def _broken_notebook(tmp_path, body: list[str], stale_counts: bool = False) -> Path:
    nb = new_notebook(cells=[new_code_cell(nbutil.setup_source("exercises"))] + [new_code_cell(s) for s in body])
    if stale_counts:  # saved from an earlier session, cells run out of order
        for i, cell in enumerate(nb.cells):
            cell.execution_count = 13 + i % 2
    path = tmp_path / "exercises" / "10_causal_masking_exercises.ipynb"
    nbutil.write(nb, path)
    return path


GOOD_MASK = "import torch\ndef causal_mask(T):\n    return torch.tril(torch.ones(T, T, dtype=torch.bool))"
BAD_SOFTMAX = "def masked_softmax(s, m):\n    return s.softmax(-1)"
GOOD_SOFTMAX = "def masked_softmax(s, m):\n    return s.masked_fill(~m, float('-inf')).softmax(-1)"


def test_notebook_that_raises_is_graded_up_to_the_error(tmp_path, warm_kernel):
    path = _broken_notebook(tmp_path, [GOOD_MASK, 'check("10.1", causal_mask)', "raise ValueError('boom')",
                                       BAD_SOFTMAX, 'check("10.2", masked_softmax)'], stale_counts=True)
    entry = grade_notebook(path, kernel=warm_kernel, record=False)
    assert [(r["id"], r["status"], r["points"]) for r in entry["exercises"]][:2] == [
        ("10.1", "passed", 1), ("10.2", "not reached", 0)]
    assert entry["error"]["error"].startswith("ValueError: boom") and entry["error"]["cell"] == 4
    text = format_report({"notebooks": [entry], "points": 1, "max_points": 3})
    assert "stopped: code cell 4: ValueError: boom" in text and "TOTAL 1/3" in text
    entry = grade_notebook(path, kernel=warm_kernel, keep_going=True, record=False)
    assert [(r["id"], r["status"]) for r in entry["exercises"]][:2] == [("10.1", "passed"), ("10.2", "failed")]
    assert "hint" in entry["exercises"][1]["message"]


def test_grade_switches_strict_mode_off_in_the_kernel(tmp_path, warm_kernel):
    # LLMCOURSE_STRICT=1 is set in this process; a failing check must not stop the notebook
    bad_mask = GOOD_MASK.replace("torch.tril(", "torch.triu(")
    path = _broken_notebook(tmp_path, [bad_mask, 'check("10.1", causal_mask)', GOOD_SOFTMAX,
                                       'check("10.2", masked_softmax)'])
    entry = grade_notebook(path, kernel=warm_kernel, record=False)
    assert entry["error"] is None
    assert [(r["id"], r["status"], r["points"]) for r in entry["exercises"]][:2] == [
        ("10.1", "failed", 0), ("10.2", "passed", 2)]


def test_paths_that_cannot_be_graded_are_refused_before_anything_runs(tmp_path, capsys):
    good = REPO / "exercises/10_causal_masking_exercises.ipynb"
    (tmp_path / "empty.ipynb").write_text("")
    (tmp_path / "text.ipynb").write_text("print('hello')")
    (tmp_path / "list.ipynb").write_text("[1, 2]")
    for name, why in [("nope.ipynb", "file not found"), ("empty.ipynb", "empty"),
                      ("text.ipynb", "not JSON"), ("list.ipynb", "without a list of cells")]:
        assert main(["grade", str(good), str(tmp_path / name), "--no-progress"]) == 1
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and why in err and name in err, err
        assert main(["grade", "--json", str(tmp_path / name), "--no-progress"]) == 1
        out, err = capsys.readouterr()
        assert why in json.loads(out)["error"] and why in err
    (tmp_path / "empty").mkdir()
    assert main(["grade", str(tmp_path / "empty")]) == 2


CHEATS = [
    # 1. a fake verdict where the old grader read verdicts, and forged records where grade reads outputs
    "import json, os, torch\n"
    "p = os.environ.get('LLMCOURSE_RESULTS_FILE')\n"
    "if p:\n"
    "    with open(p, 'a') as fh:\n"
    "        for i in range(1, 5):\n"
    "            fh.write(json.dumps({'exercise_id': f'10.{i}', 'title': '', 'status': 'passed', "
    "'points': 2, 'max_points': 2}) + '\\n')\n"
    "d = os.environ.get('LLMCOURSE_GRADE_DIR')\n"
    "if d:\n"
    "    torch.save({'exercise_id': '10.4', 'seed': 0, 'outcomes': [{'value': 'passed'}]}, "
    "os.path.join(d, '1-99999.out'))\n"
    "    open(os.path.join(d, '1-99998.out'), 'w').write('passed')",
    # 2. the comparison and the package function behind the reference patched to accept a wrong mask
    "import torch, llmcourse.attention\n"
    "from llmcourse.grading import get\n"
    "wrong = lambda T: torch.ones(T, T, dtype=torch.bool)\n"
    "llmcourse.attention.causal_mask = wrong\n"
    "get('10.1').compare = lambda got, want: None\n"
    "r = check('10.1', wrong)",
    # 3. a tensor that says it equals anything
    "class Agreeable(torch.Tensor):\n"
    "    def __eq__(self, other): return torch.ones(self.shape, dtype=torch.bool)\n"
    "    def __ne__(self, other): return torch.zeros(self.shape, dtype=torch.bool)\n"
    "check('10.2', lambda s, m: torch.zeros_like(s).as_subclass(Agreeable))",
    # 4. the expected answer read from the grader's frames
    "import sys\n"
    "def peek(T_q, T_k):\n"
    "    f = sys._getframe(1)\n"
    "    while f is not None:\n"
    "        if isinstance(f.f_locals.get('want'), torch.Tensor): return f.f_locals['want']\n"
    "        f = f.f_back\n"
    "    return torch.zeros(T_q, T_k, dtype=torch.bool)\n"
    "check('10.3', peek)",
    # 5. another lesson's exercise, solved with the package's own answer: listed, never counted
    "from llmcourse.grading import get\ncheck('03.1', get('03.1').reference)",
]


def test_notebook_code_cannot_fake_a_score(tmp_path, warm_kernel):
    path = _broken_notebook(tmp_path, CHEATS)
    entry = grade_notebook(path, kernel=warm_kernel, record=False)
    assert entry["error"] is None
    assert entry["points"] == 0, [(r["id"], r["status"]) for r in entry["exercises"]]
    status = {r["id"]: r["status"] for r in entry["exercises"]}
    assert (status["10.1"], status["10.2"], status["10.3"]) == ("failed", "failed", "failed")
    assert [(r["id"], r["status"]) for r in entry["other_exercises"]] == [("03.1", "passed")]
    assert "not counted" in format_report({"notebooks": [entry], "points": 0, "max_points": 0})


HANG = ("def causal_mask(T):\n"
        "    while True:\n"
        "        try:\n"
        "            try:\n"
        "                while True:\n"
        "                    pass\n"
        "            except BaseException:\n"
        "                pass\n"
        "        except BaseException:\n"
        "            pass")


def test_hanging_checks_end_and_a_cell_that_never_ends_is_stopped(tmp_path, capsys, warm_kernel):
    # 10.1's time limit, 10 s, is shortened to 1 s in the kernel (it is the kernel that times checks)
    shorten = 'from llmcourse.grading import get\nget("10.1").time_limit = 1'
    path = _broken_notebook(tmp_path, [shorten, HANG, 'check("10.1", causal_mask)', GOOD_SOFTMAX,
                                       'check("10.2", masked_softmax)',
                                       "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                       "while True:\n    pass", 'check("10.1", causal_mask)'])
    # seconds per cell: more than 10.1's shortened time limit, so the hanging check ends first, and
    # several times what the setup cell takes on a busy machine
    limit = 5
    start = time.perf_counter()
    assert main(["grade", "--json", "--timeout", str(limit), "--no-progress", "--kernel", warm_kernel, str(path)]) == 0
    assert time.perf_counter() - start < 2 * limit + 30
    entry = json.loads(capsys.readouterr().out)["notebooks"][0]
    assert entry["error"]["cell"] == 7 and f"longer than {limit} s" in entry["error"]["error"]
    rows = {r["id"]: r for r in entry["exercises"]}
    assert rows["10.1"]["status"] == "failed" and "time limit" in rows["10.1"]["message"]
    assert (rows["10.2"]["status"], rows["10.3"]["status"]) == ("passed", "not reached")


def test_a_dead_kernel_is_an_error(tmp_path, capsys, warm_kernel):
    path = _broken_notebook(tmp_path, [GOOD_MASK, 'check("10.1", causal_mask)', "import os\nos._exit(1)"])
    assert main(["grade", "--no-progress", "--kernel", warm_kernel, str(path)]) == 1
    out, err = capsys.readouterr()
    assert "the kernel died" in err and "code cell 4" in err and err.count("\n") == 1
    assert "10.1" in out and "passed" in out
