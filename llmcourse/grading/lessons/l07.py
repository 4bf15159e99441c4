"""Lesson 7 (Self-Attention Part 1) exercises: the four steps of attention, one at a time.

07.1 ``attention_scores(q, k)``: scaled scores ``q @ k^T / sqrt(d_k)``, shape ``(..., T_q, T_k)``.
07.2 ``attention_weights(scores)``: softmax over the keys (the last dimension), stable for
     large scores.
07.3 ``self_attention(q, k, v)``: ``(out, weights)``, the weighted sum of the values.

The seed's dry run (three tokens, ``d_k = 4``) is the visible case of every exercise:

>>> import torch
>>> attention_scores(DRY_Q, DRY_K)
tensor([[0.5000, 0.5000, 1.0000],
        [0.5000, 0.5000, 0.0000],
        [1.0000, 0.0000, 0.5000]])
>>> self_attention(DRY_Q, DRY_K, DRY_V)[0][0].round(decimals=4)
tensor([0.7259, 0.7259, 0.2741, 0.2741])
"""

from __future__ import annotations

import math

import torch

from llmcourse import attention
from llmcourse.grading import Case, Mistake, close, exercise
from llmcourse.grading.lessons._common import scaled
from llmcourse.grading.registry import Alternative

#: The seed's dry run: "The", "cat", "sat" with d_k = 4.
DRY_Q = torch.tensor([[1.0, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]])
DRY_K = torch.tensor([[1.0, 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0]])
DRY_V = torch.tensor([[1.0, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]])


# --- 07.1 scaled scores -----------------------------------------------------------------------
def attention_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Reference: ``q @ k^T / sqrt(d_k)`` with ``d_k = q.shape[-1]``."""
    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T_q, T_k)


def _qk_cases(r):
    """Shapes chosen so that every planted bug is visible: T_q != T_k != d_k, batches, 1 query."""
    d = r.choice([6, 8, 16])
    Tq, Tk = r.integer(2, 4), r.integer(5, 9)
    B = r.integer(2, 3)
    return [
        Case(r.randn(Tq, d), r.randn(Tk, d)).named(f"{Tq} queries, {Tk} keys, d_k={d}"),
        Case(r.randn(B, Tk, d), r.randn(B, Tk, d)).named("a batch of sequences (B, T, d_k)"),
        Case(r.randn(B, 2, Tq, d), r.randn(B, 2, Tk, d)).named("batch and head dimensions (B, h, T, d_k)"),
        Case(r.randn(1, d), r.randn(Tk, d)).named("a single query"),
        Case(r.randn(B, Tq, d, scale=8.0), r.randn(B, Tk, d, scale=8.0)).named("large inputs (entries around 8)"),
        Case(r.randn(B, Tq, 1), r.randn(B, Tk, 1)).named("d_k = 1"),
    ]


exercise(
    "07.1", "Scaled attention scores", points=1,
    reference=attention_scores,
    visible=[Case(DRY_Q, DRY_K).named("the seed's dry run: The, cat, sat with d_k = 4")],
    hidden=_qk_cases,
    compare=scaled(atol=1e-5, rtol=1e-5),
    hint="scores[..., i, j] = q_i . k_j / sqrt(d_k): q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]). "
         "(k.T reverses all dimensions of a batched tensor; transpose(-2, -1) swaps only the last two.)",
    mistakes=[
        Mistake("not scaled", lambda q, k: q @ k.transpose(-2, -1),
                hint="Divide the dot products by sqrt(d_k), where d_k = q.shape[-1] (2 in the dry run)."),
        Mistake("divided by d_k instead of sqrt(d_k)", lambda q, k: q @ k.transpose(-2, -1) / q.shape[-1],
                hint="The scale is the square root of d_k: math.sqrt(q.shape[-1]), not q.shape[-1]."),
        Mistake("scaled by sqrt(number of keys)",
                lambda q, k: q @ k.transpose(-2, -1) / math.sqrt(k.shape[-2]),
                hint="d_k is the size of each query/key vector, q.shape[-1], not the number of tokens "
                     "(shape[-2])."),
        Mistake("keys times queries (transposed)",
                lambda q, k: k @ q.transpose(-2, -1) / math.sqrt(q.shape[-1]),
                hint="Row i must belong to query i: compute q @ k^T (shape (T_q, T_k)), not k @ q^T."),
        Mistake("multiplied by sqrt(d_k)", lambda q, k: q @ k.transpose(-2, -1) * math.sqrt(q.shape[-1]),
                hint="Scaling shrinks the scores: DIVIDE q @ k^T by sqrt(d_k), do not multiply."),
    ],
    alternatives=[Alternative("einsum", lambda q, k: torch.einsum("...qd,...kd->...qk", q, k) / math.sqrt(q.shape[-1])),
                  Alternative("queries scaled first", lambda q, k: (q / q.shape[-1] ** 0.5) @ k.mT),
                  Alternative("torch.matmul and torch.sqrt", lambda q, k: torch.matmul(q, k.transpose(-1, -2))
                              / torch.sqrt(torch.tensor(float(q.size(-1)))))],
)


# --- 07.2 weights: softmax over the keys -------------------------------------------------------
def attention_weights(scores: torch.Tensor) -> torch.Tensor:
    """Reference: a stable softmax over the last dimension (one row per query sums to 1)."""
    return attention.softmax(scores, dim=-1)  # (..., T_q, T_k)


def _naive_softmax(s, dim=-1):
    e = torch.exp(s)
    return e / e.sum(dim=dim, keepdim=True)


def _weight_cases(r):
    Tq, Tk = r.integer(2, 4), r.integer(5, 8)
    B = r.integer(2, 3)
    return [
        Case(r.randn(Tq, Tk, scale=2.0)).named(f"random scores ({Tq} queries, {Tk} keys)"),
        Case(r.randn(B, Tk, Tk)).named("a batch of score matrices"),
        Case(r.randn(Tq, Tk, scale=30.0) + 100.0).named("large scores (around 100)"),
        Case(r.randn(1, Tk)).named("a single query"),
        Case(r.randn(B, Tq, Tk) + torch.tensor([90.0, -150.0, 0.0, -40.0])[:Tq].unsqueeze(-1))
        .named("rows on very different scales (shifted by +90, -150, 0, ...)"),
        Case(torch.tensor([[0.0, 0.0], [-200.0, -200.0]])).named("two rows far apart: [[0, 0], [-200, -200]]"),
        Case(r.randn(Tq, 1)).named("a single key (every weight is 1)"),
    ]


def _global_max(s):
    e = torch.exp(s - s.max())  # one maximum for the whole tensor
    return e / e.sum(dim=-1, keepdim=True)


exercise(
    "07.2", "Attention weights: softmax over the keys", points=1,
    reference=attention_weights,
    visible=[Case(attention_scores(DRY_Q, DRY_K)).named("the seed's scaled scores [[0.5, 0.5, 1], ...]")],
    hidden=_weight_cases,
    compare=close(atol=1e-6, rtol=1e-4),  # exp of large scores: float32 rounds x - max to ~1e-5 relative
    hint="Subtract each row's maximum, exponentiate, divide by the row sum over the last dimension.",
    mistakes=[
        Mistake("softmax over the queries (dim=-2)", lambda s: attention.softmax(s, dim=-2),
                hint="Each row (one query) must sum to 1: normalise over the keys, the last dimension "
                     "(dim=-1). With dim=-2 (or dim=0 on a 2-D matrix) the columns sum to 1 instead."),
        Mistake("no max subtraction", _naive_softmax,
                hint="exp(100) and above overflow float32 to inf, and inf/inf is nan. Subtract each row's "
                     "maximum (s.amax(dim=-1, keepdim=True)) first: it cancels out in the ratio."),
        Mistake("divided by the total of all rows",
                lambda s: torch.exp(s - s.amax(dim=-1, keepdim=True))
                / torch.exp(s - s.amax(dim=-1, keepdim=True)).sum(),
                hint="Divide by the sum of each row (sum(dim=-1, keepdim=True)), not the sum of the "
                     "whole tensor."),
        Mistake("one maximum for the whole tensor", _global_max,
                hint="Subtract each row's own maximum, s.amax(dim=-1, keepdim=True): with one maximum "
                     "for the whole tensor, a row far below it underflows to exp(...) = 0 and gives 0/0 = nan."),
    ],
    alternatives=[Alternative("torch.softmax", lambda s: torch.softmax(s, dim=-1)),
                  Alternative("exp(x - logsumexp(x))", lambda s: torch.exp(s - torch.logsumexp(s, dim=-1, keepdim=True)))],
)


# --- 07.3 the whole thing ---------------------------------------------------------------------
def self_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
    """Reference: ``llmcourse.attention.scaled_dot_product_attention`` without a mask; returns
    ``(out, weights)``."""
    return attention.scaled_dot_product_attention(q, k, v)


def _sdpa_cases(r):
    dk, dv = r.choice([4, 8]), r.choice([3, 5, 6])
    Tq, Tk = r.integer(2, 4), r.integer(5, 7)
    B = r.integer(2, 3)
    return [
        Case(r.randn(Tq, dk), r.randn(Tk, dk), r.randn(Tk, dv)).named(
            f"{Tq} queries, {Tk} keys, d_k={dk}, d_v={dv}"),
        Case(r.randn(B, Tk, dk), r.randn(B, Tk, dk), r.randn(B, Tk, dv)).named("a batch (B, T, d)"),
        Case(r.randn(Tk, dk, scale=8.0), r.randn(Tk, dk, scale=8.0), r.randn(Tk, dv)).named(
            "large scores"),
        Case(r.randn(B, 1, dk), r.randn(B, Tk, dk), r.randn(B, Tk, dv)).named("one query per sequence (T_q = 1)"),
        Case(r.randn(Tq, dk), r.randn(1, dk), r.randn(1, dv)).named("a single key and value"),
    ]


def _einsum_attention(q, k, v):
    w = torch.softmax(torch.einsum("...qd,...kd->...qk", q, k) / math.sqrt(q.shape[-1]), dim=-1)
    return torch.einsum("...qk,...kd->...qd", w, v), w


def _torch_sdpa(q, k, v):
    w = torch.softmax(q @ k.mT * q.shape[-1] ** -0.5, dim=-1)
    return torch.nn.functional.scaled_dot_product_attention(q, k, v), w


def _weights_then(q, k, v, combine):
    w = attention.softmax(attention_scores(q, k), dim=-1)  # (..., T_q, T_k)
    return combine(w, v), w


def _softmax_over_queries(q, k, v):
    w = attention.softmax(attention_scores(q, k), dim=-2)  # columns sum to 1: wrong axis
    return w @ v, w


exercise(
    "07.3", "Self-attention: weighted sum of the values", points=2,
    reference=self_attention,
    visible=[Case(DRY_Q, DRY_K, DRY_V).named("the seed's dry run: The, cat, sat")],
    hidden=_sdpa_cases,
    compare=scaled(atol=1e-5, rtol=1e-4),
    hint="out = softmax(q @ k^T / sqrt(d_k), dim=-1) @ v; return (out, weights).",
    mistakes=[
        Mistake("weights transposed", lambda q, k, v: _weights_then(q, k, v, lambda w, v: w.transpose(-2, -1) @ v),
                hint="Output row i is sum_j w[i, j] * v_j: multiply weights @ v with the weights as they are "
                     "(rows = queries, columns = keys)."),
        Mistake("keys instead of values", lambda q, k, v: _weights_then(q, k, v, lambda w, _: w @ k),
                hint="The weighted sum is over the value vectors: weights @ v, not weights @ k."),
        Mistake("scores instead of weights",
                lambda q, k, v: (attention_scores(q, k) @ v, attention.softmax(attention_scores(q, k), -1)),
                hint="Apply the softmax before mixing the values: out = weights @ v, where weights are the "
                     "softmax of the scaled scores."),
        Mistake("scaled by sqrt(d_v)", lambda q, k, v: attention.scaled_dot_product_attention(
            q, k, v, scale=1 / math.sqrt(v.shape[-1])),
            hint="The scale uses d_k, the size of queries and keys (q.shape[-1]), not the size of the "
                 "values."),
        Mistake("softmax over the queries", _softmax_over_queries,
                hint="Each query's weights must sum to 1 over the keys: softmax over the last dimension "
                     "(dim=-1)."),
    ],
    alternatives=[Alternative("einsum", _einsum_attention),
                  Alternative("F.scaled_dot_product_attention for the output", _torch_sdpa)],
)
