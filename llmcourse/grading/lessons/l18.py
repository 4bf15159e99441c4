"""Lesson 18 (Output Softmax) exercises: from logits to the next token.

18.1 ``softmax_with_temperature(logits, temperature)``: probabilities of ``softmax(logits / T)``
     over the last dimension; ``temperature == 0`` means greedy (all mass on the arg-max).
18.2 ``top_k_filter(logits, k)``: keep the ``k`` largest logits of each row, set the rest to
     ``-inf`` (ties with the k-th largest are kept).
18.3 ``top_p_filter(logits, p)``: nucleus filter, keep the smallest set of most likely tokens
     whose probability reaches ``p`` (the token that crosses ``p`` is kept), the rest ``-inf``.
18.4 ``sample_token(logits, temperature, generator)``: draw one token id per row. Graded
     statistically: 10,000 draws per row must match the probabilities, and the same generator
     seed must give the same draws.

The seed's example, four tokens ``["on", "the", "mat", "in"]`` with logits ``[2.0, 1.0, 0.5, 0.0]``:

>>> softmax_with_temperature(SEED_LOGITS, 0.5).round(decimals=2)
tensor([0.8300, 0.1100, 0.0400, 0.0200])
>>> top_k_filter(SEED_LOGITS, 2)
tensor([2., 1., -inf, -inf])
>>> top_p_filter(SEED_LOGITS, 0.95)          # cumulative 0.58, 0.79, 0.92, 1.00: all four kept
tensor([2.0000, 1.0000, 0.5000, 0.0000])
"""

from __future__ import annotations

import torch

from llmcourse import attention, sampling
import torch.nn.functional as F

from llmcourse.grading import Case, Mistake, close, exact, exercise
from llmcourse.grading.registry import Alternative
from llmcourse.grading.runner import SubmissionError

#: The seed's logits for the tokens "on", "the", "mat", "in".
SEED_LOGITS = torch.tensor([2.0, 1.0, 0.5, 0.0])
NEG_INF = float("-inf")


def _logit_rows(r, B=None, V=None, scale=2.0):
    B = B if B is not None else r.integer(2, 4)
    V = V if V is not None else r.integer(5, 12)
    return r.randn(B, V, scale=scale)


# --- 18.1 temperature ---------------------------------------------------------------------------
def softmax_with_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Reference: ``llmcourse.sampling.probabilities(logits, temperature)``."""
    return sampling.probabilities(logits, temperature=temperature)


def _temperature_cases(r):
    return [
        Case(_logit_rows(r), 1.0).named("random logits, T = 1"),
        Case(_logit_rows(r), r.choice([0.3, 0.5, 0.7])).named("random logits, T < 1 (sharper)"),
        Case(_logit_rows(r), r.choice([1.5, 2.0, 3.0])).named("random logits, T > 1 (flatter)"),
        Case(_logit_rows(r, scale=5.0) + 1000.0, 0.8).named("huge logits (about 1000)"),
        Case(_logit_rows(r), 0).named("T = 0: greedy"),
        Case(r.randn(2, 3, r.integer(4, 8)), 1.3).named("a batch (B, T, V)"),
        Case(torch.stack([torch.linspace(-3, 3, 6), torch.linspace(300, 250, 6)]), 1.0)
        .named("rows on very different scales"),
    ]


def _naive_temperature(logits, t):
    e = torch.exp(logits / t)
    return e / e.sum(dim=-1, keepdim=True)


def _torch_softmax(logits, t):
    if t == 0:
        return F.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)
    return torch.softmax(logits / t, dim=-1)


def _lse_temperature(logits, t):
    if t == 0:
        return (logits == logits.amax(dim=-1, keepdim=True)).to(logits.dtype)
    z = logits / t
    return torch.exp(z - torch.logsumexp(z, dim=-1, keepdim=True))


def _no_greedy(logits, t):
    return attention.softmax(logits / t, dim=-1)  # logits / 0 -> +-inf -> nan


exercise(
    "18.1", "Softmax with temperature", points=1,
    reference=softmax_with_temperature,
    visible=[Case(SEED_LOGITS, 0.5).named("the seed's logits [2, 1, 0.5, 0] at T = 0.5"),
             Case(SEED_LOGITS, 2.0).named("the seed's logits at T = 2")],
    hidden=_temperature_cases,
    compare=close(atol=1e-6, rtol=3e-4),  # exp(z - c) for logits near 1000 is good to ~1e-4 in float32
    hint="Divide the logits by T, subtract the maximum of the last dimension, exponentiate, divide "
         "by the sum. For T == 0 return the one-hot vector of the arg-max (greedy).",
    mistakes=[
        Mistake("multiplied by T", lambda z, t: sampling.probabilities(z * t) if t else
                sampling.probabilities(z, temperature=0),
                hint="Temperature divides the logits: logits / T. T = 0.5 must make the distribution "
                     "sharper ([4, 2, 1, 0] for the seed's logits), not flatter."),
        Mistake("temperature ignored", lambda z, t: sampling.probabilities(z) if t else
                sampling.probabilities(z, temperature=0),
                hint="Divide the logits by the temperature before the softmax. (Dividing the "
                     "probabilities by T does nothing: the renormalisation cancels it.)"),
        Mistake("no max subtraction", lambda z, t: _naive_temperature(z, t) if t else
                sampling.probabilities(z, temperature=0),
                hint="exp() of logits around 1000 overflows to inf: subtract the maximum of each row "
                     "before exponentiating (it cancels in the ratio)."),
        Mistake("no special case for T = 0", _no_greedy,
                hint="T = 0 means greedy decoding: logits / 0 is inf or nan. Handle it first: return "
                     "torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).float()."),
        Mistake("softmax over the wrong dimension",
                lambda z, t: attention.softmax(z / t, dim=0) if t else sampling.probabilities(z, temperature=0),
                hint="Normalise over the vocabulary, the last dimension (dim=-1)."),
    ],
    alternatives=[Alternative("torch.softmax, one_hot for T = 0", _torch_softmax),
                  Alternative("exp(z - logsumexp(z))", _lse_temperature)],
)


# --- 18.2 top-k -------------------------------------------------------------------------------
def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Reference: ``llmcourse.sampling.top_k_filter`` (ties with the k-th largest are kept)."""
    return sampling.top_k_filter(logits, k)


def _top_k_cases(r):
    V = r.integer(6, 12)
    return [
        Case(_logit_rows(r, V=V), r.integer(2, V - 2)).named("random logits, one k for every row"),
        Case(_logit_rows(r, V=V), 1).named("k = 1 (greedy)"),
        Case(_logit_rows(r, V=V), V).named("k = V (nothing removed)"),
        Case(r.randn(2, 3, V), 3).named("a batch (B, T, V), k = 3"),
        Case(torch.stack([torch.linspace(-3, 3, V), torch.linspace(10, 4, V)]), 2)
        .named("rows on different scales, k = 2"),
    ]


def _sorted_threshold(z, k):
    kth = z.sort(dim=-1, descending=True).values[..., k - 1:k]  # the k-th largest of each row
    return torch.where(z >= kth, z, torch.full_like(z, NEG_INF))


def _keep_k_plus_one(z, k):
    return sampling.top_k_filter(z, min(k + 1, z.shape[-1]))


def _zero_fill(z, k):
    kth = torch.topk(z, k, dim=-1).values[..., -1:]
    return z.masked_fill(z < kth, 0.0)


def _global_top_k(z, k):
    kth = torch.topk(z.flatten(), k).values[-1]  # the k-th largest of the whole tensor
    return z.masked_fill(z < kth, NEG_INF)


def _smallest_k(z, k):
    kth = torch.topk(z, k, dim=-1, largest=False).values[..., -1:]
    return z.masked_fill(z > kth, NEG_INF)


exercise(
    "18.2", "Top-k filter", points=1,
    reference=top_k_filter,
    visible=[Case(SEED_LOGITS, 2).named("the seed's logits, k = 2: keep 'on' and 'the'")],
    hidden=_top_k_cases,
    compare=close(atol=0.0, rtol=0.0),
    hint="kth = torch.topk(logits, k, dim=-1).values[..., -1:] is each row's k-th largest logit; "
         "return logits.masked_fill(logits < kth, float('-inf')).",
    mistakes=[
        Mistake("keeps k + 1 tokens", _keep_k_plus_one,
                hint="Keep exactly the k largest: the threshold is the k-th largest value "
                     "(index k - 1 of the sorted values, or topk(...).values[..., -1:])."),
        Mistake("removed logits set to 0", _zero_fill,
                hint="Set the removed logits to float('-inf'), not 0: exp(0) = 1 would still give them "
                     "probability."),
        Mistake("returns probabilities", lambda z, k: sampling.probabilities(z, top_k=k),
                hint="Return filtered logits (same scale as the input, -inf where removed), not "
                     "probabilities: the softmax comes later."),
        Mistake("one threshold for the whole batch", _global_top_k,
                hint="Each row (each position) keeps its own k largest logits: use "
                     "torch.topk(logits, k, dim=-1) and keep the last dimension (values[..., -1:])."),
        Mistake("keeps the k smallest", _smallest_k,
                hint="Keep the LARGEST logits: torch.topk returns the largest by default "
                     "(largest=True)."),
    ],
    alternatives=[Alternative("sort, then where(z >= k-th largest)", _sorted_threshold),
                  Alternative("topk indices scattered into a -inf tensor", lambda z, k: torch.full_like(z, NEG_INF)
                              .scatter(-1, torch.topk(z, k, dim=-1).indices, torch.topk(z, k, dim=-1).values))],
)


# --- 18.3 top-p (nucleus) ---------------------------------------------------------------------
def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Reference: ``llmcourse.sampling.top_p_filter``: a token is kept when the probability mass
    of the tokens more likely than it is below ``p``."""
    return sampling.top_p_filter(logits, p)


def _top_p_cases(r):
    V = r.integer(6, 12)
    shuffled = SEED_LOGITS[torch.randperm(4, generator=r.generator)]
    return [
        Case(shuffled.clone(), 0.7).named(f"the seed's logits in another order {shuffled.tolist()}, p = 0.7"),
        Case(_logit_rows(r, V=V), r.choice([0.5, 0.8, 0.9])).named("random logits"),
        Case(r.randn(2, 3, V, scale=2.0), 0.9).named("a batch (B, T, V), p = 0.9"),
        Case(_logit_rows(r, V=V, scale=4.0), 0.3).named("confident rows, p = 0.3 (often one token)"),
        Case(_logit_rows(r, V=V), 1.0).named("p = 1.0 (nothing removed)"),
    ]


def _gather_back(z, p):
    sz, order = torch.sort(z, dim=-1, descending=True)
    probs = torch.softmax(sz, dim=-1)
    remove_sorted = probs.cumsum(dim=-1) - probs >= p  # mass strictly before each token
    return z.masked_fill(remove_sorted.gather(-1, order.argsort(dim=-1)), NEG_INF)


def _drop_crossing(z, p):
    sz, order = torch.sort(z, dim=-1, descending=True)
    cum = torch.cumsum(attention.softmax(sz, dim=-1), dim=-1)
    remove_sorted = cum >= p  # also removes the token that crosses p
    remove = torch.zeros_like(remove_sorted).scatter(-1, order, remove_sorted)
    return z.masked_fill(remove, NEG_INF)


def _unsorted(z, p):
    probs = attention.softmax(z, dim=-1)
    before = torch.cumsum(probs, dim=-1) - probs  # in vocabulary order, not sorted
    return z.masked_fill(before >= p, NEG_INF)


def _sorted_output(z, p):
    sz, _ = torch.sort(z, dim=-1, descending=True)
    probs = attention.softmax(sz, dim=-1)
    before = torch.cumsum(probs, dim=-1) - probs
    return sz.masked_fill(before >= p, NEG_INF)  # never scattered back to vocabulary order


def _one_too_many(z, p):
    sz, order = torch.sort(z, dim=-1, descending=True)
    probs = attention.softmax(sz, dim=-1)
    before = torch.cumsum(probs, dim=-1) - probs
    prev = torch.cat([torch.zeros_like(before[..., :1]), before[..., :-1]], dim=-1)
    remove_sorted = prev >= p  # keeps one token after the crossing one
    remove = torch.zeros_like(remove_sorted).scatter(-1, order, remove_sorted)
    return z.masked_fill(remove, NEG_INF)


exercise(
    "18.3", "Top-p (nucleus) filter", points=2,
    reference=top_p_filter,
    visible=[Case(SEED_LOGITS, 0.7).named("the seed's logits, p = 0.7: keep {on, the}"),
             Case(SEED_LOGITS, 0.95).named("the seed's logits, p = 0.95: keep all four")],
    hidden=_top_p_cases,
    compare=close(atol=0.0, rtol=0.0),
    hint="Sort the logits in descending order, take the softmax and its cumulative sum; remove a token "
         "when the mass strictly before it (cumsum - prob) is already >= p; scatter the decision back to "
         "the original order and fill removed logits with -inf.",
    mistakes=[
        Mistake("drops the token that crosses p", _drop_crossing,
                hint="Keep the token whose cumulative probability first reaches p: with p = 0.7 the "
                     "seed keeps 'the' (cumulative 0.79). Remove a token only when the mass BEFORE it "
                     "(cumsum - prob) is >= p."),
        Mistake("no sorting", _unsorted,
                hint="Accumulate the probabilities from the most likely token down: sort the logits "
                     "(descending) before the cumulative sum, then map the result back."),
        Mistake("returned in sorted order", _sorted_output,
                hint="Return the logits in their original (vocabulary) order: scatter the removal "
                     "decisions back with the indices from torch.sort (or index with argsort)."),
        Mistake("keeps one token too many", _one_too_many,
                hint="Stop right after the token that crosses p: remove every token whose preceding "
                     "mass (cumsum - prob) is >= p."),
        Mistake("removed logits set to 0",
                lambda z, p: torch.where(torch.isfinite(sampling.top_p_filter(z, p)), z, torch.zeros_like(z)),
                hint="Set the removed logits to float('-inf'), not 0."),
    ],
    alternatives=[Alternative("argsort to undo the sort", _gather_back)],
)


# --- 18.4 sample a token ----------------------------------------------------------------------
def sample_token(logits: torch.Tensor, temperature: float, generator: torch.Generator) -> torch.Tensor:
    """Reference: ``llmcourse.sampling.sample``; one id per row of ``(B, V)`` logits -> ``(B,)``."""
    return sampling.sample(logits, temperature, generator=generator)


DRAWS = 10_000  # per row: the standard error of a frequency is at most 0.5 / 100 = 0.005
SEED = 1234


def _draw(fn, logits, temperature, seed):
    B, V = logits.shape
    big = logits.repeat_interleave(DRAWS, dim=0)  # (B * DRAWS, V): each row repeated
    ids = fn(big.clone(), temperature, torch.Generator().manual_seed(seed))
    if not isinstance(ids, torch.Tensor):
        raise SubmissionError(f"sample_token must return a tensor of token ids, got {type(ids).__name__}.")
    if ids.dim() == 2 and ids.shape[-1] == 1:
        raise SubmissionError(f"called with logits of shape {(B * DRAWS, V)} (each row repeated {DRAWS} "
                              f"times), sample_token returned shape {tuple(ids.shape)}; return one id per "
                              f"row, shape (B,): torch.multinomial gives (B, 1), so add .squeeze(-1).")
    if tuple(ids.shape) != (B * DRAWS,):
        raise SubmissionError(f"sample_token returned shape {tuple(ids.shape)} for logits of shape "
                              f"{(B * DRAWS, V)}; expected ({B * DRAWS},), one id per row.")
    if ids.is_floating_point() or ids.dtype == torch.bool:
        raise SubmissionError(f"sample_token must return integer token ids (torch.long), got {ids.dtype}.")
    if int(ids.min()) < 0 or int(ids.max()) >= V:
        raise SubmissionError(f"sample_token returned ids outside 0..{V - 1}.")
    return ids.long().view(B, DRAWS)  # (B, DRAWS)


def _run_sampler(fn, case):
    """Frequencies over many draws, and the generator contract: the same seed repeats the draws,
    another seed changes them (when T > 0), and torch's global random state is left alone."""
    (logits, temperature), _ = case.inputs()
    if fn is sample_token:  # the reference: the exact distribution the draws must follow
        return {"frequencies": sampling.probabilities(logits, temperature),
                "same generator seed, same draws": True,
                "another generator seed, other draws": temperature > 0,
                "torch's global random state untouched": True}
    before = torch.get_rng_state()
    ids = _draw(fn, logits, temperature, SEED)  # (B, DRAWS)
    again = _draw(fn, logits, temperature, SEED)
    other = _draw(fn, logits, temperature, SEED + 1)
    untouched = bool(torch.equal(before, torch.get_rng_state()))
    V = logits.shape[-1]
    freqs = torch.stack([torch.bincount(row, minlength=V) for row in ids]).float() / DRAWS  # (B, V)
    return {"frequencies": freqs, "same generator seed, same draws": bool(torch.equal(ids, again)),
            "another generator seed, other draws": not bool(torch.equal(ids, other)),
            "torch's global random state untouched": untouched}


def _own_generator(logits, t, generator):
    return sampling.sample(logits, t, generator=torch.Generator().manual_seed(0))  # the argument ignored


def _reseeds_global(logits, t, generator):
    torch.manual_seed(0)  # reproducible, but resets the learner's own random state
    return _global_rng(logits, t)


def _inverse_cdf(logits, t, generator):
    if t == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits / t, dim=-1)
    u = torch.rand(probs.shape[:-1] + (1,), generator=generator)  # one uniform per row
    return (probs.cumsum(dim=-1) < u).sum(dim=-1).clamp_max(probs.shape[-1] - 1)


def _sample_cases(r):
    return [
        Case(_logit_rows(r, B=2, V=r.integer(4, 8)), 1.0).named("two rows of random logits, T = 1"),
        Case(_logit_rows(r, B=2, V=6), r.choice([0.5, 0.7])).named("T < 1"),
        Case(_logit_rows(r, B=1, V=6), 0).named("T = 0: greedy"),
        Case(_logit_rows(r, B=3, V=5, scale=1.0), 1.5).named("three rows, T > 1"),
    ]


def _global_rng(logits, t):
    probs = sampling.probabilities(logits, t)
    return torch.multinomial(probs, 1).squeeze(-1)  # no generator: not reproducible


exercise(
    "18.4", "Sample a token with a generator", points=1,
    reference=sample_token,
    visible=[Case(SEED_LOGITS.unsqueeze(0), 1.0).named("the seed's logits as one row, T = 1"),
             Case(SEED_LOGITS.unsqueeze(0), 0.5).named("the seed's logits, T = 0.5")],
    hidden=_sample_cases,
    run=_run_sampler,
    compare=close(atol=0.025, rtol=0.0),
    time_limit=20,
    hint="probs = softmax(logits / T) (one-hot arg-max when T == 0); "
         "torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1). "
         "The check draws 10,000 tokens per row and compares the frequencies with the "
         "probabilities (tolerance 0.025, five standard errors).",
    mistakes=[
        Mistake("temperature ignored", lambda z, t, g: sampling.sample(z, 1.0 if t else 0, generator=g),
                hint="Divide the logits by the temperature before the softmax: at T = 0.5 the seed's "
                     "'on' must come up 83% of the time."),
        Mistake("always greedy", lambda z, t, g: z.argmax(dim=-1),
                hint="Sampling draws at random from the probabilities (torch.multinomial); the arg-max "
                     "is only right for T = 0."),
        Mistake("drawn from the logits, not the probabilities",
                lambda z, t, g: torch.multinomial(z.clamp_min(0), 1, generator=g).squeeze(-1),
                hint="torch.multinomial treats its input as (unnormalised) probabilities. Give it "
                     "softmax(logits / T), not the raw logits."),
        Mistake("generator not used", lambda z, t, g: _global_rng(z, t),
                hint="Pass the generator to torch.multinomial(..., generator=generator), so that the "
                     "same seed gives the same tokens."),
        Mistake("its own Generator().manual_seed(0)", _own_generator,
                hint="Draw with the generator you are given (torch.multinomial(probs, 1, generator=generator)): "
                     "a fixed Generator().manual_seed(0) of your own gives the same draws whatever seed the "
                     "caller chose."),
        Mistake("torch.manual_seed inside the sampler", _reseeds_global,
                hint="Do not call torch.manual_seed in the sampler: it resets everyone's global random state "
                     "and every call repeats the same draws. Pass generator=generator to torch.multinomial."),
    ],
    alternatives=[Alternative("inverse CDF with torch.rand(generator=...)", _inverse_cdf)],
)
