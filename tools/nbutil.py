"""Notebook helpers shared by the maintainer tools: deterministic reading/writing, hygiene, and
the cells the stamping tool owns (header, setup cell, footer).

Every tool writes notebooks through :func:`write`, so the same content always gives the same
bytes and the sync test can compare files exactly.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # so `python tools/x.py` finds the package in a fresh checkout
    sys.path.insert(0, str(REPO))

from llmcourse.course import LESSONS, Lesson, colab_url, lesson, pip_install_spec  # noqa: E402

#: Tags of the cells the stamping tool writes (everything else belongs to the author).
HEADER_TAG, SETUP_TAG, FOOTER_TAG = "llmcourse-header", "llmcourse-setup", "llmcourse-footer"
#: Cell metadata kept by the hygiene pass; everything else (Colab, editors) is dropped.
KEEP_CELL_METADATA = ("tags", "nbgrader")
#: Widest PNG kept as is; wider figures are scaled down (lessons use dpi 80 and 6-inch figures).
MAX_PNG_WIDTH = 1000
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def read(path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def dumps(nb) -> str:
    return nbformat.writes(nb) + "\n"


def write(nb, path) -> bool:
    """Write ``nb`` if its bytes differ from the file's; returns True when the file changed."""
    path = Path(path)
    text = dumps(nb)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def kind_of(path) -> tuple[str, Lesson]:
    """``("lesson" | "exercises" | "solutions", Lesson)`` from a notebook path."""
    path = Path(path)
    folder = {"notebooks": "lesson", "exercises": "exercises", "solutions": "solutions"}.get(path.parent.name)
    if folder is None:
        raise ValueError(f"{path}: course notebooks live in notebooks/, exercises/ or solutions/.")
    les = lesson(path.name)
    expected = Path(les.notebook if folder == "lesson" else getattr(les, folder)).name
    if path.name != expected:
        raise ValueError(f"{path}: lesson {les.number}'s notebook here must be named {expected}.")
    return folder, les


# --- the stamped cells ------------------------------------------------------------------------
def setup_source(kind: str) -> str:
    """The setup cell: the first code cell of every lesson, exercises and solutions notebook.

    On Colab it installs the course package at ``course.REF`` (the release these notebooks were
    stamped from). If the install or the import fails, it stops with one sentence that says what
    failed and what to do: ``SetupFailed._render_traceback_`` replaces Jupyter's traceback, and
    pip's own messages stay in ``pip.stderr`` instead of filling the cell.
    """
    imports = ["from llmcourse.env import setup"]
    if kind != "lesson":
        imports.append("from llmcourse.grading import check, summary")
    lines = [
        "# Setup: on Colab, install the course package; everywhere, fix the random seed and pick a device.",
        "import importlib, subprocess, sys",
        f'COURSE = "{pip_install_spec()}"  # the version these notebooks were made with',
        "",
        "class SetupFailed(Exception):",
        "    def _render_traceback_(self):  # Jupyter shows this one line instead of a traceback",
        "        return [str(self)]",
        "",
        'if "google.colab" in sys.modules:',
        '    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", COURSE], capture_output=True, text=True)',
        "    if pip.returncode:",
        '        raise SetupFailed(f"Setup stopped: pip could not install {COURSE} (its messages are in pip.stderr); "',
        '                          "check that this runtime is online and that this address and version exist, "',
        '                          "then run this cell again.")',
        "    importlib.invalidate_caches()",
        "try:",
        *(f"    {line}" for line in imports),
        "except ImportError as err:",
        '    raise SetupFailed(f"Setup stopped: the course package cannot be imported ({err}); install it with "',
        '                      "pip install -e \\".[lab]\\" in the repository (see the README), or on Colab restart "',
        '                      "the session, then run this cell again.") from None',
        "device = setup()",
    ]
    return "\n".join(lines)


def _link(les: Lesson, here: str) -> str:
    """Relative link from a notebook in folder ``here`` to lesson ``les``'s lesson notebook."""
    prefix = "" if here == "notebooks" else "../notebooks/"
    return f"{prefix}{les.stem}.ipynb"


def _nav(les: Lesson, here: str) -> str:
    parts = []
    if les.number > 1:
        prev = LESSONS[les.number - 2]
        parts.append(f"[← Lesson {prev.number}: {prev.title}]({_link(prev, here)})")
    if les.number < len(LESSONS):
        nxt = LESSONS[les.number]
        parts.append(f"[Lesson {nxt.number}: {nxt.title} →]({_link(nxt, here)})")
    return " · ".join(parts)


def header_source(kind: str, les: Lesson) -> str:
    path = {"lesson": les.notebook, "exercises": les.exercises, "solutions": les.solutions}[kind]
    badge = f"[![Open In Colab]({BADGE})]({colab_url(path)})"
    exercises_link = f"../exercises/{les.stem}_exercises.ipynb"
    if kind == "lesson":
        return "\n".join([
            f"# Lesson {les.number} of {len(LESSONS)} — {les.title}", "", badge, "",
            f"{_nav(les, 'notebooks')} · [Exercises for this lesson]({exercises_link})", "",
            f"*This lesson follows the article \u201c{les.title}\u201d of the LLM Architecture Series "
            f"(\u201cthe article\u201d below). Its worked numbers are reproduced here, and where it "
            f"simplifies or is out of date, the lesson says so.*",
        ])
    word = "Exercises" if kind == "exercises" else "Solutions"
    intro = ("Write your code where it says `# YOUR CODE HERE`, then run the check cell below it: "
             "it prints *passed*, *not implemented yet*, or the first failing case with a hint."
             if kind == "exercises" else
             "The worked solutions. Try the [exercises](" + exercises_link + ") first.")
    return "\n".join([
        f"# {word} — Lesson {les.number} of {len(LESSONS)}: {les.title}", "", badge, "",
        f"Back to the lesson: [Lesson {les.number} — {les.title}]({_link(les, kind)}). {intro}",
    ])


def footer_source(kind: str, les: Lesson) -> str:
    if kind == "lesson":
        return "\n".join(["---", "", f"**Practice:** [the exercises for lesson {les.number}]"
                                     f"(../exercises/{les.stem}_exercises.ipynb). {_nav(les, 'notebooks')}"])
    return "\n".join(["---", "", f"**Back to** [Lesson {les.number} — {les.title}]({_link(les, kind)}). "
                                 f"{_nav(les, kind)}"])


# --- hygiene ----------------------------------------------------------------------------------
def _tags(cell) -> list:
    return list(cell.get("metadata", {}).get("tags", []))


def find_tagged(nb, tag: str) -> int | None:
    for i, cell in enumerate(nb.cells):
        if tag in _tags(cell):
            return i
    return None


def _fresh_id(nb_name: str, index: int, taken: set) -> str:
    n = 0
    while True:
        cid = hashlib.sha1(f"{nb_name}:{index}:{n}".encode()).hexdigest()[:8]
        if cid not in taken:
            return cid
        n += 1


def _shrink_png(data: str) -> str:
    """Scale a base64 PNG down to ``MAX_PNG_WIDTH`` pixels wide if it is wider."""
    try:
        from PIL import Image
    except ImportError:  # pillow ships with matplotlib; without it, keep the figure
        return data
    raw = base64.b64decode(data)
    img = Image.open(io.BytesIO(raw))
    if img.width <= MAX_PNG_WIDTH:
        return data
    h = round(img.height * MAX_PNG_WIDTH / img.width)
    buf = io.BytesIO()
    img.resize((MAX_PNG_WIDTH, h), Image.LANCZOS).save(buf, format="PNG", optimize=True)
    return base64.b64encode(buf.getvalue()).decode("ascii") + "\n"


def clean(nb, name: str = "", keep_outputs: bool = True):
    """Hygiene, in place: strip Colab/editor metadata, keep cell ids stable (fill missing ones
    deterministically), shrink wide figures, number executed cells 1..n, or clear outputs."""
    nb.nbformat, nb.nbformat_minor = 4, 5
    lang = nb.metadata.get("language_info", {}).get("name", "python")
    nb.metadata = nbformat.from_dict({"kernelspec": dict(KERNELSPEC), "language_info": {"name": lang}})
    taken = {c.get("id") for c in nb.cells if c.get("id")}
    seen = set()
    executed = keep_outputs and any(c.cell_type == "code" and c.get("execution_count") for c in nb.cells)
    count = 0
    for i, cell in enumerate(nb.cells):
        cid = cell.get("id")
        if not cid or cid in seen or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", cid):
            cid = _fresh_id(name, i, taken | seen)
        cell["id"] = cid
        seen.add(cid)
        cell.metadata = nbformat.from_dict({k: v for k, v in cell.get("metadata", {}).items()
                                            if k in KEEP_CELL_METADATA and v})
        if cell.cell_type == "code":
            cell.pop("attachments", None)
        if cell.cell_type != "code":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
            continue
        if not keep_outputs:
            cell.outputs, cell.execution_count = [], None
            continue
        count += 1
        cell.execution_count = count if executed else None
        for out in cell.get("outputs", []):
            if "execution_count" in out:
                out["execution_count"] = cell.execution_count
            if "metadata" in out:
                out["metadata"] = {}
            data = out.get("data", {})
            if "image/png" in data:
                data["image/png"] = _shrink_png(data["image/png"])
    return nb
