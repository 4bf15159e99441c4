"""The lesson-17 figure draws the ln V line with the losses on it, and both logit histograms."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from llmcourse.experiments.logit_spread import logit_spread_figure  # noqa: E402


def test_both_panels_hold_what_they_say():
    fig = logit_spread_figure([2, 8, 65], [0.7, 2.1, 4.2], torch.zeros(4, 5), torch.randn(3, 7),
                              text="8 windows")
    left, right = fig.axes
    assert len(left.lines) == 2 and list(left.lines[1].get_xdata()) == [2, 8, 65]
    assert len(right.patches) == 2 * 120  # two histograms of 120 bins each
    assert right.get_title() == "all 21 logits of 8 windows"
    plt.close(fig)


def test_mismatched_losses_are_refused():
    with pytest.raises(ValueError, match="one loss per vocabulary size"):
        logit_spread_figure([2, 8], [0.7], torch.zeros(3), torch.zeros(3))
