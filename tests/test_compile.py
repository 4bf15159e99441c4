"""``torch.compile`` trains the readable model as eager execution does (lesson 20).

Memorising one fixed batch is the sharpest check that compiled training learns: eager execution
drives the loss far down within a few dozen steps, and a compiled model that computes a wrong
gradient (or drops an update) stays far above it. The CPU case runs everywhere, with the
``aot_eager`` backend: TorchDynamo traces the model and AOTAutograd builds its forward and backward
graphs exactly as for the default backend (where a model that changes state while it runs, or a
graph break, shows), then runs them with eager kernels instead of generating C++ for them, which
takes a C++ compiler and tens of seconds on a cold cache. The CUDA case, with the default backend
(Inductor) and bf16 autocast as the GPU recipe trains, runs where a GPU is present
(tools/gpu_check.sh).
"""

import copy

import pytest
import torch

from llmcourse.model import GPT, GPTConfig

CFG = GPTConfig(vocab_size=65, block_size=32, n_layer=2, n_head=2, n_embd=64, dropout=0.0)


def memorise(model, x, y, steps, device, dtype):
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.99), weight_decay=0.0)
    losses = []
    for _ in range(steps):
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return losses


def test_a_forward_pass_changes_no_state():
    """Under torch.compile (and CUDA graphs) a forward pass that writes to buffers or to Python
    attributes is traced once and replayed: state it changes goes stale. The model's forward
    (training mode, with a loss, and with the readable attention) writes nothing."""
    torch.manual_seed(0)
    for fast in (True, False):
        model = GPT(GPTConfig(**{**CFG.to_dict(), "fast_attention": fast, "dropout": 0.1})).train()
        before = {name: copy.copy(vars(m)) for name, m in model.named_modules()}
        buffers = {name: b.clone() for name, b in model.named_buffers()}
        x = torch.randint(0, 65, (2, 32))
        model(x, x)[1].backward()
        for name, m in model.named_modules():
            now = {k: v for k, v in vars(m).items() if k not in ("_parameters", "_buffers", "_modules")}
            was = {k: v for k, v in before[name].items() if k not in ("_parameters", "_buffers", "_modules")}
            assert now.keys() == was.keys() and all(now[k] is was[k] or now[k] == was[k] for k in now), name
        assert all(torch.equal(b, buffers[name]) for name, b in model.named_buffers())


@pytest.mark.slow
@pytest.mark.parametrize("device", [
    "cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"))])
def test_compiled_readable_model_memorises_a_batch_like_eager(device):
    device = torch.device(device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    torch.manual_seed(0)
    eager = GPT(CFG).to(device)
    compiled_model = copy.deepcopy(eager)
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 65, (8, 32), generator=g).to(device)
    y = torch.randint(0, 65, (8, 32), generator=g).to(device)
    steps = 60
    want = memorise(eager, x, y, steps, device, dtype)
    backend = "inductor" if device.type == "cuda" else "aot_eager"
    got = memorise(torch.compile(compiled_model, backend=backend), x, y, steps, device, dtype)
    assert want[-1] < 0.5 * want[0]  # eager memorises
    assert abs(got[0] - want[0]) < 0.02, (got[0], want[0])  # the same first loss: the same forward
    assert got[-1] < want[-1] + 0.1 * want[0], (got[-1], want[-1])  # and learns as fast
