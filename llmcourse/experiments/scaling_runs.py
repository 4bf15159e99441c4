"""Lesson 19's measurements: the KV cache's speed-up, timed token by token, and a power law fitted
to the final losses of models of several sizes, drawn next to their training curves.

>>> import torch
>>> from llmcourse.model import GPT, GPTConfig
>>> model = GPT(GPTConfig(vocab_size=11, block_size=16, n_layer=1, n_head=2, n_embd=8)).eval()
>>> t = kv_cache_timing(model, torch.zeros(1, 1, dtype=torch.long), n_new=6, repeats=1)
>>> len(t.seconds_without), len(t.seconds_with), t.same_tokens
(6, 6, True)
>>> a, alpha = power_law_fit([1e3, 1e4, 1e5], [4.0, 2.0, 1.0])
>>> round(alpha, 3), round(a, 1)
(0.301, 32.0)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from ..sampling import generate, iter_generate


@dataclass
class CacheTiming:
    """Seconds each generated token took, without and with the KV cache (the fastest of
    ``repeats`` runs, so that a hiccup of the machine does not show as a spike), and whether the
    two ways gave the same tokens (greedy, and sampled with the same seed)."""

    seconds_without: np.ndarray
    seconds_with: np.ndarray
    same_tokens: bool

    @property
    def speedup(self) -> float:
        return float(self.seconds_without.sum() / self.seconds_with.sum())


def _step_times(model, prompt, n_new: int, use_cache: bool, repeats: int):
    runs, tokens = [], []
    for _ in range(repeats):
        tokens, seconds = [], []
        t = time.perf_counter()
        for nxt, _ in iter_generate(model, prompt, n_new, temperature=0, use_cache=use_cache):
            now = time.perf_counter()
            tokens.append(int(nxt))
            seconds.append(now - t)
            t = now
        runs.append(seconds)
    return tokens, np.min(runs, axis=0)


def kv_cache_timing(model, prompt: torch.Tensor, n_new: int, repeats: int = 2) -> CacheTiming:
    """Generate ``n_new`` tokens greedily without and with the KV cache and time every step."""
    generate(model, prompt, min(5, n_new), use_cache=True)  # warm-up
    tokens_without, without = _step_times(model, prompt, n_new, False, repeats)
    tokens_with, with_cache = _step_times(model, prompt, n_new, True, repeats)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    sampled = [generate(model, prompt, n_new, temperature=1.0, use_cache=c, generator=g)
               for c, g in ((False, g1), (True, g2))]
    same = tokens_without == tokens_with and torch.equal(*sampled)
    return CacheTiming(without, with_cache, same)


def power_law_fit(sizes, losses) -> tuple[float, float]:
    """``(a, alpha)`` of the least-squares line through ``log L = log a - alpha log N``."""
    slope, intercept = np.polyfit(np.log(np.asarray(sizes, float)), np.log(np.asarray(losses, float)), 1)
    return math.exp(intercept), float(-slope)


def scaling_figure(runs: list[dict], steps: int, colors):
    """Two panels: each run's validation loss against the compute spent so far (``run["compute"]``,
    ``run["val"]``), and the final losses against model size ``run["N"]`` with the fitted power
    law. Returns ``(figure, a, alpha)``."""
    import matplotlib.pyplot as plt
    import matplotlib.ticker as ticker

    N = np.array([r["N"] for r in runs], dtype=float)
    final = np.array([r["final"] for r in runs])
    a, alpha = power_law_fit(N, final)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.2))
    for r, color in zip(runs, colors):
        ax1.plot(r["compute"][1:], r["val"][1:], marker="o", ms=3, color=color, label=r["label"])
    ax1.set(xscale="log", yscale="log", xlabel="training compute (FLOPs)", ylabel="validation loss")
    ax1.set_title("Loss during training", fontsize=10)
    ax1.legend(fontsize=7)
    ax2.scatter(N, final, color=list(colors)[: len(runs)], zorder=3)
    grid = np.logspace(np.log10(N.min()) - 0.2, np.log10(N.max()) + 0.2, 50)
    ax2.plot(grid, a * grid ** -alpha, color="black", ls="--", lw=1, label=f"fit: {a:.2f} N^-{alpha:.3f}")
    ax2.set(xscale="log", yscale="log", xlabel="non-embedding parameters N", ylabel=f"val loss after {steps} steps")
    ax2.set_title("Final loss vs model size", fontsize=10)
    ax2.legend(fontsize=8)
    for ax in (ax1, ax2):  # plain numbers on the log-scaled loss axes
        ax.grid(alpha=0.3, which="both")
        ax.yaxis.set_major_locator(ticker.FixedLocator(np.arange(2.0, 4.6, 0.2)))
        ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%.1f"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    fig.tight_layout()
    return fig, a, alpha
