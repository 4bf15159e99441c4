"""llmcourse.experiments.scaling_runs (lesson 19): the KV-cache timing compares like with like,
and the power-law fit recovers a known exponent."""

import numpy as np
import torch

from llmcourse.experiments.scaling_runs import kv_cache_timing, power_law_fit, scaling_figure
from llmcourse.model import GPT, GPTConfig


def test_cache_timing_times_every_step_both_ways_and_sees_the_same_tokens():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=13, block_size=32, n_layer=2, n_head=2, n_embd=16)).eval()
    t = kv_cache_timing(model, torch.zeros(1, 1, dtype=torch.long), n_new=12, repeats=2)
    assert t.seconds_without.shape == t.seconds_with.shape == (12,)
    assert t.same_tokens and (t.seconds_with > 0).all() and t.speedup > 0


def test_power_law_fit_recovers_the_exponent_and_the_figure_draws_it():
    N = np.array([1e3, 3e3, 1e4, 3e4, 1e5])
    a, alpha = power_law_fit(N, 7.0 * N ** -0.08)
    assert abs(alpha - 0.08) < 1e-9 and abs(a - 7.0) < 1e-6
    runs = [{"N": n, "final": 7.0 * n ** -0.08, "label": str(n), "compute": [1e9, 2e9, 4e9],
             "val": [4.0, 3.0, 7.0 * n ** -0.08]} for n in N]
    fig, a2, alpha2 = scaling_figure(runs, steps=3, colors=["C0", "C1", "C2", "C3", "C4"])
    assert abs(alpha2 - 0.08) < 1e-9 and len(fig.axes) == 2
