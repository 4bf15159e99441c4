"""Lesson 15 (Complete Transformer Block) exercises.

15.1 ``Block(n_embd, n_head)``: the pre-LN GPT-2 block as a module with the parts ``ln_1``,
     ``attn``, ``ln_2``, ``mlp``: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``.
15.2 ``PostLNBlock(n_embd, n_head)``: the seed's post-LN arrangement of the same parts,
     ``ln_1(x + attn(x))``, then ``ln_2(x + mlp(x))``.
15.3 ``block_params(n_embd, bias=True)``: parameters of one block, ``12 d^2 + 13 d`` with biases.

The references randomise the LayerNorm gains and shifts (fresh ones are 1 and 0), so that a block
that uses ``ln_1`` where ``ln_2`` belongs gives different numbers.

>>> block_params(768)                       # GPT-2 small
7087872
>>> block_params(4, bias=False)             # 12 * 16 + 2 * 4: no linear biases, norms without shift
200
"""

from __future__ import annotations

import torch

from llmcourse.block import TransformerBlock
import torch.nn.functional as F

from llmcourse.grading import Case, Mistake, close, exact, exercise
from llmcourse.grading.lessons._common import scaled
from llmcourse.grading.registry import Alternative


def _randomise_norms(block: TransformerBlock) -> None:
    with torch.no_grad():
        for ln in (block.ln_1, block.ln_2):
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
    "15.1", "The pre-LN transformer block", points=2,
    reference=Block,
    visible=_VISIBLE,
    hidden=_block_cases,
    compare=scaled(atol=1e-5, rtol=1e-4),
    hint="forward is two lines: x = x + self.attn(self.ln_1(x)), then x = x + self.mlp(self.ln_2(x)).",
    mistakes=[
        Mistake("post-LN wiring", _PostWiring,
                hint="That is the post-LN block (exercise 15.2). Here the norm goes inside each branch, "
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


# --- 15.2 the post-LN block -----------------------------------------------------------------------
class PostLNBlock(TransformerBlock):
    """Reference: ``TransformerBlock(norm_position="post")``, LayerNorms randomised."""

    def __init__(self, n_embd: int, n_head: int):
        super().__init__(n_embd, n_head, norm_position="post")
        _randomise_norms(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)


class _PreWiring(PostLNBlock):
    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class _NormBranchOnly(PostLNBlock):
    def forward(self, x):
        x = x + self.ln_1(self.attn(x))
        return x + self.ln_2(self.mlp(x))


class _OneNormAtTheEnd(PostLNBlock):
    def forward(self, x):
        x = x + self.attn(x)
        return self.ln_2(x + self.mlp(x))


class _PostSameNormTwice(PostLNBlock):
    def forward(self, x):
        x = self.ln_1(x + self.attn(x))
        return self.ln_1(x + self.mlp(x))


class _PostNoResidual(PostLNBlock):
    def forward(self, x):
        x = self.ln_1(self.attn(x))
        return self.ln_2(self.mlp(x))


class _PostFunctional(PostLNBlock):
    def forward(self, x):
        x = _ln(self.ln_1, x + _causal_attention(self.attn, x))
        return _ln(self.ln_2, x + _mlp(self.mlp, x))


exercise(
    "15.2", "The seed's post-LN block", points=1,
    reference=PostLNBlock,
    visible=_VISIBLE,
    hidden=_block_cases,
    compare=scaled(atol=1e-5, rtol=1e-4),
    hint="Add first, then normalise the sum: x = self.ln_1(x + self.attn(x)), then "
         "x = self.ln_2(x + self.mlp(x)).",
    mistakes=[
        Mistake("pre-LN wiring", _PreWiring,
                hint="That is GPT-2's pre-LN block (15.1). The seed's 'Add & LayerNorm' normalises the "
                     "sum after the addition: self.ln_1(x + self.attn(x))."),
        Mistake("norm on the branch only", _NormBranchOnly,
                hint="The norm wraps the whole sum x + sublayer(x), not just the sublayer's output."),
        Mistake("one norm at the end only", _OneNormAtTheEnd,
                hint="Each sublayer gets its own 'Add & LayerNorm': ln_1 after the attention addition, "
                     "ln_2 after the MLP addition."),
        Mistake("ln_1 used for both sublayers", _PostSameNormTwice,
                hint="After the MLP addition use self.ln_2, not self.ln_1."),
        Mistake("residual additions missing", _PostNoResidual,
                hint="Keep the residual: normalise x + self.attn(x), not self.attn(x) alone."),
    ],
    alternatives=[Alternative("F.layer_norm, F.scaled_dot_product_attention, F.gelu", _PostFunctional)],
)


# --- 15.3 parameters of one block -----------------------------------------------------------------
def block_params(n_embd: int, bias: bool = True) -> int:
    """Reference: attention ``4d^2 (+4d)``, MLP ``8d^2 (+5d)``, two LayerNorms ``2d`` each
    (``d`` each without the shift)."""
    d = n_embd
    b = 1 if bias else 0
    attention = 4 * d * d + b * 4 * d  # W_QKV (d, 3d) + W_O (d, d), biases 3d + d
    mlp = 8 * d * d + b * 5 * d  # W_1 (d, 4d) + W_2 (4d, d), biases 4d + d
    norms = 2 * (2 * d if bias else d)  # gain (and shift) of ln_1 and ln_2
    return attention + mlp + norms


def _param_cases(r):
    return [Case(r.integer(2, 64) * 8), Case(r.integer(2, 64) * 8, bias=False),
            Case(r.integer(1, 200), bias=r.choice([True, False])),
            Case(12288).named("GPT-3's width"), Case(4096, bias=False).named("a width of 4096 without biases")]


exercise(
    "15.3", "Parameters of one block", points=1,
    reference=block_params,
    visible=[Case(768).named("GPT-2 small"), Case(64).named("the lesson's block")],
    hidden=_param_cases,
    compare=exact(),
    hint="Attention 4d^2 + 4d, MLP 8d^2 + 5d, two LayerNorms 2d each: 12d^2 + 13d with biases. "
         "Without biases: no linear biases and LayerNorms with a gain only.",
    mistakes=[
        Mistake("weights only", lambda n_embd, bias=True: 12 * n_embd**2,
                hint="Count the vectors too: linear biases (4d in attention, 5d in the MLP) and the "
                     "LayerNorm gains and shifts (4d)."),
        Mistake("LayerNorms forgotten", lambda n_embd, bias=True: 12 * n_embd**2 + (9 * n_embd if bias else 0),
                hint="ln_1 and ln_2 have a gain (and with bias=True a shift) of d numbers each."),
        Mistake("W_O forgotten", lambda n_embd, bias=True: block_params(n_embd, bias) - n_embd**2 - (n_embd if bias else 0),
                hint="Attention has four d x d matrices: W_Q, W_K, W_V (fused in W_QKV) and the output "
                     "projection W_O, plus their biases."),
        Mistake("MLP hidden width 2d", lambda n_embd, bias=True: block_params(n_embd, bias) - 4 * n_embd**2 - (2 * n_embd if bias else 0),
                hint="The MLP expands to 4d: W_1 is d x 4d and W_2 is 4d x d, 8d^2 together."),
        Mistake("LayerNorm shift kept without bias", lambda n_embd, bias=True: block_params(n_embd, True) - (0 if bias else 9 * n_embd),
                hint="With bias=False the LayerNorms have no shift either (d numbers each, the gain)."),
    ],
    alternatives=[Alternative("12 d^2 + 13 d, or 12 d^2 + 2 d", lambda n_embd, bias=True:
                              12 * n_embd ** 2 + (13 if bias else 2) * n_embd)],
)
