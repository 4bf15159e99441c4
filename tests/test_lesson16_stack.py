"""Lesson 16's exercise references agree with the package's GPT.

Tolerance: float32, max abs difference <= 1e-6 (same operations in the same order)."""

import pytest
import torch

from llmcourse.grading.lessons import l16
from llmcourse.model import GPT, GPTConfig, hidden_states


@pytest.mark.parametrize("tie", [True, False])
@pytest.mark.parametrize("V, T, L, d", [(65, 64, 4, 128), (101, 32, 1, 24), (7, 9, 3, 8)])
def test_gpt_params_counts_the_built_model(V, T, L, d, tie):
    model = GPT(GPTConfig(vocab_size=V, block_size=T, n_layer=L, n_head=2, n_embd=d, tie_weights=tie))
    assert l16.gpt_params(V, T, L, d, tie_weights=tie) == model.num_parameters()


def test_block_stack_reference_is_the_gpt_stack():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=3, n_head=2, n_embd=16)).eval()
    stack = l16.BlockStack(3, 16, 2).eval()
    stack.load_state_dict({k: v for k, v in model.state_dict().items() if k.startswith("blocks.")})
    idx = torch.randint(0, 11, (2, 8))
    with torch.no_grad():
        hs = hidden_states(model, idx)
        assert torch.allclose(stack(hs[0]), hs[-1], atol=1e-6, rtol=0)


def test_block_stack_reference_has_distinct_blocks():
    torch.manual_seed(0)
    stack = l16.BlockStack(3, 16, 2)
    w = [b.ln_1.weight for b in stack.blocks]
    assert not torch.equal(w[0], w[1]) and not torch.equal(w[1], w[2])
    assert sum(p.numel() for p in stack.parameters()) == 3 * (12 * 16**2 + 13 * 16)


def test_shared_stack_reference_cycles_through_its_blocks():
    """n_unique = n_layer is the ordinary stack; with fewer blocks, layer i runs block i % n_unique
    and the parameters are those of the distinct blocks only."""
    torch.manual_seed(0)
    shared = l16.SharedStack(4, 2, 16, 2).eval()
    x = torch.randn(2, 5, 16)
    blocks = shared.blocks
    with torch.no_grad():
        want = blocks[1](blocks[0](blocks[1](blocks[0](x))))
        assert torch.allclose(shared(x), want, atol=0, rtol=0)
    assert sum(p.numel() for p in shared.parameters()) == 2 * (12 * 16**2 + 13 * 16)
    full = l16.SharedStack(3, 3, 16, 2).eval()
    stack = l16.BlockStack(3, 16, 2).eval()
    stack.load_state_dict(full.state_dict())
    with torch.no_grad():
        assert torch.equal(full(x), stack(x))
