"""Closed-form parameter counts equal the real modules and the published model sizes."""

import math

import pytest
import torch

from llmcourse.model import GPT, GPTConfig
from llmcourse.scaling import (
    GPT_SIZES, PUBLISHED_PARAMS, chinchilla_optimal, count_parameters, flops_per_token,
    kv_cache_bytes, memory_bytes, parameter_breakdown,
)

VARIANTS = [
    {},
    {"bias": False},
    {"tie_weights": False},
    {"pos_embedding": "sinusoidal"},
    {"pos_embedding": "rope"},
    {"norm": "rms"},
    {"norm": "rms", "bias": False, "tie_weights": False},
]


@pytest.mark.parametrize("over", VARIANTS)
def test_formula_equals_module(over):
    cfg = GPTConfig(vocab_size=71, block_size=24, n_layer=3, n_head=4, n_embd=32, **over)
    model = GPT(cfg)
    assert count_parameters(cfg) == model.num_parameters()
    assert count_parameters(cfg, exclude_embeddings=True) == model.num_parameters(exclude_embeddings=True)


@pytest.mark.parametrize("name", ["gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"])
def test_published_gpt2_sizes_exactly(name):
    assert count_parameters(GPT_SIZES[name]) == PUBLISHED_PARAMS[name]


def test_gpt2_small_module_count_matches_formula():
    with torch.device("meta"):  # no memory: parameters on the meta device
        model = GPT(GPT_SIZES["gpt2"])
    assert model.num_parameters() == 124_439_808


@pytest.mark.parametrize("name", [k for k in PUBLISHED_PARAMS if k.startswith("gpt3")])
def test_gpt3_sizes_within_two_percent(name):
    ratio = count_parameters(GPT_SIZES[name]) / PUBLISHED_PARAMS[name]
    assert abs(ratio - 1) < 0.02, f"{name}: {ratio:.4f}"


def test_twelve_d_squared_rule():
    cfg = GPT_SIZES["gpt3-175b"]
    blocks = parameter_breakdown(cfg)["attention"] + parameter_breakdown(cfg)["mlp"]
    assert abs(blocks / (12 * cfg.n_layer * cfg.n_embd**2) - 1) < 1e-3


def test_flops_per_token_is_six_n_plus_attention():
    cfg = GPT_SIZES["gpt2"]
    n_matmul = count_parameters(cfg, exclude_embeddings=True) - parameter_breakdown(cfg)["norms"] \
        + cfg.vocab_size * cfg.n_embd
    assert flops_per_token(cfg, training=False) == 2 * n_matmul + 4 * cfg.n_layer * cfg.block_size * cfg.n_embd
    assert flops_per_token(cfg) == 3 * flops_per_token(cfg, training=False)
    # close to the rule of thumb 6N for short contexts
    assert abs(flops_per_token(cfg, seq_len=1) / (6 * count_parameters(cfg)) - 1) < 0.05


def test_chinchilla():
    n, d = chinchilla_optimal(6 * 70e9 * 1.4e12)
    assert abs(n / 70e9 - 1) < 1e-9 and abs(d / 1.4e12 - 1) < 1e-9
    assert d / n == 20
    with pytest.raises(ValueError):
        chinchilla_optimal(0)


def test_memory_formulas():
    cfg = GPT_SIZES["gpt2"]
    m = memory_bytes(cfg, bytes_per_value=4)
    assert m["total"] == 16 * count_parameters(cfg)
    assert kv_cache_bytes(cfg, batch_size=1, seq_len=1024, bytes_per_value=2) == 2 * 12 * 1024 * 768 * 2
    assert math.isclose(memory_bytes(cfg, training=False)["total"], 4 * 124_439_808)
