"""Python processes that see what ``pip install ".[lab]"`` gives: ``transformers`` and ``tiktoken``
(both only in ``[dev]``) cannot be imported.

:func:`blocker_folder` writes a ``sitecustomize.py`` that puts an import blocker first on
``sys.meta_path``; a process started with that folder first on its ``PYTHONPATH`` (a notebook
kernel, a subprocess) loads it before any other code runs, and leaves a file named after its
process id in the folder, so the caller can tell that the blocker really loaded there.
The root ``conftest.py`` starts the kernels of the lessons and exercises notebooks this way;
``tests/test_lessons_extras.py`` tests the blocker itself.
"""

from __future__ import annotations

import os
from pathlib import Path

EXTRAS = ("transformers", "tiktoken")  # in [dev], not in the base requirements or [lab]

BLOCKER = f'''"""Test processes only: {", ".join(EXTRAS)} cannot be imported, as after pip install ".[lab]"."""
import os
import sys

BLOCKED = {EXTRAS!r}


class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), f"loaded-{{os.getpid()}}"), "w").close()
'''


def blocker_folder(folder: Path) -> Path:
    """Write the blocker's ``sitecustomize.py`` into ``folder`` (created if needed); returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(BLOCKER, encoding="utf-8")
    return folder


def pythonpath_with(folder: Path, pythonpath: str | None) -> str:
    """``PYTHONPATH`` with the blocker's folder first, then what was there before."""
    return os.pathsep.join(p for p in (str(folder), pythonpath) if p)


def loaded_in(folder: Path) -> set[int]:
    """The process ids that have loaded the blocker from ``folder``."""
    return {int(p.name.split("-", 1)[1]) for p in folder.glob("loaded-*")}
