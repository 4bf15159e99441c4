"""Self-attention, from one head to multi-head with a KV cache (lessons 7 to 12).

``Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + mask) V``. The article's dry run, three tokens
with ``d_k = 4``:

>>> import torch
>>> Q = torch.tensor([[1., 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]])
>>> K = torch.tensor([[1., 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0]])
>>> V = torch.tensor([[1., 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]])
>>> out, w = scaled_dot_product_attention(Q, K, V)
>>> w.round(decimals=2)
tensor([[0.2700, 0.2700, 0.4500],
        [0.3800, 0.3800, 0.2300],
        [0.5100, 0.1900, 0.3100]])
>>> out[0].round(decimals=4)        # the article prints 0.72 by adding the rounded 0.27 + 0.45
tensor([0.7259, 0.7259, 0.2741, 0.2741])

Masks follow PyTorch's convention for boolean masks: ``True`` means "may attend".
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._checks import check_last_dim, describe
from .config import GPTConfig, as_config
from .embedding import RotaryEmbedding


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Lesson 11: numerically stable softmax. Subtracting the row maximum changes nothing
    mathematically (it cancels) but keeps ``exp`` from overflowing.

    >>> softmax(torch.tensor([2.0, 1.0, 0.5, 0.0])).round(decimals=2)
    tensor([0.5800, 0.2100, 0.1300, 0.0800])
    >>> softmax(torch.tensor([1000.0, 1000.0]))      # naive exp(1000) would be inf
    tensor([0.5000, 0.5000])
    """
    m = x.detach().amax(dim=dim, keepdim=True)  # row maximum, (..., 1)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))  # a row of all -inf stays NaN, like torch
    e = torch.exp(x - m)
    return e / e.sum(dim=dim, keepdim=True)


def causal_mask(T_q: int, T_k: int | None = None, device=None) -> torch.Tensor:
    """Lesson 10: boolean ``(T_q, T_k)`` mask, ``True`` where query ``i`` may look at key ``j``.

    With a KV cache the queries are the *last* ``T_q`` of ``T_k`` positions, so query ``i`` sees
    keys ``j <= i + (T_k - T_q)``.

    >>> causal_mask(3).int()
    tensor([[1, 0, 0],
            [1, 1, 0],
            [1, 1, 1]], dtype=torch.int32)
    >>> causal_mask(1, 3).int()        # one new query after two cached keys sees all three
    tensor([[1, 1, 1]], dtype=torch.int32)
    """
    T_k = T_q if T_k is None else T_k
    if T_k < T_q:
        raise ValueError(f"causal_mask needs T_k >= T_q (keys include the queries), got {T_q=} {T_k=}.")
    ones = torch.ones(T_q, T_k, dtype=torch.bool, device=device)
    return torch.tril(ones, diagonal=T_k - T_q)


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None, is_causal: bool = False,
                                 scale: float | None = None, dropout_p: float = 0.0):
    """Lessons 7-11: the readable attention. Returns ``(out, weights)``.

    ``q`` is ``(..., T_q, d_k)``, ``k`` is ``(..., T_k, d_k)``, ``v`` is ``(..., T_k, d_v)``;
    ``out`` is ``(..., T_q, d_v)`` and ``weights`` is ``(..., T_q, T_k)`` with rows summing to 1.
    ``mask`` is boolean (``True`` = keep) or additive float (``0`` or ``-inf``).
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or t.dim() < 2:
            raise ValueError(f"{name} must be a tensor of shape (..., T, d), got {describe(t)}.")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q and k must have the same last dimension d_k, got q {tuple(q.shape)} and k {tuple(k.shape)}."
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"k and v must have one row per key position, got k {tuple(k.shape)} and v {tuple(v.shape)}."
        )
    T_q, T_k = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = (q @ k.transpose(-2, -1)) * scale  # (..., T_q, T_k)
    if is_causal:
        scores = scores.masked_fill(~causal_mask(T_q, T_k, device=q.device), float("-inf"))
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask
    weights = softmax(scores, dim=-1)  # (..., T_q, T_k), over the keys
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ v, weights  # (..., T_q, d_v), (..., T_q, T_k)


class AttentionHead(nn.Module):
    """Lesson 7 and 9: one head with its own query, key and value projections.

    >>> head = AttentionHead(n_embd=8, head_size=4)
    >>> head(torch.randn(2, 5, 8)).shape        # (B, T, n_embd) -> (B, T, head_size)
    torch.Size([2, 5, 4])
    """

    def __init__(self, n_embd: int, head_size: int, bias: bool = False, causal: bool = True):
        super().__init__()
        self.query = nn.Linear(n_embd, head_size, bias=bias)
        self.key = nn.Linear(n_embd, head_size, bias=bias)
        self.value = nn.Linear(n_embd, head_size, bias=bias)
        self.n_embd, self.causal = n_embd, causal

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        check_last_dim(x, self.n_embd)
        q, k, v = self.query(x), self.key(x), self.value(x)  # each (B, T, head_size)
        out, w = scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return (out, w) if return_weights else out


def split_heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """Lesson 8: ``(B, T, C)`` -> ``(B, n_head, T, C // n_head)``; head ``h`` owns channels
    ``h*hd .. (h+1)*hd - 1``.

    >>> split_heads(torch.arange(8.).view(1, 2, 4), 2)[0, 1]      # head 1 gets channels 2, 3
    tensor([[2., 3.],
            [6., 7.]])
    """
    B, T, C = x.shape
    if C % n_head:
        raise ValueError(f"cannot split {C} channels into {n_head} equal heads ({C} % {n_head} != 0).")
    return x.view(B, T, n_head, C // n_head).transpose(1, 2)  # (B, T, nh, hd) -> (B, nh, T, hd)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """Lesson 8 and 12: the inverse of :func:`split_heads`, ``(B, nh, T, hd)`` -> ``(B, T, nh*hd)``."""
    B, nh, T, hd = x.shape
    return x.transpose(1, 2).contiguous().view(B, T, nh * hd)  # (B, T, nh, hd) -> (B, T, C)


class LayerKVCache:
    """Lesson 19: the keys and values one attention layer has already computed, ``(B, nh, T, hd)``."""

    def __init__(self):
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    @property
    def length(self) -> int:
        return 0 if self.k is None else self.k.shape[2]

    def update(self, k: torch.Tensor, v: torch.Tensor):
        """Append new keys/values along time and return all of them."""
        if self.k is None:
            self.k, self.v = k, v
        else:
            self.k = torch.cat([self.k, k], dim=2)  # (B, nh, T_old + T_new, hd)
            self.v = torch.cat([self.v, v], dim=2)
        return self.k, self.v


class KVCache:
    """Lesson 19: one :class:`LayerKVCache` per block; ``length`` is the number of cached positions."""

    def __init__(self, n_layer: int):
        self.layers = [LayerKVCache() for _ in range(n_layer)]

    @property
    def length(self) -> int:
        return self.layers[0].length

    def reset(self) -> None:
        for layer in self.layers:
            layer.k = layer.v = None


def _cpu_autocast_on() -> bool:
    try:
        return torch.is_autocast_enabled("cpu")
    except TypeError:  # torch < 2.4 takes no device argument
        return torch.is_autocast_cpu_enabled()


def fused_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **kwargs) -> torch.Tensor:
    """``F.scaled_dot_product_attention(q, k, v, **kwargs)``, except under CPU bf16 autocast
    (lesson 20's ``precision="bf16"``), where it runs in float32 and returns float32: PyTorch's
    fused CPU attention is several times slower backwards in bf16 than in fp32, while the
    products around it gain from bf16 (timings: ``benchmarks/RESULTS.md``).

    >>> q = torch.randn(1, 2, 3, 4).bfloat16()      # (B, nh, T, hd), as a bf16 projection gives it
    >>> with torch.autocast("cpu", dtype=torch.bfloat16):
    ...     y = fused_attention(q, q, q, is_causal=True)
    >>> y.dtype, torch.equal(y, F.scaled_dot_product_attention(q.float(), q.float(), q.float(), is_causal=True))
    (torch.float32, True)
    """
    if q.device.type == "cpu" and _cpu_autocast_on():
        with torch.autocast("cpu", enabled=False):
            return F.scaled_dot_product_attention(q.float(), k.float(), v.float(), **kwargs)
    return F.scaled_dot_product_attention(q, k, v, **kwargs)


class MultiHeadAttention(nn.Module):
    """Lessons 8-12: causal multi-head self-attention with a fused QKV projection and ``W_O``.

    Built from the model's :class:`GPTConfig` (``n_embd``, ``n_head``, ``bias``, ``dropout``,
    ``pos_embedding``, ``block_size``, ``fast_attention``, ``fused_kernels``), or from sizes:
    ``MultiHeadAttention(n_embd, n_head, fast_attention=False)``. ``causal=False`` lets every
    token see every other (an encoder's attention, lesson 8).

    ``fast_attention=True`` runs ``F.scaled_dot_product_attention`` (fused kernels);
    ``False`` runs the readable :func:`scaled_dot_product_attention`. Both are tested equal. Set
    ``save_weights`` to keep the last attention weights in ``last_weights`` (the attention
    explorer does); the readable path runs then, since the fused kernel never forms the weights.

    >>> mha = MultiHeadAttention(n_embd=8, n_head=2)
    >>> mha(torch.randn(1, 5, 8)).shape          # (B, T, C) -> (B, T, C)
    torch.Size([1, 5, 8])
    """

    def __init__(self, config: GPTConfig | int | None = None, n_head: int | None = None, *,
                 causal: bool = True, **options):
        super().__init__()
        c = as_config(config, n_head, **options)
        self.n_embd, self.n_head, self.head_dim = c.n_embd, c.n_head, c.head_dim
        self.c_attn = nn.Linear(c.n_embd, 3 * c.n_embd, bias=c.bias)  # W_Q, W_K, W_V stacked
        self.c_proj = nn.Linear(c.n_embd, c.n_embd, bias=c.bias)  # W_O
        self.dropout = c.dropout
        self.resid_drop = nn.Dropout(c.dropout)
        self.causal, self.fast = causal, c.fast_attention
        self.rope = (RotaryEmbedding(c.head_dim, c.block_size, fused=c.fused_kernels)
                     if c.pos_embedding == "rope" else None)
        self.save_weights = False
        self.last_weights: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, kv_cache: LayerKVCache | None = None,
                return_weights: bool = False):
        check_last_dim(x, self.n_embd)
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # each (B, T, C)
        q, k, v = (split_heads(t, self.n_head) for t in (q, k, v))  # each (B, nh, T, hd)
        offset = kv_cache.length if kv_cache is not None else 0
        if self.rope is not None:
            q, k = self.rope(q, offset), self.rope(k, offset)
        if kv_cache is not None:
            k, v = kv_cache.update(k, v)  # (B, nh, T_k, hd) with T_k = offset + T
        T_k = k.shape[2]
        p = self.dropout if self.training else 0.0
        want_weights = return_weights or self.save_weights
        if self.fast and not want_weights:
            if not self.causal or T == 1:  # one new query may see every cached key
                y = fused_attention(q, k, v, dropout_p=p)
            elif T_k == T:
                y = fused_attention(q, k, v, dropout_p=p, is_causal=True)
            else:  # torch's is_causal aligns top-left; with a cache we need bottom-right
                mask = causal_mask(T, T_k, device=x.device)
                y = fused_attention(q, k, v, attn_mask=mask, dropout_p=p)
            w = None
        else:
            y, w = scaled_dot_product_attention(q, k, v, is_causal=self.causal, dropout_p=p)
            if self.save_weights:
                self.last_weights = w.detach()  # (B, nh, T, T_k)
        y = merge_heads(y)  # (B, nh, T, hd) -> (B, T, C)
        y = self.resid_drop(self.c_proj(y))
        return (y, w) if return_weights else y
