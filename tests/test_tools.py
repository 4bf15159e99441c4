"""Maintainer tools: exercise generation, stamping, hygiene, execution, nbgrader export."""

from __future__ import annotations

import base64
import doctest
import io
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from llmcourse import course
from tools import check_structure, execute_notebooks, export_nbgrader, make_exercises, nbutil, stamp_notebooks
from tools.make_exercises import MarkerError, stub_markdown, stub_source

LES = course.lesson(10)

SOLUTION_CELL = '''import torch


def causal_mask(T):
    """Docstring stays."""
    # BEGIN SOLUTION
    ones = torch.ones(T, T, dtype=torch.bool)
    return torch.tril(ones)
    # END SOLUTION


class Thing:
    def method(self):
        ### BEGIN SOLUTION
        return 1
        ### END SOLUTION'''


# --- stubs --------------------------------------------------------------------------------------
def test_stub_keeps_signature_docstring_and_indentation():
    out = stub_source(SOLUTION_CELL)
    assert 'def causal_mask(T):\n    """Docstring stays."""\n    # YOUR CODE HERE\n    raise NotImplementedError(' in out
    assert "        # YOUR CODE HERE\n        raise NotImplementedError(" in out  # method: deeper indent
    assert "tril" not in out and "return 1" not in out and "SOLUTION" not in out
    compile(out, "stub", "exec")
    ns = {}
    exec(out, ns)
    with pytest.raises(NotImplementedError):
        ns["causal_mask"](3)


FIND_THE_BUG_CELL = '''def crop_and_predict(model, idx, block_size):
    """Docstring stays."""
    # BEGIN SOLUTION
    # GIVEN: context = idx  # the bug: no crop
    # GIVEN: if context.shape[1] > 0:
    # GIVEN:     return model(context)
    context = idx[:, -block_size:]
    return model(context)
    # END SOLUTION'''


def test_find_the_bug_region_gives_the_broken_code_instead_of_a_stub():
    out = stub_source(FIND_THE_BUG_CELL)
    assert out == ('def crop_and_predict(model, idx, block_size):\n    """Docstring stays."""\n'
                   "    context = idx  # the bug: no crop\n    if context.shape[1] > 0:\n"
                   "        return model(context)")
    ns = {}
    exec(out, ns)  # runs: the learner starts from working, wrong code
    assert ns["crop_and_predict"](lambda c: c.shape, __import__("torch").zeros(1, 9), 4) == (1, 9)


def test_predict_line_blanks_the_value_only():
    src = "import math\nloss_at_init = math.log(65)  # PREDICT\nprint(loss_at_init)"
    out = stub_source(src)
    assert out.split("\n")[1].startswith("loss_at_init = ...  # your prediction")
    assert "math.log(65)" not in out and out.endswith("print(loss_at_init)")
    ns = {}
    exec(out, ns)
    assert ns["loss_at_init"] is Ellipsis


@pytest.mark.parametrize("src, problem", [
    ("# BEGIN SOLUTION\nx = 1\n# END SOLUTION", "inside a function"),
    ("def f():\n    # BEGIN SOLUTION\n    return 1", "without END"),
    ("def f():\n    return 1\n    # END SOLUTION", "without BEGIN"),
    ("def f():\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION", "inside another"),
])
def test_stub_refuses_broken_markers(src, problem):
    with pytest.raises(MarkerError, match=problem):
        stub_source(src, "nb, cell 3")


def test_markdown_regions():
    src = "Why?\n\n<!-- BEGIN SOLUTION -->\nBecause.\n<!-- END SOLUTION -->\nEnd."
    assert stub_markdown(src) == "Why?\n\n*Write your answer here.*\nEnd."


# --- a synthetic solutions notebook -----------------------------------------------------------
def solutions_notebook(tmp_path):
    nb = new_notebook(cells=[
        new_markdown_cell("## Exercise 10.1"),
        new_code_cell(SOLUTION_CELL),
        new_code_cell('check("10.1", causal_mask)', execution_count=3,
                      outputs=[new_output("stream", name="stdout", text="✅ passed\n")]),
        new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(1)", metadata={"tags": ["nbval-check-output", "keep"]}),
        new_code_cell('summary("10")'),
    ])
    nb.metadata["colab"] = {"provenance": []}
    nb.cells[1].metadata["colab"] = {"base_uri": "x"}
    path = tmp_path / "solutions" / LES.solutions.split("/")[1]
    stamp_notebooks.stamp(nb, "solutions", LES)
    nbutil.write(nb, path)
    return path


def test_make_exercises(tmp_path):
    sol = solutions_notebook(tmp_path)
    target, ex = make_exercises.exercises_for(sol)
    assert target == tmp_path / "exercises" / sol.name
    src = nbutil.read(sol)
    assert [c["id"] for c in ex.cells] == [c["id"] for c in src.cells]  # ids kept
    code = [c for c in ex.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "raise NotImplementedError" in code[1].source and "tril" not in code[1].source
    assert "NBVAL_CHECK_OUTPUT" not in code[3].source and code[3].metadata["tags"] == ["keep"]
    assert ex.cells[0].source.startswith("# Exercises — Lesson 10 of 20: Causal Masking")
    assert course.colab_url(LES.exercises) in ex.cells[0].source
    assert "colab" not in ex.metadata and "colab" not in ex.cells[2].metadata
    # --check: missing file, then in sync, then drift
    assert make_exercises.main([str(sol), "--check"]) == 1
    assert make_exercises.main([str(sol)]) == 0 and target.exists()
    assert make_exercises.main([str(sol), "--check"]) == 0
    target.write_text(target.read_text().replace("YOUR CODE HERE", "your code here"))
    assert make_exercises.main([str(sol), "--check"]) == 1


# --- stamping ---------------------------------------------------------------------------------
def test_stamp_inserts_and_is_idempotent(tmp_path, monkeypatch):
    nb = new_notebook(cells=[new_markdown_cell("## Intro"), new_code_cell("x = 1")])
    stamp_notebooks.stamp(nb, "lesson", LES)
    kinds = [(c.cell_type, c.metadata.get("tags")) for c in nb.cells]
    assert kinds[0] == ("markdown", ["llmcourse-header"]) and kinds[1] == ("code", ["llmcourse-setup"])
    assert kinds[-1] == ("markdown", ["llmcourse-footer"]) and len(nb.cells) == 5
    head = nb.cells[0].source
    assert head.startswith("# Lesson 10 of 20 — Causal Masking")
    assert "09_query_key_value.ipynb" in head and "11_attention_softmax.ipynb" in head
    assert "../exercises/10_causal_masking_exercises.ipynb" in head
    first = nbutil.dumps(nb)
    assert nbutil.dumps(stamp_notebooks.stamp(nb, "lesson", LES)) == first
    # the repository URL and the installed version live in two constants: badge and install follow
    monkeypatch.setattr(course, "REPO_URL", "https://github.com/someone/else")
    monkeypatch.setattr(course, "REF", "v9.9.9")
    stamp_notebooks.stamp(nb, "lesson", LES)
    assert "github/someone/else/blob/main/notebooks/10_causal_masking.ipynb" in nb.cells[0].source
    assert '"llmcourse @ git+https://github.com/someone/else@v9.9.9"' in nb.cells[1].source
    assert nbutil.dumps(nb) != first and len(nb.cells) == 5


def test_stamp_first_and_last_lessons_have_one_neighbour():
    first = nbutil.header_source("lesson", course.lesson(1))
    last = nbutil.header_source("lesson", course.lesson(20))
    assert "←" not in first and "02_tokenization.ipynb" in first
    assert "→" not in last and "19_scaling.ipynb" in last


def test_stamp_check_mode(tmp_path):
    path = tmp_path / "notebooks" / "10_causal_masking.ipynb"
    nbutil.write(new_notebook(cells=[new_code_cell("x = 1")]), path)
    assert stamp_notebooks.main([str(path), "--check"]) == 1
    assert stamp_notebooks.main([str(path)]) == 0
    assert stamp_notebooks.main([str(path), "--check"]) == 0


def test_setup_cell_runs_outside_colab():
    src = nbutil.setup_source("exercises")
    assert 'if "google.colab" in sys.modules:' in src and "%" not in src  # plain Python, no magics
    ns = {}
    exec(src, ns)  # not on Colab: no install; setup() and the grading imports
    assert "check" in ns and "device" in ns and "pip" not in ns


@pytest.mark.parametrize("kind", ["lesson", "exercises", "solutions"])
def test_setup_cell_installs_the_pinned_ref(kind):
    src = nbutil.setup_source(kind)
    assert f'COURSE = "llmcourse @ git+{course.REPO_URL}@{course.REF}"' in src
    assert course.REF and course.REF != course.BRANCH  # a release, not a moving branch
    path = {"lesson": LES.notebook, "exercises": LES.exercises, "solutions": LES.solutions}[kind]
    first_code = next(c for c in nbutil.read(nbutil.REPO / path).cells if c.cell_type == "code")
    assert first_code.source == src  # and the committed notebooks carry it


def _one_sentence(message: str) -> None:
    assert "\n" not in message and message.startswith("Setup stopped: ") and message.endswith(".")
    assert message.count(". ") == 0, message  # one sentence: what failed; what to do


def _run_setup(kind="lesson"):
    ns = {}
    exec(nbutil.setup_source(kind), ns)
    return ns


def test_setup_cell_stops_with_one_sentence_when_the_install_fails(monkeypatch):
    import subprocess
    import sys
    import types

    calls = []

    def failing_pip(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, stdout="", stderr="ERROR: repository not found")

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", failing_pip)
    with pytest.raises(Exception) as info:
        _run_setup()
    err = info.value
    assert type(err).__name__ == "SetupFailed"
    assert calls and calls[0][-1] == nbutil.pip_install_spec() and calls[0][1:4] == ["-m", "pip", "install"]
    _one_sentence(str(err))
    assert "pip could not install" in str(err) and course.REF in str(err) and "pip.stderr" in str(err)
    assert err._render_traceback_() == [str(err)]  # what Jupyter shows instead of a traceback


def test_setup_cell_stops_with_one_sentence_when_the_import_fails(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "llmcourse.env", None)  # import llmcourse.env now fails
    with pytest.raises(Exception) as info:
        _run_setup()
    err = info.value
    assert type(err).__name__ == "SetupFailed" and err.__cause__ is None and err.__suppress_context__
    _one_sentence(str(err))
    assert "cannot be imported" in str(err) and 'pip install -e ".[lab]"' in str(err)


@pytest.mark.slow
def test_setup_cell_failure_shows_one_line_in_a_kernel(tmp_path):
    """In a real kernel on a faked Colab whose pip fails: the cell's error output is the one
    sentence, with no traceback and no pip output; the next cells of a "Run all" do not run."""
    from nbclient import NotebookClient

    fake_colab = ("import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')\n"
                  "sys.executable = '/bin/false'  # pip fails")
    nb = new_notebook(cells=[new_code_cell(fake_colab), new_code_cell(nbutil.setup_source("lesson")),
                             new_code_cell("print('not reached')")])
    from nbclient.exceptions import CellExecutionError

    with pytest.raises(CellExecutionError):
        NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert not nb.cells[2].get("outputs")  # Run all stops here
    outputs = nb.cells[1].outputs
    assert [o["output_type"] for o in outputs] == ["error"]
    assert outputs[0]["ename"] == "SetupFailed" and len(outputs[0]["traceback"]) == 1
    _one_sentence(outputs[0]["traceback"][0])


def test_set_address_rewrites_the_course_table(tmp_path, monkeypatch):
    monkeypatch.setattr(course, "REPO_URL", course.REPO_URL)  # restored after the test
    monkeypatch.setattr(course, "REF", course.REF)
    copy = tmp_path / "course.py"
    copy.write_text((nbutil.REPO / "llmcourse" / "course.py").read_text(encoding="utf-8"), encoding="utf-8")
    stamp_notebooks.set_address("https://github.com/you/fork", "v2.0.0", copy)  # a fork named "fork"
    text = copy.read_text(encoding="utf-8")
    assert 'REPO_URL = "https://github.com/you/fork"' in text and 'REF = "v2.0.0"' in text
    assert nbutil.pip_install_spec() == "llmcourse @ git+https://github.com/you/fork@v2.0.0"
    assert 'COURSE = "llmcourse @ git+https://github.com/you/fork@v2.0.0"' in nbutil.setup_source("lesson")
    assert course.colab_url("x.ipynb").startswith("https://colab.research.google.com/github/you/fork/")
    readme = tmp_path / "README.md"
    readme.write_text((nbutil.REPO / "README.md").read_text(encoding="utf-8"), encoding="utf-8")
    assert stamp_notebooks.stamp_readme(readme)
    text = readme.read_text(encoding="utf-8")
    assert "git clone https://github.com/you/fork.git && cd fork\n" in text
    assert "colab.research.google.com/github/you/fork/blob/main/notebooks/01_introduction.ipynb" in text
    assert not stamp_notebooks.stamp_readme(readme)  # idempotent


@pytest.mark.parametrize("args, message", [
    (["--repo", "https://github.com/you/fork"], "give --repo and --ref together"),
    (["--repo", "https://gitlab.com/you/fork", "--ref", "v1"], "expected a GitHub address"),
    (["--repo", "https://github.com/you/fork", "--ref", "a b"], "expected a git tag"),
    (["--repo", "https://github.com/you/fork", "--ref", "v1", "--check"], "give no paths"),
])
def test_stamp_refuses_a_bad_address_in_one_line(args, message, capsys):
    with pytest.raises(SystemExit) as info:
        stamp_notebooks.main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert message in err


# --- hygiene ----------------------------------------------------------------------------------
def _png(width, height):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_clean_strips_metadata_keeps_ids_numbers_counts_and_shrinks_figures():
    nb = new_notebook(cells=[new_markdown_cell("# t"), new_code_cell("a"), new_code_cell("b")])
    nb.metadata.update(colab={"x": 1}, vscode={"y": 2}, widgets={"state": {}})
    nb.cells[1].metadata.update(collapsed=True, scrolled=True, tags=["keep"], ExecuteTime={})
    nb.cells[1].execution_count = 7
    nb.cells[2].execution_count = 9
    nb.cells[2].outputs = [new_output("display_data", data={"image/png": _png(2400, 600), "text/plain": "<Figure>"},
                                      metadata={"needs_background": "light"})]
    del nb.cells[0]["id"]
    nb.cells[2]["id"] = nb.cells[1]["id"]  # duplicate id
    nbutil.clean(nb, "x.ipynb")
    assert set(nb.metadata) == {"kernelspec", "language_info"}
    assert nb.cells[1].metadata == {"tags": ["keep"]}
    assert [c.get("execution_count") for c in nb.cells[1:]] == [1, 2]
    ids = [c["id"] for c in nb.cells]
    assert len(set(ids)) == 3
    assert nbutil.clean(nbformat.from_dict(json.loads(nbutil.dumps(nb))), "x.ipynb")["cells"][0]["id"] == ids[0]
    from PIL import Image

    img = Image.open(io.BytesIO(base64.b64decode(nb.cells[2].outputs[0]["data"]["image/png"])))
    assert img.size == (1000, 250) and nb.cells[2].outputs[0]["metadata"] == {}
    nbutil.clean(nb, "x.ipynb", keep_outputs=False)
    assert all(c.get("outputs", []) == [] and c.get("execution_count") is None for c in nb.cells)


@pytest.mark.slow
def test_execute_notebook_in_a_fresh_kernel(tmp_path):
    path = tmp_path / "notebooks" / "10_causal_masking.ipynb"
    nb = new_notebook(cells=[
        new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3]); plt.show()"),
        new_code_cell("import os\nprint(os.environ['LLMCOURSE_FAST'], os.getcwd())"),
    ])
    stamp_notebooks.stamp(nb, "lesson", LES)
    nb.cells[1].metadata["colab"] = {"junk": 1}
    nbutil.write(nb, path)
    assert execute_notebooks.main([str(path), "--fast"]) == 0
    out = nbutil.read(path)
    code = [c for c in out.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == [1, 2, 3]
    assert "llmcourse ready" in code[0].outputs[0]["text"]
    pngs = [o["data"]["image/png"] for o in code[1].outputs if "image/png" in o.get("data", {})]
    from PIL import Image

    width = Image.open(io.BytesIO(base64.b64decode(pngs[0]))).width
    assert width <= 600  # setup() draws at dpi 80: a 6-inch figure is about 480 px
    assert code[2].outputs[0]["text"].split() == ["1", str(path.parent)]
    assert out.cells[1].metadata == {"tags": ["llmcourse-setup"]}


# --- nbgrader export --------------------------------------------------------------------------
def test_export_nbgrader_structure(tmp_path):
    sol = solutions_notebook(tmp_path)
    nb = nbutil.read(sol)
    nb.cells.insert(2, new_markdown_cell("Explain.\n<!-- BEGIN SOLUTION -->\nBecause.\n<!-- END SOLUTION -->"))
    nb.cells.insert(-2, new_code_cell("check('10.2', masked_softmax)"))
    out = export_nbgrader.export(nb, sol.name)
    meta = [c.metadata.get("nbgrader") for c in out.cells]
    answers = [c for c in out.cells if c.metadata.get("nbgrader", {}).get("solution")]
    tests = [c for c in out.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]
    assert len(answers) == 2 and len(tests) == 2
    code_answer = next(c for c in answers if c.cell_type == "code")
    assert code_answer.source.count("### BEGIN SOLUTION") == 2 and code_answer.source.count("### END SOLUTION") == 2
    assert "    ### BEGIN SOLUTION\n    ones = torch.ones" in code_answer.source  # solution kept, indented
    assert code_answer.metadata["nbgrader"] == {"grade": False, "grade_id": f"answer-{code_answer['id']}",
                                                "locked": False, "schema_version": 3, "solution": True,
                                                "task": False}
    t = tests[0]
    assert t.source.startswith("assert check('10.1', causal_mask, record=False).passed")
    assert t.metadata["nbgrader"]["locked"] is True
    assert [c.metadata["nbgrader"]["points"] for c in tests] == [1, 2]  # the registry's points
    assert tests[1].metadata["nbgrader"]["grade_id"] == "check-10_2"
    ids = [m["grade_id"] for m in meta if m]
    assert len(ids) == len(set(ids))
    assert all(c.outputs == [] for c in out.cells if c.cell_type == "code")
    md = next(c for c in answers if c.cell_type == "markdown")
    assert md.metadata["nbgrader"]["grade"] is True and md.metadata["nbgrader"]["points"] == 1
    target_dir = tmp_path / "source"
    assert export_nbgrader.main([str(sol), "--out", str(target_dir)]) == 0
    assert (target_dir / LES.stem / sol.name).exists()


def test_export_refuses_solution_and_check_in_one_cell():
    nb = new_notebook(cells=[new_code_cell("def f():\n    # BEGIN SOLUTION\n    pass\n    # END SOLUTION\ncheck('10.1', f)")])
    with pytest.raises(ValueError, match="separate cells"):
        export_nbgrader.export(nb)


def test_tool_doctests():
    failed, attempted = doctest.testmod(make_exercises)
    assert attempted > 0 and failed == 0
    assert check_structure.lesson_problems  # imported without error


def test_readme_lesson_table_is_current_and_every_link_exists():
    """README's table is written by `tools/stamp_notebooks.py --readme` from llmcourse/course.py;
    every lesson, exercise and solution notebook it links to must exist."""
    import re

    from llmcourse.course import LESSONS, readme_table
    from tools.nbutil import REPO

    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert readme_table() in text, "README's lesson table is stale: run python tools/stamp_notebooks.py --readme"
    assert f"git clone {course.REPO_URL}.git && cd " in text, "README's clone line: run tools/stamp_notebooks.py --readme"
    links = re.findall(r"\]\(((?:notebooks|exercises|solutions)/[^)]+)\)", readme_table())
    assert len(links) == 3 * len(LESSONS)
    missing = [p for p in links if not (REPO / p).is_file()]
    assert not missing, f"README links to notebooks that do not exist: {missing}"


def test_readme_setup_gets_a_learner_from_a_clone_to_lesson_1():
    """The set-up block, followed line by line on a fresh Linux machine: clone, a venv made with
    python3, the CPU-only torch before the install that would pull a CUDA build, and JupyterLab
    served from the repository root (so the lessons' links to exercises/ and solutions/ resolve)."""
    import re

    text = (nbutil.REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Set up and open the course", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    lines = [line for line in block.splitlines() if line and not line.startswith("#")]
    assert lines[0].startswith(f"git clone {course.REPO_URL}.git && cd ")
    assert lines[1] == "python3 -m venv .venv && . .venv/bin/activate"
    cpu = lines.index("pip install torch --index-url https://download.pytorch.org/whl/cpu")
    assert cpu < lines.index('pip install -e ".[lab]"')
    assert lines[-1] == "jupyter lab"  # at the root: notebooks/, exercises/ and solutions/ all served
    assert "notebooks/01_introduction.ipynb" in section and ".venv\\Scripts\\activate" in section
    assert "python tools/stamp_notebooks.py --repo" in section  # how a fork points the course at itself


def test_every_package_mutation_finds_the_code_it_plants_a_bug_in():
    """tools/mutation_check.py replaces a snippet of package code; after a module moves or its
    code changes, a snippet that is no longer there would plant nothing and prove nothing."""
    from tools.mutation_check import MUTATIONS
    from tools.nbutil import REPO

    missing = [(path, old[:50]) for path, old, _new, _tests in MUTATIONS
               if old not in (REPO / path).read_text(encoding="utf-8")]
    assert not missing, f"mutations whose code is gone (update tools/mutation_check.py): {missing}"
