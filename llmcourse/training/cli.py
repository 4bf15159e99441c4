"""The command line of lesson 20: ``python -m llmcourse train`` and ``python -m llmcourse generate``.

Train for five minutes on the bundled Shakespeare, then sample from the result::

    python -m llmcourse train --preset shakespeare-char --max-time 300 --out runs/shakespeare
    python -m llmcourse generate --checkpoint runs/shakespeare --prompt "ROMEO:" --temperature 0.8

Both work with no options at all (``generate`` then uses the model shipped with the package).
Several processes: ``torchrun --nproc_per_node=2 -m llmcourse train ...``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

from .config import COMPILE_MODES, OPTIMIZERS, PRECISIONS
from .presets import PRESETS

DEFAULT_PRESET = "shakespeare-char"


class _Parser(argparse.ArgumentParser):
    """argparse with errors on one line (``prog: error: ...``), exit status 2, no usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(str(message).split())}\n")


def _train_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m llmcourse train",
        description="Train a character-level GPT on the corpus bundled with the package "
                    "(Tiny Shakespeare). Every option has a default: with none, the "
                    f"'{DEFAULT_PRESET}' preset trains for 5 minutes into runs/{DEFAULT_PRESET}.",
        epilog="presets: " + "; ".join(
            f"{name}: {c.model.n_layer} layers x {c.model.n_embd} wide, block {c.model.block_size}, batch {c.batch_size}, "
            + (f"{c.max_time:g} s" if c.max_time else f"{c.max_iters} steps")
            for name, c in PRESETS.items()),
    )
    p.add_argument("--preset", default=DEFAULT_PRESET, metavar="NAME",
                   help=f"named settings, one of {', '.join(PRESETS)} (default: {DEFAULT_PRESET})")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="directory for the checkpoint ckpt.pt (default: runs/<preset>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run saved in --out from its last checkpoint")
    p.add_argument("--max-time", type=float, default=None, metavar="SECONDS",
                   help="wall-clock budget in seconds, evaluations included")
    p.add_argument("--max-iters", type=int, default=None, metavar="N", help="budget in optimizer steps")
    p.add_argument("--batch-size", type=int, default=None, metavar="N", help="global batch size")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=None,
                   help="adamw, or muon for the blocks' matrices (default: the preset's)")
    p.add_argument("--lr", type=float, default=None, metavar="LR", help="peak learning rate")
    p.add_argument("--eval-interval", type=int, default=None, metavar="N", help="steps between evaluations")
    p.add_argument("--checkpoint-interval", type=int, default=None, metavar="N",
                   help="steps between checkpoints (default: at every evaluation)")
    p.add_argument("--seed", type=int, default=None, help="random seed (same seed, same run)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 or mps (default: the best available)")
    p.add_argument("--compile", action="store_true", help="use torch.compile (falls back if it fails)")
    p.add_argument("--compile-mode", choices=COMPILE_MODES, default=None,
                   help="torch.compile's mode, with --compile; reduce-overhead replays each step as a "
                        "CUDA graph on a GPU (default: the preset's)")
    p.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="bf16: the forward pass under bfloat16 autocast; fp16: float16 autocast with a "
                        "gradient scaler; auto: bf16 where the hardware multiplies bf16 natively, fp16 on "
                        "CUDA GPUs of capability 7.x (V100, T4), else fp32 (default: the preset's)")
    p.add_argument("--export", default=None, metavar="FILE",
                   help="also write a compact float16 model file (what the package ships) at the end")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (log lines only)")
    return p


def cli_train(argv: list[str]) -> int:
    parser = _train_parser()
    args = parser.parse_args(argv)
    if args.preset not in PRESETS:
        parser.error(f"unknown preset {args.preset!r}; choose one of: {', '.join(sorted(PRESETS))}.")
    for name in ("max_time", "lr"):
        v = getattr(args, name)
        if v is not None and not (math.isfinite(v) and v > 0):
            parser.error(f"--{name.replace('_', '-')} must be a positive number, got {v}.")
    for name in ("max_iters", "batch_size", "eval_interval", "checkpoint_interval"):
        v = getattr(args, name)
        if v is not None and v < (0 if name == "max_iters" else 1):
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {v}.")
    out = args.out or f"runs/{args.preset}"
    from .checkpoint import checkpoint_file

    if args.resume and not checkpoint_file(out).is_file():
        parser.error(f"--resume: there is no checkpoint in {out!r} (expected {checkpoint_file(out)}). "
                     f"Start a run there without --resume first, or pass --out DIR of an earlier run.")
    overrides = {"max_time": args.max_time, "max_iters": args.max_iters, "batch_size": args.batch_size,
                 "optimizer": args.optimizer, "learning_rate": args.lr, "eval_interval": args.eval_interval,
                 "seed": args.seed, "checkpoint_interval": args.checkpoint_interval, "device": args.device,
                 "compile": True if args.compile else None, "precision": args.precision,
                 "compile_mode": args.compile_mode}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.max_time is not None and args.max_iters is None:
        overrides["max_iters"] = None  # a time budget given on the command line replaces the step budget
    from .loop import Trainer

    t0 = time.perf_counter()
    try:
        trainer = Trainer(args.preset, out_dir=out, resume=args.resume, progress=not args.no_progress,
                          **overrides)
    except ValueError as e:
        parser.error(str(e))
    main = trainer.dist.is_main
    if main:
        c, n = trainer.cfg, trainer.model.num_parameters()
        what = "resuming at step %d" % trainer.step if args.resume else "training"
        print(f"{what}: {args.preset}, {n / 1e6:.2f}M parameters, {c.model.n_layer} layers x {c.model.n_embd}, "
              f"block {c.model.block_size}, batch {c.batch_size}, device {trainer.device}, "
              f"{trainer.dist.world_size} process(es); checkpoint -> {out}", flush=True)
    result = trainer.train()
    wall = time.perf_counter() - t0
    if main:
        print(f"done: {result.step} steps, {result.elapsed:.1f} s of training ({wall:.1f} s wall), "
              f"train {result.last('train_loss'):.4f}, val {result.last('val_loss'):.4f}; "
              f"checkpoint {out}", flush=True)
        if args.export:
            import torch

            from ..pretrained import export_model, validation_loss

            split_loss = validation_loss(result.model, result.tokenizer, corpus=trainer.cfg.corpus,
                                         val_fraction=trainer.cfg.val_fraction)
            print(f"validation loss over the whole validation split: {split_loss:.4f}", flush=True)
            path = export_model(args.export, result.model, result.tokenizer, command="python -m llmcourse train "
                                + " ".join(argv), torch_version=str(torch.__version__), steps=result.step,
                                train_seconds=round(result.elapsed, 1), train_loss=result.last("train_loss"),
                                val_loss=result.last("val_loss"), val_loss_split=split_loss, preset=args.preset,
                                date=time.strftime("%Y-%m-%d"))
            print(f"exported the model to {path}", flush=True)
    from .distributed import cleanup_distributed

    cleanup_distributed()
    return 130 if result.interrupted else 0


def _generate_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m llmcourse generate",
        description="Sample text from a trained model. Without --checkpoint, uses the model shipped "
                    "with the package (shakespeare-char).")
    p.add_argument("--checkpoint", default="shakespeare-char", metavar="DIR|FILE|NAME",
                   help="a run directory (from train --out), a .pt file, or a shipped model name "
                        "(default: shakespeare-char)")
    p.add_argument("--prompt", default="ROMEO:", help="text to continue (default: 'ROMEO:')")
    p.add_argument("--tokens", type=int, default=300, metavar="N", help="how many characters to add (default 300)")
    p.add_argument("--temperature", type=float, default=0.8,
                   help="below 1 sharper, above 1 flatter, 0 = always the most likely (default 0.8)")
    p.add_argument("--top-k", type=int, default=None, metavar="K", help="sample only among the K most likely")
    p.add_argument("--top-p", type=float, default=None, metavar="P",
                   help="sample only within the smallest set of tokens with total probability P")
    p.add_argument("--seed", type=int, default=0, help="random seed for sampling (default 0)")
    p.add_argument("--samples", type=int, default=1, metavar="N", help="how many samples (default 1)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or mps (default cpu)")
    return p


def cli_generate(argv: list[str]) -> int:
    parser = _generate_parser()
    args = parser.parse_args(argv)
    if args.tokens < 0:
        parser.error(f"--tokens must be >= 0, got {args.tokens}.")
    if not (math.isfinite(args.temperature) and args.temperature >= 0):
        parser.error(f"--temperature must be a number >= 0 (0 means greedy), got {args.temperature}.")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        parser.error(f"--top-p must be in (0, 1], got {args.top_p}.")
    if args.top_k is not None and args.top_k < 1:
        parser.error(f"--top-k must be a positive integer, got {args.top_k}.")
    if args.samples < 1:
        parser.error(f"--samples must be >= 1, got {args.samples}.")
    import torch

    from ..pretrained import load_file, resolve
    from ..sampling import generate

    try:  # load_file checks the device before it reads the file
        model, tok = load_file(resolve(args.checkpoint), device=args.device)
    except (FileNotFoundError, ValueError) as e:
        parser.error(str(e))
    if not args.prompt:
        parser.error("--prompt must not be empty (give at least one character, e.g. --prompt $'\\n').")
    try:
        ids = tok.encode(args.prompt)
    except KeyError as e:
        parser.error(f"the prompt cannot be encoded: {e.args[0]}")
    g = torch.Generator().manual_seed(args.seed)  # on the CPU: one seed, one text, whatever the device
    idx = torch.tensor([ids] * args.samples, dtype=torch.long, device=args.device)  # (samples, T)
    out = generate(model, idx, args.tokens, temperature=args.temperature, top_k=args.top_k,
                   top_p=args.top_p, generator=g)
    for i, row in enumerate(out.tolist()):
        if i:
            print("\n" + "-" * 40)
        sys.stdout.write(tok.decode(row) + "\n")
    sys.stdout.flush()
    return 0
