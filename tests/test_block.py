"""``llmcourse.block.layer_grad_norms``: the per-layer gradient norm behind lesson 14's figure.

Checked against a hand computation with ``torch.autograd.grad`` (float64, tolerance 1e-12), for
stale gradients, a custom loss and layers without parameters; and the lesson's claim: in a deep
plain MLP stack the gradient reaching the first layer vanishes, with residuals it does not.
"""

import pytest
import torch
import torch.nn as nn

from llmcourse.block import layer_grad_norms
from llmcourse.feedforward import MLP


def _stack(seed=0, depth=4, width=6):
    torch.manual_seed(seed)
    return nn.ModuleList(nn.Sequential(nn.Linear(width, width), nn.Tanh()) for _ in range(depth)).double()


def _by_hand(layers, x, loss_fn=lambda out: out.sum()):
    out = x
    for layer in layers:
        out = layer(out)
    params = [list(layer.parameters()) for layer in layers]
    grads = torch.autograd.grad(loss_fn(out), [p for ps in params for p in ps])
    norms, i = [], 0
    for ps in params:
        g = grads[i:i + len(ps)]
        i += len(ps)
        norms.append(torch.sqrt(sum((t ** 2).sum() for t in g)))
    return torch.stack(norms)


def test_equals_autograd_by_hand():
    layers, x = _stack(), torch.randn(5, 6, dtype=torch.float64)
    want = _by_hand(layers, x)
    got = layer_grad_norms(layers, x)
    assert got.shape == (4,) and got.dtype == torch.float64
    assert (got - want).abs().max() <= 1e-12
    # biases count: the norm is larger than the weights' alone
    w_only = torch.stack([layer[0].weight.grad.norm() for layer in layers])
    assert (got > w_only + 1e-9).all()


def test_stale_gradients_are_cleared_and_fresh_ones_kept():
    layers, x = _stack(1), torch.randn(3, 6, dtype=torch.float64)
    first = layer_grad_norms(layers, x)
    second = layer_grad_norms(layers, x)  # without clearing, .grad would hold twice the gradient
    assert torch.equal(first, second)
    assert layers[0][0].weight.grad is not None


def test_custom_loss_and_parameterless_layer():
    layers, x = _stack(2, depth=2), torch.randn(4, 6, dtype=torch.float64)
    mean_loss = lambda out: out.mean()  # noqa: E731
    got = layer_grad_norms(layers, x, loss_fn=mean_loss)
    assert torch.allclose(got, _by_hand(layers, x, mean_loss), atol=0, rtol=1e-12)
    assert torch.allclose(got * x.numel(), layer_grad_norms(layers, x), rtol=1e-12)  # sum = numel * mean
    with_relu = list(layers) + [nn.ReLU()]
    assert layer_grad_norms(with_relu, x)[-1].item() == 0.0


def test_errors_are_clear():
    with pytest.raises(ValueError, match="at least one layer"):
        layer_grad_norms([], torch.ones(1))
    with pytest.raises(TypeError, match="torch.Tensor"):
        layer_grad_norms([nn.Linear(1, 1)], [1.0])


class _Layer(nn.Module):
    def __init__(self, width, residual):
        super().__init__()
        self.residual, self.mlp = residual, MLP(width)

    def forward(self, x):
        return x + self.mlp(x) if self.residual else self.mlp(x)


def test_plain_stack_vanishes_residual_stack_does_not():
    """The lesson's claim, at depth 30 (float64 so nothing underflows): plain, the first layer
    gets less than 1e-6 of the last layer's gradient; residual, within a factor of 10."""
    ratios = {}
    for residual in (False, True):
        torch.manual_seed(0)
        layers = nn.ModuleList(_Layer(32, residual) for _ in range(30)).double()
        n = layer_grad_norms(layers, torch.randn(16, 32, dtype=torch.float64))
        ratios[residual] = (n[0] / n[-1]).item()
    assert ratios[False] < 1e-6
    assert 0.1 < ratios[True] < 10
