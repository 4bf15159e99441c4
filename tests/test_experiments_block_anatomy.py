"""Lesson 15's block measurements: influence maps, the stream trace and the pre/post-LN comparison."""

import math

import pytest
import torch

from llmcourse.block import TransformerBlock
from llmcourse.experiments import block_anatomy as ba
from llmcourse.model import GPT, GPTConfig, hidden_states


def test_influence_maps_show_causal_attention_and_position_wise_mlp():
    torch.manual_seed(0)
    maps = ba.branch_influence(TransformerBlock(16, 4).eval(), torch.randn(2, 5, 16))
    lower = torch.tril(torch.ones(5, 5))
    assert torch.equal(maps["attention branch"], lower)
    assert torch.equal(maps["MLP branch"], torch.eye(5))
    assert torch.equal(maps["whole block"], lower)


def test_a_constant_nudge_would_be_erased_by_the_norm_but_a_random_one_is_not():
    ln = torch.nn.LayerNorm(8)
    x = torch.randn(1, 3, 8)
    assert torch.equal(ba.influence_map(ln, x), torch.eye(3))  # each row moves only itself


def _gpt(norm_position="pre"):
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=20, block_size=8, n_layer=3, n_head=2, n_embd=16,
                         norm_position=norm_position)).eval()


def test_stream_trace_walks_every_addition_and_ends_at_the_models_stream():
    model, idx = _gpt(), torch.randint(0, 20, (2, 8))
    trace = ba.stream_trace(model, idx)
    assert trace["steps"][:3] == ["embedding", "1: + attn", "1: + MLP"] and len(trace["steps"]) == 7
    assert len(trace["stream"]) == 7 and len(trace["writes"]) == 6
    last = hidden_states(model, idx)[-1].norm(dim=-1).mean().item()
    assert trace["stream"][-1] == pytest.approx(last, rel=1e-5)


def test_stream_trace_refuses_a_post_ln_model():
    with pytest.raises(ValueError, match="pre-LN"):
        ba.stream_trace(_gpt("post"), torch.randint(0, 20, (1, 8)))


def test_compare_norm_positions_pins_the_post_ln_stream_at_sqrt_d():
    ids = torch.randint(0, 20, (400,))
    res = ba.compare_norm_positions(ids, vocab_size=20, steps=2, n_layer=2, n_embd=16, n_head=2,
                                    block_size=8, batch_size=2)
    assert len(res["norms"]["pre"]) == 3 and len(res["losses"]["post"]) == 2
    for after_block in res["norms"]["post"][1:]:
        assert after_block == pytest.approx(math.sqrt(16), rel=1e-3)  # fresh LayerNorm: gain 1
    assert res["norms"]["pre"][0] == res["norms"]["post"][0]  # same embedding weights
