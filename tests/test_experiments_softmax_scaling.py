"""The sqrt(d_k) measurement of lesson 11: raw scores have variance d_k and saturate the softmax,
scaled ones do not; the helper reproduces the lesson's hand-written loop draw for draw."""

import math

import torch

from llmcourse.attention import softmax
from llmcourse.experiments import softmax_scaling


def test_raw_scores_saturate_and_scaled_scores_do_not():
    rows = softmax_scaling.measure([4, 64, 1024], n_queries=300, generator=torch.Generator().manual_seed(1))
    for r in rows:
        assert 0.8 * r["d_k"] < r["var"] < 1.2 * r["d_k"]
    raw_max = [r["raw"]["max_w"] for r in rows]
    assert raw_max == sorted(raw_max) and raw_max[-1] > 0.9
    assert rows[-1]["raw"]["grad"] < rows[0]["raw"]["grad"] / 3
    scaled = [r["scaled"]["H"] for r in rows]
    assert max(scaled) - min(scaled) < 0.05 and min(scaled) > 0.8 * math.log(16)


def test_measure_draws_from_the_generator_in_the_lessons_order():
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    row = softmax_scaling.measure([8], n_queries=50, n_keys=5, generator=g1)[0]
    q = torch.randn(50, 1, 8, generator=g2)
    k = torch.randn(50, 5, 8, generator=g2)
    raw = (q @ k.transpose(-2, -1)).squeeze(1)
    torch.randn(50, 5, generator=g2)  # the upstream gradient
    assert row["var"] == raw.var().item()
    assert row["scaled"]["max_w"] == softmax(raw / math.sqrt(8), dim=-1).amax(-1).mean().item()
    assert torch.equal(g1.get_state(), g2.get_state())  # later draws in the lesson are unchanged


def test_table_and_plot():
    rows = softmax_scaling.measure([4, 16], n_queries=20, generator=torch.Generator().manual_seed(0))
    lines = softmax_scaling.table(rows).split("\n")
    assert len(lines) == 4 and lines[2].split()[0] == "4"
    fig = softmax_scaling.plot(rows)
    assert len(fig.axes) == 3
