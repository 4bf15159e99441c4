"""Speed-ups for training that leave the maths unchanged (lesson 20).

The package's ``LayerNorm``, ``GELU`` and RoPE are written out op by op so that lessons 4, 6 and 13
can show the arithmetic. For training, :func:`fast_kernels` temporarily routes them to faster forms
of the same function: PyTorch's fused kernels (``F.layer_norm``, ``F.gelu``), and RoPE as one
complex multiplication (lesson 4 checks that form against the readable one: a pair ``(a, b)`` is the
number ``a + ib``, and turning it by ``theta`` is multiplying by ``cos theta + i sin theta``), about
2.5x faster forward and backward than the readable stack of pairs, so the 5-minute preset's step is
about 5% shorter (``benchmarks/bench_train.py --preset shakespeare-char --rope-only``). The
parameters and the state dict stay exactly as they are. :func:`keep_freed_memory` stops the C
library from handing the memory of every step's activations back to the operating system, only to
fault it in again, page by page, in the next step. :func:`maybe_compile` wraps a model in
``torch.compile`` and falls back to eager execution when compilation is unavailable.

:func:`resolve_precision` and :func:`autocast` run the forward pass in bfloat16 where the hardware
multiplies bf16 matrices natively (``TrainConfig.precision="auto"``). That is not the same maths:
each product rounds its inputs to 8 significant bits, so losses drift from an fp32 run by about
1e-3, and whole runs end within 0.002 of fp32's (``benchmarks/bench_train.py --curve``). On a CPU
with AVX-512 BF16 (2 cores of an AMD Zen 4) bf16 matrix products run at twice the fp32 rate, and
a step of nanoGPT's CPU recipe is 1.3-1.4x faster (34.7 against 44.5 ms, 24.3 against 33.6 ms in
two ``bench_train.py`` runs). Without those instructions the products are emulated and about 20x
slower, so ``"auto"`` keeps fp32 there.

>>> import torch
>>> from llmcourse.model import GPT, GPTConfig
>>> model = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=2, n_embd=16))
>>> idx = torch.randint(0, 10, (2, 8))
>>> slow = model(idx)
>>> with fast_kernels(model) as n:
...     fast = model(idx)
>>> n, torch.allclose(slow, fast, atol=1e-5)        # 3 norms and 1 GELU were swapped
(4, True)
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import sys
import types
import warnings

import torch
import torch.nn.functional as F

from .embedding import RotaryEmbedding, apply_rope
from .feedforward import GELU
from .norm import LayerNorm, RMSNorm
from .train_config import PRECISIONS


def _layer_norm_forward(self, x):
    return F.layer_norm(x, (self.n_embd,), self.weight, self.bias, self.eps)


def _rms_norm_forward(self, x):
    return F.rms_norm(x, (self.n_embd,), self.weight, self.eps)


def _gelu_forward(self, x):
    return F.gelu(x, approximate=self.approximate)


def _compiling() -> bool:
    check = getattr(getattr(torch, "compiler", None), "is_compiling", None)  # torch >= 2.3
    if check is None:
        from torch import _dynamo

        check = _dynamo.is_compiling
    return check()


def _rope_forward(self, x, offset: int = 0):
    cos, sin = self.angles(x.shape[-2], offset)  # each (T, hd/2)
    if x.dtype not in (torch.float32, torch.float64) or x.device.type not in ("cpu", "cuda") or _compiling():
        # no complex kernels for this dtype/device, or torch.compile, which fuses the readable form
        # itself but generates no code for complex numbers: the readable form
        return apply_rope(x, cos, sin)
    pairs = x.unflatten(-1, (-1, 2))  # (..., T, hd/2, 2)
    if pairs.storage_offset() % 2 or any(st % 2 for st in pairs.stride()[:-1]) or pairs.stride(-1) != 1:
        pairs = pairs.contiguous()  # a complex view needs each pair's two floats side by side, aligned
    z = torch.view_as_complex(pairs)  # complex (..., T, hd/2)
    turn = torch.complex(cos.to(x.dtype), sin.to(x.dtype))  # (T, hd/2): cos + i sin
    return torch.view_as_real(z * turn).flatten(-2)  # (..., T, hd/2, 2) -> (..., T, hd)


def _fast_forward(module):
    if isinstance(module, LayerNorm):
        return _layer_norm_forward
    if isinstance(module, RMSNorm) and hasattr(F, "rms_norm"):
        return _rms_norm_forward
    if isinstance(module, GELU):
        return _gelu_forward
    if isinstance(module, RotaryEmbedding):
        return _rope_forward
    return None


@contextlib.contextmanager
def fast_kernels(model: torch.nn.Module, enabled: bool = True):
    """Within the ``with`` block, norms, GELUs and RoPE of ``model`` run faster forms of themselves.
    Yields the number of modules swapped; everything is restored on exit."""
    swapped = []
    if enabled:
        for module in model.modules():
            fwd = _fast_forward(module)
            if fwd is not None and "forward" not in module.__dict__:
                module.forward = types.MethodType(fwd, module)
                swapped.append(module)
    try:
        yield len(swapped)
    finally:
        for module in swapped:
            del module.forward  # back to the class's readable forward


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
    backward pass is 4x slower in bf16 (see ``attention.fused_attention``).

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
    next step touches fresh pages and pays a page fault for each 4 KB: for the 5-minute preset on
    2 cores, about 2,300 faults and 5.8 ms of CPU time in the kernel a step (0.2 ms with this on;
    ``benchmarks/bench_train.py --preset shakespeare-char --allocator`` measures it). With the
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
