"""Lesson 14 (Residual Connections) exercises.

14.1 ``ResidualBlock(n_embd)``: a module with ``self.ln = LayerNorm(n_embd)`` and
     ``self.mlp = MLP(n_embd)`` whose forward is the pre-LN residual ``x + mlp(ln(x))``.
14.2 ``layer_grad_norms(layers, x)``: backpropagate ``out.sum()`` through a stack and return the
     gradient norm of each layer's parameters (``llmcourse.block.layer_grad_norms``).
14.3 ``residual_jacobian(W, x)``: the Jacobian of ``x + tanh(W x)``, which is
     ``I + diag(1 - tanh(W x)**2) W``: the identity is the "gradient highway".

>>> import torch
>>> residual_jacobian(torch.zeros(2, 2), torch.ones(2))   # f = 0: only the identity is left
tensor([[1., 0.],
        [0., 1.]])
"""

from __future__ import annotations

import torch
import torch.nn as nn

from llmcourse import block
from llmcourse.feedforward import MLP
import torch.nn.functional as F

from llmcourse.grading import Case, Mistake, close, exercise
from llmcourse.grading.lessons._common import scaled
from llmcourse.grading.registry import Alternative
from llmcourse.norm import LayerNorm

#: The seed's embeddings of "The", "cat", "sat" (the first three numbers of each), as (1, 3, 3).
SEED_X = torch.tensor([[[0.12, -0.50, 0.33],
                        [0.78, 0.30, -0.12],
                        [0.45, -0.10, 0.67]]])


# --- 14.1 a residual block ----------------------------------------------------------------------
class ResidualBlock(nn.Module):
    """Reference: ``x + mlp(ln(x))``. (Only here, the norm's gain and shift start random, so the
    check sees a norm that is not the identity; your module gets the same numbers copied in.)"""

    def __init__(self, n_embd: int):
        super().__init__()
        self.ln = LayerNorm(n_embd)
        self.mlp = MLP(n_embd)
        with torch.no_grad():
            self.ln.weight.normal_(1.0, 0.3)
            self.ln.bias.normal_(0.0, 0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(self.ln(x))  # (..., n_embd) in and out


class _NoResidual(ResidualBlock):
    def forward(self, x):
        return self.mlp(self.ln(x))


class _PostLN(ResidualBlock):
    def forward(self, x):
        return self.ln(x + self.mlp(x))


class _AddsNormalised(ResidualBlock):
    def forward(self, x):
        h = self.ln(x)
        return h + self.mlp(h)


class _NoNorm(ResidualBlock):
    def forward(self, x):
        return x + self.mlp(x)


class _NormOnBranchOutput(ResidualBlock):
    def forward(self, x):
        return x + self.ln(self.mlp(x))


class _Functional(ResidualBlock):
    def forward(self, x):
        h = F.layer_norm(x, x.shape[-1:], self.ln.weight, self.ln.bias, self.ln.eps)
        return x + self.mlp.c_proj(F.gelu(self.mlp.c_fc(h), approximate="tanh"))


def _block_cases(r):
    return [Case(r.randn(2, 5, 8, scale=2.0) + 1.0).build_with(8).named("n_embd=8, a batch (2, 5, 8)"),
            Case(r.randn(4, 6, scale=3.0)).build_with(6).named("n_embd=6, no batch dimension (4, 6)"),
            Case(r.randn(1, 1, 16) - 2.0).build_with(16).named("n_embd=16, one token")]


exercise(
    "14.1", "A pre-LN residual block", points=2,
    reference=ResidualBlock,
    visible=[Case(SEED_X).build_with(3).named("the seed's 'The cat sat' (1, 3, 3), n_embd=3")],
    hidden=_block_cases,
    compare=scaled(atol=1e-5, rtol=1e-4),
    hint="In __init__: self.ln = LayerNorm(n_embd) and self.mlp = MLP(n_embd). In forward: "
         "return x + self.mlp(self.ln(x)).",
    mistakes=[
        Mistake("residual missing", _NoResidual,
                hint="Add the input back: return x + self.mlp(self.ln(x)). Without the 'x +' there is "
                     "no identity path for the signal and the gradient."),
        Mistake("post-LN order", _PostLN,
                hint="This is post-LN, ln(x + mlp(x)). The block here is pre-LN (GPT-2): normalise the "
                     "branch's input and leave the main path alone, x + mlp(ln(x))."),
        Mistake("adds the normalised input", _AddsNormalised,
                hint="The residual adds the ORIGINAL x, not ln(x): return x + self.mlp(self.ln(x))."),
        Mistake("norm missing", _NoNorm,
                hint="Normalise the input of the MLP: x + self.mlp(self.ln(x)), not x + self.mlp(x)."),
        Mistake("norm on the branch output", _NormOnBranchOutput,
                hint="The norm comes before the MLP, on its input: self.mlp(self.ln(x)), not "
                     "self.ln(self.mlp(x))."),
    ],
    alternatives=[Alternative("F.layer_norm and F.gelu on the same weights", _Functional)],
)


# --- 14.2 gradient norm per layer ---------------------------------------------------------------
def layer_grad_norms(layers, x: torch.Tensor) -> torch.Tensor:
    """Reference: ``llmcourse.block.layer_grad_norms`` with its default loss ``out.sum()``."""
    return block.layer_grad_norms(layers, x)


def _run_grad_norms(fn, case: Case):
    """Call ``fn(layers, x)`` on fresh copies; for a case marked ``stale``, first leave gradients
    of another input in ``.grad``, as an earlier backward in the learner's notebook would."""
    args, kwargs = case.inputs()
    if getattr(case, "stale", False):
        layers, x = args
        out = -2.0 * x
        for layer in layers:
            out = layer(out)
        out.sum().backward()
    return fn(*args, **kwargs)


def _scalar_layers(w1: float, w2: float) -> nn.ModuleList:
    layers = nn.ModuleList([nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)])
    with torch.no_grad():
        layers[0].weight.fill_(w1)
        layers[1].weight.fill_(w2)
    return layers


def _tanh_stack(g: torch.Generator, depth: int, width: int) -> nn.ModuleList:
    layers = nn.ModuleList(nn.Sequential(nn.Linear(width, width), nn.Tanh()) for _ in range(depth))
    with torch.no_grad():
        for p in layers.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.6)
    return layers


def _residual_stack(g: torch.Generator, depth: int, width: int) -> nn.ModuleList:
    layers = nn.ModuleList(ResidualBlock(width) for _ in range(depth))
    with torch.no_grad():
        for name, p in layers.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            p.copy_(1.0 + 0.3 * noise if name.endswith("ln.weight") else 0.3 * noise)
    return layers


def _stale(case: Case) -> Case:
    case.stale = True
    return case


def _grad_cases(r):
    g = torch.Generator().manual_seed(r.seed_torch())
    C = r.integer(3, 8)
    return [
        Case(_tanh_stack(g, r.integer(3, 6), C), r.randn(4, C)).named("a plain stack of Linear + tanh layers"),
        Case(_residual_stack(g, 3, C), r.randn(2, 3, C)).named("a stack of residual blocks, input (2, 3, C)"),
        Case(nn.ModuleList([*_tanh_stack(g, 2, C), nn.GELU()]), r.randn(5, C))
        .named("the last layer has no parameters (its norm is 0)"),
        _stale(Case(_tanh_stack(g, 3, C), r.randn(4, C)))
        .named("layers that still hold gradients from an earlier backward"),
    ]


def _grad_norms_with(x_layers, x, per_layer):
    for p in (p for layer in x_layers for p in layer.parameters()):
        p.grad = None
    out = x
    for layer in x_layers:
        out = layer(out)
    out.sum().backward()
    return torch.tensor([per_layer(layer) for layer in x_layers], dtype=torch.float64)


def _grads(layer, keep=lambda name: True):
    return [p.grad for name, p in layer.named_parameters() if p.grad is not None and keep(name)]


def _squared(layers, x):
    return _grad_norms_with(layers, x, lambda m: float(sum((g ** 2).sum() for g in _grads(m))))


def _weights_only(layers, x):
    return _grad_norms_with(layers, x, lambda m: float(sum((g ** 2).sum() for g in
                                                           _grads(m, lambda n: not n.endswith("bias")))) ** 0.5)


def _sum_of_norms(layers, x):
    return _grad_norms_with(layers, x, lambda m: float(sum(g.norm() for g in _grads(m))))


def _autograd_grad(layers, x):
    out = x
    for layer in layers:
        out = layer(out)
    params = [list(layer.parameters()) for layer in layers]
    flat = [p for ps in params for p in ps]
    grads = iter(torch.autograd.grad(out.sum(), flat)) if flat else iter(())
    norms = []
    for ps in params:
        gs = [next(grads) for _ in ps]
        norms.append(torch.sqrt(sum((g.double() ** 2).sum() for g in gs)) if gs else torch.tensor(0.0))
    return torch.stack([torch.as_tensor(n, dtype=torch.float64) for n in norms])


def _zero_grad_then_norm(layers, x):
    for layer in layers:
        layer.zero_grad(set_to_none=True)
    out = x
    for layer in layers:
        out = layer(out)
    out.sum().backward()
    return torch.tensor([torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in layer.parameters()]))
                         .item() if list(layer.parameters()) else 0.0 for layer in layers])


def _not_cleared(layers, x):
    out = x
    for layer in layers:
        out = layer(out)
    out.sum().backward()  # adds to whatever .grad already holds
    return torch.tensor([float(sum((g ** 2).sum() for g in _grads(m))) ** 0.5 for m in layers],
                        dtype=torch.float64)


exercise(
    "14.2", "Gradient norm per layer", points=2,
    reference=layer_grad_norms,
    visible=[Case(_scalar_layers(2.0, 3.0), torch.ones(1, 1))
             .named("two scalar layers w1 = 2, w2 = 3 on x = 1: out = 6, gradients 3 and 2")],
    hidden=_grad_cases,
    run=_run_grad_norms,
    compare=close(atol=1e-6, rtol=1e-4),
    hint="Clear old gradients (p.grad = None), run x through the layers in order, call "
         "out.sum().backward(), then for each layer return sqrt(sum over its parameters of "
         "(p.grad ** 2).sum()) as one entry of a 1-D tensor.",
    mistakes=[
        Mistake("squared norms (no square root)", _squared,
                hint="The norm is the square root of the sum of squares: take ** 0.5 (or torch.sqrt) "
                     "of each layer's total."),
        Mistake("biases skipped", _weights_only,
                hint="Include every parameter of the layer, biases too: loop over layer.parameters()."),
        Mistake("sum of the parameters' norms", _sum_of_norms,
                hint="Combine the parameters of one layer as one long vector: add the SQUARES of all "
                     "their gradient entries, then take one square root, instead of adding norms."),
        Mistake("reversed order", lambda layers, x: block.layer_grad_norms(layers, x).flip(0),
                hint="Entry i belongs to layers[i], the i-th layer the input passes through (the first "
                     "entry is the layer closest to the input)."),
        Mistake("mean instead of sum as the loss",
                lambda layers, x: block.layer_grad_norms(layers, x, loss_fn=lambda out: out.mean()),
                hint="Use loss = out.sum(), as the exercise says: out.mean() divides every gradient by "
                     "the number of output entries."),
        Mistake("old gradients not cleared", _not_cleared,
                hint=".backward() ADDS to .grad. Clear what an earlier backward left behind first: "
                     "p.grad = None for every parameter (or layer.zero_grad())."),
    ],
    alternatives=[Alternative("torch.autograd.grad", _autograd_grad),
                  Alternative("zero_grad, backward, vector_norm of the concatenated gradients", _zero_grad_then_norm)],
)


# --- 14.3 the Jacobian of a residual map ----------------------------------------------------------
def residual_jacobian(W: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Reference: the Jacobian of ``y = x + tanh(W @ x)`` at ``x`` (shape ``(d, d)``, entry
    ``[i, j] = dy_i / dx_j``), ``I + diag(1 - tanh(W x)**2) @ W``."""
    s = 1.0 - torch.tanh(W @ x) ** 2  # (d,) tanh'(W x)
    return torch.eye(len(x), dtype=x.dtype) + s[:, None] * W  # (d, d): row i scaled by s_i


def _autograd_jacobian(W, x):
    return torch.autograd.functional.jacobian(lambda v: v + torch.tanh(W @ v), x)


def _jac_cases(r):
    cases = []
    for _ in range(3):
        d = r.integer(2, 6)
        cases.append(Case(r.randn(d, d), r.randn(d)).named(f"random W ({d}, {d}) and x ({d},)"))
    d = r.integer(3, 5)
    cases.append(Case(r.randn(d, d, scale=3.0), r.randn(d, scale=2.0)).named("a large W: tanh saturates"))
    return cases


exercise(
    "14.3", "The Jacobian of a residual map", points=1,
    reference=residual_jacobian,
    visible=[Case(torch.tensor([[0.5, -1.0], [2.0, 0.0]]), torch.tensor([1.0, 0.5]))
             .named("W = [[0.5, -1], [2, 0]], x = [1, 0.5]")],
    hidden=_jac_cases,
    compare=close(atol=1e-5, rtol=1e-4),
    hint="dy/dx = I + diag(1 - tanh(W x)^2) @ W: the identity from the skip path plus the branch's "
         "Jacobian (chain rule: tanh' at W x, times W).",
    mistakes=[
        Mistake("identity missing", lambda W, x: residual_jacobian(W, x) - torch.eye(len(x)),
                hint="y = x + f(x), so dy/dx = I + df/dx: add torch.eye(d) for the skip path."),
        Mistake("tanh instead of its derivative",
                lambda W, x: torch.eye(len(x)) + torch.tanh(W @ x)[:, None] * W,
                hint="The derivative of tanh(u) is 1 - tanh(u)**2, not tanh(u)."),
        Mistake("W transposed",
                lambda W, x: torch.eye(len(x)) + (1 - torch.tanh(W @ x) ** 2)[:, None] * W.T,
                hint="Entry [i, j] is dy_i/dx_j = (1 - tanh(u_i)^2) * W[i, j] with u = W x: use W, "
                     "not W.T."),
        Mistake("derivative scales columns instead of rows",
                lambda W, x: torch.eye(len(x)) + W * (1 - torch.tanh(W @ x) ** 2)[None, :],
                hint="tanh' belongs to output i, so it scales ROW i: diag(s) @ W, i.e. s[:, None] * W, "
                     "not W @ diag(s)."),
    ],
    alternatives=[Alternative("torch.autograd.functional.jacobian", _autograd_jacobian),
                  Alternative("I + diag(tanh') @ W", lambda W, x: torch.eye(len(x)) + torch.diag(1 - torch.tanh(W @ x) ** 2) @ W)],
)
