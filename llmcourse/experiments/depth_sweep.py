"""Lesson 16: train GPTs that differ only in depth, several times each, and compare their
validation loss with the spread between runs.

A single run per depth cannot tell a real difference from luck: the random initialisation and the
random batches move the final loss by a few hundredths. :func:`train_depths` trains every depth
once per seed (a seed fixes the initial weights, the training batches and the validation batches
together), so each depth gets a mean and a range.

>>> runs = train_depths([1, 2], seeds=[0, 1], steps=2, n_embd=16, n_head=2, block_size=16,
...                     batch_size=2, eval_iters=1)
>>> sorted(runs), len(runs[1]["val"]), runs[2]["params"] > runs[1]["params"]
([1, 2], 2, True)
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

from ..config import GPTConfig
from ..training import Trainer, TrainConfig

__all__ = ["train_depths", "summarise", "plot_depths"]


def train_depths(depths: Sequence[int], seeds: Sequence[int], steps: int, *, device: str = "cpu",
                 n_embd: int = 64, n_head: int = 4, block_size: int = 64, batch_size: int = 16,
                 learning_rate: float = 1e-2, eval_interval: int | None = None,
                 eval_iters: int = 10) -> dict[int, dict]:
    """Train one GPT per (depth, seed) on Tiny Shakespeare with the package's ``Trainer``.

    Returns ``{depth: {"params": int, "val": [final validation loss per seed],
    "curves": [(steps, validation losses) per seed], "seconds": mean seconds per run}}``.
    All runs share the width, context, batch size and learning-rate schedule; only the number of
    blocks and the seed change.
    """
    if not depths or not seeds:
        raise ValueError("give at least one depth and one seed, e.g. depths=[1, 2], seeds=[0].")
    interval = eval_interval or max(1, steps // 6)
    runs: dict[int, dict] = {}
    for n_layer in depths:
        runs[n_layer] = {"params": 0, "val": [], "curves": [], "seconds": 0.0}
        for seed in seeds:
            model = GPTConfig(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size,
                              activation="gelu")
            cfg = TrainConfig(model=model, batch_size=batch_size, learning_rate=learning_rate,
                              min_lr=learning_rate / 10, warmup_iters=max(1, steps // 10),
                              max_iters=steps, eval_interval=interval, eval_iters=eval_iters,
                              log_interval=interval, seed=seed)
            start = time.perf_counter()
            result = Trainer(cfg, device=device, progress=False, log=None).train()
            evals = [r for r in result.history if "val_loss" in r]
            run = runs[n_layer]
            run["params"] = result.model.num_parameters()
            run["curves"].append(([r["step"] for r in evals], [r["val_loss"] for r in evals]))
            run["val"].append(evals[-1]["val_loss"])
            run["seconds"] += (time.perf_counter() - start) / len(seeds)
    return runs


def summarise(runs: dict[int, dict]) -> list[str]:
    """One line per depth: parameters, mean final validation loss, its range over the seeds, and
    the mean time per run.

    >>> summarise({2: {"params": 1000, "val": [2.3, 2.5], "curves": [], "seconds": 1.0}})
    ['L = 2:   1,000 parameters, validation loss 2.400 (range 2.300-2.500 over 2 runs), 1.0 s per run']
    """
    lines = []
    for n_layer, r in runs.items():
        lines.append(f"L = {n_layer}: {r['params']:>7,d} parameters, validation loss "
                     f"{statistics.fmean(r['val']):.3f} (range {min(r['val']):.3f}-{max(r['val']):.3f} "
                     f"over {len(r['val'])} runs), {r['seconds']:.1f} s per run")
    return lines


def plot_depths(runs: dict[int, dict], steps: int):
    """Left: every run's validation curve, one colour per depth. Right: each seed's final loss
    per depth (dots) and their mean (line). Returns the figure."""
    import matplotlib.pyplot as plt

    from llmcourse import viz

    depths = list(runs)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.5, 3.2))
    for color, n_layer in zip(viz.PALETTE, depths):
        for i, (xs, ys) in enumerate(runs[n_layer]["curves"]):
            ax1.plot(xs, ys, "-", color=color, lw=1, alpha=0.8, label=f"L = {n_layer}" if i == 0 else None)
        finals = runs[n_layer]["val"]
        ax2.plot([n_layer] * len(finals), finals, "o", color=color, ms=4, alpha=0.8)
    ax1.set_xlabel("training step")
    ax1.set_ylabel("validation loss")
    ax1.set_ylim(top=3.5)
    ax1.set_title("validation loss, every run", fontsize=10)
    ax1.legend(fontsize=8)
    ax2.plot(depths, [statistics.fmean(runs[n]["val"]) for n in depths], "-", color="black", lw=1,
             label="mean over seeds")
    ax2.set_xticks(depths)
    ax2.set_xlabel("number of blocks L")
    ax2.set_ylabel(f"validation loss at step {steps}")
    ax2.set_title("each dot one run: depth against luck", fontsize=10)
    ax2.legend(fontsize=8)
    ax2.margins(y=0.2)
    fig.tight_layout()
    return fig
