"""Lesson 5 (The Combined Input Embedding) exercises.

05.1 ``InputEmbedding(vocab_size, block_size, n_embd, dropout=0.0)`` (find the bug): the GPT-2
     input layer as an ``nn.Module`` with parameters ``wte.weight`` ``(vocab_size, n_embd)`` and ``wpe.weight``
     ``(block_size, n_embd)``; ``forward(idx)`` maps ``(B, T)`` ids to ``(B, T, n_embd)``.
05.2 (predict) the largest entry of ``F.dropout(torch.ones(10_000), p=0.2, training=True)``.
05.3 ``dropout(x, keep, p, training)`` (transfer): inverted dropout with a given keep-mask.

>>> m = InputEmbedding(vocab_size=5, block_size=8, n_embd=4)
>>> m(torch.tensor([[1, 2, 3]])).shape                  # (B, T) -> (B, T, n_embd)
torch.Size([1, 3, 4])
>>> dropout_max()                                       # the survivors are 1 / (1 - 0.2)
1.25
>>> dropout(torch.ones(4), torch.tensor([True, False, True, True]), p=0.2, training=True)
tensor([1.2500, 0.0000, 1.2500, 1.2500])
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from llmcourse.grading import Case, Mistake, close, exercise
from llmcourse.grading.registry import Alternative


# --- 05.1 the input embedding module --------------------------------------------------------------
class InputEmbedding(nn.Module):
    """Reference: token row + position row, then dropout (GPT-2's ``wte`` and ``wpe``).

    Equal to ``llmcourse.embedding.InputEmbedding`` given the same two tables
    (``tests/test_lesson05_input_embedding.py`` checks it).
    """

    def __init__(self, vocab_size: int, block_size: int, n_embd: int, dropout: float = 0.0):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)  # (vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)  # (block_size, n_embd)
        self.drop = nn.Dropout(dropout)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        T = idx.shape[1]
        pos = torch.arange(T, device=idx.device)  # (T,) positions 0..T-1
        return self.drop(self.wte(idx) + self.wpe(pos))  # (B, T, C) + (T, C) -> (B, T, C)


class _NoPositions(InputEmbedding):
    def forward(self, idx):
        return self.drop(self.wte(idx))  # (B, T, C)


class _PositionsFromTokens(InputEmbedding):
    def forward(self, idx):
        return self.drop(self.wte(idx) + self.wpe(idx))  # the position table looked up with token ids


class _PositionsFromOne(InputEmbedding):
    def forward(self, idx):
        pos = torch.arange(1, idx.shape[1] + 1)  # (T,) 1..T
        return self.drop(self.wte(idx) + self.wpe(pos))


class _BatchAsLength(InputEmbedding):
    def forward(self, idx):
        pos = torch.arange(idx.shape[0])  # (B,) the batch size taken for the length
        return self.drop(self.wte(idx) + self.wpe(pos))


class _Scaled(InputEmbedding):
    def forward(self, idx):
        T, C = idx.shape[1], self.wte.weight.shape[1]
        return self.drop(self.wte(idx) * math.sqrt(C) + self.wpe(torch.arange(T)))


class _LastRows(InputEmbedding):
    """The given broken module: it adds the *last* T rows of the position table (the cropping idiom
    ``[-T:]`` used on the wrong tensor), i.e. positions block_size-T .. block_size-1."""

    def forward(self, idx):
        T = idx.shape[1]
        return self.drop(self.wte(idx) + self.wpe.weight[-T:])  # (B, T, C) + (T, C)


class _WeightSlice(InputEmbedding):
    def forward(self, idx):
        return self.drop(self.wte.weight[idx] + self.wpe.weight[: idx.shape[1]])  # rows of the tables


def _module_cases(r):
    V, P, C = r.integer(5, 40), r.integer(4, 24), 2 * r.integer(2, 8)
    T, B = r.integer(2, P), r.integer(2, 4)
    return [
        Case(r.randint(0, V, B, T)).build_with(V, P, C).named("a random batch"),
        Case(r.randint(0, V, 1, P)).build_with(V, P, C).named("a sequence of exactly block_size tokens"),
        Case(r.randint(0, V, 3, 1)).build_with(V, P, C, 0.1).named("T = 1, built with dropout=0.1 (eval mode)"),
    ]


exercise(
    "05.1", "The input embedding module", points=2, kind="find the bug",
    reference=InputEmbedding, given=_LastRows,
    visible=[Case(torch.tensor([[0, 1, 2, 3, 1]])).build_with(12, 16, 8)
             .named("one sequence of 5 ids, vocab_size=12, block_size=16, n_embd=8"),
             Case(torch.tensor([[4, 5, 6], [7, 8, 9]])).build_with(12, 16, 8).named("a batch of two")],
    hidden=_module_cases,
    compare=close(atol=1e-6, rtol=1e-5),
    hint="Create the three attributes named in the exercise (wte, wpe, drop). In forward, add the token "
         "rows self.wte(idx) to the position rows of positions 0..T-1 (T = idx.shape[1]), then apply "
         "self.drop.",
    mistakes=[
        Mistake("no positions", _NoPositions,
                hint="Add the position vectors: self.wpe(torch.arange(T)) has shape (T, n_embd) and "
                     "broadcasts over the batch."),
        Mistake("position table looked up with token ids", _PositionsFromTokens,
                hint="The position table is indexed by positions 0..T-1 (torch.arange(T)), not by the "
                     "token ids: two equal tokens at different places must get different vectors."),
        Mistake("positions counted from 1", _PositionsFromOne,
                hint="Positions start at 0: torch.arange(T), not torch.arange(1, T + 1)."),
        Mistake("batch size used as the length", _BatchAsLength,
                hint="idx has shape (B, T): the sequence length is idx.shape[1], not idx.shape[0]."),
        Mistake("token vectors scaled by sqrt(n_embd)", _Scaled,
                hint="GPT-2 adds the two rows as they are; the sqrt(d_model) factor belongs to the 2017 "
                     "Transformer."),
    ],
    alternatives=[Alternative("rows of the weight tables, wpe.weight[:T]", _WeightSlice)],
)


# --- 05.2 predict: what inverted dropout keeps -----------------------------------------------------
def dropout_max() -> float:
    """Reference: the largest entry of ``F.dropout(torch.ones(10_000), p=0.2, training=True)``:
    every survivor is 1 / (1 - 0.2) = 1.25."""
    g = torch.Generator().manual_seed(0)
    keep = torch.rand(10_000, generator=g) >= 0.2  # a fixed mask, so the reference is deterministic
    return torch.where(keep, torch.ones(10_000) / (1 - 0.2), torch.zeros(10_000)).max().item()


exercise(
    "05.2", "What dropout keeps", points=1, kind="predict",
    reference=dropout_max,
    compare=close(atol=1e-3, rtol=0),
    hint="About 20% of the ones become 0. What happens to the others, so that the average stays 1?",
    mistakes=[
        Mistake("survivors unchanged", lambda: 1.0,
                hint="The survivors are not left at 1: PyTorch divides them by 1 - p during training, "
                     "so that the expected value of every entry stays 1."),
        Mistake("multiplied by 1 - p", lambda: 0.8,
                hint="0.8 is what the old (non-inverted) dropout does at evaluation time. PyTorch "
                     "divides by 1 - p = 0.8 during training instead."),
        Mistake("divided by p", lambda: 5.0,
                hint="The survivors are divided by the keep probability 1 - p = 0.8, not by p = 0.2."),
    ],
    alternatives=[Alternative("1 / (1 - p), written out", lambda: 1 / (1 - 0.2))],
)


# --- 05.3 inverted dropout ----------------------------------------------------------------------
def dropout(x: torch.Tensor, keep: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Reference: in training, zero the entries where ``keep`` is False and divide the others by
    ``1 - p`` (so the expected value is unchanged); in evaluation, return ``x`` as it is."""
    if not training:
        return x
    return torch.where(keep, x / (1.0 - p), torch.zeros_like(x))


def _no_rescale(x, keep, p, training):
    return x * keep if training else x


def _times_keep_prob(x, keep, p, training):
    return x * keep * (1.0 - p) if training else x


def _always(x, keep, p, training):
    return torch.where(keep, x / (1.0 - p), torch.zeros_like(x))


def _inverted_mask(x, keep, p, training):
    return torch.where(~keep, x / (1.0 - p), torch.zeros_like(x)) if training else x


def _divide_by_p(x, keep, p, training):
    return torch.where(keep, x / p, torch.zeros_like(x)) if training else x


def _dropout_cases(r):
    x = r.randn(2, r.integer(3, 9), 8)
    p = r.choice([0.1, 0.25, 0.5])
    keep = r.rand(*x.shape) >= p
    return [
        Case(x, keep, p, True).named(f"training, p={p}"),
        Case(x, keep, p, False).named(f"evaluation, p={p}"),
        Case(x, torch.ones_like(keep), 0.1, True).named("training, nothing dropped"),
    ]


_X = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0]])
_KEEP = torch.tensor([[True, False, True, True, False]])

exercise(
    "05.3", "Inverted dropout with a given mask", points=1, kind="transfer",
    reference=dropout,
    visible=[Case(_X, _KEEP, 0.2, True).named("training, p=0.2"),
             Case(_X, _KEEP, 0.2, False).named("evaluation, p=0.2")],
    hidden=_dropout_cases,
    compare=close(atol=1e-6, rtol=1e-5),
    hint="In training, the entries where keep is True are divided by 1 - p and the others become 0 "
         "(torch.where helps); in evaluation, x comes back unchanged.",
    mistakes=[
        Mistake("no rescaling", _no_rescale,
                hint="Divide the kept entries by (1 - p): about a fraction p of the entries is zeroed, "
                     "so the survivors must grow to keep the expected value equal to x."),
        Mistake("multiplied by 1 - p", _times_keep_prob,
                hint="Divide the kept entries by (1 - p), do not multiply: PyTorch's 'inverted' dropout "
                     "scales during training so that evaluation needs no change."),
        Mistake("divided by p", _divide_by_p,
                hint="The kept entries are divided by the keep probability 1 - p, not by p."),
        Mistake("mask inverted", _inverted_mask,
                hint="keep is True for the entries that stay; zero the others (where keep is False)."),
        Mistake("dropout in evaluation", _always,
                hint="In evaluation (training=False) dropout does nothing: return x unchanged."),
    ],
    alternatives=[Alternative("x * keep * (1 / (1 - p))", lambda x, keep, p, training:
                              x * keep * (1.0 / (1.0 - p)) if training else x)],
)
