"""The common shell of the course's explorers (lessons 7-11, 18, 20).

An explorer owns a tree of ipywidgets (``explorer.widget``) whose figure is an ``Image`` widget
holding PNG bytes, and a pure update function that tests call directly. When it is displayed it
publishes one output with three representations of the same state:

- the live widget (``application/vnd.jupyter.widget-view+json``), which JupyterLab, Notebook 7,
  VS Code and Colab show when a kernel is attached;
- a static PNG of the initial figure (``image/png``), which is what a notebook viewer without
  widgets shows (GitHub, nbviewer, an untrusted notebook, a saved notebook after the kernel is
  gone);
- a short text table (``text/plain``) for terminals and text-only tools.

It works the same with ipywidgets 7.7 (Colab) and 8.x: only widgets, traits and functions that
exist unchanged in both are used (``interactive_output``, ``Output``, ``Image``, ``HTML``,
sliders with ``continuous_update=False``, ``style={"description_width": "initial"}``).
"""

from __future__ import annotations

import base64
import html

import ipywidgets as W

from ..env import in_colab
from ..viz.common import in_notebook

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
STYLE = {"description_width": "initial"}


def ipywidgets_major() -> int:
    """The installed ipywidgets major version (7 or 8)."""
    return int(W.__version__.split(".")[0])


def pre(text: str) -> str:
    """HTML for monospaced text, escaped."""
    return f"<pre style='margin:0;line-height:1.25'>{html.escape(text)}</pre>"


def error_html(message: str) -> str:
    return f"<div style='color:#B00020'><b>Cannot update:</b> {html.escape(message)}</div>"


class Explorer:
    """Base class: subclasses build ``self.widget`` and ``self.image`` and define :meth:`text`."""

    widget: W.Widget
    image: W.Image

    def __init__(self):
        self._shown_in = object()  # the execution count of the cell that last displayed us

    # -- what tests and the fallback read ---------------------------------------------------
    @property
    def png(self) -> bytes:
        """The PNG bytes of the figure the explorer shows now."""
        return bytes(self.image.value)

    def text(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def __str__(self) -> str:
        return self.text()

    # -- display ---------------------------------------------------------------------------
    def mimebundle(self) -> dict:
        """The raw display data: live widget + static PNG + text (see the module docstring)."""
        data = {"text/plain": self.text()}
        if not in_colab():  # Colab should only ever show the live widget
            data["image/png"] = base64.b64encode(self.png).decode("ascii")
        data[WIDGET_MIME] = {"version_major": 2, "version_minor": 0, "model_id": self.widget.model_id}
        return data

    def _ipython_display_(self):
        """Shown at most once per cell, so ``explorer = sampling_explorer(...)`` and a bare
        ``sampling_explorer(...)`` as the last line both show it exactly once."""
        from IPython import get_ipython
        from IPython.display import display

        ip = get_ipython()
        count = getattr(ip, "execution_count", None) if ip is not None else None
        if count is not None and count == self._shown_in:
            return
        self._shown_in = count
        display(self.mimebundle(), raw=True)

    def show(self) -> None:
        """Display in a notebook; print the text summary anywhere else."""
        if in_notebook():
            self._ipython_display_()
        else:
            print(self.text())


def connect(update, controls: dict, use_interactive_output: bool | None = None) -> W.Output:
    """Call ``update(**values)`` now and whenever one of ``controls`` changes; return the
    ``Output`` where anything it prints (or a traceback) appears.

    In a Jupyter kernel this is ``ipywidgets.interactive_output`` (same in 7 and 8). Outside a
    kernel (a terminal, doctests, unit tests) it is the same observer without
    ``clear_output``, which there would only print terminal escape codes.
    """
    if use_interactive_output is None:
        use_interactive_output = in_notebook()
    if use_interactive_output:
        return W.interactive_output(update, controls)
    out = W.Output()

    def observer(change):
        update(**{name: w.value for name, w in controls.items()})

    for w in controls.values():
        w.observe(observer, "value")
    observer(None)
    return out


def png_image() -> W.Image:
    """An ``Image`` widget for the explorer's figure. Its width is set from the PNG on each
    update (:func:`set_png`) so the frontend shows it at its own size, never stretched."""
    return W.Image(format="png")


def set_png(image: W.Image, png: bytes) -> None:
    width = int.from_bytes(png[16:20], "big") if png[:4] == b"\x89PNG" else 0
    if width and image.width != str(width):
        image.width = str(width)
    image.value = png


def row(*children) -> W.HBox:
    return W.HBox(list(children))
