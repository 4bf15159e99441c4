"""Figures for the lessons: labelled heatmaps, attention maps, embeddings, probabilities.

Every function draws on ``ax`` when one is given (so figures can be combined) and otherwise on a
new small axes; each returns the axes it drew on. Sizes stay small (dpi <= 100) and colours are
colour-blind safe (viridis / cividis heatmaps, Okabe-Ito bars, grey for removed items).

Lesson 18's example, the article's four tokens after softmax:

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> ax = probability_bars([0.58, 0.21, 0.13, 0.08], ["on", "the", "mat", "in"])
>>> [t.get_text() for t in ax.get_xticklabels()]
['on', 'the', 'mat', 'in']
>>> coords = pca_2d([[0.0, 0.0], [2.0, 2.0], [4.0, 4.0]])   # three points on a line
>>> (coords.round(3) + 0.0).tolist()     # + 0.0 turns a -0.0 (the sign of a rounding error) into 0.0
[[-2.828, 0.0], [0.0, 0.0], [2.828, 0.0]]

Loss curves (static and live) are in :mod:`llmcourse.viz.loss`, the shared colours and figure
helpers in :mod:`llmcourse.viz.common`.
"""

from __future__ import annotations

import numpy as np

from .common import BLUE, GREY, ORANGE, PALETTE, get_ax, to_numpy, token_label

__all__ = ["heatmap", "attention_heatmap", "positional_heatmap", "pca_2d", "embedding_scatter",
           "probability_bars"]


def _set_ticks(ax, axis: str, labels) -> None:
    """Label every position when the labels fit (font 6-9 pt), otherwise every 2nd, 3rd, ... one;
    long x labels are turned upright."""
    n = len(labels)
    if n == 0:
        return
    w, h = ax.figure.get_size_inches()
    box = ax.get_position()
    room = 72 * (box.width * w if axis == "x" else box.height * h) / n  # points per position
    fontsize = float(np.clip(room * 0.85, 6, 9))
    text = [token_label(str(lab)) for lab in labels]  # spaces and newlines made visible
    longest = max(len(t) for t in text)
    rotate = axis == "x" and longest > 2 and longest * fontsize * 0.65 > room
    need = fontsize * 1.15 if axis == "y" or rotate else longest * fontsize * 0.7
    step = max(1, int(np.ceil(need / room)))
    pos = list(range(0, n, step))
    if axis == "x":
        ax.set_xticks(pos)
        ax.set_xticklabels([text[i] for i in pos], rotation=90 if rotate else 0, fontsize=fontsize)
    else:
        ax.set_yticks(pos)
        ax.set_yticklabels([text[i] for i in pos], fontsize=fontsize)


def heatmap(matrix, row_labels=None, col_labels=None, ax=None, title: str | None = None,
            cmap: str = "viridis", vmin: float | None = None, vmax: float | None = None,
            colorbar: bool = True, annotate: bool | None = None, fmt: str = "{:.2f}",
            xlabel: str | None = None, ylabel: str | None = None, mask=None, colorbar_label=None):
    """Lessons 4-12: draw a 2-D matrix with labelled rows and columns.

    ``annotate`` writes each value in its cell (default: only for matrices up to 8 x 8).
    ``mask`` (same shape, True = hide) shows cells in light grey, e.g. the future positions of a
    causal attention map.

    >>> ax = heatmap([[0.27, 0.27, 0.45], [0.1, 0.6, 0.3]], ["a", "b"], ["x", "y", "z"])
    >>> ax.texts[0].get_text(), len(ax.texts)
    ('0.27', 6)
    """
    import matplotlib

    m = to_numpy(matrix, "matrix", ndim=2)
    rows, cols = m.shape
    for labels, n, what in ((row_labels, rows, "row_labels"), (col_labels, cols, "col_labels")):
        if labels is not None and len(labels) != n:
            raise ValueError(f"{what} has {len(labels)} entries but the matrix has {n} "
                             f"{'rows' if what == 'row_labels' else 'columns'} (shape {m.shape}).")
    ax = get_ax(ax, width=min(2.0 + 0.35 * cols, 7.0), height=min(1.2 + 0.3 * rows, 5.0))
    shown = np.ma.masked_array(m, mask=np.zeros_like(m, dtype=bool) if mask is None
                               else np.asarray(mask, dtype=bool))
    colormap = matplotlib.colormaps[cmap].with_extremes(bad="#E6E6E6")  # masked cells: light grey
    im = ax.imshow(shown, cmap=colormap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
    _set_ticks(ax, "x", col_labels if col_labels is not None else list(range(cols)))
    _set_ticks(ax, "y", row_labels if row_labels is not None else list(range(rows)))
    if annotate is None:
        annotate = rows <= 8 and cols <= 8
    if annotate:
        norm = im.norm
        for i in range(rows):
            for j in range(cols):
                if shown.mask[i, j]:
                    continue
                dark = norm(m[i, j]) < 0.6 if cmap in ("viridis", "cividis", "magma", "inferno") else False
                ax.text(j, i, fmt.format(m[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
    if colorbar:
        cb = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
        if colorbar_label:
            cb.set_label(colorbar_label)
    if title:
        ax.set_title(title, fontsize=10)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    return ax


def attention_heatmap(weights, tokens=None, ax=None, title: str | None = "attention weights",
                      query: int | None = None, causal: bool | None = None, colorbar: bool = True,
                      annotate: bool | None = None):
    """Lessons 7-11: an attention matrix ``(T, T)`` with rows = queries (the token that looks)
    and columns = keys (the tokens it looks at). Future positions of a causal map are drawn grey;
    ``query`` outlines one row.

    >>> w = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.27, 0.27, 0.45]]
    >>> ax = attention_heatmap(w, ["the", "cat", "sat"], query=2)
    >>> ax.get_ylabel()
    'query (looks)'
    """
    w = to_numpy(weights, "weights")
    T = w.shape[0] if w.ndim else 0
    if w.ndim != 2 or w.shape[1] != T:
        raise ValueError(f"attention weights must be square (T, T), got shape {w.shape}. Pick one "
                         f"layer, batch row and head first, e.g. maps[layer, 0, head].")
    future = np.triu(np.ones((T, T), dtype=bool), k=1)
    if causal is None:
        causal = T > 1 and bool(np.all(np.abs(w[future]) < 1e-9))
    labels = list(tokens) if tokens is not None else list(range(T))
    ax = heatmap(w, labels, labels, ax=ax, title=title, cmap="viridis", vmin=0.0,
                 vmax=max(float(w.max()), 1e-9), colorbar=colorbar, annotate=annotate,
                 mask=future if causal else None, xlabel="key (looked at)",
                 ylabel="query (looks)", colorbar_label="weight" if colorbar else None)
    if query is not None:
        if not 0 <= query < T:
            raise ValueError(f"query must be a position 0..{T - 1}, got {query}.")
        from matplotlib.patches import Rectangle

        ax.add_patch(Rectangle((-0.5, query - 0.5), T, 1, fill=False, edgecolor=ORANGE, lw=2.0))
    return ax


def positional_heatmap(pe, ax=None, title: str | None = "positional encodings",
                       cmap: str = "RdBu_r", colorbar: bool = True):
    """Lesson 4: a table of position vectors ``(positions, dim)``; rows are positions.

    Signed values use a blue-white-red map centred on 0 (colour-blind safe).

    >>> from llmcourse.embedding import sinusoidal_encoding
    >>> ax = positional_heatmap(sinusoidal_encoding(16, 8))
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('dimension', 'position')
    """
    m = to_numpy(pe, "pe", ndim=2)
    lim = max(float(np.abs(m).max()), 1e-9)
    ax = get_ax(ax, width=6.0, height=3.2)
    im = ax.imshow(m, cmap=cmap, vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
    ax.set_xlabel("dimension")
    ax.set_ylabel("position")
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def pca_2d(X, return_variance: bool = False):
    """Lesson 3: project the rows of ``X`` ``(N, D)`` onto their two main directions (PCA by
    SVD of the centred data; numpy only). Returns ``(N, 2)`` coordinates and, with
    ``return_variance``, the share of the variance each of the two axes explains.

    The sign of each axis is fixed (its largest loading is positive), so results are repeatable.

    >>> coords, share = pca_2d([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.5, 0.0]], True)
    >>> # x varies by 2 (sum of squares), y by 1/6: shares 2 / (13/6) and (1/6) / (13/6)
    >>> share.round(3).tolist()
    [0.923, 0.077]
    """
    x = to_numpy(X, "X", ndim=2)
    if x.shape[0] < 2:
        raise ValueError(f"PCA needs at least 2 rows (points), got shape {x.shape}.")
    xc = x - x.mean(axis=0, keepdims=True)  # (N, D), centred
    u, s, vt = np.linalg.svd(xc, full_matrices=False)  # (N, r), (r,), (r, D)
    signs = np.sign(vt[np.arange(vt.shape[0]), np.abs(vt).argmax(axis=1)])  # (r,)
    signs[signs == 0] = 1.0
    coords = (u * s) * signs  # (N, r): the data in the rotated frame
    out = np.zeros((x.shape[0], 2))
    k = min(2, coords.shape[1])
    out[:, :k] = coords[:, :k]
    if not return_variance:
        return out
    total = float((s ** 2).sum())
    share = np.zeros(2)
    if total > 0:
        share[:k] = (s[:k] ** 2) / total
    return out, share


def embedding_scatter(X, labels=None, ax=None, groups=None, title: str | None = "embeddings (PCA)",
                      annotate: bool = True):
    """Lesson 3: scatter embedding vectors ``(N, D)`` in 2-D (PCA when ``D > 2``), each point
    labelled with its token; ``groups`` (one name per point) colours points by kind.

    >>> import numpy as np
    >>> E = np.random.default_rng(0).normal(size=(6, 8))
    >>> ax = embedding_scatter(E, list("aeibcd"), groups=["vowel"] * 3 + ["consonant"] * 3)
    >>> ax.get_legend() is not None, len(ax.texts)
    (True, 6)
    """
    x = to_numpy(X, "X", ndim=2)
    n = x.shape[0]
    for name, seq in (("labels", labels), ("groups", groups)):
        if seq is not None and len(seq) != n:
            raise ValueError(f"{name} has {len(seq)} entries but X has {n} rows.")
    if x.shape[1] > 2:
        xy, share = pca_2d(x, return_variance=True)
        axis_names = [f"PC{i + 1} ({100 * share[i]:.0f}% of variance)" for i in range(2)]
    else:
        xy = np.zeros((n, 2))
        xy[:, : x.shape[1]] = x
        axis_names = ["dim 0", "dim 1"]
    ax = get_ax(ax, width=5.0, height=4.0)
    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
    if groups is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=22, color=BLUE)
    else:
        for g_i, g in enumerate(dict.fromkeys(groups)):  # first-seen order
            sel = np.array([gg == g for gg in groups])
            ax.scatter(xy[sel, 0], xy[sel, 1], s=24, color=PALETTE[g_i % len(PALETTE)],
                       marker=markers[g_i % len(markers)], label=str(g))
        ax.legend(fontsize=8, loc="best", framealpha=0.8)
    if annotate and labels is not None:
        for (px, py), lab in zip(xy, labels):
            ax.annotate(token_label(str(lab)), (px, py), xytext=(3, 3), textcoords="offset points",
                        fontsize=8)
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def probability_bars(probs, labels=None, ax=None, kept=None, top: int | None = None,
                     sort: bool = True, order=None, title: str | None = None,
                     annotate: bool | None = None, color: str = BLUE, ylabel: str = "probability",
                     width: float = 0.8, offset: float = 0.0):
    """Lessons 1 and 18: bars of a probability distribution over tokens.

    Sorted from most to least likely (``sort=False`` keeps the given order, ``order`` gives an
    explicit list of indices) and cut to the ``top`` most likely. ``kept`` (a boolean per token)
    draws removed tokens grey and hatched. Values are written on the bars when at most 12 show.
    ``width`` and ``offset`` place the bars (to draw a second series next to them).
    """
    p = to_numpy(probs, "probs", ndim=1)
    n = p.shape[0]
    labels = [str(i) for i in range(n)] if labels is None else [str(lab) for lab in labels]
    if len(labels) != n:
        raise ValueError(f"labels has {len(labels)} entries but probs has {n}.")
    if order is None:
        order = np.argsort(-p, kind="stable") if sort else np.arange(n)
        if top is not None:
            order = order[:top]
    order = [int(i) for i in order]
    keep = np.ones(n, dtype=bool) if kept is None else to_numpy(kept, "kept", ndim=1).astype(bool)
    ax = get_ax(ax, width=min(2.0 + 0.4 * len(order), 7.0), height=3.0)
    x = np.arange(len(order))
    colors = [color if keep[i] else GREY for i in order]
    bars = ax.bar(x + offset, p[order], width=width, color=colors, edgecolor="black", linewidth=0.5,
                  label="probability")
    for bar, i in zip(bars, order):
        if not keep[i]:
            bar.set_hatch("//")
    if annotate is None:
        annotate = len(order) <= 12
    if annotate:
        for xi, i in zip(x, order):
            ax.text(xi + offset, p[i] + 0.01, f"{p[i]:.2f}", ha="center", va="bottom", fontsize=8)
    _set_ticks(ax, "x", [token_label(labels[i]) for i in order])
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, max(1.0, float(p.max()) * 1.1) if annotate else None)
    ax.set_xlim(-0.6, len(order) - 0.4)
    if title:
        ax.set_title(title, fontsize=10)
    return ax
