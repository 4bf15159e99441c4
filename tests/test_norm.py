"""LayerNorm and RMSNorm written out equal PyTorch's (float64: max abs difference <= 1e-12)."""

import pytest
import torch
import torch.nn as nn

from llmcourse.norm import LayerNorm, RMSNorm, layer_norm

TOL = 1e-12


@pytest.mark.parametrize("bias", [True, False])
def test_layernorm_equals_torch(bias):
    torch.manual_seed(0)
    x = torch.randn(4, 7, 16, dtype=torch.float64) * 3 + 1.5
    ours = LayerNorm(16, bias=bias).double()
    ref = nn.LayerNorm(16, bias=bias).double()
    with torch.no_grad():
        ours.weight.normal_()
        ref.weight.copy_(ours.weight)
        if bias:
            ours.bias.normal_()
            ref.bias.copy_(ours.bias)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1, y2 = ours(x1), ref(x2)
    assert (y1 - y2).abs().max() <= TOL
    g = torch.randn_like(y1)
    y1.backward(g)
    y2.backward(g)
    assert (x1.grad - x2.grad).abs().max() <= 1e-10
    assert (ours.weight.grad - ref.weight.grad).abs().max() <= 1e-10


def test_layernorm_does_not_call_functional(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("LayerNorm must be written out, not call F.layer_norm")

    monkeypatch.setattr(torch.nn.functional, "layer_norm", boom)
    LayerNorm(8)(torch.randn(2, 8))


def test_layernorm_statistics():
    x = torch.randn(1000, 32, dtype=torch.float64) * 5 + 3
    y = layer_norm(x)
    assert y.mean(-1).abs().max() < 1e-12
    assert (y.var(-1, unbiased=False) - 1).abs().max() < 1e-4  # eps=1e-5 makes it a hair below 1


def test_rmsnorm_equals_torch_or_formula():
    torch.manual_seed(1)
    x = torch.randn(3, 5, 12, dtype=torch.float64)
    ours = RMSNorm(12, eps=1e-6).double()
    with torch.no_grad():
        ours.weight.normal_()
    expected = x / torch.sqrt((x**2).mean(-1, keepdim=True) + 1e-6) * ours.weight
    assert (ours(x) - expected).abs().max() <= TOL
    if hasattr(nn, "RMSNorm"):  # torch >= 2.4
        ref = nn.RMSNorm(12, eps=1e-6).double()
        with torch.no_grad():
            ref.weight.copy_(ours.weight)
        assert (ours(x) - ref(x)).abs().max() <= TOL


def test_norm_shape_error_is_clear():
    with pytest.raises(ValueError, match="last dimension n_embd=8"):
        LayerNorm(8)(torch.randn(2, 3, 6))
