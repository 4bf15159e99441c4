"""Lesson 9 (Query, Key, Value) exercises.

09.1 ``cross_attention(x, memory, W_q, W_k, W_v)`` (transfer): queries from one sequence, keys
     and values from another (the article's orientation, ``q = x @ W_q``), unmasked.
09.2 ``fused_head(x, w_qkv, b_qkv)`` (rebuild): one head from a fused ``nn.Linear`` projection.
09.3 (predict): the shape of GPT-2 small's fused ``c_attn.weight``.

>>> x, mem = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
>>> W = torch.eye(4)
>>> cross_attention(x, mem, W, W, W).shape        # one output per query, built from the memory
torch.Size([2, 3, 4])
>>> gpt2_c_attn_shape()
(2304, 768)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from llmcourse import attention
from llmcourse.grading import Case, Mistake, exact, exercise
from llmcourse.grading.lessons._common import scaled
from llmcourse.grading.registry import Alternative

#: The article's embedding rows for "the", "cat", "sat" (lesson 3), d_model = 4.
SEED_X = torch.tensor([[0.12, -0.50, 0.33, 0.78],
                       [0.78, 0.30, -0.12, 0.45],
                       [0.45, -0.10, 0.67, -0.23]])


def _lesson_weights(d_model=4, d_k=4, seed=9):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(d_model, d_k, generator=g) for _ in range(3))  # W_q, W_k, W_v


# --- 09.1 cross-attention ---------------------------------------------------------------------------
def cross_attention(x, memory, W_q, W_k, W_v):
    """Reference: ``softmax((x W_q)(memory W_k)^T / sqrt(d_k)) (memory W_v)``, ``(..., T_x, d_v)``."""
    return attention.scaled_dot_product_attention(x @ W_q, memory @ W_k, memory @ W_v)[0]


def _ca_self(x, memory, W_q, W_k, W_v):
    return attention.scaled_dot_product_attention(x @ W_q, x @ W_k, x @ W_v)[0]


def _ca_queries_from_memory(x, memory, W_q, W_k, W_v):
    return attention.scaled_dot_product_attention(memory @ W_q, x @ W_k, x @ W_v)[0]


def _ca_scale_d_model(x, memory, W_q, W_k, W_v):
    return attention.scaled_dot_product_attention(x @ W_q, memory @ W_k, memory @ W_v,
                                                  scale=1 / math.sqrt(x.shape[-1]))[0]


def _ca_einsum(x, memory, W_q, W_k, W_v):
    q = torch.einsum("...td,dk->...tk", x, W_q)
    k = torch.einsum("...sd,dk->...sk", memory, W_k)
    v = torch.einsum("...sd,dk->...sk", memory, W_v)
    w = torch.softmax(torch.einsum("...tk,...sk->...ts", q, k) / q.shape[-1] ** 0.5, dim=-1)
    return torch.einsum("...ts,...sk->...tk", w, v)


def _ca_cases(r):
    d, dk, dv = r.choice([6, 8]), r.choice([3, 4]), r.choice([2, 5])
    B, Tx, Tm = r.integer(2, 3), r.integer(2, 4), r.integer(5, 8)
    W = (r.randn(d, dk, scale=0.5), r.randn(d, dk, scale=0.5), r.randn(d, dv))
    return [
        Case(r.randn(B, Tx, d), r.randn(B, Tx, d), *W).named(f"equal lengths ({Tx}), d_k={dk}, d_v={dv}"),
        Case(r.randn(B, Tx, d), r.randn(B, Tm, d), *W).named(f"{Tx} queries reading a memory of {Tm} tokens"),
        Case(r.randn(B, Tm, d), r.randn(B, Tx, d), *W).named(f"{Tm} queries reading a memory of {Tx} tokens"),
        Case(r.randn(1, d), r.randn(Tm, d), *W).named("one query, no batch"),
        Case(r.randn(B, Tx, d), r.randn(B, 1, d), *W).named("a memory of one token"),
    ]


def _ca_visible(r):
    W_q, W_k, W_v = _lesson_weights()
    mem = torch.tensor([[0.5, 0.1, -0.3, 0.2], [-0.4, 0.6, 0.2, 0.1], [0.3, -0.2, 0.5, -0.6]])
    return [Case(SEED_X, mem, W_q, W_k, W_v).named("the, cat, sat (queries) reading a memory of 3 other vectors")]


exercise(
    "09.1", "Cross-attention", points=2, kind="transfer",
    reference=cross_attention,
    visible=_ca_visible,
    hidden=_ca_cases,
    compare=scaled(atol=1e-5, rtol=1e-4),
    hint="q = x @ W_q from the sequence that asks; k = memory @ W_k and v = memory @ W_v from the "
         "sequence that is read; out = softmax(q k^T / sqrt(d_k)) v, one row per query: (..., T_x, d_v).",
    mistakes=[
        Mistake("keys and values from x (self-attention)", _ca_self,
                hint="In cross-attention the keys AND the values come from memory: k = memory @ W_k, "
                     "v = memory @ W_v. Only the queries come from x."),
        Mistake("queries from memory", _ca_queries_from_memory,
                hint="The queries come from x (one output row per position of x), the keys and values "
                     "from memory."),
        Mistake("scaled by sqrt(d_model)", _ca_scale_d_model,
                hint="Scale by sqrt(d_k), the length of a query (W_q.shape[-1]), not the input width."),
    ],
    alternatives=[Alternative("einsum", _ca_einsum)],
)


# --- 09.2 one head from a fused projection, from memory -------------------------------------------------------
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
    "09.2", "One head from a fused projection, from memory", points=2, kind="rebuild",
    reference=fused_head,
    visible=[_lesson_head_case().named("the article's the, cat, sat: d_model=4, head_size=2")],
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


# --- 09.3 predict: GPT-2 small's fused weight -------------------------------------------------------
def gpt2_c_attn_shape():
    """Reference: ``nn.Linear(768, 3 * 768).weight.shape`` as a tuple, ``(out, in)``."""
    return (3 * 768, 768)


exercise(
    "09.3", "The shape of GPT-2's fused projection", points=1, kind="predict",
    reference=gpt2_c_attn_shape,
    compare=exact(),
    hint="c_attn = nn.Linear(d, 3 * d) with d = 768; nn.Linear stores its weight as (out, in).",
    mistakes=[
        Mistake("the article's orientation (in, out)", lambda: (768, 3 * 768),
                hint="nn.Linear stores (out, in): the fused layer maps 768 channels to 3 * 768, so its "
                     "weight is (3 * 768, 768)."),
        Mistake("one projection, not three", lambda: (768, 768),
                hint="The fused matrix holds W_Q, W_K and W_V stacked: 3 * 768 output channels."),
        Mistake("one head's slice", lambda: (3 * 64, 768),
                hint="c_attn projects all 12 heads at once: 3 * 768 outputs, not 3 * 64."),
    ],
    alternatives=[Alternative("a torch.Size", lambda: torch.Size([2304, 768]))],
)
