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
import torch.nn.functional as F

from ._checks import check_last_dim
from .config import GPTConfig


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
    """Lesson 6: ``nn.LayerNorm``'s maths as a readable module; ``bias=False`` drops the shift.

    ``fused=True`` computes the same function with PyTorch's fused kernel ``F.layer_norm`` (one
    pass over the data instead of five elementwise ops); the trainer uses it.
    """

    def __init__(self, n_embd: int, eps: float = 1e-5, bias: bool = True, fused: bool = False):
        super().__init__()
        self.n_embd, self.eps, self.fused = n_embd, eps, fused
        self.weight = nn.Parameter(torch.ones(n_embd))
        self.bias = nn.Parameter(torch.zeros(n_embd)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_last_dim(x, self.n_embd)
        if self.fused:
            return F.layer_norm(x, (self.n_embd,), self.weight, self.bias, self.eps)
        return layer_norm(x, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.n_embd}, eps={self.eps}, bias={self.bias is not None}" + (", fused" if self.fused else "")


class RMSNorm(nn.Module):
    """Lesson 6: root-mean-square norm (Llama, T5); cheaper than LayerNorm, often just as good.

    ``fused=True`` uses PyTorch's ``F.rms_norm`` (torch >= 2.4; older versions keep the readable
    form, which computes the same numbers).
    """

    def __init__(self, n_embd: int, eps: float = 1e-6, fused: bool = False):
        super().__init__()
        self.n_embd, self.eps = n_embd, eps
        self.fused = fused and hasattr(F, "rms_norm")
        self.weight = nn.Parameter(torch.ones(n_embd))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_last_dim(x, self.n_embd)
        if self.fused:
            return F.rms_norm(x, (self.n_embd,), self.weight, self.eps)
        return rms_norm(x, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.n_embd}, eps={self.eps}" + (", fused" if self.fused else "")


def make_norm(config: GPTConfig) -> nn.Module:
    """Lesson 6: the norm a model's config asks for: ``norm="layer"`` gives :class:`LayerNorm`,
    ``"rms"`` gives :class:`RMSNorm`, each with the config's ``ln_eps``, ``bias`` (LayerNorm only)
    and ``fused_kernels``.

    >>> make_norm(GPTConfig(n_embd=8, n_head=2, norm="rms"))
    RMSNorm(8, eps=1e-05)
    """
    if config.norm == "rms":
        return RMSNorm(config.n_embd, eps=config.ln_eps, fused=config.fused_kernels)
    return LayerNorm(config.n_embd, eps=config.ln_eps, bias=config.bias, fused=config.fused_kernels)
