"""Sampling: the seed's tables exactly, the filters' kept sets, statistics of sampled
frequencies, and generation (cached == uncached at every step, greedy, stop tokens, cropping)."""

import math

import pytest
import torch

from llmcourse.model import GPT, GPTConfig
from llmcourse.sampling import (
    apply_temperature, entropy, generate, iter_generate, probabilities, sample, top_k_filter,
    top_p_filter,
)

SEED_LOGITS = torch.tensor([2.0, 1.0, 0.5, 0.0])  # "on", "the", "mat", "in"


def r2(t):
    return [round(v, 2) for v in t.tolist()]


def test_seed_softmax_and_temperature_tables():
    assert r2(probabilities(SEED_LOGITS)) == [0.58, 0.21, 0.13, 0.08]
    assert r2(probabilities(SEED_LOGITS, temperature=0.5)) == [0.83, 0.11, 0.04, 0.02]
    assert r2(probabilities(SEED_LOGITS, temperature=1.0)) == [0.58, 0.21, 0.13, 0.08]
    assert r2(probabilities(SEED_LOGITS, temperature=2.0)) == [0.41, 0.25, 0.19, 0.15]
    # the intermediate numbers of the seed
    assert apply_temperature(SEED_LOGITS, 0.5).tolist() == [4.0, 2.0, 1.0, 0.0]
    assert round(SEED_LOGITS.exp().sum().item(), 2) == 12.76
    assert round((SEED_LOGITS / 0.5).exp().sum().item(), 2) == 65.71
    assert round((SEED_LOGITS / 2).exp().sum().item(), 2) == 6.65


def test_seed_top_k_and_top_p():
    assert r2(probabilities(SEED_LOGITS, top_k=2)) == [0.73, 0.27, 0.0, 0.0]
    assert (probabilities(SEED_LOGITS, top_p=0.7) > 0).tolist() == [True, True, False, False]
    assert (probabilities(SEED_LOGITS, top_p=0.95) > 0).tolist() == [True, True, True, True]
    cum = probabilities(SEED_LOGITS).cumsum(0)
    assert r2(cum) == [0.58, 0.79, 0.92, 1.0]


def test_filters_mark_removed_with_minus_inf():
    out = top_k_filter(SEED_LOGITS, 3)
    assert out[-1] == float("-inf") and torch.equal(out[:3], SEED_LOGITS[:3])
    out = top_p_filter(SEED_LOGITS, 0.7)
    assert out.tolist() == [2.0, 1.0, float("-inf"), float("-inf")]
    assert torch.equal(top_p_filter(SEED_LOGITS, 1.0), SEED_LOGITS)
    assert torch.equal(top_k_filter(SEED_LOGITS, 100), SEED_LOGITS)


def test_top_p_works_on_unsorted_batches():
    logits = torch.tensor([[0.0, 2.0, 0.5, 1.0], [3.0, 0.0, 0.0, 0.0]])
    kept = top_p_filter(logits, 0.7) > float("-inf")
    assert kept.tolist() == [[False, True, False, True], [True, False, False, False]]


def test_temperature_to_zero_is_greedy():
    for t in (1e-2, 1e-3):
        p = probabilities(SEED_LOGITS, temperature=t)
        assert p[0] > 0.999
    assert probabilities(SEED_LOGITS, temperature=0).tolist() == [1.0, 0.0, 0.0, 0.0]
    assert sample(SEED_LOGITS, temperature=0).item() == 0


@pytest.mark.parametrize("kwargs", [{}, {"temperature": 2.0}, {"top_k": 2}, {"top_p": 0.95},
                                    {"temperature": 0.7, "top_p": 0.9}])
def test_sampled_frequencies_match_probabilities(kwargs):
    """Pearson chi-square over N draws; bound 25.0 ~ p < 2e-5 for <= 3 degrees of freedom, so a
    correct sampler fails this (seeded) test essentially never, and a wrong one always."""
    n = 40_000
    g = torch.Generator().manual_seed(1234)
    p = probabilities(SEED_LOGITS, **kwargs)
    draws = sample(SEED_LOGITS.expand(n, 4), generator=g, **kwargs)
    counts = torch.bincount(draws, minlength=4).double()
    expected = p.double() * n
    kept = expected > 0
    assert counts[~kept].sum() == 0, "sampled a token the filters removed"
    chi2 = (((counts - expected) ** 2)[kept] / expected[kept]).sum().item()
    assert chi2 < 25.0, f"chi2={chi2:.1f}"


def test_sampling_statistic_can_fail():
    """The same statistic rejects a sampler that ignores the temperature."""
    n = 40_000
    g = torch.Generator().manual_seed(1234)
    draws = sample(SEED_LOGITS.expand(n, 4), generator=g)  # T = 1
    counts = torch.bincount(draws, minlength=4).double()
    expected = probabilities(SEED_LOGITS, temperature=2.0).double() * n
    assert (((counts - expected) ** 2) / expected).sum().item() > 25.0


def test_entropy():
    assert abs(entropy(torch.full((4,), 0.25)).item() - math.log(4)) < 1e-6
    assert entropy(torch.tensor([1.0, 0.0])).item() == 0.0


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=37, block_size=12, n_layer=2, n_head=2, n_embd=32)).eval()
    with torch.no_grad():  # larger weights than init so the distribution is far from uniform
        for p in model.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.3)
    return model


@pytest.mark.parametrize("pos", ["learned", "rope", "sinusoidal"])
def test_cached_and_uncached_logits_equal_at_every_step(pos):
    torch.manual_seed(1)
    model = GPT(GPTConfig(vocab_size=37, block_size=12, n_layer=2, n_head=2, n_embd=32,
                          pos_embedding=pos)).eval()
    idx = torch.randint(0, 37, (2, 5))
    steps = 15  # runs past block_size=12, exercising the crop and cache refill
    a = list(iter_generate(model, idx, steps, temperature=0, use_cache=True))
    b = list(iter_generate(model, idx, steps, temperature=0, use_cache=False))
    assert len(a) == len(b) == steps
    worst = max((la - lb).abs().max().item() for (_, la), (_, lb) in zip(a, b))
    assert worst <= 1e-5, f"cached vs uncached logits differ by {worst}"
    assert all(torch.equal(ta, tb) for (ta, _), (tb, _) in zip(a, b))


def test_greedy_is_deterministic_and_matches_argmax(tiny_model):
    idx = torch.tensor([[1, 2, 3]])
    out1 = generate(tiny_model, idx, 8, temperature=0)
    out2 = generate(tiny_model, idx, 8, temperature=0, use_cache=False)
    assert torch.equal(out1, out2)
    ctx = idx
    for _ in range(8):
        nxt = tiny_model(ctx)[:, -1].argmax(-1, keepdim=True)
        ctx = torch.cat([ctx, nxt], 1)
    assert torch.equal(out1, ctx)
    low_t = generate(tiny_model, idx, 8, temperature=1e-4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(low_t, out1)


def test_generator_makes_sampling_reproducible(tiny_model):
    idx = torch.tensor([[1, 2, 3]])
    a = generate(tiny_model, idx, 10, top_k=5, generator=torch.Generator().manual_seed(7))
    b = generate(tiny_model, idx, 10, top_k=5, generator=torch.Generator().manual_seed(7))
    c = generate(tiny_model, idx, 10, top_k=5, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_stop_token_and_long_prompt(tiny_model):
    idx = torch.tensor([[1, 2, 3]])
    greedy = generate(tiny_model, idx, 10, temperature=0)
    stop = greedy[0, 5].item()
    out = generate(tiny_model, idx, 10, temperature=0, stop_tokens=stop)
    first = (greedy[0, 3:] == stop).nonzero()[0].item() + 3
    assert out.shape[1] == first + 1 and out[0, -1].item() == stop
    long_prompt = torch.randint(0, 37, (1, 30))  # longer than block_size=12: cropped, no error
    assert generate(tiny_model, long_prompt, 3).shape == (1, 33)
    assert tiny_model.training is False


def test_generate_restores_training_mode(tiny_model):
    tiny_model.train()
    generate(tiny_model, torch.tensor([[1]]), 2)
    assert tiny_model.training
    tiny_model.eval()


@pytest.mark.parametrize("kwargs, match", [
    ({"temperature": -1.0}, "temperature must be a number > 0"),
    ({"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
    ({"top_p": 1.5}, r"top_p must be in \(0, 1\]"),
    ({"top_k": 0}, "top_k must be an integer >= 1"),
])
def test_bad_sampling_arguments(tiny_model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate(tiny_model, torch.tensor([[1]]), 2, **kwargs)
    with pytest.raises(ValueError, match=match):
        probabilities(SEED_LOGITS, **{"temperature": 1.0, **kwargs})


def test_apply_temperature_rejects_zero_with_a_hint():
    with pytest.raises(ValueError, match="greedy"):
        apply_temperature(SEED_LOGITS, 0)


def test_top_p_boundary_reaching_p_exactly_is_enough():
    """Probabilities that are exact binary fractions: a prefix whose mass *equals* p is the
    nucleus, so the next token is removed (``before >= p``, not ``>``)."""
    for dtype in (torch.float32, torch.float64):
        logits = torch.log(torch.tensor([0.5, 0.25, 0.125, 0.125], dtype=dtype))
        kept = torch.isfinite(top_p_filter(logits, 0.5)).tolist()
        assert kept == [True, False, False, False]
        kept = torch.isfinite(top_p_filter(logits, 0.75)).tolist()
        assert kept == [True, True, False, False]


class _GeneratorElsewhere(torch.Generator):
    """A CPU generator that reports another device ("meta" standing in for a GPU's), so that a
    CPU-only machine can check what happens when the generator and the logits live apart."""

    @property
    def device(self):
        return torch.device("meta")


def _strict_multinomial(seen):
    """``torch.multinomial`` with the rule CUDA enforces: the generator must be on the input's
    device ("Expected a 'cuda' device type for generator but found 'cpu'"). The draw itself is
    made from the real probabilities, which the test keeps aside, since a meta tensor has no data."""
    real = torch.multinomial

    def multinomial(input, num_samples, generator=None):
        if generator is not None and generator.device != input.device:
            raise RuntimeError(f"Expected a '{input.device.type}' device type for generator but "
                               f"found '{generator.device.type}'")
        seen.append(input.device)
        return real(seen.probs, num_samples, generator=generator)
    return multinomial


def test_sample_draws_on_the_generators_device_and_returns_on_the_logits(monkeypatch):
    class Seen(list):
        probs = None

    seen = Seen()
    logits = torch.tensor([[2.0, 1.0, 0.5, 0.0], [0.0, 0.0, 3.0, 0.0]])
    seen.probs = probabilities(logits)
    monkeypatch.setattr(torch, "multinomial", _strict_multinomial(seen))
    elsewhere = sample(logits, generator=_GeneratorElsewhere().manual_seed(5))
    assert seen == [torch.device("meta")]  # the draw ran where the generator lives
    assert elsewhere.device == logits.device and elsewhere.shape == (2,)
    # and the same seed draws the same tokens as a generator beside the logits
    assert torch.equal(elsewhere, sample(logits, generator=torch.Generator().manual_seed(5)))


def test_generate_with_a_generator_on_another_device_than_the_model(tiny_model, monkeypatch):
    import llmcourse.sampling as S

    idx = torch.tensor([[1, 2, 3]])
    want = generate(tiny_model, idx, 6, top_k=5, generator=torch.Generator().manual_seed(3))
    real_draw_input = []
    real_to = torch.Tensor.to

    def to(self, *args, **kwargs):  # a meta copy remembers the values it stands for
        out = real_to(self, *args, **kwargs)
        if out.device.type == "meta":
            real_draw_input.append(self)
        return out

    class Seen(list):
        @property
        def probs(self):
            return real_draw_input[-1]

    seen = Seen()
    monkeypatch.setattr(torch.Tensor, "to", to)
    monkeypatch.setattr(torch, "multinomial", _strict_multinomial(seen))
    got = S.generate(tiny_model, idx, 6, top_k=5, generator=_GeneratorElsewhere().manual_seed(3))
    assert len(seen) == 6 and set(seen) == {torch.device("meta")}
    assert torch.equal(got, want)  # same seed, same tokens, wherever the generator lives
