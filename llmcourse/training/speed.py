"""Speed options of the trainer that leave the model's maths as it is (lesson 20).

The fast kernels are not here: each module chooses its own fast form in its own ``forward``,
behind a flag (``GPTConfig.fused_kernels`` for norms, GELU and RoPE; ``fast_attention`` for
attention), and the trainer builds its model with them on (``TrainConfig.fast_kernels``).

- :func:`resolve_precision`, :func:`autocast` and :func:`grad_scaler`: the forward pass in
  bfloat16 where the hardware multiplies bf16 matrices natively (``TrainConfig.precision="auto"``),
  float16 with a gradient scaler on GPUs of compute capability 7.x, float32 elsewhere. Reduced
  precision is not the same maths: each product rounds its inputs (bf16 keeps 8 significant
  bits), so losses drift from an fp32 run by about 1e-3; ``benchmarks/bench_train.py --curve``
  compares whole runs. Where bf16 is only emulated it is many times slower than fp32, so
  ``"auto"`` keeps fp32 there.
- :func:`keep_freed_memory` stops the C library from handing the memory of every step's
  activations back to the operating system, only to fault it in again, page by page, in the next
  step.
- :func:`maybe_compile` wraps a model in ``torch.compile``; :func:`compile_or_fallback` falls back
  to eager execution when compilation fails.

>>> resolve_precision("fp32")
torch.float32
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys
import warnings

import torch

from .config import PRECISIONS


def cuda_capability(device: torch.device | str = "cuda") -> tuple[int, int] | None:
    """The compute capability ``(major, minor)`` of a CUDA device, or ``None`` without CUDA."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    return tuple(torch.cuda.get_device_capability(device))


#: CUDA compute capability from which bf16 matrix products run on tensor cores (Ampere: A100 is
#: 8.0, RTX 30xx 8.6; H100 9.0).
BF16_CAPABILITY = (8, 0)
#: From which fp16 matrix products run on tensor cores (Volta: V100 is 7.0; Turing: T4 7.5).
FP16_CAPABILITY = (7, 0)


def native_bf16(device: torch.device | str = "cpu") -> bool:
    """Whether ``device`` multiplies bfloat16 matrices in hardware: a CPU with AVX-512 BF16 or AMX
    tiles, or a CUDA GPU of compute capability 8.0 or more (Ampere and later). False for Apple
    MPS, older CPUs and older GPUs, where bf16 is emulated (and slower than fp32).

    It asks for the capability, not ``torch.cuda.is_bf16_supported()``, which by default also
    answers True where bf16 is only emulated (a T4, capability 7.5)."""
    device = torch.device(device)
    if device.type == "cuda":
        capability = cuda_capability(device)
        return capability is not None and capability >= BF16_CAPABILITY
    if device.type == "cpu":
        cpu = getattr(torch, "cpu", None)
        checks = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
        return any(check() for check in checks if check is not None)
    return False


def resolve_precision(precision: str, device: torch.device | str = "cpu") -> torch.dtype:
    """Lesson 20: the dtype the forward pass runs in for ``TrainConfig.precision``.

    ``"fp32"`` gives ``torch.float32``, ``"bf16"`` gives ``torch.bfloat16`` and ``"fp16"`` gives
    ``torch.float16`` (CPU and CUDA only). ``"auto"`` gives bf16 where :func:`native_bf16` holds,
    fp16 on a CUDA GPU of capability 7.x (V100, T4) and fp32 elsewhere.

    Why fp16 on those GPUs: their tensor cores multiply fp16 matrices (with fp32 sums) at about
    8x their fp32 rate (T4: 65 against 8 TFLOP/s; V100: 125 against 16) and have no bf16 at
    all, and PyTorch's documented recipe for them is ``torch.autocast(dtype=torch.float16)`` with
    a ``GradScaler`` (the "Automatic Mixed Precision" examples): autocast keeps the
    range-sensitive operations (softmax, norms, ``pow``, the loss) in fp32, and the scaler
    multiplies the loss before the backward pass so that small gradients do not round to zero
    in fp16's narrow range (smallest normal 6e-5, against bf16's 1e-38), then divides the
    gradients back and skips a step whose gradients overflowed. The trainer does both
    (:func:`grad_scaler`). Below capability 7.0 fp16 has no tensor cores and ``"auto"`` keeps fp32.

    >>> resolve_precision("fp32"), resolve_precision("bf16"), resolve_precision("fp16")
    (torch.float32, torch.bfloat16, torch.float16)
    >>> resolve_precision("auto") == (torch.bfloat16 if native_bf16("cpu") else torch.float32)
    True
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
    device = torch.device(device)
    if precision == "auto":
        if native_bf16(device):
            return torch.bfloat16
        capability = cuda_capability(device)
        return torch.float16 if capability is not None and capability >= FP16_CAPABILITY else torch.float32
    if precision == "fp32":
        return torch.float32
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"precision={precision!r} needs a CPU or CUDA device, not {device.type!r}; "
                         f"use precision='fp32' (or 'auto') there.")
    return torch.bfloat16 if precision == "bf16" else torch.float16


def grad_scaler(device: torch.device | str, dtype: torch.dtype):
    """A ``GradScaler`` for fp16 training on ``device`` (see :func:`resolve_precision`), ``None``
    for bf16 and fp32, whose range needs none. With fused AdamW the scaler's overflow check stays
    on the device; with another optimizer (Muon) it reads one number back each step to decide
    whether to skip it."""
    if dtype != torch.float16:
        return None
    device = torch.device(device)
    amp = getattr(torch, "amp", None)
    if amp is not None and hasattr(amp, "GradScaler"):  # torch >= 2.3, any device
        return amp.GradScaler(device.type)
    if device.type == "cuda":
        return torch.cuda.amp.GradScaler()
    raise ValueError("precision='fp16' on a CPU needs PyTorch >= 2.3 (torch.amp.GradScaler); "
                     "use precision='bf16' or 'fp32'.")


def autocast(device: torch.device | str, dtype: torch.dtype):
    """A context in which the forward pass runs in ``dtype``: ``torch.autocast`` for bf16 or fp16
    (matrix products in that dtype, norms, softmax and the loss in fp32; the parameters stay fp32), nothing to
    do for fp32. Under CPU autocast the package's attention runs the fused kernel in fp32, whose
    backward pass is several times slower in bf16 (see ``attention.fused_attention``).

    >>> import torch.nn as nn
    >>> with autocast("cpu", torch.bfloat16):
    ...     y = nn.Linear(4, 2)(torch.ones(3, 4))
    >>> y.dtype
    torch.bfloat16
    """
    device = torch.device(device)
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, from glibc's malloc.h
_kept = None


def keep_freed_memory() -> bool:
    """Linux with glibc: keep freed memory in the process instead of returning it to the system.

    Every training step allocates its activations and frees them again. By default glibc hands a
    freed block back to the kernel once more than a few MB sit free at the top of the heap, so the
    next step touches fresh pages and pays a page fault for each 4 KB, thousands of them a step
    (``benchmarks/bench_train.py --preset shakespeare-char --allocator`` counts them). With the
    thresholds raised (allocations up to 32 MB from the heap, up to 1 GB kept free) the faults
    stop after the first steps. The price: the process keeps its peak memory until it exits.
    Applies to the whole process, once; returns whether it is in effect (False on other systems:
    nothing to do or no way to do it). Lesson 20's trainer calls it when ``fast_kernels`` is on.

    >>> keep_freed_memory() == keep_freed_memory()      # idempotent
    True
    """
    global _kept
    if _kept is None:
        _kept = False
        if sys.platform.startswith("linux"):
            try:
                mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
                _kept = bool(mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(mallopt(_M_TRIM_THRESHOLD, 1 << 30))
            except (OSError, AttributeError):  # not glibc (musl has no mallopt)
                pass
    return _kept


def maybe_compile(model: torch.nn.Module, enabled: bool, log=print, mode: str = "default"):
    """``torch.compile(model, mode=mode)`` if ``enabled`` and available, else ``model`` unchanged.

    ``mode="reduce-overhead"`` records each step's kernels as a CUDA graph and replays it: on a
    GPU, where a small model's step is mostly the time to launch hundreds of kernels, that takes
    the launches off the step (on a CPU it compiles as the default mode does). Compilation happens
    lazily at the first call; :func:`compile_or_fallback` handles a failure there.
    """
    if not enabled:
        return model
    if not hasattr(torch, "compile"):
        log("torch.compile is not available in this PyTorch; training without it.")
        return model
    return torch.compile(model) if mode == "default" else torch.compile(model, mode=mode)


def mark_step_begin() -> None:
    """Tell CUDA graphs (``mode="reduce-overhead"``) that a new training step starts, so that the
    outputs of the previous step's replay may be overwritten (a no-op without them)."""
    mark = getattr(getattr(torch, "compiler", None), "cudagraph_mark_step_begin", None)
    if mark is not None:
        mark()


def compile_or_fallback(compiled, eager, run, log=print):
    """Run ``run(compiled)``; if compilation fails (no compiler, unsupported platform), warn once
    and return ``(eager, run(eager))`` so training continues uncompiled."""
    if compiled is eager:
        return eager, run(eager)
    try:
        return compiled, run(compiled)
    except Exception as e:  # torch._dynamo / inductor errors come in many types
        warnings.warn(f"torch.compile failed ({type(e).__name__}: {str(e)[:200]}); training without it.")
        log("torch.compile failed; continuing without compilation.")
        return eager, run(eager)
