"""Plant one known bug at a time in the package, run the tests that guard that code, and report
whether they caught it (a maintainer's check that the tests can fail).

Every mutation runs in a throw-away copy of the repository (``git ls-files`` copied to a temporary
folder), so the working tree is never touched, even if the run is killed.

    python tools/mutation_check.py            # all mutations
    python tools/mutation_check.py 0 3 7      # some of them, by index
    python tools/mutation_check.py --list

Exit status 1 if a mutation survived (no test failed).
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
    ("llmcourse/env.py", "    if prefer:\n        return torch.device(prefer)\n", "", "tests/test_env.py"),
    ("llmcourse/data.py", "x, y = windows[:, :-1], windows[:, 1:]", "x, y = windows[:, :-1], windows[:, :-1]", "tests/test_data.py"),
    ("llmcourse/data.py", "self.generator = torch.Generator().manual_seed(seed)", "self.generator = torch.Generator().manual_seed(0)", "tests/test_data.py"),
    ("llmcourse/train_config.py", "cosine = 0.5 * (1.0 + math.cos(math.pi *", "cosine = 0.5 * (1.0 + math.cos(0.5 * math.pi *", "tests/test_train.py"),
    ("llmcourse/train_config.py", "warm = min(1.0, (step + 1) / cfg.warmup_iters)", "warm = 1.0", "tests/test_train.py"),
    ("llmcourse/train.py", 'groups = [{"params": [p for p in params if p.dim() >= 2]', 'groups = [{"params": [p for p in params if p.dim() >= 1]', "tests/test_train.py"),
    ("llmcourse/train.py", "if self.cfg.grad_clip > 0:", "if False:", "tests/test_train.py"),
    ("llmcourse/train.py", '        self.optimizer.load_state_dict(ckpt["optimizer"])\n', "", "tests/test_train.py tests/test_train_resume.py"),
    ("llmcourse/checkpoint.py", 'tmp = target.with_name(target.name + ".tmp")', "tmp = target", "tests/test_train_resume.py"),
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("indices", nargs="*", type=int)
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args(argv)
    if args.list:
        for i, (path, old, new, tests) in enumerate(MUTATIONS):
            print(f"[{i:2d}] {path}: {old.strip()[:60]!r} -> {new.strip()[:40]!r}  ({tests})")
        return 0
    return run(args.indices or list(range(len(MUTATIONS))))


if __name__ == "__main__":
    sys.exit(main())
