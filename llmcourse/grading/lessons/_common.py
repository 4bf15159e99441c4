"""Helpers shared by lesson grader modules (not itself a lesson: only ``lNN.py`` files register
exercises).

:func:`scaled` is :func:`~llmcourse.grading.close` with the absolute tolerance measured in units of
the expected output's largest entry, for outputs whose size varies with the inputs (scores of
inputs on a scale of 8, logits of a trained model): float32 rounding grows with the values, so a
correct formula written another way (``einsum`` for ``@``, ``exp(x - logsumexp(x))`` for softmax)
differs from the reference by more than a fixed 1e-5 when the values are large.

>>> import torch
>>> scaled(atol=1e-5)(torch.tensor([1000.0 + 5e-3]), torch.tensor([1000.0])) is None
True
>>> scaled(atol=1e-5)(torch.tensor([1.0 + 5e-3]), torch.tensor([1.0])) is None
False
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from llmcourse.grading import close
from llmcourse.model import GPTConfig


def largest(value) -> float:
    """The largest finite absolute value among the floats in ``value`` (tensors, numbers, nested
    tuples, lists and dict values); 0 if there are none."""
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point() or value.numel() == 0:
            return 0.0
        finite = value.detach().abs().to(torch.float64)
        finite = finite[torch.isfinite(finite)]
        return float(finite.max()) if finite.numel() else 0.0
    if isinstance(value, float):
        return abs(value) if math.isfinite(value) else 0.0
    if isinstance(value, (tuple, list)):
        return max((largest(v) for v in value), default=0.0)
    if isinstance(value, dict):
        return max((largest(v) for v in value.values()), default=0.0)
    return 0.0


def scaled(atol: float = 1e-5, rtol: float = 1e-5):
    """``close(atol=atol * max(1, largest(want)), rtol=rtol)``: errors are judged against the size
    of the expected values, never tighter than ``close(atol, rtol)``."""

    def compare(got, want):
        return close(atol=atol * max(1.0, largest(want)), rtol=rtol)(got, want)

    return compare


class WindowSumModel(nn.Module):
    """A stand-in language model whose prediction depends on every token it sees: after the
    tokens ``x_0 .. x_t`` it predicts ``(x_0 + ... + x_t) mod vocab_size``. Like a GPT it has a
    ``config`` with ``vocab_size`` and ``block_size`` and refuses longer inputs."""

    def __init__(self, vocab_size: int = 7, block_size: int = 4):
        super().__init__()
        self.config = GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=1, n_head=1, n_embd=1)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        V, T = self.config.vocab_size, idx.shape[1]
        if T > self.config.block_size:
            raise ValueError(f"sequence of length {T} exceeds block_size={self.config.block_size}. "
                             f"Crop the context: idx[:, -{self.config.block_size}:].")
        nxt = idx.long().cumsum(dim=1) % V  # (B, T): the prediction after each prefix
        return 5.0 * nn.functional.one_hot(nxt, V).float()  # (B, T, V) logits
