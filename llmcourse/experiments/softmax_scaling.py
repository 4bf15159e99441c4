"""Why attention divides the scores by sqrt(d_k), measured (lesson 11, section 3).

For each head size ``d_k``, :func:`measure` draws random unit-variance queries and keys, takes the
dot products once raw and once divided by ``sqrt(d_k)``, and records the variance of the raw
scores, how sharp the softmax is (its largest weight, its entropy, the share of nearly one-hot
rows) and how much gradient flows back through it for a random upstream gradient.
:func:`table` prints the result, :func:`plot` draws it.

>>> import torch
>>> rows = measure([4, 256], n_queries=200, n_keys=16, generator=torch.Generator().manual_seed(0))
>>> [r["d_k"] for r in rows]
[4, 256]
>>> rows[1]["raw"]["max_w"] > rows[0]["raw"]["max_w"]       # unscaled: sharper as d_k grows
True
>>> abs(rows[1]["scaled"]["max_w"] - rows[0]["scaled"]["max_w"]) < 0.05   # scaled: the same
True
"""

from __future__ import annotations

import math

import torch

from llmcourse.attention import softmax
from llmcourse.sampling import entropy


def _stats(scores: torch.Tensor, upstream: torch.Tensor) -> dict:
    """Sharpness and gradient of the softmax of ``scores`` ``(N, T_k)`` for the gradient ``upstream``."""
    s = scores.clone().requires_grad_(True)
    w = softmax(s, dim=-1)  # (N, T_k)
    (w * upstream).sum().backward()  # fills s.grad = dL/ds
    return {"max_w": w.amax(-1).mean().item(), "H": entropy(w.detach()).mean().item(),
            "grad": s.grad.norm(dim=-1).mean().item(),
            "saturated": (w.amax(-1) > 0.99).float().mean().item()}


def measure(dims, n_queries: int = 500, n_keys: int = 16, generator: torch.Generator | None = None) -> list[dict]:
    """One row per head size in ``dims``: ``{"d_k", "var", "raw": stats, "scaled": stats}``, where
    ``var`` is the variance of the raw dot products and ``stats`` holds the mean largest weight
    ``max_w``, the mean entropy ``H`` (nats), the mean gradient norm ``grad`` and the share of rows
    whose largest weight exceeds 0.99 (``saturated``). Draws from ``generator`` in a fixed order."""
    rows = []
    for d_k in dims:
        q = torch.randn(n_queries, 1, d_k, generator=generator)  # (N, 1, d_k): one query per row
        k = torch.randn(n_queries, n_keys, d_k, generator=generator)  # (N, T_k, d_k)
        raw = (q @ k.transpose(-2, -1)).squeeze(1)  # (N, T_k) dot products
        upstream = torch.randn(n_queries, n_keys, generator=generator)  # a gradient arriving from above
        rows.append({"d_k": d_k, "var": raw.var().item(), "raw": _stats(raw, upstream),
                     "scaled": _stats(raw / math.sqrt(d_k), upstream)})
    return rows


def table(rows: list[dict]) -> str:
    """The rows of :func:`measure` as a fixed-width text table, raw next to scaled."""
    lines = [" d_k  Var(q.k) | largest weight   | entropy (nats)   | gradient norm    | rows > 0.99",
             "               |   raw    scaled  |   raw    scaled  |   raw    scaled  |   raw  scaled"]
    for r in rows:
        a, b = r["raw"], r["scaled"]
        lines.append(f"{r['d_k']:5d} {r['var']:8.1f} | {a['max_w']:6.3f}  {b['max_w']:6.3f}  | {a['H']:6.3f}  "
                     f"{b['H']:6.3f}  | {a['grad']:6.3f}  {b['grad']:6.3f}  | {a['saturated']:5.0%}  "
                     f"{b['saturated']:5.0%}")
    return "\n".join(lines)


def plot(rows: list[dict], n_keys: int = 16):
    """Three panels against ``d_k``: the variance of the scores, the sharpness of the softmax
    (largest weight and entropy / ln T_k) and the gradient norm, raw (vermillion) and scaled (blue).
    Returns the figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    from llmcourse.viz.common import BLUE, VERMILLION

    d = np.array([r["d_k"] for r in rows])
    get = lambda tag, key: np.array([r[tag][key] for r in rows])  # noqa: E731
    fig, axes = plt.subplots(1, 3, figsize=(9, 2.9))
    ax = axes[0]
    ax.loglog(d, [r["var"] for r in rows], "o-", color=VERMILLION, label="raw $q \\cdot k$")
    ax.loglog(d, d, "k--", lw=1, label="$d_k$")
    ax.loglog(d, [r["var"] / r["d_k"] for r in rows], "o-", color=BLUE, label="scaled")
    ax.set_title("variance of the scores", fontsize=10)
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.semilogx(d, get("raw", "max_w"), "o-", color=VERMILLION, label="largest weight, raw")
    ax.semilogx(d, get("scaled", "max_w"), "o-", color=BLUE, label="largest weight, scaled")
    ax.semilogx(d, get("raw", "H") / math.log(n_keys), "s--", color=VERMILLION, label=f"entropy / ln {n_keys}, raw")
    ax.semilogx(d, get("scaled", "H") / math.log(n_keys), "s--", color=BLUE, label=f"entropy / ln {n_keys}, scaled")
    ax.set_ylim(0, 1.05)
    ax.set_title("sharpness of the softmax", fontsize=10)
    ax.legend(fontsize=6)
    ax = axes[2]
    ax.semilogx(d, get("raw", "grad"), "o-", color=VERMILLION, label="raw")
    ax.semilogx(d, get("scaled", "grad"), "o-", color=BLUE, label="scaled")
    ax.set_ylim(0, None)
    ax.set_title("gradient norm $\\|\\partial L / \\partial s\\|$", fontsize=10)
    ax.legend(fontsize=7)
    for ax in axes:
        ax.set_xlabel("$d_k$")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
