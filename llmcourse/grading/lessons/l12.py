"""Lesson 12 (Projection Layer) exercises.

12.1 ``output_projection(heads, W_O, b_O)`` (rebuild): merge the heads ``(B, n_head, T, head_dim)``
     into ``(B, T, C)`` and apply ``W_O`` (stored as in the lesson's formula, rows = input channels).
12.2 ``prune_head(c_proj_weight, head, n_head)`` (transfer): remove one head from a trained layer
     by zeroing the columns of ``c_proj.weight`` (nn.Linear's ``(out, in)`` layout) that read it.
12.3 ``out_the_0_without_head_2`` (predict): the lesson's ``out['The', 0]`` once head 2 is pruned.

>>> import torch
>>> heads = torch.arange(8.).view(1, 2, 2, 2)          # (B, n_head, T, head_dim)
>>> output_projection(heads, torch.eye(4), torch.zeros(4))[0]   # W_O = I: concatenation only
tensor([[0., 1., 4., 5.],
        [2., 3., 6., 7.]])
>>> prune_head(torch.ones(2, 4), head=1, n_head=2)
tensor([[1., 1., 0., 0.],
        [1., 1., 0., 0.]])
>>> round(head_2_pruned(), 4)
0.7259
"""

from __future__ import annotations

import torch

from llmcourse import attention
from llmcourse.grading import Case, Mistake, close, exact, exercise
from llmcourse.grading.lessons._common import scaled
from llmcourse.grading.registry import Alternative

# The lesson's worked example: head 1 is the article's 3-token dry run, head 2 a made-up second head.
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
    "12.1", "Output projection: concatenate the heads, apply W_O", points=2, kind="rebuild",
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


# --- 12.2 pruning a head through W_O --------------------------------------------------------------
def prune_head(c_proj_weight: torch.Tensor, head: int, n_head: int) -> torch.Tensor:
    """Reference: a copy of ``c_proj.weight`` ``(C_out, C_in)`` with the ``head_dim`` input columns of
    ``head`` (0-based) set to 0, so the layer's output no longer depends on that head."""
    hd = c_proj_weight.shape[1] // n_head
    pruned = c_proj_weight.clone()
    pruned[:, head * hd:(head + 1) * hd] = 0.0  # the columns that read head `head`'s channels
    return pruned


def _prune_cases(r):
    cases = []
    for nh, hd in ((r.integer(2, 4), r.integer(2, 4)), (3, 2), (4, 3), (2, 5)):
        C = nh * hd
        cases.append(Case(r.randn(C, C), r.integer(0, nh - 1), nh).named(f"C={C}, n_head={nh}, a random head"))
    cases.append(Case(r.randn(12, 12), 0, 4).named("the first head"))
    cases.append(Case(r.randn(12, 12), 3, 4).named("the last head"))
    cases.append(Case(r.randn(6, 6), 1, 3).named("the middle head"))
    cases.append(Case(r.randn(8, 8), 0, 1).named("a single head (the whole layer silenced)"))
    return cases


def _zero_rows(W, head, n_head):
    hd = W.shape[0] // n_head
    out = W.clone()
    out[head * hd:(head + 1) * hd] = 0.0  # rows: the formula's orientation, wrong for nn.Linear
    return out


def _interleaved(W, head, n_head):
    out = W.clone()
    out[:, head::n_head] = 0.0  # every n_head-th column: not how merge_heads lays out channels
    return out


def _one_based(W, head, n_head):
    return prune_head(W, (head - 1) % n_head, n_head)


def _all_but(W, head, n_head):
    hd = W.shape[1] // n_head
    out = torch.zeros_like(W)
    out[:, head * hd:(head + 1) * hd] = W[:, head * hd:(head + 1) * hd]  # keeps only that head
    return out


exercise(
    "12.2", "Prune one head through W_O", points=2, kind="transfer",
    reference=prune_head,
    visible=[Case(SEED_W_O.T.contiguous(), 1, 4).named("the lesson's integer W_O as c_proj.weight, read as 4 heads of 2 "
                                                       "channels, prune head index 1"),
             Case(SEED_W_O.T.contiguous(), 1, 2).named("the same matrix as the lesson's 2 heads, prune head 2 (index 1)")],
    hidden=_prune_cases,
    compare=exact(),
    hint="Head i's channels are inputs i*head_dim .. (i+1)*head_dim - 1 of c_proj. nn.Linear stores its "
         "weight as (out, in), so those inputs are COLUMNS: w = weight.clone(); "
         "w[:, i*hd:(i+1)*hd] = 0.",
    mistakes=[
        Mistake("rows zeroed (the formula's orientation)", _zero_rows,
                hint="c_proj.weight is (out, in), the transpose of the formula's W_O: head i's slab is a "
                     "block of COLUMNS of the stored weight. Zeroing rows silences output channels instead."),
        Mistake("interleaved columns", _interleaved,
                hint="merge_heads puts each head's channels next to each other: head i owns the "
                     "consecutive inputs i*head_dim .. (i+1)*head_dim - 1, not every n_head-th one."),
        Mistake("head counted from 1", _one_based,
                hint="Heads are numbered from 0, like the rest of PyTorch: head 0 owns inputs 0 .. head_dim - 1."),
        Mistake("kept only that head", _all_but,
                hint="Pruning removes the head: zero ITS columns and keep every other head's."),
    ],
    alternatives=[Alternative("a column mask", lambda W, h, n: W * (torch.arange(W.shape[1]) // (W.shape[1] // n) != h)),
                  Alternative("view as (C, n_head, head_dim)", lambda W, h, n: (lambda w: (w.view(W.shape[0], n, -1).__setitem__(
                      (slice(None), h), 0.0), w)[1])(W.clone()))],
)


# --- 12.3 predict: the worked example without head 2 ---------------------------------------------
def head_2_pruned() -> float:
    """Reference: ``out['The', 0]`` of the lesson's worked example with head 2's slab of ``W_O`` zeroed
    (``b_O = 0``): only head 1's part, ``head1[0] @ W_O[:4, 0]``."""
    W = SEED_W_O.clone()
    W[4:] = 0.0  # head 2's rows of the formula's W_O
    return float((attention.merge_heads(SEED_HEADS) @ W)[0, 0, 0])


def _full() -> float:
    return float((attention.merge_heads(SEED_HEADS) @ SEED_W_O)[0, 0, 0])


def _head_2_only() -> float:
    return float((SEED_HEADS[0, 1, 0] @ SEED_W_O[4:, 0]))


exercise(
    "12.3", "The worked example without head 2", points=1, kind="predict",
    reference=head_2_pruned,
    compare=close(atol=1e-3, rtol=0),
    hint="Concat @ W_O is a sum over heads: out = head_1 W_O^(1) + head_2 W_O^(2). Pruning head 2 leaves "
         "head 1's part of out['The', 0], which the lesson printed.",
    mistakes=[
        Mistake("the full output", _full,
                hint="That is out['The', 0] with both heads (2.2741). Without head 2, only head 1's part is left."),
        Mistake("head 2's part", _head_2_only,
                hint="That is what head 2 wrote, the part that pruning removes. What is left is head 1's part."),
        Mistake("zero", lambda: 0.0,
                hint="Pruning one head removes only its part: head 1 still writes into channel 0."),
    ],
    alternatives=[Alternative("head 1's part, from the lesson's printout", lambda: 0.7259)],
)
