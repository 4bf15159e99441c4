"""Lesson 15's exercise references agree with the package and with the formulas the lesson states.

Tolerance: float32, max abs difference <= 1e-6 (same operations, so in practice identical)."""

import math

import torch

from llmcourse.block import TransformerBlock
from llmcourse.grading.lessons import l15


def _x(C):
    return torch.randn(2, 7, C, generator=torch.Generator().manual_seed(3))


def test_pre_ln_reference_is_x_plus_attn_of_ln1_then_mlp_of_ln2():
    torch.manual_seed(0)
    blk = l15.Block(16, 4).eval()
    assert not torch.equal(blk.ln_1.weight, blk.ln_2.weight)  # randomised: a swapped norm would show
    x = _x(16)
    with torch.no_grad():
        h = x + blk.attn(blk.ln_1(x))
        want = h + blk.mlp(blk.ln_2(h))
        assert torch.allclose(blk(x), want, atol=1e-6, rtol=0)


def test_parallel_reference_adds_both_branches_of_one_normalised_copy():
    torch.manual_seed(0)
    blk = l15.ParallelBlock(16, 4).eval()
    assert not torch.equal(blk.ln_1.weight, torch.ones(16))  # randomised gain
    seq = TransformerBlock(16, 4).eval()
    seq.load_state_dict({**blk.state_dict(), "ln_2.weight": blk.ln_1.weight, "ln_2.bias": blk.ln_1.bias})
    x = _x(16)
    with torch.no_grad():
        h = blk.ln_1(x)
        assert torch.allclose(blk(x), x + seq.attn(h) + seq.mlp(h), atol=1e-6, rtol=0)
        assert not torch.allclose(blk(x), seq(x), atol=1e-3)  # not GPT-2's sequential block


def test_post_ln_prediction_is_sqrt_d_whatever_the_input_size():
    assert abs(l15.post_ln_out_norm() - math.sqrt(64)) < 1e-3
