"""The bundled corpus, its train/validation split, and random-window batches (lesson 20).

A language model learns from one long stream of token ids. A training example is a window of
``block_size`` ids ``x`` and the same window shifted one step to the right ``y``: at every
position the target is the next token.

>>> text = load_corpus("tinyshakespeare")
>>> len(text), text[:14]
(1115394, 'First Citizen:')
>>> ids = torch.arange(10)                      # a toy stream 0, 1, ..., 9
>>> train, val = train_val_split(ids, val_fraction=0.2)
>>> train.tolist(), val.tolist()
([0, 1, 2, 3, 4, 5, 6, 7], [8, 9])
>>> sampler = BatchSampler(train, batch_size=2, block_size=3, seed=0)
>>> x, y = sampler.next_batch()
>>> x.shape, bool((y[:, :-1] == x[:, 1:]).all())   # y is x shifted left by one
(torch.Size([2, 3]), True)
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from ._checks import check_positive_int, describe

DATA_DIR = Path(__file__).resolve().parent / "data"

#: Corpora shipped inside the package: name -> (file, sha256 of the file, characters).
CORPORA = {
    "tinyshakespeare": ("tinyshakespeare.txt",
                        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed", 1_115_394),
}


def corpus_path(name: str = "tinyshakespeare") -> Path:
    """The path of a bundled corpus file (no network needed: it ships with the package)."""
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; the package ships: {sorted(CORPORA)}.")
    path = DATA_DIR / CORPORA[name][0]
    if not path.is_file():
        raise FileNotFoundError(
            f"the corpus file {path} is missing from the installed package. Reinstall llmcourse "
            f"(pip install --force-reinstall llmcourse) or check that package data was installed."
        )
    return path


def load_corpus(name: str = "tinyshakespeare", verify: bool = False) -> str:
    """Lesson 20: the text of a bundled corpus, read as UTF-8.

    ``verify=True`` also checks the file's SHA-256 against the recorded one.
    """
    path = corpus_path(name)
    raw = path.read_bytes()
    if verify:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != CORPORA[name][1]:
            raise ValueError(f"{path} has sha256 {digest}, expected {CORPORA[name][1]}: the file is damaged.")
    return raw.decode("utf-8")


def train_val_split(data, val_fraction: float = 0.1):
    """Split a 1-D stream in two: the first ``1 - val_fraction`` for training, the rest for
    validation (a contiguous tail, so no validation window overlaps a training window)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be strictly between 0 and 1, got {val_fraction!r}.")
    n = int(len(data) * (1.0 - val_fraction))
    if n < 2 or len(data) - n < 2:
        raise ValueError(f"a stream of {len(data)} items is too short to split with val_fraction={val_fraction}.")
    return data[:n], data[n:]


def encode_corpus(text: str, tokenizer) -> torch.Tensor:
    """Encode a whole text into a 1-D ``torch.long`` tensor of token ids."""
    return torch.tensor(tokenizer.encode(text), dtype=torch.long)


class BatchSampler:
    """Lesson 20: random windows from a 1-D tensor of token ids, drawn with a seeded generator.

    ``next_batch()`` returns ``(x, y)``, both ``(batch_size, block_size)``, with ``y`` the targets
    (``x`` shifted by one). The generator's state is part of a checkpoint (``state_dict``), so a
    resumed run draws exactly the batches an uninterrupted run would have drawn.

    For data-parallel training, ``rank``/``world_size`` split every global batch: all processes
    draw the same ``batch_size`` window starts (same seed) and process ``rank`` keeps rows
    ``[rank * b, (rank + 1) * b)`` with ``b = batch_size // world_size``. Together they see exactly
    the batch that a single process would see.

    On a GPU the whole stream lives on the device (a few MB) and the windows are cut there: only
    the ``batch_size`` window starts, drawn on the CPU from the seeded generator (the same
    batches on every device), travel each step, from pinned memory without waiting.
    """

    def __init__(self, data: torch.Tensor, batch_size: int, block_size: int, seed: int = 0,
                 device: str | torch.device = "cpu", rank: int = 0, world_size: int = 1):
        if not isinstance(data, torch.Tensor) or data.dim() != 1:
            raise TypeError(f"data must be a 1-D tensor of token ids, got {describe(data)}.")
        check_positive_int(batch_size, "batch_size")
        check_positive_int(block_size, "block_size")
        if len(data) < block_size + 2:
            raise ValueError(
                f"the data has {len(data)} tokens, too few for windows of block_size={block_size} "
                f"(need at least block_size + 2). Use a smaller block_size or more text."
            )
        if batch_size % world_size:
            raise ValueError(
                f"batch_size={batch_size} must be divisible by the number of processes "
                f"world_size={world_size}, since each process takes an equal share of every batch."
            )
        self.device, self.rank, self.world_size = torch.device(device), rank, world_size
        self.data, self.batch_size, self.block_size = data.long().to(self.device), batch_size, block_size
        self.generator = torch.Generator().manual_seed(seed)
        self._offsets = torch.arange(block_size + 1, device=self.device)  # (T + 1,)
        self._pin = self.device.type == "cuda"

    def next_batch(self):
        """Draw ``batch_size`` window starts; return this process's ``(x, y)`` share."""
        starts = torch.randint(len(self.data) - self.block_size - 1, (self.batch_size,),
                               generator=self.generator)  # (B,)
        share = self.batch_size // self.world_size
        starts = starts[self.rank * share:(self.rank + 1) * share]  # (B / world,)
        if self.device.type != "cpu":
            starts = (starts.pin_memory() if self._pin else starts).to(self.device, non_blocking=True)
        windows = self.data[starts[:, None] + self._offsets]  # (b, T + 1), cut on the data's device
        return windows[:, :-1], windows[:, 1:]  # (b, T) each: inputs and next-token targets

    __next__ = next_batch

    def __iter__(self):
        return self

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
