"""The fast forms sit beside the readable ones in the same forward, behind a flag: both branches
give the same numbers, and the flag really switches the kernel (the readable branch never calls
the fused kernel, the fused branch always does)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from llmcourse.config import GPTConfig
from llmcourse.embedding import RotaryEmbedding
from llmcourse.feedforward import GELU
from llmcourse.model import GPT
from llmcourse.norm import LayerNorm, RMSNorm


def _spy(monkeypatch, module, name):
    calls = []
    real = getattr(module, name)

    def spy(*args, **kwargs):
        calls.append(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return calls


CASES = [
    (lambda fused: LayerNorm(16, fused=fused), F, "layer_norm"),
    (lambda fused: LayerNorm(16, bias=False, fused=fused), F, "layer_norm"),
    (lambda fused: GELU("tanh", fused=fused), F, "gelu"),
    (lambda fused: GELU("none", fused=fused), F, "gelu"),
    (lambda fused: RotaryEmbedding(16, 32, fused=fused), torch, "view_as_complex"),
]
if hasattr(F, "rms_norm"):
    CASES.append((lambda fused: RMSNorm(16, fused=fused), F, "rms_norm"))


@pytest.mark.parametrize("make, where, kernel", CASES, ids=lambda v: v if isinstance(v, str) else "")
def test_fused_branch_equals_readable_and_the_flag_switches_the_kernel(monkeypatch, make, where, kernel):
    torch.manual_seed(0)
    readable, fused = make(False), make(True)
    fused.load_state_dict(readable.state_dict())
    with torch.no_grad():
        for p in readable.parameters():
            p.normal_()  # non-trivial weights, copied below
    fused.load_state_dict(readable.state_dict())
    x = torch.randn(2, 3, 5, 16, dtype=torch.float64)
    readable, fused = readable.double(), fused.double()
    calls = _spy(monkeypatch, where, kernel)
    want = readable(x)
    assert calls == [], f"the readable branch called {kernel}"
    got = fused(x)
    assert calls, f"fused=True did not call {kernel}"
    torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-12)


def test_a_gpt_with_fused_kernels_computes_the_same_logits_and_gradients():
    torch.manual_seed(0)
    for pos in ("learned", "rope"):
        cfg = GPTConfig(vocab_size=20, block_size=12, n_layer=2, n_head=2, n_embd=16, pos_embedding=pos)
        readable = GPT(cfg).double()
        fused = GPT(GPTConfig(**{**cfg.to_dict(), "fused_kernels": True})).double()
        fused.load_state_dict(readable.state_dict())  # same parameters, same state dict keys
        idx = torch.randint(0, 20, (3, 12))
        _, l1 = readable(idx, idx)
        _, l2 = fused(idx, idx)
        torch.testing.assert_close(l2, l1, atol=1e-12, rtol=0)
        l1.backward(), l2.backward()
        for (name, a), b in zip(readable.named_parameters(), fused.parameters()):
            torch.testing.assert_close(b.grad, a.grad, atol=1e-10, rtol=1e-8, msg=name)


def test_the_config_sets_the_flag_on_every_part():
    m = GPT(GPTConfig(vocab_size=20, block_size=12, n_layer=2, n_head=2, n_embd=16, pos_embedding="rope",
                      fused_kernels=True))
    flags = [mod.fused for mod in m.modules() if isinstance(mod, (LayerNorm, RMSNorm, GELU, RotaryEmbedding))]
    assert len(flags) == 2 * 2 + 1 + 2 * 1 + 2 and all(flags)  # 2 norms a block + ln_f, a GELU and a RoPE a block
    plain = GPT(GPTConfig(vocab_size=20, block_size=12, n_layer=1, n_head=2, n_embd=16))
    assert not any(getattr(mod, "fused", False) for mod in plain.modules())
