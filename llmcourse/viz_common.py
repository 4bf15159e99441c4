"""Old import path of :mod:`llmcourse.viz.common` (the figures' shared colours and helpers)."""

from .viz.common import (BLUE, DEFAULT_DPI, GREEN, GREY, MAX_DPI, ORANGE, PALETTE, PURPLE, SKY,  # noqa: F401
                         VERMILLION, WIDGET_DPI, YELLOW, figure_to_png, get_ax, in_notebook, new_figure,
                         to_numpy, token_label, token_labels)
