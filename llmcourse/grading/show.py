"""Short, safe descriptions of arbitrary values for grader messages.

Learner code can return anything: a huge tensor, a list of a million items, an object whose
``repr`` raises or loops. :func:`show` never prints more than ``limit`` characters and never
raises.

>>> import torch
>>> show(torch.tensor([[True, False], [True, True]]))
'tensor of shape (2, 2) bool: tensor([[ True, False], [ True,  True]])'
>>> show(list(range(10**6)), 40)
'list of 1000000 items: [0, 1, 2, 3, 4, …'
>>> show(3.5)
'3.5'
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass

import torch

_REPR = reprlib.Repr()
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 8
_REPR.maxstring = _REPR.maxother = 120


@dataclass(frozen=True)
class Opaque:
    """A value that is not plain data (a learner's object, a numpy array, a module), described
    inside the worker: its type name and a short ``repr``. It equals nothing the reference returns."""

    type_name: str
    text: str
    numpy: bool = False

    def __repr__(self) -> str:
        return self.text


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())  # one line
    return text if len(text) <= limit else text[: limit - 1] + "…"


def text(s: str, limit: int = 300) -> str:
    """Plain text (an exception message, captured prints) on one line, cut at ``limit``."""
    return _cut(str(s), limit)


def tensor_text(t: torch.Tensor, limit: int = 400) -> str:
    """``repr`` of a tensor with torch's summarisation (a few edge items), on one line."""
    opts = torch._tensor_str.PRINT_OPTS
    saved = (opts.precision, opts.threshold, opts.edgeitems, opts.linewidth, opts.sci_mode)
    try:
        torch.set_printoptions(precision=4, threshold=64, edgeitems=3, linewidth=200)
        text = repr(t.detach().cpu())
    except Exception as exc:  # noqa: BLE001 - a subclass with a broken repr
        text = f"<unprintable tensor: {type(exc).__name__}>"
    finally:
        opts.precision, opts.threshold, opts.edgeitems, opts.linewidth, opts.sci_mode = saved
    text = text.replace(", grad_fn=", " grad_fn=")
    return _cut(text, limit)


def show(value, limit: int = 400) -> str:
    """One-line description of ``value``, at most ``limit`` characters."""
    try:
        if isinstance(value, Opaque):
            return _cut(f"{value.type_name}: {value.text}", limit)
        if isinstance(value, torch.Tensor):
            dtype = str(value.dtype).replace("torch.", "")
            head = f"tensor of shape {tuple(value.shape)} {dtype}"
            return _cut(f"{head}: {tensor_text(value, limit)}", limit)
        if isinstance(value, (list, tuple)) and len(value) > 8:
            return _cut(f"{type(value).__name__} of {len(value)} items: {_REPR.repr(value)}", limit)
        return _cut(_REPR.repr(value), limit)
    except Exception as exc:  # noqa: BLE001 - never let a learner's object break a message
        return f"<{type(value).__name__} object (repr failed: {type(exc).__name__})>"


def kind(value) -> str:
    """Type, and dtype/shape for tensors: ``"tensor (3, 3) bool"``."""
    if isinstance(value, Opaque):
        return value.type_name
    if isinstance(value, torch.Tensor):
        return f"tensor {tuple(value.shape)} {str(value.dtype).replace('torch.', '')}"
    return type(value).__name__
