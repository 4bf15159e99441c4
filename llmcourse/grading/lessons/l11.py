"""Lesson 11 (Attention Scores and Softmax) exercises.

11.1 ``attention_weights(q, k)`` (find the bug): softmax(q k^T / sqrt(d_k)) written for one
     ``(T, T)`` matrix, with ``dim=1``: right for a single head, wrong for a batch of heads.
11.2 ``softcapped_weights(scores, cap)`` (transfer): Gemma 2's logit soft-capping,
     ``cap * tanh(scores / cap)``, before the softmax.
11.3 ``attention_entropy(weights)`` (transfer): the entropy (nats) of each attention row, with
     0 log 0 = 0.
11.4 ``softmax_backward(weights, grad_weights)`` (rebuild): the gradient of a loss with respect to
     the scores, given the softmax output and the gradient with respect to it (why saturated
     rows stop learning).

The article's scaled scores (three tokens, ``d_k = 4``) are the visible cases:

>>> softcapped_weights(SEED_SCORES, 50.0).round(decimals=2)
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

#: The article's scaled scores Q K^T / sqrt(4) for "The cat sat".
SEED_SCORES = torch.tensor([[0.5, 0.5, 1.0], [0.5, 0.5, 0.0], [1.0, 0.0, 0.5]])
NEG_INF = float("-inf")


# --- 11.1 find the bug: a softmax written for one matrix ---------------------------------------
def attention_weights(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Reference: ``softmax(q k^T / sqrt(d_k))`` over the last dimension (the keys),
    ``(..., T_q, d_k), (..., T_k, d_k) -> (..., T_q, T_k)``."""
    return attention.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5, dim=-1)


def _scores(q, k):
    return q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5  # (..., T_q, T_k)


def _given_weights(q, k):
    """The broken code of 11.1: ``dim=1`` is the key axis of a (T_q, T_k) matrix only."""
    s = _scores(q, k)
    e = torch.exp(s - s.amax(dim=1, keepdim=True))
    return e / e.sum(dim=1, keepdim=True)


def _dry_run_qk():
    """The article's Q and K for "The cat sat" (d_k = 4), as in lesson 7."""
    return (torch.tensor([[1.0, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]]),
            torch.tensor([[1.0, 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0]]))


def _far_apart(r, T, d):
    """(2, T, d) queries and keys: sequence 0 has small scores, sequence 1 scores around 200."""
    k = r.randn(2, T, d)
    q = r.randn(2, T, d)
    q[1] = q[1] + 200.0 * d ** 0.5 * k[1, 0] / k[1, 0].pow(2).sum()  # q . k_0 / sqrt(d) += 200
    return q, k


def _weights_cases(r):
    d = r.choice([4, 8, 16])
    T = r.integer(3, 6)
    Tk = T + r.integer(1, 3)
    B, H = 2, r.integer(2, 3)
    return [
        Case(r.randn(B, H, T, d), r.randn(B, H, Tk, d)).named(f"a batch of heads (B={B}, n_head={H}, T_q={T}, T_k={Tk})"),
        Case(r.randn(B, T, d), r.randn(B, T, d)).named(f"a batch of square score matrices (B={B}, T={T})"),
        Case(r.randn(T, d), r.randn(Tk, d)).named(f"one ({T}, {Tk}) matrix"),
        Case(r.randn(B, T, d, scale=30.0), r.randn(B, T, d, scale=30.0)).named("huge scores (q and k around 30)"),
        Case(*_far_apart(r, T, d)).named("two sequences whose scores lie about 200 apart"),
        Case(r.randn(1, 1, d), r.randn(1, 1, d)).named("a single query and key"),
    ]


def _global_max(q, k):
    s = _scores(q, k)
    e = torch.exp(s - s.max())  # one maximum for the whole tensor
    return e / e.sum(dim=-1, keepdim=True)


def _naive(q, k):
    e = torch.exp(_scores(q, k))
    return e / e.sum(dim=-1, keepdim=True)


def _no_keepdim(q, k):
    s = _scores(q, k)
    e = torch.exp(s - s.amax(dim=-1).unsqueeze(-2))  # (..., 1, T_q): broadcast along the wrong axis
    return e / e.sum(dim=-1, keepdim=True)


exercise(
    "11.1", "A softmax that works for one head only", points=2, kind="find the bug",
    given=_given_weights,
    reference=attention_weights,
    visible=[Case(*_dry_run_qk()).named("the article's dry run Q, K (one 3 x 3 matrix)"),
             Case(torch.stack(_dry_run_qk()[::-1]), torch.stack(_dry_run_qk()))
             .named("a batch of two: the dry run with Q and K swapped, then the dry run")],
    hidden=_weights_cases,
    compare=close(atol=1e-6, rtol=3e-4),
    hint="Name the key axis by its position from the end: dim=-1 is the last axis whatever the number "
         "of leading (batch, head) dimensions; dim=1 is the key axis of a 2-D matrix only.",
    mistakes=[
        Mistake("no max subtraction", _naive,
                hint="exp() of scores above 88.7 overflows to inf in float32, and inf/inf is nan. "
                     "Keep subtracting each row's maximum."),
        Mistake("one maximum for the whole tensor", _global_max,
                hint="Subtract each row's own maximum (amax(dim=-1, keepdim=True)), not the maximum of "
                     "the whole batch: a row far below it underflows to 0/0 = nan."),
        Mistake("maximum without keepdim", _no_keepdim,
                hint="amax(dim=-1) drops the key axis; subtracting it broadcasts along the wrong axis. "
                     "Use amax(dim=-1, keepdim=True)."),
        Mistake("softmax over the queries", lambda q, k: attention.softmax(_scores(q, k), dim=-2),
                hint="Each query's row must sum to 1: the maximum and the sum run over the keys, the "
                     "last axis (dim=-1)."),
        Mistake("not scaled", lambda q, k: attention.softmax(q @ k.transpose(-2, -1), dim=-1),
                hint="Keep the division by sqrt(d_k), with d_k = q.shape[-1]."),
    ],
    alternatives=[Alternative("exp(x - logsumexp(x))", lambda q, k: (lambda s: torch.exp(
        s - torch.logsumexp(s, dim=-1, keepdim=True)))(torch.einsum("...qd,...kd->...qk", q, k) / q.shape[-1] ** 0.5)),
        Alternative("torch.softmax", lambda q, k: torch.softmax(_scores(q, k), dim=-1))],
)


# --- 11.2 logit soft-capping --------------------------------------------------------------------
def softcapped_weights(scores: torch.Tensor, cap: float) -> torch.Tensor:
    """Reference: Gemma 2's soft cap, ``cap * tanh(scores / cap)``, then the softmax over the
    last dimension."""
    return attention.softmax(cap * torch.tanh(scores / cap), dim=-1)


def _cap_cases(r):
    T = r.integer(3, 6)
    Tk = T + r.integer(0, 2)
    cap = r.choice([20.0, 30.0, 50.0])
    return [
        Case(r.randn(T, Tk, scale=3.0), cap).named(f"moderate scores, cap {cap:g}"),
        Case(r.randn(2, 2, T, Tk, scale=40.0), 30.0).named("a batch of heads with scores of about 40, cap 30"),
        Case(r.randn(T, Tk, scale=1000.0), 50.0).named("huge scores (about 1000), cap 50"),
        Case(r.randn(T, Tk, scale=5.0), 5.0).named("a small cap, 5"),
        Case(r.randn(1, Tk, scale=10.0) + 500.0, 20.0).named("one row around 500, cap 20"),
        Case(r.randn(T, 1, scale=50.0), 30.0).named("a single key: every weight is 1"),
    ]


exercise(
    "11.2", "Logit soft-capping", points=1, kind="transfer",
    reference=softcapped_weights,
    visible=[Case(SEED_SCORES, 50.0).named("the article's scaled scores, cap 50 (nearly unchanged)"),
             Case(torch.tensor([[60.0, 30.0, 0.0]]), 30.0).named("scores 60, 30, 0 with cap 30")],
    hidden=_cap_cases,
    compare=close(atol=1e-6, rtol=3e-4),
    hint="capped = cap * torch.tanh(scores / cap), then a softmax over the last dimension.",
    mistakes=[
        Mistake("hard clamp instead of tanh",
                lambda s, c: attention.softmax(s.clamp(-c, c), dim=-1),
                hint="A soft cap bends smoothly: cap * tanh(scores / cap) is close to the score when it "
                     "is small and approaches cap, never reaching it. clamp cuts it off (and kills the "
                     "gradient above the cap)."),
        Mistake("tanh without rescaling", lambda s, c: attention.softmax(torch.tanh(s / c), dim=-1),
                hint="tanh(scores / cap) lies in (-1, 1): multiply by cap so that small scores are "
                     "left almost unchanged."),
        Mistake("cap * tanh(scores), not scores / cap",
                lambda s, c: attention.softmax(c * torch.tanh(s), dim=-1),
                hint="Divide inside the tanh: cap * tanh(scores / cap). tanh(scores) saturates at "
                     "scores of about 3, whatever the cap."),
        Mistake("softmax without the cap", lambda s, c: attention.softmax(s, dim=-1),
                hint="Cap the scores before the softmax: cap * torch.tanh(scores / cap)."),
        Mistake("capped after the softmax",
                lambda s, c: c * torch.tanh(attention.softmax(s, dim=-1) / c),
                hint="The cap acts on the scores (logits), before the softmax; the weights must still "
                     "sum to 1."),
    ],
    alternatives=[Alternative("tanh from sigmoid", lambda s, c: torch.softmax(
        c * (2 * torch.sigmoid(2 * s / c) - 1), dim=-1))],
)


# --- 11.3 entropy of attention rows -----------------------------------------------------------
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
    "11.3", "Entropy of attention rows", points=1, kind="transfer",
    reference=attention_entropy,
    visible=[Case(attention.softmax(SEED_SCORES, dim=-1)).named("the article's attention weights")],
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


# --- 11.4 the gradient of the softmax ---------------------------------------------------------
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
    "11.4", "The gradient of the softmax", points=2, kind="rebuild",
    reference=softmax_backward,
    visible=[Case(attention.softmax(SEED_SCORES, dim=-1), torch.tensor([[1.0, 0.0, 0.0]] * 3))
             .named("the article's weights, loss = sum of the first column")],
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
