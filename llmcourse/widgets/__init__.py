"""Interactive explorers for the lessons (ipywidgets 7.7 and 8.x).

- :func:`sampling_explorer` (lessons 1, 18, 20): temperature, top-k, top-p and greedy over given
  logits or a model's next-token distribution; "sample N times"; "generate".
- :func:`attention_explorer` (lessons 7-11): attention heatmaps by layer, head and query.

Each explorer's logic is a pure function that tests call directly (:func:`sampling_state`,
:func:`attention_view`); the widgets only read controls and show the result. In a notebook the
explorer appears as a live widget, with a static picture and a text table for viewers that
cannot run widgets (GitHub, nbviewer); in a terminal the table is printed.

>>> ex = sampling_explorer([2.0, 1.0, 0.5, 0.0], ["on", "the", "mat", "in"], display=False)
>>> ex.top_p.value = 0.7                       # what moving the slider does
>>> ex.state["kept"].tolist()
[True, True, False, False]
>>> print(ex.text().splitlines()[-1])
T=1.00, top-k off, top-p 0.70: kept 2 of 4 tokens, kept mass 0.792, entropy 0.582 nats (before filters 1.110)
"""

from ._base import Explorer, ipywidgets_major
from .attention_ui import (AttentionExplorer, attention_explorer, attention_state, attention_view,
                           render_attention)
from .sampler import draw_sampling, format_sampling, render_sampling, sample_counts, sampling_state
from .sampling_ui import SamplingExplorer, sampling_explorer

__all__ = ["sampling_explorer", "SamplingExplorer", "sampling_state", "sample_counts", "draw_sampling",
           "format_sampling", "render_sampling", "attention_explorer", "AttentionExplorer",
           "attention_state", "attention_view", "render_attention", "Explorer", "ipywidgets_major"]
