"""The notebook the browser test opens: the sampling explorer on the seed's example."""

from __future__ import annotations

import json
from pathlib import Path

CELL = """\
from llmcourse.widgets import sampling_explorer

# The seed's four tokens and logits (lesson 18)
explorer = sampling_explorer([2.0, 1.0, 0.5, 0.0], ["on", "the", "mat", "in"])"""


def write_notebook(path: Path, outputs: list | None = None) -> Path:
    """Write the one-cell notebook; ``outputs`` (nbformat output dicts) are stored in the cell
    as if it had been run and saved."""
    nb = {
        "cells": [{"cell_type": "code", "execution_count": 1 if outputs else None, "id": "explorer",
                   "metadata": {}, "outputs": outputs or [], "source": CELL.splitlines(keepends=True)}],
        "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                    "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1))
    return path


def saved_explorer_outputs() -> list:
    """What the cell's output looks like once saved: the explorer's display data (live widget,
    static PNG, text), built in this process exactly as the kernel would publish it."""
    from llmcourse.widgets import sampling_explorer

    ex = sampling_explorer([2.0, 1.0, 0.5, 0.0], ["on", "the", "mat", "in"], display=False)
    return [{"output_type": "display_data", "data": ex.mimebundle(), "metadata": {}}]
