"""Lesson 18 (Output Softmax) exercises: what a sampler does to the next-token distribution.

18.1 ``min_p_filter(logits, min_p)`` (transfer): keep the tokens whose probability is at least
     ``min_p`` times the most likely token's, the rest ``-inf``.
18.2 ``repetition_penalty(logits, previous, penalty)`` (find the bug): the CTRL penalty for the
     tokens already generated: a positive logit is divided by ``penalty``, a negative one
     multiplied, each token once. The given code divides every seen logit.
18.3 predict: the probability of "on" at temperature 0.25 for the article's logits.

The article's example, four tokens ``["on", "the", "mat", "in"]`` with logits ``[2.0, 1.0, 0.5, 0.0]``
(probabilities 0.58, 0.21, 0.13, 0.08):

>>> min_p_filter(ARTICLE_LOGITS, 0.3)        # 0.3 * 0.58 = 0.17: "mat" (0.13) and "in" go
tensor([2., 1., -inf, -inf])
>>> repetition_penalty(torch.tensor([[2.0, -1.0, 0.5, 0.0]]), torch.tensor([[0, 1, 1]]), 2.0)
tensor([[ 1.0000, -2.0000,  0.5000,  0.0000]])
>>> round(on_at_quarter_temperature(), 3)
0.979
"""

from __future__ import annotations

import math

import torch

from llmcourse import sampling
from llmcourse.grading import Case, Mistake, close, exercise
from llmcourse.grading.registry import Alternative

#: The article's logits for the tokens "on", "the", "mat", "in".
ARTICLE_LOGITS = torch.tensor([2.0, 1.0, 0.5, 0.0])
NEG_INF = float("-inf")


def _logit_rows(r, B=None, V=None, scale=2.0):
    B = B if B is not None else r.integer(2, 4)
    V = V if V is not None else r.integer(5, 12)
    return r.randn(B, V, scale=scale)


# --- 18.1 min-p (transfer) ----------------------------------------------------------------------
def min_p_filter(logits: torch.Tensor, min_p: float) -> torch.Tensor:
    """Reference: remove every token whose probability is below ``min_p`` times the largest
    probability of its row (over the last dimension); removed logits become ``-inf``."""
    probs = torch.softmax(logits, dim=-1)                            # (..., V)
    threshold = min_p * probs.amax(dim=-1, keepdim=True)             # (..., 1)
    return logits.masked_fill(probs < threshold, NEG_INF)


def _min_p_log_space(z, min_p):
    # p_i >= min_p * p_max  <=>  z_i - z_max >= log(min_p): no softmax needed
    return torch.where(z - z.amax(dim=-1, keepdim=True) >= math.log(min_p), z, torch.full_like(z, NEG_INF))


def _min_p_absolute(z, min_p):
    return z.masked_fill(torch.softmax(z, dim=-1) < min_p, NEG_INF)  # not scaled by the top probability


def _min_p_on_logits(z, min_p):
    return z.masked_fill(z < min_p * z.amax(dim=-1, keepdim=True), NEG_INF)  # logits are not probabilities


def _min_p_global(z, min_p):
    probs = torch.softmax(z, dim=-1)
    return z.masked_fill(probs < min_p * probs.max(), NEG_INF)  # one maximum for the whole batch


def _min_p_zero(z, min_p):
    probs = torch.softmax(z, dim=-1)
    return z.masked_fill(probs < min_p * probs.amax(dim=-1, keepdim=True), 0.0)


def _min_p_cases(r):
    V = r.integer(6, 12)
    confident = _logit_rows(r, B=1, V=V)
    confident[0, r.integer(0, V - 1)] += 6.0                          # one token far ahead
    return [
        Case(_logit_rows(r, V=V), r.choice([0.05, 0.1, 0.2])).named("random logits"),
        Case(torch.cat([_logit_rows(r, B=1, V=V, scale=0.3), _logit_rows(r, B=1, V=V, scale=4.0)]), 0.1)
        .named("a flat row and a peaked row: each keeps its own number of tokens"),
        Case(confident, 0.1).named("one confident row"),
        Case(r.randn(2, 3, V, scale=2.0) - 3.0, 0.2).named("a batch (B, T, V) of negative logits"),
        Case(_logit_rows(r, V=V), 1.0).named("min_p = 1: only the top token"),
    ]


exercise(
    "18.1", "Min-p filter", points=2, kind="transfer",
    reference=min_p_filter,
    visible=[Case(ARTICLE_LOGITS, 0.3).named("the article's logits, min_p = 0.3: keep {on, the}"),
             Case(ARTICLE_LOGITS, 0.1).named("the article's logits, min_p = 0.1: keep all four")],
    hidden=_min_p_cases,
    compare=close(atol=0.0, rtol=0.0),
    hint="probs = softmax(logits, dim=-1); the threshold of each row is min_p * probs.amax(dim=-1, "
         "keepdim=True); fill the logits whose probability is below it with float('-inf').",
    mistakes=[
        Mistake("absolute threshold", _min_p_absolute,
                hint="min_p is relative to the most likely token: the threshold is min_p * p_max, not "
                     "min_p itself. That is what lets the filter keep many tokens where the model is "
                     "unsure (p_max small) and few where it is sure."),
        Mistake("threshold on the logits", _min_p_on_logits,
                hint="Compare probabilities, not logits: logits can be negative and are not scaled "
                     "like probabilities. Take the softmax first (or compare z - z_max with log(min_p))."),
        Mistake("one maximum for the whole batch", _min_p_global,
                hint="Each row has its own most likely token: use probs.amax(dim=-1, keepdim=True), "
                     "not probs.max()."),
        Mistake("removed logits set to 0", _min_p_zero,
                hint="Set the removed logits to float('-inf'), not 0: exp(0) = 1 would still give them "
                     "probability."),
    ],
    alternatives=[Alternative("in log space: z - z_max >= log(min_p)", _min_p_log_space)],
)


# --- 18.2 repetition penalty (find the bug) ---------------------------------------------------
def repetition_penalty(logits: torch.Tensor, previous: torch.Tensor, penalty: float) -> torch.Tensor:
    """Reference: for every row b and every distinct token id in ``previous[b]``, a positive logit
    is divided by ``penalty`` and a negative one multiplied by it (both make the token less
    likely for ``penalty > 1``). ``logits`` is ``(B, V)``, ``previous`` is ``(B, T)`` long."""
    seen = torch.zeros_like(logits, dtype=torch.bool).scatter(1, previous, True)   # (B, V)
    penalised = torch.where(logits > 0, logits / penalty, logits * penalty)       # (B, V)
    return torch.where(seen, penalised, logits)


def _divide_all(logits, previous, penalty):
    out = logits.clone()
    for b in range(logits.shape[0]):
        for t in set(previous[b].tolist()):
            out[b, t] = out[b, t] / penalty               # the bug: a negative logit moves up
    return out


def _per_occurrence(logits, previous, penalty):
    out = logits.clone()
    for b in range(logits.shape[0]):
        for t in previous[b].tolist():                   # a token seen twice is penalised twice
            v = out[b, t]
            out[b, t] = v / penalty if v > 0 else v * penalty
    return out


def _first_row_ids(logits, previous, penalty):
    seen = torch.zeros(logits.shape[-1], dtype=torch.bool)
    seen[previous[0]] = True                              # row 0's history used for every row
    return torch.where(seen, torch.where(logits > 0, logits / penalty, logits * penalty), logits)


def _subtract(logits, previous, penalty):
    seen = torch.zeros_like(logits, dtype=torch.bool).scatter(1, previous, True)
    return torch.where(seen, logits - penalty, logits)


def _everything(logits, previous, penalty):
    return torch.where(logits > 0, logits / penalty, logits * penalty)   # every token, seen or not


def _gather_scatter(logits, previous, penalty):
    score = torch.gather(logits, 1, previous)                            # (B, T): logits of seen tokens
    score = torch.where(score < 0, score * penalty, score / penalty)
    return logits.scatter(1, previous, score)                           # repeated ids write the same value


def _repetition_cases(r):
    B, V, T = r.integer(2, 4), r.integer(6, 12), r.integer(3, 8)
    repeats = torch.tensor([[1, 1, 1, 2], [3, 0, 3, 3]])
    return [
        Case(_logit_rows(r, B=B, V=V), r.randint(0, V, B, T), r.choice([1.2, 1.5, 2.0]))
        .named("random logits, each row its own history"),
        Case(torch.tensor([[-1.5, 2.0, 0.5, -0.2], [1.0, -2.0, 3.0, -0.5]]), repeats, 1.3)
        .named("tokens generated several times, negative logits"),
        Case(_logit_rows(r, B=1, V=V) - 4.0, r.randint(0, V, 1, T), 1.5).named("one row, all logits negative"),
        Case(_logit_rows(r, B=B, V=V), r.randint(0, V, B, 1), 1.0).named("penalty 1 (nothing changes), T = 1"),
    ]


exercise(
    "18.2", "Repetition penalty", points=2, kind="find the bug",
    reference=repetition_penalty, given=_divide_all,
    visible=[Case(torch.tensor([[2.0, -1.0, 0.5, 0.0]]), torch.tensor([[0, 1]]), 2.0)
             .named("logits [2, -1, 0.5, 0], 'on' and 'the' already generated, penalty 2")],
    hidden=_repetition_cases,
    compare=close(atol=1e-6, rtol=1e-6),
    hint="Only the tokens in previous[b] change, each once: a positive logit becomes logit / penalty, "
         "a negative one logit * penalty.",
    mistakes=[
        Mistake("penalised once per occurrence", _per_occurrence,
                hint="A token generated three times is penalised once, not three times: loop over the "
                     "distinct ids (set(previous[b].tolist())) or build a boolean 'seen' mask."),
        Mistake("the first row's history for every row", _first_row_ids,
                hint="Each row of the batch is its own text: row b is penalised for the tokens in "
                     "previous[b] only."),
        Mistake("penalty subtracted", _subtract,
                hint="The CTRL penalty scales the logit (divide if positive, multiply if negative); it "
                     "does not subtract the penalty."),
        Mistake("every token penalised", _everything,
                hint="Only tokens that already appear in previous[b] are penalised; the others keep "
                     "their logits."),
    ],
    alternatives=[Alternative("gather, where, scatter (Hugging Face's way)", _gather_scatter)],
)


# --- 18.3 predict: temperature 0.25 -------------------------------------------------------------
def on_at_quarter_temperature() -> float:
    """Reference: the probability of "on" for the article's logits at temperature 0.25."""
    return sampling.probabilities(ARTICLE_LOGITS, temperature=0.25)[0].item()


exercise(
    "18.3", "The top token at temperature 0.25", points=1, kind="predict",
    reference=on_at_quarter_temperature,
    compare=close(atol=0.02, rtol=0),
    hint="Temperature T raises every probability to the power 1/T and renormalises: at T = 0.25 the "
         "logits become [8, 4, 2, 0].",
    mistakes=[
        Mistake("temperature 1", lambda: sampling.probabilities(ARTICLE_LOGITS)[0].item(),
                hint="0.58 is the probability at T = 1. Dividing the logits by 0.25 multiplies the gaps "
                     "between them by 4: the top token takes almost everything."),
        Mistake("temperature 0.5", lambda: sampling.probabilities(ARTICLE_LOGITS, temperature=0.5)[0].item(),
                hint="0.83 is the lesson's T = 0.5. At T = 0.25 the logits are [8, 4, 2, 0]: e^8 against "
                     "e^4 + e^2 + 1."),
        Mistake("multiplied by T", lambda: sampling.probabilities(ARTICLE_LOGITS * 0.25)[0].item(),
                hint="Temperature divides the logits; T < 1 makes the distribution sharper, not flatter."),
    ],
    alternatives=[Alternative("e^8 / (e^8 + e^4 + e^2 + e^0)",
                              lambda: math.exp(8) / (math.exp(8) + math.exp(4) + math.exp(2) + 1))],
)
