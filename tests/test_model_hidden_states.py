"""``llmcourse.model.hidden_states`` (lessons 16-17): the residual stream after every block.

Tolerance: float32, max abs difference <= 1e-6 (the same operations in the same order, so the
results are in fact identical)."""

import pytest
import torch

from llmcourse.model import GPT, GPTConfig, hidden_states


def _model(**over):
    torch.manual_seed(0)
    cfg = dict(vocab_size=17, block_size=12, n_layer=3, n_head=2, n_embd=16) | over
    return GPT(GPTConfig(**cfg)).eval()


def test_one_state_per_layer_plus_embedding():
    m = _model()
    idx = torch.randint(0, 17, (2, 7))
    hs = hidden_states(m, idx)
    assert len(hs) == m.config.n_layer + 1
    assert all(h.shape == (2, 7, 16) for h in hs)


def test_first_is_the_embedding_and_each_next_is_one_block_applied():
    m = _model()
    idx = torch.randint(0, 17, (2, 7))
    with torch.no_grad():
        hs = hidden_states(m, idx)
        assert torch.equal(hs[0], m.embed(idx))
        for i, block in enumerate(m.blocks):
            assert torch.allclose(hs[i + 1], block(hs[i]), atol=1e-6, rtol=0)


@pytest.mark.parametrize("norm_position", ["pre", "post"])
def test_last_state_gives_the_model_logits(norm_position):
    m = _model(norm_position=norm_position)
    idx = torch.randint(0, 17, (3, 12))
    with torch.no_grad():
        logits = m.lm_head(m.ln_f(hidden_states(m, idx)[-1]))
        assert torch.allclose(logits, m(idx), atol=1e-6, rtol=0)


def test_gradients_flow_and_inputs_are_checked():
    m = _model()
    hidden_states(m, torch.tensor([[1, 2, 3]]))[-1].sum().backward()
    assert m.blocks[0].attn.c_attn.weight.grad is not None
    with pytest.raises(TypeError, match="expects a GPT"):
        hidden_states(torch.nn.Linear(2, 2), torch.tensor([[1]]))
    with pytest.raises(Exception):
        hidden_states(m, torch.tensor([[99]]))  # id outside the vocabulary
