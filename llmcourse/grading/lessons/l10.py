"""Lesson 10 (Causal Masking) exercises: the worked example every lesson's grader copies.

10.1 ``causal_mask(T)``: the boolean ``(T, T)`` mask, ``True`` where a query may attend.
10.2 ``masked_softmax(scores, mask)``: a numerically stable softmax over the keys in which
     masked positions get weight exactly 0.

>>> import torch
>>> masked_softmax(torch.tensor([[2.0, 1.0, 0.5, 0.0]]), torch.tensor([[True, True, False, False]]))
tensor([[0.7311, 0.2689, 0.0000, 0.0000]])
"""

from __future__ import annotations

import torch

from llmcourse import attention
from llmcourse.grading import Case, Mistake, exact, exercise, close

NEG_INF = float("-inf")


# --- 10.1 the causal mask ---------------------------------------------------------------------
def causal_mask(T: int) -> torch.Tensor:
    """Reference: ``llmcourse.attention.causal_mask`` for ``T`` queries over ``T`` keys."""
    return attention.causal_mask(T)


def _ones(T):
    return torch.ones(T, T, dtype=torch.bool)


exercise(
    "10.1", "The causal mask", points=1,
    reference=causal_mask,
    visible=[Case(4).named("the lesson's 4-token example")],
    hidden=lambda r: [Case(1)] + [Case(r.integer(2, 16)) for _ in range(4)],
    compare=exact(),
    mistakes=[
        Mistake("sees the next token", lambda T: torch.tril(_ones(T), diagonal=1),
                hint="Query i may look at keys 0..i only: torch.tril keeps the diagonal with "
                     "diagonal=0; diagonal=1 lets every token see the one after it."),
        Mistake("cannot see itself", lambda T: torch.tril(_ones(T), diagonal=-1),
                hint="The diagonal must be True: a token may attend to itself (tril with diagonal=0)."),
        Mistake("inverted", lambda T: ~torch.tril(_ones(T)),
                hint="True means 'may attend' (PyTorch's convention for boolean masks): the past and "
                     "the diagonal are True, the future is False. Your mask is the opposite."),
        Mistake("future instead of past", lambda T: torch.triu(_ones(T)),
                hint="Row i is query i and column j is key j; the allowed keys j <= i form the lower "
                     "triangle (torch.tril), not the upper one."),
        Mistake("float mask", lambda T: torch.tril(torch.ones(T, T)),
                hint="Return a boolean mask (dtype=torch.bool): create it with "
                     "torch.ones(T, T, dtype=torch.bool) or convert with .bool()."),
    ],
)


# --- 10.2 masked, stable softmax --------------------------------------------------------------
def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Reference: ``-inf`` where ``mask`` is False, then ``llmcourse.attention.softmax`` over the
    last dimension (the keys)."""
    return attention.softmax(scores.masked_fill(~mask, NEG_INF), dim=-1)  # (..., T_q, T_k)


def _random_mask(r, T):
    m = r.rand(T, T) > 0.5
    return m | torch.eye(T, dtype=torch.bool)  # every query keeps at least itself


def _softmax_cases(r):
    T = r.integer(2, 8)
    B = r.integer(2, 3)
    ramp = torch.linspace(-60, 60, T).unsqueeze(1)  # (T, 1) one offset per row
    return [
        Case(r.randn(T, T, scale=3.0), causal_mask(T)).named("random scores, causal mask"),
        Case(r.randn(B, T, T), causal_mask(T)).named("a batch of score matrices, one shared mask"),
        Case(r.randn(T, T), _random_mask(r, T)).named("a random (non-causal) mask"),
        Case(r.randn(T, T, scale=20.0) + 1000.0, causal_mask(T)).named("large scores (about 1000)"),
        Case(r.randn(T, T) + ramp, causal_mask(T)).named("rows on very different scales (-60 .. 60)"),
    ]


def _naive(scores, mask):
    e = torch.exp(scores.masked_fill(~mask, NEG_INF))
    return e / e.sum(dim=-1, keepdim=True)


def _global_max(scores, mask):
    s = scores.masked_fill(~mask, NEG_INF)
    e = torch.exp(s - s.max())  # one maximum for the whole tensor
    return e / e.sum(dim=-1, keepdim=True)


exercise(
    "10.2", "Masked, numerically stable softmax", points=2,
    reference=masked_softmax,
    visible=[Case(torch.tensor([2.0, 1.0, 0.5, 0.0]).repeat(4, 1), causal_mask(4))
             .named("the seed's logits [2, 1, 0.5, 0] in every row, causal mask")],
    hidden=_softmax_cases,
    compare=close(atol=1e-6, rtol=1e-5),
    hint="Fill masked scores with -inf, subtract each row's maximum, exponentiate, and divide by "
         "the row sum over the last dimension.",
    mistakes=[
        Mistake("softmax over the wrong axis",
                lambda s, m: attention.softmax(s.masked_fill(~m, NEG_INF), dim=-2),
                hint="Normalise over the keys, the last dimension (dim=-1): each row, one query's "
                     "weights, must sum to 1."),
        Mistake("no max subtraction", _naive,
                hint="exp() of large scores overflows to inf and inf/inf is nan. Subtract each row's "
                     "maximum before exp(); it cancels out in the ratio."),
        Mistake("masked with 0 instead of -inf",
                lambda s, m: attention.softmax(s.masked_fill(~m, 0.0), dim=-1),
                hint="A score of 0 still gets weight exp(0) > 0. Fill masked scores with "
                     "float('-inf') so their weight is exactly 0."),
        Mistake("mask inverted",
                lambda s, m: attention.softmax(s.masked_fill(m, NEG_INF), dim=-1),
                hint="True in the mask means 'may attend': fill the positions where the mask is "
                     "False (~mask) with -inf."),
        Mistake("mask ignored", lambda s, m: attention.softmax(s, dim=-1),
                hint="Apply the mask before the softmax: scores.masked_fill(~mask, float('-inf'))."),
        Mistake("mask applied after the softmax", lambda s, m: attention.softmax(s, dim=-1) * m,
                hint="Zeroing weights after the softmax leaves rows that no longer sum to 1: mask "
                     "the scores before the softmax instead."),
        Mistake("one maximum for the whole tensor", _global_max,
                hint="Subtract each row's own maximum (amax(dim=-1, keepdim=True)), not the maximum "
                     "of the whole tensor: a row far below it underflows to 0/0 = nan."),
    ],
)
