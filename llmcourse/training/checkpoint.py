"""Checkpoints that are safe to load and never half-written (lesson 20).

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(path, weights_only=True)``: loading a file cannot run code hidden in it. It is
written to ``path.tmp`` first and then renamed over ``path`` (``os.replace`` is atomic), so a
run killed mid-save leaves the previous checkpoint intact.

>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> path = save_checkpoint({"step": 3, "w": torch.ones(2)}, os.path.join(d, "ckpt.pt"))
>>> load_checkpoint(d)["step"]                      # a directory means <dir>/ckpt.pt
3
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch

CHECKPOINT_NAME = "ckpt.pt"
FORMAT = "llmcourse-checkpoint"


def checkpoint_file(path) -> Path:
    """``path`` itself if it names a file, ``path/ckpt.pt`` if it names a directory."""
    p = Path(path)
    return p / CHECKPOINT_NAME if p.is_dir() or p.suffix == "" else p


def check_writable(path) -> None:
    """Raise a ``ValueError`` unless a checkpoint can be written at ``path`` (a run directory, or a
    ``.pt`` file), without creating anything: a run then fails at once, not at its first save.

    The test writes (and removes) a temporary file in the deepest folder that already exists,
    which also catches read-only file systems and permissions that ``os.access`` misjudges.
    """
    p = Path(path)
    if p.exists() and not p.is_dir() and p.suffix != ".pt":
        raise ValueError(f"{str(path)!r} is a file, but a run needs a directory to write {CHECKPOINT_NAME} "
                         f"into: give a new or existing directory.")
    folder = checkpoint_file(p).parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"cannot create the run directory {str(folder)!r}: {str(existing)!r} is a file.")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".llmcourse-write-test-")
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise ValueError(f"cannot write a checkpoint under {str(existing)!r} ({e.strerror or e}): "
                         f"choose a directory you can write to.") from None


def save_checkpoint(state: dict, path) -> Path:
    """Write ``state`` atomically: to ``<file>.tmp``, flushed to disk, then renamed over ``<file>``."""
    target = checkpoint_file(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    return target


def load_checkpoint(path, map_location="cpu") -> dict:
    """Load a checkpoint with ``weights_only=True`` (no pickled code is ever executed)."""
    target = checkpoint_file(path)
    if not target.is_file():
        where = Path(path)
        hint = (f"the directory {where} has no {CHECKPOINT_NAME}" if where.is_dir()
                else f"{target} does not exist")
        raise FileNotFoundError(
            f"no checkpoint found: {hint}. Train one first with 'python -m llmcourse train --out DIR', "
            f"or pass the directory you trained into."
        )
    try:
        return torch.load(target, map_location=map_location, weights_only=True)
    except Exception as e:  # a truncated or foreign file; torch's own text runs to many lines
        raise ValueError(f"{target} is not a readable llmcourse checkpoint (torch.load: {type(e).__name__}): "
                         f"pass a run directory from 'python -m llmcourse train --out DIR' or a .pt file "
                         f"that command wrote.") from e


# ---------------------------------------------------------------- random number generator states
def rng_state() -> dict:
    """The state of Python's, NumPy's and PyTorch's generators as tensors and plain numbers."""
    py_version, py_internal, py_gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "python": {"version": py_version, "internal": torch.tensor(py_internal, dtype=torch.int64),
                   "gauss": py_gauss},
        "numpy": {"kind": np_kind, "keys": torch.from_numpy(np_keys.astype(np.int64)), "pos": int(np_pos),
                  "has_gauss": int(np_has_gauss), "gauss": float(np_gauss)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` captured."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["internal"].tolist()), py["gauss"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
