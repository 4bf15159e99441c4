"""Lesson 16 (Stacking Layers) exercises.

16.1 ``BlockStack(n_layer, n_embd, n_head)``: ``n_layer`` pre-LN blocks in an ``nn.ModuleList``
     called ``blocks``, applied one after the other.
16.2 ``gpt_params(vocab_size, block_size, n_layer, n_embd, tie_weights=True)``: the parameter
     count of a GPT-2-style model, ``n_layer (12 d^2 + 13 d) + V d + T d + 2 d`` (plus ``V d``
     for an untied head).
16.3 ``hidden_states(model, idx)``: the residual stream after the embedding and after each block.

>>> gpt_params(50257, 1024, 12, 768)          # GPT-2 small, as Hugging Face counts it
124439808
>>> gpt_params(65, 64, 4, 128)                # the course's nano preset
809856
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from llmcourse import model as gpt_model
from llmcourse import scaling
from llmcourse.block import TransformerBlock
from llmcourse.grading import Case, Mistake, close, exact, exercise
from llmcourse.grading.lessons._common import scaled
from llmcourse.grading.registry import Alternative
from llmcourse.model import GPT, GPTConfig


# --- 16.1 a stack of blocks ---------------------------------------------------------------------
class BlockStack(nn.Module):
    """Reference: ``n_layer`` ``TransformerBlock``s in ``self.blocks`` (LayerNorms randomised so
    that every block differs visibly), applied in order."""

    def __init__(self, n_layer: int, n_embd: int, n_head: int):
        super().__init__()
        self.blocks = nn.ModuleList(TransformerBlock(n_embd, n_head) for _ in range(n_layer))
        with torch.no_grad():
            for blk in self.blocks:
                for ln in (blk.ln_1, blk.ln_2):
                    ln.weight.add_(0.3 * torch.randn_like(ln.weight))
                    ln.bias.add_(0.3 * torch.randn_like(ln.bias))
                blk.attn.c_proj.weight.mul_(3.0)  # larger writes, so each block's effect is visible
                blk.mlp.c_proj.weight.mul_(3.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)  # (B, T, C) -> (B, T, C)
        return x


class _LastOnly(BlockStack):
    def forward(self, x):
        return self.blocks[-1](x)


class _FirstOnly(BlockStack):
    def forward(self, x):
        return self.blocks[0](x)


class _Reversed(BlockStack):
    def forward(self, x):
        for block in reversed(self.blocks):
            x = block(x)
        return x


class _ExtraResidual(BlockStack):
    def forward(self, x):
        for block in self.blocks:
            x = x + block(x)  # the block already adds its own residuals
        return x


class _FinalNorm(BlockStack):
    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return F.layer_norm(x, x.shape[-1:])  # ln_f belongs to the output layer (lesson 17)


class _OneBlockShared(BlockStack):
    def __init__(self, n_layer, n_embd, n_head):
        super().__init__(n_layer, n_embd, n_head)
        self.blocks = nn.ModuleList([self.blocks[0]] * n_layer)  # one block, n_layer references


class _Sequential(BlockStack):
    def forward(self, x):
        return nn.Sequential(*self.blocks)(x)


def _stack_cases(r):
    cases = []
    for n_layer, n_embd, n_head in [(2, 8, 2), (3, 16, 4), (4, 16, 2)]:
        cases.append(Case(r.randn(r.integer(2, 3), r.integer(2, 8), n_embd))
                     .build_with(n_layer, n_embd, n_head)
                     .named(f"n_layer={n_layer}, n_embd={n_embd}, n_head={n_head}"))
    cases.append(Case(r.randn(2, 5, 8)).build_with(1, 8, 2).named("a stack of one block"))
    cases.append(Case(r.randn(1, 1, 16)).build_with(3, 16, 4).named("a single position (T = 1)"))
    return cases


exercise(
    "16.1", "A stack of blocks", points=2,
    reference=BlockStack,
    visible=[Case(torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(16)))
             .build_with(3, 16, 4).named("3 blocks, a (2, 5, 16) stream")],
    hidden=_stack_cases,
    compare=scaled(atol=1e-5, rtol=1e-4),
    hint="In __init__: self.blocks = nn.ModuleList([TransformerBlock(n_embd, n_head) for _ in "
         "range(n_layer)]). In forward: for block in self.blocks: x = block(x); return x.",
    mistakes=[
        Mistake("only the last block", _LastOnly,
                hint="Apply every block in turn, each to the previous block's output: x = block(x) "
                     "inside the loop, and return x after the loop."),
        Mistake("only the first block", _FirstOnly,
                hint="Return after the loop has run through all blocks, not from inside it."),
        Mistake("blocks in reverse order", _Reversed,
                hint="Run the blocks in the order of self.blocks: block 0 first."),
        Mistake("an extra residual around each block", _ExtraResidual,
                hint="Each block already adds its results to the stream (its own residuals): the stack "
                     "is just x = block(x), not x = x + block(x)."),
        Mistake("a final LayerNorm", _FinalNorm,
                hint="The stack returns the raw stream; the final LayerNorm ln_f is part of the output "
                     "layer (lesson 17)."),
        Mistake("one block shared by all layers", _OneBlockShared,
                hint="Create a new TransformerBlock for every layer (a list comprehension); "
                     "[block] * n_layer repeats one block, so all layers share its weights."),
    ],
    alternatives=[Alternative("nn.Sequential(*self.blocks)", _Sequential)],
)


# --- 16.2 parameter count of a GPT ---------------------------------------------------------------
def gpt_params(vocab_size: int, block_size: int, n_layer: int, n_embd: int, tie_weights: bool = True) -> int:
    """Reference: ``llmcourse.scaling.count_parameters`` of the matching ``GPTConfig``."""
    cfg = GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=1,
                    n_embd=n_embd, tie_weights=tie_weights)
    return scaling.count_parameters(cfg)


def _block(d):
    return 12 * d * d + 13 * d


def _params_cases(r):
    return [
        Case(r.integer(2, 300), r.integer(8, 512), r.integer(1, 12), r.integer(1, 32) * 8),
        Case(r.integer(2, 300), r.integer(8, 512), r.integer(1, 12), r.integer(1, 32) * 8, tie_weights=False),
        Case(50257, 2048, 96, 12288).named("GPT-3 175B"),
        Case(65, 256, r.integer(1, 8), 384, tie_weights=r.choice([True, False])),
    ]


exercise(
    "16.2", "Parameters of a GPT", points=1,
    reference=gpt_params,
    visible=[Case(50257, 1024, 12, 768).named("GPT-2 small"), Case(65, 64, 4, 128).named("the nano preset")],
    hidden=_params_cases,
    compare=exact(),
    hint="Token embedding V*d, position embedding T*d, n_layer blocks of 12d^2 + 13d, the final "
         "LayerNorm 2d, and the head V*d only when it is not tied.",
    mistakes=[
        Mistake("no position embedding",
                lambda V, T, L, d, tie_weights=True: gpt_params(V, T, L, d, tie_weights) - T * d,
                hint="GPT-2 learns one vector per position: add block_size * n_embd."),
        Mistake("no final LayerNorm",
                lambda V, T, L, d, tie_weights=True: gpt_params(V, T, L, d, tie_weights) - 2 * d,
                hint="After the last block comes ln_f, with a gain and a shift: 2 * n_embd."),
        Mistake("tied head counted twice",
                lambda V, T, L, d, tie_weights=True: gpt_params(V, T, L, d, False),
                hint="With tie_weights=True the head reuses the token embedding matrix: count V*d once."),
        Mistake("untied head forgotten",
                lambda V, T, L, d, tie_weights=True: gpt_params(V, T, L, d, True),
                hint="With tie_weights=False the head has its own (vocab_size, n_embd) matrix: add V*d."),
        Mistake("blocks without biases and norms",
                lambda V, T, L, d, tie_weights=True: gpt_params(V, T, L, d, tie_weights) - L * 13 * d,
                hint="12 d^2 per block counts the matrices only; each block also has 13 d biases and "
                     "LayerNorm parameters (lesson 15)."),
        Mistake("one block only",
                lambda V, T, L, d, tie_weights=True: gpt_params(V, T, L, d, tie_weights) - (L - 1) * _block(d),
                hint="Multiply the per-block count by n_layer."),
    ],
    alternatives=[Alternative("counted by hand", lambda V, T, L, d, tie_weights=True:
                              V * d + T * d + L * (12 * d * d + 13 * d) + 2 * d + (0 if tie_weights else V * d))],
)


# --- 16.3 the residual stream, layer by layer -------------------------------------------------------
def hidden_states(model: GPT, idx: torch.Tensor) -> list[torch.Tensor]:
    """Reference: ``llmcourse.model.hidden_states``."""
    with torch.no_grad():
        return gpt_model.hidden_states(model, idx)


def _random_model(seed, n_layer, n_embd, n_head, vocab=29, block_size=16):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT(GPTConfig(vocab_size=vocab, block_size=block_size, n_layer=n_layer, n_head=n_head,
                              n_embd=n_embd)).eval()
        with torch.no_grad():  # a trained-looking model: visible position vectors and norms
            model.embed.pos.weight.normal_(0.0, 0.3)
            model.ln_f.weight.normal_(1.0, 0.3)
    return model


def _states_cases(r):
    cases = []
    for n_layer in (1, 3):
        m = _random_model(r.seed_torch(), n_layer, 16, 4)
        cases.append(Case(m, r.randint(0, 29, r.integer(1, 3), r.integer(2, 16)))
                     .named(f"a random {n_layer}-block GPT"))
    m = _random_model(r.seed_torch(), 2, 8, 2)
    cases.append(Case(m, r.randint(0, 29, 1, 1)).named("one token"))
    cases.append(Case(m, r.randint(0, 29, 3, 5)).named("a batch of three different sequences"))
    cases.append(Case(m, r.randint(0, 29, 2, 16)).named("sequences of exactly block_size = 16 tokens"))
    return cases


def _visible_states(r):
    m = _random_model(16, 2, 16, 4)  # the same model every time: the example of the exercise
    return [Case(m, torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6]])).named("a 2-block GPT, 8 tokens")]


def _first_sequence_only(model, idx):
    return [h[:1].expand(idx.shape[0], -1, -1) for h in hidden_states(model, idx[:1])]


def _by_hand(model, idx):
    with torch.no_grad():
        x = model.embed.tok(idx) + model.embed.pos(idx.shape[1])  # (B, T, C) + (T, C)
        out = [x]
        for block in model.blocks:
            x = block(x)
            out.append(x)
    return out


def _no_embedding(model, idx):
    return hidden_states(model, idx)[1:]


def _off_by_one(model, idx):
    return hidden_states(model, idx)[:-1]


def _with_final_norm(model, idx):
    hs = hidden_states(model, idx)
    with torch.no_grad():
        return hs[:-1] + [model.ln_f(hs[-1])]


def _token_only(model, idx):
    with torch.no_grad():
        x = model.embed.tok(idx)  # forgot the position embedding
        out = [x]
        for block in model.blocks:
            x = block(x)
            out.append(x)
    return out


def _each_from_embedding(model, idx):
    with torch.no_grad():
        x = model.embed(idx)
        return [x] + [block(x) for block in model.blocks]


exercise(
    "16.3", "The residual stream after every block", points=1,
    reference=hidden_states,
    visible=_visible_states,
    hidden=_states_cases,
    compare=scaled(atol=1e-5, rtol=1e-4),
    hint="x = model.embed(idx); states = [x]; then for each block: x = block(x); states.append(x).",
    mistakes=[
        Mistake("embedding left out", _no_embedding,
                hint="The first entry is the input embedding model.embed(idx), before any block: "
                     "n_layer + 1 entries in total."),
        Mistake("last block's output missing", _off_by_one,
                hint="Append after applying each block, so the list ends with the last block's output."),
        Mistake("final norm applied", _with_final_norm,
                hint="Return the raw stream: ln_f belongs to the output layer and is not applied here."),
        Mistake("position embedding missing", _token_only,
                hint="Use model.embed(idx), which adds the position vectors to the token vectors, not "
                     "model.embed.tok(idx) alone."),
        Mistake("every block reads the embedding", _each_from_embedding,
                hint="Each block reads the previous block's output: reassign x = block(x) before "
                     "appending."),
        Mistake("the first sequence's states for the whole batch", _first_sequence_only,
                hint="Run the whole batch: every sequence of idx (B, T) has its own residual stream; "
                     "do not index idx[0] or keep only the first row."),
    ],
    alternatives=[Alternative("token + position embeddings, then the blocks, by hand", _by_hand)],
)
