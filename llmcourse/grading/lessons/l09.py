"""Lesson 9 (Query, Key, Value) exercises: the three projections, separate and fused.

09.1 ``project_qkv(x, W_q, W_k, W_v)``: ``(q, k, v)`` with ``q = x @ W_q`` (the seed's
     orientation: ``W`` is ``(d_model, d_k)``).
09.2 ``split_qkv_weight(w_qkv)``: a fused ``nn.Linear`` weight ``(3 * d_k, d_model)`` (``W_Q^T``,
     ``W_K^T``, ``W_V^T`` stacked, GPT-2's ``c_attn`` layout) -> ``(W_q, W_k, W_v)``, each
     ``(d_model, d_k)`` so that ``q = x @ W_q``.
09.3 ``fused_head(x, w_qkv, b_qkv)``: one head from a fused projection, unmasked.

>>> w = torch.arange(12.).view(6, 2)          # d_k = 2, d_model = 2: rows 0-1 are W_Q^T
>>> split_qkv_weight(w)[0]
tensor([[0., 2.],
        [1., 3.]])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from llmcourse import attention
from llmcourse.grading import Case, Mistake, close, exercise
from llmcourse.grading.lessons._common import scaled
from llmcourse.grading.registry import Alternative

#: The seed's embedding rows for "the", "cat", "sat" (lesson 3), d_model = 4.
SEED_X = torch.tensor([[0.12, -0.50, 0.33, 0.78],
                       [0.78, 0.30, -0.12, 0.45],
                       [0.45, -0.10, 0.67, -0.23]])


def _lesson_weights(d_model=4, d_k=4, seed=9):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(d_model, d_k, generator=g) for _ in range(3))  # W_q, W_k, W_v


# --- 09.1 the three projections -------------------------------------------------------------
def project_qkv(x: torch.Tensor, W_q: torch.Tensor, W_k: torch.Tensor, W_v: torch.Tensor):
    """Reference: ``(x @ W_q, x @ W_k, x @ W_v)``."""
    return x @ W_q, x @ W_k, x @ W_v  # each (..., T, d_k) or (..., T, d_v)


def _proj_cases(r):
    out = []
    d, dk, dv = r.choice([6, 8]), r.choice([3, 4]), r.choice([2, 5])
    B, T = r.integer(2, 3), r.integer(2, 6)
    out.append(Case(r.randn(B, T, d), r.randn(d, dk), r.randn(d, dk), r.randn(d, dv))
               .named(f"a batch ({B}, {T}, {d}), d_k={dk}, d_v={dv}"))
    d = r.choice([4, 6])
    out.append(Case(r.randn(T, d), r.randn(d, d), r.randn(d, d), r.randn(d, d))
               .named(f"square matrices (d_model = d_k = {d})"))
    out.append(Case(r.randn(1, d), r.randn(d, 3), r.randn(d, 3), r.randn(d, 3)).named("a single token"))
    return out


exercise(
    "09.1", "Queries, keys and values from token vectors", points=1,
    reference=project_qkv,
    visible=[Case(SEED_X, *_lesson_weights()).named("the seed's embeddings of the, cat, sat and the lesson's W")],
    hidden=_proj_cases,
    compare=scaled(atol=1e-5, rtol=1e-5),
    hint="Each projection is one matrix product: q = x @ W_q, k = x @ W_k, v = x @ W_v; return them "
         "in the order (q, k, v).",
    mistakes=[
        Mistake("weights transposed", lambda x, a, b, c: (x @ a.T, x @ b.T, x @ c.T),
                hint="Here W has shape (d_model, d_k) (the seed's orientation), so q = x @ W_q. x @ W.T is "
                     "what nn.Linear does with its (out, in) weight."),
        Mistake("one matrix for all three", lambda x, a, b, c: (x @ a, x @ a, x @ a),
                hint="Use W_q for the queries, W_k for the keys and W_v for the values."),
        Mistake("returned in the wrong order", lambda x, a, b, c: (x @ b, x @ a, x @ c),
                hint="Return (q, k, v): queries first, then keys, then values."),
    ],
    alternatives=[Alternative("einsum", lambda x, a, b, c: tuple(torch.einsum("...td,dk->...tk", x, w) for w in (a, b, c))),
                  Alternative("F.linear with the transposed weights", lambda x, a, b, c: tuple(F.linear(x, w.T) for w in (a, b, c)))],
)


# --- 09.2 splitting a fused weight ------------------------------------------------------------
def split_qkv_weight(w_qkv: torch.Tensor):
    """Reference: chunk the rows into three, transpose each to (d_model, d_k)."""
    w_q, w_k, w_v = w_qkv.chunk(3, dim=0)  # each (d_k, d_model), nn.Linear's (out, in)
    return w_q.T, w_k.T, w_v.T  # each (d_model, d_k): q = x @ W_q


def _split_cases(r):
    out = []
    for dk, d in ((4, 4), (2, 6), (5, 3), (8, 8)):
        out.append(Case(r.randn(3 * dk, d)).named(f"c_attn weight of shape ({3 * dk}, {d}): d_k={dk}, d_model={d}"))
    return out


def _interleaved(w):
    return w[0::3].T, w[1::3].T, w[2::3].T


exercise(
    "09.2", "Split a fused QKV weight", points=1,
    reference=split_qkv_weight,
    visible=[Case(torch.arange(24.0).view(6, 4) / 10).named(
        "a numbered (6, 4) weight: d_k = 2, d_model = 4")],
    hidden=_split_cases,
    compare=close(atol=0, rtol=0),
    hint="The rows are [W_Q^T; W_K^T; W_V^T]: w_qkv.chunk(3, dim=0) gives three (d_k, d_model) blocks; "
         "transpose each to (d_model, d_k).",
    mistakes=[
        Mistake("not transposed", lambda w: tuple(w.chunk(3, dim=0)),
                hint="Each block of rows is W^T in nn.Linear's (out, in) layout; return block.T so that "
                     "q = x @ W_q."),
        Mistake("interleaved rows", _interleaved,
                hint="The three matrices are stacked one after the other (rows 0..d_k-1 are the queries), "
                     "not interleaved row by row: use chunk(3, dim=0) or slicing by blocks."),
        Mistake("wrong order", lambda w: tuple(b.T for b in w.chunk(3, dim=0)[::-1]),
                hint="The order of the blocks is queries, keys, values (GPT-2's c_attn and PyTorch's "
                     "in_proj_weight)."),
    ],
    alternatives=[Alternative("view(3, d_k, d_model)", lambda w: tuple(w.view(3, -1, w.shape[1]).transpose(1, 2).unbind(0))),
                  Alternative("slices", lambda w: tuple(w[i * (w.shape[0] // 3):(i + 1) * (w.shape[0] // 3)].T for i in range(3)))],
)


# --- 09.3 one head from a fused projection -------------------------------------------------------
def fused_head(x: torch.Tensor, w_qkv: torch.Tensor, b_qkv: torch.Tensor) -> torch.Tensor:
    """Reference: ``F.linear`` then split into q, k, v (head_size each) and unmasked attention."""
    hs = w_qkv.shape[0] // 3
    q, k, v = F.linear(x, w_qkv, b_qkv).split(hs, dim=-1)  # each (B, T, hs)
    return attention.scaled_dot_product_attention(q, k, v)[0]  # (B, T, hs)


def _head_cases(r):
    out = []
    for d, hs in ((8, 4), (12, 3), (16, 2)):
        B, T = r.integer(1, 3), r.integer(2, 6)
        out.append(Case(r.randn(B, T, d), r.randn(3 * hs, d, scale=0.7), r.randn(3 * hs))
                   .named(f"x ({B}, {T}, {d}), head_size={hs}"))
    out.append(Case(r.randn(2, 1, 8), r.randn(12, 8), r.randn(12)).named("a single token"))
    return out


def _variant(order=(0, 1, 2), bias=True, scale_by_input=False):
    def buggy(x, w, b):
        hs = w.shape[0] // 3
        parts = F.linear(x, w, b if bias else None).split(hs, dim=-1)
        q, k, v = (parts[i] for i in order)
        scale = 1 / math.sqrt(x.shape[-1]) if scale_by_input else None
        return attention.scaled_dot_product_attention(q, k, v, scale=scale)[0]
    return buggy


def _by_hand(x, w, b):
    q, k, v = (x @ w.T + b).chunk(3, dim=-1)
    att = torch.softmax(q @ k.transpose(-2, -1) * q.shape[-1] ** -0.5, dim=-1)
    return att @ v


def _lesson_head_case():
    g = torch.Generator().manual_seed(9)
    return Case(SEED_X.unsqueeze(0), torch.randn(6, 4, generator=g), torch.randn(6, generator=g) * 0.1)


exercise(
    "09.3", "One head from a fused projection", points=2,
    reference=fused_head,
    visible=[_lesson_head_case().named("the seed's the, cat, sat: d_model=4, head_size=2")],
    hidden=_head_cases,
    compare=scaled(atol=1e-5, rtol=1e-4),
    hint="qkv = x @ w_qkv.T + b_qkv (shape (B, T, 3*hs)); q, k, v = qkv.split(hs, dim=-1); then "
         "softmax(q k^T / sqrt(hs)) @ v.",
    mistakes=[
        Mistake("bias forgotten", _variant(bias=False),
                hint="nn.Linear adds its bias: qkv = x @ w_qkv.T + b_qkv."),
        Mistake("scaled by sqrt(d_model)", _variant(scale_by_input=True),
                hint="Scale by the size of the queries and keys, head_size = w_qkv.shape[0] // 3, not by "
                     "the input width."),
        Mistake("queries and keys swapped", _variant(order=(1, 0, 2)),
                hint="The fused output is [q | k | v]: the first head_size channels are the queries."),
        Mistake("keys used as values", _variant(order=(0, 1, 1)),
                hint="The last head_size channels are the values; the middle ones are the keys."),
    ],
    alternatives=[Alternative("x @ w.T + b, chunk, softmax", _by_hand)],
)
