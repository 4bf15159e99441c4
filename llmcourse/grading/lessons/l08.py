"""Lesson 8 (Self-Attention Part 2, Multi-Head) exercises.

08.1 ``multi_head_attention(x, W_q, W_k, W_v, W_o, n_head)`` (find the bug): heads merged with a
     plain reshape of ``(B, n_head, T, hd)``, without the transpose back to ``(B, T, n_head, hd)``.
08.2 ``grouped_query_attention(x, W_q, W_k, W_v, W_o, n_head, n_kv_head)`` (transfer): query heads
     in groups that share one key/value head (``n_kv_head = 1`` is multi-query attention).
08.3 (predict): the KV cache of Llama 3 8B per token, in KiB.

Matrices are written the article's way, ``q = x @ W_q``; no mask (lesson 10).

>>> x = torch.randn(2, 5, 8)
>>> W = [torch.eye(8)] * 4
>>> torch.allclose(grouped_query_attention(x, W[0], W[1], W[2], W[3], 2, 2),
...                multi_head_attention(x, *W, 2), atol=1e-6)
True
>>> llama3_kv_cache_kib()
128
"""

from __future__ import annotations

import math

import torch

from llmcourse import attention
from llmcourse.grading import Case, Mistake, exact, exercise
from llmcourse.grading.lessons._common import scaled
from llmcourse.grading.registry import Alternative


def _weights(r, C, kv_width=None):
    s = 1 / math.sqrt(C)
    kv = C if kv_width is None else kv_width
    return (r.randn(C, C, scale=s), r.randn(C, kv, scale=s), r.randn(C, kv, scale=s), r.randn(C, C, scale=s))


def _lesson_example():
    g = torch.Generator().manual_seed(8)
    X = torch.randn(1, 3, 8, generator=g)  # (B=1, T=3, C=8): "The cat sat"
    g = torch.Generator().manual_seed(0)
    W = [torch.randn(8, 8, generator=g) / math.sqrt(8) for _ in range(4)]
    return X, W


# --- 08.1 find the bug: heads merged without the transpose ----------------------------------------
def multi_head_attention(x, W_q, W_k, W_v, W_o, n_head):
    """Reference: unmasked multi-head self-attention, ``(B, T, C)`` -> ``(B, T, C)``."""
    q, k, v = (attention.split_heads(x @ W, n_head) for W in (W_q, W_k, W_v))  # (B, nh, T, hd)
    y, _ = attention.scaled_dot_product_attention(q, k, v)
    return attention.merge_heads(y) @ W_o


def _mha_given(x, W_q, W_k, W_v, W_o, n_head):
    B, T, C = x.shape
    hd = C // n_head
    q = (x @ W_q).view(B, T, n_head, hd).transpose(1, 2)
    k = (x @ W_k).view(B, T, n_head, hd).transpose(1, 2)
    v = (x @ W_v).view(B, T, n_head, hd).transpose(1, 2)
    w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(hd), dim=-1)
    y = w @ v
    return y.reshape(B, T, C) @ W_o


def _mha_split_plain_view(x, W_q, W_k, W_v, W_o, n_head):
    B, T, C = x.shape
    q, k, v = ((x @ W).reshape(B, n_head, T, C // n_head) for W in (W_q, W_k, W_v))  # wrong split
    y, _ = attention.scaled_dot_product_attention(q, k, v)
    return attention.merge_heads(y) @ W_o


def _mha_scale_c(x, W_q, W_k, W_v, W_o, n_head):
    q, k, v = (attention.split_heads(x @ W, n_head) for W in (W_q, W_k, W_v))
    y, _ = attention.scaled_dot_product_attention(q, k, v, scale=1 / math.sqrt(x.shape[-1]))
    return attention.merge_heads(y) @ W_o


def _mha_wo_transposed(x, W_q, W_k, W_v, W_o, n_head):
    q, k, v = (attention.split_heads(x @ W, n_head) for W in (W_q, W_k, W_v))
    y, _ = attention.scaled_dot_product_attention(q, k, v)
    return attention.merge_heads(y) @ W_o.T


def _mha_merge_permute_wrong(x, W_q, W_k, W_v, W_o, n_head):
    B, T, C = x.shape
    q, k, v = (attention.split_heads(x @ W, n_head) for W in (W_q, W_k, W_v))
    y, _ = attention.scaled_dot_product_attention(q, k, v)  # (B, nh, T, hd)
    return y.permute(0, 2, 3, 1).reshape(B, T, C) @ W_o      # channels interleaved across heads


def _mha_loop(x, W_q, W_k, W_v, W_o, n_head):
    C = x.shape[-1]
    hd, outs = C // n_head, []
    for h in range(n_head):
        cols = slice(h * hd, (h + 1) * hd)
        w = torch.softmax((x @ W_q[:, cols]) @ (x @ W_k[:, cols]).mT / math.sqrt(hd), dim=-1)
        outs.append(w @ (x @ W_v[:, cols]))
    return torch.cat(outs, dim=-1) @ W_o


def _mha_cases(r):
    out = []
    for C, h in ((16, 4), (12, 3), (32, 8)):
        B, T = r.integer(2, 3), r.choice([t for t in range(2, 8) if t != h])
        out.append(Case(r.randn(B, T, C), *_weights(r, C), h).named(f"x ({B}, {T}, {C}), {h} heads"))
    out.append(Case(r.randn(2, 5, 8, scale=4.0), *_weights(r, 8), 2).named("large inputs"))
    out.append(Case(r.randn(2, 1, 16), *_weights(r, 16), 4).named("a single token (T = 1)"))
    return out


_X, _W = _lesson_example()
exercise(
    "08.1", "Find the bug: heads merged without the transpose", points=2, kind="find the bug",
    reference=multi_head_attention, given=_mha_given,
    visible=[Case(_X, *_W, 2).named("the lesson's example: The, cat, sat with C = 8 and 2 heads")],
    hidden=_mha_cases,
    compare=scaled(atol=1e-5, rtol=1e-5),
    hint="Merging undoes the split: y (B, nh, T, hd) -> y.transpose(1, 2) (B, T, nh, hd) -> "
         ".reshape(B, T, C); only then multiply by W_o.",
    mistakes=[
        Mistake("plain reshape when splitting", _mha_split_plain_view,
                hint="The split was right: view(B, T, n_head, hd).transpose(1, 2). Keep it, and repair "
                     "the merge with the inverse, transpose(1, 2) then reshape(B, T, C)."),
        Mistake("scaled by sqrt(C)", _mha_scale_c,
                hint="Each head's queries and keys have hd = C // n_head entries: keep the scale 1/sqrt(hd)."),
        Mistake("W_o transposed", _mha_wo_transposed,
                hint="The matrices are written the article's way (x @ W): multiply the merged heads by "
                     "W_o itself, not W_o.T."),
        Mistake("heads merged by the wrong permutation", _mha_merge_permute_wrong,
                hint="Move the head dimension next to the channels, (B, T, nh, hd), so that head 0's hd "
                     "channels come first: transpose(1, 2), not a permutation that puts hd before nh."),
    ],
    alternatives=[Alternative("a loop over the heads", _mha_loop)],
)


# --- 08.2 grouped-query attention ------------------------------------------------------------------
def grouped_query_attention(x, W_q, W_k, W_v, W_o, n_head, n_kv_head):
    """Reference: ``n_head`` query heads of ``hd = C // n_head``; ``W_k``, ``W_v`` are
    ``(C, n_kv_head * hd)``; query head ``h`` uses key/value head ``h // (n_head // n_kv_head)``."""
    B, T, C = x.shape
    group = n_head // n_kv_head
    q = attention.split_heads(x @ W_q, n_head)                                 # (B, nh, T, hd)
    k, v = (attention.split_heads(x @ W, n_kv_head) for W in (W_k, W_v))     # (B, n_kv, T, hd)
    k, v = (t.repeat_interleave(group, dim=1) for t in (k, v))               # (B, nh, T, hd)
    y, _ = attention.scaled_dot_product_attention(q, k, v)
    return attention.merge_heads(y) @ W_o


def _gqa_repeat(x, W_q, W_k, W_v, W_o, n_head, n_kv_head):
    group = n_head // n_kv_head
    q = attention.split_heads(x @ W_q, n_head)
    k, v = (attention.split_heads(x @ W, n_kv_head).repeat(1, group, 1, 1) for W in (W_k, W_v))  # h -> h % n_kv
    y, _ = attention.scaled_dot_product_attention(q, k, v)
    return attention.merge_heads(y) @ W_o


def _gqa_scale_c(x, W_q, W_k, W_v, W_o, n_head, n_kv_head):
    group = n_head // n_kv_head
    q = attention.split_heads(x @ W_q, n_head)
    k, v = (attention.split_heads(x @ W, n_kv_head).repeat_interleave(group, 1) for W in (W_k, W_v))
    y, _ = attention.scaled_dot_product_attention(q, k, v, scale=1 / math.sqrt(x.shape[-1]))
    return attention.merge_heads(y) @ W_o


def _gqa_no_wo(x, W_q, W_k, W_v, W_o, n_head, n_kv_head):
    group = n_head // n_kv_head
    q = attention.split_heads(x @ W_q, n_head)
    k, v = (attention.split_heads(x @ W, n_kv_head).repeat_interleave(group, 1) for W in (W_k, W_v))
    y, _ = attention.scaled_dot_product_attention(q, k, v)
    return attention.merge_heads(y)


def _gqa_first_kv_only(x, W_q, W_k, W_v, W_o, n_head, n_kv_head):
    q = attention.split_heads(x @ W_q, n_head)
    k, v = (attention.split_heads(x @ W, n_kv_head)[:, :1] for W in (W_k, W_v))  # every head uses kv head 0
    y, _ = attention.scaled_dot_product_attention(q, k, v)
    return attention.merge_heads(y) @ W_o


def _gqa_grouped_view(x, W_q, W_k, W_v, W_o, n_head, n_kv_head):
    B, T, C = x.shape
    hd, g = C // n_head, n_head // n_kv_head
    q = (x @ W_q).view(B, T, n_kv_head, g, hd).permute(0, 2, 3, 1, 4)          # (B, n_kv, g, T, hd)
    k = (x @ W_k).view(B, T, n_kv_head, 1, hd).permute(0, 2, 3, 1, 4)          # (B, n_kv, 1, T, hd)
    v = (x @ W_v).view(B, T, n_kv_head, 1, hd).permute(0, 2, 3, 1, 4)
    w = torch.softmax(q @ k.mT / math.sqrt(hd), dim=-1)                        # broadcast over the group
    y = (w @ v).permute(0, 3, 1, 2, 4).reshape(B, T, C)
    return y @ W_o


def _gqa_case(r, C, nh, nkv, B=None, T=None, scale=1.0):
    B = B or r.integer(1, 3)
    T = T or r.integer(2, 7)
    hd = C // nh
    return Case(r.randn(B, T, C, scale=scale), *_weights(r, C, nkv * hd), nh, nkv)


def _gqa_cases(r):
    return [
        _gqa_case(r, 16, 4, 2).named("4 query heads, 2 key/value heads"),
        _gqa_case(r, 24, 6, 3).named("6 query heads, 3 key/value heads"),
        _gqa_case(r, 32, 8, 2, scale=3.0).named("8 query heads, 2 key/value heads, large inputs"),
        _gqa_case(r, 16, 4, 1).named("multi-query attention: 1 key/value head"),
        _gqa_case(r, 16, 4, 4).named("n_kv_head = n_head: ordinary multi-head attention"),
        _gqa_case(r, 16, 4, 2, T=1).named("a single token (T = 1)"),
    ]


def _gqa_visible(r):
    g = torch.Generator().manual_seed(8)
    X = torch.randn(1, 3, 8, generator=g)
    g = torch.Generator().manual_seed(1)
    W = [torch.randn(8, n, generator=g) / math.sqrt(8) for n in (8, 4, 4, 8)]
    return [Case(X, *W, 4, 2).named("3 tokens, C = 8, 4 query heads of 2 channels sharing 2 key/value heads")]


exercise(
    "08.2", "Grouped-query attention", points=3, kind="transfer",
    reference=grouped_query_attention,
    visible=_gqa_visible,
    hidden=_gqa_cases,
    compare=scaled(atol=1e-5, rtol=1e-5),
    hint="Split q into n_head heads and k, v into n_kv_head heads (all of hd = C // n_head channels); "
         "give query head h the key/value head h // (n_head // n_kv_head), e.g. with "
         "repeat_interleave(n_head // n_kv_head, dim=1); attend, merge, multiply by W_o.",
    mistakes=[
        Mistake("key/value heads repeated, not interleaved", _gqa_repeat,
                hint="Neighbouring query heads form a group: heads 0 and 1 share key/value head 0. "
                     ".repeat(1, g, 1, 1) gives head h the key/value head h % n_kv_head instead; use "
                     "repeat_interleave(g, dim=1)."),
        Mistake("scaled by sqrt(C)", _gqa_scale_c,
                hint="Each head's queries and keys have hd = C // n_head entries: scale by 1/sqrt(hd)."),
        Mistake("no output projection", _gqa_no_wo,
                hint="After merging the heads multiply by W_o, as in multi-head attention."),
        Mistake("every query head uses the first key/value head", _gqa_first_kv_only,
                hint="There are n_kv_head different key/value heads: query head h uses number "
                     "h // (n_head // n_kv_head), not always number 0."),
    ],
    alternatives=[Alternative("groups as an extra dimension, broadcast", _gqa_grouped_view)],
)


# --- 08.3 predict: the KV cache of Llama 3 8B --------------------------------------------------------
def llama3_kv_cache_kib():
    """Reference: keys and values, 32 layers, 8 key/value heads of 128 numbers, 2 bytes each."""
    return 2 * 32 * 8 * 128 * 2 // 1024


exercise(
    "08.3", "The KV cache of Llama 3 8B, per token", points=1, kind="predict",
    reference=llama3_kv_cache_kib,
    compare=exact(),
    hint="Per token and layer the cache holds one key and one value per key/value head: "
         "2 x 8 x 128 numbers of 2 bytes; then 32 layers; 1 KiB = 1024 bytes.",
    mistakes=[
        Mistake("one cache per query head (32)", lambda: 2 * 32 * 32 * 128 * 2 // 1024,
                hint="With grouped-query attention only the 8 key/value heads are cached, not the 32 "
                     "query heads."),
        Mistake("keys only", lambda: 32 * 8 * 128 * 2 // 1024,
                hint="The cache holds keys AND values: a factor 2."),
        Mistake("4 bytes per number", lambda: 2 * 32 * 8 * 128 * 4 // 1024,
                hint="bf16 stores a number in 2 bytes, not 4."),
        Mistake("one layer", lambda: 2 * 8 * 128 * 2 // 1024,
                hint="Every one of the 32 layers keeps its own keys and values."),
    ],
    alternatives=[Alternative("bytes / 1024", lambda: 131072 / 1024)],
)
