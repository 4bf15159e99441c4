"""Print the largest numeric differences between llmcourse's components and their references.

    python benchmarks/reference_diffs.py

Not a test (the tests assert tolerances); this reports the measured gaps, float32 and float64.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from llmcourse.attention import MultiHeadAttention, causal_mask, scaled_dot_product_attention, softmax
from llmcourse.feedforward import gelu
from llmcourse.model import GPT
from llmcourse.norm import LayerNorm


def row(name, a, b):
    print(f"{name:<48} {(a - b).abs().max().item():.3e}")


def main():
    torch.manual_seed(0)
    print(f"{'component vs reference':<48} max |difference|")
    for dt in (torch.float32, torch.float64):
        tag = "f32" if dt == torch.float32 else "f64"
        x = torch.randn(8, 64, 256, dtype=dt) * 3
        ln, ref = LayerNorm(256).to(dt), nn.LayerNorm(256).to(dt)
        with torch.no_grad():
            ln.weight.normal_(); ln.bias.normal_()
            ref.weight.copy_(ln.weight); ref.bias.copy_(ln.bias)
        row(f"LayerNorm vs nn.LayerNorm [{tag}]", ln(x), ref(x))
        row(f"softmax vs torch.softmax [{tag}]", softmax(x * 10), torch.softmax(x * 10, -1))
        for approx in ("none", "tanh"):
            row(f"gelu({approx}) vs F.gelu [{tag}]", gelu(x, approx), F.gelu(x, approximate=approx))
        q, k, v = (torch.randn(4, 8, 128, 64, dtype=dt) for _ in range(3))
        out, _ = scaled_dot_product_attention(q, k, v, is_causal=True)
        row(f"attention (causal) vs F.sdpa [{tag}]", out, F.scaled_dot_product_attention(q, k, v, is_causal=True))
        m = torch.randn(128, 128, dtype=dt)
        out, _ = scaled_dot_product_attention(q, k, v, mask=m)
        row(f"attention (float mask) vs F.sdpa [{tag}]", out, F.scaled_dot_product_attention(q, k, v, attn_mask=m))
        mha = MultiHeadAttention(256, 8, fast_attention=False).to(dt).eval()
        tm = nn.MultiheadAttention(256, 8, batch_first=True).to(dt).eval()
        with torch.no_grad():
            tm.in_proj_weight.copy_(mha.c_attn.weight); tm.in_proj_bias.copy_(mha.c_attn.bias)
            tm.out_proj.weight.copy_(mha.c_proj.weight); tm.out_proj.bias.copy_(mha.c_proj.bias)
            xs = torch.randn(4, 64, 256, dtype=dt)
            row(f"MultiHeadAttention vs nn.MultiheadAttention [{tag}]", mha(xs),
                tm(xs, xs, xs, attn_mask=~causal_mask(64), need_weights=False)[0])
    try:
        from transformers import GPT2Config, GPT2LMHeadModel
    except ImportError:
        print("transformers not installed: skipping the GPT-2 comparison")
        return
    cfg = GPT2Config(vocab_size=1000, n_positions=128, n_embd=128, n_layer=4, n_head=4,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    for dt in (torch.float32, torch.float64):
        tag = "f32" if dt == torch.float32 else "f64"
        torch.manual_seed(1)
        hf = GPT2LMHeadModel(cfg).to(dt).eval()
        ours = GPT.from_hf_gpt2(hf).to(dt).eval()
        idx = torch.randint(0, 1000, (4, 128))
        with torch.no_grad():
            a, b = ours(idx), hf(idx).logits
            _, la = ours(idx[:, :-1], idx[:, 1:])
            lb = hf(idx, labels=idx).loss
        row(f"GPT logits vs GPT2LMHeadModel [{tag}]", a, b)
        row(f"GPT loss vs GPT2LMHeadModel [{tag}]", la, lb)


if __name__ == "__main__":
    main()
