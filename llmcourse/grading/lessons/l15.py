"""Lesson 15 (Complete Transformer Block) exercises.

15.1 ``Block(n_embd, n_head)`` (rebuild): the pre-LN GPT-2 block as a module with the parts
     ``ln_1``, ``attn``, ``ln_2``, ``mlp``: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``.
15.2 ``post_ln_out_norm`` (predict): the mean row length of a fresh post-LN block's output when its
     input rows have length about 800.
15.3 ``ParallelBlock(n_embd, n_head)`` (transfer): GPT-J's parallel block, one LayerNorm ``ln_1``
     read by both branches, ``x + attn(ln_1(x)) + mlp(ln_1(x))``.

The module references randomise the LayerNorm gains and shifts (fresh ones are 1 and 0), so that a
block that uses a norm in the wrong place gives different numbers.

>>> import torch
>>> ParallelBlock(16, 4)(torch.zeros(2, 5, 16)).shape
torch.Size([2, 5, 16])
>>> round(post_ln_out_norm(), 2)                  # sqrt(64), whatever the input's size
8.0
"""

from __future__ import annotations

import torch

import torch.nn as nn
import torch.nn.functional as F

from llmcourse.attention import MultiHeadAttention
from llmcourse.block import TransformerBlock
from llmcourse.feedforward import MLP
from llmcourse.norm import LayerNorm

from llmcourse.grading import Case, Mistake, close, exercise
from llmcourse.grading.lessons._common import scaled
from llmcourse.grading.registry import Alternative


def _randomise_norms(block: nn.Module) -> None:
    with torch.no_grad():
        for ln in (m for m in block.modules() if isinstance(m, LayerNorm)):
            ln.weight.add_(0.3 * torch.randn_like(ln.weight))
            ln.bias.add_(0.3 * torch.randn_like(ln.bias))


def _block_cases(r):
    cases = []
    for n_embd, n_head in [(8, 2), (16, 4), (32, 4)]:
        B, T = r.integer(2, 3), r.integer(2, 9)
        cases.append(Case(r.randn(B, T, n_embd)).build_with(n_embd, n_head)
                     .named(f"random stream, n_embd={n_embd}, n_head={n_head}"))
    cases.append(Case(r.randn(2, 1, 16)).build_with(16, 2).named("a single position (T = 1)"))
    cases.append(Case(r.randn(2, 6, 16, scale=5.0)).build_with(16, 4).named("a large stream (scale 5)"))
    return cases


_VISIBLE = [Case(torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(15)))
            .build_with(16, 4).named("a (2, 5, 16) stream, n_embd=16, n_head=4")]


def _ln(norm, x):
    return F.layer_norm(x, x.shape[-1:], norm.weight, norm.bias, norm.eps)


def _causal_attention(attn, x):
    """The block's attention from its weights: F.scaled_dot_product_attention, causal."""
    B, T, C = x.shape
    q, k, v = attn.c_attn(x).split(C, dim=-1)
    q, k, v = (t.view(B, T, attn.n_head, C // attn.n_head).transpose(1, 2) for t in (q, k, v))
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hd)
    return attn.c_proj(y.transpose(1, 2).reshape(B, T, C))


def _mlp(mlp, x):
    return mlp.c_proj(F.gelu(mlp.c_fc(x), approximate="tanh"))


# --- 15.1 the pre-LN block ------------------------------------------------------------------------
class Block(TransformerBlock):
    """Reference: ``llmcourse.block.TransformerBlock`` (pre-LN), LayerNorms randomised."""

    def __init__(self, n_embd: int, n_head: int):
        super().__init__(n_embd, n_head)
        _randomise_norms(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)


class _PostWiring(Block):
    def forward(self, x):
        x = self.ln_1(x + self.attn(x))
        return self.ln_2(x + self.mlp(x))


class _NormalisedResidual(Block):
    def forward(self, x):
        x = self.ln_1(x)  # the stream is replaced by its normalised copy
        x = x + self.attn(x)
        x = self.ln_2(x)
        return x + self.mlp(x)


class _SameNormTwice(Block):
    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_1(x))


class _NoMlpResidual(Block):
    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return self.mlp(self.ln_2(x))


class _NoAttnResidual(Block):
    def forward(self, x):
        x = self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class _MlpFirst(Block):
    def forward(self, x):
        x = x + self.mlp(self.ln_2(x))
        return x + self.attn(self.ln_1(x))


class _Parallel(Block):
    def forward(self, x):  # GPT-J / PaLM style: both branches read the block's input
        return x + self.attn(self.ln_1(x)) + self.mlp(self.ln_2(x))


class _NormAfterSublayer(Block):
    def forward(self, x):
        x = x + self.ln_1(self.attn(x))
        return x + self.ln_2(self.mlp(x))


class _PreFunctional(Block):
    def forward(self, x):
        x = x + _causal_attention(self.attn, _ln(self.ln_1, x))
        return x + _mlp(self.mlp, _ln(self.ln_2, x))


exercise(
    "15.1", "The pre-LN transformer block", points=2, kind="rebuild",
    reference=Block,
    visible=_VISIBLE,
    hidden=_block_cases,
    compare=scaled(atol=1e-5, rtol=1e-4),
    hint="forward is two lines: x = x + self.attn(self.ln_1(x)), then x = x + self.mlp(self.ln_2(x)).",
    mistakes=[
        Mistake("post-LN wiring", _PostWiring,
                hint="That is the post-LN block of the article's diagram. Here the norm goes inside each branch, "
                     "before the sublayer: x + attn(ln_1(x)), and the stream x itself is never normalised."),
        Mistake("residual carries the normalised stream", _NormalisedResidual,
                hint="Do not overwrite x with ln_1(x): normalise a copy for the branch only, "
                     "x = x + self.attn(self.ln_1(x)), so the residual adds to the original x."),
        Mistake("ln_1 used for both sublayers", _SameNormTwice,
                hint="The MLP branch has its own norm: self.mlp(self.ln_2(x)), not self.ln_1(x)."),
        Mistake("no residual around the MLP", _NoMlpResidual,
                hint="Add the MLP's output to the stream: x = x + self.mlp(self.ln_2(x))."),
        Mistake("no residual around attention", _NoAttnResidual,
                hint="Add attention's output to the stream: x = x + self.attn(self.ln_1(x))."),
        Mistake("MLP before attention", _MlpFirst,
                hint="Attention comes first (gather context), then the MLP (process it)."),
        Mistake("both branches read the block input", _Parallel,
                hint="The MLP must read the stream *after* attention's addition: update x in the first "
                     "line and use the new x in the second (GPT-2 is sequential, not parallel)."),
        Mistake("norm after the sublayer", _NormAfterSublayer,
                hint="Normalise the sublayer's input, not its output: self.attn(self.ln_1(x)), "
                     "not self.ln_1(self.attn(x))."),
    ],
    alternatives=[Alternative("F.layer_norm, F.scaled_dot_product_attention, F.gelu", _PreFunctional)],
)




# --- 15.2 predict: the size of a post-LN block's output -------------------------------------------
def post_ln_out_norm() -> float:
    """Reference: mean row length of ``TransformerBlock(64, 4, norm_position="post")`` (fresh,
    seed 0) on ``100 * randn(2, 8, 64)`` (seed 1)."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        blk = TransformerBlock(64, 4, norm_position="post").eval()
        x = 100 * torch.randn(2, 8, 64, generator=torch.Generator().manual_seed(1))  # rows of length ~800
        with torch.no_grad():
            return blk(x).norm(dim=-1).mean().item()


exercise(
    "15.2", "How long are a post-LN block's output rows?", points=1, kind="predict",
    reference=post_ln_out_norm,
    compare=close(atol=0.3, rtol=0),
    hint="The last thing a post-LN block does is ln_2, a fresh LayerNorm (gain 1, shift 0): every row "
         "comes out with mean 0 and variance 1, whatever went in. What length does such a row of 64 "
         "numbers have?",
    mistakes=[
        Mistake("the input's length", lambda: 800.0,
                hint="That is what a pre-LN block would give: it edits the stream and keeps its size. "
                     "A post-LN block ends in a LayerNorm, which sets the size itself."),
        Mistake("unit length", lambda: 1.0,
                hint="LayerNorm gives each row variance 1 per entry, not length 1: the length of 64 "
                     "entries of variance 1 is sqrt(64)."),
        Mistake("d instead of sqrt(d)", lambda: 64.0,
                hint="The squared length is the sum of 64 squares of average 1, so 64; the length is "
                     "its square root."),
    ],
    alternatives=[Alternative("sqrt(d)", lambda: 64 ** 0.5)],
)


# --- 15.3 the parallel (GPT-J) block --------------------------------------------------------------
class ParallelBlock(nn.Module):
    """Reference: GPT-J's block, ``x + attn(ln_1(x)) + mlp(ln_1(x))``: both branches read the same
    normalised copy of the block's input (one LayerNorm), and both outputs add to ``x``."""

    def __init__(self, n_embd: int, n_head: int):
        super().__init__()
        self.ln_1 = LayerNorm(n_embd)
        self.attn = MultiHeadAttention(n_embd, n_head)
        self.mlp = MLP(n_embd)
        _randomise_norms(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)  # (B, T, C), read by both branches
        return x + self.attn(h) + self.mlp(h)


class _ParSequential(ParallelBlock):
    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_1(x))


class _ParMlpReadsRaw(ParallelBlock):
    def forward(self, x):
        return x + self.attn(self.ln_1(x)) + self.mlp(x)


class _ParNoResidual(ParallelBlock):
    def forward(self, x):
        h = self.ln_1(x)
        return self.attn(h) + self.mlp(h)


class _ParInputTwice(ParallelBlock):
    def forward(self, x):
        h = self.ln_1(x)
        return (x + self.attn(h)) + (x + self.mlp(h))


class _ParPostNorm(ParallelBlock):
    def forward(self, x):
        return self.ln_1(x + self.attn(x) + self.mlp(x))


class _ParFunctional(ParallelBlock):
    def forward(self, x):
        h = _ln(self.ln_1, x)
        return x + _causal_attention(self.attn, h) + _mlp(self.mlp, h)


exercise(
    "15.3", "GPT-J's parallel block", points=2, kind="transfer",
    reference=ParallelBlock,
    visible=_VISIBLE,
    hidden=_block_cases,
    compare=scaled(atol=1e-5, rtol=1e-4),
    hint="One LayerNorm, read by both branches, and one sum: h = self.ln_1(x), then "
         "return x + self.attn(h) + self.mlp(h).",
    mistakes=[
        Mistake("sequential, as in GPT-2", _ParSequential,
                hint="In the parallel block the MLP does not wait for attention: both read ln_1 of the "
                     "block's input x, and both outputs are added to x at once."),
        Mistake("the MLP reads the raw stream", _ParMlpReadsRaw,
                hint="The MLP reads the same normalised copy as attention: self.mlp(self.ln_1(x)), not "
                     "self.mlp(x)."),
        Mistake("no residual", _ParNoResidual,
                hint="The block adds both branches to its input: x + attn(h) + mlp(h)."),
        Mistake("the input added twice", _ParInputTwice,
                hint="The stream x is added once; the two branches add their outputs to it: "
                     "x + attn(h) + mlp(h), not (x + attn(h)) + (x + mlp(h))."),
        Mistake("norm after the sum", _ParPostNorm,
                hint="GPT-J is pre-LN: the norm is applied to the branches' input, ln_1(x), and the "
                     "stream itself is not normalised."),
    ],
    alternatives=[Alternative("F.layer_norm, F.scaled_dot_product_attention, F.gelu", _ParFunctional)],
)
