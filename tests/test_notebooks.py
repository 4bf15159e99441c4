"""Course notebooks, without executing them (nbval runs them: see pyproject's testpaths):
the lesson skeleton, the exercises/solutions skeleton, exercises/ in sync with solutions/, and the
strict-mode machinery that lets the one nbval run prove "solutions full marks, exercises zero".

Real lessons are checked as they land (parametrised over notebooks/*.ipynb); a synthetic lesson
built here proves the checker passes a good lesson and catches each missing piece."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from llmcourse import course
from tools import check_devices, check_structure, make_exercises, nbutil, stamp_notebooks

REPO = Path(__file__).resolve().parent.parent
LESSONS = sorted((REPO / "notebooks").glob("*.ipynb"))
SOLUTIONS = sorted((REPO / "solutions").glob("*.ipynb"))
EXERCISES = sorted((REPO / "exercises").glob("*.ipynb"))
ALL = LESSONS + SOLUTIONS + EXERCISES
rel = lambda p: str(p.relative_to(REPO))  # noqa: E731


# --- real notebooks ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", LESSONS, ids=rel)
def test_lesson_skeleton(path):
    assert check_structure.lesson_problems(path) == []


@pytest.mark.parametrize("path", SOLUTIONS + EXERCISES, ids=rel)
def test_exercise_notebook_skeleton(path):
    assert check_structure.exercise_problems(path) == []


@pytest.mark.parametrize("path", SOLUTIONS, ids=rel)
def test_exercises_in_sync_with_solutions(path):
    target, ex = make_exercises.exercises_for(path)
    assert target.exists(), f"missing {rel(target)}: run python tools/make_exercises.py"
    assert target.read_text(encoding="utf-8") == nbutil.dumps(ex), (
        f"{rel(target)} differs from what tools/make_exercises.py makes from {rel(path)}: "
        f"run the tool (never edit exercises/ by hand)")


@pytest.mark.parametrize("path", EXERCISES, ids=rel)
def test_every_exercises_notebook_has_a_solutions_notebook(path):
    assert (REPO / "solutions" / path.name).exists(), "exercises/ is generated from solutions/"


@pytest.mark.parametrize("path", ALL, ids=rel)
def test_notebook_is_stamped_and_named_after_the_course_table(path):
    kind, les = nbutil.kind_of(path)  # raises for names not in llmcourse/course.py
    nb = nbutil.read(path)
    assert nbutil.dumps(stamp_notebooks.stamp(nb, kind, les)) == path.read_text(encoding="utf-8"), (
        f"run python tools/stamp_notebooks.py {rel(path)}")


@pytest.mark.parametrize("path", ALL, ids=rel)
def test_notebook_keeps_one_device(path):
    """Lessons that train use setup()'s device; nothing is made on the CPU next to a model left on
    the device (tools/check_devices.py, a lint: no GPU needed)."""
    assert check_devices.device_problems(path) == []


def _device_lint(tmp_path, *cells, folder="notebooks"):
    path = tmp_path / folder / "20_complete_pipeline.ipynb"
    nbutil.write(new_notebook(cells=[new_code_cell(c) for c in cells]), path)
    return check_devices.device_problems(path)


TRAINER = "result = Trainer(cfg, text=text, out_dir=OUT{})\nresult = result.train()"
LOOP = """def train(m):
{}    batches = BatchSampler(ids, 16, 32, seed=0{})
    opt = torch.optim.AdamW(m.parameters())
    for _ in range(10):
        _, loss = m(*batches.next_batch())
        loss.backward()
        opt.step()
"""
KEEP = "model = result.model"


@pytest.mark.parametrize("cells, expected", [
    ([TRAINER.format("")], "Trainer(...) without device="),
    ([LOOP.format("", ", device=device")], "never moved with .to(device)"),
    ([LOOP.format("    m.to(device)\n", "")], "BatchSampler(...) next to a training loop without device="),
    # lesson 20 as it was: a CPU probe, a reloaded model on the CPU, a CPU input, after training
    ([TRAINER.format(", device=str(device)"), KEEP, "probe = torch.tensor([tok.encode('ROMEO:')])"],
     "torch.tensor(...) without device= after cell 1"),
    ([TRAINER.format(", device=str(device)"), KEEP, "reloaded, tok2 = load_file(OUT)"], "load_file(...) without"),
    ([TRAINER.format(", device=str(device)"), KEEP, "x = torch.zeros(1, 129, dtype=torch.long)"], "torch.zeros"),
    ([TRAINER.format(", device=str(device)"), KEEP, "shipped, t = pretrained.load()"], "pretrained.load"),
])
def test_device_lint_catches(tmp_path, cells, expected):
    problems = _device_lint(tmp_path, *cells)
    assert any(expected in p for p in problems), problems


def test_device_lint_passes_device_clean_code(tmp_path):
    assert _device_lint(
        tmp_path, TRAINER.format(", device=str(device)"), LOOP.format("    m.to(device)\n", ", device=device"),
        KEEP, "probe = torch.tensor([[1, 2]], device=device)\nreloaded, t = load_file(OUT, device=device)",
        "counts = torch.zeros(3, device='cpu')  # meant for the CPU") == []
    # a CPU tensor before any model stays on the device is fine; solutions need not train on it
    assert _device_lint(tmp_path, "x = torch.tensor([1.0])", LOOP.format("", ""), folder="solutions") == []


def test_worked_example_pair_exists():
    les = course.lesson(10)
    assert (REPO / les.solutions).exists() and (REPO / les.exercises).exists()


def test_strict_mode_is_on_for_the_notebook_run():
    """The nbval items of solutions/ and exercises/ assert full marks / zero through strict mode
    and the final summary() cell; this only holds if the suite runs strict."""
    assert os.environ.get("LLMCOURSE_STRICT") == "1"
    assert os.environ.get("LLMCOURSE_FAST") == "1"
    assert os.environ.get("LLMCOURSE_PROGRESS_FILE")


# --- the lesson checker on a synthetic lesson -----------------------------------------------------
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")).decode()
OBJECTIVES = "## What you will learn\n\n- why\n- how\n- what it costs"


def good_lesson(n: int = 10):
    les = course.lesson(n)
    nb = new_notebook(cells=[
        new_markdown_cell(OBJECTIVES),
        new_code_cell("import matplotlib.pyplot as plt", execution_count=2),
        new_code_cell("plt.plot([1, 2])", execution_count=3, outputs=[
            new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})]),
    ])
    stamp_notebooks.stamp(nb, "lesson", les)
    for i, c in enumerate([c for c in nb.cells if c.cell_type == "code"], 1):
        c.execution_count = i
    return nb


def problems_of(nb, tmp_path, n: int = 10):
    path = tmp_path / "notebooks" / Path(course.lesson(n).notebook).name
    nbutil.write(nb, path)
    return check_structure.lesson_problems(path)


@pytest.mark.parametrize("n", [1, 10, 20])
def test_synthetic_lesson_passes(tmp_path, n):
    assert problems_of(good_lesson(n), tmp_path, n) == []


def _drop(tag):
    def f(nb):
        nb.cells.pop(nbutil.find_tagged(nb, tag))
    return f


def _edit_header(old, new):
    def f(nb):
        nb.cells[0].source = nb.cells[0].source.replace(old, new)
    return f


def _edit_cell(i, **kw):
    def f(nb):
        code = [c for c in nb.cells if c.cell_type == "code"]
        for k, v in kw.items():
            code[i][k] = v
    return f


BREAKAGES = {
    "title": (_edit_header("Lesson 10 of 20 — Causal Masking", "Lesson 10: masks"), "first cell must be markdown"),
    "badge": (_edit_header("colab-badge.svg", "badge.svg"), "Colab badge"),
    "setup": (_drop(nbutil.SETUP_TAG), "stamped setup cell"),
    "objectives": (lambda nb: nb.cells.pop(2), "What you will learn"),
    "bullets": (lambda nb: setattr(nb.cells[2], "source", OBJECTIVES + "\n- a\n- b\n- c"), "3 to 5 bullets"),
    "figure": (_edit_cell(2, outputs=[]), "no figure"),
    "exercises link": (lambda nb: [_edit_header("../exercises/10_causal_masking_exercises.ipynb", "x")(nb),
                                   _drop(nbutil.FOOTER_TAG)(nb)], "no link to ../exercises"),
    "previous": (lambda nb: [_edit_header("09_query_key_value.ipynb", "x")(nb), _drop(nbutil.FOOTER_TAG)(nb)],
                 "previous lesson"),
    "next": (lambda nb: [_edit_header("11_attention_softmax.ipynb", "x")(nb), _drop(nbutil.FOOTER_TAG)(nb)],
             "next lesson"),
    "unexecuted": (_edit_cell(1, execution_count=None), "not executed top to bottom"),
    "out of order": (_edit_cell(2, execution_count=7), "not executed top to bottom"),
    "error": (_edit_cell(1, outputs=[new_output("error", ename="ValueError", evalue="boom", traceback=[])]),
              "error output"),
}


@pytest.mark.parametrize("name", BREAKAGES)
def test_synthetic_lesson_checker_catches(tmp_path, name):
    breaker, expected = BREAKAGES[name]
    nb = good_lesson()
    breaker(nb)
    problems = problems_of(nb, tmp_path)
    assert any(expected in p for p in problems), problems


def test_exercise_checker_catches_missing_checks_and_summary(tmp_path):
    sol = REPO / course.lesson(10).solutions
    nb = nbutil.read(sol)
    nb.cells = [c for c in nb.cells if "check(\"10.2\"" not in c.source and "summary(" not in c.source]
    path = tmp_path / "solutions" / sol.name
    nbutil.write(nb, path)
    problems = check_structure.exercise_problems(path)
    assert any("10.2 is registered but has no check cell" in p for p in problems)
    assert any("summary('10')" in p for p in problems)
    nb.cells.append(new_code_cell('check("10.7", f)\nsummary("10")'))
    nbutil.write(nb, path)
    assert any("10.7" in p and "not registered" in p for p in check_structure.exercise_problems(path))
