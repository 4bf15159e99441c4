"""The sampling explorer of lessons 1, 18 and 20: temperature, top-k, top-p and greedy, live.

The maths is the package's (:mod:`llmcourse.sampling`); this module only arranges it for a
picture. :func:`sampling_state` is the pure update function; the article's example:

>>> s = sampling_state([2.0, 1.0, 0.5, 0.0], temperature=1.0, top_p=0.7)
>>> s["kept"].tolist(), round(s["kept_mass"], 2)           # the nucleus is {on, the}
([True, True, False, False], 0.79)
>>> [round(p, 2) for p in s["probs"].tolist()]            # renormalised inside the nucleus
[0.73, 0.27, 0.0, 0.0]
>>> round(sampling_state([2.0, 1.0, 0.5, 0.0])["entropy"], 3)   # nats, before any filter
1.11
"""

from __future__ import annotations

import html

import numpy as np
import torch

from .. import sampling as S
from ..viz import probability_bars
from ..viz.common import (BLUE, GREY, ORANGE, VERMILLION, WIDGET_DPI, figure_to_png, new_figure,
                          token_label, token_labels)


def _logits_1d(logits) -> torch.Tensor:
    t = logits if isinstance(logits, torch.Tensor) else torch.as_tensor(logits, dtype=torch.float32)
    t = t.detach().float().cpu()
    if t.dim() != 1 or t.numel() < 1:
        hint = " For model output of shape (B, T, V) pass logits[0, -1]." if t.dim() > 1 else ""
        raise ValueError(f"logits must be one distribution, a 1-D list/tensor of V scores; "
                         f"got shape {tuple(t.shape)}.{hint}")
    return t


def _settings(temperature, top_k, top_p, greedy):
    """Map slider values to the package's arguments: top-k 0 and top-p 1.0 mean "off"."""
    greedy = bool(greedy) or temperature == 0
    top_k = None if top_k in (None, 0) else int(top_k)
    top_p = None if top_p is None or top_p >= 1.0 else float(top_p)
    return float(temperature), top_k, top_p, greedy


def sampling_state(logits, temperature: float = 1.0, top_k: int | None = None,
                   top_p: float | None = None, greedy: bool = False) -> dict:
    """Lesson 18: everything the explorer shows for one setting of the controls.

    Returns a dict of 1-D tensors over the vocabulary, ``probs`` (what the sampler draws from),
    ``tempered`` (after temperature, before the filters), ``nucleus_input`` (what top-p sorts:
    tempered, then cut by top-k and renormalised), ``kept`` (bool), ``order`` (ids, most likely
    first) and ``cumulative`` (running sum of ``nucleus_input`` in that order); and numbers
    ``kept_mass`` (share of ``tempered`` that survives), ``n_kept``, ``entropy`` (nats, of
    ``probs``) and ``entropy_before`` (of ``tempered``). ``top_k=0`` / ``top_p=1.0`` switch the
    filters off; ``greedy`` (or ``temperature=0``) keeps only the arg-max.
    """
    x = _logits_1d(logits)
    t, k, p, greedy = _settings(temperature, top_k, top_p, greedy)
    tempered = S.probabilities(x, temperature=t if t > 0 else 1.0)
    if greedy:
        probs = S.probabilities(x, temperature=0)
        kept = probs > 0
        nucleus_input = tempered
    else:
        filtered = S.filter_logits(x, t, k, p)
        kept = torch.isfinite(filtered)
        probs = S.probabilities(x, t, k, p)
        nucleus_input = S.probabilities(x, t, k)
    order = torch.sort(tempered, descending=True, stable=True).indices
    return {
        "probs": probs, "tempered": tempered, "nucleus_input": nucleus_input, "kept": kept,
        "order": order, "cumulative": torch.cumsum(nucleus_input[order], dim=0),
        "kept_mass": float(tempered[kept].sum()), "n_kept": int(kept.sum()),
        "entropy": max(0.0, float(S.entropy(probs))), "entropy_before": max(0.0, float(S.entropy(tempered))),
        "temperature": t, "top_k": k, "top_p": p, "greedy": greedy, "vocab_size": x.numel(),
    }


def sample_counts(logits, n: int, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None, greedy: bool = False,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Lesson 18: draw ``n`` tokens with :func:`llmcourse.sampling.sample`; counts per token id.

    >>> g = torch.Generator().manual_seed(0)
    >>> sample_counts([2.0, 1.0, 0.5, 0.0], 1000, top_k=2, generator=g)[2:].tolist()
    [0, 0]
    """
    x = _logits_1d(logits)
    t, k, p, greedy = _settings(temperature, top_k, top_p, greedy)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n (the number of draws) must be a positive integer, got {n!r}.")
    draws = S.sample(x.expand(n, x.numel()), 0 if greedy else t, k, p, generator)  # (n,)
    return torch.bincount(draws, minlength=x.numel())


def describe_settings(state: dict) -> str:
    if state["greedy"]:
        return "greedy (arg-max)"
    k = state["top_k"] if state["top_k"] is not None else "off"
    p = f"{state['top_p']:.2f}" if state["top_p"] is not None else "off"
    return f"T={state['temperature']:.2f}, top-k {k}, top-p {p}"


def draw_sampling(ax, state: dict, labels, freqs=None, top: int = 20):
    """Lesson 18: the explorer's picture on ``ax``; returns ``ax``.

    Blue bars: the final probabilities of the kept tokens (dashed outline: the same token before
    the filters renormalised). Grey hatched bars: removed tokens at their pre-filter probability.
    Black line: cumulative probability in sorted order (what top-p compares with ``p``, the dotted
    line). Orange bars: sampled frequencies, when ``freqs`` is given.
    """
    V = state["vocab_size"]
    labels = [str(lab) for lab in labels]
    if len(labels) != V:
        raise ValueError(f"labels has {len(labels)} entries but there are {V} logits.")
    order = state["order"][:top].tolist()
    x = np.arange(len(order))
    kept = state["kept"].numpy()
    shown = torch.where(state["kept"], state["probs"], state["tempered"]).numpy()
    few = len(order) <= 8
    width = 0.4 if freqs is not None else 0.8
    offset = -0.2 if freqs is not None else 0.0
    probability_bars(shown, labels, ax=ax, kept=kept, order=order, annotate=False,
                     width=width, offset=offset)
    before = state["tempered"].numpy()[order]
    ax.bar(x + offset, np.where(kept[order], before, 0.0), width=width, fill=False,
           edgecolor="black", linestyle="--", linewidth=0.8, label="before filters")
    if freqs is not None:
        f = np.asarray(freqs, dtype=float)[order]
        ax.bar(x + 0.2, f, width=0.4, color=ORANGE, edgecolor="black", linewidth=0.5,
               label="sampled frequency")
    if few:
        for xi, i in zip(x, order):
            ax.text(xi + offset, shown[i] + 0.015, f"{shown[i]:.2f}", ha="center", fontsize=9)
    cum = state["cumulative"][:top].numpy()
    ax.plot(x, cum, color="black", marker="o", ms=3, lw=1.2, label="cumulative")
    if state["top_p"] is not None and not state["greedy"]:
        ax.axhline(state["top_p"], color=VERMILLION, ls=":", lw=1.5, label=f"top-p = {state['top_p']:.2f}")
    n_in = int(kept[order].sum())
    if 0 < n_in < len(order):
        ax.axvline(n_in - 0.5, color=VERMILLION, ls="--", lw=1)
    ax.set_ylim(0, 1.05)
    from matplotlib.patches import Patch

    handles, names = ax.get_legend_handles_labels()
    names = ["kept (renormalised)" if n == "probability" else n for n in names]
    handles.append(Patch(facecolor=GREY, edgecolor="black", hatch="//"))
    names.append("removed")
    leg = ax.legend(handles, names, fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                    frameon=False)
    leg.set_title(f"kept mass {state['kept_mass']:.2f}\nentropy {state['entropy']:.2f} nats",
                  prop={"size": 9})
    leg._legend_box.align = "left"
    more = f" (top {len(order)} of {V} shown)" if len(order) < V else ""
    ax.set_title(f"{describe_settings(state)}: {state['n_kept']} of {V} tokens kept{more}", fontsize=10)
    return ax


def format_sampling(state: dict, labels, freqs=None, top: int = 10) -> str:
    """The text twin of :func:`draw_sampling` (for terminals and static notebook views)."""
    order = state["order"][:top].tolist()
    w = max([5] + [len(token_label(str(labels[i]))) for i in order])
    head = f"{'token':<{w}}  {'before':>7}  {'kept':>4}  {'p':>6}"
    head += "  sampled" if freqs is not None else ""
    lines = [head]
    for i in order:
        line = (f"{token_label(str(labels[i])):<{w}}  {float(state['nucleus_input'][i]):7.3f}  "
                f"{'yes' if state['kept'][i] else 'no':>4}  {float(state['probs'][i]):6.3f}")
        if freqs is not None:
            line += f"  {float(freqs[i]):7.3f}"
        lines.append(line)
    if len(order) < state["vocab_size"]:
        lines.append(f"... ({state['vocab_size'] - len(order)} more tokens)")
    lines.append(f"{describe_settings(state)}: kept {state['n_kept']} of {state['vocab_size']} "
                 f"tokens, kept mass {state['kept_mass']:.3f}, entropy {state['entropy']:.3f} nats "
                 f"(before filters {state['entropy_before']:.3f})")
    return "\n".join(lines)


def render_sampling(state: dict, labels, freqs=None, top: int = 20) -> bytes:
    """Draw the state on a fresh small figure and return PNG bytes."""
    fig = new_figure(7.0, 3.4, dpi=WIDGET_DPI)
    draw_sampling(fig.add_subplot(), state, labels, freqs=freqs, top=top)
    return figure_to_png(fig)


def summary_html(state: dict, freqs=None, n: int | None = None) -> str:
    parts = [f"<b>{html.escape(describe_settings(state))}</b>",
             f"kept {state['n_kept']} of {state['vocab_size']} tokens",
             f"kept mass {state['kept_mass']:.3f}",
             f"entropy {state['entropy']:.3f} nats (before filters {state['entropy_before']:.3f})"]
    if freqs is not None and n:
        parts.append(f"<span style='color:{BLUE}'>sampled {n} times</span>")
    return " &middot; ".join(parts)


__all__ = ["sampling_state", "sample_counts", "draw_sampling", "format_sampling",
           "render_sampling", "token_labels"]
