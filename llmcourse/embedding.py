"""Token and position embeddings (lessons 3, 4 and 5).

A token embedding is a lookup table ``E`` of shape ``(vocab_size, n_embd)``: token id ``i``
becomes row ``E[i]``, which equals ``one_hot(i) @ E``. Positions are added on top, either
learned (GPT-2), fixed sinusoids (the 2017 Transformer) or applied as rotations of queries and
keys inside attention (RoPE, used by Llama).

>>> import torch
>>> emb = TokenEmbedding(vocab_size=4, n_embd=2)
>>> emb(torch.tensor([[3, 0]])).shape
torch.Size([1, 2, 2])
>>> sinusoidal_encoding(3, 4)[1, :2]   # position 1: sin(1), cos(1)
tensor([0.8415, 0.5403])
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from ._checks import _is_compiling, check_positive_int, check_token_ids


class TokenEmbedding(nn.Module):
    """Lesson 3: a learned table ``(vocab_size, n_embd)``; ``forward(idx)`` returns its rows.

    >>> emb = TokenEmbedding(10, 4)
    >>> emb(torch.tensor([[1, 2, 3]])).shape   # (B, T) -> (B, T, n_embd)
    torch.Size([1, 3, 4])
    """

    def __init__(self, vocab_size: int, n_embd: int):
        super().__init__()
        check_positive_int(vocab_size, "vocab_size")
        check_positive_int(n_embd, "n_embd")
        self.vocab_size, self.n_embd = vocab_size, n_embd
        self.weight = nn.Parameter(torch.randn(vocab_size, n_embd) * 0.02)

    def forward(self, idx: torch.Tensor, *, checked: bool = False) -> torch.Tensor:
        """``checked=True``: the caller has checked ``idx`` already (a model does, once)."""
        if not checked:
            check_token_ids(idx, self.vocab_size, ndim=None)
        return self.weight[idx.long()]  # (..., n_embd): a row lookup, no arithmetic

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, n_embd={self.n_embd}"


def sinusoidal_encoding(num_positions: int, dim: int, base: float = 10000.0) -> torch.Tensor:
    """Lesson 4: the fixed table of "Attention Is All You Need", shape ``(num_positions, dim)``.

    ``PE[p, 2i] = sin(p / base**(2i/dim))`` and ``PE[p, 2i+1] = cos(p / base**(2i/dim))``.

    >>> sinusoidal_encoding(3, 4)
    tensor([[ 0.0000,  1.0000,  0.0000,  1.0000],
            [ 0.8415,  0.5403,  0.0100,  0.9999],
            [ 0.9093, -0.4161,  0.0200,  0.9998]])
    """
    check_positive_int(num_positions, "num_positions")
    if dim < 2 or dim % 2:
        raise ValueError(f"dim must be an even number >= 2 (sin/cos pairs), got {dim}.")
    pos = torch.arange(num_positions, dtype=torch.float64).unsqueeze(1)  # (P, 1)
    inv_freq = base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)  # (dim/2,)
    angles = pos * inv_freq  # (P, dim/2)
    pe = torch.stack([angles.sin(), angles.cos()], dim=-1)  # (P, dim/2, 2)
    return pe.reshape(num_positions, dim).float()  # (P, dim): sin, cos interleaved


class LearnedPositionalEmbedding(nn.Module):
    """Lesson 4: one trainable vector per position (GPT-1, GPT-2). ``forward(T)`` -> ``(T, n_embd)``."""

    def __init__(self, block_size: int, n_embd: int):
        super().__init__()
        check_positive_int(block_size, "block_size")
        self.block_size = block_size
        self.weight = nn.Parameter(torch.randn(block_size, n_embd) * 0.02)

    def forward(self, T: int, offset: int = 0) -> torch.Tensor:
        if offset + T > self.block_size:
            raise ValueError(
                f"positions {offset}..{offset + T - 1} do not fit: this model knows "
                f"{self.block_size} positions (block_size). Crop the input to its last "
                f"{self.block_size} tokens."
            )
        return self.weight[offset : offset + T]  # (T, n_embd)


class SinusoidalPositionalEmbedding(nn.Module):
    """Lesson 4: the fixed sinusoidal table as a (non-trainable) buffer. ``forward(T)`` -> ``(T, n_embd)``."""

    def __init__(self, block_size: int, n_embd: int, base: float = 10000.0):
        super().__init__()
        self.block_size = block_size
        self.register_buffer("table", sinusoidal_encoding(block_size, n_embd, base), persistent=False)

    def forward(self, T: int, offset: int = 0) -> torch.Tensor:
        if offset + T > self.block_size:
            raise ValueError(
                f"positions {offset}..{offset + T - 1} do not fit in block_size={self.block_size}."
            )
        return self.table[offset : offset + T]  # (T, n_embd)


def rope_angles(head_dim: int, num_positions: int, base: float = 10000.0, offset: int = 0,
                dtype: torch.dtype = torch.float32):
    """Lesson 4: the cosines and sines RoPE rotates by, each ``(num_positions, head_dim // 2)``.

    Pair ``i`` of a vector at position ``p`` turns by the angle ``p * base**(-2i/head_dim)``.
    """
    if head_dim % 2:
        raise ValueError(f"RoPE rotates pairs of numbers, so head_dim must be even, got {head_dim}.")
    inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)  # (hd/2,)
    pos = torch.arange(offset, offset + num_positions, dtype=torch.float64)  # (P,)
    angles = torch.outer(pos, inv_freq)  # (P, hd/2)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Lesson 4: rotate consecutive pairs ``(x[2i], x[2i+1])`` of the last dimension.

    ``x`` is ``(..., T, head_dim)``; ``cos``/``sin`` are ``(T, head_dim // 2)``. Rotations keep
    lengths, and ``<rope(q, m), rope(k, n)>`` depends on ``m - n`` only (the relative property).

    >>> q = torch.tensor([[1.0, 0.0]])
    >>> c, s = rope_angles(2, 1, offset=1)     # position 1 turns the pair by 1 radian
    >>> apply_rope(q, c, s)
    tensor([[0.5403, 0.8415]])
    """
    T, half = x.shape[-2], x.shape[-1] // 2
    if cos.shape != (T, half):
        raise ValueError(f"cos/sin must have shape (T, head_dim/2) = {(T, half)}, got {tuple(cos.shape)}.")
    pairs = x.reshape(*x.shape[:-1], half, 2)  # (..., T, hd/2, 2)
    x0, x1 = pairs[..., 0], pairs[..., 1]  # each (..., T, hd/2)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    out = torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)  # (..., T, hd/2, 2)
    return out.reshape(x.shape)  # (..., T, head_dim)


class RotaryEmbedding(nn.Module):
    """Lesson 4: RoPE as a module; ``forward(x, offset)`` rotates ``x`` of shape ``(B, nh, T, hd)``.

    ``fused=True`` turns every pair with one complex multiplication (lesson 4 shows why that is
    the same rotation: the pair ``(a, b)`` is the number ``a + ib``, and turning it by ``theta``
    multiplies it by ``cos theta + i sin theta``): one kernel instead of a stack of pairs. Where
    PyTorch has no complex kernel (half precision, MPS) or while ``torch.compile`` traces the
    model (Inductor fuses the readable form itself and generates no code for complex numbers),
    the readable :func:`apply_rope` runs.
    """

    def __init__(self, head_dim: int, max_positions: int, base: float = 10000.0, fused: bool = False):
        super().__init__()
        cos, sin = rope_angles(head_dim, max_positions, base)
        self.register_buffer("cos", cos, persistent=False)  # (P, hd/2)
        self.register_buffer("sin", sin, persistent=False)  # (P, hd/2)
        self.max_positions, self.fused = max_positions, fused

    def angles(self, T: int, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The cosines and sines for positions ``offset .. offset + T - 1``, each ``(T, hd/2)``."""
        if offset + T > self.max_positions:
            raise ValueError(f"RoPE table holds {self.max_positions} positions, asked for {offset + T}.")
        return self.cos[offset : offset + T], self.sin[offset : offset + T]

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        cos, sin = self.angles(x.shape[-2], offset)  # each (T, hd/2)
        if self.fused and x.dtype in (torch.float32, torch.float64) and x.device.type in ("cpu", "cuda") \
                and not _is_compiling():
            return rotate_complex(x, cos, sin)
        return apply_rope(x, cos, sin)


def rotate_complex(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Lesson 4: :func:`apply_rope` as one complex multiplication (the fast form RoPE trains with).

    >>> x = torch.randn(2, 3, 4)
    >>> c, s = rope_angles(4, 3)
    >>> torch.allclose(rotate_complex(x, c, s), apply_rope(x, c, s), atol=1e-6)
    True
    """
    pairs = x.unflatten(-1, (-1, 2))  # (..., T, hd/2, 2)
    if pairs.storage_offset() % 2 or any(st % 2 for st in pairs.stride()[:-1]) or pairs.stride(-1) != 1:
        pairs = pairs.contiguous()  # a complex view needs each pair's two floats side by side, aligned
    z = torch.view_as_complex(pairs)  # complex (..., T, hd/2)
    turn = torch.complex(cos.to(x.dtype), sin.to(x.dtype))  # (T, hd/2): cos + i sin
    return torch.view_as_real(z * turn).flatten(-2)  # (..., T, hd/2, 2) -> (..., T, hd)


class InputEmbedding(nn.Module):
    """Lesson 5: what the first block sees, ``dropout(tok_emb(idx) + pos_emb(positions))``.

    ``pos`` is ``"learned"`` (GPT-2), ``"sinusoidal"``, or ``"none"`` (for RoPE, which acts inside
    attention instead). ``offset`` is the position of the first token (used with a KV cache).

    >>> m = InputEmbedding(vocab_size=5, block_size=8, n_embd=4)
    >>> m(torch.tensor([[1, 2, 3]])).shape      # (B, T) -> (B, T, n_embd)
    torch.Size([1, 3, 4])
    """

    def __init__(self, vocab_size: int, block_size: int, n_embd: int, dropout: float = 0.0,
                 pos: str = "learned"):
        super().__init__()
        self.tok = TokenEmbedding(vocab_size, n_embd)
        if pos == "learned":
            self.pos = LearnedPositionalEmbedding(block_size, n_embd)
        elif pos == "sinusoidal":
            self.pos = SinusoidalPositionalEmbedding(block_size, n_embd)
        elif pos in ("none", "rope"):
            self.pos = None
        else:
            raise ValueError(f"pos must be 'learned', 'sinusoidal' or 'none', got {pos!r}.")
        self.block_size = block_size
        self.drop = nn.Dropout(dropout)

    def forward(self, idx: torch.Tensor, offset: int = 0, *, checked: bool = False) -> torch.Tensor:
        """``checked=True``: the caller has checked ``idx`` already (:class:`~llmcourse.model.GPT`
        does, once per forward)."""
        if not checked:
            check_token_ids(idx, self.tok.vocab_size)
        T = idx.shape[1]
        if offset + T > self.block_size:
            raise ValueError(
                f"sequence of length {T} (starting at position {offset}) is longer than "
                f"block_size={self.block_size}. Crop it: idx[:, -{self.block_size}:]."
            )
        x = self.tok(idx, checked=True)  # (B, T, n_embd)
        if self.pos is not None:
            x = x + self.pos(T, offset)  # (T, n_embd) broadcasts over the batch
        return self.drop(x)


def embedding_scale(n_embd: int) -> float:
    """Lesson 5: the ``sqrt(d_model)`` factor the 2017 Transformer multiplies embeddings by
    (GPT-2 does not scale; it initialises embeddings small instead)."""
    return math.sqrt(n_embd)


def nearest_neighbours(E: torch.Tensor, i: int, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """Lesson 3: the ``k`` rows of ``E`` ``(V, d)`` most similar to row ``i`` by cosine
    similarity, row ``i`` itself excluded. Returns ``(ids, similarities)``, both ``(k,)``, most
    similar first.

    >>> E = torch.tensor([[1.0, 0.0], [0.9, 0.1], [-1.0, 0.0], [0.0, 5.0]])
    >>> ids, sims = nearest_neighbours(E, 0, k=2)
    >>> ids.tolist(), [round(s, 3) for s in sims.tolist()]
    ([1, 3], [0.994, 0.0])
    """
    if not isinstance(E, torch.Tensor) or E.dim() != 2:
        raise ValueError(f"E must be a (vocab_size, n_embd) tensor, got {type(E).__name__} "
                         f"of shape {tuple(getattr(E, 'shape', ()))}.")
    V = E.shape[0]
    if not 0 <= int(i) < V:
        raise IndexError(f"row {i} does not exist: E has rows 0..{V - 1}.")
    if not 1 <= k <= V - 1:
        raise ValueError(f"k must be between 1 and {V - 1} (the other rows of E), got {k}.")
    unit = torch.nn.functional.normalize(E.detach().float(), dim=-1)  # (V, d), rows of length 1
    sims = unit @ unit[int(i)]  # (V,): cosine of every row with row i
    sims[int(i)] = float("-inf")  # not its own neighbour
    top = torch.topk(sims, k)
    return top.indices, top.values
