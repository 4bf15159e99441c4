"""Loss curves: a static plot of a training history and a live plot for the training loop
(lessons 16, 19 and 20).

A history can be a list of numbers, a dict of lists (``{"step": [...], "train": [...],
"val": [...]}``) or a list of records such as the trainer's callback dicts
(``{"step": 100, "train_loss": 2.1, "val_loss": 2.3, "lr": 3e-4}``). Keys that name a loss
(containing ``loss``, or ``train`` / ``val`` / ``test``) become curves; others (learning rate,
tokens per second) are ignored. A bare ``loss`` (the batch loss of each step) stays a curve of
its own, apart from ``train_loss`` (an evaluation on the training split); a plain list of
numbers is taken as ``train``.

>>> series = loss_series([{"step": 0, "loss": 4.2}, {"step": 10, "loss": 3.1, "val_loss": 3.3}])
>>> {k: (s.tolist(), v.tolist()) for k, (s, v) in series.items()}
{'loss': ([0.0, 10.0], [4.2, 3.1]), 'val': ([10.0], [3.3])}
>>> live = LiveLossPlot(mode="text", min_interval=0)
>>> live({"step": 10, "train_loss": 3.1, "val_loss": 3.3, "lr": 0.001})
step 10: train 3.1000, val 3.3000
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

import numpy as np

from .common import BLUE, GREEN, ORANGE, SKY, VERMILLION, figure_to_png, get_ax, in_notebook, new_figure

_STEP_KEYS = ("step", "steps", "iter", "iteration")
_COLORS = {"loss": SKY, "train": BLUE, "val": ORANGE, "test": GREEN}


def _loss_name(key: str) -> str | None:
    """``"train_loss"`` -> ``"train"``, ``"loss"`` -> ``"loss"``, ``"lr"`` -> None."""
    k = key.lower().replace("-", "_").replace("/", "_")
    if k in _STEP_KEYS:
        return None
    base = k.replace("_loss", "").replace("loss_", "")
    if base == "loss":
        return "loss"
    if base in ("train", "training"):
        return "train"
    if base in ("val", "valid", "validation", "eval"):
        return "val"
    if base == "test":
        return "test"
    return base if "loss" in k else None


def _number(v) -> float | None:
    try:
        f = float(v.item() if hasattr(v, "item") else v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def loss_series(history) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Normalise a training history to ``{name: (steps, values)}`` (missing values dropped)."""
    if isinstance(history, LiveLossPlot):
        history = history.history
    points: dict[str, tuple[list, list]] = {}

    def add(name, step, value):
        v = _number(value)
        if name is not None and v is not None:
            points.setdefault(name, ([], []))
            points[name][0].append(float(step))
            points[name][1].append(v)

    if isinstance(history, Mapping):
        steps = next((history[k] for k in _STEP_KEYS if k in history), None)
        for key, values in history.items():
            name = _loss_name(str(key))
            if name is None:
                continue
            values = list(values)
            xs = list(steps) if steps is not None else range(len(values))
            if len(xs) != len(values):
                raise ValueError(f"history[{key!r}] has {len(values)} values but the steps have "
                                 f"{len(xs)}; use None for steps without a value.")
            for s, v in zip(xs, values):
                add(name, s, v)
    else:
        for i, item in enumerate(history):
            if isinstance(item, Mapping):
                step = next((item[k] for k in _STEP_KEYS if k in item), i)
                for key, value in item.items():
                    add(_loss_name(str(key)), step, value)
            else:
                add("train", i, item)
    rank = {"loss": 0, "train": 1, "val": 2, "test": 3}
    names = sorted(points, key=lambda k: (rank.get(k, 9), k))  # a stable order of the legend
    return {k: (np.asarray(points[k][0]), np.asarray(points[k][1])) for k in names}


def _ema(values: np.ndarray, alpha: float) -> np.ndarray:
    out = np.empty_like(values)
    acc = values[0]
    for i, v in enumerate(values):
        acc = alpha * v + (1 - alpha) * acc
        out[i] = acc
    return out


def loss_curve(history, ax=None, title: str | None = "loss", logy: bool = False,
               smooth: float | None = None, reference: float | None = None,
               reference_label: str = "ln(vocab): a uniform guess"):
    """Lessons 16-20: plot the curves of a training history (see :func:`loss_series`).

    ``smooth`` (0 < smooth < 1) adds an exponential moving average of each curve with that
    weight on the newest point; ``reference`` draws a dashed horizontal line, e.g. the loss of a
    model that guesses uniformly, ``ln(vocab_size)``.

    >>> ax = loss_curve({"step": [0, 1, 2], "train": [4.2, 3.0, 2.5], "val": [None, None, 2.7]})
    >>> sorted(line.get_label() for line in ax.get_lines())
    ['train', 'val']
    """
    series = loss_series(history)
    ax = get_ax(ax, width=6.0, height=3.0)
    extra = [VERMILLION, GREEN]
    for i, (name, (steps, values)) in enumerate(series.items()):
        color = _COLORS.get(name, extra[i % len(extra)])
        marker = "o" if len(values) <= 30 else None
        if smooth:
            ax.plot(steps, values, color=color, alpha=0.3, lw=1)
            ax.plot(steps, _ema(values, smooth), color=color, lw=1.8, label=f"{name} (smoothed)")
        else:
            ax.plot(steps, values, color=color, lw=1.6, marker=marker, ms=3, label=name)
    if reference is not None:
        ax.axhline(reference, color="black", ls="--", lw=1, label=reference_label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats per token)")
    ax.grid(alpha=0.3)
    if series or reference is not None:
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


class LiveLossPlot:
    """Lesson 20: a loss plot that redraws in place while a model trains.

    Pass its ``update`` (or the object itself) as a trainer callback; it accepts a dict and/or
    keyword arguments, e.g. ``plot.update({"step": 100, "train_loss": 2.1, "val_loss": 2.3})``.
    In a notebook it draws into one output that is replaced at most every ``min_interval``
    seconds (and once more by :meth:`close`); elsewhere (``mode="text"``) it prints one line per
    update that carries a validation loss, or at most one every ``min_interval`` seconds.
    ``mode="silent"`` only records. The recorded points are in ``history``.
    """

    def __init__(self, title: str = "training loss", min_interval: float = 1.0, logy: bool = False,
                 reference: float | None = None, mode: str = "auto"):
        if mode not in ("auto", "notebook", "text", "silent"):
            raise ValueError(f"mode must be 'auto', 'notebook', 'text' or 'silent', got {mode!r}.")
        self.mode = ("notebook" if in_notebook() else "text") if mode == "auto" else mode
        self.title, self.min_interval, self.logy, self.reference = title, min_interval, logy, reference
        self.history: list[dict] = []
        self.draws = 0
        self._handle = None
        self._last = -math.inf
        self._dirty = False

    def update(self, info: Mapping | None = None, /, **metrics) -> None:
        """Record one point (a dict, keyword arguments, or both) and redraw / print if due."""
        if info is not None and not isinstance(info, Mapping):
            raise TypeError(f"update expects a dict such as {{'step': 10, 'train_loss': 2.3}}, "
                            f"got {type(info).__name__}.")
        rec = dict(info) if info is not None else {}
        rec.update(metrics)
        if not any(k in rec for k in _STEP_KEYS):
            rec["step"] = len(self.history)
        self.history.append(rec)
        self._dirty = True
        due = time.monotonic() - self._last >= self.min_interval
        if self.mode == "notebook" and due:
            self.draw()
        elif self.mode == "text" and (due or any(_loss_name(k) == "val" for k in rec)):
            self._print(rec)

    __call__ = update

    def _print(self, rec: dict) -> None:
        step = next((rec[k] for k in _STEP_KEYS if k in rec), "?")
        parts = [f"{_loss_name(k)} {_number(v):.4f}" for k, v in rec.items()
                 if _loss_name(k) and _number(v) is not None]
        print(f"step {step}: " + ", ".join(parts))
        self._last = time.monotonic()
        self._dirty = False

    def figure(self):
        """The current plot as a matplotlib ``Figure`` (not registered with pyplot)."""
        fig = new_figure(6.0, 3.0)
        ax = fig.add_subplot()
        last = self.history[-1] if self.history else {}
        step = next((last[k] for k in _STEP_KEYS if k in last), None)
        title = self.title if step is None else f"{self.title} (step {step})"
        loss_curve(self.history, ax=ax, title=title, logy=self.logy, reference=self.reference)
        return fig

    def png(self) -> bytes:
        return figure_to_png(self.figure())

    def draw(self) -> None:
        """Redraw now (in a notebook: replace the previous image in place)."""
        from IPython.display import Image, display

        img = Image(data=self.png(), format="png")
        if self._handle is None:
            self._handle = display(img, display_id=True)
        else:
            self._handle.update(img)
        self.draws += 1
        self._last = time.monotonic()
        self._dirty = False

    def close(self) -> None:
        """Show the final state (call when training ends)."""
        if not self._dirty or not self.history:
            return
        if self.mode == "notebook":
            self.draw()
        elif self.mode == "text":
            self._print(self.history[-1])

    def _repr_png_(self) -> bytes:
        return self.png()
