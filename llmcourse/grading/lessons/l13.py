"""Lesson 13 (Feed-Forward Networks) exercises.

13.1 ``FeedForward(n_embd)`` (rebuild): the position-wise MLP as an ``nn.Module`` with layers
     ``c_fc`` (``n_embd -> 4 n_embd``) and ``c_proj`` (``4 n_embd -> n_embd``) and GELU (tanh) between.
13.2 ``SwiGLU(n_embd)`` (transfer): the gated FFN of Llama, ``down_proj(silu(gate_proj(x)) * up_proj(x))``,
     without biases, with the hidden width ``8 n_embd // 3`` that gives it the GELU FFN's ``8 d^2`` weights.

>>> import torch
>>> FeedForward(4)(torch.zeros(2, 3, 4)).shape
torch.Size([2, 3, 4])
>>> ffn = SwiGLU(768)
>>> ffn.up_proj.out_features, sum(p.numel() for p in ffn.parameters()) == 8 * 768 ** 2
(2048, True)
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from llmcourse import feedforward
from llmcourse.grading import Case, Mistake, exercise
from llmcourse.grading.lessons._common import scaled
from llmcourse.grading.registry import Alternative


# --- 13.1 the FFN as a module (rebuild) ---------------------------------------------------------------------
class FeedForward(feedforward.MLP):
    """Reference: the package's ``MLP(n_embd)``: c_fc (d -> 4d), GELU (tanh), c_proj (4d -> d)."""

    def __init__(self, n_embd: int):
        super().__init__(n_embd)


class _ReLU(FeedForward):
    def forward(self, x):
        return self.c_proj(torch.relu(self.c_fc(x)))


class _ExactGELU(FeedForward):
    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x)))


class _ActAfterProjection(FeedForward):
    def forward(self, x):
        return feedforward.gelu(self.c_proj(self.c_fc(x)), "tanh")


class _NoActivation(FeedForward):
    def forward(self, x):
        return self.c_proj(self.c_fc(x))


class _ResidualInside(FeedForward):
    def forward(self, x):
        return x + self.c_proj(feedforward.gelu(self.c_fc(x), "tanh"))


class _FunctionalGELU(FeedForward):
    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class _BatchOfOne(FeedForward):
    def forward(self, x):
        return super().forward(x.reshape(-1, x.shape[-1])[:1]).expand(x.shape)  # the first token's output


# The article's embeddings of "the", "cat", "sat" (d = 4).
SEED_X = torch.tensor([[[0.12, -0.50, 0.33, 0.78], [0.78, 0.30, -0.12, 0.45], [0.45, -0.10, 0.67, -0.23]]])


def _ffn_cases(r):
    return [Case(r.randn(2, 5, 8, scale=3.0)).build_with(8).named("n_embd=8, a batch (2, 5, 8)"),
            Case(r.randn(3, 4, scale=3.0)).build_with(4).named("n_embd=4, no batch dimension (3, 4)"),
            Case(r.randn(1, 1, 16, scale=2.0)).build_with(16).named("n_embd=16, one token"),
            Case(r.randn(2, 3, 12, scale=3.0)).build_with(12).named("n_embd=12")]


exercise(
    "13.1", "The feed-forward network as a module", points=2, kind="rebuild",
    reference=FeedForward,
    visible=[Case(SEED_X).build_with(4).named("the article's embeddings of 'the cat sat', n_embd=4")],
    hidden=_ffn_cases,
    compare=scaled(atol=1e-5, rtol=1e-5),
    hint="forward(x) = c_proj(GELU_tanh(c_fc(x))), with c_fc = nn.Linear(n_embd, 4 * n_embd) and "
         "c_proj = nn.Linear(4 * n_embd, n_embd).",
    mistakes=[
        Mistake("ReLU instead of GELU", _ReLU,
                hint="Use GELU with the tanh approximation (F.gelu(h, approximate='tanh')), not ReLU."),
        Mistake("exact GELU", _ExactGELU,
                hint="GPT-2's FFN uses the tanh approximation: F.gelu(h, approximate='tanh'). Plain "
                     "F.gelu(h) is the exact erf form."),
        Mistake("activation after the projection", _ActAfterProjection,
                hint="The non-linearity goes between the two layers, on the 4 * n_embd hidden "
                     "units: c_proj(gelu(c_fc(x))), not gelu(c_proj(c_fc(x)))."),
        Mistake("no activation", _NoActivation,
                hint="Without a non-linearity between c_fc and c_proj the two layers collapse into "
                     "one linear map. Apply GELU (tanh) to c_fc(x)."),
        Mistake("residual inside the FFN", _ResidualInside,
                hint="Return c_proj(gelu(c_fc(x))) without adding x: the residual connection belongs "
                     "to the transformer block (lesson 14), not to the FFN."),
        Mistake("the first token's output everywhere", _BatchOfOne,
                hint="The FFN acts on every token separately: apply c_fc, GELU and c_proj to the whole "
                     "(B, T, C) tensor (nn.Linear handles the leading dimensions)."),
    ],
    alternatives=[Alternative("F.gelu(approximate='tanh')", _FunctionalGELU)],
)




# --- 13.2 SwiGLU at the GELU FFN's parameter count (transfer) ------------------------------------------
def swiglu_hidden(n_embd: int) -> int:
    """The hidden width that gives three bias-free ``d x h`` matrices the ``8 d^2`` weights of
    the GELU FFN's two: ``3 d h = 8 d^2``, so ``h = 8 d / 3``, rounded down."""
    return 8 * n_embd // 3


class SwiGLU(nn.Module):
    """Reference: ``down_proj(silu(gate_proj(x)) * up_proj(x))``, three ``nn.Linear`` without bias."""

    def __init__(self, n_embd: int):
        super().__init__()
        hidden = swiglu_hidden(n_embd)
        self.gate_proj = nn.Linear(n_embd, hidden, bias=False)
        self.up_proj = nn.Linear(n_embd, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))  # (..., n_embd)


class _GeluGate(SwiGLU):
    def forward(self, x):
        return self.down_proj(F.gelu(self.gate_proj(x), approximate="tanh") * self.up_proj(x))


class _SigmoidGate(SwiGLU):
    def forward(self, x):
        return self.down_proj(torch.sigmoid(self.gate_proj(x)) * self.up_proj(x))


class _GateOnUp(SwiGLU):
    def forward(self, x):
        return self.down_proj(F.silu(self.up_proj(x)) * self.gate_proj(x))


class _NoGate(SwiGLU):
    def forward(self, x):
        return self.down_proj(F.silu(self.up_proj(x)))


class _SiluAfterProduct(SwiGLU):
    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x) * self.up_proj(x)))


class _SwishByHand(SwiGLU):
    def forward(self, x):
        g = x @ self.gate_proj.weight.T  # (..., hidden)
        return (g * torch.sigmoid(g) * (x @ self.up_proj.weight.T)) @ self.down_proj.weight.T


def _swiglu_cases(r):
    return [Case(r.randn(2, 5, 12, scale=3.0)).build_with(12).named("n_embd=12 (hidden 32), a batch (2, 5, 12)"),
            Case(r.randn(3, 8, scale=2.0)).build_with(8).named("n_embd=8 (hidden 21), no batch dimension"),
            Case(r.randn(1, 1, 6)).build_with(6).named("n_embd=6 (hidden 16), one token"),
            Case(r.randn(2, 4, 16, scale=4.0)).build_with(16).named("n_embd=16 (hidden 42), large inputs")]


exercise(
    "13.2", "SwiGLU on the same budget of weights", points=3, kind="transfer",
    reference=SwiGLU,
    visible=[Case(SEED_X).build_with(4).named("the article's 'the cat sat', n_embd=4 (hidden 10)")],
    hidden=_swiglu_cases,
    compare=scaled(atol=1e-5, rtol=1e-5),
    hint="forward(x) = down_proj(F.silu(gate_proj(x)) * up_proj(x)); the hidden width is 8 * n_embd // 3 "
         "and none of the three layers has a bias.",
    mistakes=[
        Mistake("GELU as the gate", _GeluGate,
                hint="SwiGLU's gate is Swish (SiLU), x * sigmoid(x): F.silu, not GELU (that would be GeGLU)."),
        Mistake("sigmoid as the gate", _SigmoidGate,
                hint="sigmoid(gate) * up is the original GLU. Swish multiplies by the input as well: "
                     "F.silu(g) = g * sigmoid(g)."),
        Mistake("the gate applied to up_proj", _GateOnUp,
                hint="The non-linearity goes on gate_proj(x); up_proj(x) is multiplied in as it is."),
        Mistake("no gate", _NoGate,
                hint="A gated FFN multiplies two projections of x element by element: "
                     "F.silu(gate_proj(x)) * up_proj(x), then down_proj."),
        Mistake("SiLU after the product", _SiluAfterProduct,
                hint="Apply SiLU to the gate only, then multiply: F.silu(gate_proj(x)) * up_proj(x)."),
    ],
    alternatives=[Alternative("g * sigmoid(g) with the weights used directly", _SwishByHand)],
)
