"""Attention against PyTorch: readable == F.scaled_dot_product_attention, multi-head ==
nn.MultiheadAttention, the seed's dry run, KV cache and RoPE properties.

Tolerances: float64 comparisons <= 1e-12, float32 comparisons <= 1e-5 (stated per test)."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from llmcourse.attention import (
    AttentionHead, KVCache, LayerKVCache, MultiHeadAttention, causal_mask, merge_heads,
    scaled_dot_product_attention, softmax, split_heads,
)
from llmcourse.embedding import apply_rope, rope_angles

D64 = dict(dtype=torch.float64)


def test_softmax_equals_torch_and_is_stable():
    torch.manual_seed(0)
    x = torch.randn(5, 9, **D64) * 10
    assert (softmax(x) - torch.softmax(x, -1)).abs().max() <= 1e-15
    assert (softmax(x, dim=0) - torch.softmax(x, 0)).abs().max() <= 1e-15
    big = torch.tensor([1e4, 1e4 - 1.0, -1e4])
    out = softmax(big)
    assert torch.isfinite(out).all()
    assert (out - torch.softmax(big, -1)).abs().max() <= 1e-7
    masked = torch.tensor([0.5, float("-inf"), 1.0])
    assert softmax(masked)[1] == 0


def test_seed_dry_run():
    Q = torch.tensor([[1., 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]])
    K = torch.tensor([[1., 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0]])
    V = torch.tensor([[1., 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]])
    scores = Q @ K.T
    assert scores.tolist() == [[1, 1, 2], [1, 1, 0], [2, 0, 1]]
    out, w = scaled_dot_product_attention(Q, K, V)
    expected_w = torch.tensor([[0.27, 0.27, 0.45], [0.38, 0.38, 0.23], [0.51, 0.19, 0.31]])
    assert torch.equal(w.round(decimals=2), expected_w)
    assert torch.equal(out[0].round(decimals=2), torch.tensor([0.73, 0.73, 0.27, 0.27]))
    assert abs(out[0, 0].item() - 0.7259) < 1e-4
    # the seed's 0.72 comes from adding the rounded weights 0.27 + 0.45
    assert round(0.27 + 0.45, 2) == 0.72


@pytest.mark.parametrize("case", ["none", "causal", "bool", "float", "cross"])
def test_sdpa_equals_torch(case):
    torch.manual_seed(1)
    B, H, T, d = 2, 3, 6, 8
    T_k = 9 if case == "cross" else T
    q = torch.randn(B, H, T, d, **D64)
    k = torch.randn(B, H, T_k, d, **D64)
    v = torch.randn(B, H, T_k, 5, **D64)
    kwargs_ours, kwargs_ref = {}, {}
    if case == "causal":
        kwargs_ours = kwargs_ref = {"is_causal": True}
    elif case == "bool":
        m = torch.rand(T, T_k) > 0.3
        m[:, 0] = True  # every row keeps at least one key
        kwargs_ours = kwargs_ref = {"mask": m}
        kwargs_ref = {"attn_mask": m}
    elif case == "float":
        m = torch.randn(T, T_k, **D64)
        kwargs_ours, kwargs_ref = {"mask": m}, {"attn_mask": m}
    elif case == "cross":
        m = causal_mask(T, T_k)  # bottom-right aligned, as a KV cache needs
        kwargs_ours, kwargs_ref = {"is_causal": True}, {"attn_mask": m}
    out, w = scaled_dot_product_attention(q, k, v, **kwargs_ours)
    ref = F.scaled_dot_product_attention(q, k, v, **kwargs_ref)
    assert out.shape == ref.shape == (B, H, T, 5)
    assert (out - ref).abs().max() <= 1e-12
    assert torch.allclose(w.sum(-1), torch.ones(B, H, T, **D64))


def test_causal_weights_are_zero_above_diagonal():
    q = k = v = torch.randn(1, 5, 4)
    _, w = scaled_dot_product_attention(q, k, v, is_causal=True)
    assert torch.all(w[0].triu(1) == 0)
    assert torch.all(w[0][causal_mask(5)] > 0)


def test_causal_mask_with_offset():
    assert causal_mask(2, 4).tolist() == [[True, True, True, False], [True, True, True, True]]
    with pytest.raises(ValueError):
        causal_mask(4, 2)


def test_split_merge_inverse():
    x = torch.randn(2, 5, 12)
    h = split_heads(x, 3)
    assert h.shape == (2, 3, 5, 4)
    assert torch.equal(h[:, 1, :, :], x[:, :, 4:8])
    assert torch.equal(merge_heads(h), x)


def _copy_to_torch_mha(ours: MultiHeadAttention) -> nn.MultiheadAttention:
    ref = nn.MultiheadAttention(ours.n_embd, ours.n_head, bias=True, batch_first=True).double()
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.c_attn.weight)  # rows: W_Q, W_K, W_V, as in c_attn
        ref.in_proj_bias.copy_(ours.c_attn.bias)
        ref.out_proj.weight.copy_(ours.c_proj.weight)
        ref.out_proj.bias.copy_(ours.c_proj.bias)
    return ref.eval()


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("causal", [True, False])
def test_multihead_equals_nn_multiheadattention(fast, causal):
    torch.manual_seed(2)
    ours = MultiHeadAttention(16, 4, causal=causal, fast_attention=fast).double().eval()
    with torch.no_grad():
        for p in ours.parameters():
            p.normal_(0, 0.3)
    ref = _copy_to_torch_mha(ours)
    x = torch.randn(3, 7, 16, **D64)
    # nn.MultiheadAttention's boolean mask means the opposite: True = NOT allowed
    mask = ~causal_mask(7) if causal else None
    expected, _ = ref(x, x, x, attn_mask=mask, need_weights=False)
    assert (ours(x) - expected).abs().max() <= 1e-12


def test_fast_and_readable_paths_agree_float32():
    torch.manual_seed(3)
    m = MultiHeadAttention(32, 4).eval()
    x = torch.randn(2, 11, 32)
    m.fast = True
    a = m(x)
    m.fast = False
    b = m(x)
    assert (a - b).abs().max() <= 1e-6


@pytest.mark.parametrize("rope", [False, True])
@pytest.mark.parametrize("fast", [False, True])
def test_kv_cache_equals_full_forward(rope, fast):
    torch.manual_seed(4)
    m = MultiHeadAttention(16, 2, pos_embedding="rope" if rope else "learned", block_size=32, fast_attention=fast).double().eval()
    x = torch.randn(2, 10, 16, **D64)
    full = m(x)
    cache = LayerKVCache()
    parts = [m(x[:, :4], kv_cache=cache), m(x[:, 4:7], kv_cache=cache)]
    parts += [m(x[:, t:t + 1], kv_cache=cache) for t in range(7, 10)]
    assert cache.length == 10
    assert (torch.cat(parts, dim=1) - full).abs().max() <= 1e-12


def test_kvcache_container():
    c = KVCache(3)
    assert c.length == 0
    c.layers[0].update(torch.zeros(1, 2, 4, 8), torch.zeros(1, 2, 4, 8))
    assert c.length == 4
    c.reset()
    assert c.length == 0


def test_rope_keeps_norms_and_depends_on_relative_position():
    torch.manual_seed(5)
    hd = 8
    q, k = torch.randn(hd, **D64), torch.randn(hd, **D64)

    def rot(v, pos):
        c, s = rope_angles(hd, 1, offset=pos, dtype=torch.float64)
        return apply_rope(v.view(1, hd), c, s).view(hd)

    assert abs(rot(q, 7).norm() - q.norm()) < 1e-12
    dots = [rot(q, m) @ rot(k, m - 3) for m in (3, 5, 10, 20)]
    assert max(dots) - min(dots) < 1e-12  # only m - n = 3 matters
    assert abs((rot(q, 5) @ rot(k, 1)) - dots[0]) > 1e-3  # a different distance differs


def test_attention_head_matches_manual():
    torch.manual_seed(6)
    head = AttentionHead(8, 4).double()
    x = torch.randn(2, 5, 8, **D64)
    q, k, v = head.query(x), head.key(x), head.value(x)
    s = q @ k.transpose(-2, -1) / math.sqrt(4)
    s = s.masked_fill(~causal_mask(5), float("-inf"))
    expected = torch.softmax(s, -1) @ v
    out, w = head(x, return_weights=True)
    assert (out - expected).abs().max() <= 1e-12
    assert w.shape == (2, 5, 5)


def test_bad_inputs_give_clear_errors():
    with pytest.raises(ValueError, match="divisible by n_head"):
        MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match="last dimension n_embd=16"):
        MultiHeadAttention(16, 2)(torch.randn(1, 3, 8))
    with pytest.raises(ValueError, match="same last dimension d_k"):
        scaled_dot_product_attention(torch.randn(3, 4), torch.randn(3, 5), torch.randn(3, 5))
