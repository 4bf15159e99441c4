"""The attention explorer of lessons 7-11: pick a layer, a head and a query position and see
where each token looks.

:func:`attention_state` runs the model once; :func:`attention_view` (pure) picks one map:

>>> import torch
>>> maps = torch.tensor([[[[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.27, 0.27, 0.46]]]])  # (L, H, T, T)
>>> view = attention_view({"maps": maps, "tokens": ["the", "cat", "sat"]}, layer=0, head=0, query=2)
>>> view["top"][0]                      # (key position, token, weight): "sat" looks at itself most
(2, 'sat', 0.46)
"""

from __future__ import annotations

import ipywidgets as W
import numpy as np
import torch

from ..viz import attention_heatmap
from ..viz.common import BLUE, ORANGE, WIDGET_DPI, figure_to_png, new_figure, token_labels
from ._base import STYLE, Explorer, connect, error_html, png_image, set_png, pre, row


def attention_state(model, tokenizer, prompt: str, max_tokens: int = 48) -> dict:
    """Lessons 7-11: run ``model`` on ``prompt`` (its last ``max_tokens`` tokens, at most
    ``block_size``) and keep every attention map: ``maps`` ``(n_layer, n_head, T, T)``, the
    token ``ids`` and readable ``tokens``."""
    ids = tokenizer.encode(prompt)
    if not ids:
        raise ValueError("the prompt is empty: type at least one character.")
    keep = min(int(max_tokens), model.config.block_size)
    dropped = max(0, len(ids) - keep)
    ids = ids[-keep:]
    device = next(model.parameters()).device
    idx = torch.tensor([ids], dtype=torch.long, device=device)  # (1, T)
    maps = model.attention_maps(idx)[:, 0].float().cpu()  # (n_layer, 1, nh, T, T) -> (n_layer, nh, T, T)
    return {"maps": maps, "ids": ids, "tokens": token_labels(tokenizer, ids), "dropped": dropped}


def attention_view(state: dict, layer: int, head, query: int, k: int = 5) -> dict:
    """Lessons 7-11: the ``(T, T)`` weights of one layer and head (``head="mean"`` averages the
    heads) and the ``k`` keys that position ``query`` attends to most, as
    ``(position, token, weight)`` with weights rounded to 4 decimals."""
    maps = state["maps"]
    L, H, T, _ = maps.shape
    if not 0 <= int(layer) < L:
        raise ValueError(f"layer must be 0..{L - 1} (the model has {L} layers), got {layer}.")
    if head != "mean" and not 0 <= int(head) < H:
        raise ValueError(f"head must be 0..{H - 1} or 'mean' (the model has {H} heads), got {head!r}.")
    if not 0 <= int(query) < T:
        raise ValueError(f"query must be a position 0..{T - 1} (the prompt has {T} tokens), got {query}.")
    w = maps[int(layer)].mean(dim=0) if head == "mean" else maps[int(layer), int(head)]  # (T, T)
    r = w[int(query)]  # (T,): how much the query looks at each key
    top = torch.topk(r, min(int(k), T))
    tokens = state["tokens"]
    best = [(int(i), tokens[int(i)], round(float(v), 4)) for v, i in zip(top.values, top.indices)
            if float(v) > 0]
    return {"weights": w, "row": r, "top": best, "layer": int(layer), "head": head, "query": int(query)}


def render_attention(view: dict, tokens) -> bytes:
    """The explorer's picture: the heatmap (query row outlined) and the query's top keys."""
    T = len(tokens)
    fig = new_figure(8.0, 3.8 if T <= 32 else min(3.8 + 0.1 * (T - 32), 6.0), dpi=WIDGET_DPI)
    ax_map, ax_top = fig.subplots(1, 2, width_ratios=[2.3, 1])
    head = "mean of heads" if view["head"] == "mean" else f"head {view['head']}"
    attention_heatmap(view["weights"], tokens, ax=ax_map, query=view["query"],
                      title=f"layer {view['layer']}, {head}", annotate=len(tokens) <= 6)
    q = view["query"]
    top = view["top"]
    names = [f"{tok} @{pos}" for pos, tok, _ in top][::-1]
    values = [w for _, _, w in top][::-1]
    colors = [ORANGE if pos == q else BLUE for pos, _, _ in top][::-1]
    ax_top.barh(np.arange(len(values)), values, color=colors, edgecolor="black", linewidth=0.5)
    ax_top.set_yticks(np.arange(len(values)))
    ax_top.set_yticklabels(names, fontsize=9)
    ax_top.set_xlim(0, 1)
    ax_top.set_xlabel("weight")
    ax_top.set_title(f"query {tokens[q]} @{q} looks at", fontsize=9)
    for y, v in enumerate(values):
        ax_top.text(min(v + 0.02, 0.8), y, f"{v:.2f}", va="center", fontsize=8)
    return figure_to_png(fig)


class AttentionExplorer(Explorer):
    """Lessons 7-11: choose layer, head and query position for a prompt and a model.

    The current selection is in ``view`` (see :func:`attention_view`), the maps in ``state``,
    the figure in ``png``. Moving a control calls :meth:`update`; tests may call it directly.
    """

    def __init__(self, model, tokenizer, prompt: str = "ROMEO: But soft, what light", max_tokens: int = 48,
                 use_interactive_output: bool | None = None):
        super().__init__()
        self.model, self.tokenizer, self.max_tokens = model, tokenizer, max_tokens
        self.state = attention_state(model, tokenizer, prompt, max_tokens)  # a bad prompt raises here
        self._prompt_of_state = prompt
        self.view = self.error = None
        L, H, T = model.config.n_layer, model.config.n_head, len(self.state["ids"])
        self.prompt = W.Text(value=prompt, description="prompt", continuous_update=False, style=STYLE)
        self.layer = W.IntSlider(value=0, min=0, max=L - 1, description="layer", continuous_update=False,
                                 style=STYLE)
        self.head = W.Dropdown(options=[(f"head {h}", h) for h in range(H)] + [("mean of heads", "mean")],
                               value=0, description="head", style=STYLE)
        self.query = W.IntSlider(value=T - 1, min=0, max=T - 1, description="query position",
                                 continuous_update=False, style=STYLE)
        self.image = png_image()
        self.info = W.HTML()
        self._busy = False
        controls = {"prompt": self.prompt, "layer": self.layer, "head": self.head, "query": self.query}
        self.out = connect(self.update, controls, use_interactive_output)  # draws once now
        self.widget = W.VBox([row(self.prompt), row(self.layer, self.head, self.query), self.image,
                              self.info, self.out])

    def update(self, prompt=None, layer=None, head=None, query=None) -> None:
        """Recompute and redraw from the controls' current values."""
        if self._busy:  # a control we adjust below fires its own change; one redraw is enough
            return
        self._busy = True
        try:
            self.error = None
            if self.prompt.value != self._prompt_of_state:
                try:
                    self.state = attention_state(self.model, self.tokenizer, self.prompt.value,
                                                 self.max_tokens)
                except (KeyError, ValueError, IndexError, TypeError) as e:
                    self.error = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
                    self.info.value = error_html(self.error)
                    return
                self._prompt_of_state = self.prompt.value
                T = len(self.state["ids"])
                self.query.max = T - 1
                self.query.value = T - 1
            self.view = attention_view(self.state, self.layer.value, self.head.value, self.query.value)
            set_png(self.image, render_attention(self.view, self.state["tokens"]))
            self.info.value = pre(self.summary())
        finally:
            self._busy = False

    def summary(self) -> str:
        v, toks = self.view, self.state["tokens"]
        head = "mean of heads" if v["head"] == "mean" else f"head {v['head']}"
        best = ", ".join(f"{tok!s} @{pos} ({w:.2f})" for pos, tok, w in v["top"])
        note = f" (first {self.state['dropped']} tokens cut)" if self.state["dropped"] else ""
        return (f"layer {v['layer']}, {head}: query {toks[v['query']]} @{v['query']} attends most to "
                f"{best}{note}")

    def text(self) -> str:
        rows = self.view["weights"][: len(self.state["tokens"])]
        lines = [self.summary(), "", "weights (rows: queries, columns: keys; . = masked future)"]
        for i, r in enumerate(rows.tolist()[:12]):
            cells = " ".join("  . " if j > i and x == 0 else f"{x:4.2f}" for j, x in enumerate(r[:12]))
            lines.append(f"{self.state['tokens'][i]:>3} {cells}")
        if len(rows) > 12:
            lines.append("... (first 12 tokens shown)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<AttentionExplorer ({len(self.state['ids'])} tokens)>"


def attention_explorer(model, tokenizer, prompt: str = "ROMEO: But soft, what light", max_tokens: int = 48,
                       display: bool = True) -> AttentionExplorer:
    """Lessons 7-11: build an :class:`AttentionExplorer`, show it, and return it."""
    ex = AttentionExplorer(model, tokenizer, prompt, max_tokens)
    if display:
        ex.show()
    return ex

