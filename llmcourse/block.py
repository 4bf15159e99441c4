"""The transformer block: attention and MLP, each wrapped in a residual connection (lessons 14-15).

Pre-LN (GPT-2 and this package's default) normalises *inside* each branch::

    x = x + attn(ln_1(x))
    x = x + mlp(ln_2(x))

Post-LN (the 2017 paper, and the article's "Add & LayerNorm" diagram) normalises *after* the sum::

    x = ln_1(x + attn(x))
    x = ln_2(x + mlp(x))

>>> import torch
>>> blk = TransformerBlock(n_embd=8, n_head=2)
>>> blk(torch.randn(1, 4, 8)).shape
torch.Size([1, 4, 8])
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .attention import LayerKVCache, MultiHeadAttention
from .config import GPTConfig, as_config
from .feedforward import MLP
from .norm import make_norm


class TransformerBlock(nn.Module):
    """Lesson 15: one GPT block, built from the model's :class:`GPTConfig` (or from sizes:
    ``TransformerBlock(n_embd, n_head, norm_position="post")``). ``norm_position`` is ``"pre"``
    (default) or ``"post"``."""

    def __init__(self, config: GPTConfig | int | None = None, n_head: int | None = None, **options):
        super().__init__()
        c = as_config(config, n_head, **options)
        self.norm_position = c.norm_position
        self.ln_1 = make_norm(c)
        self.attn = MultiHeadAttention(c)
        self.ln_2 = make_norm(c)
        self.mlp = MLP(c)

    def forward(self, x: torch.Tensor, kv_cache: LayerKVCache | None = None) -> torch.Tensor:
        if self.norm_position == "pre":
            x = x + self.attn(self.ln_1(x), kv_cache=kv_cache)  # residual around attention
            x = x + self.mlp(self.ln_2(x))  # residual around the MLP
        else:
            x = self.ln_1(x + self.attn(x, kv_cache=kv_cache))
            x = self.ln_2(x + self.mlp(x))
        return x


def layer_grad_norms(layers, x: torch.Tensor, loss_fn=None) -> torch.Tensor:
    """Lesson 14: how much gradient reaches each layer of a stack.

    Applies ``layers`` to ``x`` in order, backpropagates ``loss_fn(out)`` (default ``out.sum()``,
    whose gradient with respect to the output is all ones, so any change in size from layer to
    layer comes from the layers themselves) and returns one number per layer, the norm of the
    gradient over all of that layer's parameters, ``sqrt(sum of grad**2)``, as a float64 tensor of
    shape ``(len(layers),)``. Gradients left over from an earlier backward are cleared first; the
    fresh ones stay in ``.grad`` afterwards. A layer without parameters (or without gradient)
    gets 0.

    Two scalar layers ``w1 = 2`` and ``w2 = 3`` on ``x = 1``: ``out = w2 * w1 * x``, so
    ``d out / d w1 = w2 * x = 3`` and ``d out / d w2 = w1 * x = 2``:

    >>> import torch.nn as nn
    >>> layers = [nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)]
    >>> with torch.no_grad():
    ...     _ = layers[0].weight.fill_(2.0), layers[1].weight.fill_(3.0)
    >>> layer_grad_norms(layers, torch.ones(1, 1))
    tensor([3., 2.], dtype=torch.float64)
    """
    layers = list(layers)
    if not layers:
        raise ValueError("layer_grad_norms needs at least one layer, got an empty list.")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor (the input of the first layer), got {type(x).__name__}.")
    for layer in layers:
        for p in layer.parameters():
            p.grad = None  # clear gradients of an earlier backward: .backward() adds to .grad
    out = x
    for layer in layers:
        out = layer(out)
    loss = out.sum() if loss_fn is None else loss_fn(out)
    loss.backward()
    norms = []
    for layer in layers:
        sq = sum((p.grad.double() ** 2).sum() for p in layer.parameters() if p.grad is not None)
        norms.append(float(sq) ** 0.5)
    return torch.tensor(norms, dtype=torch.float64)
