"""The sizes and switches of a GPT, in one dataclass that flows down the model (lesson 16).

``GPT(config)`` hands the same :class:`GPTConfig` to every block, and each block hands it to its
attention, MLP and norms: each part reads the fields it needs. The checks live here, once, so a
bad size is reported when the config is made, not deep inside a forward pass.

The parts can also be built on their own from sizes, as the lessons do:
``MultiHeadAttention(32, 4)`` is ``MultiHeadAttention(GPTConfig(n_embd=32, n_head=4))``
(:func:`as_config` makes that config).

>>> cfg = GPTConfig(vocab_size=65, block_size=16, n_layer=2, n_head=2, n_embd=32)
>>> cfg.head_dim
16
>>> as_config(32, 4).n_head
4
>>> GPTConfig(n_embd=30, n_head=4)
Traceback (most recent call last):
...
ValueError: n_embd=30 is not divisible by n_head=4: each head needs n_embd // n_head channels. Choose n_head from [1, 2, 3, 5, 6, 10, 15, 30] or change n_embd.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ._checks import check_positive_int

#: The values of the switches, checked once by :class:`GPTConfig`.
CHOICES = {"pos_embedding": ("learned", "sinusoidal", "rope"),
           "norm_position": ("pre", "post"), "norm": ("layer", "rms"),
           "activation": ("gelu_tanh", "gelu", "relu")}


@dataclass
class GPTConfig:
    """Lesson 16: every size and switch of a GPT. The defaults of the switches are GPT-2's.

    ``pos_embedding``: ``"learned"`` (GPT-2), ``"sinusoidal"`` or ``"rope"``.
    ``norm_position``: ``"pre"`` (GPT-2) or ``"post"`` (2017 paper). ``norm``: ``"layer"`` or ``"rms"``.
    ``fast_attention``: attention runs ``F.scaled_dot_product_attention`` (same numbers, faster)
    instead of the readable softmax(QK^T/sqrt(d))V of lessons 7-11.
    ``fused_kernels``: norms, GELU and RoPE run PyTorch's fused kernels (``F.layer_norm``,
    ``F.rms_norm``, ``F.gelu``, RoPE as one complex multiplication) instead of the readable forms
    of lessons 4, 6 and 13; same numbers, faster. The trainer turns it on.
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
    fused_kernels: bool = False
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
        for name, allowed in CHOICES.items():
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


def as_config(config: "GPTConfig | int | None" = None, n_head: int | None = None, **options) -> GPTConfig:
    """The :class:`GPTConfig` a part of the model is built from.

    A part takes its model's config (``TransformerBlock(config)``), or, when a lesson builds it on
    its own, sizes and switches named as in :class:`GPTConfig`: ``TransformerBlock(8, 2)`` and
    ``TransformerBlock(n_embd=8, n_head=2, norm_position="post")``. Sizes a part does not use
    keep GPT-2's defaults.
    """
    if isinstance(config, GPTConfig):
        if n_head is not None or options:
            raise TypeError("pass either a GPTConfig or sizes (n_embd, n_head, ...), not both.")
        return config
    if config is not None:
        options["n_embd"] = config
    if n_head is not None:
        options["n_head"] = n_head
    if "n_embd" in options and "n_head" not in options:
        options["n_head"] = 1
    known = {f.name for f in fields(GPTConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unknown option(s) {unknown}; the options are GPTConfig's fields: {sorted(known)}.")
    return GPTConfig(**options)
