"""llmcourse.optim (lesson 20): Muon against PyTorch's own ``torch.optim.Muon``, the Newton-Schulz
iteration against the singular value decomposition, and Muon inside the trainer.

Tolerances: the float32 iteration against a float64 one, 1e-5; Muon's whole step against PyTorch's
with the iteration shared, 1e-6; against PyTorch's unchanged (its iteration runs in bfloat16, 8
bits of mantissa), a relative difference of the update below 3%. Resuming a Muon run exactly:
tests/test_train.py.
"""

import math

import pytest
import torch

from llmcourse.model import GPT, GPTConfig
from llmcourse.training.optim import NS_COEFFICIENTS, Muon, OptimizerSet, newton_schulz
from llmcourse.training import make_optimizer
from llmcourse.training import TrainConfig, get_preset
from trainers import tiny_trainer

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py
HAS_TORCH_MUON = hasattr(torch.optim, "Muon")
SHAPES = [(128, 512), (384, 128), (128, 128), (7, 3)]


def reference_newton_schulz(G, steps=5):
    """The iteration written out once more, one matrix at a time, in float64."""
    a, b, c = NS_COEFFICIENTS
    X = G.double()
    tall = X.shape[0] > X.shape[1]
    X = X.T if tall else X
    X = X / X.norm()
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    return (X.T if tall else X).float()


@pytest.mark.parametrize("shape", SHAPES)
def test_newton_schulz_keeps_the_singular_vectors_and_evens_out_the_values(shape):
    G = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    G[:, 0] *= 50.0                                     # one direction far stronger than the rest
    U, S, Vh = torch.linalg.svd(G.double(), full_matrices=False)
    X = newton_schulz(G).double()
    core = U.T @ X @ Vh.T                               # diagonal if the singular vectors are kept
    off = core - torch.diag(torch.diagonal(core))
    assert off.abs().max() < 1e-4
    values = torch.diagonal(core)
    assert values.min() > 0 and values.max() < 1.25
    # five steps lift every singular value above 1.5% of the Frobenius norm into [0.6, 1.25]
    # (a random square matrix also has some nearer 0, which stay small)
    lifted = values[S / S.norm() > 0.015]
    assert S.max() / S[S / S.norm() > 0.015].min() > 20  # they started more than 20x apart
    assert len(lifted) >= min(shape) // 2 and lifted.min() > 0.6
    torch.testing.assert_close(X.float(), reference_newton_schulz(G), atol=1e-5, rtol=0)


def test_a_stack_of_matrices_equals_one_at_a_time():
    G = torch.randn(4, 96, 384, generator=torch.Generator().manual_seed(1))
    stacked = newton_schulz(G)
    for i in range(4):
        torch.testing.assert_close(stacked[i], newton_schulz(G[i]), atol=1e-6, rtol=0)
    torch.testing.assert_close(newton_schulz(G.mT), stacked.mT, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="matrix"):
        newton_schulz(torch.ones(3))


def _params(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=g) * 0.1) for s in [(128, 512), (384, 128), (128, 512)]]


def _run(opt_cls, params, steps=4, **kw):
    """A few steps with fixed, different gradients each step; the parameters after each."""
    opt = opt_cls(params, lr=0.02, weight_decay=0.5, momentum=0.95, nesterov=kw.pop("nesterov", True), **kw)
    g = torch.Generator().manual_seed(42)
    out = []
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g)
        opt.step()
        out.append([p.detach().clone() for p in params])
    return out


@pytest.mark.skipif(not HAS_TORCH_MUON, reason="torch.optim.Muon needs PyTorch >= 2.9")
@pytest.mark.parametrize("nesterov", [True, False])
def test_muon_steps_like_pytorchs_muon_given_the_same_iteration(nesterov, monkeypatch):
    import torch.optim._muon as torch_muon

    # PyTorch's iteration runs in bfloat16; give it ours (float32) so the rest must match exactly
    monkeypatch.setattr(torch_muon, "_zeropower_via_newtonschulz",
                        lambda grad, coefficients, steps, eps: newton_schulz(grad, steps, eps, coefficients))
    theirs = _run(lambda ps, **kw: torch.optim.Muon(ps, adjust_lr_fn="match_rms_adamw", **kw), _params(),
                  nesterov=nesterov)
    ours = _run(Muon, _params(), nesterov=nesterov)
    for a, b in zip(theirs, ours):
        for pa, pb in zip(a, b):
            torch.testing.assert_close(pb, pa, atol=1e-6, rtol=0)


@pytest.mark.skipif(not HAS_TORCH_MUON, reason="torch.optim.Muon needs PyTorch >= 2.9")
def test_muon_steps_like_pytorchs_unchanged_muon_within_bfloat16():
    start = _params()
    theirs = _run(lambda ps, **kw: torch.optim.Muon(ps, adjust_lr_fn="match_rms_adamw", **kw), _params())
    ours = _run(Muon, _params())
    for p0, pa, pb in zip(start, theirs[-1], ours[-1]):
        moved_theirs, moved_ours = pa - p0.detach(), pb - p0.detach()
        assert (moved_ours - moved_theirs).norm() / moved_theirs.norm() < 0.03


@pytest.mark.skipif(not HAS_TORCH_MUON, reason="torch.optim.Muon needs PyTorch >= 2.9")
def test_muon_with_a_bfloat16_iteration_steps_like_pytorchs_unchanged_muon():
    # the trainer's choice where the hardware multiplies bf16 (precision "auto" or "bf16")
    start = _params()
    theirs = _run(lambda ps, **kw: torch.optim.Muon(ps, adjust_lr_fn="match_rms_adamw", **kw), _params())
    ours = _run(lambda ps, **kw: Muon(ps, ns_dtype=torch.bfloat16, **kw), _params())
    for p0, pa, pb in zip(start, theirs[-1], ours[-1]):
        moved_theirs, moved_ours = pa - p0.detach(), pb - p0.detach()
        assert pb.dtype == torch.float32  # the weights stay fp32
        # 1e-3, where the float32 iteration differs by about 8e-3 (test above): the same arithmetic
        assert (moved_ours - moved_theirs).norm() / moved_theirs.norm() < 1e-3


def test_newton_schulz_in_bfloat16_stays_close_to_float32():
    G = torch.randn(128, 512, generator=torch.Generator().manual_seed(0))
    full, half = newton_schulz(G), newton_schulz(G, dtype=torch.bfloat16)
    assert half.dtype == torch.bfloat16 and full.dtype == torch.float32
    assert 1e-4 < ((half.float() - full).norm() / full.norm()).item() < 0.03  # rounded, not different


def test_muon_rejects_what_it_cannot_update():
    with pytest.raises(ValueError, match="2-D weight matrices only.*AdamW"):
        Muon([torch.nn.Parameter(torch.ones(4))])
    with pytest.raises(ValueError, match="momentum"):
        Muon([torch.nn.Parameter(torch.ones(2, 2))], momentum=1.0)
    with pytest.raises(ValueError, match="ns_dtype must be"):
        Muon([torch.nn.Parameter(torch.ones(2, 2))], ns_dtype=torch.float16)


def test_make_optimizer_gives_muon_the_blocks_matrices_and_adamw_the_rest():
    model = GPT(GPTConfig(vocab_size=20, block_size=8, n_layer=2, n_head=2, n_embd=16))
    opt = make_optimizer(model, TrainConfig(optimizer="muon", weight_decay=0.3, learning_rate=0.01))
    assert isinstance(opt, OptimizerSet) and set(opt.optimizers) == {"muon", "adamw"}
    names = {id(p): n for n, p in model.named_parameters()}
    muon = [names[id(p)] for g in opt.optimizers["muon"].param_groups for p in g["params"]]
    adamw = [names[id(p)] for g in opt.optimizers["adamw"].param_groups for p in g["params"]]
    assert sorted(muon) == sorted(n for n, p in model.named_parameters() if p.dim() == 2 and n.startswith("blocks."))
    assert len(muon) == 2 * 4                           # c_attn, attn.c_proj, c_fc, mlp.c_proj per block
    assert "embed.tok.weight" in adamw                  # the tied embedding / LM head stays with AdamW
    assert sorted(muon + adamw) == sorted(names.values())  # every parameter exactly once
    assert all(g["weight_decay"] == 0.3 for g in opt.optimizers["muon"].param_groups)
    for g in opt.param_groups:                          # the schedule's lr reaches every member
        g["lr"] = 0.5
    assert all(g["lr"] == 0.5 for o in opt.optimizers.values() for g in o.param_groups)
    with pytest.raises(ValueError, match="'adamw' or 'muon'"):
        TrainConfig(optimizer="sgd")
    # the iteration follows the training precision; it is not saved with the optimiser's state
    assert opt.optimizers["muon"].ns_dtype == torch.float32
    bf16 = make_optimizer(model, TrainConfig(optimizer="muon"), torch.bfloat16)
    assert bf16.optimizers["muon"].ns_dtype == torch.bfloat16
    assert "ns_dtype" not in str(bf16.state_dict())


def test_optimizer_set_state_round_trips_and_refuses_a_different_set():
    a, b = torch.nn.Parameter(torch.randn(3, 4)), torch.nn.Parameter(torch.randn(4))
    opt = OptimizerSet(muon=Muon([a]), adamw=torch.optim.AdamW([b]))
    a.grad, b.grad = torch.ones(3, 4), torch.ones(4)
    opt.step()
    state = opt.state_dict()
    assert torch.equal(state["muon"]["state"][0]["momentum_buffer"], torch.full((3, 4), 0.05))
    opt2 = OptimizerSet(muon=Muon([a]), adamw=torch.optim.AdamW([b]))
    opt2.load_state_dict(state)
    assert torch.equal(opt2.optimizers["muon"].state[a]["momentum_buffer"], torch.full((3, 4), 0.05))
    with pytest.raises(ValueError, match="resume with the optimizer"):
        OptimizerSet(adamw=torch.optim.AdamW([a, b])).load_state_dict(state)
    with pytest.raises(ValueError, match="at least one"):
        OptimizerSet()


def test_muon_moves_weak_directions_as_far_as_strong_ones():
    """The module's worked example: plain SGD would move the two directions by 0.4 and 0.01."""
    w = torch.nn.Parameter(torch.eye(2))
    opt = Muon([w], lr=0.1, weight_decay=0.0)
    w.grad = torch.tensor([[4.0, 0.0], [0.0, 0.1]])
    opt.step()
    moved = torch.diagonal(torch.eye(2) - w.detach())
    assert 0.5 < moved[1] / moved[0] < 2.0
    assert moved[0] == pytest.approx(0.1 * 0.2 * math.sqrt(2) * 0.7, rel=0.3)


# ---------------------------------------------------------------- inside the trainer
def tiny(**kw):
    return tiny_trainer(optimizer="muon", **kw)


def test_muon_trains_the_tiny_model_reproducibly():
    a = tiny(max_iters=40, eval_interval=20, seed=3).train().history
    b = tiny(max_iters=40, eval_interval=20, seed=3).train().history
    adamw = tiny_trainer(max_iters=40, eval_interval=20, seed=3).train().history
    val = [r["val_loss"] for r in a if "val_loss" in r]
    assert val[-1] < val[0] - 0.6
    def curve(h):
        return [(r["step"], r.get("loss"), r.get("val_loss")) for r in h]
    assert curve(a) == curve(b)
    assert curve(a) != curve(adamw)                     # the option really switches the optimiser


def test_the_five_minute_preset_uses_muon():
    assert get_preset("shakespeare-char").optimizer == "muon"
    assert get_preset("nanogpt-cpu").optimizer == "adamw"
