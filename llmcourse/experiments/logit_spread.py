"""Lesson 17: one figure for the loss of fresh models and the spread of logits.

Left panel: the loss at initialisation of fresh GPTs against the line ``ln V`` (a fresh model
guesses uniformly). Right panel: histograms of the logits of a fresh and a trained model on the
same text, on a log density scale, so that the trained model's wide tails stay visible.

>>> import torch
>>> fig = logit_spread_figure([2, 65], [0.69, 4.17], torch.zeros(10), torch.linspace(-5, 5, 10))
>>> [ax.get_title() for ax in fig.axes]
['a fresh model: loss = ln V', 'all 10 logits of the same text']
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["logit_spread_figure"]


def logit_spread_figure(vocab_sizes: Sequence[int], init_losses: Sequence[float],
                        fresh_logits: torch.Tensor, trained_logits: torch.Tensor,
                        text: str = "the same text"):
    """Draw both panels and return the figure. ``fresh_logits`` and ``trained_logits`` are any
    shape (they are flattened); ``text`` names what they were computed on, for the title."""
    import matplotlib.pyplot as plt
    import numpy as np

    from llmcourse import viz

    if len(vocab_sizes) != len(init_losses):
        raise ValueError(f"give one loss per vocabulary size: {len(vocab_sizes)} sizes, "
                         f"{len(init_losses)} losses.")
    fresh = fresh_logits.detach().flatten().float().cpu().numpy()
    trained = trained_logits.detach().flatten().float().cpu().numpy()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.3))
    grid = np.logspace(np.log10(min(vocab_sizes)), np.log10(max(vocab_sizes)), 50)
    ax1.plot(grid, np.log(grid), color=viz.GREY, lw=2, label=r"$\ln V$")
    ax1.plot(vocab_sizes, init_losses, "o", color=viz.BLUE, label="loss of a fresh GPT")
    ax1.set_xscale("log")
    ax1.set_xlabel("vocabulary size V")
    ax1.set_ylabel("loss at initialisation")
    ax1.set_title("a fresh model: loss = ln V", fontsize=10)
    ax1.legend(fontsize=8)
    bins = np.linspace(-15, 15, 121)
    ax2.hist(fresh, bins=bins, color=viz.ORANGE, alpha=0.7, density=True, label="fresh model")
    ax2.hist(trained, bins=bins, color=viz.BLUE, alpha=0.6, density=True, label="trained model")
    ax2.set_yscale("log")
    ax2.set_xlabel("logit value")
    ax2.set_ylabel("density (log scale)")
    ax2.set_title(f"all {trained.size:,d} logits of {text}", fontsize=10)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig
