"""Training settings and the learning-rate schedule (lesson 20). The named presets are in
:mod:`llmcourse.training.presets`.

A :class:`TrainConfig` holds the :class:`~llmcourse.config.GPTConfig` of the model it trains
(``model``) and the settings of the run itself. The vocabulary comes from the tokenizer, so
``model.vocab_size`` is filled in when the run starts (:meth:`TrainConfig.model_config`).

The schedule warms up linearly for ``warmup_iters`` steps, then follows a cosine from
``learning_rate`` down to ``min_lr``. Its clock is the *progress* of the run, a number from 0 to 1:
``step / max_iters`` for a step budget, ``elapsed / max_time`` for a wall-clock budget (the larger
of the two when both are set), so a time-budgeted run still ends with a small learning rate.

>>> cfg = TrainConfig(learning_rate=1e-3, min_lr=1e-4, warmup_iters=10, max_iters=100)
>>> [round(learning_rate_at(s, s / 100, cfg), 6) for s in (0, 9, 50, 100)]
[0.0001, 0.000982, 0.00055, 0.0001]
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields

from ..config import GPTConfig


#: The values ``TrainConfig.optimizer`` and ``TrainConfig.precision`` take (and the CLI offers).
OPTIMIZERS = ("adamw", "muon")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: The values ``TrainConfig.compile_mode`` takes: ``torch.compile``'s modes ("reduce-overhead"
#: replays each step's kernels as one CUDA graph on a GPU).
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")


def _one_of(values: tuple[str, ...]) -> str:
    return ", ".join(repr(v) for v in values[:-1]) + f" or {values[-1]!r}"


def _default_model() -> GPTConfig:
    return GPTConfig(block_size=64, n_layer=4, n_head=4, n_embd=128, activation="gelu")


#: GPTConfig fields a run sets through its ``model`` (the vocabulary comes from the tokenizer).
MODEL_FIELDS = tuple(f.name for f in fields(GPTConfig) if f.name not in ("vocab_size", "fused_kernels"))


@dataclass
class TrainConfig:
    """Lesson 20: everything a training run needs besides the text.

    ``model``: the :class:`~llmcourse.config.GPTConfig` of the model (its ``vocab_size`` comes from
    the tokenizer). Budget: ``max_iters`` steps and/or ``max_time`` seconds of wall time
    (evaluations included); the run stops at whichever comes first. ``batch_size`` is the global
    batch: under ``torchrun`` each of N processes takes ``batch_size / N`` rows of it.
    :meth:`replace` (and ``Trainer(preset, **changes)``) also takes the model's fields by name:
    ``cfg.replace(n_layer=2, max_iters=50)``.
    """

    model: GPTConfig = field(default_factory=_default_model)
    # data
    corpus: str = "tinyshakespeare"
    val_fraction: float = 0.1
    batch_size: int = 12
    # optimiser: "adamw" (weight decay on matrices only), or "muon": Muon (llmcourse.training.optim) for the
    # blocks' weight matrices and AdamW for the rest, with the same learning rate and weight decay
    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    # budget
    max_iters: int | None = 2000
    max_time: float | None = None
    # evaluation, logging, checkpoints
    eval_interval: int = 250
    eval_iters: int = 20
    log_interval: int = 10
    checkpoint_interval: int | None = None  # steps between checkpoints; None: at every evaluation
    # reproducibility and speed
    seed: int = 1337
    device: str | None = None  # None: CUDA, then Apple MPS, then CPU
    compile: bool = False
    compile_mode: str = "default"  # with compile: one of COMPILE_MODES
    fast_kernels: bool = True
    # "fp32", "bf16" (the forward pass under bfloat16 autocast; weights, gradients and optimizer
    # state stay float32), "fp16" (float16 autocast with a gradient scaler) or "auto": bf16 where
    # the device multiplies bf16 matrices natively (a CPU with AVX-512 BF16 or AMX, a CUDA GPU of
    # capability >= 8.0), fp16 on CUDA GPUs of capability 7.x, fp32 elsewhere
    # (training.speed.resolve_precision)
    precision: str = "auto"

    def __post_init__(self):
        if isinstance(self.model, dict):
            self.model = GPTConfig.from_dict(self.model)
        if not isinstance(self.model, GPTConfig):
            raise TypeError(f"model must be a GPTConfig, got {type(self.model).__name__}.")
        for name in ("batch_size", "eval_interval", "eval_iters", "log_interval"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}.")
        if self.max_iters is None and self.max_time is None:
            raise ValueError("set a budget: max_iters (steps) and/or max_time (seconds).")
        if self.max_iters is not None and (isinstance(self.max_iters, bool) or not isinstance(self.max_iters, int)
                                           or self.max_iters < 0):
            raise ValueError(f"max_iters must be an integer >= 0 or None, got {self.max_iters!r}.")
        if self.max_time is not None and not (isinstance(self.max_time, (int, float)) and self.max_time > 0):
            raise ValueError(
                f"max_time must be a number of seconds > 0 (or None for no time limit), got {self.max_time!r}."
            )
        if not 0 <= self.min_lr <= self.learning_rate:
            raise ValueError(f"need 0 <= min_lr <= learning_rate, got min_lr={self.min_lr}, "
                             f"learning_rate={self.learning_rate}.")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be {_one_of(OPTIMIZERS)}, got {self.optimizer!r}.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be {_one_of(PRECISIONS)}, got {self.precision!r}.")
        if self.compile_mode not in COMPILE_MODES:
            raise ValueError(f"compile_mode must be {_one_of(COMPILE_MODES)}, got {self.compile_mode!r}.")
        if self.warmup_iters < 0:
            raise ValueError(f"warmup_iters must be >= 0, got {self.warmup_iters}.")

    def model_config(self, vocab_size: int) -> GPTConfig:
        """The :class:`~llmcourse.config.GPTConfig` of the model this run trains: ``model`` with
        the tokenizer's vocabulary, and the fused kernels on when ``fast_kernels`` is."""
        return dataclasses.replace(self.model, vocab_size=vocab_size, fused_kernels=self.fast_kernels)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """The inverse of :meth:`to_dict`; also reads the flat form older checkpoints hold (the
        model's fields beside the run's)."""
        d = dict(d)
        flat = {k: d.pop(k) for k in list(d) if k in MODEL_FIELDS}
        model = d.pop("model", None)
        model = _default_model() if model is None else (GPTConfig.from_dict(model) if isinstance(model, dict) else model)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; known: {sorted(known | set(MODEL_FIELDS))}.")
        return cls(model=dataclasses.replace(model, **flat), **d)

    def replace(self, **changes) -> "TrainConfig":
        """A copy with some fields changed; the model's fields (``n_layer``, ``block_size``, ...)
        change its ``model`` (unknown names raise a clear error).

        >>> TrainConfig().replace(n_layer=2, max_iters=10).model.n_layer
        2
        """
        model_changes = {k: changes.pop(k) for k in list(changes) if k in MODEL_FIELDS}
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; known: {sorted(known | set(MODEL_FIELDS))}.")
        model = changes.pop("model", self.model)
        if model_changes:
            model = dataclasses.replace(model, **model_changes)
        return dataclasses.replace(self, model=model, **changes)


def progress(step: int, elapsed: float, cfg: TrainConfig) -> float:
    """Fraction of the budget used, in ``[0, 1]``: the larger of the step and time fractions."""
    p = 0.0
    if cfg.max_iters is not None:
        p = max(p, step / cfg.max_iters if cfg.max_iters > 0 else 1.0)
    if cfg.max_time is not None:
        p = max(p, elapsed / cfg.max_time)
    return min(p, 1.0)


def learning_rate_at(step: int, prog: float, cfg: TrainConfig) -> float:
    """Lesson 20: linear warmup over the first ``warmup_iters`` steps, times a cosine from
    ``learning_rate`` (progress 0) down to ``min_lr`` (progress 1)."""
    warm = min(1.0, (step + 1) / cfg.warmup_iters) if cfg.warmup_iters > 0 else 1.0
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(max(prog, 0.0), 1.0)))  # 1 -> 0
    lr = cfg.min_lr + (cfg.learning_rate - cfg.min_lr) * cosine
    return lr * warm
