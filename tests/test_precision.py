"""``TrainConfig.precision``: bf16 autocast for the training forward pass where the hardware has
native bf16 products (lesson 20; ``llmcourse.train_fast.resolve_precision`` and ``autocast``,
``llmcourse.attention.fused_attention``). Every run is the ``tiny`` preset (seconds). bf16 runs
here on any CPU: where it is emulated it is slow, not wrong."""

import pytest
import torch
import torch.nn.functional as F

from llmcourse.attention import MultiHeadAttention, fused_attention
from llmcourse.training.cli import cli_train
from llmcourse.training import PRESETS, TrainConfig
from llmcourse.training.speed import autocast, grad_scaler, native_bf16, resolve_precision
from torch_threads import torch_threads
from trainers import tiny_trainer as tiny

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py




def fake_cpu(monkeypatch, avx512_bf16: bool, amx: bool = False):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)


# ---------------------------------------------------------------- choosing the precision
def test_precision_errors_are_clear():
    with pytest.raises(ValueError, match="precision must be 'auto', 'fp32', 'bf16' or 'fp16', got 'half'"):
        TrainConfig(precision="half")
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("half")
    with pytest.raises(ValueError, match="needs a CPU or CUDA device, not 'mps'.*precision='fp32'"):
        resolve_precision("bf16", "mps")


@pytest.mark.parametrize("avx512_bf16, amx, expected", [(True, False, torch.bfloat16),
                                                        (False, True, torch.bfloat16),
                                                        (False, False, torch.float32)])
def test_auto_takes_bf16_only_where_the_cpu_has_it(monkeypatch, avx512_bf16, amx, expected):
    fake_cpu(monkeypatch, avx512_bf16, amx)
    assert native_bf16("cpu") == (expected == torch.bfloat16)
    assert resolve_precision("auto", "cpu") == expected
    assert resolve_precision("fp32", "cpu") == torch.float32  # explicit choices ignore the hardware
    assert resolve_precision("bf16", "cpu") == torch.bfloat16
    assert resolve_precision("auto", "mps") == torch.float32 and not native_bf16("mps")


def fake_gpu(monkeypatch, capability, bf16_supported=True):
    """CUDA present, one device of ``capability``; ``is_bf16_supported`` answers as PyTorch does by
    default (True where bf16 is only emulated too)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16_supported)


@pytest.mark.parametrize("capability, native, auto", [((9, 0), True, torch.bfloat16),   # H100
                                                      ((8, 0), True, torch.bfloat16),   # A100
                                                      ((8, 6), True, torch.bfloat16),   # RTX 30xx
                                                      ((7, 5), False, torch.float16),   # T4 (Colab)
                                                      ((7, 0), False, torch.float16),   # V100
                                                      ((6, 1), False, torch.float32)])  # GTX 10xx
def test_auto_on_gpus_follows_the_compute_capability(monkeypatch, capability, native, auto):
    fake_gpu(monkeypatch, capability)
    assert native_bf16("cuda") is native and native_bf16("cuda:0") is native
    assert resolve_precision("auto", "cuda") == auto
    assert resolve_precision("bf16", "cuda") == torch.bfloat16  # explicit choices are obeyed
    assert resolve_precision("fp16", "cuda") == torch.float16
    assert (grad_scaler("cuda", resolve_precision("auto", "cuda")) is not None) == (auto == torch.float16)


def test_without_cuda_auto_on_a_cuda_device_is_fp32(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not native_bf16("cuda") and resolve_precision("auto", "cuda") == torch.float32


def test_fp16_trains_with_a_gradient_scaler(capsys):
    t = tiny(precision="fp16", max_iters=8, eval_interval=4, log=print)
    seen = dtypes_seen(t)
    scaled = []
    real_unscale = t.scaler.unscale_
    t.scaler.unscale_ = lambda opt: (scaled.append(t.scaler.get_scale()), real_unscale(opt))[1]
    result = t.train()
    assert "under torch.float16 autocast on cpu with a gradient scaler" in capsys.readouterr().out
    assert {d for training, d in seen if training} == {torch.float16}
    assert len(scaled) == 8 and min(scaled) > 1  # every step unscaled its gradients before clipping
    assert "grad_scaler" in t.state_dict() and t.state_dict()["grad_scaler"]["scale"] == t.scaler.get_scale()
    assert all(p.dtype == torch.float32 for p in t.model.parameters())
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]
    assert tiny(precision="fp32").scaler is None and tiny(precision="bf16").scaler is None
    muon = tiny(precision="fp16", optimizer="muon", max_iters=3, eval_interval=3).train()  # the scaler drives both
    assert muon.step == 3 and muon.history[-1]["val_loss"] < muon.history[0]["val_loss"]


def test_presets_that_must_reproduce_exactly_stay_fp32():
    # the shipped model's recipe, nanoGPT's recipe run as nanoGPT runs it, and the test preset
    for name in ("shakespeare-char-pretrained", "nanogpt-cpu", "tiny"):
        assert PRESETS[name].precision == "fp32", name
    assert PRESETS["shakespeare-char"].precision == "auto" and TrainConfig().precision == "auto"


# ---------------------------------------------------------------- attention under autocast
def test_fused_attention_runs_in_fp32_under_cpu_autocast(monkeypatch):
    seen = []
    real = F.scaled_dot_product_attention

    def spy(q, k, v, **kw):
        seen.append((q.dtype, k.dtype, v.dtype, torch.is_autocast_enabled("cpu")))
        return real(q, k, v, **kw)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    torch.manual_seed(0)
    mha = MultiHeadAttention(n_embd=32, n_head=4)
    x = torch.randn(2, 16, 32)
    ref = mha(x)
    assert seen == [(torch.float32,) * 3 + (False,)]
    with autocast("cpu", torch.bfloat16):
        y = mha(x)
    assert seen[1] == (torch.float32,) * 3 + (False,)  # cast up, autocast off inside the kernel
    assert y.dtype == torch.bfloat16  # the output projection is a bf16 product
    torch.testing.assert_close(y.float(), ref, atol=2e-2, rtol=2e-2)  # bf16 inputs: 8 significant bits
    # outside autocast, exactly PyTorch's kernel
    q = torch.randn(1, 2, 5, 8)
    assert torch.equal(fused_attention(q, q, q, is_causal=True), real(q, q, q, is_causal=True))


# ---------------------------------------------------------------- the trainer in bf16
def dtypes_seen(trainer):
    """Record the output dtype of the first block's c_fc in every forward pass, with the mode."""
    seen = []
    layer = trainer.model.blocks[0].mlp.c_fc
    layer.register_forward_hook(lambda m, i, out: seen.append((m.training, out.dtype)))
    return seen


def test_bf16_training_autocasts_the_forward_pass_only(capsys):
    t = tiny(precision="bf16", max_iters=8, eval_interval=4, log=print)
    seen = dtypes_seen(t)
    result = t.train()
    assert "under torch.bfloat16 autocast" in capsys.readouterr().out
    train_dtypes = {d for training, d in seen if training}
    eval_dtypes = {d for training, d in seen if not training}
    assert train_dtypes == {torch.bfloat16}  # the training steps' products
    assert eval_dtypes == {torch.float32}  # evaluations stay fp32
    for p in t.model.parameters():  # weights, gradients and AdamW's moments stay fp32
        assert p.dtype == torch.float32
        assert all(v.dtype == torch.float32 for v in t.optimizer.state[p].values() if v.dim() > 0)
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]


def test_fp32_and_auto_without_native_bf16_do_not_autocast(monkeypatch):
    fake_cpu(monkeypatch, False)
    for precision in ("fp32", "auto"):
        t = tiny(precision=precision, max_iters=2, eval_interval=2, device="cpu")  # the CPU faked above
        seen = dtypes_seen(t)
        t.train()
        assert {d for _, d in seen} == {torch.float32}, precision
    fake_cpu(monkeypatch, True)
    assert tiny(precision="auto", max_iters=1, device="cpu").dtype == torch.bfloat16


def test_bf16_is_reproducible_and_close_to_fp32():
    def val_losses(precision, seed=1337):
        r = tiny(precision=precision, seed=seed).train()
        return [h["val_loss"] for h in r.history if "val_loss" in h]

    bf16 = val_losses("bf16")
    assert val_losses("bf16") == bf16  # same seed, same run, exactly
    fp32 = val_losses("fp32")
    other_seed = val_losses("fp32", seed=7)
    assert bf16 != fp32  # a different computation...
    # ...whose curve stays as close to fp32's as fp32's own run with another seed
    gap = max(abs(a - b) for a, b in zip(bf16, fp32))
    assert gap < 0.02, (bf16, fp32)
    assert gap < max(abs(a - b) for a, b in zip(other_seed, fp32)), (bf16, fp32, other_seed)


def test_cli_precision_reaches_the_checkpoint(tmp_path, capsys):
    out = tmp_path / "bf16"
    assert cli_train(["--preset", "tiny", "--precision", "bf16", "--max-iters", "3", "--eval-interval", "3",
                      "--out", str(out), "--no-progress"]) == 0
    assert "under torch.bfloat16 autocast" in capsys.readouterr().out
    state = torch.load(out / "ckpt.pt", weights_only=True)
    assert state["train_config"]["precision"] == "bf16"
    assert all(v.dtype == torch.float32 for v in state["model"].values() if v.is_floating_point())


def test_muon_iterates_in_the_training_precision():
    assert tiny(precision="bf16", optimizer="muon").optimizer.optimizers["muon"].ns_dtype == torch.bfloat16
    assert tiny(precision="fp32", optimizer="muon").optimizer.optimizers["muon"].ns_dtype == torch.float32


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_a_run_on_two_threads_repeats_exactly(precision):
    # on two threads the token embedding's gradient used to be summed in a varying order (about
    # 1e-9), which bf16's rounding turned into loss differences of 1e-4 within this run; the
    # trainer now asks for deterministic CPU kernels while it trains, and restores the setting
    def run():
        r = tiny(precision=precision, batch_size=32, block_size=64).train()
        return [h["loss"] for h in r.history if "loss" in h]

    with torch_threads(2):
        first, second = run(), run()
    assert first == second
    assert not torch.are_deterministic_algorithms_enabled()
