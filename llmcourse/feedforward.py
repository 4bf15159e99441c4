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

from ._checks import check_last_dim


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
    """Lesson 13: :func:`gelu` as a module."""

    def __init__(self, approximate: str = "tanh"):
        super().__init__()
        gelu(torch.zeros(1), approximate)  # validate early
        self.approximate = approximate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class MLP(nn.Module):
    """Lesson 13: expand to ``hidden`` (default ``4 * n_embd``), GELU, project back, dropout.

    >>> mlp = MLP(n_embd=8)
    >>> mlp(torch.randn(2, 3, 8)).shape          # applied to every position on its own
    torch.Size([2, 3, 8])
    >>> sum(p.numel() for p in mlp.parameters())  # 8*32 + 32 + 32*8 + 8
    552
    """

    def __init__(self, n_embd: int, hidden: int | None = None, bias: bool = True,
                 dropout: float = 0.0, activation: str = "gelu_tanh"):
        super().__init__()
        hidden = 4 * n_embd if hidden is None else hidden
        self.n_embd = n_embd
        self.c_fc = nn.Linear(n_embd, hidden, bias=bias)
        acts = {"gelu_tanh": lambda: GELU("tanh"), "gelu": lambda: GELU("none"), "relu": nn.ReLU}
        if activation not in acts:
            raise ValueError(f"activation must be one of {sorted(acts)}, got {activation!r}.")
        self.act = acts[activation]()
        self.c_proj = nn.Linear(hidden, n_embd, bias=bias)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_last_dim(x, self.n_embd)
        return self.drop(self.c_proj(self.act(self.c_fc(x))))  # (B, T, C) -> (B, T, 4C) -> (B, T, C)
