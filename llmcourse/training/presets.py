"""Named training settings (lesson 20). What each preset measured is in ``benchmarks/RESULTS.md``.

- ``shakespeare-char``: the 5-minute recipe for 2 CPU cores. In five minutes the number of steps
  matters most, so a small, fast model wins: 3 blocks, rotary positions, a 128-character context,
  batches of 16, Muon (:mod:`llmcourse.training.optim`) for the blocks' matrices and AdamW for the
  rest, a high learning rate decayed to zero at the time limit along a cosine, and weight decay
  0.5 instead of dropout (which costs half the throughput on a CPU).
- ``shakespeare-char-pretrained``: how the model shipped in the package was trained (4 blocks,
  GPT-2's learned positions, a 256-character context, a step budget so that the run repeats from
  its seed; fp32).
- ``nanogpt-cpu``: nanoGPT's documented CPU recipe, run as nanoGPT runs it (fp32, the readable
  kernels), for comparison.
- ``nanogpt-gpu``: nanoGPT's GPU recipe for Tiny Shakespeare (6 blocks of 6 heads, 384 wide, a
  256-character context, batches of 64, dropout 0.2, 5,000 steps, compiled), with this trainer's
  defaults (fused kernels, bf16 autocast where native); ``benchmarks/bench_train.py --cuda``
  times it against nanoGPT.
- ``tiny``: seconds (tests, CI, a first try; fp32, so its numbers are the same on every CPU).

>>> get_preset("tiny", max_iters=10).max_iters
10
>>> get_preset("shakespeare-char").model.pos_embedding
'rope'
"""

from __future__ import annotations

from ..config import GPTConfig
from .config import TrainConfig


def _model(**sizes) -> GPTConfig:
    return GPTConfig(activation="gelu", **sizes)


PRESETS: dict[str, TrainConfig] = {
    "shakespeare-char": TrainConfig(
        model=_model(n_layer=3, n_head=4, n_embd=128, block_size=128, pos_embedding="rope"),
        batch_size=16, optimizer="muon", learning_rate=1e-2, min_lr=0.0, warmup_iters=100,
        weight_decay=0.5, max_iters=None, max_time=300.0, eval_interval=500, eval_iters=20, log_interval=10,
    ),
    "shakespeare-char-pretrained": TrainConfig(
        model=_model(n_layer=4, n_head=4, n_embd=128, block_size=256),
        batch_size=8, learning_rate=6e-3, min_lr=0.0, warmup_iters=100, weight_decay=1.0, max_iters=8000,
        eval_interval=1000, eval_iters=40, log_interval=10, precision="fp32",
    ),
    "nanogpt-cpu": TrainConfig(
        model=_model(n_layer=4, n_head=4, n_embd=128, block_size=64),
        batch_size=12, learning_rate=1e-3, min_lr=1e-4, warmup_iters=100, max_iters=2000, eval_interval=250,
        eval_iters=20, log_interval=10, fast_kernels=False, precision="fp32",
    ),
    "nanogpt-gpu": TrainConfig(
        model=_model(n_layer=6, n_head=6, n_embd=384, block_size=256, dropout=0.2),
        batch_size=64, learning_rate=1e-3, min_lr=1e-4, warmup_iters=100, max_iters=5000, eval_interval=250,
        eval_iters=200, log_interval=10, compile=True,
    ),
    "tiny": TrainConfig(
        model=_model(n_layer=2, n_head=2, n_embd=32, block_size=32),
        batch_size=8, learning_rate=3e-3, min_lr=3e-4, warmup_iters=5, max_iters=60, eval_interval=20,
        eval_iters=4, log_interval=5, precision="fp32",
    ),
}


def get_preset(name: str, **overrides) -> TrainConfig:
    """A named :data:`PRESETS` entry, with some fields changed (the model's too: ``n_layer=2``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(sorted(PRESETS))}.")
    return PRESETS[name].replace(**overrides)
