"""From logits to the next token: temperature, top-k, top-p, sampling and generation (lesson 18).

The article's example, four tokens ``["on", "the", "mat", "in"]`` with logits ``[2.0, 1.0, 0.5, 0.0]``:

>>> import torch
>>> logits = torch.tensor([2.0, 1.0, 0.5, 0.0])
>>> probabilities(logits).round(decimals=2)
tensor([0.5800, 0.2100, 0.1300, 0.0800])
>>> probabilities(logits, temperature=0.5).round(decimals=2)
tensor([0.8300, 0.1100, 0.0400, 0.0200])
>>> probabilities(logits, top_k=2).round(decimals=2)
tensor([0.7300, 0.2700, 0.0000, 0.0000])
>>> (probabilities(logits, top_p=0.7) > 0).tolist()      # the nucleus is {on, the}
[True, True, False, False]

Filters return logits with the removed entries set to ``-inf``; ``temperature=0`` means greedy.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from ._checks import check_token_ids, describe
from .attention import softmax

NEG_INF = float("-inf")


def _as_logits(logits) -> torch.Tensor:
    if isinstance(logits, torch.Tensor):
        if not logits.is_floating_point():
            return logits.float()
        return logits
    try:
        return torch.as_tensor(logits, dtype=torch.float32)
    except (TypeError, ValueError) as e:
        raise TypeError(f"logits must be a tensor or a list of numbers, got {describe(logits)}.") from e


def apply_temperature(logits, temperature: float) -> torch.Tensor:
    """Lesson 18: divide logits by ``T``; ``T < 1`` sharpens, ``T > 1`` flattens.

    >>> apply_temperature(torch.tensor([2.0, 1.0]), 0.5)
    tensor([4., 2.])
    """
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature <= 0:
        raise ValueError(
            f"temperature must be a number > 0, got {temperature!r}. For greedy decoding (the limit "
            f"T -> 0) pass temperature=0 to probabilities(), sample() or generate()."
        )
    return _as_logits(logits) / temperature


def top_k_filter(logits, k: int) -> torch.Tensor:
    """Lesson 18: keep the ``k`` largest logits (ties with the k-th are kept), the rest ``-inf``.

    >>> top_k_filter(torch.tensor([2.0, 1.0, 0.5, 0.0]), 2)
    tensor([2., 1., -inf, -inf])
    """
    logits = _as_logits(logits)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"top_k must be an integer >= 1 (or None to switch it off), got {k!r}.")
    k = min(k, logits.shape[-1])
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1): the k-th largest value
    return logits.masked_fill(logits < kth, NEG_INF)


def top_p_filter(logits, p: float) -> torch.Tensor:
    """Lesson 18: nucleus filter. Sort by probability and keep the smallest prefix whose
    cumulative probability reaches ``p`` (the token that crosses ``p`` is kept).

    >>> top_p_filter(torch.tensor([2.0, 1.0, 0.5, 0.0]), 0.7)
    tensor([2., 1., -inf, -inf])
    """
    logits = _as_logits(logits)
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 < p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1] (or None to switch it off), got {p!r}.")
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (..., V) each
    probs = softmax(sorted_logits, dim=-1)
    before = torch.cumsum(probs, dim=-1) - probs  # probability mass strictly before each token
    remove_sorted = before >= p  # the first token always stays (before = 0)
    remove = torch.zeros_like(remove_sorted).scatter(-1, order, remove_sorted)  # back to vocab order
    return logits.masked_fill(remove, NEG_INF)


def filter_logits(logits, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> torch.Tensor:
    """Temperature first, then top-k, then top-p (the order Hugging Face uses)."""
    out = apply_temperature(logits, temperature)
    if top_k is not None:
        out = top_k_filter(out, top_k)
    if top_p is not None:
        out = top_p_filter(out, top_p)
    return out


def probabilities(logits, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> torch.Tensor:
    """Lesson 18: the distribution the sampler draws from. ``temperature=0`` gives greedy
    (all mass on the arg-max).

    >>> probabilities([2.0, 1.0, 0.5, 0.0], temperature=0)
    tensor([1., 0., 0., 0.])
    """
    logits = _as_logits(logits)
    if temperature == 0:
        return torch.nn.functional.one_hot(logits.argmax(dim=-1), logits.shape[-1]).to(logits.dtype)
    return softmax(filter_logits(logits, temperature, top_k, top_p), dim=-1)


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy in nats, ``-sum p log p`` over the last dimension (0 log 0 counts as 0).

    >>> entropy(torch.tensor([0.5, 0.5]))      # ln 2
    tensor(0.6931)
    """
    logp = torch.where(probs > 0, probs.log(), torch.zeros_like(probs))
    return -(probs * logp).sum(dim=-1)


def draw(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One index per row of ``probs`` ``(N, V)`` -> ``(N, 1)`` longs, on ``probs``' device.

    The draw happens on the generator's device: ``probs`` goes there for ``torch.multinomial``
    and the indices come back. So a CPU ``torch.Generator`` (what a notebook makes with
    ``torch.Generator().manual_seed(1)``) works with a model on a GPU, and a seed draws the same
    tokens from the same probabilities whatever device computed them.
    """
    if generator is None or generator.device == probs.device:
        return torch.multinomial(probs, 1, generator=generator)
    return torch.multinomial(probs.to(generator.device), 1, generator=generator).to(probs.device)


def sample(logits, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Lesson 18: draw one token id per row of ``logits`` ``(..., V)``; returns ``(...)`` longs
    on ``logits``' device.

    ``generator`` may live on another device than ``logits`` (see :func:`draw`). The same seed
    then gives the same tokens on a CPU and on a GPU as long as the probabilities are the same;
    logits a GPU computes differ from a CPU's in the last bits (other kernels, other summation
    orders), so where a draw falls within that distance of a boundary between two tokens, the
    two devices pick different tokens, and the texts part from there on.
    """
    logits = _as_logits(logits)
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = probabilities(logits, temperature, top_k, top_p)
    flat = probs.reshape(-1, probs.shape[-1]).float()  # (N, V)
    return draw(flat, generator).reshape(probs.shape[:-1])  # (N, 1) -> (...)


@torch.no_grad()
def iter_generate(model, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                  top_k: int | None = None, top_p: float | None = None, use_cache: bool = True,
                  generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Lessons 18-19: yield ``(next_token (B,), logits (B, V))`` for each new token.

    ``generator`` may be on another device than the model (a CPU generator with a GPU model
    is the usual case in a notebook): :func:`sample` draws on the generator's device.

    With ``use_cache`` the prompt is run once and each later step feeds only the newest token,
    reusing cached keys and values. Once the context outgrows ``block_size`` both paths condition on
    the last ``block_size`` tokens; the cached path then refills its cache each step so that its
    logits stay equal to the uncached ones.
    """
    check_token_ids(idx, model.config.vocab_size)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}.")
    if idx.shape[1] == 0:
        raise ValueError("generation needs a prompt of at least one token (idx has T=0).")
    if temperature != 0:
        apply_temperature(torch.zeros(1), temperature)  # validate the arguments before any work
    if top_k is not None:
        top_k_filter(torch.zeros(1), top_k)
    if top_p is not None:
        top_p_filter(torch.zeros(1), top_p)
    block = model.config.block_size
    cache = model.new_kv_cache() if use_cache else None
    ctx = idx
    for _ in range(max_new_tokens):
        if cache is None:
            logits = model(ctx[:, -block:])[:, -1, :]  # (B, V)
        elif cache.length == 0 or cache.length >= block:
            cache.reset()
            logits = model(ctx[:, -block:], kv_cache=cache)[:, -1, :]  # prefill, (B, V)
        else:
            logits = model(ctx[:, -1:], kv_cache=cache)[:, -1, :]  # one new position, (B, V)
        nxt = sample(logits, temperature, top_k, top_p, generator)  # (B,)
        yield nxt, logits
        ctx = torch.cat([ctx, nxt.unsqueeze(1).to(ctx.dtype)], dim=1)  # (B, T + 1)


def generate(model, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, use_cache: bool = True,
             generator: torch.Generator | None = None,
             stop_tokens: int | Sequence[int] | None = None) -> torch.LongTensor:
    """Lesson 18: continue ``idx`` ``(B, T)`` by up to ``max_new_tokens`` tokens -> ``(B, T + n)``.

    Generation stops early once every row has produced one of ``stop_tokens`` (the stop token is
    kept; rows that stopped earlier are padded with their stop token).
    """
    stops = set([stop_tokens] if isinstance(stop_tokens, int) else (stop_tokens or []))
    was_training = model.training
    model.eval()
    try:
        out = idx.long()
        done = torch.zeros(idx.shape[0], dtype=torch.bool, device=idx.device)
        pad = torch.zeros(idx.shape[0], dtype=torch.long, device=idx.device)
        for nxt, _ in iter_generate(model, idx, max_new_tokens, temperature, top_k, top_p,
                                    use_cache, generator):
            nxt = torch.where(done, pad, nxt)
            out = torch.cat([out, nxt.unsqueeze(1)], dim=1)  # (B, T + 1)
            if stops:
                hit = torch.tensor([t in stops for t in nxt.tolist()], device=idx.device)
                pad = torch.where(hit & ~done, nxt, pad)
                done |= hit
                if bool(done.all()):
                    break
        return out
    finally:
        model.train(was_training)


def complete(model, tokenizer, prompt: str, max_new_tokens: int = 200, **kwargs) -> str:
    """Text in, text out: encode ``prompt``, :func:`generate`, decode everything. The prompt goes to
    the model's device; a ``generator=`` may be on any device (see :func:`sample`)."""
    device = next(model.parameters()).device
    idx = torch.tensor([tokenizer.encode(prompt)], dtype=torch.long, device=device)
    return tokenizer.decode(generate(model, idx, max_new_tokens, **kwargs)[0].tolist())
