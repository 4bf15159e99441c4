"""Old import path of :mod:`llmcourse.viz.loss` (static and live loss curves)."""

from .viz.loss import LiveLossPlot, loss_curve, loss_series  # noqa: F401
