"""Lesson 10 (Causal Masking) exercises: the worked example every lesson's grader copies.

10.1 ``causal_mask(T)`` (rebuild): the boolean ``(T, T)`` mask, ``True`` where a query may attend.
10.2 ``masked_softmax(scores, mask)`` (find the bug): a numerically stable softmax over the keys
     in which masked positions get weight exactly 0; the given code fills ``-inf`` where the mask is
     True, so every query reads exactly the keys it must not see.
10.3 ``sliding_window_mask(T, window)`` (transfer): causal, and each query sees only its last
     ``window`` positions (itself included), as in Mistral's sliding-window attention.
10.4 ``padding_causal_mask(lengths, T)`` (transfer): one ``(T, T)`` mask per sequence of a batch
     padded at the end: causal, and no query sees a padding key.

>>> padding_causal_mask(torch.tensor([3, 1]), 3).int()
tensor([[[1, 0, 0],
         [1, 1, 0],
         [1, 1, 1]],
<BLANKLINE>
        [[1, 0, 0],
         [1, 0, 0],
         [1, 0, 0]]], dtype=torch.int32)
"""

from __future__ import annotations

import torch

from llmcourse import attention
from llmcourse.grading import Case, Mistake, close, exact, exercise
from llmcourse.grading.registry import Alternative

NEG_INF = float("-inf")


# --- 10.1 the causal mask ---------------------------------------------------------------------
def causal_mask(T: int) -> torch.Tensor:
    """Reference: ``llmcourse.attention.causal_mask`` for ``T`` queries over ``T`` keys."""
    return attention.causal_mask(T)


def _ones(T):
    return torch.ones(T, T, dtype=torch.bool)


exercise(
    "10.1", "The causal mask", points=1, kind="rebuild",
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


def _given_softmax(scores, mask):
    """The broken code of 10.2: -inf where the mask is True, so each query sees only the keys it
    must not see (for the causal mask: the future)."""
    return attention.softmax(scores.masked_fill(mask, NEG_INF), dim=-1)


exercise(
    "10.2", "A masked softmax that reads the future", points=2, kind="find the bug",
    given=_given_softmax,
    reference=masked_softmax,
    visible=[Case(torch.tensor([2.0, 1.0, 0.5, 0.0]).repeat(4, 1), causal_mask(4))
             .named("the article's logits [2, 1, 0.5, 0] in every row, causal mask")],
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


# --- 10.3 a sliding-window mask ---------------------------------------------------------------
def sliding_window_mask(T: int, window: int) -> torch.Tensor:
    """Reference: ``(T, T)`` bool, True where ``i - window < j <= i``: query ``i`` sees itself and
    the ``window - 1`` positions before it."""
    i = torch.arange(T).unsqueeze(1)  # (T, 1) query positions
    j = torch.arange(T)  # (T,) key positions
    return (j <= i) & (j > i - window)  # (T, T)


def _window_cases(r):
    T = r.integer(5, 12)
    return [
        Case(T, r.integer(2, T - 2)).named(f"T={T}, a window shorter than the sequence"),
        Case(T, 1).named("window = 1: each token sees only itself"),
        Case(T, T).named("window = T: the plain causal mask"),
        Case(T, T + 3).named("a window longer than the sequence"),
        Case(1, r.integer(1, 4)).named("a single token"),
        Case(r.integer(8, 16), r.integer(3, 5)).named("a longer sequence"),
    ]


def _band(T, lo, hi):
    """(T, T) bool, True where lo <= i - j <= hi."""
    d = torch.arange(T).unsqueeze(1) - torch.arange(T)  # (T, T): i - j
    return (d >= lo) & (d <= hi)


exercise(
    "10.3", "A sliding-window mask", points=1, kind="transfer",
    reference=sliding_window_mask,
    visible=[Case(6, 3).named("6 tokens, a window of 3")],
    hidden=_window_cases,
    compare=exact(),
    hint="Query i may see key j when j <= i (causal) and j > i - window (recent enough): "
         "compare torch.arange(T).unsqueeze(1) (queries) with torch.arange(T) (keys).",
    mistakes=[
        Mistake("a window one too wide", lambda T, w: _band(T, 0, w),
                hint="With window w a query sees w positions in all, itself included: i - j runs from 0 "
                     "to w - 1, not to w."),
        Mistake("not causal: a window on both sides", lambda T, w: _band(T, -(w - 1), w - 1),
                hint="The window looks back only: keys after the query (j > i) stay masked, as in "
                     "the causal mask."),
        Mistake("cannot see itself", lambda T, w: _band(T, 1, w),
                hint="The diagonal stays True: a token always sees itself. i - j runs from 0 to w - 1."),
        Mistake("causal only, window ignored", lambda T, w: _band(T, 0, T),
                hint="Also mask the keys that are too old: j must be greater than i - window."),
        Mistake("float mask", lambda T, w: _band(T, 0, w - 1).float(),
                hint="Return a boolean mask (dtype=torch.bool), True = may attend."),
    ],
    alternatives=[Alternative("tril minus a lower tril",
                              lambda T, w: torch.tril(torch.ones(T, T, dtype=torch.bool))
                              & ~torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-w)),
                  Alternative("a loop over the rows", lambda T, w: torch.stack(
                      [torch.tensor([i - w < j <= i for j in range(T)], dtype=torch.bool) for i in range(T)])
                      if T else torch.ones(0, 0, dtype=torch.bool))],
)


# --- 10.4 a padding mask for a batch of sequences of different lengths ----------------------------
def padding_causal_mask(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """Reference: ``(B, T, T)`` bool; sequence ``b`` has ``lengths[b]`` real tokens followed by
    padding; entry ``[b, i, j]`` is True when ``j <= i`` and ``j < lengths[b]``."""
    causal = attention.causal_mask(T)  # (T, T)
    real = torch.arange(T) < lengths.unsqueeze(1)  # (B, T): which keys are real tokens
    return causal & real.unsqueeze(1)  # (B, T, T): key axis masked, the same for every query


def _padding_cases(r):
    T = r.integer(4, 9)
    B = r.integer(3, 5)
    lengths = r.randint(1, T + 1, B)
    lengths[0], lengths[1] = T, r.integer(1, T - 1)  # one full sequence, one padded
    return [
        Case(lengths, T).named(f"a batch of {B} sequences, T={T}"),
        Case(torch.tensor([T, T]), T).named("no padding at all"),
        Case(torch.tensor([r.integer(2, T - 1)]), T).named("a batch of one padded sequence"),
        Case(torch.tensor([1, T, 2]), T).named("a one-token sequence in the batch"),
        Case(torch.tensor([1]), 1).named("T = 1"),
    ]


def _query_rows(lengths, T):
    real = torch.arange(T) < lengths.unsqueeze(1)  # (B, T)
    return attention.causal_mask(T) & real.unsqueeze(2)  # masks padded QUERIES instead of keys


exercise(
    "10.4", "A padding mask for a batch of different lengths", points=2, kind="transfer",
    reference=padding_causal_mask,
    visible=[Case(torch.tensor([4, 2, 3]), 4).named("three sequences of lengths 4, 2, 3, padded to T = 4")],
    hidden=_padding_cases,
    compare=exact(),
    hint="Build the (T, T) causal mask and a (B, T) mask of real keys, torch.arange(T) < "
         "lengths.unsqueeze(1), then combine them: causal & real.unsqueeze(1) is (B, T, T).",
    mistakes=[
        Mistake("padding only, not causal",
                lambda L, T: (torch.arange(T) < L.unsqueeze(1)).unsqueeze(1).expand(len(L), T, T).clone(),
                hint="The mask is still causal: combine the padding mask with causal_mask(T) (&)."),
        Mistake("causal only, padding ignored",
                lambda L, T: attention.causal_mask(T).expand(len(L), T, T).clone(),
                hint="Keys at positions j >= lengths[b] are padding: mask them for every query of "
                     "sequence b."),
        Mistake("padded queries masked instead of padded keys", _query_rows,
                hint="Padding must not be looked AT: mask the key axis (columns, real.unsqueeze(1)). "
                     "Masking the query rows leaves padded rows with no key at all, a row of nan."),
        Mistake("one padding token too many visible",
                lambda L, T: attention.causal_mask(T) & (torch.arange(T) <= L.unsqueeze(1)).unsqueeze(1),
                hint="A sequence of length n has real tokens at positions 0 .. n - 1: keep j < n, "
                     "not j <= n."),
    ],
    alternatives=[Alternative("a loop over the sequences", lambda L, T: torch.stack(
        [torch.tril(torch.ones(T, T, dtype=torch.bool)) & (torch.arange(T) < int(n)) for n in L])),
        Alternative("broadcast comparisons", lambda L, T: (torch.arange(T).view(1, 1, T) <= torch.arange(T).view(1, T, 1))
                    & (torch.arange(T).view(1, 1, T) < L.view(-1, 1, 1)))],
)
