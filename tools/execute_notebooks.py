"""Execute notebooks in place, each in a fresh kernel, then apply the hygiene pass: Colab/editor
metadata stripped, cell ids kept, figures no wider than 1000 px (lessons draw at dpi 80),
execution counts 1..n. Exercises notebooks are never executed: they are committed clean.

    python tools/execute_notebooks.py notebooks/10_causal_masking.ipynb solutions/10_*.ipynb
    python tools/execute_notebooks.py --all          # every lesson and solutions notebook
    python tools/execute_notebooks.py --fast ...     # LLMCOURSE_FAST=1 (short training cells)
    python tools/execute_notebooks.py --clean-only exercises/*.ipynb   # hygiene, no execution

Heavy: on the shared 2-core machine wrap it in ``flock /tmp/llmcourse-cpu.lock``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.nbutil import REPO, clean, read, write  # noqa: E402


def execute(path: Path, timeout: int = 900, fast: bool = False, kernel: str = "python3"):
    """Run ``path`` top to bottom in a fresh kernel started in its folder; returns the notebook.
    Raises ``nbclient`` ``CellExecutionError`` if a cell fails (the file is then left as it was)."""
    from nbclient import NotebookClient

    nb = read(path)
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # the kernel's inline backend must capture figures
    env.pop("LLMCOURSE_GRADE_DIR", None)  # a grade run records checks itself; executing is not grading
    env["LLMCOURSE_FAST"] = "1" if fast else "0"
    env["LLMCOURSE_STRICT"] = "1"  # a solutions notebook whose checks fail must not be committed
    env.setdefault("LLMCOURSE_PROGRESS_FILE", "off")
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return clean(nb, path.name)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*")
    ap.add_argument("--all", action="store_true", help="all of notebooks/ and solutions/")
    ap.add_argument("--fast", action="store_true", help="run with LLMCOURSE_FAST=1")
    ap.add_argument("--clean-only", action="store_true", help="only the hygiene pass")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = ap.parse_args(argv)
    paths = [Path(p) for p in args.paths]
    if args.all:
        paths += sorted((REPO / "notebooks").glob("*.ipynb")) + sorted((REPO / "solutions").glob("*.ipynb"))
    if not paths:
        ap.error("give notebooks or --all")
    failed = 0
    for path in paths:
        if args.clean_only or path.parent.name == "exercises":
            keep = path.parent.name != "exercises"
            if write(clean(read(path), path.name, keep_outputs=keep), path):
                print(f"cleaned {path}")
            continue
        start = time.perf_counter()
        try:
            nb = execute(path, args.timeout, args.fast)
        except Exception as exc:  # noqa: BLE001 - report and go on with the others
            failed += 1
            print(f"FAILED {path}: {type(exc).__name__}: {str(exc).strip().splitlines()[-1:]}")
            continue
        write(nb, path)
        print(f"executed {path} in {time.perf_counter() - start:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
