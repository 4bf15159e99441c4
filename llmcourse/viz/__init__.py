"""Figures for every lesson: one folder, three modules.

==========  ==================================================================================
module      holds
==========  ==================================================================================
``figures`` ``heatmap``, ``attention_heatmap``, ``positional_heatmap``, ``pca_2d``,
            ``embedding_scatter``, ``probability_bars``
``loss``    ``loss_curve`` (a training history) and ``LiveLossPlot`` (during training)
``common``  the shared colours (Okabe-Ito, colour-blind safe), small figures, PNG rendering,
            token labels; used by the figures and by :mod:`llmcourse.widgets`
==========  ==================================================================================

Everything is importable from ``llmcourse.viz``:

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> from llmcourse import viz
>>> ax = viz.heatmap([[1.0, 0.0], [0.5, 0.5]], ["a", "b"], ["a", "b"])
>>> ax.get_title(), viz.BLUE
('', '#0072B2')
"""

from __future__ import annotations

from .common import (BLUE, DEFAULT_DPI, GREEN, GREY, MAX_DPI, ORANGE, PALETTE, PURPLE, SKY, VERMILLION,
                     WIDGET_DPI, YELLOW, figure_to_png, get_ax, in_notebook, new_figure, to_numpy, token_label,
                     token_labels)
from .figures import attention_heatmap, embedding_scatter, heatmap, pca_2d, positional_heatmap, probability_bars
from .loss import LiveLossPlot, loss_curve, loss_series

__all__ = ["heatmap", "attention_heatmap", "positional_heatmap", "pca_2d", "embedding_scatter",
           "probability_bars", "loss_curve", "loss_series", "LiveLossPlot", "token_label", "token_labels",
           "new_figure", "figure_to_png", "get_ax", "in_notebook", "to_numpy",
           "BLUE", "ORANGE", "SKY", "GREEN", "VERMILLION", "PURPLE", "YELLOW", "GREY", "PALETTE",
           "MAX_DPI", "DEFAULT_DPI", "WIDGET_DPI"]
