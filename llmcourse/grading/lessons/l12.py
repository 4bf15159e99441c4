"""Lesson 12 (Projection Layer) exercises.

12.1 ``output_projection(heads, W_O, b_O)``: merge the heads ``(B, n_head, T, head_dim)`` into
     ``(B, T, C)`` and apply ``W_O`` (stored as in the lesson's formula, rows = input channels).
12.2 ``head_contributions(heads, W_O)``: what each head writes, ``heads[:, i] @ W_O^(i)``, as a
     ``(B, n_head, T, C)`` tensor whose sum over heads is ``Concat(heads) @ W_O``.
12.3 ``attention_params(n_embd, n_head, bias)``: the parameter count of the attention sublayer.

>>> import torch
>>> heads = torch.arange(8.).view(1, 2, 2, 2)          # (B, n_head, T, head_dim)
>>> output_projection(heads, torch.eye(4), torch.zeros(4))[0]   # W_O = I: concatenation only
tensor([[0., 1., 4., 5.],
        [2., 3., 6., 7.]])
>>> head_contributions(heads, torch.eye(4)).sum(dim=1)[0]
tensor([[0., 1., 4., 5.],
        [2., 3., 6., 7.]])
>>> attention_params(768, 12)                          # one GPT-2 small layer
2362368
"""

from __future__ import annotations

import torch

from llmcourse import attention
from llmcourse.grading import Case, Mistake, close, exact, exercise
from llmcourse.grading.lessons._common import scaled
from llmcourse.grading.registry import Alternative
from llmcourse.model import GPTConfig
from llmcourse.scaling import parameter_breakdown

# The lesson's worked example: head 1 is the seed's 3-token dry run, head 2 a made-up second head.
_F = dict(dtype=torch.float32)
_HEAD1 = torch.tensor([[0.7259, 0.7259, 0.2741, 0.2741],
                       [0.6163, 0.6163, 0.3837, 0.3837],
                       [0.8137, 0.4935, 0.5065, 0.1863]], **_F)
_HEAD2 = torch.tensor([[0.4519, 0.2741, 0.5481, 0.2741],
                       [0.3837, 0.2327, 0.6163, 0.3837],
                       [0.3333, 0.3333, 0.6667, 0.3333]], **_F)
SEED_HEADS = torch.stack([_HEAD1, _HEAD2]).unsqueeze(0)  # (B, n_head, T, head_dim) = (1, 2, 3, 4)
SEED_W_O = torch.tensor([[1, -1, 1, -1, 0, -1, 0, 0],
                         [0, -1, 1, 1, -1, -1, 0, 1],
                         [-1, -1, 1, -1, 1, 1, 1, 1],
                         [1, 1, 0, 1, -1, -1, 0, -1],
                         [1, -1, 0, -1, 0, 1, 1, 0],
                         [1, -1, 0, 0, 0, 1, 0, 0],
                         [1, 0, 0, 1, 1, 0, 1, 1],
                         [1, 0, 1, 1, 0, 0, -1, -1]], **_F)  # (C, C) = (8, 8)
SEED_B_O = torch.linspace(-0.35, 0.35, 8)  # (C,) a bias, so that forgetting it shows


# --- 12.1 merge the heads, then W_O -------------------------------------------------------------
def output_projection(heads: torch.Tensor, W_O: torch.Tensor, b_O: torch.Tensor) -> torch.Tensor:
    """Reference: ``merge_heads(heads) @ W_O + b_O``, ``(B, n_head, T, hd)`` -> ``(B, T, C)``."""
    return attention.merge_heads(heads) @ W_O + b_O  # (B, T, C) @ (C, C) + (C,)


def _projection_cases(r):
    cases = []
    for B, nh, T, hd in ((r.integer(1, 3), 2, r.integer(3, 6), 3), (2, 3, 4, 2), (1, 4, 7, 5),
                         (r.integer(1, 2), r.integer(2, 4), 1, 4)):
        C = nh * hd
        cases.append(Case(r.randn(B, nh, T, hd), r.randn(C, C, scale=C ** -0.5), r.randn(C))
                     .named(f"B={B}, n_head={nh}, T={T}, head_dim={hd}"))
    return cases


def _sum_over_heads(heads, W_O, b_O):
    B, nh, T, hd = heads.shape
    return sum(heads[:, i] @ W_O[i * hd:(i + 1) * hd] for i in range(nh)) + b_O


def _view_no_transpose(heads, W_O, b_O):
    B, nh, T, hd = heads.shape
    return heads.reshape(B, T, nh * hd) @ W_O + b_O  # head-major order: scrambles tokens


def _wrong_transpose(heads, W_O, b_O):
    B, nh, T, hd = heads.shape
    return heads.transpose(2, 3).reshape(B, T, nh * hd) @ W_O + b_O  # swapped T and hd instead


exercise(
    "12.1", "Output projection: concatenate the heads, apply W_O", points=2,
    reference=output_projection,
    visible=[Case(SEED_HEADS, SEED_W_O, SEED_B_O)
             .named("the lesson's two heads for 'The cat sat', its integer W_O, a small bias")],
    hidden=_projection_cases,
    compare=scaled(atol=1e-5, rtol=1e-5),
    hint="Move the head axis next to the channels: heads.transpose(1, 2) is (B, T, n_head, head_dim); "
         "then .contiguous().view(B, T, C) (or .reshape), then @ W_O + b_O.",
    mistakes=[
        Mistake("view without transpose", _view_no_transpose,
                hint="Reshaping (B, n_head, T, head_dim) straight to (B, T, C) puts head 0's vectors "
                     "for several tokens into one row. Transpose to (B, T, n_head, head_dim) first."),
        Mistake("transposed the wrong axes", _wrong_transpose,
                hint="Swap the head axis and the token axis, transpose(1, 2), so that the result is "
                     "(B, T, n_head, head_dim) before merging the last two axes."),
        Mistake("nn.Linear orientation",
                lambda h, W, b: attention.merge_heads(h) @ W.T + b,
                hint="W_O is given as in the formula Concat @ W_O (rows = concatenated channels): "
                     "multiply by W_O itself. The transpose belongs to nn.Linear's stored weight."),
        Mistake("bias forgotten", lambda h, W, b: attention.merge_heads(h) @ W,
                hint="Add the bias b_O after the matrix product."),
    ],
    alternatives=[Alternative("one slab of W_O per head, summed", _sum_over_heads),
                  Alternative("F.linear with W_O.T", lambda h, W, b: torch.nn.functional.linear(
                      h.transpose(1, 2).flatten(2), W.T, b))],
)


# --- 12.2 per-head contributions ----------------------------------------------------------------
def head_contributions(heads: torch.Tensor, W_O: torch.Tensor) -> torch.Tensor:
    """Reference: head ``i`` times rows ``i*hd .. (i+1)*hd - 1`` of ``W_O``, ``(B, n_head, T, C)``."""
    B, nh, T, hd = heads.shape
    slabs = W_O.reshape(nh, hd, W_O.shape[1])  # (n_head, head_dim, C): the rows that meet head i
    return heads @ slabs.unsqueeze(0)  # (B, nh, T, hd) @ (1, nh, hd, C) -> (B, nh, T, C)


def _contribution_cases(r):
    cases = []
    for B, nh, T, hd in ((r.integer(1, 3), 2, r.integer(2, 6), 3), (2, 3, 4, 2), (1, 4, 5, 4)):
        C = nh * hd
        cases.append(Case(r.randn(B, nh, T, hd), r.randn(C, C, scale=C ** -0.5))
                     .named(f"B={B}, n_head={nh}, T={T}, head_dim={hd}"))
    return cases


def _loop_contributions(heads, W_O):
    hd = heads.shape[-1]
    return torch.stack([heads[:, i] @ W_O[i * hd:(i + 1) * hd] for i in range(heads.shape[1])], dim=1)


def _interleaved_rows(heads, W_O):
    B, nh, T, hd = heads.shape
    slabs = W_O.reshape(hd, nh, W_O.shape[1]).transpose(0, 1)  # rows i, i + nh, i + 2 nh, ...
    return heads @ slabs.unsqueeze(0)


def _zero_padded(heads, W_O):
    B, nh, T, hd = heads.shape
    out = heads.new_zeros(B, nh, T, nh * hd)
    for i in range(nh):
        out[:, i, :, i * hd:(i + 1) * hd] = heads[:, i]  # the head left in its own channels
    return out


exercise(
    "12.2", "What each head writes: per-head contributions", points=2,
    reference=head_contributions,
    visible=[Case(SEED_HEADS, SEED_W_O).named("the lesson's two heads and integer W_O")],
    hidden=_contribution_cases,
    compare=scaled(atol=1e-5, rtol=1e-5),
    hint="Head i meets rows i*head_dim to (i+1)*head_dim - 1 of W_O: "
         "W_O.reshape(n_head, head_dim, C) gives those slabs, and heads @ slabs.unsqueeze(0) "
         "multiplies every head by its own slab.",
    mistakes=[
        Mistake("slabs from W_O.T", lambda h, W: head_contributions(h, W.T),
                hint="Take the slabs from the rows of W_O as given (the formula's orientation), "
                     "not from W_O.T: W_O[i*head_dim:(i+1)*head_dim] belongs to head i."),
        Mistake("interleaved rows", _interleaved_rows,
                hint="Head i's rows of W_O are consecutive: i*head_dim up to (i+1)*head_dim - 1. "
                     "W_O.reshape(n_head, head_dim, C), not reshape(head_dim, n_head, C)."),
        Mistake("every head uses the first slab",
                lambda h, W: h @ W[:h.shape[-1]],
                hint="Each head has its own slab of W_O; head i uses rows i*head_dim to "
                     "(i+1)*head_dim - 1, not the first head_dim rows."),
        Mistake("projection skipped", _zero_padded,
                hint="That is the concatenation alone (W_O = identity). Multiply each head by its "
                     "slab of W_O so that it writes into all C channels."),
    ],
    alternatives=[Alternative("a loop over the heads", _loop_contributions),
                  Alternative("einsum", lambda h, W: torch.einsum("bhtd,hdc->bhtc", h, W.view(h.shape[1], h.shape[-1], -1)))],
)


# --- 12.3 parameter count -----------------------------------------------------------------------
def attention_params(n_embd: int, n_head: int, bias: bool = True) -> int:
    """Reference: ``llmcourse.scaling.parameter_breakdown`` for one layer: ``4 d^2 (+ 4 d)``."""
    cfg = GPTConfig(vocab_size=1, block_size=1, n_layer=1, n_head=n_head, n_embd=n_embd, bias=bias)
    return parameter_breakdown(cfg)["attention"]


def _params_cases(r):
    cases = [Case(1600, 25).named("GPT-2 XL"), Case(12288, 96).named("GPT-3 175B"),
             Case(768, 12, bias=False).named("GPT-2 small without biases"), Case(8, 1).named("one head")]
    for _ in range(3):
        h = r.integer(2, 16)
        cases.append(Case(h * r.integer(1, 64), h, bias=r.choice([True, False])))
    return cases


def _per_head_full(n_embd, n_head, bias=True):
    return 3 * n_head * n_embd * n_embd + n_embd * n_embd + (4 * n_embd if bias else 0)


exercise(
    "12.3", "Parameters of the attention sublayer", points=1,
    reference=attention_params,
    visible=[Case(768, 12).named("GPT-2 small: 2,362,368 per layer")],
    hidden=_params_cases,
    compare=exact(),
    hint="c_attn has a (3d, d) weight and a 3d bias, c_proj a (d, d) weight and a d bias: "
         "4d^2 + 4d with biases, 4d^2 without.",
    mistakes=[
        Mistake("W_O forgotten", lambda d, h, bias=True: 3 * d * d + (3 * d if bias else 0),
                hint="Count the output projection c_proj too: d*d weights and d biases."),
        Mistake("biases ignored", lambda d, h, bias=True: 4 * d * d,
                hint="With bias=True each of the 4d outputs of the two linear layers has a bias: "
                     "add 4d."),
        Mistake("one bias vector only", lambda d, h, bias=True: 4 * d * d + (d if bias else 0),
                hint="c_attn has 3d biases (one per query, key and value channel) and c_proj d more: "
                     "4d in total."),
        Mistake("bias counted either way", lambda d, h, bias=True: 4 * d * d + 4 * d,
                hint="With bias=False the layers have no bias vectors: the count is 4d^2."),
        Mistake("a full d x d projection per head", _per_head_full,
                hint="Heads do not get their own d x d matrices: each head's W_Q, W_K, W_V are "
                     "d x head_dim slices of the same d x 3d matrix. The head count drops out."),
    ],
    alternatives=[Alternative("4 d (d + 1)", lambda d, h, bias=True: 4 * d * (d + int(bias))),
                  Alternative("c_attn and c_proj counted apart",
                              lambda d, h, bias=True: (d * 3 * d + 3 * d * bias) + (d * d + d * bias))],
)
