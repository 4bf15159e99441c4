"""Environment helpers used by every lesson's setup cell: seeding, device choice, fast mode.

Lesson 1 onwards:

>>> from llmcourse.env import seed_everything, FAST
>>> seed_everything(0)  # python, numpy and torch generators
"""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

#: Environment variable that shrinks long notebook work (training cells) for CI.
FAST_ENV = "LLMCOURSE_FAST"


def fast_mode() -> bool:
    """True when ``LLMCOURSE_FAST=1`` is set (CI and the test suite set it)."""
    return os.environ.get(FAST_ENV, "0").strip().lower() in {"1", "true", "yes", "on"}


FAST = fast_mode()


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and PyTorch's random generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextlib.contextmanager
def deterministic_on_cpu(device: torch.device | str = "cpu"):
    """Lesson 20: within the block, PyTorch picks deterministic kernels on a CPU, so a training run
    with several threads repeats exactly from its seed. Without this, the accumulating index
    write behind the token embedding's gradient adds in a different order from run to run on two
    threads; the differences start in the last bits and grow through training (faster under bf16
    autocast, which rounds them up). The cost is a small fraction of a step
    (``benchmarks/RESULTS.md``). Other devices are left alone (CUDA would need more settings). The
    previous setting comes back on exit.

    >>> with deterministic_on_cpu():
    ...     torch.are_deterministic_algorithms_enabled()
    True
    >>> torch.are_deterministic_algorithms_enabled()
    False
    """
    if torch.device(device).type != "cpu":
        yield
        return
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)  # warn, never fail, where none exists
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device``, or a ``ValueError`` that says why it cannot be used here
    (a misspelt name, a PyTorch built without CUDA, no such GPU), before anything is put on it.

    >>> check_device("cpu")
    device(type='cpu')
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"unknown device {device!r}: expected cpu, cuda, cuda:N or mps.") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = ("this PyTorch is built without CUDA (a CPU-only build)" if torch.version.cuda is None
                   else "PyTorch sees no CUDA GPU (check the driver, nvidia-smi and CUDA_VISIBLE_DEVICES)")
            raise ValueError(f"device {str(device)!r} is not available: {why}. Use the CPU (device 'cpu'), "
                             f"or install a CUDA build of PyTorch on a machine with an NVIDIA GPU.")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"device {str(device)!r} does not exist: this machine has {count} GPU(s), "
                             f"cuda:0 to cuda:{count - 1}.")
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device {str(device)!r} is not available: Apple's MPS needs a Mac with "
                             f"Apple silicon and a PyTorch built for it. Use 'cpu'.")
    elif dev.type != "cpu":
        raise ValueError(f"device {str(device)!r} is not one this course runs on: expected cpu, cuda, "
                         f"cuda:N or mps.")
    return dev


def get_device(prefer: str | None = None) -> torch.device:
    """Pick a device: ``prefer`` if given (checked by :func:`check_device`), else CUDA, then Apple
    MPS, then CPU (never required)."""
    if prefer:
        return check_device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def in_colab() -> bool:
    try:
        import google.colab  # noqa: F401
    except ImportError:
        return False
    return True


def setup(seed: int = 0, dpi: int = 80, quiet: bool = False) -> torch.device:
    """Everything a lesson's setup cell needs: seed, small figures, a device. Returns the device."""
    seed_everything(seed)
    try:
        import matplotlib

        matplotlib.rcParams["figure.dpi"] = min(dpi, 100)
        matplotlib.rcParams["savefig.dpi"] = min(dpi, 100)
        matplotlib.rcParams["figure.figsize"] = (6.0, 3.2)
    except ImportError:  # pragma: no cover - matplotlib is a base requirement
        pass
    device = get_device()
    if not quiet:
        mode = " (fast mode)" if fast_mode() else ""
        print(f"llmcourse ready: torch {torch.__version__}, device {device.type}, seed {seed}{mode}")
    return device
