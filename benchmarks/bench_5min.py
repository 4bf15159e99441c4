"""The 5-minute quality run: train a preset for its wall-clock budget, print the loss curve and
the validation loss over the whole validation split.

    flock /tmp/llmcourse-cpu.lock python benchmarks/bench_5min.py                # shakespeare-char
    python benchmarks/bench_5min.py --set n_layer=4 --set learning_rate=6e-3     # a variant
    python benchmarks/bench_5min.py --max-time 60                                # a shorter budget

The budget is wall time (evaluations included), so the result depends on the machine and on
whatever else runs on it: run it on an otherwise idle machine. The final number is
``pretrained.validation_loss``: the mean next-character loss over every consecutive window of
``block_size`` characters of the validation split (deterministic), next to the trainer's own
estimate on ``eval_iters`` random batches. This prints numbers; it asserts nothing.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llmcourse.pretrained import validation_loss  # noqa: E402
from llmcourse.training import Trainer  # noqa: E402
from llmcourse.training import get_preset  # noqa: E402


def parse_set(items: list[str]) -> dict:
    """``["n_layer=3", "compile=True"]`` -> ``{"n_layer": 3, "compile": True}``."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set expects NAME=VALUE, got {item!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="shakespeare-char")
    p.add_argument("--max-time", type=float, default=None, help="seconds (default: the preset's)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="change one TrainConfig field (repeatable)")
    p.add_argument("--json", default=None, metavar="FILE", help="append the result as one JSON line")
    args = p.parse_args(argv)
    overrides = parse_set(args.set)
    if args.max_time is not None:
        overrides["max_time"] = args.max_time
    cfg = get_preset(args.preset, **overrides)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; preset {args.preset} "
          f"{overrides or ''}\n{cfg}\n")
    t0 = time.perf_counter()
    trainer = Trainer(cfg, progress=False, log=print)
    result = trainer.train()
    wall = time.perf_counter() - t0
    val = validation_loss(result.model, result.tokenizer)
    tokens = result.step * cfg.batch_size * cfg.model.block_size
    print("\nloss curve (trainer's estimate at each evaluation):")
    print(f"{'step':>6} {'seconds':>8} {'train':>7} {'val':>7}")
    for r in result.history:
        if "val_loss" in r:
            print(f"{r['step']:>6} {r['elapsed']:8.1f} {r['train_loss']:7.3f} {r['val_loss']:7.3f}")
    print(f"\n{result.step} steps, {tokens:,} tokens in {result.elapsed:.0f} s of training "
          f"({tokens / result.elapsed:,.0f} tokens/s; {wall:.0f} s with set-up), "
          f"{result.model.num_parameters():,} parameters")
    print(f"validation loss over the whole validation split: {val:.4f} "
          f"(trainer's estimate {result.last('val_loss'):.4f}, train {result.last('train_loss'):.4f})")
    if args.json:
        rec = {"preset": args.preset, "overrides": overrides, "steps": result.step,
               "seconds": round(result.elapsed, 1), "val_whole_split": round(val, 4),
               "val_estimate": round(result.last("val_loss"), 4), "train_estimate": round(result.last("train_loss"), 4)}
        with open(args.json, "a") as f:
            f.write(json.dumps(rec) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
