"""The whole GPT equals Hugging Face's GPT2LMHeadModel given the same weights.

A randomly initialised small config (no download). Tolerances: float32 logits max abs difference
<= 1e-5, loss difference <= 1e-5; float64 <= 1e-10."""

import pytest
import torch

transformers = pytest.importorskip("transformers")
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

from llmcourse.block import TransformerBlock  # noqa: E402
from llmcourse.hf import to_hf_gpt2  # noqa: E402
from llmcourse.model import GPT, GPTConfig  # noqa: E402

CFG = dict(vocab_size=101, block_size=32, n_layer=3, n_head=4, n_embd=64)


def _hf_random(seed=0, **over):
    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=CFG["vocab_size"], n_positions=CFG["block_size"], n_embd=CFG["n_embd"],
                     n_layer=CFG["n_layer"], n_head=CFG["n_head"], resid_pdrop=0.0, embd_pdrop=0.0,
                     attn_pdrop=0.0, **over)
    model = GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # HF initialises LayerNorms to 1/0 and biases to 0: randomise them too
        for name, p in model.named_parameters():
            if "ln" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.1)
    return model


def _idx(seed=1, B=2, T=20):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, CFG["vocab_size"], (B, T), generator=g)


def _compare(ours: GPT, hf, tol):
    idx = _idx()
    with torch.no_grad():
        out = hf(idx, labels=idx)  # HF shifts labels internally
        logits = ours(idx)
        _, loss = ours(idx[:, :-1], targets=idx[:, 1:])
    assert logits.shape == out.logits.shape
    diff = (logits - out.logits).abs().max().item()
    assert diff <= tol, f"max |logits - HF logits| = {diff:.3g} > {tol}"
    assert abs(loss.item() - out.loss.item()) <= tol
    return diff


def test_from_hf_gpt2_same_logits_and_loss():
    hf = _hf_random()
    ours = GPT.from_hf_gpt2(hf).eval()
    _compare(ours, hf, 1e-5)


def test_ours_exported_to_hf_same_logits_and_loss():
    torch.manual_seed(3)
    ours = GPT(GPTConfig(**CFG)).eval()
    hf = to_hf_gpt2(ours)
    _compare(ours, hf, 1e-5)


def test_float64_agreement_is_tight():
    hf = _hf_random(seed=4).double()
    ours = GPT.from_hf_gpt2(hf).double().eval()
    _compare(ours, hf, 1e-10)


@pytest.mark.parametrize("fast", [True, False])
def test_both_attention_paths_match_hf(fast):
    hf = _hf_random(seed=5)
    ours = GPT.from_hf_gpt2(hf).eval()
    for blk in ours.blocks:
        blk.attn.fast = fast
    _compare(ours, hf, 1e-5)


def test_exact_gelu_variant():
    hf = _hf_random(seed=6, activation_function="gelu")
    ours = GPT.from_hf_gpt2(hf).eval()
    assert ours.config.activation == "gelu"
    _compare(ours, hf, 1e-5)


def test_block_equals_hf_block():
    hf = _hf_random(seed=7)
    ours = GPT.from_hf_gpt2(hf).eval()
    x = torch.randn(2, 9, CFG["n_embd"])
    with torch.no_grad():
        hf_out = hf.transformer.h[0](x)
        hf_out = hf_out[0] if isinstance(hf_out, tuple) else hf_out
        ours_out = ours.blocks[0](x)
    assert isinstance(ours.blocks[0], TransformerBlock)
    assert (ours_out - hf_out).abs().max() <= 1e-5


def test_head_is_tied_and_counted_once():
    ours = GPT(GPTConfig(**CFG))
    assert ours.lm_head.weight is ours.embed.tok.weight
    hf = to_hf_gpt2(ours)
    assert ours.num_parameters() == sum(p.numel() for p in hf.parameters())


def test_breaking_a_weight_is_detected():
    """The comparison can fail: perturb one weight and the logits move far beyond tolerance."""
    hf = _hf_random(seed=8)
    ours = GPT.from_hf_gpt2(hf).eval()
    with torch.no_grad():
        ours.blocks[1].mlp.c_fc.weight[0, 0] += 0.5
    with pytest.raises(AssertionError):
        _compare(ours, hf, 1e-5)
