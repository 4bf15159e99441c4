"""Lesson 6 (Layer Normalization) exercises.

06.1 ``layer_norm(x, weight, bias, eps=1e-5)`` (find the bug): normalise every vector over its last dimension
     (mean, *biased* variance, eps inside the square root), then scale by ``weight`` and shift by
     ``bias``.
06.2 ``rms_norm(x, weight, eps=1e-6)`` (transfer): divide by the root mean square, then scale; no centring,
     no bias.
06.3 (predict) the value of a spike after LayerNorm: ``[0, 0, 0, 10]`` becomes
     ``[-0.58, -0.58, -0.58, 1.73]``, the spike sqrt(d - 1) whatever its size (as long as
     its variance is far above eps).

The article's embedding of "The" (its first three numbers), normalised:

>>> import torch
>>> x = torch.tensor([0.12, -0.50, 0.33])
>>> layer_norm(x, torch.ones(3), torch.zeros(3)).round(decimals=4)
tensor([ 0.3878, -1.3717,  0.9838])
"""

from __future__ import annotations

import torch

from llmcourse import norm as _norm
from llmcourse.grading import Case, Mistake, close, exercise
from llmcourse.grading.registry import Alternative

#: The article's embeddings of "The", "cat", "sat" (the first three numbers of each), one row each.
ARTICLE_X = torch.tensor([[0.12, -0.50, 0.33],
                       [0.78, 0.30, -0.12],
                       [0.45, -0.10, 0.67]])


# --- 06.1 layer norm ------------------------------------------------------------------------------
def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Reference: ``llmcourse.norm.layer_norm`` (over the last dimension, biased variance)."""
    return _norm.layer_norm(x, weight, bias, eps)


def _affine(r, C):
    """A random gain around 1 and a random shift around 0, as a trained model would have."""
    return 1.0 + 0.5 * r.randn(C), 0.5 * r.randn(C)


def _rows_on_scales(r, n, C, low=-2.0, high=2.0, shift=3.0):
    """n rows of width C, each with its own scale 10^U(low, high) and its own mean (a few times
    the row's scale, so float32 keeps the spread well resolved)."""
    scales = 10 ** (low + (high - low) * r.rand(n, 1))  # (n, 1)
    return (r.randn(n, C) + shift * r.randn(n, 1)) * scales


def _ln_cases(r):
    B, T, C = r.integer(2, 3), r.integer(3, 6), r.integer(4, 12)
    w, b = _affine(r, C)
    tiny = r.randn(T, C, scale=1e-3)  # std about 0.001: eps matters here
    const = torch.full((2, C), 3.0)
    const[1] = -1.5
    return [
        Case(r.randn(B, T, C, scale=3.0) + 2.0, w, b).named("a batch (B, T, C) with random weight and bias"),
        Case(r.randn(T, C, scale=0.5) - 1.0, w, b, eps=1e-3).named("eps=1e-3 passed explicitly"),
        Case(tiny, w, b).named("rows with a tiny spread (std about 0.001)"),
        Case(const, w, b).named("constant rows (variance exactly 0)"),
        Case(_rows_on_scales(r, r.integer(3, 6), C), w, b).named("rows on very different scales and means"),
        Case(r.randn(B, T, C, dtype=torch.float64) * 10, w.double(), b.double()).named("float64 input"),
    ]


def _unbiased(x, weight, bias, eps=1e-5):
    mean = x.mean(-1, keepdim=True)
    var = x.var(-1, keepdim=True)  # divides by n - 1 (torch's default)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def _eps_outside(x, weight, bias, eps=1e-5):
    mean = x.mean(-1, keepdim=True)
    std = x.var(-1, keepdim=True, unbiased=False).sqrt()
    return (x - mean) / (std + eps) * weight + bias


def _no_eps(x, weight, bias, eps=1e-5):
    mean = x.mean(-1, keepdim=True)
    var = x.var(-1, keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var) * weight + bias


def _batch_axis_unbiased(x, weight, bias, eps=1e-5):
    """The given broken code: statistics over the first (batch) axis, and torch.var's n - 1."""
    mean = x.mean(dim=0, keepdim=True)
    var = x.var(dim=0, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def _first_axis(x, weight, bias, eps=1e-5):
    mean = x.mean(0, keepdim=True)
    var = x.var(0, keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def _whole_tensor(x, weight, bias, eps=1e-5):
    mean, var = x.mean(), x.var(unbiased=False)  # one mean and variance for every row together
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def _ln_rsqrt(x, weight, bias, eps=1e-5):
    xc = x - x.mean(dim=-1, keepdim=True)
    return xc * torch.rsqrt(xc.pow(2).mean(dim=-1, keepdim=True) + eps) * weight + bias


exercise(
    "06.1", "Layer norm over the right axis", points=2, kind="find the bug",
    reference=layer_norm, given=_batch_axis_unbiased,
    visible=[Case(ARTICLE_X, torch.ones(3), torch.zeros(3))
             .named("the article's 'The cat sat' (3 dims each), weight 1, bias 0")],
    hidden=_ln_cases,
    compare=close(atol=1e-5, rtol=1e-4),
    hint="mean and variance over the last dimension (dim=-1, keepdim=True), the variance divided "
         "by n; then (x - mean) / sqrt(var + eps) * weight + bias.",
    mistakes=[
        Mistake("unbiased variance (n - 1)", _unbiased,
                hint="Layer norm divides the variance by n, not n - 1. torch.var divides by n - 1 "
                     "unless you pass unbiased=False (or correction=0); or write "
                     "((x - mean) ** 2).mean(dim=-1, keepdim=True)."),
        Mistake("eps added to the standard deviation", _eps_outside,
                hint="eps goes inside the square root: sqrt(var + eps), not sqrt(var) + eps. The two "
                     "differ a lot when a row's spread is small."),
        Mistake("no eps", _no_eps,
                hint="A constant row has variance 0 and 0 / sqrt(0) is nan: add eps inside the "
                     "square root, sqrt(var + eps)."),
        Mistake("normalised over the first axis", _first_axis,
                hint="Each vector (each token) is normalised on its own, over its features: reduce over "
                     "the last dimension, dim=-1, not dim=0 (that mixes different tokens, like BatchNorm)."),
        Mistake("weight and bias swapped", lambda x, weight, bias, eps=1e-5: _norm.layer_norm(x, bias, weight, eps),
                hint="Multiply by weight (the gain, gamma) and add bias (the shift, beta): "
                     "x_hat * weight + bias."),
        Mistake("weight and bias ignored", lambda x, weight, bias, eps=1e-5: _norm.layer_norm(x, eps=eps),
                hint="After normalising, scale by weight and shift by bias: x_hat * weight + bias."),
        Mistake("one mean and variance for the whole tensor", _whole_tensor,
                hint="Normalise each row (each token's vector) on its own: mean and variance over the "
                     "last dimension, dim=-1 with keepdim=True, not over the whole tensor."),
    ],
    alternatives=[Alternative("F.layer_norm", lambda x, weight, bias, eps=1e-5:
                              torch.nn.functional.layer_norm(x, x.shape[-1:], weight, bias, eps)),
                  Alternative("centre, then rsqrt of the mean square", _ln_rsqrt),
                  Alternative("torch.var_mean(unbiased=False)", lambda x, weight, bias, eps=1e-5: (
                      (x - torch.var_mean(x, -1, unbiased=False, keepdim=True)[1])
                      / torch.sqrt(torch.var_mean(x, -1, unbiased=False, keepdim=True)[0] + eps) * weight + bias))],
)


# --- 06.2 RMSNorm -----------------------------------------------------------------------------------
def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Reference: ``llmcourse.norm.rms_norm``: ``x / sqrt(mean(x**2) + eps) * weight``."""
    return _norm.rms_norm(x, weight, eps)


def _rms_cases(r):
    B, T, C = r.integer(2, 3), r.integer(3, 6), r.integer(4, 12)
    w = 1.0 + 0.5 * r.randn(C)
    return [
        Case(r.randn(B, T, C, scale=2.0) + 1.5, w).named("a batch (B, T, C) with a nonzero mean"),
        Case(r.randn(T, C, scale=1e-3), w).named("rows with a tiny scale (about 0.001)"),
        Case(r.randn(T, C) * 5, w, eps=1e-2).named("eps=1e-2 passed explicitly"),
        Case(torch.zeros(2, C), w).named("all-zero rows"),
        Case(_rows_on_scales(r, r.integer(3, 6), C), w).named("rows on very different scales"),
    ]


def _rms_centred(x, weight, eps=1e-6):
    return _norm.rms_norm(x - x.mean(-1, keepdim=True), weight, eps)


def _rms_no_sqrt(x, weight, eps=1e-6):
    return x / ((x * x).mean(-1, keepdim=True) + eps) * weight


def _rms_eps_outside(x, weight, eps=1e-6):
    return x / ((x * x).mean(-1, keepdim=True).sqrt() + eps) * weight


def _rms_sum(x, weight, eps=1e-6):
    return x / torch.sqrt((x * x).sum(-1, keepdim=True) + eps) * weight


def _rms_whole(x, weight, eps=1e-6):
    return x / torch.sqrt((x * x).mean() + eps) * weight  # one rms for every row together


exercise(
    "06.2", "RMSNorm from LayerNorm's pieces", points=1, kind="transfer",
    reference=rms_norm,
    visible=[Case(torch.tensor([3.0, 4.0]), torch.ones(2)).named("[3, 4]: rms = sqrt((9 + 16) / 2)"),
             Case(ARTICLE_X, torch.ones(3)).named("the article's 'The cat sat', weight 1")],
    hidden=_rms_cases,
    compare=close(atol=1e-5, rtol=1e-4),
    hint="rms = sqrt(mean(x**2 over the last dimension) + eps); return x / rms * weight.",
    mistakes=[
        Mistake("mean subtracted (that is layer norm)", _rms_centred,
                hint="RMSNorm does not centre: divide x itself (not x - mean) by the root mean square."),
        Mistake("no square root", _rms_no_sqrt,
                hint="Divide by the ROOT of the mean square: torch.sqrt(mean(x**2) + eps) (or "
                     "multiply by torch.rsqrt(...))."),
        Mistake("eps added after the square root", _rms_eps_outside,
                hint="eps goes inside the square root: sqrt(mean(x**2) + eps)."),
        Mistake("sum instead of mean", _rms_sum,
                hint="Average the squares over the last dimension (.mean(dim=-1, keepdim=True)), "
                     "do not sum them."),
        Mistake("weight ignored", lambda x, weight, eps=1e-6: _norm.rms_norm(x, eps=eps),
                hint="Multiply the normalised vector by weight (the learned gain)."),
        Mistake("one rms for the whole tensor", _rms_whole,
                hint="Each row gets its own root mean square: mean over the last dimension "
                     "(dim=-1, keepdim=True), not over every entry of the tensor."),
    ],
    alternatives=[Alternative("rsqrt of pow(2).mean", lambda x, weight, eps=1e-6:
                              x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight),
                  Alternative("vector_norm / sqrt(C)", lambda x, weight, eps=1e-6:
                              weight * x / torch.sqrt(torch.linalg.vector_norm(x, dim=-1, keepdim=True) ** 2
                                                      / x.shape[-1] + eps))],
)


# --- 06.3 predict: one spike in a row of zeros --------------------------------------------------------
def spike_after_norm() -> float:
    """Reference: ``LayerNorm(4)`` (gain 1, shift 0) applied to ``[0, 0, 0, 10]``; the value where
    the 10 was. Mean 2.5, variance 18.75, so (10 - 2.5) / sqrt(18.75) = sqrt(3), whatever the spike (eps aside)."""
    return _norm.layer_norm(torch.tensor([0.0, 0.0, 0.0, 10.0]))[-1].item()


exercise(
    "06.3", "One spike in a row of zeros", points=1, kind="predict",
    reference=spike_after_norm,
    compare=close(atol=1e-2, rtol=0),
    hint="Work it out: the mean of [0, 0, 0, 10] is 2.5; the variance is the mean of the squared "
         "deviations (divided by 4); the spike becomes (10 - mean) / sqrt(variance).",
    mistakes=[
        Mistake("the spike stays", lambda: 10.0,
                hint="LayerNorm rescales every row to variance 1: a 10 cannot survive."),
        Mistake("the spike becomes 1", lambda: 1.0,
                hint="The row's variance 1 is shared by all four entries: the three zeros move too "
                     "(to -0.58 each), so the spike ends above 1."),
        Mistake("the unbiased variance", lambda: 7.5 / 25 ** 0.5,
                hint="LayerNorm divides the squared deviations by d = 4, not d - 1 = 3."),
    ],
    alternatives=[Alternative("sqrt(d - 1) for d = 4", lambda: 3 ** 0.5)],
)
