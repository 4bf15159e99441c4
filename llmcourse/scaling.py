"""Sizes, compute and memory of GPTs, from the nano model to GPT-3 (lesson 19).

>>> count_parameters(GPT_SIZES["gpt2"])          # GPT-2 small, as Hugging Face counts it
124439808
>>> n, d = chinchilla_optimal(5.76e23)         # Chinchilla's budget: ~70B params, ~1.4T tokens
>>> round(n / 1e9), round(d / 1e12, 1)
(69, 1.4)
"""

from __future__ import annotations

import math

from .model import GPTConfig

#: Published sizes (GPT-2 counts are the exact counts of the released checkpoints; GPT-3's are the
#: paper's rounded numbers).
PUBLISHED_PARAMS = {
    "gpt2": 124_439_808,
    "gpt2-medium": 354_823_168,
    "gpt2-large": 774_030_080,
    "gpt2-xl": 1_557_611_200,
    "gpt3-small": 125e6,
    "gpt3-medium": 350e6,
    "gpt3-large": 760e6,
    "gpt3-xl": 1.3e9,
    "gpt3-2.7b": 2.7e9,
    "gpt3-6.7b": 6.7e9,
    "gpt3-13b": 13.0e9,
    "gpt3-175b": 175.0e9,
}


def _gpt2(n_layer, n_head, n_embd):
    return GPTConfig(vocab_size=50257, block_size=1024, n_layer=n_layer, n_head=n_head, n_embd=n_embd)


def _gpt3(n_layer, n_head, n_embd):
    return GPTConfig(vocab_size=50257, block_size=2048, n_layer=n_layer, n_head=n_head, n_embd=n_embd)


#: Architectures of real models (GPT-3 sizes from Table 2.1 of Brown et al., 2020, where two rows
#: are inconsistent with a head size of 128 and are corrected below; head count does not change
#: the parameter count).
GPT_SIZES: dict[str, GPTConfig] = {
    "nano": GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128),
    "gpt2": _gpt2(12, 12, 768),
    "gpt2-medium": _gpt2(24, 16, 1024),
    "gpt2-large": _gpt2(36, 20, 1280),
    "gpt2-xl": _gpt2(48, 25, 1600),
    "gpt3-small": _gpt3(12, 12, 768),
    "gpt3-medium": _gpt3(24, 16, 1024),
    "gpt3-large": _gpt3(24, 16, 1536),
    "gpt3-xl": _gpt3(24, 16, 2048),  # the paper lists 24 heads, which 2048 does not divide
    "gpt3-2.7b": _gpt3(32, 32, 2560),
    "gpt3-6.7b": _gpt3(32, 32, 4096),
    "gpt3-13b": _gpt3(40, 40, 5120),  # the paper prints 5140; 40 heads x 128 = 5120
    "gpt3-175b": _gpt3(96, 96, 12288),
}


def parameter_breakdown(config: GPTConfig) -> dict[str, int]:
    """Lesson 19: parameters per part, in closed form (no model is built).

    Per block: attention ``4 d^2 (+4d bias)``, MLP ``8 d^2 (+5d bias)``, two norms.
    """
    d, V, L = config.n_embd, config.vocab_size, config.n_layer
    b = 1 if config.bias else 0
    norm = d * (2 if (config.norm == "layer" and config.bias) else 1)
    hidden = 4 * d
    parts = {
        "token_embedding": V * d,
        "position_embedding": config.block_size * d if config.pos_embedding == "learned" else 0,
        "attention": L * (d * 3 * d + b * 3 * d + d * d + b * d),
        "mlp": L * (d * hidden + b * hidden + hidden * d + b * d),
        "norms": L * 2 * norm + norm,
        "lm_head": 0 if config.tie_weights else V * d,
    }
    return parts


def count_parameters(config: GPTConfig, exclude_embeddings: bool = False) -> int:
    """Lesson 19: the number of parameters of ``GPT(config)``, by formula.

    About ``12 * n_layer * n_embd**2`` plus the embeddings.
    """
    parts = parameter_breakdown(config)
    if exclude_embeddings:
        parts["token_embedding"] = parts["position_embedding"] = 0
    return sum(parts.values())


def flops_per_token(config: GPTConfig, seq_len: int | None = None, training: bool = True) -> int:
    """Lesson 19: floating-point operations to process one token.

    Forward: ``2 N + 4 n_layer T d`` where ``N`` counts the weights used in matrix multiplies
    (every block weight and the LM head; embeddings are lookups) and ``4 L T d`` is ``Q K^T`` and
    ``weights @ V`` over a context of ``T`` tokens. Training (forward + backward) is 3x that:
    ``6 N + 12 L T d``, the estimate of the PaLM paper.
    """
    T = config.block_size if seq_len is None else seq_len
    parts = parameter_breakdown(config)
    n_matmul = parts["attention"] + parts["mlp"] + config.vocab_size * config.n_embd
    forward = 2 * n_matmul + 4 * config.n_layer * T * config.n_embd
    return 3 * forward if training else forward


def training_flops(config: GPTConfig, tokens: float, seq_len: int | None = None) -> float:
    """Total training compute ``C`` for ``tokens`` tokens (about ``6 N D``)."""
    return flops_per_token(config, seq_len, training=True) * tokens


def chinchilla_optimal(compute_flops: float, tokens_per_param: float = 20.0) -> tuple[float, float]:
    """Lesson 19: compute-optimal ``(params, tokens)`` for a budget of ``compute_flops``.

    With ``C = 6 N D`` and Chinchilla's ``D = 20 N``: ``N = sqrt(C / 120)``, ``D = 20 N``.
    """
    if not compute_flops > 0:
        raise ValueError(f"compute_flops must be positive, got {compute_flops!r}.")
    n = math.sqrt(compute_flops / (6.0 * tokens_per_param))
    return n, tokens_per_param * n


def memory_bytes(config: GPTConfig, bytes_per_value: int = 4, training: bool = True) -> dict[str, int]:
    """Lesson 19: weights (and, for training with AdamW, gradients plus two moment buffers)."""
    n = count_parameters(config)
    out = {"weights": n * bytes_per_value}
    if training:
        out["gradients"] = n * bytes_per_value
        out["adam_moments"] = 2 * n * 4  # AdamW keeps its two moments in float32
    out["total"] = sum(out.values())
    return out


def kv_cache_bytes(config: GPTConfig, batch_size: int = 1, seq_len: int | None = None,
                   bytes_per_value: int = 2) -> int:
    """Lesson 19: a KV cache holds keys and values for every layer: ``2 L B T d`` numbers."""
    T = config.block_size if seq_len is None else seq_len
    return 2 * config.n_layer * batch_size * T * config.n_embd * bytes_per_value
