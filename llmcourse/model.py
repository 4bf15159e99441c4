"""The whole GPT: input embedding, a stack of blocks, final norm, tied LM head (lessons 16-17).

>>> import torch
>>> cfg = GPTConfig(vocab_size=65, block_size=16, n_layer=2, n_head=2, n_embd=32)
>>> model = GPT(cfg)
>>> g = torch.Generator().manual_seed(0)
>>> idx = torch.randint(0, 65, (4, 16), generator=g)
>>> model(idx).shape                          # (B, T) -> (B, T, vocab_size)
torch.Size([4, 16, 65])
>>> targets = torch.randint(0, 65, (4, 16), generator=g)
>>> logits, loss = model(idx, targets)        # loss at init is close to ln(65) = 4.17
>>> abs(loss.item() - 4.17) < 0.1
True
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._checks import check_token_ids, describe
from .attention import KVCache
from .block import TransformerBlock
from .config import GPTConfig
from .embedding import InputEmbedding
from .norm import make_norm

__all__ = ["GPT", "GPTConfig", "hidden_states"]  # GPTConfig lives in llmcourse.config


class GPT(nn.Module):
    """Lessons 16-17: a decoder-only transformer language model.

    ``model(idx)`` returns logits ``(B, T, vocab_size)``; ``model(idx, targets)`` returns
    ``(logits, loss)`` with the mean cross-entropy over all positions (targets ``-100`` ignored).

    ``idx`` is checked once, here (its type and shape, and that every id is below
    ``vocab_size``). ``check_ids=False`` skips reading the ids' values, which on a GPU waits for
    the device; the trainer passes it for batches cut from a corpus it checked once.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"GPT expects a GPTConfig, got {describe(config)}.")
        self.config = c = config
        self.embed = InputEmbedding(c.vocab_size, c.block_size, c.n_embd, c.dropout,
                                    pos="none" if c.pos_embedding == "rope" else c.pos_embedding)
        self.blocks = nn.ModuleList(TransformerBlock(c) for _ in range(c.n_layer))
        self.ln_f = make_norm(c)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale residual projections by depth
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layer))
        if c.tie_weights:
            self.lm_head.weight = self.embed.tok.weight  # one (vocab, n_embd) matrix, used twice

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif hasattr(module, "weight") and module.__class__.__name__ in ("TokenEmbedding",
                                                                         "LearnedPositionalEmbedding"):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None,
                kv_cache: KVCache | None = None, check_ids: bool = True):
        check_token_ids(idx, self.config.vocab_size, values=check_ids)
        offset = kv_cache.length if kv_cache is not None else 0
        if offset + idx.shape[1] > self.config.block_size:
            raise ValueError(
                f"sequence of length {idx.shape[1]} (after {offset} cached tokens) exceeds "
                f"block_size={self.config.block_size}. Crop the context: idx[:, -{self.config.block_size}:]."
            )
        x = self.embed(idx, offset=offset, checked=True)  # (B, T, C)
        for i, block in enumerate(self.blocks):
            x = block(x, kv_cache.layers[i] if kv_cache is not None else None)  # (B, T, C)
        logits = self.lm_head(self.ln_f(x))  # (B, T, vocab_size)
        if targets is None:
            return logits
        if not isinstance(targets, torch.Tensor) or targets.shape != idx.shape:
            raise ValueError(
                f"targets must have the same shape as idx {tuple(idx.shape)} (the next token at "
                f"each position), got {describe(targets)}."
            )
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(),  # (B*T, V)
                               targets.reshape(-1).long(), ignore_index=-100)
        return logits, loss

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """Unique parameters (the tied head counted once); optionally without the embeddings."""
        n = sum(p.numel() for p in self.parameters())
        if exclude_embeddings:
            n -= self.embed.tok.weight.numel()
            if isinstance(getattr(self.embed, "pos", None), nn.Module):
                n -= sum(p.numel() for p in self.embed.pos.parameters())
        return n

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> torch.Tensor:
        """Lessons 7-11: attention weights of every layer and head, ``(n_layer, B, n_head, T, T)``."""
        attns = [blk.attn for blk in self.blocks]
        for a in attns:
            a.save_weights = True
        try:
            was_training = self.training
            self.eval()
            self(idx)
            self.train(was_training)
            return torch.stack([a.last_weights for a in attns])
        finally:
            for a in attns:
                a.save_weights, a.last_weights = False, None

    def new_kv_cache(self) -> KVCache:
        return KVCache(self.config.n_layer)

    @classmethod
    def from_hf_gpt2(cls, hf_model) -> "GPT":
        """Copy a ``transformers.GPT2LMHeadModel`` (weights and sizes) into a :class:`GPT`."""
        from .hf import config_kwargs_from_hf, load_hf_gpt2_weights

        return load_hf_gpt2_weights(cls(GPTConfig(**config_kwargs_from_hf(hf_model.config))), hf_model)


def hidden_states(model: GPT, idx: torch.Tensor) -> list[torch.Tensor]:
    """Lessons 16-17: the residual stream of ``model`` on ``idx``, layer by layer.

    Returns ``n_layer + 1`` tensors of shape ``(B, T, n_embd)``: the input embedding, then the
    stream after each block. The final norm and the LM head are not applied (``model.ln_f`` and
    ``model.lm_head`` turn the last entry into the logits). Gradients flow unless the caller uses
    ``torch.no_grad()``. The states are collected with forward hooks during one ordinary
    ``model(idx)`` call, so they are exactly what the forward pass computes.

    >>> m = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=3, n_head=2, n_embd=16)).eval()
    >>> hs = hidden_states(m, torch.tensor([[1, 2, 3]]))
    >>> len(hs), tuple(hs[0].shape)                 # embedding + 3 blocks, each (B, T, C)
    (4, (1, 3, 16))
    >>> torch.allclose(m.lm_head(m.ln_f(hs[-1])), m(torch.tensor([[1, 2, 3]])))
    True
    """
    if not isinstance(model, GPT):
        raise TypeError(f"hidden_states expects a GPT model, got {describe(model)}.")
    states: list[torch.Tensor] = []
    keep = lambda module, inputs, output: states.append(output)  # noqa: E731
    hooks = [m.register_forward_hook(keep) for m in (model.embed, *model.blocks)]
    try:
        model(idx)  # the model's own forward pass, with its checks; the hooks collect the stream
    finally:
        for h in hooks:
            h.remove()
    return states
