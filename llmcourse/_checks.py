"""Small input checks shared by the package, so that every error a learner can cause says
what was expected, what arrived, and how to fix it."""

from __future__ import annotations

import torch


def _is_compiling() -> bool:
    """True while ``torch.compile`` traces the code (value checks would break its graph)."""
    compiler = getattr(torch, "compiler", None)
    if compiler is not None and hasattr(compiler, "is_compiling"):
        return compiler.is_compiling()
    return bool(getattr(getattr(torch, "_dynamo", None), "is_compiling", lambda: False)())


def describe(x) -> str:
    """A short description of a value for error messages: type, dtype and shape for tensors."""
    if isinstance(x, torch.Tensor):
        return f"tensor of dtype {x.dtype} and shape {tuple(x.shape)}"
    return f"{type(x).__name__} {x!r}"[:200]


def check_token_ids(idx, vocab_size: int, name: str = "idx", ndim: int | None = 2,
                    values: bool = True) -> None:
    """Raise a clear error unless ``idx`` is an integer tensor of ids in ``[0, vocab_size)``.

    The type, dtype and shape checks are free. ``values`` also reads the ids' range
    (:func:`check_token_range`), which on a GPU waits for the device: a model checks once, at
    its boundary, and the trainer, whose batches come from a corpus it checked once, skips it.
    """
    if not isinstance(idx, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.LongTensor of token ids, got {describe(idx)}. "
            f"Fix: torch.tensor(ids, dtype=torch.long)."
        )
    if idx.dtype not in (torch.long, torch.int, torch.int16, torch.int8, torch.uint8):
        raise TypeError(
            f"{name} must hold integer token ids (torch.long), got dtype {idx.dtype}. "
            f"Fix: {name}.long() if the values are whole numbers."
        )
    if ndim is not None and idx.dim() != ndim:
        hint = " Fix: add a batch dimension with idx.unsqueeze(0)." if idx.dim() == ndim - 1 else ""
        raise ValueError(
            f"{name} must have {ndim} dimensions (B, T), got shape {tuple(idx.shape)}.{hint}"
        )
    if values and idx.numel() > 0 and not _is_compiling():  # reading values would split a compiled graph
        check_token_range(idx, vocab_size, name)


def check_token_range(idx: torch.Tensor, vocab_size: int, name: str = "idx") -> None:
    """Raise a clear ``IndexError`` unless every id in the (non-empty) tensor ``idx`` is in
    ``[0, vocab_size)``. Reads the smallest and the largest id in one transfer: on a GPU, one
    wait for the device."""
    lo, hi = torch.stack([idx.min(), idx.max()]).tolist()
    if lo < 0 or hi >= vocab_size:
        bad = lo if lo < 0 else hi
        raise IndexError(
            f"{name} contains token id {bad}, but the vocabulary has ids 0..{vocab_size - 1}. "
            f"Encode the text with the tokenizer the model was built for, or raise vocab_size."
        )


def check_positive_int(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def check_last_dim(x: torch.Tensor, size: int, name: str = "x", what: str = "n_embd") -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {describe(x)}.")
    if x.shape[-1] != size:
        raise ValueError(
            f"{name} must have last dimension {what}={size}, got shape {tuple(x.shape)}. "
            f"Check that the layer was built with the same {what} as its input."
        )
