"""Lesson 7 (Self-Attention Part 1) exercises.

07.1 ``self_attention(q, k, v)`` (rebuild): ``(out, weights)``, the four steps of the lesson
     written again from memory.
07.2 ``attention_with_temperature(q, k, v, temperature)`` (transfer): the scores divided by a
     temperature on top of ``sqrt(d_k)``; ``temperature = 1`` is plain attention.
07.3 ``attend(q, k, v)`` (find the bug): an attention that normalises over the queries.

The article's dry run (three tokens, ``d_k = 4``) is the visible case:

>>> self_attention(DRY_Q, DRY_K, DRY_V)[0][0].round(decimals=4)
tensor([0.7259, 0.7259, 0.2741, 0.2741])
>>> attention_with_temperature(DRY_Q, DRY_K, DRY_V, 0.5)[1][0].round(decimals=2)
tensor([0.2100, 0.2100, 0.5800])
"""

from __future__ import annotations

import math

import torch

from llmcourse import attention
from llmcourse.grading import Case, Mistake, exercise
from llmcourse.grading.lessons._common import scaled
from llmcourse.grading.registry import Alternative

#: The article's dry run: "The", "cat", "sat" with d_k = 4.
DRY_Q = torch.tensor([[1.0, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]])
DRY_K = torch.tensor([[1.0, 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0]])
DRY_V = torch.tensor([[1.0, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]])


def attention_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """``q @ k^T / sqrt(d_k)`` with ``d_k = q.shape[-1]``, shape ``(..., T_q, T_k)``."""
    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])


# --- 07.1 the whole thing, from memory ---------------------------------------------------------------------
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
    "07.1", "Self-attention from memory", points=2, kind="rebuild",
    reference=self_attention,
    visible=[Case(DRY_Q, DRY_K, DRY_V).named("the article's dry run: The, cat, sat")],
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


# --- 07.2 temperature ------------------------------------------------------------------------------
def attention_with_temperature(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, temperature: float):
    """Reference: softmax(q k^T / (sqrt(d_k) * temperature)) over the keys; returns ``(out, weights)``."""
    return attention.scaled_dot_product_attention(q, k, v, scale=1 / (math.sqrt(q.shape[-1]) * temperature))


def _temp_cases(r):
    dk, dv = r.choice([4, 8]), r.choice([3, 5])
    Tq, Tk = r.integer(2, 4), r.integer(5, 7)
    B = r.integer(2, 3)
    return [
        Case(r.randn(Tq, dk), r.randn(Tk, dk), r.randn(Tk, dv), 2.0).named("temperature 2 (flatter)"),
        Case(r.randn(B, Tk, dk), r.randn(B, Tk, dk), r.randn(B, Tk, dv), 0.25).named("a batch, temperature 0.25"),
        Case(r.randn(B, Tq, dk), r.randn(B, Tk, dk), r.randn(B, Tk, dv), 1.0).named("temperature 1 (plain attention)"),
        Case(r.randn(Tq, dk, scale=3.0), r.randn(Tk, dk, scale=3.0), r.randn(Tk, dv), 0.05)
        .named("a very low temperature (0.05): nearly one-hot rows"),
        Case(r.randn(Tq, dk), r.randn(Tk, dk), r.randn(Tk, dv), 100.0).named("a very high temperature (100)"),
    ]


def _temp_times(q, k, v, t):
    return attention.scaled_dot_product_attention(q, k, v, scale=t / math.sqrt(q.shape[-1]))


def _temp_no_sqrt(q, k, v, t):
    return attention.scaled_dot_product_attention(q, k, v, scale=1 / t)


def _temp_after_softmax(q, k, v, t):
    w = attention.softmax(attention_scores(q, k), dim=-1) / t   # rows no longer sum to 1
    return w @ v, w


def _temp_on_values(q, k, v, t):
    out, w = attention.scaled_dot_product_attention(q, k, v)
    return out / t, w


def _temp_pow(q, k, v, t):
    w = attention.softmax(attention_scores(q, k), dim=-1) ** (1 / t)
    w = w / w.sum(dim=-1, keepdim=True)  # softmax(s / t) = softmax(s)^(1/t), renormalised
    return w @ v, w


exercise(
    "07.2", "Attention with a temperature", points=2, kind="transfer",
    reference=attention_with_temperature,
    visible=[Case(DRY_Q, DRY_K, DRY_V, 0.5).named("the article's dry run at temperature 0.5")],
    hidden=_temp_cases,
    compare=scaled(atol=1e-5, rtol=1e-4),
    hint="weights = softmax(q @ k^T / (sqrt(d_k) * temperature)) over the keys (dim=-1); "
         "out = weights @ v; return (out, weights).",
    mistakes=[
        Mistake("multiplied by the temperature", _temp_times,
                hint="A high temperature must flatten the weights: DIVIDE the scores by the temperature "
                     "(as well as by sqrt(d_k)), do not multiply."),
        Mistake("temperature instead of sqrt(d_k)", _temp_no_sqrt,
                hint="The temperature comes on top of the usual scale: divide by sqrt(d_k) * temperature, "
                     "not by the temperature alone."),
        Mistake("weights divided after the softmax", _temp_after_softmax,
                hint="Divide the scores before the softmax; dividing the weights afterwards breaks "
                     "'each row sums to 1' and does not change which keys win."),
        Mistake("output divided by the temperature", _temp_on_values,
                hint="The temperature changes the weights (how sharp each row is), not the values: "
                     "apply it to the scores before the softmax."),
    ],
    alternatives=[Alternative("softmax(s)^(1/t), renormalised", _temp_pow),
                  Alternative("einsum", lambda q, k, v, t: (lambda w: (w @ v, w))(torch.softmax(
                      torch.einsum("...qd,...kd->...qk", q, k) / (q.size(-1) ** 0.5 * t), dim=-1)))],
)


# --- 07.3 find the bug: the weights are normalised over the queries ---------------------------------
def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
    """Reference: unmasked attention, ``(out, weights)``."""
    return attention.scaled_dot_product_attention(q, k, v)


def _attend_given(q, k, v):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    weights = torch.softmax(scores, dim=-2)
    return weights @ v, weights


def _attend_dim0(q, k, v):
    weights = torch.softmax(attention_scores(q, k), dim=0)  # right on one matrix, wrong on a batch
    return weights @ v, weights


def _attend_transposed(q, k, v):
    weights = torch.softmax(attention_scores(q, k), dim=-2).transpose(-2, -1)  # columns became rows
    return weights @ v, weights


def _attend_unscaled(q, k, v):
    weights = torch.softmax(q @ k.transpose(-2, -1), dim=-1)
    return weights @ v, weights


def _attend_sum_norm(q, k, v):
    e = attention_scores(q, k).exp()
    weights = e / e.sum()  # the whole tensor sums to 1, not each row
    return weights @ v, weights


def _attend_cases(r):
    dk, dv = r.choice([4, 8]), r.choice([3, 5])
    Tq, Tk = r.integer(2, 4), r.integer(5, 7)
    B = r.integer(2, 3)
    return [
        Case(r.randn(Tk, dk), r.randn(Tk, dk), r.randn(Tk, dv)).named(f"one sequence of {Tk} tokens"),
        Case(r.randn(B, Tq, dk), r.randn(B, Tk, dk), r.randn(B, Tk, dv)).named("a batch, T_q != T_k"),
        Case(r.randn(B, 2, Tk, dk), r.randn(B, 2, Tk, dk), r.randn(B, 2, Tk, dv)).named("batch and heads"),
        Case(r.randn(B, 1, dk), r.randn(B, Tk, dk), r.randn(B, Tk, dv)).named("one query per sequence"),
    ]


exercise(
    "07.3", "Find the bug: weights that do not sum to 1", points=1, kind="find the bug",
    reference=attend, given=_attend_given,
    visible=[Case(DRY_Q, DRY_K, DRY_V).named("the article's dry run: The, cat, sat")],
    hidden=_attend_cases,
    compare=scaled(atol=1e-5, rtol=1e-4),
    hint="Each query's row of weights must sum to 1 over the keys: the softmax runs over the last "
         "dimension (dim=-1). Check weights.sum(dim=-1).",
    mistakes=[
        Mistake("softmax over dim=0", _attend_dim0,
                hint="dim=0 is the batch on a batched input: normalise over the keys, dim=-1, which is "
                     "right for any number of leading dimensions."),
        Mistake("weights transposed instead of recomputed", _attend_transposed,
                hint="Transposing the column-normalised weights makes rows sum to 1 but gives query i the "
                     "weights that belonged to key i. Compute softmax(scores, dim=-1) instead."),
        Mistake("scale dropped", _attend_unscaled,
                hint="Keep the division by sqrt(d_k): the bug was only in the softmax's dimension."),
        Mistake("normalised by the total of all rows", _attend_sum_norm,
                hint="Divide by each row's sum (keepdim=True over dim=-1), not by the sum of everything."),
    ],
    alternatives=[Alternative("einsum", _einsum_attention),
                  Alternative("normalise by hand over the keys", lambda q, k, v: (lambda e: (
        e / e.sum(-1, keepdim=True) @ v, e / e.sum(-1, keepdim=True)))(
        (attention_scores(q, k) - attention_scores(q, k).amax(-1, keepdim=True)).exp()))],
)
