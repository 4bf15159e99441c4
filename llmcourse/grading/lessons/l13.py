"""Lesson 13 (Feed-Forward Networks) exercises.

13.1 ``gelu_tanh(x)``: GPT-2's tanh approximation of GELU, element by element.
13.2 ``FeedForward(n_embd)``: the position-wise MLP as an ``nn.Module`` with layers ``c_fc``
     (``n_embd -> 4 n_embd``) and ``c_proj`` (``4 n_embd -> n_embd``) and GELU (tanh) between them.
13.3 ``ffn_share(n_embd, n_layer, vocab_size, block_size)``: the fraction of a GPT-2-style model's
     parameters that sit in its FFNs, embeddings included.

>>> import torch
>>> gelu_tanh(torch.tensor([-1.0, 0.0, 1.0]))
tensor([-0.1588,  0.0000,  0.8412])
>>> FeedForward(4)(torch.zeros(2, 3, 4)).shape
torch.Size([2, 3, 4])
>>> round(ffn_share(768, 12, 50257, 1024), 4)            # GPT-2 small: not two thirds
0.4554
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from llmcourse import feedforward
from llmcourse.grading import Case, Mistake, close, exercise
from llmcourse.grading.lessons._common import scaled
from llmcourse.grading.registry import Alternative
from llmcourse.model import GPTConfig
from llmcourse.scaling import parameter_breakdown


# --- 13.1 GELU, tanh approximation --------------------------------------------------------------
def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """Reference: ``llmcourse.feedforward.gelu(x, approximate="tanh")``."""
    return feedforward.gelu(x, approximate="tanh")


def _gelu_cases(r):
    return [Case(r.randn(r.integer(1, 5), 8, scale=3.0)).named("random activations"),
            Case(torch.linspace(-6, 6, 25)).named("a ramp from -6 to 6"),
            Case(r.randn(2, 3, 4, dtype=torch.float64)).named("float64, three dimensions"),
            Case(torch.tensor([-30.0, -10.0, 10.0, 30.0])).named("large inputs")]


def _tanh_part(x, c=math.sqrt(2.0 / math.pi), cubic=0.044715):
    return torch.tanh(c * (x + cubic * x.pow(3)))


exercise(
    "13.1", "GELU, tanh approximation", points=1,
    reference=gelu_tanh,
    visible=[Case(torch.tensor([-1.0, 0.0, 1.0])).named("the lesson's three values")],
    hidden=_gelu_cases,
    compare=close(atol=1e-6, rtol=1e-5),
    hint="GELU_tanh(x) = 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3))).",
    mistakes=[
        Mistake("exact GELU instead of tanh", lambda x: feedforward.gelu(x, approximate="none"),
                hint="This exercise wants GPT-2's tanh approximation, not the exact erf form "
                     "(they differ by up to 4.7e-4)."),
        Mistake("missing the cubic term", lambda x: 0.5 * x * (1 + _tanh_part(x, cubic=0.0)),
                hint="Inside tanh it is x + 0.044715 * x**3, not x alone."),
        Mistake("sqrt(2)/pi instead of sqrt(2/pi)",
                lambda x: 0.5 * x * (1 + _tanh_part(x, c=math.sqrt(2.0) / math.pi)),
                hint="The constant is sqrt(2 / pi) = 0.7979, the square root of the whole fraction."),
        Mistake("missing the leading x", lambda x: 0.5 * (1 + _tanh_part(x)),
                hint="0.5 * (1 + tanh(...)) is the smooth gate, an approximation of Phi(x); GELU "
                     "multiplies it by x."),
        Mistake("ReLU", torch.relu,
                hint="ReLU is max(0, x); GELU is smooth and slightly negative for negative inputs."),
    ],
    alternatives=[Alternative("F.gelu(approximate='tanh')", lambda x: F.gelu(x, approximate="tanh")),
                  Alternative("x * sigmoid(2 c (x + 0.044715 x^3))", lambda x: x * torch.sigmoid(
                      2 * math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))],
)


# --- 13.2 the FFN as a module ---------------------------------------------------------------------
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


# The seed's embeddings of "the", "cat", "sat" (d = 4).
SEED_X = torch.tensor([[[0.12, -0.50, 0.33, 0.78], [0.78, 0.30, -0.12, 0.45], [0.45, -0.10, 0.67, -0.23]]])


def _ffn_cases(r):
    return [Case(r.randn(2, 5, 8, scale=3.0)).build_with(8).named("n_embd=8, a batch (2, 5, 8)"),
            Case(r.randn(3, 4, scale=3.0)).build_with(4).named("n_embd=4, no batch dimension (3, 4)"),
            Case(r.randn(1, 1, 16, scale=2.0)).build_with(16).named("n_embd=16, one token"),
            Case(r.randn(2, 3, 12, scale=3.0)).build_with(12).named("n_embd=12")]


exercise(
    "13.2", "The feed-forward network as a module", points=2,
    reference=FeedForward,
    visible=[Case(SEED_X).build_with(4).named("the seed's embeddings of 'the cat sat', n_embd=4")],
    hidden=_ffn_cases,
    compare=scaled(atol=1e-5, rtol=1e-5),
    hint="forward(x) = c_proj(GELU_tanh(c_fc(x))), with c_fc = nn.Linear(n_embd, 4 * n_embd) and "
         "c_proj = nn.Linear(4 * n_embd, n_embd).",
    mistakes=[
        Mistake("ReLU instead of GELU", _ReLU,
                hint="Use GELU with the tanh approximation (F.gelu(h, approximate='tanh') or your "
                     "gelu_tanh from 13.1), not ReLU."),
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


# --- 13.3 the FFN's share of the whole model --------------------------------------------------------
def ffn_share(n_embd: int, n_layer: int, vocab_size: int, block_size: int) -> float:
    """Reference: MLP parameters over all parameters of ``GPT(GPTConfig(...))`` (GPT-2 style: biases,
    learned positions, LayerNorms with bias, tied LM head), from ``parameter_breakdown``."""
    cfg = GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=1, n_embd=n_embd)
    parts = parameter_breakdown(cfg)
    return parts["mlp"] / sum(parts.values())


def _parts(d, L, V, T):
    """(ffn, attention, norms, token embedding, position embedding) of the GPT-2 layout."""
    return 8 * d * d + 5 * d, 4 * d * d + 4 * d, 2 * 2 * d, V * d, T * d


def _blocks_only(d, L, V, T):
    ffn, attn, norms, _, _ = _parts(d, L, V, T)
    return ffn / (ffn + attn + norms)


def _untied_head(d, L, V, T):
    ffn, attn, norms, tok, pos = _parts(d, L, V, T)
    return L * ffn / (L * (ffn + attn + norms) + 2 * d + tok + pos + V * d)


def _no_positions(d, L, V, T):
    ffn, attn, norms, tok, pos = _parts(d, L, V, T)
    return L * ffn / (L * (ffn + attn + norms) + 2 * d + tok)


def _no_biases(d, L, V, T):
    return L * 8 * d * d / (L * 12 * d * d + V * d + T * d)


def _no_final_norm(d, L, V, T):
    ffn, attn, norms, tok, pos = _parts(d, L, V, T)
    return L * ffn / (L * (ffn + attn + norms) + tok + pos)


def _by_hand(d, L, V, T):
    mlp = L * (d * 4 * d + 4 * d + 4 * d * d + d)  # c_fc and c_proj with biases, per layer
    total = L * (12 * d * d + 13 * d) + 2 * d + V * d + T * d  # blocks, final LayerNorm, wte, wpe
    return mlp / total


def _share_cases(r):
    cases = [Case(12288, 96, 50257, 2048).named("GPT-3 175B"), Case(128, 4, 65, 64).named("the nano model"),
             Case(1600, 48, 50257, 1024).named("GPT-2 XL")]
    for _ in range(3):
        cases.append(Case(16 * r.integer(1, 64), r.integer(1, 24), r.integer(50, 60000), 32 * r.integer(1, 64)))
    return cases


exercise(
    "13.3", "The FFN's share of a whole GPT", points=1,
    reference=ffn_share,
    visible=[Case(768, 12, 50257, 1024).named("GPT-2 small")],
    hidden=_share_cases,
    compare=close(atol=1e-12, rtol=1e-9),
    hint="FFN per block: 8d^2 + 5d. Total: token embedding V*d + positions T*d + n_layer blocks of "
         "(LayerNorm 2d + attention 4d^2 + 4d + LayerNorm 2d + FFN 8d^2 + 5d) + final LayerNorm 2d; "
         "the tied LM head adds nothing.",
    mistakes=[
        Mistake("share of the blocks only", _blocks_only,
                hint="That is the share inside one block (about 2/3). The question is about the whole "
                     "model: add the token and position embeddings and the final LayerNorm to the total."),
        Mistake("LM head counted separately", _untied_head,
                hint="The LM head is tied to the token embedding: the same V x d matrix, counted once."),
        Mistake("position embedding forgotten", _no_positions,
                hint="GPT-2 learns one d-vector per position: add block_size * n_embd to the total."),
        Mistake("biases and LayerNorms forgotten", _no_biases,
                hint="Count the biases (5d in the FFN, 4d in attention) and the LayerNorms (2d each: "
                     "a gain and a bias), not only the weight matrices."),
        Mistake("final LayerNorm forgotten", _no_final_norm,
                hint="After the last block comes one more LayerNorm (ln_f): add its 2d parameters."),
    ],
    alternatives=[Alternative("counted by hand", _by_hand)],
)
