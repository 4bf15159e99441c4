"""Lesson 11 (Attention Scores and Softmax) exercises.

11.1 ``stable_softmax(x, dim=-1)``: softmax along any dimension, safe for huge and tiny scores.
11.2 ``attention_entropy(weights)``: the entropy (nats) of each attention row, with 0 log 0 = 0.
11.3 ``softmax_backward(weights, grad_weights)``: the gradient of a loss with respect to the
     scores, given the softmax output and the gradient with respect to it (why saturated rows
     stop learning).

The seed's scaled scores (three tokens, ``d_k = 4``) are the visible cases:

>>> stable_softmax(SEED_SCORES).round(decimals=2)
tensor([[0.2700, 0.2700, 0.4500],
        [0.3800, 0.3800, 0.2300],
        [0.5100, 0.1900, 0.3100]])
>>> attention_entropy(torch.tensor([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])).abs()   # ln 2 and 0
tensor([0.6931, 0.0000])
>>> softmax_backward(torch.tensor([[1.0, 0.0]]), torch.tensor([[3.0, -2.0]])).abs()   # saturated
tensor([[0., 0.]])
"""

from __future__ import annotations

import torch

from llmcourse import attention, sampling
from llmcourse.grading import Case, Mistake, close, exercise
from llmcourse.grading.registry import Alternative

#: The seed's scaled scores Q K^T / sqrt(4) for "The cat sat".
SEED_SCORES = torch.tensor([[0.5, 0.5, 1.0], [0.5, 0.5, 0.0], [1.0, 0.0, 0.5]])
NEG_INF = float("-inf")


# --- 11.1 stable softmax along any dimension --------------------------------------------------
def stable_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Reference: ``llmcourse.attention.softmax`` (subtract the maximum along ``dim``)."""
    return attention.softmax(x, dim=dim)


def _softmax_cases(r):
    T = r.integer(3, 6)
    Tk = T + r.integer(1, 3)  # non-square, so a missing keepdim raises instead of broadcasting
    ramp = torch.linspace(-80, 80, T).unsqueeze(1)  # (T, 1): rows far apart
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    return [
        Case(r.randn(T, Tk, scale=2.0)).named(f"random scores ({T} x {Tk})"),
        Case(r.randn(2, T, Tk), dim=-1).named("a batch of score matrices, dim=-1"),
        Case(r.randn(T, Tk, scale=3.0), dim=0).named("softmax down the columns, dim=0"),
        Case(r.randn(T, Tk, scale=10.0) + 1000.0).named("huge scores (about 1000)"),
        Case(r.randn(T, Tk) - 1000.0).named("very negative scores (about -1000)"),
        Case(r.randn(T, Tk) + ramp).named("rows on very different scales (-80 .. 80)"),
        Case(r.randn(T, T).masked_fill(~causal, NEG_INF)).named("masked scores with -inf (causal)"),
        Case(r.randn(T, Tk, dtype=torch.float64)).named("float64 scores"),
        Case(r.randn(1, Tk, scale=3.0)).named("a single row (1, T)"),
        Case(r.randn(T, 1), dim=-1).named("a single key: every weight is 1"),
    ]


def _naive(x, dim=-1):
    e = torch.exp(x)
    return e / e.sum(dim=dim, keepdim=True)


def _global_max(x, dim=-1):
    e = torch.exp(x - x.max())  # one maximum for the whole tensor
    return e / e.sum(dim=dim, keepdim=True)


def _no_keepdim(x, dim=-1):
    m = x.amax(dim=dim)  # (..., ) without keepdim: broadcasts along the wrong axis
    e = torch.exp(x - m)
    return e / e.sum(dim=dim, keepdim=True)


exercise(
    "11.1", "Numerically stable softmax", points=1,
    reference=stable_softmax,
    visible=[Case(SEED_SCORES).named("the seed's scaled scores [[0.5, 0.5, 1.0], ...]"),
             Case(torch.tensor([[1000.0, 999.0, 998.0]])).named("scores around 1000")],
    hidden=_softmax_cases,
    compare=close(atol=1e-6, rtol=3e-4),  # exp(x - c) for scores near 1000 is good to ~1e-4 in float32
    hint="m = x.amax(dim=dim, keepdim=True); e = torch.exp(x - m); return e / e.sum(dim=dim, keepdim=True).",
    mistakes=[
        Mistake("no max subtraction", _naive,
                hint="exp(1000) overflows to inf in float32 (the limit is about exp(88.7)), and inf/inf "
                     "is nan. Subtract the maximum along dim before exp(): it cancels in the ratio."),
        Mistake("maximum without keepdim", _no_keepdim,
                hint="x.amax(dim=dim) drops the dimension, so x - m broadcasts along the wrong axis "
                     "(for a square matrix it silently subtracts a different number in each column). "
                     "Use x.amax(dim=dim, keepdim=True)."),
        Mistake("one maximum for the whole tensor", _global_max,
                hint="Subtract the maximum of each row (along dim), not of the whole tensor: a row far "
                     "below the global maximum underflows to 0/0 = nan."),
        Mistake("always over the last dimension", lambda x, dim=-1: attention.softmax(x, dim=-1),
                hint="Use the dim argument for the maximum and for the sum; with dim=0 each column "
                     "must sum to 1."),
        Mistake("normalised by the total of the whole tensor",
                lambda x, dim=-1: torch.exp(x - x.amax(dim=dim, keepdim=True))
                / torch.exp(x - x.amax(dim=dim, keepdim=True)).sum(),
                hint="Divide by the sum along dim (sum(dim=dim, keepdim=True)), not by the sum of "
                     "every entry."),
    ],
    alternatives=[Alternative("exp(x - logsumexp(x))", lambda x, dim=-1: torch.exp(x - torch.logsumexp(x, dim=dim, keepdim=True))),
                  Alternative("torch.softmax", lambda x, dim=-1: torch.softmax(x, dim=dim)),
                  Alternative("max(...).values, then divide", lambda x, dim=-1: (lambda e: e / e.sum(dim, keepdim=True))(
                      torch.exp(x - x.max(dim=dim, keepdim=True).values)))],
)


# --- 11.2 entropy of attention rows -----------------------------------------------------------
def attention_entropy(weights: torch.Tensor) -> torch.Tensor:
    """Reference: ``llmcourse.sampling.entropy``: ``-sum_j w_j ln w_j`` over the last dimension,
    with ``0 ln 0 = 0``."""
    return sampling.entropy(weights)


def _rows(r, *shape):
    return attention.softmax(r.randn(*shape, scale=2.0), dim=-1)


def _entropy_cases(r):
    T = r.integer(3, 7)
    causal = attention.softmax(r.randn(T, T).masked_fill(~attention.causal_mask(T), NEG_INF), dim=-1)
    onehot = torch.eye(T)[torch.randint(0, T, (3,), generator=r.generator)]  # (3, T)
    return [
        Case(_rows(r, T, T + 2)).named("random attention rows"),
        Case(causal).named("causal attention rows (exact zeros in the future)"),
        Case(_rows(r, 2, 3, T, T)).named("a batch of heads (B, n_head, T, T)"),
        Case(torch.full((2, T), 1.0 / T)).named(f"uniform rows over {T} keys (entropy ln {T})"),
        Case(onehot).named("one-hot rows (entropy 0)"),
    ]


def _nan_for_zero(w):
    return -(w * w.log()).sum(dim=-1)  # 0 * log 0 = 0 * -inf = nan


def _has_nan(got, want, case):
    return isinstance(got, torch.Tensor) and got.is_floating_point() and bool(got.isnan().any()) \
        and not bool(want.isnan().any())


exercise(
    "11.2", "Entropy of attention rows", points=1,
    reference=attention_entropy,
    visible=[Case(attention.softmax(SEED_SCORES, dim=-1)).named("the seed's attention weights")],
    hidden=_entropy_cases,
    compare=close(atol=1e-5, rtol=1e-5),
    hint="H = -sum_j w_j * ln(w_j) over the last dimension, with the terms where w_j = 0 counted as 0: "
         "torch.where(w > 0, w * w.log(), 0).",
    mistakes=[
        Mistake("0 * log 0 gives nan", _nan_for_zero, detect=_has_nan,
                hint="log(0) = -inf and 0 * -inf = nan. Count the terms with w = 0 as 0, e.g. "
                     "torch.where(w > 0, w * torch.log(w), torch.zeros_like(w))."),
        Mistake("log base 2 (bits)", lambda w: sampling.entropy(w) / torch.log(torch.tensor(2.0)),
                hint="Use the natural logarithm (torch.log): the course measures entropy in nats, "
                     "so a uniform row over T keys has entropy ln T."),
        Mistake("missing minus sign", lambda w: -sampling.entropy(w),
                hint="Entropy is -sum w ln w: ln w <= 0, so the minus sign makes it >= 0."),
        Mistake("summed over the queries", lambda w: sampling.entropy(w.transpose(-2, -1)),
                hint="Each row (one query's weights over the keys) has its own entropy: sum over the "
                     "last dimension, dim=-1, and return shape weights.shape[:-1]."),
        Mistake("mean instead of sum over the keys",
                lambda w: sampling.entropy(w) / w.shape[-1],
                hint="Sum the terms -w_j ln w_j over the keys; do not average them."),
    ],
    alternatives=[Alternative("torch.special.xlogy", lambda w: -torch.special.xlogy(w, w).sum(dim=-1)),
                  Alternative("where(w > 0, w log w, 0)", lambda w: -torch.where(w > 0, w * w.log(), torch.zeros_like(w)).sum(-1)),
                  Alternative("log of clamped weights", lambda w: -(w * w.clamp_min(1e-30).log()).sum(-1))],
)


# --- 11.3 the gradient of the softmax ---------------------------------------------------------
def softmax_backward(weights: torch.Tensor, grad_weights: torch.Tensor) -> torch.Tensor:
    """Reference: ``dL/ds_j = w_j (g_j - sum_k g_k w_k)`` over the last dimension, where
    ``w = softmax(s)`` and ``g = dL/dw``."""
    inner = (grad_weights * weights).sum(dim=-1, keepdim=True)  # (..., T_q, 1)
    return weights * (grad_weights - inner)  # (..., T_q, T_k)


def _backward_cases(r):
    T = r.integer(3, 6)
    Tk = T + r.integer(1, 2)
    causal = attention.softmax(r.randn(T, T).masked_fill(~attention.causal_mask(T), NEG_INF), dim=-1)
    sharp = attention.softmax(r.randn(T, Tk, scale=30.0), dim=-1)
    return [
        Case(_rows(r, T, Tk), r.randn(T, Tk)).named(f"random weights ({T} x {Tk}) and upstream gradient"),
        Case(_rows(r, 2, 2, T, Tk), r.randn(2, 2, T, Tk)).named("batch and head dimensions"),
        Case(causal, r.randn(T, T)).named("causal weights with exact zeros"),
        Case(sharp, r.randn(T, Tk)).named("nearly one-hot (saturated) rows"),
        Case(torch.full((T, Tk), 1.0 / Tk), r.randn(T, Tk)).named("uniform rows"),
        Case(torch.ones(T, 1), r.randn(T, 1)).named("a single key (weight 1, gradient 0)"),
    ]


def _jacobian(w, g):
    J = torch.diag_embed(w) - w.unsqueeze(-1) * w.unsqueeze(-2)  # (..., T_k, T_k), symmetric
    return torch.einsum("...ij,...j->...i", J, g)


exercise(
    "11.3", "The gradient of the softmax", points=2,
    reference=softmax_backward,
    visible=[Case(attention.softmax(SEED_SCORES, dim=-1), torch.tensor([[1.0, 0.0, 0.0]] * 3))
             .named("the seed's weights, loss = sum of the first column")],
    hidden=_backward_cases,
    compare=close(atol=1e-6, rtol=1e-5),
    hint="For each row: grad_s = w * (g - (g * w).sum(dim=-1, keepdim=True)). This is the row "
         "vector g times the Jacobian diag(w) - w w^T.",
    mistakes=[
        Mistake("only the diagonal of the Jacobian", lambda w, g: w * g,
                hint="Every weight depends on every score (they share the denominator): subtract the "
                     "weighted mean of g, grad_s = w * (g - (g * w).sum(-1, keepdim=True))."),
        Mistake("plain mean instead of the weighted mean",
                lambda w, g: w * (g - g.mean(dim=-1, keepdim=True)),
                hint="The term to subtract is sum_k g_k w_k, weighted by the softmax output, not the "
                     "plain average of g."),
        Mistake("sign flipped", lambda w, g: -softmax_backward(w, g),
                hint="dw_i/ds_i = w_i (1 - w_i) > 0: raising a score raises its own weight. Check the "
                     "sign: grad_s = w * (g - sum(g * w))."),
        Mistake("sum over the queries",
                lambda w, g: w * (g - (g * w).sum(dim=-2, keepdim=True)),
                hint="The sum runs over the keys of one row (dim=-1), where the softmax normalised."),
        Mistake("sum without keepdim", lambda w, g: w * (g - (g * w).sum(dim=-1)),
                hint="(g * w).sum(dim=-1) drops the last dimension, so subtracting it broadcasts along "
                     "the wrong axis (silently, for a square matrix). Use sum(dim=-1, keepdim=True)."),
    ],
    alternatives=[Alternative("the full Jacobian diag(w) - w w^T", _jacobian)],
)
