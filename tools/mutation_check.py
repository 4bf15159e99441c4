"""Plant one known bug at a time in the package, run the tests that guard that code, and report
whether they caught it (a maintainer's check that the tests can fail). With ``--grader``, check the
exercise graders instead: every planted mistake must be rejected (with its own hint) and every
correct alternative and the reference must pass, on each of many seeds.

Every mutation runs in a throw-away copy of the repository (``git ls-files`` copied to a temporary
folder), so the working tree is never touched, even if the run is killed.

    python tools/mutation_check.py            # all mutations
    python tools/mutation_check.py 0 3 7      # some of them, by index
    python tools/mutation_check.py --list
    python tools/mutation_check.py --grader                 # graders, seeds 1-20, a table
    python tools/mutation_check.py --grader --seeds 1-5 10.2 11.1

Exit status 1 if a mutation survived (no test failed), or, with ``--grader``, if a planted mistake
passed on some seed or a correct answer failed on some seed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: (file, original text, planted bug, tests that must fail)
MUTATIONS: list[tuple[str, str, str, str]] = [
    # package core
    ("llmcourse/attention.py", "return torch.tril(ones, diagonal=T_k - T_q)", "return torch.tril(ones, diagonal=T_k - T_q + 1)", "tests/test_attention.py"),
    ("llmcourse/attention.py", "scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale", "scale = 1.0 if scale is None else scale", "tests/test_attention.py"),
    ("llmcourse/attention.py", "    e = torch.exp(x - m)\n", "    e = torch.exp(x)\n", "tests/test_attention.py"),
    ("llmcourse/norm.py", "var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)", "var = x.var(dim=-1, keepdim=True)", "tests/test_norm.py"),
    ("llmcourse/norm.py", "y = x * torch.rsqrt((x * x).mean(dim=-1, keepdim=True) + eps)", "y = x * torch.rsqrt((x * x).sum(dim=-1, keepdim=True) + eps)", "tests/test_norm.py"),
    ("llmcourse/feedforward.py", "(x + 0.044715 * x.pow(3))", "(x + 0.04 * x.pow(3))", "tests/test_feedforward.py"),
    ("llmcourse/block.py", "x = x + self.mlp(self.ln_2(x))  # residual around the MLP", "x = self.mlp(self.ln_2(x))", "tests/test_hf.py"),
    ("llmcourse/model.py", "self.lm_head.weight = self.embed.tok.weight  # one (vocab, n_embd) matrix, used twice", "pass", "tests/test_model.py tests/test_hf.py"),
    ("llmcourse/sampling.py", "remove_sorted = before >= p", "remove_sorted = before > p", "tests/test_sampling.py"),
    ("llmcourse/sampling.py", "return logits.masked_fill(logits < kth, NEG_INF)", "return logits.masked_fill(logits <= kth, NEG_INF)", "tests/test_sampling.py"),
    # training engine
    ("llmcourse/env.py", "    if prefer:\n        return check_device(prefer)\n", "", "tests/test_env.py"),
    ("llmcourse/data.py", "return windows[:, :-1], windows[:, 1:]", "return windows[:, :-1], windows[:, :-1]", "tests/test_data.py"),
    ("llmcourse/data.py", "self.generator = torch.Generator().manual_seed(seed)", "self.generator = torch.Generator().manual_seed(0)", "tests/test_data.py"),
    ("llmcourse/training/config.py", "cosine = 0.5 * (1.0 + math.cos(math.pi *", "cosine = 0.5 * (1.0 + math.cos(0.5 * math.pi *", "tests/test_train.py"),
    ("llmcourse/training/config.py", "warm = min(1.0, (step + 1) / cfg.warmup_iters)", "warm = 1.0", "tests/test_train.py"),
    ("llmcourse/training/loop.py", 'groups = [{"params": [p for p in params if p.dim() >= 2]', 'groups = [{"params": [p for p in params if p.dim() >= 1]', "tests/test_train.py"),
    ("llmcourse/training/loop.py", "if self.cfg.grad_clip > 0:", "if False:", "tests/test_train.py"),
    ("llmcourse/training/loop.py", '        self.optimizer.load_state_dict(ckpt["optimizer"])\n', "", "tests/test_train.py tests/test_train_resume.py"),
    ("llmcourse/training/checkpoint.py", 'tmp = target.with_name(target.name + ".tmp")', "tmp = target", "tests/test_train_resume.py"),
    ("llmcourse/pretrained.py", "return model.to(device).eval(), CharTokenizer", "return model.to(device), CharTokenizer", "tests/test_pretrained.py"),
]


def copy_repo(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split("\0")
    for f in filter(None, files):
        src = REPO / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)


def run(indices: list[int]) -> int:
    survived = 0
    with tempfile.TemporaryDirectory(prefix="llmcourse-mut-") as tmp:
        root = Path(tmp)
        copy_repo(root)
        env = dict(os.environ, PYTHONPATH=str(root), LLMCOURSE_FAST="1")
        for i in indices:
            path, old, new, tests = MUTATIONS[i]
            p = root / path
            src = p.read_text(encoding="utf-8")
            if src.count(old) != 1:
                print(f"[{i}] STALE {path}: {old.strip()[:60]!r} is not in the file once; update MUTATIONS")
                survived += 1
                continue
            p.write_text(src.replace(old, new), encoding="utf-8")
            try:
                r = subprocess.run([sys.executable, "-m", "pytest", *tests.split(), "-x", "-q", "-n0",
                                    "-p", "no:cacheprovider", "-o", "addopts="], cwd=root, env=env,
                                   capture_output=True, text=True)
            finally:
                p.write_text(src, encoding="utf-8")
            last = ([ln for ln in r.stdout.splitlines() if ln.strip()] or ["(no output)"])[-1]
            caught = r.returncode != 0
            survived += not caught
            print(f"[{i:2d}] {'caught  ' if caught else 'SURVIVED'} {path}: {old.strip()[:50]!r} -> "
                  f"{new.strip()[:40]!r}  | {last[:90]}", flush=True)
    print(f"{len(indices) - survived} of {len(indices)} planted bugs caught")
    return 1 if survived else 0


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def grader_table(seeds: list[int], ids: list[str]) -> int:
    """One row per planted mistake and per correct answer (reference and alternatives): on how many
    seeds a mistake was rejected (and showed its own hint), or a correct answer passed."""
    os.environ["LLMCOURSE_STRICT"] = "0"
    os.environ["LLMCOURSE_PROGRESS_FILE"] = "off"
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from llmcourse.grading import PASSED, all_exercises, check, get

    exercises = [get(i) for i in ids] if ids else all_exercises()
    n = len(seeds)
    totals = dict(planted=0, rejected=0, own_hint=0, correct=0, passing=0)
    bad = 0
    print(f"seeds {seeds[0]}..{seeds[-1]} ({n})")
    print(f"{'exercise':8} {'kind':11} {'rejected':>8} {'own hint':>8}  name")
    for ex in exercises:
        rows = [("reference", ex.reference)] + [(f"alt: {a.name}", a.fn) for a in ex.alternatives]
        for name, fn in rows:
            ok = sum(check(ex.id, fn, seed=s, quiet=True, record=False).status == PASSED for s in seeds)
            totals["correct"] += 1
            totals["passing"] += ok == n
            bad += ok != n
            flag = "" if ok == n else "   <-- a correct answer FAILED"
            print(f"{ex.id:8} {'correct':11} {'':>8} {'':>8}  {name}: passed {ok}/{n}{flag}", flush=True)
        for m in ex.mistakes:
            if not m.planted:
                continue
            results = [check(ex.id, m.fn, seed=s, quiet=True, record=False) for s in seeds]
            rej = sum(r.status != PASSED for r in results)
            own = sum(r.mistake == m.name for r in results)
            totals["planted"] += 1
            totals["rejected"] += rej == n
            totals["own_hint"] += own == n
            bad += rej != n
            flag = "" if rej == n else "   <-- PASSED on some seed"
            flag = flag or ("" if own == n else "   (another hint shown)")
            print(f"{ex.id:8} {'mistake':11} {rej:>5}/{n:<2} {own:>5}/{n:<2}  {m.name}{flag}", flush=True)
    print(f"\n{len(exercises)} exercises; planted mistakes: {totals['planted']}, rejected on all {n} seeds: "
          f"{totals['rejected']}, with their own hint on all seeds: {totals['own_hint']}; correct answers "
          f"(references + alternatives): {totals['correct']}, passing on all seeds: {totals['passing']}")
    return 1 if bad else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("indices", nargs="*", help="mutation indices, or exercise ids with --grader")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--grader", action="store_true", help="check the exercise graders over many seeds")
    ap.add_argument("--seeds", default="1-20", help="with --grader: seeds, e.g. 1-20 or 1,5,9 (default 1-20)")
    args = ap.parse_args(argv)
    if args.grader:
        return grader_table(_seeds(args.seeds), args.indices)
    args.indices = [int(i) for i in args.indices]
    if args.list:
        for i, (path, old, new, tests) in enumerate(MUTATIONS):
            print(f"[{i:2d}] {path}: {old.strip()[:60]!r} -> {new.strip()[:40]!r}  ({tests})")
        return 0
    return run(args.indices or list(range(len(MUTATIONS))))


if __name__ == "__main__":
    sys.exit(main())
