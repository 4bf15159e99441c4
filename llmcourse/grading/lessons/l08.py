"""Lesson 8 (Self-Attention Part 2, Multi-Head) exercises: heads as a batch dimension.

08.1 ``split_heads(x, n_head)``: ``(B, T, C)`` -> ``(B, n_head, T, C // n_head)``, head ``h``
     owning channels ``h*hd .. (h+1)*hd - 1``.
08.2 ``merge_heads(x)``: the inverse, ``(B, n_head, T, hd)`` -> ``(B, T, n_head * hd)``.
08.3 ``MultiHeadSelfAttention(n_embd, n_head)``: an ``nn.Module`` with a fused ``c_attn`` and an
     output projection ``c_proj``; unmasked (the causal mask comes in lesson 10).

>>> split_heads(torch.arange(8.).view(1, 2, 4), 2)[0, 1]      # head 1: channels 2 and 3
tensor([[2., 3.],
        [6., 7.]])
>>> merge_heads(split_heads(torch.arange(8.).view(1, 2, 4), 2)).view(-1).tolist()
[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from llmcourse import attention
from llmcourse.grading import Case, Mistake, close, exercise
from llmcourse.grading.lessons._common import scaled
from llmcourse.grading.registry import Alternative

#: The lesson's example: 3 tokens ("The cat sat") with 8 channels numbered 0..23, 2 heads.
NUMBERED = torch.arange(24.0).view(1, 3, 8)  # (B=1, T=3, C=8)


# --- 08.1 split_heads -------------------------------------------------------------------------
def split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """Reference: ``llmcourse.attention.split_heads``."""
    return attention.split_heads(x, n_head)


def _split_cases(r):
    out = []
    for C, h in ((12, 3), (16, 4), (32, 8)):
        B, T = r.integer(1, 3), r.choice([t for t in range(2, 7) if t != h])
        out.append(Case(r.randn(B, T, C), h).named(f"x of shape ({B}, {T}, {C}), {h} heads"))
    out.append(Case(r.randn(3, 4, 8), 2).named("a batch of three sequences"))
    out.append(Case(r.randn(2, 1, 8), 2).named("a single token (T = 1)"))
    out.append(Case(r.randn(2, 5, 6), 1).named("one head"))
    return out


def _plain_view(x, n_head):
    B, T, C = x.shape
    return x.view(B, n_head, T, C // n_head)  # (B, nh, T, hd) but rows are not tokens any more


def _no_transpose(x, n_head):
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head)  # (B, T, nh, hd)


def _interleaved(x, n_head):
    B, T, C = x.shape
    return x.view(B, T, C // n_head, n_head).permute(0, 3, 1, 2)  # head h gets channels h, h+nh, ...


exercise(
    "08.1", "Split the channels into heads", points=1,
    reference=split_heads,
    visible=[Case(NUMBERED, 2).named("the lesson's numbered example: 3 tokens, 8 channels, 2 heads")],
    hidden=_split_cases,
    compare=close(atol=0, rtol=0),
    hint="x.view(B, T, n_head, C // n_head) splits each token's channels into heads; then "
         ".transpose(1, 2) moves the head dimension in front of time: (B, n_head, T, head_dim).",
    mistakes=[
        Mistake("plain view to (B, n_head, T, hd)", _plain_view,
                hint="A plain x.view(B, n_head, T, hd) refills memory in order, so a 'row' mixes the "
                     "channels of different tokens. View as (B, T, n_head, hd) first, then transpose(1, 2)."),
        Mistake("missing transpose", _no_transpose,
                hint="After view(B, T, n_head, hd) the heads are in dimension 2; transpose(1, 2) gives "
                     "(B, n_head, T, hd), with time next to head_dim as attention needs."),
        Mistake("interleaved channels", _interleaved,
                hint="Head h owns a contiguous block of channels h*hd .. (h+1)*hd - 1: view as "
                     "(B, T, n_head, hd), not (B, T, hd, n_head)."),
    ],
    alternatives=[Alternative("stack of chunks", lambda x, n_head: torch.stack(x.chunk(n_head, dim=-1), dim=1)),
                  Alternative("reshape and permute", lambda x, n_head: x.reshape(*x.shape[:2], n_head, -1).permute(0, 2, 1, 3))],
)


# --- 08.2 merge_heads -------------------------------------------------------------------------
def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """Reference: ``llmcourse.attention.merge_heads``."""
    return attention.merge_heads(x)


def _merge_cases(r):
    out = []
    for h, hd in ((3, 4), (4, 2), (8, 4)):
        B, T = r.integer(1, 3), r.choice([t for t in range(2, 7) if t != h])
        out.append(Case(r.randn(B, h, T, hd)).named(f"x of shape ({B}, {h}, {T}, {hd})"))
    out.append(Case(r.randn(2, 2, 1, 4)).named("a single token (T = 1)"))
    out.append(Case(r.randn(3, 2, 4, 3)).named("a batch of three sequences"))
    out.append(Case(r.randn(2, 1, 4, 5)).named("one head"))
    return out


def _merge_plain(x):
    B, nh, T, hd = x.shape
    return x.reshape(B, T, nh * hd)  # no transpose: heads and time mixed up


def _merge_interleaved(x):
    B, nh, T, hd = x.shape
    return x.permute(0, 2, 3, 1).reshape(B, T, nh * hd)  # (B, T, hd, nh): channels interleaved


exercise(
    "08.2", "Merge the heads back", points=1,
    reference=merge_heads,
    visible=[Case(split_heads(NUMBERED, 2)).named("the split numbered example (1, 2, 3, 4)")],
    hidden=_merge_cases,
    compare=close(atol=0, rtol=0),
    hint="x.transpose(1, 2) gives (B, T, n_head, hd); then .contiguous().view(B, T, n_head * hd) "
         "(or .reshape) puts head 0's channels first, then head 1's, ...",
    mistakes=[
        Mistake("reshape without transpose", _merge_plain,
                hint="Move time back next to the batch first: x.transpose(1, 2) -> (B, T, n_head, hd), "
                     "then reshape to (B, T, C). Reshaping (B, n_head, T, hd) directly mixes tokens."),
        Mistake("interleaved channels", _merge_interleaved,
                hint="Concatenate the heads: head 0's hd channels, then head 1's, ... That is "
                     "transpose(1, 2) then reshape, not permute(0, 2, 3, 1)."),
        Mistake("averaged the heads", lambda x: x.mean(dim=1),
                hint="The heads are concatenated, not averaged: the result has n_head * hd channels."),
    ],
    alternatives=[Alternative("cat of the heads", lambda x: torch.cat(x.unbind(dim=1), dim=-1)),
                  Alternative("permute and reshape", lambda x: x.permute(0, 2, 1, 3).reshape(x.shape[0], x.shape[2], -1))],
)


# --- 08.3 the module --------------------------------------------------------------------------
class MultiHeadSelfAttention(attention.MultiHeadAttention):
    """Reference: the package's ``MultiHeadAttention`` without a mask, readable path."""

    def __init__(self, n_embd: int, n_head: int):
        super().__init__(n_embd, n_head, bias=True, causal=False, fast_attention=False)

    def forward(self, x):
        return super().forward(x)


class _PlainViewSplit(MultiHeadSelfAttention):
    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # each (B, T, C)
        q, k, v = (t.reshape(B, self.n_head, T, C // self.n_head) for t in (q, k, v))  # wrong split
        y, _ = attention.scaled_dot_product_attention(q, k, v)
        return self.c_proj(attention.merge_heads(y))


def _heads(self, x):
    B, T, C = x.shape
    q, k, v = self.c_attn(x).split(C, dim=2)  # each (B, T, C)
    return (attention.split_heads(t, self.n_head) for t in (q, k, v))  # each (B, nh, T, hd)


class _ScaleByC(MultiHeadSelfAttention):
    def forward(self, x):
        q, k, v = _heads(self, x)
        y, _ = attention.scaled_dot_product_attention(q, k, v, scale=1 / math.sqrt(self.n_embd))
        return self.c_proj(attention.merge_heads(y))


class _NoProj(MultiHeadSelfAttention):
    def forward(self, x):
        q, k, v = _heads(self, x)
        y, _ = attention.scaled_dot_product_attention(q, k, v)
        return attention.merge_heads(y)  # c_proj forgotten


class _MergeNoTranspose(MultiHeadSelfAttention):
    def forward(self, x):
        q, k, v = _heads(self, x)
        y, _ = attention.scaled_dot_product_attention(q, k, v)
        return self.c_proj(_merge_plain(y))


class _QKOrder(MultiHeadSelfAttention):
    def forward(self, x):
        q, k, v = _heads(self, x)
        y, _ = attention.scaled_dot_product_attention(k, q, v)  # the first chunk used as keys
        return self.c_proj(attention.merge_heads(y))


class _SoftmaxQueries(MultiHeadSelfAttention):
    def forward(self, x):
        q, k, v = _heads(self, x)
        w = attention.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.head_dim), dim=-2)
        return self.c_proj(attention.merge_heads(w @ v))


class _TorchSDPA(MultiHeadSelfAttention):
    def forward(self, x):
        q, k, v = _heads(self, x)
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v)  # (B, nh, T, hd)
        return self.c_proj(y.transpose(1, 2).reshape(x.shape))


class _HeadLoop(MultiHeadSelfAttention):
    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        hd, outs = C // self.n_head, []
        for h in range(self.n_head):
            s = slice(h * hd, (h + 1) * hd)
            w = torch.softmax(q[..., s] @ k[..., s].transpose(1, 2) / math.sqrt(hd), dim=-1)
            outs.append(w @ v[..., s])
        return self.c_proj(torch.cat(outs, dim=-1))


class _BatchOfOne(MultiHeadSelfAttention):
    def forward(self, x):
        return super().forward(x[:1]).expand_as(x)  # the first sequence's output for every row


def _lesson_x():
    g = torch.Generator().manual_seed(8)
    return torch.randn(1, 3, 8, generator=g)  # (B=1, T=3, C=8): "The cat sat"


def _mha_cases(r):
    out = []
    for C, h in ((16, 4), (12, 3), (32, 8)):
        B, T = r.integer(2, 3), r.integer(2, 7)
        out.append(Case(r.randn(B, T, C)).build_with(C, h).named(f"n_embd={C}, n_head={h}, x ({B}, {T}, {C})"))
    out.append(Case(r.randn(2, 1, 16)).build_with(16, 2).named("a single token (T = 1)"))
    out.append(Case(r.randn(1, 5, 8)).build_with(8, 1).named("one head"))
    return out


exercise(
    "08.3", "Multi-head self-attention module", points=2,
    reference=MultiHeadSelfAttention,
    visible=[Case(_lesson_x()).build_with(8, 2).named("the lesson's example: 3 tokens, n_embd=8, 2 heads")],
    hidden=_mha_cases,
    compare=close(atol=1e-5, rtol=1e-5),
    hint="c_attn(x).split(C, dim=2) gives q, k, v; split each into heads (view + transpose), attend "
         "with scale 1/sqrt(head_dim), merge the heads (transpose + reshape), then apply c_proj.",
    mistakes=[
        Mistake("plain view when splitting", _PlainViewSplit,
                hint="Split with view(B, T, n_head, hd).transpose(1, 2); a plain view or reshape to "
                     "(B, n_head, T, hd) mixes the channels of different tokens."),
        Mistake("scaled by sqrt(n_embd)", _ScaleByC,
                hint="Each head's queries and keys have head_dim = n_embd // n_head entries: divide the "
                     "scores by sqrt(head_dim), not sqrt(n_embd)."),
        Mistake("no output projection", _NoProj,
                hint="After merging the heads apply self.c_proj (W_O): it mixes the heads' outputs."),
        Mistake("merge without transpose", _MergeNoTranspose,
                hint="Merge with y.transpose(1, 2).contiguous().view(B, T, C); reshaping (B, nh, T, hd) "
                     "directly mixes tokens."),
        Mistake("queries and keys swapped", _QKOrder,
                hint="c_attn's output is [q | k | v] along the last dimension, in that order: the first "
                     "n_embd channels are the queries."),
        Mistake("softmax over the queries", _SoftmaxQueries,
                hint="Normalise each query's scores over the keys: softmax over the last dimension."),
        Mistake("the first sequence's output for the whole batch", _BatchOfOne,
                hint="Every sequence of the batch gets its own attention: keep the batch dimension B "
                     "all the way through (shapes (B, n_head, T, head_dim)), do not use x[0]."),
    ],
    alternatives=[Alternative("F.scaled_dot_product_attention", _TorchSDPA),
                  Alternative("a loop over the heads", _HeadLoop)],
)
