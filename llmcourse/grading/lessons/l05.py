"""Lesson 5 (The Combined Input Embedding) exercises.

05.1 ``InputEmbedding(vocab_size, block_size, n_embd, dropout=0.0)``: the GPT-2 input layer as an
     ``nn.Module`` with parameters ``wte.weight`` ``(vocab_size, n_embd)`` and ``wpe.weight``
     ``(block_size, n_embd)``; ``forward(idx)`` maps ``(B, T)`` ids to ``(B, T, n_embd)``.
05.2 ``transformer_input(idx, E, pe)``: the 2017 Transformer's input, ``E[idx] * sqrt(d) + pe[:T]``.
05.3 ``dropout(x, keep, p, training)``: inverted dropout with a given keep-mask.

>>> m = InputEmbedding(vocab_size=5, block_size=8, n_embd=4)
>>> m(torch.tensor([[1, 2, 3]])).shape                  # (B, T) -> (B, T, n_embd)
torch.Size([1, 3, 4])
>>> dropout(torch.ones(4), torch.tensor([True, False, True, True]), p=0.2, training=True)
tensor([1.2500, 0.0000, 1.2500, 1.2500])
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from llmcourse.embedding import embedding_scale
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
    "05.1", "The input embedding module", points=2,
    reference=InputEmbedding,
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
                     "Transformer (exercise 05.2)."),
    ],
    alternatives=[Alternative("rows of the weight tables, wpe.weight[:T]", _WeightSlice)],
)


# --- 05.2 the 2017 Transformer's input --------------------------------------------------------------
def transformer_input(idx: torch.Tensor, E: torch.Tensor, pe: torch.Tensor) -> torch.Tensor:
    """Reference: ``E[idx] * sqrt(d_model) + pe[:T]`` with ``llmcourse.embedding.embedding_scale``."""
    T, d = idx.shape[-1], E.shape[1]
    return E[idx] * embedding_scale(d) + pe[:T]  # (B, T, d) + (T, d) -> (B, T, d)


def _unscaled(idx, E, pe):
    return E[idx] + pe[: idx.shape[-1]]


def _both_scaled(idx, E, pe):
    return (E[idx] + pe[: idx.shape[-1]]) * math.sqrt(E.shape[1])


def _divided(idx, E, pe):
    return E[idx] / math.sqrt(E.shape[1]) + pe[: idx.shape[-1]]


def _sqrt_vocab(idx, E, pe):
    return E[idx] * math.sqrt(E.shape[0]) + pe[: idx.shape[-1]]


def _no_sqrt(idx, E, pe):
    return E[idx] * E.shape[1] + pe[: idx.shape[-1]]


def _input_cases(r):
    from llmcourse.embedding import sinusoidal_encoding

    d, P = 2 * r.integer(2, 16), r.integer(8, 32)
    V = d + r.integer(1, 20)  # never square: sqrt(V) must differ from sqrt(d)
    T, B = r.integer(1, P), r.integer(1, 3)
    return [
        Case(r.randint(0, V, B, T), r.randn(V, d, scale=d ** -0.5), sinusoidal_encoding(P, d))
        .named("random ids, an E with entries of size 1/sqrt(d), a sinusoidal table"),
        Case(r.randint(0, V, 2, P), r.randn(V, d), sinusoidal_encoding(P, d)).named("T equal to the table length"),
    ]


def _seed_case():
    from llmcourse.embedding import sinusoidal_encoding

    E = torch.tensor([[0.12, -0.50, 0.33, 0.78], [0.78, 0.30, -0.12, 0.45], [0.45, -0.10, 0.67, -0.23],
                      [0.33, 0.89, 0.11, 0.56]])  # the seed's 4 x 4 table: the, cat, sat, on
    return Case(torch.tensor([[0, 1, 2]]), E, sinusoidal_encoding(8, 4)).named(
        "the seed's table E (the, cat, sat, on), ids of 'the cat sat', an 8-position sinusoidal table")


exercise(
    "05.2", "The 2017 Transformer's scaled input", points=1,
    reference=transformer_input,
    visible=[_seed_case()],
    hidden=_input_cases,
    compare=close(atol=1e-5, rtol=1e-5),
    hint="Look the rows up (E[idx], shape (B, T, d)), multiply them by math.sqrt(d) where d = E.shape[1], "
         "then add the first T rows of the position table, pe[:T].",
    mistakes=[
        Mistake("no scale", _unscaled,
                hint="Multiply the token vectors by sqrt(d_model) before adding positions: that is what "
                     "makes this the 2017 Transformer's input rather than GPT-2's."),
        Mistake("positions scaled too", _both_scaled,
                hint="Only the token vectors are multiplied by sqrt(d_model); add the position table "
                     "afterwards, unscaled."),
        Mistake("divided instead of multiplied", _divided,
                hint="Multiply by sqrt(d_model): it makes small embeddings (entries about 1/sqrt(d)) "
                     "comparable with the sin/cos values, which lie in [-1, 1]."),
        Mistake("sqrt of the vocabulary size", _sqrt_vocab,
                hint="d_model is the width of E, E.shape[1], not the number of rows E.shape[0]."),
        Mistake("d instead of sqrt(d)", _no_sqrt,
                hint="The factor is the square root of d_model: math.sqrt(E.shape[1])."),
    ],
    alternatives=[Alternative("F.embedding and d ** 0.5", lambda idx, E, pe: torch.nn.functional.embedding(idx, E)
                              * E.shape[1] ** 0.5 + pe[: idx.size(1)])],
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
    "05.3", "Inverted dropout", points=1,
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
