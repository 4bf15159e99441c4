"""Where the norm sits sets the scale of the residual stream (lesson 6).

A stream of ``n_tokens`` vectors of width ``d`` starts at GPT-2's embedding scale (std 0.02) and
passes through ``n_layers`` sublayers. Each sublayer is a random linear map that keeps the scale of
its input: a stand-in for attention or an MLP, which later lessons build. The two arrangements:

- pre-LN (GPT-2): ``x <- x + sublayer(LN(x))``: the stream itself is never normalised, and every
  layer adds a vector of std about 1 to it, so its std grows with depth (about sqrt(depth));
- post-LN (2017): ``x <- LN(x + sublayer(x))``: the stream is normalised after every layer, so its
  std is pinned at 1 (0.99 after the first layer, where eps still counts against the tiny
  embeddings).

>>> pre = stream_std_by_depth(n_layers=8, norm_position="pre")
>>> post = stream_std_by_depth(n_layers=8, norm_position="post")
>>> len(pre), round(pre[0], 2), pre[8] > 2 * pre[1]
(9, 0.02, True)
>>> [round(s, 2) for s in post[1:4]]
[0.99, 1.0, 1.0]
"""

from __future__ import annotations

import math

import torch

from llmcourse.norm import layer_norm

POSITIONS = ("pre", "post")


def stream_std_by_depth(n_layers: int = 12, norm_position: str = "pre", d: int = 64, n_tokens: int = 32,
                        init_std: float = 0.02, seed: int = 0) -> list[float]:
    """The residual stream's per-token standard deviation (averaged over tokens) before the first
    layer and after each of ``n_layers`` layers: a list of ``n_layers + 1`` numbers.

    ``norm_position`` is ``"pre"`` or ``"post"``; ``seed`` fixes the embeddings and the random
    sublayers (a local generator: torch's global random state is left alone), so both arrangements
    can be run on the same weights.

    >>> stream_std_by_depth(n_layers=2, norm_position="middle")
    Traceback (most recent call last):
    ...
    ValueError: norm_position must be 'pre' or 'post', got 'middle'.
    """
    if norm_position not in POSITIONS:
        raise ValueError(f"norm_position must be 'pre' or 'post', got {norm_position!r}.")
    if n_layers < 0:
        raise ValueError(f"n_layers must be 0 or more, got {n_layers}.")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_tokens, d, generator=g) * init_std  # (T, d) embeddings at GPT-2's scale
    stds = [x.std(-1, unbiased=False).mean().item()]
    for _ in range(n_layers):
        W = torch.randn(d, d, generator=g) / math.sqrt(d)  # (d, d): keeps the scale of its input
        if norm_position == "pre":
            x = x + layer_norm(x) @ W  # the sublayer reads a normalised copy and adds its output
        else:
            x = layer_norm(x + x @ W)  # the sum itself is normalised
        stds.append(x.std(-1, unbiased=False).mean().item())
    return stds
