"""Benchmark the lesson 2 BPE tokenizer on the bundled corpus (prints numbers; not a test).

    flock /tmp/llmcourse-cpu.lock python benchmarks/bench_tokenizer.py [--vocab-size 1024] [--repeat 3]

Measures: training a vocabulary on the whole corpus, the readable and the fast training loop
(``learn_merges(fast=False/True)``) on a 100,000-character slice, encoding the whole corpus with a
fresh tokenizer (empty chunk cache) and again with a warm cache, and the same encode with tiktoken
given our merges. Targets: training <= 15 s, encoding <= 5 s on 2 CPU cores. Results are kept in
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import llmcourse
from llmcourse.tokenizers import BPETokenizer


def best_of(repeat, fn):
    """Smallest wall time over ``repeat`` runs, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocab-size", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is reported")
    args = ap.parse_args()

    text = (Path(llmcourse.__file__).parent / "data" / "tinyshakespeare.txt").read_text(encoding="utf-8")
    print(f"python {platform.python_version()}, corpus {len(text):,} characters, vocab_size {args.vocab_size}")

    t_train, tok = best_of(args.repeat, lambda: BPETokenizer.train(text, vocab_size=args.vocab_size))
    print(f"train:            {t_train:7.3f} s   ({len(tok.merges)} merges)   target <= 15 s")

    part = text[:100_000]
    t_read, slow = best_of(1, lambda: BPETokenizer.train(part, vocab_size=512, fast=False))
    t_fast, quick = best_of(1, lambda: BPETokenizer.train(part, vocab_size=512, fast=True))
    print(f"train 100k chars, 255 merges: readable {t_read:.3f} s, fast {t_fast:.3f} s "
          f"({t_read / t_fast:.0f}x), same merges: {slow.merges == quick.merges}")

    t_cold, ids = best_of(args.repeat, lambda: BPETokenizer(tok.merges, tok.special_tokens).encode(text))
    tok.encode(text)  # fill the chunk cache
    t_warm, _ = best_of(args.repeat, lambda: tok.encode(text))
    print(f"encode (cold):    {t_cold:7.3f} s   ({len(ids):,} tokens, {len(text) / len(ids):.2f} chars/token)"
          f"   target <= 5 s")
    print(f"encode (warm):    {t_warm:7.3f} s   (chunk cache already filled)")
    assert tok.decode(ids) == text, "round trip failed"

    try:
        import tiktoken
    except ImportError:
        print("tiktoken is not installed (pip install -e .[dev]): no comparison")
        return
    enc = tiktoken.Encoding("llmcourse-bench", pat_str=tok.pattern, mergeable_ranks=tok.mergeable_ranks(),
                            special_tokens=tok.special_tokens)
    t_tik, ref = best_of(args.repeat, lambda: enc.encode(text, allowed_special="all"))
    print(f"tiktoken encode:  {t_tik:7.3f} s   (same merges, tiktoken {tiktoken.__version__})")
    print(f"ratio ours/tiktoken: {t_cold / t_tik:.1f}x cold, {t_warm / t_tik:.1f}x warm")
    print(f"identical ids: {ids == ref}")


if __name__ == "__main__":
    main()
