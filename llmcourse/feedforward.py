"""The position-wise feed-forward network and its GELU (lesson 13).

``MLP(x) = W2 · GELU(W1 · x + b1) + b2`` with a hidden width of ``4 * n_embd``. GPT-2 uses the
tanh approximation of GELU; the exact form uses the Gaussian CDF.

>>> import torch
>>> gelu(torch.tensor([-1.0, 0.0, 1.0]), approximate="none")
tensor([-0.1587,  0.0000,  0.8413])
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._checks import check_last_dim
from .config import GPTConfig, as_config


def gelu(x: torch.Tensor, approximate: str = "tanh") -> torch.Tensor:
    """Lesson 13: GELU by hand. ``"none"``: ``x * Phi(x)``; ``"tanh"``: GPT-2's approximation
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.

    >>> gelu(torch.tensor([1.0]), approximate="tanh")
    tensor([0.8412])
    """
    if approximate == "none":
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    if approximate == "tanh":
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))
    raise ValueError(f"approximate must be 'tanh' or 'none', got {approximate!r}.")


class GELU(nn.Module):
    """Lesson 13: :func:`gelu` as a module. ``fused=True`` computes the same function with
    PyTorch's single kernel ``F.gelu`` instead of the formula's six elementwise ops."""

    def __init__(self, approximate: str = "tanh", fused: bool = False):
        super().__init__()
        gelu(torch.zeros(1), approximate)  # validate early
        self.approximate, self.fused = approximate, fused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return F.gelu(x, approximate=self.approximate)
        return gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}" + (", fused" if self.fused else "")


class MLP(nn.Module):
    """Lesson 13: expand to ``hidden`` (default ``4 * n_embd``), GELU, project back, dropout.

    >>> mlp = MLP(n_embd=8)
    >>> mlp(torch.randn(2, 3, 8)).shape          # applied to every position on its own
    torch.Size([2, 3, 8])
    >>> sum(p.numel() for p in mlp.parameters())  # 8*32 + 32 + 32*8 + 8
    552

    Inside a GPT it is built from the model's config, ``MLP(config)``: it reads ``n_embd``,
    ``bias``, ``dropout``, ``activation`` and ``fused_kernels`` (for its GELU).
    """

    def __init__(self, config: GPTConfig | int | None = None, hidden: int | None = None, **options):
        super().__init__()
        c = as_config(config, **options)
        hidden = 4 * c.n_embd if hidden is None else hidden
        self.n_embd = c.n_embd
        self.c_fc = nn.Linear(c.n_embd, hidden, bias=c.bias)
        if c.activation == "relu":
            self.act = nn.ReLU()
        else:
            self.act = GELU("tanh" if c.activation == "gelu_tanh" else "none", fused=c.fused_kernels)
        self.c_proj = nn.Linear(hidden, c.n_embd, bias=c.bias)
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_last_dim(x, self.n_embd)
        return self.drop(self.c_proj(self.act(self.c_fc(x))))  # (B, T, C) -> (B, T, 4C) -> (B, T, C)
