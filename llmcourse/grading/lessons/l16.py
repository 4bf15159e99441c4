"""Lesson 16 (Stacking Layers) exercises.

16.1 ``BlockStack(n_layer, n_embd, n_head)`` (find the bug): the given stack builds its
     ``nn.ModuleList`` as ``[block] * n_layer``, one block shared by every layer; the repair gives
     every layer its own block.
16.2 ``gpt_params(vocab_size, block_size, n_layer, n_embd, tie_weights=True)`` (rebuild): the parameter
     count of a GPT-2-style model, ``n_layer (12 d^2 + 13 d) + V d + T d + 2 d`` (plus ``V d``
     for an untied head).
16.3 ``SharedStack(n_layer, n_unique, n_embd, n_head)`` (transfer): weight sharing on purpose,
     ``n_layer`` layers cycling through ``n_unique`` blocks (ALBERT shares one block among all).

>>> gpt_params(50257, 1024, 12, 768)          # GPT-2 small, as Hugging Face counts it
124439808
>>> gpt_params(65, 64, 4, 128)                # the course's nano preset
809856
"""

from __future__ import annotations

import copy
import itertools

import torch
import torch.nn as nn
import torch.nn.functional as F

from llmcourse import scaling
from llmcourse.block import TransformerBlock
from llmcourse.grading import Case, Mistake, close, exact, exercise
from llmcourse.grading.lessons._common import scaled
from llmcourse.grading.registry import Alternative
from llmcourse.model import GPTConfig


# --- 16.1 a stack of blocks ---------------------------------------------------------------------
def _make_distinct(blocks: nn.ModuleList) -> None:
    """Randomise the LayerNorms and enlarge the output projections, so that every block's effect on
    the stream is visible and no two blocks compute the same thing."""
    with torch.no_grad():
        for blk in blocks:
            for ln in (blk.ln_1, blk.ln_2):
                ln.weight.add_(0.3 * torch.randn_like(ln.weight))
                ln.bias.add_(0.3 * torch.randn_like(ln.bias))
            blk.attn.c_proj.weight.mul_(3.0)
            blk.mlp.c_proj.weight.mul_(3.0)


class BlockStack(nn.Module):
    """Reference: ``n_layer`` ``TransformerBlock``s in ``self.blocks`` (LayerNorms randomised so
    that every block differs visibly), applied in order."""

    def __init__(self, n_layer: int, n_embd: int, n_head: int):
        super().__init__()
        self.blocks = nn.ModuleList(TransformerBlock(n_embd, n_head) for _ in range(n_layer))
        _make_distinct(self.blocks)

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


class _DeepCopies(nn.Module):
    """Correct, written differently: one block built, then deep-copied, so every layer owns its
    weights (the grader then loads distinct weights into them)."""

    def __init__(self, n_layer, n_embd, n_head):
        super().__init__()
        first = TransformerBlock(n_embd, n_head)
        self.blocks = nn.ModuleList(copy.deepcopy(first) for _ in range(n_layer))

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


exercise(
    "16.1", "A stack whose layers are one block", points=2, kind="find the bug",
    given=_OneBlockShared,
    reference=BlockStack,
    visible=[Case(torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(16)))
             .build_with(3, 16, 4).named("3 blocks, a (2, 5, 16) stream")],
    hidden=_stack_cases,
    compare=scaled(atol=1e-5, rtol=1e-4),
    hint="Every layer needs its own TransformerBlock: build a new one n_layer times (a list "
         "comprehension), so that each has its own weights. forward runs them in order: x = block(x).",
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
    ],
    alternatives=[Alternative("nn.Sequential(*self.blocks)", _Sequential),
                  Alternative("copy.deepcopy of one block for every layer", _DeepCopies)],
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
    "16.2", "Parameters of a GPT", points=1, kind="rebuild",
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




# --- 16.3 layers that share weights on purpose ---------------------------------------------------
class SharedStack(nn.Module):
    """Reference: ``n_unique`` blocks in ``self.blocks``; layer ``i`` (0-based) of ``n_layer`` runs
    ``self.blocks[i % n_unique]``, so the blocks repeat as a cycle 0, 1, ..., 0, 1, ...
    ``n_unique = 1`` is ALBERT's sharing; ``n_unique = n_layer`` is the ordinary stack."""

    def __init__(self, n_layer: int, n_unique: int, n_embd: int, n_head: int):
        super().__init__()
        self.n_layer = n_layer
        self.blocks = nn.ModuleList(TransformerBlock(n_embd, n_head) for _ in range(n_unique))
        _make_distinct(self.blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(self.n_layer):
            x = self.blocks[i % len(self.blocks)](x)  # (B, T, C) -> (B, T, C)
        return x


class _EachOnce(SharedStack):
    def forward(self, x):
        for block in self.blocks:  # n_unique layers instead of n_layer
            x = block(x)
        return x


class _Grouped(SharedStack):
    def forward(self, x):
        for i in range(self.n_layer):
            x = self.blocks[i * len(self.blocks) // self.n_layer](x)  # 0, 0, 1, 1 instead of 0, 1, 0, 1
        return x


class _CycleEveryLayer(SharedStack):
    def forward(self, x):
        for _ in range(self.n_layer):
            for block in self.blocks:  # the whole cycle at every layer: n_layer * n_unique layers
                x = block(x)
        return x


class _SharedExtraResidual(SharedStack):
    def forward(self, x):
        for i in range(self.n_layer):
            x = x + self.blocks[i % len(self.blocks)](x)
        return x


class _CycleIterator(SharedStack):
    def forward(self, x):
        for block in itertools.islice(itertools.cycle(self.blocks), self.n_layer):
            x = block(x)
        return x


def _shared_cases(r):
    cases = []
    for n_layer, n_unique in [(4, 2), (6, 3), (5, 2), (3, 1), (3, 3)]:
        d = r.choice([8, 16])
        cases.append(Case(r.randn(r.integer(1, 3), r.integer(2, 6), d)).build_with(n_layer, n_unique, d, 2)
                     .named(f"n_layer={n_layer}, n_unique={n_unique}, n_embd={d}"))
    cases.append(Case(r.randn(2, 1, 16)).build_with(4, 2, 16, 4).named("a single position (T = 1)"))
    return cases


exercise(
    "16.3", "Layers that share weights", points=2, kind="transfer",
    reference=SharedStack,
    visible=[Case(torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(16)))
             .build_with(4, 2, 16, 4).named("4 layers cycling through 2 blocks, a (2, 5, 16) stream")],
    hidden=_shared_cases,
    compare=scaled(atol=1e-5, rtol=1e-4),
    hint="Keep n_unique blocks in self.blocks and n_layer in self.n_layer; forward runs n_layer "
         "layers, layer i using self.blocks[i % n_unique].",
    mistakes=[
        Mistake("each block once", _EachOnce,
                hint="Run n_layer layers, not n_unique: the blocks are reused, layer i runs "
                     "self.blocks[i % n_unique]."),
        Mistake("blocks grouped instead of cycled", _Grouped,
                hint="The blocks repeat as a cycle, 0, 1, 0, 1 for 4 layers and 2 blocks: use "
                     "i % n_unique, not i * n_unique // n_layer (0, 0, 1, 1)."),
        Mistake("the whole cycle at every layer", _CycleEveryLayer,
                hint="Each layer runs ONE block: n_layer block calls in total, not n_layer * n_unique."),
        Mistake("an extra residual around each layer", _SharedExtraResidual,
                hint="Each block already adds its own residuals: x = block(x), not x = x + block(x)."),
    ],
    alternatives=[Alternative("itertools.cycle over the blocks", _CycleIterator)],
)
