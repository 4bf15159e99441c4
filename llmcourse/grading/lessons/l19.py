"""Lesson 19 (Scaling LLMs) exercises: the back-of-the-envelope formulas, used the other way round.

19.1 ``width_for(n_params, n_layer, vocab_size=50257, block_size=2048, multiple=128)`` (transfer):
     the model width ``d`` (a multiple of ``multiple``) whose GPT-2-layout parameter count is
     closest to ``n_params``: GPT-3's Table 2.1 widths from its sizes and depths.
19.2 ``chinchilla_optimal(compute_flops, tokens_per_param=20.0)`` (find the bug): ``(N, D)`` with
     ``C = 6 N D`` and ``D = r N``; the given code has ``C / 6 * r`` where ``C / (6 r)`` belongs.
19.3 ``training_days(n_params, n_tokens, n_gpus, peak_flops, mfu)`` (transfer): wall-clock days
     of ``6 N D`` FLOPs on ``n_gpus`` accelerators that reach ``mfu`` of their peak.

>>> width_for(175e9, 96)                       # GPT-3 175B: 96 layers
12288
>>> n, d = chinchilla_optimal(5.76e23)
>>> round(n / 1e9, 1), round(d / 1e12, 2)
(69.3, 1.39)
>>> round(training_days(175e9, 300e9, 1024, 312e12, 0.4), 1)
28.5
"""

from __future__ import annotations

import math

from llmcourse import scaling
from llmcourse.grading import Case, Mistake, close, exact, exercise
from llmcourse.grading.registry import Alternative
from llmcourse.model import GPTConfig


# --- 19.1 the width of a GPT-3 row (transfer) ---------------------------------------------------
def _count(d, n_layer, vocab_size, block_size):
    """GPT-2 layout with a tied head: ``scaling.count_parameters`` (one head; heads do not change it)."""
    return scaling.count_parameters(GPTConfig(vocab_size=vocab_size, block_size=block_size,
                                              n_layer=n_layer, n_head=1, n_embd=d))


def width_for(n_params: float, n_layer: int, vocab_size: int = 50257, block_size: int = 2048,
              multiple: int = 128) -> int:
    """Reference: the multiple of ``multiple`` whose parameter count is closest to ``n_params``
    (the smaller one on a tie), searched upwards from ``multiple``."""
    best_d, best_gap, d = multiple, math.inf, multiple
    while True:
        n = _count(d, n_layer, vocab_size, block_size)
        if abs(n - n_params) < best_gap:
            best_d, best_gap = d, abs(n - n_params)
        if n >= n_params:
            return best_d
        d += multiple


def _width_quadratic(n_params, n_layer, vocab_size=50257, block_size=2048, multiple=128):
    # L (12 d^2 + 13 d) + (V + T + 2) d = N, solved for d, then the two neighbouring multiples
    a, b = 12 * n_layer, 13 * n_layer + vocab_size + block_size + 2
    d = (-b + math.sqrt(b * b + 4 * a * n_params)) / (2 * a)
    lo = max(multiple, math.floor(d / multiple) * multiple)
    count = lambda w: n_layer * (12 * w * w + 13 * w) + (vocab_size + block_size + 2) * w
    return min((lo, lo + multiple), key=lambda w: (abs(count(w) - n_params), w))


def _width_12Ld2(n_params, n_layer, vocab_size=50257, block_size=2048, multiple=128):
    return max(multiple, round(math.sqrt(n_params / (12 * n_layer)) / multiple) * multiple)


def _width_round_down(n_params, n_layer, vocab_size=50257, block_size=2048, multiple=128):
    d = multiple
    while _count(d + multiple, n_layer, vocab_size, block_size) <= n_params:
        d += multiple
    return d                                          # the largest width that does not exceed N


def _width_round_up(n_params, n_layer, vocab_size=50257, block_size=2048, multiple=128):
    d = multiple
    while _count(d, n_layer, vocab_size, block_size) < n_params:
        d += multiple
    return d                                          # the smallest width that reaches N


def _width_any_integer(n_params, n_layer, vocab_size=50257, block_size=2048, multiple=128):
    return width_for(n_params, n_layer, vocab_size, block_size, multiple=1)


def _gpt3(name):
    c = scaling.GPT_SIZES[name]
    return Case(scaling.PUBLISHED_PARAMS[name], c.n_layer).named(
        f"GPT-3 {name[5:]}: {scaling.PUBLISHED_PARAMS[name]:.3g} parameters, {c.n_layer} layers")


def _width_cases(r):
    cases = []
    for frac in (-0.3, 0.3):
        L, m, V, T = r.integer(2, 48), r.choice([64, 128, 256]), r.integer(1000, 100000), r.choice([512, 1024, 4096])
        d = m * r.integer(2, 24)
        lo, hi = _count(d - m, L, V, T), _count(d, L, V, T)
        step = _count(d + m, L, V, T) - hi if frac > 0 else hi - lo
        cases.append(Case(hi + frac * step, L, vocab_size=V, block_size=T, multiple=m)
                     .named(f"{L} layers, a size near width {d}"))
    L, m = r.integer(4, 40), 128
    d = m * r.integer(2, 30)
    cases.append(Case(_count(d, L, 50257, 2048) - 1, L).named(f"one parameter less than width {d} has"))
    cases.append(Case(float(_count(256, 2, 50257, 1024)) + 5e5, 2, block_size=1024, multiple=64)
                 .named("a small model with a large vocabulary"))
    return cases


exercise(
    "19.1", "The width of a GPT-3 model from its size", points=2, kind="transfer",
    reference=width_for,
    visible=[_gpt3("gpt3-small"), _gpt3("gpt3-xl"), _gpt3("gpt3-175b")],
    hidden=_width_cases,
    compare=exact(dtype=False),
    hint="Count L (12 d^2 + 13 d) + V d + T d + 2 d for d = multiple, 2 multiple, ... and return the d "
         "whose count is closest to n_params.",
    mistakes=[
        Mistake("12 L d^2 only", _width_12Ld2,
                hint="12 L d^2 leaves out the embeddings (V d + T d), a large share of a small model: "
                     "GPT-3 Small comes out 896 wide instead of 768. Count every piece."),
        Mistake("rounded down", _width_round_down,
                hint="Return the width whose count is CLOSEST to n_params, which may be a little larger: "
                     "published sizes are rounded (GPT-3 Small's 125M is 125.2M by the formula)."),
        Mistake("rounded up", _width_round_up,
                hint="Return the width whose count is CLOSEST to n_params, which may be a little smaller: "
                     "GPT-3 175B's formula count is 174.6B, below the paper's rounded 175B."),
        Mistake("not a multiple", _width_any_integer,
                hint="Widths are multiples of `multiple` (heads of 64 or 128 numbers): search d = multiple, "
                     "2 * multiple, ..., not every integer."),
    ],
    alternatives=[Alternative("solve the quadratic, compare the two neighbouring multiples", _width_quadratic)],
)


# --- 19.2 Chinchilla (find the bug) -------------------------------------------------------------
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


def _chin_given(compute_flops, tokens_per_param=20.0):
    n = math.sqrt(compute_flops / 6 * tokens_per_param)   # the bug: C / 6 * r is (C / 6) * r
    return n, tokens_per_param * n


exercise(
    "19.2", "Compute-optimal model size (Chinchilla)", points=1, kind="find the bug",
    reference=chinchilla_optimal, given=_chin_given,
    visible=[Case(5.76e23).named("Chinchilla's budget, 5.76e23 FLOPs (about 70B params, 1.4T tokens)")],
    hidden=lambda r: [Case(10 ** (15 + 10 * r.rand(1).item())),
                      Case(10 ** (18 + 5 * r.rand(1).item()), tokens_per_param=r.choice([5.0, 10.0, 40.0, 100.0])),
                      Case(6 * 175e9 * 300e9).named("GPT-3's budget")],
    compare=close(atol=0.0, rtol=1e-6),
    hint="Solve C = 6 N D with D = r N: C = 6 r N^2, so N = sqrt(C / (6 r)), D = r N. Return (N, D).",
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


# --- 19.3 training time (transfer) --------------------------------------------------------------
def training_days(n_params: float, n_tokens: float, n_gpus: int, peak_flops: float, mfu: float) -> float:
    """Reference: ``6 N D`` FLOPs at ``n_gpus * peak_flops * mfu`` FLOP/s, in days."""
    return 6 * n_params * n_tokens / (n_gpus * peak_flops * mfu) / 86400


def _days_buggy(*, six=6, use_mfu=True, per=86400):
    def fn(n_params, n_tokens, n_gpus, peak_flops, mfu):
        return six * n_params * n_tokens / (n_gpus * peak_flops * (mfu if use_mfu else 1.0)) / per
    return fn


def _days_cases(r):
    return [Case(10 ** (8 + 3 * r.rand(1).item()), 10 ** (10 + 2 * r.rand(1).item()), r.choice([8, 64, 256, 2048]),
                 r.choice([125e12, 312e12, 989e12]), r.choice([0.3, 0.45, 0.6])) for _ in range(3)] + [
        Case(124e6, 10e9, 1, 989e12, 0.5).named("GPT-2 small on one GPU")]


exercise(
    "19.3", "How many days does training take?", points=1, kind="transfer",
    reference=training_days,
    visible=[Case(175e9, 300e9, 1024, 312e12, 0.4)
             .named("GPT-3 175B, 300B tokens, 1024 A100s (312 TFLOP/s peak), 40% utilisation")],
    hidden=_days_cases,
    compare=close(atol=0.0, rtol=1e-6),
    hint="Total FLOPs 6 N D, divided by the FLOP/s actually reached (n_gpus * peak_flops * mfu), "
         "gives seconds; a day has 86,400 of them.",
    mistakes=[
        Mistake("forward pass only", _days_buggy(six=2),
                hint="Training costs 6 N D FLOPs (forward 2 N D, backward 4 N D), not 2 N D."),
        Mistake("utilisation ignored", _days_buggy(use_mfu=False),
                hint="Accelerators reach only a fraction mfu of their peak: divide by "
                     "n_gpus * peak_flops * mfu."),
        Mistake("seconds, not days", _days_buggy(per=1),
                hint="FLOPs / (FLOP/s) is seconds: divide by 86,400 for days."),
        Mistake("hours, not days", _days_buggy(per=3600),
                hint="A day has 24 * 3600 = 86,400 seconds, not 3,600."),
    ],
    alternatives=[Alternative("FLOPs per day of the whole cluster",
                              lambda N, D, g, peak, mfu: (6 * N * D) / (g * peak * mfu * 24 * 60 * 60))],
)
