"""Lesson 14 (Residual Connections) exercises.

14.1 ``ResidualBlock(n_embd)`` (find the bug): a pre-LN residual unit ``x + mlp(ln(x))`` with the
     parts ``self.ln = LayerNorm(n_embd)`` and ``self.mlp = MLP(n_embd)``; the given code adds the
     normalised input instead of the original one.
14.2 ``layer_grad_norms(layers, x)`` (transfer): backpropagate ``out.sum()`` through a stack and
     return the gradient norm of each layer's parameters (``llmcourse.block.layer_grad_norms``).
14.3 ``scale_residual_projections_(blocks)`` (transfer): GPT-2's initialisation rule, the weights
     of the layers that write into the residual stream (``attn.c_proj``, ``mlp.c_proj``) scaled by
     ``1 / sqrt(2 N)`` for ``N`` blocks.
14.4 ``grad_negative_slope`` (predict): the gradient that reaches the input of three residual
     layers whose branches have slope -0.5.

>>> import torch
>>> from llmcourse.block import TransformerBlock
>>> blocks = torch.nn.ModuleList(TransformerBlock(8, 2) for _ in range(2))
>>> before = blocks[0].mlp.c_proj.weight.clone()
>>> scale_residual_projections_(blocks)                 # 2 blocks: 4 branches, factor 1/2
>>> torch.allclose(blocks[0].mlp.c_proj.weight, before / 2)
True
>>> round(grad_negative_slope(), 4)                      # (1 - 0.5)^3
0.125
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

#: The article's embeddings of "The", "cat", "sat" (the first three numbers of each), as (1, 3, 3).
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


class _GivenAddsNormalised(ResidualBlock):
    """The broken code the exercise starts from: the sum adds ln(x), not x."""

    def forward(self, x):
        h = self.ln(x)
        return h + self.mlp(h)


class _NoResidual(ResidualBlock):
    def forward(self, x):
        return self.mlp(self.ln(x))


class _PostLN(ResidualBlock):
    def forward(self, x):
        return self.ln(x + self.mlp(x))


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
    "14.1", "A residual block that forgets its input", points=2, kind="find the bug",
    reference=ResidualBlock, given=_GivenAddsNormalised,
    visible=[Case(SEED_X).build_with(3).named("the article's 'The cat sat' (1, 3, 3), n_embd=3")],
    hidden=_block_cases,
    compare=scaled(atol=1e-5, rtol=1e-4),
    hint="The branch reads a normalised copy, mlp(ln(x)), and the sum adds the block's original "
         "input: return x + self.mlp(self.ln(x)).",
    mistakes=[
        Mistake("residual missing", _NoResidual,
                hint="Add the input back: return x + self.mlp(self.ln(x)). Without the 'x +' there is "
                     "no identity path for the signal and the gradient."),
        Mistake("post-LN order", _PostLN,
                hint="This is post-LN, ln(x + mlp(x)). The block here is pre-LN (GPT-2): normalise the "
                     "branch's input and leave the main path alone, x + mlp(ln(x))."),
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
    "14.2", "Gradient norm per layer", points=2, kind="transfer",
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




# --- 14.3 GPT-2's scaled residual projections ------------------------------------------------------
def scale_residual_projections_(blocks) -> None:
    """Reference: multiply the weight of every layer that writes into the residual stream (each
    block's ``attn.c_proj`` and ``mlp.c_proj``) by ``1 / sqrt(2 N)``, ``N = len(blocks)``, in place.
    Biases and every other layer stay as they are."""
    factor = (2 * len(blocks)) ** -0.5  # 2N branches add into the stream
    with torch.no_grad():
        for blk in blocks:
            blk.attn.c_proj.weight.mul_(factor)
            blk.mlp.c_proj.weight.mul_(factor)


def _run_scaling(fn, case: Case):
    """Call ``fn(blocks)`` on a fresh copy of the case's blocks; return every parameter after it."""
    args, kwargs = case.inputs()
    fn(*args, **kwargs)
    return {name: t.detach().clone() for name, t in args[0].state_dict().items()}


def _stack(seed: int, depth: int, n_embd: int, n_head: int) -> nn.ModuleList:
    """``depth`` package blocks with random (non-zero) biases, so that scaling a bias shows."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        blocks = nn.ModuleList(block.TransformerBlock(n_embd, n_head) for _ in range(depth))
        with torch.no_grad():
            for name, p in blocks.named_parameters():
                if name.endswith("bias"):
                    p.normal_(0.0, 0.1)
    return blocks


def _scaling_cases(r):
    cases = [Case(_stack(r.seed_torch(), 1, 8, 2)).named("one block (2 branches), n_embd=8")]
    for _ in range(2):
        depth, n_head = r.integer(2, 6), r.choice([1, 2, 4])
        cases.append(Case(_stack(r.seed_torch(), depth, 8 * n_head, n_head))
                     .named(f"{depth} blocks, n_embd={8 * n_head}"))
    cases.append(Case(_stack(r.seed_torch(), 12, 8, 2)).named("12 blocks, GPT-2 small's depth"))
    return cases


def _sqrt_blocks(blocks):
    with torch.no_grad():
        for blk in blocks:
            for proj in (blk.attn.c_proj, blk.mlp.c_proj):
                proj.weight.mul_(len(blocks) ** -0.5)


def _no_sqrt(blocks):
    with torch.no_grad():
        for blk in blocks:
            for proj in (blk.attn.c_proj, blk.mlp.c_proj):
                proj.weight.div_(2 * len(blocks))


def _every_linear(blocks):
    with torch.no_grad():
        for blk in blocks:
            for lin in (blk.attn.c_attn, blk.attn.c_proj, blk.mlp.c_fc, blk.mlp.c_proj):
                lin.weight.mul_((2 * len(blocks)) ** -0.5)


def _biases_too(blocks):
    with torch.no_grad():
        for blk in blocks:
            for proj in (blk.attn.c_proj, blk.mlp.c_proj):
                proj.weight.mul_((2 * len(blocks)) ** -0.5)
                proj.bias.mul_((2 * len(blocks)) ** -0.5)


def _mlp_only(blocks):
    with torch.no_grad():
        for blk in blocks:
            blk.mlp.c_proj.weight.mul_((2 * len(blocks)) ** -0.5)


def _by_name(blocks):
    n_branches = 2 * len(blocks)
    for name, p in blocks.named_parameters():
        if name.endswith("c_proj.weight"):
            p.data /= n_branches ** 0.5


exercise(
    "14.3", "GPT-2's scaled residual projections", points=2, kind="transfer",
    reference=scale_residual_projections_,
    visible=[Case(_stack(14, 3, 16, 4)).named("3 blocks of width 16: factor 1/sqrt(6)")],
    hidden=_scaling_cases,
    run=_run_scaling,
    compare=close(atol=1e-7, rtol=1e-6),
    hint="Only the two layers that write into the stream change: for every block, multiply "
         "blk.attn.c_proj.weight and blk.mlp.c_proj.weight by 1 / sqrt(2 * len(blocks)), in place "
         "(inside torch.no_grad()).",
    mistakes=[
        Mistake("1/sqrt(N) with N the number of blocks", _sqrt_blocks,
                hint="Each block adds into the stream twice (attention, then the MLP): N blocks make 2N "
                     "residual branches, so the factor is 1 / sqrt(2 * len(blocks))."),
        Mistake("1/(2N) without the square root", _no_sqrt,
                hint="Independent additions add their variances: 2N branches of standard deviation s sum "
                     "to s * sqrt(2N). Divide by sqrt(2N), not by 2N."),
        Mistake("every linear layer scaled", _every_linear,
                hint="Only the projections that write into the stream (attn.c_proj and mlp.c_proj) are "
                     "scaled; c_attn and c_fc read from it and keep their weights."),
        Mistake("biases scaled too", _biases_too,
                hint="GPT-2 scales the weights only; leave the biases of c_proj as they are."),
        Mistake("only the MLP's projection", _mlp_only,
                hint="Attention writes into the stream as well: scale blk.attn.c_proj.weight too."),
    ],
    alternatives=[Alternative("parameters named *c_proj.weight, divided in place", _by_name)],
)


# --- 14.4 predict: branches that push the other way -------------------------------------------------
def grad_negative_slope(depth: int = 3, slope: float = -0.5) -> float:
    """Reference: d h_depth / d x for ``h <- h + slope * h`` repeated ``depth`` times, by autograd."""
    x = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    h = x
    for _ in range(depth):
        h = h + slope * h
    h.backward()
    return x.grad.item()


exercise(
    "14.4", "Branches that push the other way", points=1, kind="predict",
    reference=grad_negative_slope,
    compare=close(atol=1e-3, rtol=0),
    hint="Each residual layer multiplies the gradient by (1 + F') = 1 + (-0.5); three layers in a row.",
    mistakes=[
        Mistake("the lesson's positive slope", lambda: 1.5 ** 3,
                hint="3.375 is (1 + 0.5)^3, the lesson's example. Here F' = -0.5, so each layer "
                     "contributes (1 - 0.5)."),
        Mistake("the plain stack", lambda: (-0.5) ** 3,
                hint="-0.125 is the path through all three branches only (the plain stack). The residual "
                     "stack adds the paths that skip branches: (1 - 0.5)^3."),
        Mistake("paths through at most one branch", lambda: 1 + 3 * (-0.5),
                hint="1 + 3 * (-0.5) keeps the skip path and the single-branch paths only; the paths through "
                     "two and three branches add 3 * 0.25 - 0.125."),
    ],
    alternatives=[Alternative("(1 - 0.5) ** 3", lambda: 0.5 ** 3)],
)
