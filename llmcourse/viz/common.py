"""Shared pieces of the course's figures: colours, small figures, PNG rendering, token labels.

Used by :mod:`llmcourse.viz.figures`, :mod:`llmcourse.viz.loss` and :mod:`llmcourse.widgets`.

Colours follow the Okabe-Ito palette, which stays distinguishable for the common forms of
colour blindness; heatmaps use viridis / cividis and signed tables a blue-white-red map
(never a red/green pair).

>>> token_label(" "), token_label("\\n"), token_label("ab")
('␣', '↵', 'ab')
>>> fig = new_figure(3, 2)
>>> figure_to_png(fig)[:4]
b'\\x89PNG'
"""

from __future__ import annotations

import io

import numpy as np

#: Okabe-Ito colours (colour-blind safe) and a neutral grey for "removed / masked".
BLUE = "#0072B2"
ORANGE = "#E69F00"
SKY = "#56B4E9"
GREEN = "#009E73"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
YELLOW = "#F0E442"
GREY = "#B8B8B8"
PALETTE = [BLUE, ORANGE, GREEN, VERMILLION, SKY, PURPLE, YELLOW, "#000000"]

#: The largest dpi any course figure uses (keeps notebooks small).
MAX_DPI = 100
DEFAULT_DPI = 80
#: Explorer figures are shown as images at their pixel size: a little sharper than inline plots.
WIDGET_DPI = 90


def new_figure(width: float = 6.0, height: float = 3.2, dpi: int = DEFAULT_DPI):
    """A matplotlib ``Figure`` that is *not* registered with pyplot (so it is never shown twice,
    and nothing leaks between widget updates). Render it with :func:`figure_to_png`."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=min(int(dpi), MAX_DPI), layout="constrained")


def figure_to_png(fig, dpi: int | None = None) -> bytes:
    """Render a figure to PNG bytes (the Agg renderer; no display or backend needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if fig.canvas is None or not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    buf = io.BytesIO()
    dpi = min(dpi or fig.dpi, MAX_DPI)
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def get_ax(ax=None, width: float = 6.0, height: float = 3.2):
    """Return ``ax`` if given, else a new pyplot axes of a small size (shown inline by Jupyter)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    dpi = min(plt.rcParams.get("figure.dpi", DEFAULT_DPI), MAX_DPI)
    _, ax = plt.subplots(figsize=(width, height), dpi=dpi, layout="constrained")
    return ax


def token_label(text: str) -> str:
    """Make a token printable on an axis: a space becomes ``␣``, a newline ``↵``, a tab ``⇥``;
    other control characters show as ``\\xNN``."""
    out = []
    for ch in str(text):
        if ch == " ":
            out.append("␣")
        elif ch == "\n":
            out.append("↵")
        elif ch == "\t":
            out.append("⇥")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out) or "∅"


def token_labels(tokenizer, ids) -> list[str]:
    """One readable label per token id, decoding each id on its own with ``tokenizer``."""
    return [token_label(tokenizer.decode([int(i)])) for i in ids]


def to_numpy(x, name: str = "matrix", ndim: int | None = None) -> np.ndarray:
    """Accept a torch tensor, numpy array or nested list; return a float numpy array."""
    try:
        import torch

        if isinstance(x, torch.Tensor):
            x = x.detach().to("cpu", dtype=torch.float32).numpy()
    except ImportError:  # pragma: no cover - torch is a base requirement
        pass
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be numbers (tensor, array or list), got {type(x).__name__}.") from e
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}.")
    return arr


def in_notebook() -> bool:
    """True inside a Jupyter kernel (a frontend *may* be attached), False in a plain Python or a
    terminal IPython session."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None
