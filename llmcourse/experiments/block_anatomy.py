"""Lesson 15: measurements on one transformer block and on a stack of them.

- :func:`influence_map`: which output positions of a function move when one input position is
  nudged (attention branch: lower triangle; MLP branch: diagonal). :func:`branch_influence`
  computes it for both branches of a block and for the whole block.
- :func:`stream_trace`: the size of the residual stream of a pre-LN GPT after the embedding and
  after every residual addition, and the size of each addition.
- :func:`compare_norm_positions`: two GPTs that differ only in ``norm_position`` ("pre" and
  "post"): the stream's size after each block at initialisation, and the training loss of a short
  run with the same data, the same initial weights and no learning-rate warmup.

Each has a ``plot_...`` companion that draws the lesson's figure (dpi 80).

>>> import torch
>>> from llmcourse.block import TransformerBlock
>>> _ = torch.manual_seed(0)
>>> maps = branch_influence(TransformerBlock(8, 2).eval(), torch.randn(1, 3, 8))
>>> maps["MLP branch"]
tensor([[1., 0., 0.],
        [0., 1., 0.],
        [0., 0., 1.]])
>>> maps["attention branch"]
tensor([[1., 0., 0.],
        [1., 1., 0.],
        [1., 1., 1.]])
"""

from __future__ import annotations

from typing import Callable

import torch

from ..config import GPTConfig
from ..data import BatchSampler
from ..model import GPT, hidden_states


def influence_map(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, seed: int = 0,
                  tol: float = 1e-6) -> torch.Tensor:
    """Entry ``[t, s]`` is 1.0 when output position ``t`` of ``f(x)`` changes after only input
    position ``s`` of ``x`` (shape ``(B, T, C)``) is nudged, else 0.0; shape ``(T, T)``.

    The nudge is a random direction (from ``seed``), not a constant: a LayerNorm subtracts each
    row's mean, so adding the same number to every channel would be erased.

    >>> influence_map(lambda z: z.cumsum(dim=1), torch.zeros(1, 2, 3))   # a running sum over time
    tensor([[1., 0.],
            [1., 1.]])
    """
    T = x.shape[1]
    base = f(x)
    dep = torch.zeros(T, T)
    g = torch.Generator().manual_seed(seed)
    for s in range(T):
        x2 = x.clone()
        x2[:, s] += torch.randn(x.shape[-1], generator=g, dtype=x.dtype)  # (C,) position s only
        dep[:, s] = ((f(x2) - base).abs().amax(dim=(0, 2)) > tol).float()  # (T,) per output position
    return dep


@torch.no_grad()
def branch_influence(block, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """:func:`influence_map` of a pre-LN block's attention branch ``attn(ln_1(x))``, its MLP branch
    ``mlp(ln_2(x))`` and the whole block, on the stream ``x`` of shape ``(B, T, C)``."""
    return {"attention branch": influence_map(lambda z: block.attn(block.ln_1(z)), x),
            "MLP branch": influence_map(lambda z: block.mlp(block.ln_2(z)), x),
            "whole block": influence_map(block, x)}


def plot_influence(maps: dict[str, torch.Tensor], labels: list[str]):
    """One heat map per entry of :func:`branch_influence`; returns the figure."""
    import matplotlib.pyplot as plt

    from .. import viz

    fig, axes = plt.subplots(1, len(maps), figsize=(3 * len(maps), 3.1), dpi=80)
    for ax, (title, m) in zip(axes, maps.items()):
        viz.heatmap(m, labels, labels, ax=ax, title=title, cmap="cividis", vmin=0, vmax=1,
                    colorbar=False, fmt="{:.0f}", xlabel="nudged input s")
    axes[0].set_ylabel("output position t")
    fig.suptitle("1 = the output at t moved when only the input at s changed", fontsize=10)
    fig.tight_layout()
    return fig


@torch.no_grad()
def stream_trace(model: GPT, idx: torch.Tensor) -> dict[str, list]:
    """Walk ``idx`` (shape ``(B, T)``) through a pre-LN ``model`` one residual addition at a time.

    Returns ``steps`` (labels: ``"embedding"``, ``"1: + attn"``, ``"1: + MLP"``, ...), ``stream``
    (mean row length of the stream after each step, one more than ``writes``) and ``writes``
    (mean row length of each addition). The walk ends where ``hidden_states`` ends, which it is
    checked against.
    """
    steps, stream, writes = ["embedding"], [], []
    s = model.embed(idx)  # (B, T, C)
    stream.append(s.norm(dim=-1).mean().item())
    for i, blk in enumerate(model.blocks, 1):
        for name, ln, sub in (("attn", blk.ln_1, blk.attn), ("MLP", blk.ln_2, blk.mlp)):
            w = sub(ln(s))  # (B, T, C) what the sublayer writes
            s = s + w
            steps.append(f"{i}: + {name}")
            stream.append(s.norm(dim=-1).mean().item())
            writes.append(w.norm(dim=-1).mean().item())
    if not torch.allclose(s, hidden_states(model, idx)[-1], atol=1e-5):
        raise ValueError("stream_trace needs a pre-LN model: the walk does not end where the model's "
                         "own forward pass does.")
    return {"steps": steps, "stream": stream, "writes": writes}


def plot_stream_trace(trace: dict[str, list]):
    """Bars for the size of each addition, a line for the size of the stream; returns the figure."""
    import matplotlib.pyplot as plt

    from .. import viz

    steps, stream, writes = trace["steps"], trace["stream"], trace["writes"]
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=80)
    pos = list(range(len(steps)))
    ax.bar(pos[1::2], writes[0::2], color=viz.BLUE, alpha=0.6, label="size of the attention addition")
    ax.bar(pos[2::2], writes[1::2], color=viz.ORANGE, alpha=0.6, label="size of the MLP addition")
    ax.plot(pos, stream, "o-", color="black", label="size of the stream after the step")
    ax.set_xticks(pos)
    ax.set_xticklabels(steps, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel(r"mean $\Vert x_t \Vert$ over positions")
    ax.set_title("residual stream of the trained model, step by step", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def compare_norm_positions(train_ids: torch.Tensor, vocab_size: int, steps: int, device="cpu",
                           n_layer: int = 6, n_embd: int = 64, n_head: int = 4, block_size: int = 32,
                           batch_size: int = 16, lr: float = 3e-3, seed: int = 0) -> dict[str, dict]:
    """Train a pre-LN and a post-LN GPT (otherwise identical, same initial weights and batches)
    for ``steps`` AdamW steps at a fixed ``lr`` without warmup, on ``train_ids`` (1-D token ids).

    Returns ``{"norms": {"pre": [...], "post": [...]}, "losses": {...}}``: the mean row length of
    the stream after the embedding and after each block at initialisation (on the first
    ``block_size`` tokens), and the training loss of every step.
    """
    norms, losses = {}, {}
    probe = train_ids[:block_size].view(1, block_size)  # (1, T)
    for position in ("pre", "post"):
        torch.manual_seed(seed)
        cfg = GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=n_head,
                        n_embd=n_embd, norm_position=position)
        net = GPT(cfg)
        with torch.no_grad():
            norms[position] = [h.norm(dim=-1).mean().item() for h in hidden_states(net, probe)]
        net.to(device)
        opt = torch.optim.AdamW(net.parameters(), lr=lr)
        batches = BatchSampler(train_ids, batch_size=batch_size, block_size=block_size, seed=seed, device=device)
        losses[position] = []
        for _ in range(steps):
            xb, yb = batches.next_batch()  # (batch_size, block_size) each
            _, loss = net(xb, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses[position].append(loss.item())
    return {"norms": norms, "losses": losses}


def plot_norm_positions(result: dict[str, dict], lr: float = 3e-3):
    """Left: stream size per block at initialisation (log scale). Right: the training losses."""
    import matplotlib.pyplot as plt

    from .. import viz

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3), dpi=80)
    colors = {"pre": viz.BLUE, "post": viz.ORANGE}
    for name in ("pre", "post"):
        ax1.plot(result["norms"][name], "o-", color=colors[name], label=f"{name}-LN")
        ax2.plot(result["losses"][name], color=colors[name], alpha=0.8, label=f"{name}-LN")
    ax1.set_xlabel("after block (0 = embedding)")
    ax1.set_ylabel(r"mean $\Vert x_t \Vert$")
    ax1.set_yscale("log")
    ax1.set_yticks([0.1, 0.3, 1, 3, 10], labels=["0.1", "0.3", "1", "3", "10"])
    ax1.minorticks_off()
    ax1.set_title("stream size at initialisation", fontsize=10)
    ax2.set_xlabel("training step")
    ax2.set_ylabel("training loss")
    ax2.set_title(f"lr {lr:g}, no warmup", fontsize=10)
    for ax in (ax1, ax2):
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
