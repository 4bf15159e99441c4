"""Lesson 15's exercise references agree with the package and with the formulas the lesson states.

Tolerance: float32, max abs difference <= 1e-6 (same operations, so in practice identical)."""

import pytest
import torch

from llmcourse.block import TransformerBlock
from llmcourse.grading.lessons import l15


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n_embd, n_head", [(8, 2), (64, 4), (96, 3)])
def test_block_params_formula_counts_the_module(n_embd, n_head, bias):
    block = TransformerBlock(n_embd, n_head, bias=bias)
    assert l15.block_params(n_embd, bias=bias) == sum(p.numel() for p in block.parameters())


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


def test_post_ln_reference_normalises_after_each_addition():
    torch.manual_seed(0)
    blk = l15.PostLNBlock(16, 4).eval()
    x = _x(16)
    with torch.no_grad():
        h = blk.ln_1(x + blk.attn(x))
        want = blk.ln_2(h + blk.mlp(h))
        assert torch.allclose(blk(x), want, atol=1e-6, rtol=0)
        # LayerNorm output: every row has mean = mean of the shift, spread set by the gains
        z = (blk(x) - blk.ln_2.bias) / blk.ln_2.weight
        assert torch.allclose(z.mean(-1), torch.zeros(2, 7), atol=1e-5)
