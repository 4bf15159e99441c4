"""Lesson 17's exercise references agree with the package's GPT output layer and loss.

Tolerances: float32, max abs difference <= 1e-6 for logits (same operations), 1e-5 for losses."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from llmcourse.grading.lessons import l17
from llmcourse.model import GPT, GPTConfig, hidden_states


def _model(V=65, tie=True, seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=V, block_size=16, n_layer=2, n_head=2, n_embd=32, tie_weights=tie)).eval()


def test_output_layer_reference_is_the_gpt_output_layer():
    model = _model()
    emb = nn.Embedding(65, 32)
    head = l17.OutputLayer(emb)
    head.load_state_dict({"ln_f.weight": model.ln_f.weight, "ln_f.bias": model.ln_f.bias,
                          "lm_head.weight": model.lm_head.weight})
    idx = torch.randint(0, 65, (2, 9))
    with torch.no_grad():
        x = hidden_states(model, idx)[-1]  # (B, T, C)
        assert (head.eval()(x) - model(idx)).abs().max().item() <= 1e-6


def test_output_layer_reference_is_tied():
    emb = nn.Embedding(11, 8)
    head = l17.OutputLayer(emb)
    assert head.lm_head.weight is emb.weight
    assert sum(p.numel() for p in head.parameters()) == 11 * 8 + 2 * 8


def test_run_sees_the_embedding_update():
    """The grader's runner must tell a tied head from an untied copy (the point of exercise 17.1)."""
    from llmcourse.grading.cases import Rand
    case = l17._head_case(Rand(3), 7, 8, 1, 4)
    tied = l17._run_output_layer(l17.OutputLayer, case)
    copied = l17._run_output_layer(l17._Untied, case)
    assert tied["logits"].shape == (1, 4, 7)
    assert (tied["logits"] - copied["logits"]).abs().max().item() > 1e-2
    grad = "gradient reaching the token embedding"
    assert tied[grad].abs().sum() > 0 and copied[grad].abs().sum() == 0


@pytest.mark.parametrize("shape", [(5, 65), (2, 7, 65)])
def test_cross_entropy_reference_matches_the_model_loss(shape):
    model = _model()
    idx = torch.randint(0, 65, (2, 7))
    targets = torch.randint(0, 65, (2, 7))
    logits, loss = model(idx, targets)
    assert abs(l17.cross_entropy(logits, targets).item() - loss.item()) <= 1e-5
    z, y = torch.randn(*shape), torch.randint(0, 65, shape[:-1])
    by_hand = (torch.logsumexp(z, -1) - z.gather(-1, y.unsqueeze(-1)).squeeze(-1)).mean()
    assert abs(l17.cross_entropy(z, y).item() - by_hand.item()) <= 1e-5


def test_article_numbers_and_uniform_loss():
    z = torch.tensor([[2.0, 1.0, 0.5, 0.0]])
    assert round(torch.softmax(z, -1)[0, 0].item(), 2) == 0.58
    assert round(l17.cross_entropy(z, torch.tensor([0])).item(), 4) == 0.546
    for k in (2, 65, 50257):
        assert abs(l17.cross_entropy(torch.zeros(3, k), torch.tensor([0, 1, 1])).item() - math.log(k)) <= 1e-5


def test_masked_loss_is_the_mean_over_real_targets_only():
    """Padding changes nothing: the masked loss of a padded batch equals the plain mean loss of its
    real positions, whatever the padded logits hold and whatever id marks the padding."""
    torch.manual_seed(0)
    z = torch.randn(2, 5, 9)  # (B, T, V)
    y = torch.randint(1, 9, (2, 5))
    for pad in (-100, 0):
        t = y.clone()
        t[0, 2:] = pad  # row 0 keeps 2 real targets, row 1 all 5
        real = torch.cat([z[0, :2], z[1]])  # (7, V)
        want = F.cross_entropy(real, torch.cat([y[0, :2], y[1]]))
        got = l17.masked_cross_entropy(z, t, ignore_index=pad)
        assert abs(got.item() - want.item()) <= 1e-6
        z2 = z.clone()
        z2[0, 2:] = 1e3 * torch.randn(3, 9)  # the padded positions' logits do not matter
        assert abs(l17.masked_cross_entropy(z2, t, ignore_index=pad).item() - want.item()) <= 1e-6
