"""Environment helpers used by every lesson's setup cell: seeding, device choice, fast mode.

Lesson 1 onwards:

>>> from llmcourse.env import seed_everything, FAST
>>> seed_everything(0)  # python, numpy and torch generators
"""

from __future__ import annotations

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


def get_device(prefer: str | None = None) -> torch.device:
    """Pick a device: ``prefer`` if given, else CUDA, then Apple MPS, then CPU (never required)."""
    if prefer:
        return torch.device(prefer)
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
