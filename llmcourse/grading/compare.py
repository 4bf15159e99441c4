"""Comparisons between a submission's output and the reference's: :func:`close` (floats, with a
stated tolerance) and :func:`exact` (ints, bools, strings). Type and shape are checked first, then
dtype, then NaN/inf, then values. Each returns ``None`` when the outputs agree, else a
:class:`Mismatch` that says what differs and where.

>>> import torch
>>> close()(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0])) is None
True
>>> print(close(atol=1e-3)(torch.tensor([1.0, 2.5]), torch.tensor([1.0, 2.0])).text)
values differ: largest error 0.5 (relative 0.25) at index (1,) (expected 2, got 2.5); tolerance atol=0.001, rtol=1e-05
>>> exact()(torch.ones(2, 2), torch.ones(2, 2, dtype=torch.bool)).kind
'dtype'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .show import Opaque, kind, show


@dataclass
class Mismatch:
    """How two outputs differ. ``kind`` is one of type, length, shape, dtype, nan, value."""

    kind: str
    text: str
    where: str = ""  # path inside a tuple/list/dict output, e.g. "[1]"

    def __str__(self) -> str:
        return f"{self.where}: {self.text}" if self.where else self.text


def _index(flat: int, shape: tuple) -> tuple:
    idx = []
    for size in reversed(shape):
        idx.append(flat % size)
        flat //= size
    return tuple(reversed(idx))


def _as_tensor(x):
    if isinstance(x, Opaque) and x.numpy:  # a numpy array described by the worker
        return x
    try:
        import numpy as np

        if isinstance(x, np.ndarray):
            return torch.from_numpy(x)
    except ImportError:  # pragma: no cover
        pass
    return None


class _Compare:
    exact = False

    def __init__(self, atol: float = 1e-5, rtol: float = 1e-5, dtype: bool = True):
        self.atol, self.rtol, self.dtype = atol, rtol, dtype

    def __call__(self, got, want, where: str = "") -> Mismatch | None:
        m = self._compare(got, want)
        if m is not None and where:
            m.where = where + m.where
        return m

    # --- dispatch on the expected value's type -------------------------------------------------
    def _compare(self, got, want) -> Mismatch | None:
        if isinstance(want, torch.Tensor):
            return self._tensor(got, want)
        if isinstance(want, (tuple, list)):
            if not isinstance(got, (tuple, list)):
                return Mismatch("type", f"expected a {type(want).__name__} of {len(want)} items, "
                                        f"got {kind(got)}")
            if len(got) != len(want):
                return Mismatch("length", f"expected {len(want)} items, got {len(got)}")
            for i, (g, w) in enumerate(zip(got, want)):
                m = self(g, w, f"[{i}]")
                if m is not None:
                    return m
            return None
        if isinstance(want, dict):
            if not isinstance(got, dict):
                return Mismatch("type", f"expected a dict, got {kind(got)}")
            if set(got) != set(want):
                missing, extra = set(want) - set(got), set(got) - set(want)
                return Mismatch("length", f"keys differ: missing {show(sorted(missing, key=str), 120)}, "
                                          f"unexpected {show(sorted(extra, key=str), 120)}")
            for k in want:
                m = self(got[k], want[k], f"[{k!r}]")
                if m is not None:
                    return m
            return None
        if isinstance(want, bool) or not isinstance(want, (int, float)):
            if type(got) is not type(want) and not (isinstance(want, bool) and _is_bool(got)):
                return Mismatch("type", f"expected {kind(want)} {show(want, 80)}, got {kind(got)} {show(got, 80)}")
            if bool(got != want) if isinstance(want, bool) else not _safe_eq(got, want):
                return Mismatch("value", f"expected {show(want, 120)}, got {show(got, 120)}")
            return None
        return self._number(got, want)

    def _number(self, got, want) -> Mismatch | None:
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        elif hasattr(got, "item") and callable(got.item) and not isinstance(got, (int, float)):
            try:  # numpy scalars
                got = got.item()
            except Exception:  # noqa: BLE001
                pass
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return Mismatch("type", f"expected a number like {show(want, 60)}, got {kind(got)} {show(got, 80)}")
        if self.exact and isinstance(want, int) and not (isinstance(got, int) or float(got).is_integer()):
            return Mismatch("type", f"expected a whole number {want}, got {got!r}")
        if math.isnan(got) and not math.isnan(want):
            return Mismatch("nan", f"expected {want!r}, got nan")
        ok = got == want if self.exact else math.isclose(got, want, rel_tol=self.rtol, abs_tol=self.atol)
        if not ok:
            return Mismatch("value", f"expected {want!r}, got {got!r}" + ("" if self.exact else f" ({self.tol()})"))
        return None

    def tol(self) -> str:
        return "exact" if self.exact else f"tolerance atol={self.atol:g}, rtol={self.rtol:g}"

    def _tensor(self, got, want: torch.Tensor) -> Mismatch | None:
        if not isinstance(got, torch.Tensor):
            converted = _as_tensor(got)
            how = ("a numpy array: build it with torch operations, or return torch.from_numpy(...)"
                   if converted is not None else
                   f"{kind(got)}: return a torch.Tensor (for example with torch.tensor(...) or torch ops)")
            return Mismatch("type", f"expected a torch.Tensor of shape {tuple(want.shape)}, got {how}")
        if got.shape != want.shape:
            extra = ""
            if got.numel() == want.numel() and got.dim() > 0:
                extra = " (same number of elements: check the order of view/reshape/transpose)"
            elif got.dim() == want.dim() - 1:
                extra = " (one dimension missing: a reduction without keepdim=True?)"
            return Mismatch("shape", f"expected shape {tuple(want.shape)}, got {tuple(got.shape)}{extra}")
        got, want = got.detach().cpu(), want.detach().cpu()
        if self.dtype and not self._dtype_ok(got.dtype, want.dtype):
            return Mismatch("dtype", f"expected dtype {str(want.dtype).replace('torch.', '')}, "
                                     f"got {str(got.dtype).replace('torch.', '')}")
        if want.numel() == 0:
            return None
        if want.is_floating_point() or want.is_complex() or got.is_floating_point():
            return self._float_values(got, want)
        return self._exact_values(got, want)

    def _dtype_ok(self, got: torch.dtype, want: torch.dtype) -> bool:
        if self.exact or not want.is_floating_point:
            return got == want
        return got.is_floating_point  # close(): float16/32/64 all compare by value

    def _exact_values(self, got, want) -> Mismatch | None:
        try:
            diff = got.to(want.dtype) != want
        except Exception as exc:  # noqa: BLE001
            return Mismatch("dtype", f"cannot compare dtype {got.dtype} with {want.dtype}: {exc}")
        if not bool(diff.any()):
            return None
        n, first = int(diff.sum()), int(diff.flatten().nonzero()[0])
        i = _index(first, tuple(want.shape))
        return Mismatch("value", f"{n} of {want.numel()} entries differ; first at index {i}: "
                                 f"expected {want[i].item()!r}, got {got[i].item()!r}")

    def _float_values(self, got, want) -> Mismatch | None:
        got64, want64 = got.to(torch.float64), want.to(torch.float64)
        bad = ~torch.isfinite(got64) & torch.isfinite(want64)
        if bool(bad.any()):
            first = int(bad.flatten().nonzero()[0])
            i = _index(first, tuple(want.shape))
            return Mismatch("nan", f"{int(bad.sum())} entries are nan/inf where finite values were "
                                   f"expected; first at index {i}: expected {want64[i].item():.6g}, "
                                   f"got {got64[i].item()}")
        if self.exact:
            ok = (got64 == want64) | (torch.isnan(got64) & torch.isnan(want64))
        else:
            ok = torch.isclose(got64, want64, rtol=self.rtol, atol=self.atol, equal_nan=True)
        if bool(ok.all()):
            return None
        err = (got64 - want64).abs().masked_fill(ok, 0).nan_to_num(nan=math.inf)
        first = int(err.flatten().argmax())
        i = _index(first, tuple(want.shape))
        w, g = want64[i].item(), got64[i].item()
        ws, gs = _distinct(w, g)
        rel = abs(g - w) / abs(w) if w else math.inf
        return Mismatch("value", f"values differ: largest error {err.flatten()[first].item():.3g} "
                                 f"(relative {rel:.3g}) at index {i} (expected {ws}, got {gs}); {self.tol()}")


def _distinct(a: float, b: float) -> tuple[str, str]:
    """``a`` and ``b`` printed with the fewest significant digits (at least 6) that tell them
    apart, so a message never shows two equal-looking numbers as the difference."""
    for digits in range(6, 18):
        sa, sb = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if sa != sb:
            return sa, sb
    return repr(a), repr(b)


def _is_bool(x) -> bool:
    return isinstance(x, bool) or type(x).__name__ == "bool_"


def _safe_eq(a, b) -> bool:
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001
        return False


class close(_Compare):  # noqa: N801 - reads like a function in exercise definitions
    """Floats agree within ``|got - want| <= atol + rtol * |want|`` (default 1e-5 and 1e-5);
    ints, bools and strings inside the output must still match exactly. ``dtype=False``
    accepts any dtype."""


class exact(_Compare):  # noqa: N801
    """Everything must match exactly, dtype included (``dtype=False`` compares values only)."""

    exact = True

    def __init__(self, dtype: bool = True):
        super().__init__(atol=0.0, rtol=0.0, dtype=dtype)
