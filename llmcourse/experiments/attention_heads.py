"""What the attention heads of a trained GPT look at, measured on held-out text (lessons 8 and 9).

``map_statistics`` turns attention maps into one number per head for each of six patterns
(weight on the previous character, on itself, on newlines, on the first letter of the current
word, on the window's first character, and the mean distance looked back);
``head_ablation_losses`` measures how much the loss rises when one head's output is zeroed;
``head_statistics`` runs both on a model; ``format_head_table`` prints them as a table.
``qkv_of_layer`` and ``causal_weights`` recompute one block's queries, keys and weights by hand.

A map whose every query looks only at the character before it (the first looks at itself):

>>> import torch
>>> T = 6
>>> prev = torch.diag(torch.ones(T - 1), -1); prev[0, 0] = 1.0
>>> maps = prev.expand(1, 1, 1, T, T)                      # (layers, windows, heads, T, T)
>>> ids = torch.tensor([[0, 1, 2, 0, 1, 2]])               # (windows, T)
>>> s = map_statistics(maps, ids, ["a", " ", "\\n"], start=2)
>>> float(s["previous"][0, 0]), float(s["self"][0, 0]), float(s["distance"][0, 0])
(1.0, 0.0, 1.0)
"""

from __future__ import annotations

import math

import torch

from llmcourse.attention import causal_mask, softmax, split_heads

#: The patterns measured for every head, in table order (``loss +`` comes from ablation).
PATTERNS = ("previous", "self", "newline", "word start", "first", "distance")


def map_statistics(maps: torch.Tensor, ids: torch.Tensor, chars: list[str], start: int = 16) -> dict:
    """Average patterns of attention maps ``(L, N, H, T, T)`` over ``N`` windows of character ids
    ``(N, T)``; ``chars[i]`` is the character of id ``i``. Queries before ``start`` are skipped
    (they have little past to choose from). Returns ``{pattern: (L, H) tensor}`` for
    :data:`PATTERNS`; ``word start`` counts only queries that are not themselves a word's first
    letter, and a word starts after a space or newline."""
    L, N, H, T, _ = maps.shape
    if ids.shape != (N, T):
        raise ValueError(f"ids must have shape (windows, T) = {(N, T)} to match the maps, got {tuple(ids.shape)}.")
    if not 0 < start < T:
        raise ValueError(f"start must be between 1 and T - 1 = {T - 1}, got {start}.")
    is_nl = torch.tensor([c == "\n" for c in chars])[ids]            # (N, T)
    is_ws = torch.tensor([c in " \n" for c in chars])[ids]           # (N, T)
    pos = torch.arange(T)
    starts_here = torch.zeros_like(is_ws)
    starts_here[:, 1:] = is_ws[:, :-1]                               # a word starts after white space
    starts_here[:, 0] = True
    word_start = torch.where(starts_here, pos, 0).cummax(dim=1).values   # (N, T): the word's first letter
    inside = (word_start != pos)[:, start:]                          # (N, T - start)
    later = maps[..., start:, :]                                     # (L, N, H, T - start, T)
    idx = word_start[None, :, None, start:, None].expand(L, -1, H, -1, 1)
    on_start = later.gather(-1, idx).squeeze(-1)                     # (L, N, H, T - start)
    back = (pos[start:, None] - pos[None, :]).clamp(min=0)           # (T - start, T): distance to each key
    return {
        "previous": maps.diagonal(offset=-1, dim1=-2, dim2=-1)[..., start - 1:].mean(dim=(1, 3)),
        "self": maps.diagonal(dim1=-2, dim2=-1)[..., start:].mean(dim=(1, 3)),
        "newline": (later * is_nl[None, :, None, None, :]).sum(-1).mean(dim=(1, 3)),
        "word start": (on_start * inside[None, :, None]).sum(dim=(1, 3)) / inside.sum().clamp(min=1),
        "first": maps[..., start:, 0].mean(dim=(1, 3)),
        "distance": (later * back).sum(-1).mean(dim=(1, 3)),
    }


@torch.no_grad()
def head_ablation_losses(model, x: torch.Tensor, y: torch.Tensor) -> tuple[float, torch.Tensor]:
    """``(loss, rise)``: the model's loss on ``(x, y)``, and an ``(L, H)`` tensor of how much it
    rises when one head's output is replaced by zeros (just before the output projection W_O)."""
    L, H = model.config.n_layer, model.config.n_head
    hd = model.config.n_embd // H

    def loss_without(layer=None, head=None):
        if layer is None:
            return model(x, y)[1].item()

        def zero_head(module, args):                                 # runs just before c_proj (W_O)
            merged = args[0].clone()                                 # (B, T, C): the heads side by side
            merged[..., head * hd:(head + 1) * hd] = 0
            return (merged,)
        hook = model.blocks[layer].attn.c_proj.register_forward_pre_hook(zero_head)
        try:
            return model(x, y)[1].item()
        finally:
            hook.remove()

    base = loss_without()
    rise = torch.tensor([[loss_without(l, h) - base for h in range(H)] for l in range(L)])
    return base, rise


@torch.no_grad()
def head_statistics(model, tok, x: torch.Tensor, y: torch.Tensor, start: int = 16) -> tuple[dict, float]:
    """Every head's patterns (:func:`map_statistics`) and loss rise (``"loss +"``) on windows
    ``x`` with next characters ``y``, both ``(N, T)``. Returns ``(stats, loss)``."""
    was_training = model.training
    model.eval()
    try:
        maps = model.attention_maps(x)                               # (L, N, H, T, T)
        chars = [tok.decode([i]) for i in range(tok.vocab_size)]
        stats = map_statistics(maps, x, chars, start)
        loss, stats["loss +"] = head_ablation_losses(model, x, y)
    finally:
        model.train(was_training)
    return stats, loss


def format_head_table(stats: dict) -> str:
    """One line per head: layer, head, then every statistic (``loss +`` last if present).

    >>> print(format_head_table({"previous": torch.tensor([[0.5]]), "distance": torch.tensor([[2.0]])}))
    layer head  previous  distance
        0    0      0.50      2.00
    """
    keys = list(stats)
    first = next(iter(stats.values()))
    L, H = first.shape
    widths = [max(8, len(k)) for k in keys]
    lines = ["layer head  " + "  ".join(f"{k:>{w}s}" for k, w in zip(keys, widths))]
    for l in range(L):
        for h in range(H):
            cells = [f"{float(stats[k][l, h]):{w}.{3 if k == 'loss +' else 2}f}" for k, w in zip(keys, widths)]
            lines.append(f"{l:5d} {h:4d}  " + "  ".join(cells))
    return "\n".join(lines)


@torch.no_grad()
def qkv_of_layer(model, idx: torch.Tensor, layer: int) -> list[torch.Tensor]:
    """Queries, keys and values of every head of block ``layer`` for token ids ``idx (B, T)``,
    each ``(B, H, T, hd)``: the residual stream entering the block, layer-normalised, through the
    block's fused projection ``c_attn``, cut into ``[Q | K | V]`` and into heads."""
    C, H = model.config.n_embd, model.config.n_head
    h = model.embed(idx)                                             # (B, T, C)
    for blk in model.blocks[:layer]:
        h = blk(h)
    blk = model.blocks[layer]
    q, k, v = blk.attn.c_attn(blk.ln_1(h)).split(C, dim=-1)          # each (B, T, C)
    return [split_heads(t, H) for t in (q, k, v)]


def causal_weights(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """A GPT's attention weights from queries and keys ``(..., T, d)``: scaled scores, the future
    masked out (lesson 10), softmax over the keys. Returns ``(..., T, T)``.

    >>> causal_weights(torch.zeros(3, 2), torch.zeros(3, 2))
    tensor([[1.0000, 0.0000, 0.0000],
            [0.5000, 0.5000, 0.0000],
            [0.3333, 0.3333, 0.3333]])
    """
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])       # (..., T, T)
    return softmax(scores.masked_fill(~causal_mask(T, device=q.device), float("-inf")), dim=-1)
