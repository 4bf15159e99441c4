"""Layer normalisation and RMS normalisation, written out (lesson 6).

LayerNorm standardises each vector over its features, then rescales:
``y = (x - mean) / sqrt(var + eps) * weight + bias`` with the biased variance (divide by n).

>>> import torch
>>> ln = LayerNorm(4)
>>> ln(torch.tensor([[1.0, 2.0, 3.0, 4.0]]))
tensor([[-1.3416, -0.4472,  0.4472,  1.3416]], grad_fn=<AddBackward0>)
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ._checks import check_last_dim


def layer_norm(x: torch.Tensor, weight: torch.Tensor | None = None, bias: torch.Tensor | None = None,
               eps: float = 1e-5) -> torch.Tensor:
    """Lesson 6: layer norm over the last dimension, by hand (no ``F.layer_norm``).

    >>> layer_norm(torch.tensor([2.0, 4.0, 6.0]))
    tensor([-1.2247,  0.0000,  1.2247])
    """
    mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # (..., 1) biased: divide by n, not n-1
    y = (x - mean) * torch.rsqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def rms_norm(x: torch.Tensor, weight: torch.Tensor | None = None, eps: float = 1e-6) -> torch.Tensor:
    """Lesson 6: RMSNorm, ``x / sqrt(mean(x**2) + eps) * weight``: no centring, no bias.

    >>> rms_norm(torch.tensor([3.0, 4.0]))      # rms = sqrt((9 + 16) / 2) = 3.5355
    tensor([0.8485, 1.1314])
    """
    y = x * torch.rsqrt((x * x).mean(dim=-1, keepdim=True) + eps)  # (..., C)
    return y * weight if weight is not None else y


class LayerNorm(nn.Module):
    """Lesson 6: ``nn.LayerNorm``'s maths as a readable module; ``bias=False`` drops the shift."""

    def __init__(self, n_embd: int, eps: float = 1e-5, bias: bool = True):
        super().__init__()
        self.n_embd, self.eps = n_embd, eps
        self.weight = nn.Parameter(torch.ones(n_embd))
        self.bias = nn.Parameter(torch.zeros(n_embd)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_last_dim(x, self.n_embd)
        return layer_norm(x, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.n_embd}, eps={self.eps}, bias={self.bias is not None}"


class RMSNorm(nn.Module):
    """Lesson 6: root-mean-square norm (Llama, T5); cheaper than LayerNorm, often just as good."""

    def __init__(self, n_embd: int, eps: float = 1e-6):
        super().__init__()
        self.n_embd, self.eps = n_embd, eps
        self.weight = nn.Parameter(torch.ones(n_embd))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_last_dim(x, self.n_embd)
        return rms_norm(x, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.n_embd}, eps={self.eps}"
