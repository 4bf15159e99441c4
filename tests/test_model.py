"""GPTConfig / GPT behaviour: shapes, loss at init, init statistics, and clear errors for bad input."""

import math

import pytest
import torch

from llmcourse.model import GPT, GPTConfig

SMALL = dict(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=32)


def test_forward_shapes_and_loss_at_init():
    torch.manual_seed(0)
    model = GPT(GPTConfig(**SMALL))
    idx = torch.randint(0, 50, (4, 16))
    targets = torch.randint(0, 50, (4, 16))
    assert model(idx).shape == (4, 16, 50)
    logits, loss = model(idx, targets)
    assert abs(loss.item() - math.log(50)) < 0.05  # uniform-ish predictions at init


def test_gpt2_init_statistics():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=500, block_size=64, n_layer=4, n_head=4, n_embd=128))
    assert abs(model.blocks[0].attn.c_attn.weight.std().item() - 0.02) < 0.002
    expected = 0.02 / math.sqrt(2 * 4)
    assert abs(model.blocks[0].mlp.c_proj.weight.std().item() - expected) < 0.001
    assert model.blocks[0].attn.c_attn.bias.abs().max() == 0


@pytest.mark.parametrize("over", [{"norm_position": "post"}, {"pos_embedding": "rope"},
                                  {"pos_embedding": "sinusoidal"}, {"norm": "rms"}, {"dropout": 0.1}])
def test_variants_run_and_backprop(over):
    model = GPT(GPTConfig(**SMALL, **over))
    idx = torch.randint(0, 50, (2, 10))
    _, loss = model(idx, idx)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_targets_ignore_index():
    model = GPT(GPTConfig(**SMALL))
    idx = torch.randint(0, 50, (1, 8))
    t = idx.clone()
    t[0, :4] = -100
    _, loss_part = model(idx, t)
    logits = model(idx)
    ref = torch.nn.functional.cross_entropy(logits[0, 4:], idx[0, 4:])
    assert abs(loss_part.item() - ref.item()) < 1e-6


def test_attention_maps_shape_and_causality():
    model = GPT(GPTConfig(**SMALL))
    maps = model.attention_maps(torch.randint(0, 50, (1, 7)))
    assert maps.shape == (2, 1, 2, 7, 7)
    assert torch.all(maps.triu(1) == 0)
    assert torch.allclose(maps.sum(-1), torch.ones(2, 1, 2, 7))
    assert all(not b.attn.save_weights for b in model.blocks)


def test_config_round_trip():
    cfg = GPTConfig(**SMALL, dropout=0.1)
    assert GPTConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown GPTConfig fields"):
        GPTConfig.from_dict({**cfg.to_dict(), "n_embed": 3})


@pytest.mark.parametrize("kwargs, match", [
    ({"n_embd": 30, "n_head": 4}, "n_embd=30 is not divisible by n_head=4"),
    ({"n_layer": 0}, "n_layer must be a positive integer"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ({"pos_embedding": "alibi"}, "pos_embedding must be one of"),
    ({"norm_position": "middle"}, "norm_position must be one of"),
])
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GPTConfig(**{**SMALL, **kwargs})


def test_bad_idx_errors_are_clear():
    model = GPT(GPTConfig(**SMALL))
    with pytest.raises(ValueError, match="exceeds block_size=16"):
        model(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(TypeError, match="integer token ids"):
        model(torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"Fix: add a batch dimension"):
        model(torch.zeros(4, dtype=torch.long))
    with pytest.raises(TypeError, match="torch.LongTensor"):
        model([[1, 2, 3]])
    with pytest.raises(IndexError, match="vocabulary has ids 0..49"):
        model(torch.tensor([[1, 50]]))
    with pytest.raises(ValueError, match="targets must have the same shape"):
        model(torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="GPT expects a GPTConfig"):
        GPT(SMALL)
