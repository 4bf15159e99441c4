"""GELU by hand equals F.gelu for both approximations (float64, <= 1e-12); the MLP's shape and size."""

import pytest
import torch
import torch.nn.functional as F

from llmcourse.feedforward import GELU, MLP, gelu


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_equals_torch(approximate):
    x = torch.linspace(-8, 8, 2001, dtype=torch.float64)
    assert (gelu(x, approximate) - F.gelu(x, approximate=approximate)).abs().max() <= 1e-12
    assert (GELU(approximate)(x) - F.gelu(x, approximate=approximate)).abs().max() <= 1e-12


def test_gelu_approximations_differ_a_little():
    x = torch.linspace(-4, 4, 801, dtype=torch.float64)
    diff = (gelu(x, "tanh") - gelu(x, "none")).abs().max().item()
    assert 1e-5 < diff < 1e-3  # close, but not the same function


def test_mlp_shapes_and_parameters():
    mlp = MLP(16)
    assert mlp.c_fc.weight.shape == (64, 16)
    assert mlp(torch.randn(2, 3, 16)).shape == (2, 3, 16)
    assert sum(p.numel() for p in mlp.parameters()) == 16 * 64 + 64 + 64 * 16 + 16
    mlp_nb = MLP(16, bias=False)
    assert sum(p.numel() for p in mlp_nb.parameters()) == 2 * 16 * 64


def test_mlp_acts_per_position():
    torch.manual_seed(0)
    mlp = MLP(8).double()
    x = torch.randn(1, 5, 8, dtype=torch.float64)
    full = mlp(x)
    for t in range(5):
        assert (mlp(x[:, t:t + 1]) - full[:, t:t + 1]).abs().max() <= 1e-14


def test_bad_activation():
    with pytest.raises(ValueError, match="approximate must be"):
        GELU("fast")
    with pytest.raises(ValueError, match="activation must be one of"):
        MLP(8, activation="swish")
