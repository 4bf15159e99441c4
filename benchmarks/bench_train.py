"""Training throughput: llmcourse's trainer against nanoGPT on nanoGPT's documented CPU recipe.

Recipe (nanoGPT README, "I only have a macbook"): character-level Shakespeare, n_layer=4,
n_head=4, n_embd=128, block_size=64, batch_size=12, dropout=0, bias, AdamW(lr 1e-3,
betas (0.9, 0.99), weight decay 0.1), gradient clipping at 1.0, fp32, no compile.

    flock /tmp/llmcourse-cpu.lock python benchmarks/bench_train.py --nanogpt-dir /tmp/nanogpt

``--nanogpt-dir`` is a folder holding nanoGPT's ``model.py`` (https://github.com/karpathy/nanoGPT;
it is not part of this repository). Without it, the baseline is our own model run the way
nanoGPT runs (fp32, readable norms and GELU, for-loop AdamW, no compile, plain loop) and the
output says so.

Every variant starts from the *same weights* (copied from the baseline) and trains on the *same
batches*, so the loss columns must agree: that is the "same loss curve" check. Variants run
interleaved in rounds (each does ``--iters`` steps per round) so that they share the machine's
state; the timing is the median ms/iter over all rounds after the first ``--warmup`` steps.
MFU divides the model's FLOPs per step (``scaling.flops_per_token``, forward + backward) by the
peak of a large fp32 ``torch.mm`` measured in the same run. This prints ratios; it asserts nothing.

The trainer's row runs in the precision the trainer picks on this CPU (``TrainConfig.precision``
``"auto"``, the default): bf16 autocast where the CPU multiplies bf16 matrices natively (AVX-512
BF16 or AMX), fp32 elsewhere. Under bf16 every product rounds its inputs, so that row's losses
drift from the baseline by about 1e-3 instead of 1e-6; a row "the same in fp32" then keeps the
same-maths check. ``--curve`` trains the whole recipe with the trainer in both precisions and
prints the validation curves side by side, with another seed's fp32 curve as the yardstick.

``--preset shakespeare-char`` times the 5-minute preset's step instead (3 blocks, rotary
positions, 128-character windows, batches of 16). nanoGPT has no rotary positions, so the baseline
is then always the readable model. That preset trains with Muon (``llmcourse.training.optim``): the
same-maths rows step with AdamW, as nanoGPT does, and one more row times the step with Muon.
With ``--all`` (or ``--rope-only``, which skips the other ``--all`` rows) a row keeps lesson 4's
readable RoPE inside the fast kernels, to show what the complex-number RoPE alone is worth.

``--allocator`` measures :func:`llmcourse.training.speed.keep_freed_memory` (which the trainer
applies to its process): the preset's step in fresh processes with and without it, alternating,
with the page faults and the kernel CPU time per step; with ``--nanogpt-dir``, nanoGPT's step in
its own fresh processes too (the default allocator, as nanoGPT runs), for the trainer-against-
nanoGPT ratio. The interleaved rows above all run in one process with the C library's default
allocator settings, nanoGPT's and ours alike, so they leave that gain out.

``--cuda`` times nanoGPT's GPU recipe for Tiny Shakespeare (the ``nanogpt-gpu`` preset: 6 layers, 6
heads, 384 wide, block 256, batch 64, dropout 0.2, bf16 autocast where native) on a GPU, in three
parts. The bare step (a random batch already on the GPU, fused AdamW), eager, compiled and with
CUDA graphs (``mode="reduce-overhead"``): nanoGPT's model (with ``--nanogpt-dir``) or the package's
readable model run the way nanoGPT runs, against the trainer's step (fast kernels). Whole training
loops of ``--steps`` steps: nanoGPT's loop (batches cut on the CPU each step and copied over, the
loss read at each log step; its own model with ``--nanogpt-dir``, else the readable one), against
:class:`~llmcourse.training.Trainer` with its GPU defaults (the corpus on the GPU, no reads in the
step), compiled in each mode; both take the same learning rates, and the last logged losses are
printed side by side. ``--memorise``: the readable model eager and compiled, and the trainer's
fast kernels compiled, each memorising one fixed batch for 165 steps (a compiled model that
learns more slowly than eager execution shows here). ``--no-compile`` leaves the compiled rows
out. Without a GPU it says so and exits with status 3 (``--device cpu`` runs the same code on the
CPU, for tests).

``--floor`` adds three rows that are *not* the same maths: our step with the attention kernel
replaced by a pass-through (``v`` comes out unchanged), then also the GELU, then also the layer
norms. What is left is the step's matrix products, embeddings, loss and optimizer: how fast any
implementation could go if those kernels cost nothing. It shows where the time goes and bounds
the speed-up available without faster matrix products.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llmcourse.data import BatchSampler, encode_corpus, load_corpus, train_val_split  # noqa: E402
from llmcourse.env import deterministic_on_cpu  # noqa: E402
from llmcourse.model import GPT, GPTConfig  # noqa: E402
from llmcourse.scaling import flops_per_token  # noqa: E402
from llmcourse.tokenizers import CharTokenizer  # noqa: E402
from llmcourse.training import make_optimizer  # noqa: E402
from llmcourse.training import get_preset  # noqa: E402
from llmcourse.training.speed import autocast, resolve_precision  # noqa: E402

CFG = get_preset("nanogpt-cpu")
PRESET_MUON = False


def matmul_peak(n: int = 2048, reps: int = 8) -> float:
    """FLOP/s of a large fp32 matrix product (best of ``reps``)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best


def load_nanogpt(folder: str):
    spec = importlib.util.spec_from_file_location("nanogpt_model", Path(folder) / "model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def copy_from_nanogpt(ours: GPT, theirs) -> None:
    """nanoGPT and llmcourse name the same tensors differently; copy theirs into ours."""
    sd = {k.replace("transformer.wte", "embed.tok").replace("transformer.wpe", "embed.pos")
          .replace("transformer.h.", "blocks.").replace("transformer.ln_f", "ln_f"): v
          for k, v in theirs.state_dict().items() if not k.endswith(".attn.bias")}
    ours.load_state_dict(sd)


def set_fused(model, kinds=("norms", "gelu", "rope"), on=True):
    """Turn the fused form of the listed kinds of module (``"norms"``, ``"gelu"``, ``"rope"``) on
    or off: each module's own ``fused`` flag, which its ``forward`` reads. Returns ``model``."""
    from llmcourse.embedding import RotaryEmbedding
    from llmcourse.feedforward import GELU
    from llmcourse.norm import LayerNorm, RMSNorm

    types = {"norms": (LayerNorm, RMSNorm), "gelu": (GELU,), "rope": (RotaryEmbedding,)}
    for m in model.modules():
        if any(isinstance(m, types[k]) for k in kinds):
            m.fused = on
    return model


@contextlib.contextmanager
def without(model, parts):
    """Within the block, the listed parts of ``model`` cost (almost) nothing: ``"attention"``
    (``F.scaled_dot_product_attention`` returns ``v``), ``"gelu"`` and ``"norms"`` (identity)."""
    from llmcourse.feedforward import GELU
    from llmcourse.norm import LayerNorm

    patched = []
    for m in model.modules():
        if ("gelu" in parts and isinstance(m, GELU)) or ("norms" in parts and isinstance(m, LayerNorm)):
            patched.append(m)
            m.forward = lambda x: x
    real_sdpa = torch.nn.functional.scaled_dot_product_attention
    if "attention" in parts:
        torch.nn.functional.scaled_dot_product_attention = lambda q, k, v, **kw: v
    try:
        yield
    finally:
        torch.nn.functional.scaled_dot_product_attention = real_sdpa
        for m in patched:
            del m.forward  # back to the class's forward


def train_step(model, opt, loss_fn, x, y, grad_clip):
    """One step as the trainer takes it: forward, backward, clip, AdamW, zero the gradients."""
    loss = loss_fn(x, y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss


def nanogpt_model(ng, cfg, vocab):
    """nanoGPT's model and its own optimizer for ``cfg``'s sizes (dropout 0, biases)."""
    model = ng.GPT(ng.GPTConfig(block_size=cfg.model.block_size, vocab_size=vocab, n_layer=cfg.model.n_layer,
                                n_head=cfg.model.n_head, n_embd=cfg.model.n_embd, dropout=0.0, bias=True))
    return model, model.configure_optimizers(cfg.weight_decay, cfg.learning_rate, (cfg.beta1, cfg.beta2), "cpu")


class Variant:
    """One way of running a training step; ``run(batches)`` times each step and keeps its loss.
    ``compared``: its losses are printed against the baseline's; ``same_maths``: they must agree
    to rounding (fp32 rows; bf16 rows round every product's inputs, so they drift further)."""

    def __init__(self, name, model, optimizer, forward, context=contextlib.nullcontext, same_maths=True,
                 compared=True, muon=False):
        self.name, self.model, self.opt, self.forward, self.context = name, model, optimizer, forward, context
        self.same_maths, self.compared, self.muon = same_maths, compared, muon
        self.times, self.losses = [], []

    def run(self, batches):
        with self.context():
            for x, y in batches:
                t = time.perf_counter()
                loss = train_step(self.model, self.opt, self.forward, x, y, CFG.grad_clip)
                self.times.append(time.perf_counter() - t)
                self.losses.append(loss.item())


def build(args, vocab):
    """The baseline and our variants, all starting from identical weights."""
    cfg = CFG.replace(activation="gelu")  # nanoGPT uses the exact GELU (so does every preset but tiny)
    torch.manual_seed(0)
    variants = []
    if args.nanogpt_dir:
        ng = load_nanogpt(args.nanogpt_dir)
        ref, opt = nanogpt_model(ng, cfg, vocab)
        variants.append(Variant("nanoGPT (upstream model.py)", ref, opt, lambda x, y: ref(x, y)[1]))
        init = lambda m: copy_from_nanogpt(m, ref)  # noqa: E731
    else:
        base = GPT(cfg.replace(fast_kernels=False).model_config(vocab))  # readable, as nanoGPT's is plain
        state = {k: v.clone() for k, v in base.state_dict().items()}
        init = lambda m: m.load_state_dict(state)  # noqa: E731
        opt = torch.optim.AdamW(make_optimizer(base, cfg).param_groups, lr=cfg.learning_rate,
                                betas=(cfg.beta1, cfg.beta2))  # plain for-loop AdamW, like nanoGPT on CPU
        variants.append(Variant("nanoGPT-equivalent (llmcourse model, readable, fp32)", base, opt,
                                lambda x, y: base(x, y)[1]))

    auto = resolve_precision("auto", "cpu")  # what the trainer runs in on this CPU (TrainConfig's default)
    bf16 = auto == torch.bfloat16

    def ours(name, fast=True, fused=True, compile_=False, dtype=auto, free=(), fast_rope=True, muon=False):
        m = GPT(cfg.replace(fast_kernels=fast).model_config(vocab))  # the fused kernels, as the trainer builds it
        if not fast_rope:
            set_fused(m, ("rope",), on=False)
        init(m)
        o = make_optimizer(m, cfg.replace(optimizer="muon") if muon else cfg, dtype)
        if not fused:
            o = torch.optim.AdamW(o.param_groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2))
        f = torch.compile(m) if compile_ else m

        def fwd(x, y):
            with autocast("cpu", dtype):
                return f(x, y)[1]

        @contextlib.contextmanager
        def context():
            # as the trainer runs: deterministic CPU kernels (about 2% of a step); norms/GELU made
            # free for the floor rows
            with deterministic_on_cpu("cpu"), without(m, free):
                yield

        return Variant(name, m, o, fwd, context=context, same_maths=not free and not muon and dtype == torch.float32,
                       compared=not free and not muon, muon=muon)

    fp32 = torch.float32
    variants.append(ours(f"llmcourse trainer (fast kernels + fused AdamW{' + bf16' if bf16 else ''})"))
    if bf16:  # this CPU multiplies bf16 natively, so the trainer autocasts: the same step in fp32 too
        variants.append(ours("  the same in fp32 (the same maths)", dtype=fp32))
    if PRESET_MUON:  # the preset trains with Muon: its cost per step, next to the AdamW rows
        variants.append(ours("  + Muon for the blocks' matrices (the preset's)", muon=True))
    rope = cfg.model.pos_embedding == "rope"
    if args.all:
        variants += [ours(f"  readable norms/GELU{'/RoPE' if rope else ''}, fused AdamW, fp32", fast=False, dtype=fp32),
                     ours("  fast kernels, for-loop AdamW, fp32", fused=False, dtype=fp32)]
    if (args.all or args.rope_only) and rope:
        variants.append(ours("  fast kernels but lesson 4's readable RoPE, fp32", fast_rope=False, dtype=fp32))
    if args.all:
        if not bf16:  # what bf16 would cost here, where it is emulated
            variants.append(ours("  + bf16 autocast (precision='bf16')", dtype=torch.bfloat16))
        if args.compile:
            variants.append(ours("  + torch.compile", compile_=True))
    if args.floor:  # in fp32, where the floor analysis was made
        variants += [ours("  floor: attention free", free=("attention",), dtype=fp32),
                     ours("  floor: attention, GELU free", free=("attention", "gelu"), dtype=fp32),
                     ours("  floor: attention, GELU, norms free", free=("attention", "gelu", "norms"), dtype=fp32)]
    return variants


def allocator_child(preset: str, mode: str, steps: int, nanogpt_dir: str | None) -> None:
    """One process of ``--allocator``: prints the median step time (ms), the page faults and the
    kernel CPU time (ms) per step. ``mode``: ``nanogpt`` (its model.py and optimizer, default
    allocator), ``default`` (ours, default allocator) or ``keep`` (ours after keep_freed_memory)."""
    import resource

    from llmcourse.training.speed import keep_freed_memory

    if mode == "keep" and not keep_freed_memory():
        print("unavailable")
        return
    cfg = get_preset(preset).replace(activation="gelu")
    torch.manual_seed(0)
    if mode == "nanogpt":
        m, o = nanogpt_model(load_nanogpt(nanogpt_dir), cfg, 65)
        context = contextlib.nullcontext()
    else:
        m = GPT(cfg.model_config(65))  # the fused kernels on, as the trainer runs
        o = make_optimizer(m, cfg)
        context = contextlib.nullcontext()
    x = torch.randint(0, 65, (cfg.batch_size, cfg.model.block_size))  # (B, T)
    times, faults, system = [], 0, 0.0
    with context:
        for i in range(steps + 3):
            r0, t = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            train_step(m, o, lambda a, b: m(a, b)[1], x, x, cfg.grad_clip)
            if i >= 3:  # the first steps fault in every case
                times.append(time.perf_counter() - t)
                r1 = resource.getrusage(resource.RUSAGE_SELF)
                faults += r1.ru_minflt - r0.ru_minflt
                system += r1.ru_stime - r0.ru_stime  # CPU time in the kernel, all threads
    print(f"{statistics.median(times) * 1e3:.2f} {faults / steps:.0f} {system / steps * 1e3:.2f}")


def compare_allocators(preset: str, rounds: int, steps: int, nanogpt_dir: str | None) -> None:
    import subprocess

    modes = {"nanogpt": "nanoGPT (upstream model.py)"} if nanogpt_dir else {}
    modes.update(default="llmcourse, default allocator", keep="llmcourse, keep_freed_memory()")
    out = {mode: [] for mode in modes}
    for _ in range(rounds):
        for mode in modes:
            cmd = [sys.executable, __file__, "--preset", preset, "--iters", str(steps), "--allocator-child", mode]
            if nanogpt_dir:
                cmd += ["--nanogpt-dir", nanogpt_dir]
            line = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            if line == "unavailable":
                print("keep_freed_memory() is not available here (needs Linux with glibc).")
                return
            out[mode].append(tuple(map(float, line.split())))  # (ms, faults, kernel ms) per step
    print(f"\npreset {preset}: {rounds} fresh processes each, alternating, {steps} steps each "
          f"(medians per step: wall time, page faults, CPU time spent in the kernel)")
    base = statistics.median(r[0] for r in out[next(iter(modes))])
    for mode, label in modes.items():
        ms, faults, system = (statistics.median(r[i] for r in out[mode]) for i in range(3))
        print(f"{label:<32} {ms:8.1f} ms {base / ms:6.2f}x {faults:7.0f} faults {system:6.1f} ms in the kernel"
              "   runs: " + ", ".join(f"{r[0]:.1f}" for r in out[mode]))


def compare_curves(preset: str, seeds: list[int], max_iters: int | None) -> None:
    """``--curve``: the trainer's whole run of ``preset`` (fast kernels on) in fp32 and under bf16
    autocast, for each seed; validation loss at every evaluation side by side, and wall time.
    bf16 rounds every product's inputs, so its curve is not identical to fp32's: the yardstick is
    how far another seed moves the fp32 curve."""
    from llmcourse.training import Trainer

    overrides = {"fast_kernels": True} | ({"max_iters": max_iters} if max_iters is not None else {})
    runs = {}
    for seed in seeds:
        for precision in ("fp32", "bf16"):
            t = time.perf_counter()
            r = Trainer(preset, precision=precision, seed=seed, progress=False, log=None, **overrides).train()
            runs[precision, seed] = ([(h["step"], h["val_loss"]) for h in r.history if "val_loss" in h],
                                     time.perf_counter() - t, r.step)
    cols = [(p, s) for s in seeds for p in ("fp32", "bf16")]
    print(f"\npreset {preset}, the trainer with fast kernels, whole runs; validation loss "
          f"({Trainer.__module__}.Trainer.evaluate, fp32) at each evaluation")
    print(f"{'step':>6} " + " ".join(f"{p + ' seed ' + str(s):>15}" for p, s in cols))
    for i, (step, _) in enumerate(runs[cols[0]][0]):
        print(f"{step:>6} " + " ".join(f"{runs[c][0][i][1]:15.4f}" for c in cols))
    print(f"{'time s':>6} " + " ".join(f"{runs[c][1]:15.1f}" for c in cols))
    for seed in seeds:
        gap = max(abs(a[1] - b[1]) for a, b in zip(runs["fp32", seed][0], runs["bf16", seed][0]))
        print(f"seed {seed}: largest |bf16 - fp32| over the evaluations {gap:.4f}; final "
              f"{runs['bf16', seed][0][-1][1] - runs['fp32', seed][0][-1][1]:+.4f}")
    if len(seeds) > 1:
        a, b = runs["fp32", seeds[0]][0], runs["fp32", seeds[1]][0]
        print(f"fp32, seed {seeds[0]} against seed {seeds[1]}: largest gap {max(abs(x[1] - y[1]) for x, y in zip(a, b)):.4f}; "
              f"final {b[-1][1] - a[-1][1]:+.4f}")


# ---------------------------------------------------------------- --cuda: nanoGPT's GPU recipe
def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_steps(step, batches, device, warmup):
    """Run ``step(x, y)`` over ``batches``; ms a step after ``warmup`` steps (one wait at each end)
    and the losses, read once at the end."""
    losses = [step(x, y) for x, y in batches[:warmup]]
    _sync(device)
    t = time.perf_counter()
    losses += [step(x, y) for x, y in batches[warmup:]]
    _sync(device)
    ms = (time.perf_counter() - t) * 1e3 / max(len(batches) - warmup, 1)
    return ms, [float(v) for v in losses]


def _gpu_step(model, opt, grad_clip, device, dtype, graphs=False):
    from llmcourse.training.speed import mark_step_begin

    def step(x, y):
        if graphs:
            mark_step_begin()
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)  # no read: returns a tensor
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.detach()
    return step


def _models(args, cfg, vocab, device):
    """(name, model, fused AdamW, is_ours) with identical weights: the baseline and ours."""
    from llmcourse.training import make_optimizer as ours_opt

    torch.manual_seed(0)
    if args.nanogpt_dir:
        ng = load_nanogpt(args.nanogpt_dir)
        base = ng.GPT(ng.GPTConfig(block_size=cfg.model.block_size, vocab_size=vocab, n_layer=cfg.model.n_layer,
                                   n_head=cfg.model.n_head, n_embd=cfg.model.n_embd, dropout=cfg.model.dropout, bias=True)).to(device)
        base_opt = base.configure_optimizers(cfg.weight_decay, cfg.learning_rate, (cfg.beta1, cfg.beta2), device.type)
        name = "nanoGPT (upstream model.py)"
        ours = GPT(cfg.model_config(vocab)).to(device)
        copy_from_nanogpt(ours, base)
    else:
        base = GPT(cfg.replace(fast_kernels=False).model_config(vocab)).to(device)
        base_opt = ours_opt(base, cfg)
        name = "nanoGPT-equivalent (llmcourse readable model)"
        ours = GPT(cfg.model_config(vocab)).to(device)
        ours.load_state_dict(base.state_dict())
    return (name, base, base_opt, False), ("llmcourse trainer's step (fast kernels)", ours, ours_opt(ours, cfg), True)


def _nanogpt_loop(model, opt, cfg, data, steps, device, dtype, log_interval=10):
    """nanoGPT's train.py loop: each step cuts a batch on the CPU and copies it over (pinned,
    non-blocking), sets the learning rate, and reads the loss every ``log_interval`` steps."""
    from llmcourse.training import learning_rate_at, progress

    g = torch.Generator().manual_seed(cfg.seed)

    def get_batch():
        ix = torch.randint(len(data) - cfg.model.block_size, (cfg.batch_size,), generator=g)
        x = torch.stack([data[i:i + cfg.model.block_size] for i in ix.tolist()])
        y = torch.stack([data[i + 1:i + 1 + cfg.model.block_size] for i in ix.tolist()])
        if device.type == "cuda":
            return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
        return x, y

    step = _gpu_step(model, opt, cfg.grad_clip, device, dtype)
    logged, times = [], []
    x, y = get_batch()
    t = time.perf_counter()
    for it in range(steps):
        lr = learning_rate_at(it, progress(it, 0.0, cfg), cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        loss = step(x, y)
        x, y = get_batch()  # nanoGPT fetches the next batch while the GPU works
        if (it + 1) % log_interval == 0:
            logged.append(loss.item())
            now = time.perf_counter()
            times.append((now - t) / log_interval)
            t = now
    return logged, times


def cuda_benchmark(args) -> int:
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA GPU here: bench_train.py --cuda needs one (nothing measured).")
        return 3
    from llmcourse.training import Trainer

    cfg = get_preset("nanogpt-gpu", device=str(device))
    dtype = resolve_precision(cfg.precision, device)
    text = load_corpus()
    tok = CharTokenizer.from_text(text)
    vocab = tok.vocab_size
    tokens = cfg.batch_size * cfg.model.block_size
    flops = flops_per_token(cfg.model_config(vocab), seq_len=cfg.model.block_size) * tokens
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"nanoGPT's GPU recipe ({cfg.model.n_layer} layers, {cfg.model.n_head} heads, {cfg.model.n_embd} wide, block "
          f"{cfg.model.block_size}, batch {cfg.batch_size}, dropout {cfg.model.dropout}) on {where}, {dtype} autocast, "
          f"torch {torch.__version__}; {flops / 1e12:.2f} TFLOP a step")
    modes = [("eager", None)] if args.no_compile else [("eager", None), ("compiled", "default"),
                                                      ("CUDA graphs", "reduce-overhead")]

    # 1. the bare step
    g = torch.Generator().manual_seed(0)
    n = args.rounds * args.iters
    batches = [tuple(torch.randint(0, vocab, (cfg.batch_size, cfg.model.block_size), generator=g).to(device)
                     for _ in range(2)) for _ in range(n)]
    print(f"\nthe bare step: a random batch already on the device, fused AdamW; ms a step after "
          f"{args.warmup} warm-up steps ({n} steps)")
    print(f"{'model':<48} " + " ".join(f"{m:>12}" for m, _ in modes))
    rows = {}
    for name, model, opt, ours in _models(args, cfg, vocab, device):
        cells = []
        for label, mode in modes:
            run = model if mode is None else torch.compile(model, **({} if mode == "default" else {"mode": mode}))
            with contextlib.nullcontext():  # ours is built with its fused kernels, the baseline without
                ms, _ = _time_steps(_gpu_step(run, opt, cfg.grad_clip, device, dtype, mode == "reduce-overhead"),
                                    batches, device, args.warmup)
            cells.append(ms)
        rows[name] = cells
        print(f"{name:<48} " + " ".join(f"{ms:9.2f} ms" for ms in cells))

    # 2. whole loops
    print(f"\nwhole training loops, {args.steps} steps (the same learning rates; tokens a second over "
          f"the steps after the first {args.warmup}, evaluations left out)")
    data = encode_corpus(text, tok)
    train_ids, _ = train_val_split(data, cfg.val_fraction)
    results = []
    for label, mode in modes:
        (name, model, opt, _), _ = _models(args, cfg, vocab, device)
        run = model if mode is None else torch.compile(model, **({} if mode == "default" else {"mode": mode}))
        logged, times = _nanogpt_loop(run, opt, cfg, train_ids, args.steps, device, dtype)
        skip = max(1, args.warmup // 10)
        ms = statistics.median(times[skip:] or times) * 1e3
        results.append((f"nanoGPT's loop, {name.split(' (')[0]}, {label}", ms, logged))
    for label, mode in modes:
        t = Trainer("nanogpt-gpu", device=str(device), max_iters=args.steps, eval_interval=10 ** 9,
                    compile=mode is not None, compile_mode=mode or "default", progress=False, log=None)
        r = t.train()
        logs = [h for h in r.history if "loss" in h]
        skip = max(1, args.warmup // 10)
        tps = statistics.median([h["tokens_per_s"] for h in logs[skip:]] or [h["tokens_per_s"] for h in logs])
        results.append((f"llmcourse Trainer, {label}", tokens / tps * 1e3, [h["loss"] for h in logs]))
    print(f"{'loop':<56} {'ms/step':>8} {'tok/s':>9} {'last losses (mean of 5 logs)':>30}")
    for name, ms, logged in results:
        tail = logged[-5:]
        print(f"{name:<56} {ms:8.2f} {tokens / ms * 1e3:9.0f} {sum(tail) / max(len(tail), 1):30.4f}")
    best_theirs = min(ms for name, ms, _ in results if name.startswith("nanoGPT"))
    best_ours = min(ms for name, ms, _ in results if name.startswith("llmcourse"))
    print(f"\nthe Trainer's fastest loop against nanoGPT's fastest: {best_theirs / best_ours:.2f}x the tokens a second")
    if args.memorise:
        memorise_rows(cfg, vocab, device, dtype, args.no_compile)
    return 0


def memorise_rows(cfg, vocab, device, dtype, no_compile=False, steps=165):
    """Each model memorising one fixed batch from the same weights: the readable model eager and
    compiled, and rows that change one thing at a time (fused norms only, fused GELU only, every
    fast kernel, no dropout, the readable attention too), so that a compiled row that learns
    more slowly than eager execution points at its cause."""
    torch.manual_seed(0)
    init = GPT(cfg.model_config(vocab)).to(device).state_dict()
    g = torch.Generator().manual_seed(1)
    x, y = (torch.randint(0, vocab, (cfg.batch_size, cfg.model.block_size), generator=g).to(device) for _ in range(2))
    # (name, compile mode, fused kinds, config changes)
    rows = [("readable, eager", None, (), {}), ("fast kernels, eager", None, ("norms", "gelu", "rope"), {})]
    if not no_compile:
        rows += [("readable, compiled", "default", (), {}),
                 ("readable, CUDA graphs", "reduce-overhead", (), {}),
                 ("fused norms only, compiled", "default", ("norms",), {}),
                 ("fused GELU only, compiled", "default", ("gelu",), {}),
                 ("fast kernels, compiled", "default", ("norms", "gelu", "rope"), {}),
                 ("readable, dropout 0, compiled", "default", (), {"dropout": 0.0}),
                 ("readable attention too, compiled", "default", (), {"fast_attention": False})]
    print(f"\nmemorising one fixed batch for {steps} steps, {dtype} autocast (loss at the first and last step)")
    for name, mode, kinds, change in rows:
        model = GPT(GPTConfig(**{**cfg.model_config(vocab).to_dict(), "fused_kernels": False, **change})).to(device)
        set_fused(model, kinds)
        model.load_state_dict(init)
        opt = make_optimizer(model, cfg)
        torch.manual_seed(2)  # the same dropout draws in every row (as far as the kernels draw alike)
        run = model if mode is None else torch.compile(model, **({} if mode == "default" else {"mode": mode}))
        with contextlib.nullcontext():
            _, losses = _time_steps(_gpu_step(run, opt, cfg.grad_clip, device, dtype, mode == "reduce-overhead"),
                                    [(x, y)] * steps, device, 0)
        print(f"{name:<34} {losses[0]:8.4f} -> {losses[-1]:8.4f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nanogpt-dir", default=None, help="folder with nanoGPT's model.py")
    p.add_argument("--preset", default="nanogpt-cpu",
                   help="the training recipe to time (default: nanoGPT's CPU recipe; shakespeare-char: "
                        "the 5-minute preset, against the readable model)")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--iters", type=int, default=25, help="steps per variant per round")
    p.add_argument("--warmup", type=int, default=10, help="first steps of each variant not timed")
    p.add_argument("--all", action="store_true", help="also time each optimisation on its own")
    p.add_argument("--compile", action="store_true", help="with --all: include torch.compile")
    p.add_argument("--rope-only", action="store_true",
                   help="of --all's rows, only the one with the readable RoPE (bf16 on this preset's step is slow)")
    p.add_argument("--allocator", action="store_true",
                   help="time keep_freed_memory() against the default allocator (fresh processes)")
    p.add_argument("--allocator-child", choices=("nanogpt", "default", "keep"), help=argparse.SUPPRESS)
    p.add_argument("--curve", action="store_true",
                   help="train the whole preset in fp32 and in bf16 autocast (seeds --seeds) and print "
                        "both validation curves")
    p.add_argument("--seeds", type=int, nargs="+", default=[1337, 1], help="with --curve")
    p.add_argument("--max-iters", type=int, default=None, help="with --curve: a shorter run")
    p.add_argument("--floor", action="store_true",
                   help="also time our step with attention, GELU and norms made free (not the same maths)")
    p.add_argument("--cuda", action="store_true", help="nanoGPT's GPU recipe on a GPU (see above)")
    p.add_argument("--device", default="cuda", help="with --cuda: the device (cpu runs the same code, for tests)")
    p.add_argument("--steps", type=int, default=2000, help="with --cuda: steps of each whole training loop")
    p.add_argument("--memorise", action="store_true", help="with --cuda: also the memorisation rows")
    p.add_argument("--no-compile", action="store_true", help="with --cuda: eager rows only")
    args = p.parse_args(argv)
    if args.cuda:
        return cuda_benchmark(args)
    global CFG, PRESET_MUON
    CFG = get_preset(args.preset)
    # every row that must match the baseline steps with AdamW, as nanoGPT does; a preset that
    # trains with Muon gets one more row, timed the same way (a different update, not compared)
    PRESET_MUON = CFG.optimizer == "muon"
    CFG = CFG.replace(optimizer="adamw")
    if args.nanogpt_dir and args.preset != "nanogpt-cpu":
        p.error("--nanogpt-dir compares nanoGPT on its own recipe only (--preset nanogpt-cpu)")
    if args.nanogpt_dir and not (Path(args.nanogpt_dir) / "model.py").is_file():
        p.error(f"--nanogpt-dir {args.nanogpt_dir!r} has no model.py")
    if args.allocator_child:
        allocator_child(args.preset, args.allocator_child, args.iters, args.nanogpt_dir)
        return 0
    if args.allocator:
        compare_allocators(args.preset, args.rounds, args.iters, args.nanogpt_dir)
        return 0
    if args.curve:
        compare_curves(args.preset, args.seeds, args.max_iters)
        return 0
    if not args.nanogpt_dir:
        print("note: no --nanogpt-dir given; the baseline is llmcourse's own model run the way "
              "nanoGPT runs (fp32, readable kernels, for-loop AdamW, no compile).")

    text = load_corpus()
    tok = CharTokenizer.from_text(text)
    train_ids, _ = train_val_split(encode_corpus(text, tok))
    sampler = BatchSampler(train_ids, CFG.batch_size, CFG.model.block_size, seed=0)
    n_steps = args.rounds * args.iters
    batches = [tuple(t.contiguous() for t in sampler.next_batch()) for _ in range(n_steps)]
    variants = build(args, tok.vocab_size)
    peaks = [matmul_peak()]
    t_compile = {}
    for r in range(args.rounds):
        for v in variants:
            t0 = time.perf_counter()
            v.run(batches[r * args.iters:(r + 1) * args.iters])
            if r == 0:
                t_compile[v.name] = time.perf_counter() - t0
        peaks.append(matmul_peak())
    peak = max(peaks)
    tokens = CFG.batch_size * CFG.model.block_size
    flops = flops_per_token(CFG.model_config(tok.vocab_size), seq_len=CFG.model.block_size) * tokens
    print(f"\npreset {args.preset}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.rounds} rounds x {args.iters} steps, interleaved; fp32 matmul peak "
          f"{peak / 1e9:.0f} GFLOP/s; {flops / 1e9:.2f} GFLOP per step ({tokens} tokens)")
    print(f"{'variant':<56} {'ms/iter':>8} {'tok/s':>8} {'MFU':>6} {'vs base':>8} {'1st round s':>11}")
    ms_of = [statistics.median(v.times[args.warmup:]) * 1e3 for v in variants]
    for v, ms in zip(variants, ms_of):
        print(f"{v.name:<56} {ms:8.1f} {tokens / ms * 1e3:8.0f} {flops / (ms / 1e3) / peak:6.1%} "
              f"{ms_of[0] / ms:7.2f}x {t_compile[v.name]:11.1f}")
    print("\nloss curve (same weights, same batches):")
    marks = sorted({0, n_steps // 4, n_steps // 2, 3 * n_steps // 4, n_steps - 1})
    print(f"{'step':>6} " + " ".join(f"{v.name[:22]:>23}" for v in variants))
    for s in marks:
        print(f"{s + 1:>6} " + " ".join(f"{v.losses[s]:23.4f}" for v in variants))
    ref = variants[0].losses
    first = min(10, n_steps)
    for v in variants[1:]:
        if v.compared:
            print(f"max |loss - baseline| over {n_steps} steps, {v.name.strip()}: "
                  f"{max(abs(a - b) for a, b in zip(v.losses, ref)):.2e} "
                  f"(first {first} steps: {max(abs(a - b) for a, b in zip(v.losses[:first], ref)):.2e})"
                  + ("" if v.same_maths else "  [bf16: rounding, not the same maths; see --curve]"))
    if CFG.learning_rate > 5e-3:
        print(f"(at this preset's learning rate, {CFG.learning_rate:g} from the first step here, rounding "
              f"differences of 1e-7 grow step by step: compare the first steps)")
    if PRESET_MUON:
        i = next(i for i, v in enumerate(variants) if v.muon)
        print(f"\nMuon (the preset's optimizer for the blocks' matrices) costs "
              f"{ms_of[i] - ms_of[1]:+.1f} ms a step against fused AdamW; a different update, so its "
              f"losses are not compared.")
    print(f"\nthe trainer's step against the baseline: {ms_of[0] / ms_of[1]:.2f}x"
          + (f" (bf16 autocast; in fp32 {ms_of[0] / ms_of[2]:.2f}x)" if not variants[1].same_maths else ""))
    if args.floor:
        base, last = ms_of[0], ms_of[-1]
        print(f"\nfloor rows are not the same maths (their losses differ by design). With attention, "
              f"GELU and norms free, a step takes {last:.1f} ms: at most {base / last:.2f}x the baseline "
              f"without faster matrix products.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
