"""Lesson 4 (Position Embeddings) exercises.

04.1 ``sinusoidal_table(num_positions, dim)``: the fixed sin/cos table of the 2017 Transformer,
     sin and cos interleaved (columns 2i and 2i+1 share one frequency).
04.2 ``rope(x, offset=0)``: rotate consecutive pairs of the last dimension of ``x`` by
     position-dependent angles (RoPE); row ``t`` of the sequence is position ``offset + t``.
04.3 ``alibi_bias(n_head, T)``: ALiBi's distance penalties, ``-m_h * (i - j)`` for a query at ``i``
     and a key at ``j <= i``, with head slopes ``m_h = 2 ** (-8 h / n_head)``, ``h = 1 .. n_head``.

>>> sinusoidal_table(3, 4)[2].round(decimals=2)      # position 2 in 4 dimensions
tensor([ 0.9100, -0.4200,  0.0200,  1.0000])
>>> alibi_bias(2, 3)[0]                                # head 1 of 2: slope 2 ** -4
tensor([[ 0.0000,  0.0000,  0.0000],
        [-0.0625,  0.0000,  0.0000],
        [-0.1250, -0.0625,  0.0000]])
>>> rope(torch.tensor([[1.0, 0.0], [1.0, 0.0]]))      # position 1 turns [1, 0] by 1 radian
tensor([[1.0000, 0.0000],
        [0.5403, 0.8415]])
"""

from __future__ import annotations

import torch

from llmcourse.embedding import apply_rope, rope_angles, sinusoidal_encoding
from llmcourse.grading import Case, Mistake, close, exercise
from llmcourse.grading.registry import Alternative

BASE = 10000.0


# --- 04.1 the sinusoidal table --------------------------------------------------------------------
def sinusoidal_table(num_positions: int, dim: int) -> torch.Tensor:
    """Reference: ``llmcourse.embedding.sinusoidal_encoding`` (base 10000)."""
    return sinusoidal_encoding(num_positions, dim)


def _table(num_positions, dim, inv_freq, first=torch.sin, second=torch.cos, start=0, interleave=True):
    pos = torch.arange(start, start + num_positions, dtype=torch.float64).unsqueeze(1)  # (P, 1)
    angles = pos * inv_freq  # (P, dim/2)
    a, b = first(angles), second(angles)
    if interleave:
        return torch.stack([a, b], dim=-1).reshape(num_positions, dim).float()  # (P, dim)
    return torch.cat([a, b], dim=-1).float()  # (P, dim): all sines, then all cosines


def _inv_freq(dim, exponent_step=2):
    return BASE ** (-torch.arange(0, dim // 2, dtype=torch.float64) * exponent_step / dim)  # (dim/2,)


def _swapped(num_positions, dim):
    return _table(num_positions, dim, _inv_freq(dim), first=torch.cos, second=torch.sin)


def _halves(num_positions, dim):
    return _table(num_positions, dim, _inv_freq(dim), interleave=False)


def _exponent_i(num_positions, dim):
    return _table(num_positions, dim, _inv_freq(dim, exponent_step=1))


def _positive_exponent(num_positions, dim):
    return _table(num_positions, dim, 1.0 / _inv_freq(dim))


def _from_one(num_positions, dim):
    return _table(num_positions, dim, _inv_freq(dim), start=1)


def _one_frequency(num_positions, dim):
    return _table(num_positions, dim, torch.ones(dim // 2, dtype=torch.float64))


def _tutorial_float32(num_positions, dim):
    """The PyTorch tutorial's formula, all in float32: exp(-2i log(10000) / dim)."""
    pe = torch.zeros(num_positions, dim)
    pos = torch.arange(num_positions, dtype=torch.float32).unsqueeze(1)  # (P, 1)
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-torch.log(torch.tensor(BASE)) / dim))
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


def _loops(num_positions, dim):
    import math

    return torch.tensor([[math.sin(p / BASE ** (2 * (j // 2) / dim)) if j % 2 == 0
                          else math.cos(p / BASE ** (2 * (j // 2) / dim)) for j in range(dim)]
                         for p in range(num_positions)])


def _table_cases(r):
    return [
        Case(r.integer(8, 128), 2 * r.integer(3, 32)).named("a random size"),
        Case(50, 16).named("50 positions, 16 dimensions"),
        Case(1024, 2 * r.integer(4, 48)).named("GPT-2's context, 1024 positions"),
        Case(1, 2).named("one position, two dimensions"),
        Case(r.integer(2, 20), 2).named("two dimensions"),
    ]


exercise(
    "04.1", "The sinusoidal table", points=2, kind="rebuild",
    reference=sinusoidal_table,
    visible=[Case(3, 4).named("3 positions, 4 dimensions (the article's d = 4)"),
             Case(6, 8).named("6 positions, 8 dimensions")],
    hidden=_table_cases,
    compare=close(atol=1e-4, rtol=1e-4),
    hint="PE[p, 2i] = sin(p / 10000**(2i/dim)) and PE[p, 2i+1] = cos(p / 10000**(2i/dim)), for "
         "positions p = 0 .. num_positions-1 and pairs i = 0 .. dim/2-1. Return a float tensor "
         "of shape (num_positions, dim).",
    mistakes=[
        Mistake("sin and cos swapped", _swapped,
                hint="Even columns (0, 2, 4, ...) hold the sines and odd columns the cosines: row 0 "
                     "is [0, 1, 0, 1, ...]."),
        Mistake("sines first, then cosines", _halves,
                hint="Interleave: columns 2i and 2i+1 are the sin and cos of the same angle. "
                     "torch.cat puts all sines first; stack on a new last axis and reshape instead."),
        Mistake("exponent i/dim instead of 2i/dim", _exponent_i,
                hint="Pair i uses the frequency 10000**(-2i/dim): with torch.arange(0, dim, 2) the "
                     "factor 2 is already in the range; with torch.arange(dim // 2) multiply by 2."),
        Mistake("positive exponent", _positive_exponent,
                hint="Divide the position by 10000**(2i/dim) (the frequencies get smaller along the "
                     "row), do not multiply by it."),
        Mistake("positions counted from 1", _from_one,
                hint="Positions start at 0: the first row is sin(0) = 0 and cos(0) = 1, i.e. "
                     "[0, 1, 0, 1, ...]."),
        Mistake("one frequency for every pair", _one_frequency,
                hint="Every pair i has its own frequency 10000**(-2i/dim); with the same angle p in "
                     "every pair the columns just repeat sin(p), cos(p)."),
    ],
    alternatives=[Alternative("the PyTorch tutorial's float32 formula", _tutorial_float32),
                  Alternative("Python loops and math.sin/cos", _loops)],
)


# --- 04.2 the RoPE rotation -----------------------------------------------------------------------
def rope(x: torch.Tensor, offset: int = 0) -> torch.Tensor:
    """Reference: ``llmcourse.embedding.apply_rope`` with ``rope_angles`` (base 10000)."""
    T, head_dim = x.shape[-2], x.shape[-1]
    cos, sin = rope_angles(head_dim, T, offset=offset)  # each (T, head_dim/2)
    return apply_rope(x, cos, sin)


def _rotate(x, offset=0, inv_freq=None, sign=1.0, halves=False, start_extra=0, use_offset=True):
    T, d = x.shape[-2], x.shape[-1]
    if inv_freq is None:
        inv_freq = _inv_freq(d)
    first = (offset if use_offset else 0) + start_extra
    pos = torch.arange(first, first + T, dtype=torch.float64)  # (T,)
    angles = torch.outer(pos, inv_freq)  # (T, d/2)
    cos, sin = angles.cos().to(x.dtype), (sign * angles.sin()).to(x.dtype)
    if halves:  # pairs (i, i + d/2), the "rotate_half" layout
        x0, x1 = x[..., : d // 2], x[..., d // 2:]  # each (..., T, d/2)
        return torch.cat([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)  # (..., T, d)
    pairs = x.reshape(*x.shape[:-1], d // 2, 2)  # (..., T, d/2, 2)
    x0, x1 = pairs[..., 0], pairs[..., 1]  # each (..., T, d/2)
    return torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1).reshape(x.shape)  # (..., T, d)


def _wrong_way(x, offset=0):
    return _rotate(x, offset, sign=-1.0)


def _rotate_half(x, offset=0):
    return _rotate(x, offset, halves=True)


def _rope_from_one(x, offset=0):
    return _rotate(x, offset, start_extra=1)


def _no_offset(x, offset=0):
    return _rotate(x, offset, use_offset=False)


def _rope_one_frequency(x, offset=0):
    return _rotate(x, offset, inv_freq=torch.ones(x.shape[-1] // 2, dtype=torch.float64))


def _rope_positive_exponent(x, offset=0):
    return _rotate(x, offset, inv_freq=1.0 / _inv_freq(x.shape[-1]))


def _complex_rope(x, offset=0):
    """Pairs as complex numbers, multiplied by e^(i angle) (Meta's LLaMA code)."""
    T, d = x.shape[-2], x.shape[-1]
    freqs = 1.0 / (BASE ** (torch.arange(0, d, 2).float() / d))  # (d/2,)
    angles = torch.outer(torch.arange(offset, offset + T).float(), freqs)  # (T, d/2)
    z = torch.view_as_complex(x.float().reshape(*x.shape[:-1], d // 2, 2).contiguous())
    return torch.view_as_real(z * torch.polar(torch.ones_like(angles), angles)).reshape(x.shape).to(x.dtype)


def _rope_cases(r):
    hd = 2 * r.integer(2, 16)
    return [
        Case(r.randn(r.integer(2, 12), hd)).named("random (T, head_dim) queries"),
        Case(r.randn(2, 3, r.integer(2, 8), 8)).named("a (B, n_head, T, head_dim) batch"),
        Case(r.randn(r.integer(1, 6), hd), offset=r.integer(1, 40)).named("positions starting at an offset"),
        Case(r.randn(1, 4), offset=7).named("one new token at position 7 (as with a KV cache)"),
    ]


exercise(
    "04.2", "RoPE at an offset", points=2, kind="transfer",
    reference=rope,
    visible=[Case(torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])).named("[1, 0] at positions 0, 1, 2"),
             Case(torch.tensor([[1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 1.0, 0.0]]))
             .named("two pairs at positions 0 and 1")],
    hidden=_rope_cases,
    compare=close(atol=1e-4, rtol=1e-4),
    hint="For pair i = (x[..., 2i], x[..., 2i+1]) at position p, the angle is "
         "(offset + p) * 10000**(-2i/head_dim); the pair becomes "
         "(x0 cos - x1 sin, x0 sin + x1 cos). Return a tensor of the same shape as x.",
    mistakes=[
        Mistake("rotates the wrong way", _wrong_way,
                hint="A rotation by +angle maps (x0, x1) to (x0 cos - x1 sin, x0 sin + x1 cos): [1, 0] "
                     "at position 1 becomes [cos 1, sin 1] = [0.54, 0.84]. Check the sign of the sin terms."),
        Mistake("positions counted from 1", _rope_from_one,
                hint="The first row is position 0 (plus offset): it is not rotated at all."),
        Mistake("one frequency for every pair", _rope_one_frequency,
                hint="Each pair i turns at its own speed 10000**(-2i/head_dim); only pair 0 turns by "
                     "one radian per position."),
        Mistake("positive exponent", _rope_positive_exponent,
                hint="The speed is 10000**(-2i/head_dim): later pairs turn more slowly, not faster."),
        Mistake("pairs (i, i + d/2) instead of neighbours", _rotate_half,
                hint="This exercise pairs neighbouring numbers (x[2i], x[2i+1]), like the RoFormer "
                     "paper and llmcourse. Hugging Face's Llama code pairs x[i] with x[i + d/2] "
                     "('rotate_half'): also valid, but not the same layout."),
        Mistake("offset ignored", _no_offset,
                hint="Row t of x sits at position offset + t: add the offset to the positions."),
    ],
    alternatives=[Alternative("complex numbers (view_as_complex, polar)", _complex_rope)],
)


# --- 04.3 ALiBi's biases ---------------------------------------------------------------------------
def alibi_bias(n_head: int, T: int) -> torch.Tensor:
    """Reference: ALiBi (Press et al., 2022). ``(n_head, T, T)``: entry ``[h, i, j]`` is
    ``-m_h * (i - j)`` for keys at or before the query (``j <= i``) and 0 for later keys (a causal
    mask removes those); slopes ``m_h = 2 ** (-8 (h + 1) / n_head)`` for heads ``h = 0 .. n_head-1``."""
    slopes = 2.0 ** (-8.0 * torch.arange(1, n_head + 1, dtype=torch.float64) / n_head)  # (n_head,)
    pos = torch.arange(T)
    dist = (pos[:, None] - pos[None, :]).clamp(min=0).double()  # (T, T): i - j, 0 above the diagonal
    return (-slopes[:, None, None] * dist).float() + 0.0  # (n_head, T, T); + 0.0 turns -0.0 into 0.0


def _alibi(n_head, T, slopes=None, sign=-1.0, both_sides=False):
    if slopes is None:
        slopes = 2.0 ** (-8.0 * torch.arange(1, n_head + 1, dtype=torch.float64) / n_head)
    pos = torch.arange(T)
    d = (pos[:, None] - pos[None, :]).double()  # (T, T)
    d = d.abs() if both_sides else d.clamp(min=0)
    return (sign * slopes[:, None, None] * d).float()


def _slopes_from_zero(n_head, T):
    return _alibi(n_head, T, slopes=2.0 ** (-8.0 * torch.arange(0, n_head, dtype=torch.float64) / n_head))


def _slopes_ignore_n_head(n_head, T):
    return _alibi(n_head, T, slopes=2.0 ** (-torch.arange(1, n_head + 1, dtype=torch.float64)))


def _one_slope(n_head, T):
    return _alibi(n_head, T, slopes=torch.full((n_head,), 0.5, dtype=torch.float64))


def _rewards_distance(n_head, T):
    return _alibi(n_head, T, sign=1.0)


def _future_penalised(n_head, T):
    return _alibi(n_head, T, both_sides=True)


def _alibi_loops(n_head, T):
    out = torch.zeros(n_head, T, T)
    for h in range(n_head):
        m = 0.5 ** (8 * (h + 1) / n_head)
        for i in range(T):
            for j in range(i + 1):
                out[h, i, j] = -m * (i - j)
    return out


def _alibi_cases(r):
    return [
        Case(r.choice([1, 2, 4, 16]), r.integer(2, 12)).named("a random number of heads and length"),
        Case(8, r.integer(5, 20)).named("8 heads (the paper's slopes 1/2, 1/4, ..., 1/256)"),
        Case(r.choice([2, 4]), 1).named("T = 1: one token, no distance"),
        Case(12, 64).named("GPT-2 small's 12 heads, 64 positions"),
    ]


exercise(
    "04.3", "ALiBi's distance penalties", points=2, kind="transfer",
    reference=alibi_bias,
    visible=[Case(2, 3).named("2 heads, 3 positions"), Case(8, 4).named("8 heads, 4 positions")],
    hidden=_alibi_cases,
    compare=close(atol=1e-6, rtol=1e-5),
    hint="bias[h, i, j] = -m_h * (i - j) for j <= i and 0 for j > i, with m_h = 2 ** (-8 * (h + 1) / n_head) "
         "for h = 0 .. n_head - 1. Return a float tensor of shape (n_head, T, T).",
    mistakes=[
        Mistake("slopes counted from h = 0", _slopes_from_zero,
                hint="The first head's slope is 2 ** (-8 / n_head), not 2 ** 0 = 1: count the heads "
                     "h = 1 .. n_head in the exponent (or use h + 1 with h from 0)."),
        Mistake("slopes 2 ** -h, whatever the number of heads", _slopes_ignore_n_head,
                hint="The exponent is -8 h / n_head: with 8 heads that is 2 ** -h, but with 4 heads the "
                     "slopes are 1/4, 1/16, 1/64, 1/256. The slopes always run from 2 ** (-8 / n_head) "
                     "down to 2 ** -8."),
        Mistake("one slope for every head", _one_slope,
                hint="Each head gets its own slope (a geometric sequence): some heads look far back, "
                     "others mostly at the nearest tokens."),
        Mistake("distance rewarded instead of penalised", _rewards_distance,
                hint="The bias is added to the scores before the softmax; farther keys must get LOWER "
                     "scores: -m * (i - j), which is 0 on the diagonal and negative below it."),
        Mistake("later keys penalised too", _future_penalised,
                hint="Keys after the query (j > i) get 0 here: a causal mask removes them anyway. Use "
                     "(i - j).clamp(min=0) or a lower-triangular mask, not abs(i - j)."),
    ],
    alternatives=[Alternative("three Python loops", _alibi_loops)],
)
