"""llmcourse.train: schedule, optimiser groups, the loop, callbacks, budgets, reproducibility and
in-process resume (lesson 20). Every run here is the 30k-parameter ``tiny`` preset (seconds)."""

import math
import sys

import pytest
import torch

from llmcourse.model import GPT, GPTConfig
from llmcourse.training.optim import OptimizerSet
from llmcourse.pretrained import load_file
from llmcourse.training import Trainer, TrainResult, make_optimizer, train
from llmcourse.training import PRESETS, TrainConfig, get_preset, learning_rate_at, progress
from trainers import tiny_trainer as tiny


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py




def losses(history, key="loss"):
    return [(r["step"], r[key]) for r in history if key in r]


# ---------------------------------------------------------------- schedule and configuration
def test_warmup_is_linear_then_cosine_reaches_min_lr():
    cfg = TrainConfig(learning_rate=1e-3, min_lr=1e-4, warmup_iters=10, max_iters=110)
    lrs = [learning_rate_at(s, progress(s, 0.0, cfg), cfg) for s in range(111)]
    assert lrs[0] == pytest.approx(1e-3 * 1 / 10 * (0.55 + 0.45 * math.cos(0)), rel=1e-9)
    for s in range(9):  # warmup: increasing, proportional to step + 1 up to the cosine factor
        assert lrs[s] < lrs[s + 1]
    assert max(lrs) == pytest.approx(lrs[9]) and lrs[9] > 0.95e-3
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))  # then never increases
    assert lrs[-1] == pytest.approx(1e-4)
    # halfway through the budget the cosine sits halfway between the two rates
    assert learning_rate_at(55, 0.5, cfg) == pytest.approx(0.55e-3)


def test_time_budget_drives_the_schedule():
    cfg = TrainConfig(learning_rate=2e-3, min_lr=0.0, warmup_iters=0, max_iters=None, max_time=100.0)
    assert progress(5, 25.0, cfg) == pytest.approx(0.25)
    assert learning_rate_at(5, progress(5, 50.0, cfg), cfg) == pytest.approx(1e-3)
    assert learning_rate_at(5, progress(5, 100.0, cfg), cfg) == pytest.approx(0.0)
    both = cfg.replace(max_iters=10)  # whichever budget runs out first
    assert progress(5, 10.0, both) == pytest.approx(0.5)


def test_the_run_holds_the_models_config_and_reads_older_flat_checkpoints():
    from llmcourse.config import GPTConfig

    cfg = get_preset("tiny", n_layer=3, max_iters=7)
    assert isinstance(cfg.model, GPTConfig) and cfg.model.n_layer == 3 and cfg.max_iters == 7
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    flat = {k: v for k, v in cfg.to_dict().items() if k != "model"}
    flat.update(n_layer=3, n_head=2, n_embd=32, block_size=32, activation="gelu")  # as checkpoints held it
    assert TrainConfig.from_dict(flat) == cfg
    model = cfg.model_config(vocab_size=65)
    assert (model.vocab_size, model.n_layer, model.fused_kernels) == (65, 3, True)


def test_config_errors_are_clear():
    with pytest.raises(ValueError, match="max_time"):
        TrainConfig(max_time=-5)
    with pytest.raises(ValueError, match="budget"):
        TrainConfig(max_iters=None, max_time=None)
    with pytest.raises(ValueError, match="divisible"):  # checked once, by the model's GPTConfig
        TrainConfig().replace(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="shakespeare-char"):
        get_preset("nope")
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        get_preset("tiny", learning_rat=1.0)
    assert set(PRESETS) >= {"shakespeare-char", "tiny", "nanogpt-cpu"}


def test_weight_decay_on_matrices_only():
    model = GPT(GPTConfig(vocab_size=20, block_size=8, n_layer=2, n_head=2, n_embd=16))
    opt = make_optimizer(model, TrainConfig(weight_decay=0.3))
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.3 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    ids = {id(p) for g in opt.param_groups for p in g["params"]}
    assert ids == {id(p) for p in model.parameters()}  # every parameter once (tied head included)
    assert any(p is model.embed.tok.weight for p in decay["params"])


def test_the_trainer_builds_its_model_with_the_fused_kernels_and_the_flag_off_keeps_the_readable_ones():
    from llmcourse.norm import LayerNorm

    fused = Trainer("tiny", max_iters=0, progress=False, log=None, device="cpu")
    readable = Trainer("tiny", max_iters=0, progress=False, log=None, device="cpu", fast_kernels=False)
    norms = lambda m: [mod.fused for mod in m.modules() if isinstance(mod, LayerNorm)]  # noqa: E731
    assert fused.model.config.fused_kernels and all(norms(fused.model)) and norms(fused.model)
    assert not readable.model.config.fused_kernels and not any(norms(readable.model))
    assert fused.cfg.model.fused_kernels is False  # the run's settings keep the model's own switch off


@pytest.mark.parametrize("layout", ["head view of a fused qkv", "odd storage offset", "contiguous"])
@pytest.mark.parametrize("offset", [0, 5])
def test_fast_rope_equals_the_readable_rotation_and_its_gradient(layout, offset):
    """The complex-number RoPE (``RotaryEmbedding(fused=True)``) against lesson 4's stack of pairs, values and
    gradients, for the strided head views attention really passes and for an input whose pairs
    do not start at an even address (copied first)."""
    from llmcourse.embedding import RotaryEmbedding, apply_rope

    torch.manual_seed(0)
    B, T, nh, hd = 2, 6, 3, 8
    rope = RotaryEmbedding(hd, max_positions=16)
    base = torch.randn(B, T, 3 * nh * hd + 1, dtype=torch.float64)
    if layout == "head view of a fused qkv":
        x = base[..., nh * hd : 2 * nh * hd].view(B, T, nh, hd).transpose(1, 2)  # (B, nh, T, hd), strided
    elif layout == "odd storage offset":
        x = base[..., 1 : 1 + nh * hd].view(B, T, nh, hd).transpose(1, 2)
    else:
        x = base[..., : nh * hd].reshape(B, T, nh, hd).transpose(1, 2).contiguous()
    x = x.detach().requires_grad_()
    g = torch.randn(B, nh, T, hd, dtype=torch.float64)
    ref = apply_rope(x, rope.cos[offset : offset + T].double(), rope.sin[offset : offset + T].double())
    (ref_grad,) = torch.autograd.grad(ref, x, g)
    rope.fused = True
    out = rope(x, offset)
    (grad,) = torch.autograd.grad(out, x, g)
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(grad, ref_grad, atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="holds 16 positions"):
        rope(x, offset=12)


def test_fast_rope_gives_torch_compile_the_readable_form(monkeypatch):
    """Inductor generates no code for complex numbers (it warns and runs them slower than eager),
    so under torch.compile the fused RoPE hands over lesson 4's rotation, which it fuses itself."""
    from llmcourse import _checks, embedding
    from llmcourse.embedding import RotaryEmbedding

    detect = torch.compile(lambda x: x + 1 if _checks._is_compiling() else x - 1, backend="eager",
                           fullgraph=True)
    assert detect(torch.zeros(1)).item() == 1 and not _checks._is_compiling()
    calls = []
    real = embedding.apply_rope
    monkeypatch.setattr(embedding, "apply_rope", lambda *a: calls.append(1) or real(*a))
    rope, x = RotaryEmbedding(8, 16, fused=True), torch.randn(1, 2, 4, 8)
    rope(x)
    assert calls == []  # eager: the complex multiplication
    monkeypatch.setattr(embedding, "_is_compiling", lambda: True)
    rope(x)
    assert calls == [1]  # compiling: the readable rotation


FAULTS_SCRIPT = """
import resource, sys, torch
from llmcourse.model import GPT, GPTConfig
from llmcourse.training.speed import keep_freed_memory
torch.set_num_threads(1)
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
model = GPT(GPTConfig(vocab_size=65, block_size=128, n_layer=1, n_head=4, n_embd=128))
x = torch.randint(0, 65, (16, 128))  # (B, T): the 5-minute preset's batch
for i in range(8):
    if i == 3:
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    model(x, x)[1].backward()
print(kept, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 5)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
@pytest.mark.slow
def test_keep_freed_memory_stops_most_page_faults_of_a_training_step():
    """Each step frees its activations; by default glibc returns them to the system and the next
    step faults them in again (thousands of 4-KB pages a step). Measured in fresh processes."""
    import subprocess

    from llmcourse.training.speed import keep_freed_memory

    assert keep_freed_memory() is True and keep_freed_memory() is True  # once per process, idempotent
    faults = {}
    for mode in ("default", "keep"):
        out = subprocess.run([sys.executable, "-c", FAULTS_SCRIPT, mode], capture_output=True, text=True,
                             check=True, timeout=120).stdout.split()
        faults[mode] = float(out[1])
        assert out[0] == ("True" if mode == "keep" else "None")
    assert faults["default"] > 100 and faults["keep"] < 0.5 * faults["default"], faults


@pytest.mark.parametrize("pos", ["learned", "rope"])
def test_the_model_compiles_as_one_graph(pos):
    """``torch.compile`` must see the whole forward pass as one graph: reading token values (the
    range check) would split it, and compilation then gains almost nothing. The ``eager`` backend
    traces without generating code, so this takes about a second."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=20, block_size=8, n_layer=1, n_head=2, n_embd=16, pos_embedding=pos))
    idx = torch.randint(0, 20, (2, 8))
    torch._dynamo.reset()
    logits, loss = torch.compile(model, fullgraph=True, backend="eager")(idx, idx)  # raises on a graph break
    torch.testing.assert_close(loss, model(idx, idx)[1])
    with pytest.raises(IndexError, match="token id 20"):  # eager calls still check the ids
        model(torch.full((1, 4), 20))


# ---------------------------------------------------------------- the loop
def test_a_few_steps_reduce_the_loss_and_records_reach_callbacks():
    seen = []
    result = tiny(max_iters=40, eval_interval=20, callbacks=[seen.append]).train()
    assert isinstance(result, TrainResult) and result.step == 40 and not result.model.training
    evals = losses(result.history, "val_loss")
    assert [s for s, _ in evals] == [0, 20, 40]
    assert evals[0][1] == pytest.approx(math.log(65), abs=0.1)  # a uniform guess at init
    assert evals[-1][1] < evals[0][1] - 0.6
    assert seen == result.history
    step_records = [r for r in seen if "loss" in r]
    assert [r["step"] for r in step_records] == list(range(5, 41, 5))
    assert {"step", "loss", "lr", "tokens_per_s", "elapsed"} <= set(step_records[0])
    assert all(r["tokens_per_s"] > 0 for r in step_records)


def test_same_seed_same_losses_other_seed_differs():
    a = tiny(max_iters=15, seed=7).train().history
    b = tiny(max_iters=15, seed=7).train().history
    c = tiny(max_iters=15, seed=8).train().history
    assert losses(a) == losses(b) and losses(a, "val_loss") == losses(b, "val_loss")
    assert losses(a) != losses(c)


def test_grad_clipping_limits_the_update():
    """With AdamW the update barely depends on the gradient's scale, unless the clipped gradient
    falls below Adam's epsilon (1e-8): clipping to 1e-12 must shrink the first step a lot."""
    def first_step_change(clip):
        t = tiny(max_iters=1, grad_clip=clip, warmup_iters=0, eval_iters=1)
        before = [p.detach().clone() for p in t.model.parameters()]
        t.train()
        return sum((p.detach() - b).abs().sum().item() for p, b in zip(t.model.parameters(), before))

    assert first_step_change(1e-12) < 0.05 * first_step_change(1.0)


def test_time_budget_stops_the_run():
    result = tiny(max_iters=None, max_time=2.0, eval_interval=10_000).train()
    assert 2.0 <= result.elapsed < 2.0 + 10.0 and result.step > 10
    assert losses(result.history, "val_loss")[-1][0] == result.step  # a final evaluation
    lrs = [r["lr"] for r in result.history if "loss" in r and r["step"] >= 10]  # after warmup
    assert all(a >= b for a, b in zip(lrs, lrs[1:])) and lrs[0] > lrs[-1], \
        "the learning rate must fall as time passes"
    assert lrs[-1] < 0.5 * get_preset("tiny").learning_rate


def test_progress_bar_shows_the_loss(capsys):
    tiny(max_iters=10, progress=True).train()
    err = capsys.readouterr().err
    assert "training" in err and "loss=" in err and "10/10" in err


def test_notebook_bar_leaves_its_final_state_as_a_line(monkeypatch):
    """In a notebook the bar is a widget whose saved text is its first state ("0/10"); the
    trainer logs the final state as plain text so a saved notebook shows where the run ended."""
    import tqdm.auto
    import tqdm.notebook

    monkeypatch.setattr(tqdm.auto, "tqdm", tqdm.notebook.tqdm)
    lines = []
    tiny(max_iters=10, progress=True, log=lines.append).train()
    assert any("training" in ln and "10/10" in ln for ln in lines), lines


def test_train_shortcut_takes_a_custom_text():
    text = "abcabcabd" * 200
    result = train("tiny", text=text, max_iters=5, progress=False, log=None, device="cpu")
    assert result.tokenizer.vocab_size == 4 and result.model.config.vocab_size == 4


def test_untied_head_trains_and_round_trips_through_a_checkpoint(tmp_path):
    result = tiny(max_iters=3, tie_weights=False, out_dir=tmp_path, device="cpu").train()  # load_file loads onto the CPU
    m = result.model
    assert m.lm_head.weight is not m.embed.tok.weight
    assert not torch.equal(m.lm_head.weight, m.embed.tok.weight)  # they trained apart
    tied = tiny(max_iters=3).train().model
    assert tied.lm_head.weight is tied.embed.tok.weight
    assert m.num_parameters() == tied.num_parameters() + m.lm_head.weight.numel()
    loaded, _ = load_file(tmp_path)
    assert not loaded.config.tie_weights
    assert torch.equal(loaded.lm_head.weight, m.lm_head.weight)


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_resume_in_process_continues_the_same_run(tmp_path, optimizer):
    full = tiny(max_iters=30, eval_interval=10, optimizer=optimizer).train().history

    def stop_at_20(record):  # as if the learner pressed "interrupt" after step 20
        if record["step"] == 20 and "loss" in record:
            raise KeyboardInterrupt

    first = tiny(max_iters=30, eval_interval=10, optimizer=optimizer, out_dir=tmp_path, callbacks=[stop_at_20]).train()
    assert first.interrupted and first.step == 20
    trainer = Trainer("tiny", out_dir=tmp_path, resume=True, max_iters=30, progress=False, log=None, device="cpu")
    assert trainer.cfg.optimizer == optimizer  # the checkpoint's optimiser, state included
    assert isinstance(trainer.optimizer, OptimizerSet) == (optimizer == "muon")
    resumed = trainer.train()
    assert resumed.step == 30
    for key in ("loss", "val_loss"):
        for (s1, v1), (s2, v2) in zip(losses(full, key), losses(resumed.history, key)):
            assert s1 == s2 and v1 == pytest.approx(v2, abs=1e-6)
    assert len(losses(full, "loss")) == len(losses(resumed.history, "loss"))


def test_resume_needs_a_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        Trainer("tiny", out_dir=tmp_path, resume=True, progress=False, log=None)
    with pytest.raises(ValueError, match="out_dir"):
        Trainer("tiny", resume=True, progress=False, log=None)


def test_interrupt_saves_a_checkpoint(tmp_path):
    def stop(record):
        if record["step"] == 10 and "loss" in record:
            raise KeyboardInterrupt

    result = tiny(max_iters=50, out_dir=tmp_path, callbacks=[stop]).train()
    assert result.interrupted and result.step == 10
    assert torch.load(tmp_path / "ckpt.pt", weights_only=True)["step"] == 10


# ---------------------------------------------------------------- no waiting for the device
def test_token_ids_are_checked_once_per_forward(monkeypatch):
    import llmcourse._checks as checks

    calls = []
    real = checks.check_token_range
    monkeypatch.setattr(checks, "check_token_range", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8))
    model(torch.randint(0, 11, (2, 8)))
    assert len(calls) == 1  # at the model's boundary, not again in the embeddings
    model(torch.randint(0, 11, (2, 8)), check_ids=False)
    assert len(calls) == 1
    with pytest.raises(IndexError, match="token id 11, but the vocabulary has ids 0..10"):
        model(torch.tensor([[1, 11]]))
    from llmcourse.embedding import InputEmbedding, TokenEmbedding

    with pytest.raises(IndexError, match="token id -1"):  # used on their own, the embeddings still check
        InputEmbedding(11, 8, 4)(torch.tensor([[1, -1]]))
    with pytest.raises(IndexError, match="token id 12"):
        TokenEmbedding(11, 4)(torch.tensor([[12]]))


def test_training_steps_read_nothing_back_except_the_logged_loss(monkeypatch):
    """On a GPU every read of a tensor's value (``.item()``, ``float()``, ``int()``, ``bool()``,
    ``.tolist()``) waits for the device. The training step reads none; the loop reads the loss at
    log steps only (evaluations are counted apart)."""
    t = tiny(max_iters=12, log_interval=4, eval_interval=1000)
    where = {"step": False, "eval": False}
    reads = {"step": 0, "eval": 0, "loop": 0}

    def counting(name):
        real = getattr(torch.Tensor, name)

        def read(self, *a, **k):
            reads["step" if where["step"] else "eval" if where["eval"] else "loop"] += 1
            return real(self, *a, **k)
        return read

    for name in ("item", "tolist", "__float__", "__int__", "__bool__", "__index__"):
        monkeypatch.setattr(torch.Tensor, name, counting(name))

    def inside(key, fn):
        def wrapped(*a, **k):
            where[key] = True
            try:
                return fn(*a, **k)
            finally:
                where[key] = False
        return wrapped

    t._train_step = inside("step", t._train_step)
    t.evaluate = inside("eval", t.evaluate)
    t.train()
    assert reads["step"] == 0, reads
    assert reads["loop"] == 12 // 4, reads  # one loss a log step


def test_compile_mode_reaches_torch_compile_and_cuda_graphs_mark_each_step(monkeypatch):
    from llmcourse.training import speed as train_fast

    seen, marks = [], []
    monkeypatch.setattr(torch, "compile", lambda model, **kw: (seen.append(kw), model)[1])  # no real compiling
    monkeypatch.setattr(train_fast, "mark_step_begin", lambda: marks.append(1))
    monkeypatch.setattr("llmcourse.training.loop.mark_step_begin", lambda: marks.append(1))
    tiny(max_iters=3, compile=True, compile_mode="reduce-overhead").train()
    assert seen == [{"mode": "reduce-overhead"}] and len(marks) == 3  # one mark a step
    seen.clear()
    tiny(max_iters=2, compile=True).train()
    assert seen == [{}] and len(marks) == 3  # the default mode: torch.compile(model), no marks
    with pytest.raises(ValueError, match="compile_mode must be 'default', 'reduce-overhead' or 'max-autotune'"):
        TrainConfig(compile_mode="fast")


def test_last_is_the_latest_logged_value_or_none(one_thread):
    trainer = tiny(max_iters=4, eval_interval=2)
    result = trainer.train()
    evals = [r["val_loss"] for r in result.history if "val_loss" in r]
    assert len(evals) >= 2 and result.last("val_loss") == evals[-1] == trainer.last("val_loss")
    assert result.last("no such key") is None and trainer.last("no such key") is None
