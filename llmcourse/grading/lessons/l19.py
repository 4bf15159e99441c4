"""Lesson 19 (Scaling LLMs) exercises: the back-of-the-envelope formulas behind model sizes.

19.1 ``count_params(vocab_size, block_size, n_layer, n_embd)``: exact parameter count of a GPT-2
     style model (biases, learned positions, LayerNorm, tied LM head).
19.2 ``flops_per_token(config, seq_len, training=True)``: ``2 N_matmul + 4 L T d`` per token
     forward, three times that for training.
19.3 ``chinchilla_optimal(compute_flops, tokens_per_param=20.0)``: ``(N, D)`` with ``C = 6 N D``
     and ``D = r N``.
19.4 ``kv_cache_bytes(n_layer, n_embd, seq_len, batch_size=1, bytes_per_value=2)``.

>>> count_params(50257, 1024, 12, 768)          # GPT-2 small
124439808
>>> n, d = chinchilla_optimal(5.76e23)
>>> round(n / 1e9, 1), round(d / 1e12, 2)
(69.3, 1.39)
"""

from __future__ import annotations

import math

from llmcourse import scaling
from llmcourse.grading import Case, Mistake, close, exact, exercise
from llmcourse.grading.registry import Alternative
from llmcourse.model import GPTConfig


def _cfg(vocab_size, block_size, n_layer, n_embd, n_head=1):
    return GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=n_head,
                     n_embd=n_embd)


# --- 19.1 parameter count ---------------------------------------------------------------------
def count_params(vocab_size: int, block_size: int, n_layer: int, n_embd: int) -> int:
    """Reference: ``llmcourse.scaling.count_parameters`` of the GPT-2 layout (head count does not
    change the count)."""
    return scaling.count_parameters(_cfg(vocab_size, block_size, n_layer, n_embd))


def _params_buggy(*, block=True, final_ln=True, ln_vectors=2, head=False, mlp=8, biases=True):
    def fn(vocab_size, block_size, n_layer, n_embd):
        d, L = n_embd, n_layer
        per_block = 4 * d * d + mlp * d * d + (9 * d if biases else 0) + (2 * ln_vectors * d if biases else 0)
        total = L * per_block + vocab_size * d
        total += block_size * d if block else 0
        total += ln_vectors * d if (final_ln and biases) else 0
        total += vocab_size * d if head else 0
        return total
    return fn


_GPT2 = (50257, 1024, 12, 768)
_NANO = (65, 64, 4, 128)

exercise(
    "19.1", "Parameter count of a GPT", points=2,
    reference=count_params,
    visible=[Case(*_GPT2).named("GPT-2 small: 124,439,808 parameters"),
             Case(*_NANO).named("the nano preset")],
    hidden=lambda r: [Case(r.integer(10, 60000), r.choice([64, 128, 256, 1024, 2048]), r.integer(1, 48),
                           r.choice([32, 64, 96, 128, 256, 512, 768, 1024, 1600]))
                      for _ in range(4)] + [Case(r.integer(2, 100), 1, 1, 8).named("one layer, one position")],
    compare=exact(dtype=False),
    hint="Per block: attention 4d^2 + 4d, MLP 8d^2 + 5d, two LayerNorms 2d each; plus the token "
         "embedding V*d, the position embedding T*d and the final LayerNorm 2d. The LM head shares "
         "the token embedding's matrix.",
    mistakes=[
        Mistake("12 L d^2 only", _params_buggy(biases=False),
                hint="12 L d^2 is the big part, but count the small vectors too: attention biases "
                     "(3d + d), MLP biases (4d + d) and both LayerNorms (gain and bias, 2d each) in "
                     "every block, and the final LayerNorm."),
        Mistake("untied LM head", _params_buggy(head=True),
                hint="GPT-2 ties the LM head to the token embedding: the (V, d) matrix is stored once. "
                     "Do not add V*d a second time."),
        Mistake("no position embedding", _params_buggy(block=False),
                hint="GPT-2 learns one vector per position: add block_size * n_embd."),
        Mistake("no final LayerNorm", _params_buggy(final_ln=False),
                hint="After the last block comes one more LayerNorm (ln_f): 2d parameters."),
        Mistake("LayerNorm without bias", _params_buggy(ln_vectors=1),
                hint="A LayerNorm has two vectors of size d: the gain (weight) and the shift (bias)."),
        Mistake("MLP counted as 4 d^2", _params_buggy(mlp=4),
                hint="The MLP has two matrices, d x 4d and 4d x d: 8 d^2, not 4 d^2."),
    ],
    alternatives=[Alternative("by hand: embeddings + L (12 d^2 + 13 d) + final LayerNorm",
                              lambda V, T, L, d: V * d + T * d + L * (12 * d * d + 13 * d) + 2 * d)],
)


# --- 19.2 FLOPs per token ---------------------------------------------------------------------
def flops_per_token(config: GPTConfig, seq_len: int, training: bool = True) -> int:
    """Reference: ``llmcourse.scaling.flops_per_token``."""
    return scaling.flops_per_token(config, seq_len, training)


def _n_matmul(c):
    d, L = c.n_embd, c.n_layer
    return L * (12 * d * d + 9 * d) + c.vocab_size * d


def _flops_buggy(*, attn=4, factor=3, n=_n_matmul, honour_flag=True):
    def fn(config, seq_len, training=True):
        fwd = 2 * n(config) + attn * config.n_layer * seq_len * config.n_embd
        return factor * fwd if (training or not honour_flag) else fwd
    return fn


def _flops_cases(r):
    cases = []
    for training in (True, False, True):
        d = r.choice([64, 128, 256, 512, 768])
        cfg = _cfg(r.integer(50, 50000), r.choice([256, 512, 1024, 2048]), r.integer(1, 24), d)
        cases.append(Case(cfg, r.integer(1, cfg.block_size), training=training))
    cfg = _cfg(r.integer(50, 50000), 256, r.integer(1, 12), 128)
    cases.append(Case(cfg, cfg.block_size).named("a context of exactly block_size tokens"))
    cases.append(Case(cfg, 1, training=False).named("a context of one token"))
    return cases


def _flops_by_hand(config, seq_len, training=True):
    d, L, V = config.n_embd, config.n_layer, config.vocab_size
    weights = L * (4 * d * d + 4 * d + 8 * d * d + 5 * d) + V * d  # attention + MLP + LM head
    return (3 if training else 1) * (2 * weights + 4 * L * seq_len * d)


exercise(
    "19.2", "FLOPs per token", points=2,
    reference=flops_per_token,
    visible=[Case(scaling.PRESETS["gpt2"], 1024).named("GPT-2 small, training, 1024-token context"),
             Case(scaling.PRESETS["gpt2"], 1024, training=False).named("GPT-2 small, forward only")],
    hidden=_flops_cases,
    compare=exact(dtype=False),
    hint="N_matmul = n_layer * (12 d^2 + 9 d) + vocab_size * d (block weights and biases, plus the LM "
         "head). Forward: 2 N_matmul + 4 n_layer seq_len d. Training: 3 times the forward.",
    mistakes=[
        Mistake("no attention term", _flops_buggy(attn=0),
                hint="Besides the weights, attention multiplies activations with activations: Q K^T and "
                     "weights @ V cost 2 T d each per token and layer. Add 4 n_layer seq_len d."),
        Mistake("only Q K^T", _flops_buggy(attn=2),
                hint="Two products per layer depend on the context: Q K^T and weights @ V, 2 T d FLOPs "
                     "each, so 4 n_layer seq_len d per token in the forward pass."),
        Mistake("backward counted once", _flops_buggy(factor=2),
                hint="The backward pass costs about twice the forward (gradients for the activations "
                     "and for the weights), so training = forward + 2 x forward = 3 x forward."),
        Mistake("training flag ignored", _flops_buggy(honour_flag=False),
                hint="With training=False return the forward pass only (2 N_matmul + 4 L T d)."),
        Mistake("embeddings counted as matmuls",
                _flops_buggy(n=lambda c: scaling.count_parameters(c)),
                hint="Use the weights that are multiplied: block weights and biases plus the LM head "
                     "(V d). Position embeddings are a lookup and LayerNorm parameters are not in "
                     "matrix products."),
        Mistake("LM head forgotten", _flops_buggy(n=lambda c: _n_matmul(c) - c.vocab_size * c.n_embd),
                hint="The LM head is a (d, V) matrix product for every token: add vocab_size * n_embd "
                     "to N_matmul (it shares its matrix with the embedding, but the lookup is free and "
                     "the product is not)."),
    ],
    alternatives=[Alternative("by hand", _flops_by_hand)],
)


# --- 19.3 Chinchilla ----------------------------------------------------------------------------
def chinchilla_optimal(compute_flops: float, tokens_per_param: float = 20.0) -> tuple[float, float]:
    """Reference: ``llmcourse.scaling.chinchilla_optimal``."""
    return scaling.chinchilla_optimal(compute_flops, tokens_per_param)


def _chin_buggy(*, six=6.0, swap=False, divide=False, ratio=None):
    def fn(compute_flops, tokens_per_param=20.0):
        r = tokens_per_param if ratio is None else ratio
        n = math.sqrt(compute_flops / (six * r))
        d = n / r if divide else n * r
        return (d, n) if swap else (n, d)
    return fn


exercise(
    "19.3", "Compute-optimal model size (Chinchilla)", points=1,
    reference=chinchilla_optimal,
    visible=[Case(5.76e23).named("Chinchilla's budget, 5.76e23 FLOPs (about 70B params, 1.4T tokens)")],
    hidden=lambda r: [Case(10 ** (15 + 10 * r.rand(1).item())),
                      Case(10 ** (18 + 5 * r.rand(1).item()), tokens_per_param=r.choice([5.0, 10.0, 40.0, 100.0])),
                      Case(6 * 175e9 * 300e9).named("GPT-3's budget")],
    compare=close(atol=0.0, rtol=1e-6),
    hint="Solve C = 6 N D with D = r N: N = sqrt(C / (6 r)), D = r N. Return (N, D).",
    mistakes=[
        Mistake("forgot the 6", _chin_buggy(six=1.0),
                hint="Training costs about 6 FLOPs per parameter per token: C = 6 N D, so "
                     "N = sqrt(C / (6 r))."),
        Mistake("forward pass only (C = 2ND)", _chin_buggy(six=2.0),
                hint="Training is forward (2 N D) plus backward (4 N D): C = 6 N D, not 2 N D."),
        Mistake("swapped N and D", _chin_buggy(swap=True),
                hint="Return (params, tokens): the model size first, then the number of training tokens."),
        Mistake("D = N / r", _chin_buggy(divide=True),
                hint="About 20 tokens per parameter means D = 20 N (many more tokens than parameters)."),
        Mistake("tokens_per_param ignored", _chin_buggy(ratio=20.0),
                hint="Use the tokens_per_param argument instead of a fixed 20."),
    ],
    alternatives=[Alternative("N = (C / 6r) ** 0.5, D = C / (6 N)", lambda C, tokens_per_param=20.0: (
                      (C / (6 * tokens_per_param)) ** 0.5, C / (6 * (C / (6 * tokens_per_param)) ** 0.5)))],
)


# --- 19.4 KV cache memory ---------------------------------------------------------------------
def kv_cache_bytes(n_layer: int, n_embd: int, seq_len: int, batch_size: int = 1,
                   bytes_per_value: int = 2) -> int:
    """Reference: ``llmcourse.scaling.kv_cache_bytes`` (keys and values of every layer)."""
    cfg = _cfg(2, seq_len, n_layer, n_embd)
    return scaling.kv_cache_bytes(cfg, batch_size, seq_len, bytes_per_value)


def _kv_buggy(*, kv=2, layers=True, fixed_bytes=None, batch=True):
    def fn(n_layer, n_embd, seq_len, batch_size=1, bytes_per_value=2):
        b = bytes_per_value if fixed_bytes is None else fixed_bytes
        return kv * (n_layer if layers else 1) * (batch_size if batch else 1) * seq_len * n_embd * b
    return fn


def _kv_cases(r):
    cases = []
    for b in (1, 4, r.choice([1, 2, 4])):  # 8-bit, float32, any
        L = r.integer(2, 48)
        batch = r.choice([n for n in range(3, 17) if n != L])  # not 2 (keys and values) nor L: each factor shows
        cases.append(Case(L, r.choice([64, 256, 768, 4096]), r.integer(1, 4096), batch_size=batch,
                          bytes_per_value=b))
    return cases + [Case(1, r.choice([64, 256]), 1).named("one layer, one token, batch 1")]


exercise(
    "19.4", "Memory of the KV cache", points=1,
    reference=kv_cache_bytes,
    visible=[Case(12, 768, 1024).named("GPT-2 small, one 1024-token sequence in 16-bit"),
             Case(96, 12288, 2048, batch_size=1, bytes_per_value=2).named("GPT-3 175B, 2048 tokens")],
    hidden=_kv_cases,
    compare=exact(dtype=False),
    hint="Every layer stores one key and one value vector of n_embd numbers per token: "
         "2 * n_layer * batch_size * seq_len * n_embd * bytes_per_value.",
    mistakes=[
        Mistake("keys only", _kv_buggy(kv=1),
                hint="The cache holds keys AND values: a factor 2."),
        Mistake("one layer only", _kv_buggy(layers=False),
                hint="Every layer has its own attention, so its own keys and values: multiply by n_layer."),
        Mistake("bytes_per_value ignored", _kv_buggy(fixed_bytes=2),
                hint="Use bytes_per_value (2 for float16/bfloat16, 4 for float32, 1 for 8-bit)."),
        Mistake("batch ignored", _kv_buggy(batch=False),
                hint="Each sequence of the batch has its own cache: multiply by batch_size."),
    ],
    alternatives=[Alternative("keys + values per token, times tokens", lambda L, d, T, batch_size=1, bytes_per_value=2:
                              (L * d * bytes_per_value + L * d * bytes_per_value) * T * batch_size)],
)
