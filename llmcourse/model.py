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
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._checks import check_positive_int, check_token_ids, describe
from .attention import KVCache
from .block import TransformerBlock, make_norm
from .embedding import InputEmbedding


@dataclass
class GPTConfig:
    """Lesson 16: every size and switch of a GPT. The defaults of the switches are GPT-2's.

    ``pos_embedding``: ``"learned"`` (GPT-2), ``"sinusoidal"`` or ``"rope"``.
    ``norm_position``: ``"pre"`` (GPT-2) or ``"post"`` (2017 paper). ``norm``: ``"layer"`` or ``"rms"``.
    ``fast_attention``: use ``F.scaled_dot_product_attention`` (same numbers, faster).
    """

    vocab_size: int = 50257
    block_size: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True
    pos_embedding: str = "learned"
    norm_position: str = "pre"
    norm: str = "layer"
    ln_eps: float = 1e-5
    tie_weights: bool = True
    fast_attention: bool = True
    activation: str = "gelu_tanh"

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            check_positive_int(getattr(self, name), name)
        if self.n_embd % self.n_head:
            ok = [h for h in range(1, self.n_embd + 1) if self.n_embd % h == 0 and h <= 64]
            raise ValueError(
                f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}: each head needs "
                f"n_embd // n_head channels. Choose n_head from {ok} or change n_embd."
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}.")
        choices = {"pos_embedding": ("learned", "sinusoidal", "rope"),
                   "norm_position": ("pre", "post"), "norm": ("layer", "rms"),
                   "activation": ("gelu_tanh", "gelu", "relu")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}.")
        if self.pos_embedding == "rope" and (self.n_embd // self.n_head) % 2:
            raise ValueError("RoPE needs an even head size (n_embd // n_head).")

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GPTConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown GPTConfig fields {sorted(unknown)}; known: {sorted(known)}.")
        return cls(**d)


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
        self.blocks = nn.ModuleList(
            TransformerBlock(c.n_embd, c.n_head, dropout=c.dropout, bias=c.bias,
                             norm_position=c.norm_position, norm=c.norm, ln_eps=c.ln_eps,
                             rope=c.pos_embedding == "rope", max_positions=c.block_size,
                             fast_attention=c.fast_attention, activation=c.activation)
            for _ in range(c.n_layer)
        )
        self.ln_f = make_norm(c.norm, c.n_embd, c.ln_eps, c.bias)
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
        from .hf import from_hf_gpt2

        return from_hf_gpt2(hf_model)


def hidden_states(model: GPT, idx: torch.Tensor) -> list[torch.Tensor]:
    """Lessons 16-17: the residual stream of ``model`` on ``idx``, layer by layer.

    Returns ``n_layer + 1`` tensors of shape ``(B, T, n_embd)``: the input embedding, then the
    stream after each block. The final norm and the LM head are not applied (``model.ln_f`` and
    ``model.lm_head`` turn the last entry into the logits). Gradients flow unless the caller uses
    ``torch.no_grad()``.

    >>> m = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=3, n_head=2, n_embd=16)).eval()
    >>> hs = hidden_states(m, torch.tensor([[1, 2, 3]]))
    >>> len(hs), tuple(hs[0].shape)                 # embedding + 3 blocks, each (B, T, C)
    (4, (1, 3, 16))
    >>> torch.allclose(m.lm_head(m.ln_f(hs[-1])), m(torch.tensor([[1, 2, 3]])))
    True
    """
    if not isinstance(model, GPT):
        raise TypeError(f"hidden_states expects a GPT model, got {describe(model)}.")
    check_token_ids(idx, model.config.vocab_size)
    x = model.embed(idx, checked=True)  # (B, T, C)
    states = [x]
    for block in model.blocks:
        x = block(x)  # (B, T, C): the same shape after every block
        states.append(x)
    return states
