"""Lesson 10 (Causal Masking) exercises: the worked example every lesson's grader copies.

10.1 ``causal_mask(T)``: the boolean ``(T, T)`` mask, ``True`` where a query may attend.
10.2 ``masked_softmax(scores, mask)``: a numerically stable softmax over the keys in which
     masked positions get weight exactly 0.
10.3 ``causal_mask_cached(T_q, T_k)``: the mask when the ``T_q`` queries are the last of ``T_k``
     positions (generation with a KV cache): query ``i`` sees keys ``j <= i + T_k - T_q``.
10.4 ``causal_attention(q, k, v)``: ``(out, weights)`` of scaled dot-product attention with that
     mask, for self-attention and for new queries against cached keys.

>>> import torch
>>> masked_softmax(torch.tensor([[2.0, 1.0, 0.5, 0.0]]), torch.tensor([[True, True, False, False]]))
tensor([[0.7311, 0.2689, 0.0000, 0.0000]])
"""

from __future__ import annotations

import torch

from llmcourse import attention
from llmcourse.grading import Case, Mistake, exact, exercise, close
from llmcourse.grading.lessons._common import scaled
from llmcourse.grading.registry import Alternative

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
    hidden=lambda r: [Case(1), Case(2)] + [Case(r.integer(3, 16)) for _ in range(4)],
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
    alternatives=[Alternative("ones, tril, bool", lambda T: torch.ones(T, T).tril().bool()),
                  Alternative("arange comparison", lambda T: torch.arange(T).unsqueeze(1) >= torch.arange(T))],
)


# --- 10.2 masked, stable softmax --------------------------------------------------------------
def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Reference: ``-inf`` where ``mask`` is False, then ``llmcourse.attention.softmax`` over the
    last dimension (the keys)."""
    return attention.softmax(scores.masked_fill(~mask, NEG_INF), dim=-1)  # (..., T_q, T_k)


def _random_mask(r, T_q, T_k=None):
    """A random (T_q, T_k) mask that is not causal: every row keeps at least one key, some query
    sees a later key, and (when T > 1) the first query cannot see itself."""
    T_k = T_q if T_k is None else T_k
    while True:
        m = r.rand(T_q, T_k) > 0.5
        m[torch.arange(T_q), r.randint(0, T_k, T_q)] = True  # at least one key per row
        if T_q > 1 and T_k > 1:
            m[0, 0], m[0, T_k - 1] = False, True
        if T_k == 1 or bool(torch.triu(m, diagonal=1).any()):
            return m


def _padding_masks(r, B, T):
    """(B, T, T): sequence b attends only to its first lengths[b] keys (different per sequence)."""
    lengths = [r.integer(1, T) for _ in range(B)]
    lengths[0] = T - 1 if T > 1 else 1
    return torch.stack([(torch.arange(T) < n).expand(T, T) for n in lengths])


def _softmax_cases(r):
    T = r.integer(3, 8)
    B = r.integer(2, 3)
    ramp = torch.linspace(-60, 60, T).unsqueeze(1)  # (T, 1) one offset per row
    hidden_mask = _random_mask(r, T)
    return [
        Case(r.randn(T, T, scale=3.0), causal_mask(T)).named("random scores, causal mask"),
        Case(r.randn(B, T, T), causal_mask(T)).named("a batch of score matrices, one shared mask"),
        Case(r.randn(T, T), _random_mask(r, T)).named("a random mask that is not causal"),
        Case(r.randn(2, 2), torch.tensor([[False, True], [True, False]])).named("T = 2, each query sees only the other key"),
        Case(r.randn(B, T, T), _padding_masks(r, B, T)).named("a different padding mask for each sequence of the batch"),
        Case(r.randn(T, T) + 200.0 * (~hidden_mask), hidden_mask)
        .named("the masked-out scores are the largest (by about 200)"),
        Case(r.randn(2, T, T - 1), _random_mask(r, T, T - 1)).named(f"a rectangular ({T}, {T - 1}) mask"),
        Case(r.randn(T, T, scale=20.0) + 1000.0, causal_mask(T)).named("large scores (about 1000)"),
        Case(r.randn(T, T) + ramp, causal_mask(T)).named("rows on very different scales (-60 .. 60)"),
        Case(r.randn(1, 1), torch.ones(1, 1, dtype=torch.bool)).named("one query, one key"),
    ]


def _renormalised(scores, mask):
    w = attention.softmax(scores, dim=-1) * mask  # softmax over the whole row first
    return w / w.sum(dim=-1, keepdim=True)


def _own_causal_mask(scores, mask):
    T_q, T_k = scores.shape[-2], scores.shape[-1]
    return attention.softmax(scores.masked_fill(~attention.causal_mask(T_q, T_k), NEG_INF), dim=-1)


def _log_mask(scores, mask):
    return torch.softmax(scores + torch.log(mask.float()), dim=-1)  # log 1 = 0, log 0 = -inf


def _lse(scores, mask):
    s = scores.masked_fill(~mask, NEG_INF)
    return torch.exp(s - torch.logsumexp(s, dim=-1, keepdim=True))


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
    compare=close(atol=1e-6, rtol=3e-4),  # exp(x - c) for scores near 1000 is good to ~1e-4 in float32
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
        Mistake("softmax, times the mask, renormalised", _renormalised,
                hint="Mask BEFORE the softmax (masked_fill with -inf). A softmax over the whole row "
                     "lets masked keys take all the weight; when they are much larger, the kept "
                     "weights underflow to 0 and renormalising gives 0/0 = nan."),
        Mistake("a causal mask of its own (mask argument ignored)", _own_causal_mask,
                hint="Use the mask you are given: it need not be causal (a padding mask, or any "
                     "pattern). masked_fill(~mask, float('-inf'))."),
    ],
    alternatives=[Alternative("additive log-mask", _log_mask),
                  Alternative("additive -1e9 for masked keys", lambda s, m: torch.softmax(s + (~m) * -1e9, dim=-1)),
                  Alternative("torch.where(mask, 0, -inf) added", lambda s, m: torch.softmax(
                      s + torch.where(m, 0.0, float("-inf")), dim=-1)),
                  Alternative("exp(x - logsumexp(x))", _lse)],
)


# --- 10.3 the causal mask with a KV cache -------------------------------------------------------
def causal_mask_cached(T_q: int, T_k: int) -> torch.Tensor:
    """Reference: ``llmcourse.attention.causal_mask(T_q, T_k)``: the queries are the *last*
    ``T_q`` of ``T_k`` positions, so query ``i`` may see keys ``j <= i + (T_k - T_q)``."""
    return attention.causal_mask(T_q, T_k)


def _cached_mask_cases(r):
    T_k = r.integer(4, 12)
    T_q = r.integer(2, T_k - 1)
    return [
        Case(1, r.integer(2, 12)).named("one new token after a cached prefix"),
        Case(T_q, T_k).named(f"{T_q} new tokens after {T_k - T_q} cached ones"),
        Case(T_k, T_k).named("no cache: T_q = T_k"),
        Case(1, 1).named("the very first token"),
    ]


exercise(
    "10.3", "The causal mask with a KV cache", points=1,
    reference=causal_mask_cached,
    visible=[Case(2, 5).named("2 new queries after 3 cached keys (positions 3 and 4 of 0..4)")],
    hidden=_cached_mask_cases,
    compare=exact(),
    hint="Query i sits at absolute position i + (T_k - T_q); it may see every key j up to that "
         "position: torch.tril(torch.ones(T_q, T_k, dtype=torch.bool), diagonal=T_k - T_q).",
    mistakes=[
        Mistake("aligned top-left (ignores the cached positions)",
                lambda T_q, T_k: torch.tril(torch.ones(T_q, T_k, dtype=torch.bool)),
                hint="With a cache the queries are the LAST T_q positions, not the first: shift the "
                     "diagonal by the number of cached keys, tril(..., diagonal=T_k - T_q). (PyTorch's "
                     "is_causal=True makes this very mistake when T_q != T_k.)"),
        Mistake("offset one too large (sees the next token)",
                lambda T_q, T_k: torch.tril(torch.ones(T_q, T_k, dtype=torch.bool), diagonal=T_k - T_q + 1),
                hint="A query may see itself and the past, not the key after it: the diagonal offset "
                     "is T_k - T_q exactly."),
        Mistake("offset one too small (cannot see itself)",
                lambda T_q, T_k: torch.tril(torch.ones(T_q, T_k, dtype=torch.bool), diagonal=T_k - T_q - 1),
                hint="Each query must see its own position: the diagonal offset is T_k - T_q, not "
                     "T_k - T_q - 1."),
        Mistake("transposed: shape (T_k, T_q)",
                lambda T_q, T_k: torch.tril(torch.ones(T_q, T_k, dtype=torch.bool), diagonal=T_k - T_q).T,
                hint="Rows are queries and columns are keys: the mask has shape (T_q, T_k)."),
        Mistake("float mask",
                lambda T_q, T_k: torch.tril(torch.ones(T_q, T_k), diagonal=T_k - T_q),
                hint="Return a boolean mask (dtype=torch.bool): create it with "
                     "torch.ones(T_q, T_k, dtype=torch.bool)."),
    ],
    alternatives=[Alternative("arange comparison", lambda T_q, T_k: torch.arange(T_k) <= torch.arange(T_q).unsqueeze(1) + (T_k - T_q)),
                  Alternative("last T_q rows of a (T_k, T_k) mask", lambda T_q, T_k: torch.tril(torch.ones(T_k, T_k)).bool()[T_k - T_q:])],
)


# --- 10.4 causal attention --------------------------------------------------------------------
def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
    """Reference: ``llmcourse.attention.scaled_dot_product_attention(q, k, v, is_causal=True)``,
    which aligns the mask bottom-right (queries are the last ``T_q`` of ``T_k`` positions).
    Returns ``(out (..., T_q, d_v), weights (..., T_q, T_k))``."""
    return attention.scaled_dot_product_attention(q, k, v, is_causal=True)


def _scores(q, k):
    return q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5  # (..., T_q, T_k)


def _attend(q, k, v, mask=None, fill=NEG_INF, scale=True, dim=-1, after=False):
    """A configurable (and mostly wrong) attention for the planted bugs below."""
    s = _scores(q, k) if scale else q @ k.transpose(-2, -1)  # (..., T_q, T_k)
    if mask is not None and not after:
        s = s.masked_fill(~mask, fill)
    w = attention.softmax(s, dim=dim)
    if mask is not None and after:
        w = w * mask
    return w @ v, w


def _bottom_right(q, k):
    return attention.causal_mask(q.shape[-2], k.shape[-2])


def _top_left(q, k):
    return torch.tril(torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool))


def _with_torch_sdpa(q, k, v):
    mask = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril(diagonal=k.shape[-2] - q.shape[-2])
    s = torch.einsum("...qd,...kd->...qk", q, k) / q.shape[-1] ** 0.5
    w = torch.softmax(s + torch.log(mask.float()), dim=-1)
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask), w


def _dry_run():
    """The seed's Q, K, V for "The cat sat" (d_k = 4), as in lesson 7."""
    q = torch.tensor([[1.0, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]])
    k = torch.tensor([[1.0, 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0]])
    v = torch.tensor([[1.0, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]])
    return q, k, v


def _attention_cases(r):
    d = r.choice([4, 8, 16])
    T = r.integer(3, 7)
    T_k = r.integer(4, 9)
    T_q = r.integer(2, T_k - 1)
    B, H = 2, r.integer(2, 3)
    return [
        Case(r.randn(T, d), r.randn(T, d), r.randn(T, d)).named(f"self-attention, T={T}, d={d}"),
        Case(r.randn(B, H, T, d), r.randn(B, H, T, d), r.randn(B, H, T, 5))
        .named("batch and head dimensions (B, n_head, T, head_dim), d_v != d_k"),
        Case(r.randn(1, d), r.randn(T_k, d), r.randn(T_k, d)).named(f"one new query, {T_k} keys (KV cache)"),
        Case(r.randn(B, T_q, d), r.randn(B, T_k, d), r.randn(B, T_k, d))
        .named(f"{T_q} new queries, {T_k} keys (KV cache)"),
        Case(r.randn(T, d, scale=10.0), r.randn(T, d, scale=10.0), r.randn(T, d))
        .named("large scores (entries of q and k around 10)"),
    ]


exercise(
    "10.4", "Causal attention (with a KV cache)", points=2,
    reference=causal_attention,
    visible=[Case(*_dry_run()).named("the seed's dry run Q, K, V (The, cat, sat), now causal")],
    hidden=_attention_cases,
    compare=scaled(atol=1e-5, rtol=3e-4),
    hint="scores = q @ k.transpose(-2, -1) / sqrt(d_k); fill the scores where the (T_q, T_k) causal "
         "mask is False with -inf; softmax over the last dimension; weights @ v. Return (out, weights).",
    mistakes=[
        Mistake("no mask", lambda q, k, v: _attend(q, k, v),
                hint="Without the mask every query sees the future. Build the (T_q, T_k) causal mask "
                     "and fill the scores where it is False with -inf before the softmax."),
        Mistake("mask aligned top-left", lambda q, k, v: _attend(q, k, v, _top_left(q, k)),
                hint="When T_q < T_k the queries are the last T_q positions: the mask needs "
                     "diagonal=T_k - T_q (exercise 10.3). PyTorch's is_causal=True aligns it top-left, "
                     "so a single new query would only see key 0."),
        Mistake("not scaled", lambda q, k, v: _attend(q, k, v, _bottom_right(q, k), scale=False),
                hint="Divide the scores by sqrt(d_k), with d_k = q.shape[-1], before the softmax."),
        Mistake("masked with 0 instead of -inf",
                lambda q, k, v: _attend(q, k, v, _bottom_right(q, k), fill=0.0),
                hint="A score of 0 still gets weight exp(0) > 0: fill masked scores with float('-inf')."),
        Mistake("mask applied after the softmax",
                lambda q, k, v: _attend(q, k, v, _bottom_right(q, k), after=True),
                hint="Zeroing weights after the softmax leaves rows that no longer sum to 1: mask the "
                     "scores (with -inf) before the softmax."),
        Mistake("softmax over the queries",
                lambda q, k, v: _attend(q, k, v, _bottom_right(q, k), dim=-2),
                hint="Normalise over the keys, the last dimension (dim=-1): each query's weights sum to 1."),
        Mistake("returns the output only", lambda q, k, v: causal_attention(q, k, v)[0],
                hint="Return a tuple (out, weights): the output (..., T_q, d_v) and the attention "
                     "weights (..., T_q, T_k)."),
    ],
    alternatives=[Alternative("einsum, log-mask and F.scaled_dot_product_attention", _with_torch_sdpa)],
)
