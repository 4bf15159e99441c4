"""The benchmark scripts still run (tiny settings, seconds). They print measurements and assert
nothing themselves; these tests only check that they work and print what the README says."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_bench_5min_prints_the_curve_and_the_whole_split_loss(capsys, tmp_path):
    bench = load("bench_5min")
    out_json = tmp_path / "r.jsonl"
    assert bench.main(["--preset", "tiny", "--set", "max_iters=6", "--set", "eval_interval=3",
                       "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "loss curve" in out and "validation loss over the whole validation split" in out
    assert out.count("\n") > 5 and '"steps": 6' in out_json.read_text()
    with pytest.raises(SystemExit):
        bench.parse_set(["n_layer"])  # NAME=VALUE expected
    assert bench.parse_set(["n_layer=3", "compile=True", "corpus=tinyshakespeare"]) == {
        "n_layer": 3, "compile": True, "corpus": "tinyshakespeare"}


def test_bench_train_floor_rows_are_faster_and_flagged(capsys, monkeypatch):
    bench = load("bench_train")
    monkeypatch.setattr(bench, "matmul_peak", lambda: 1e11)  # skip the 2048^3 products
    monkeypatch.setattr(bench, "resolve_precision", lambda precision, device: torch.float32)  # a CPU without bf16
    assert bench.main(["--rounds", "1", "--iters", "4", "--warmup", "1", "--floor"]) == 0
    out = capsys.readouterr().out
    assert "floor: attention, GELU, norms free" in out and "at most" in out
    # the same-maths variant matches the baseline; floor rows are not compared
    same = [line for line in out.splitlines() if line.startswith("max |loss - baseline|")]
    assert len(same) == 1 and float(same[0].split(": ")[1].split()[0]) < 1e-4
    assert torch.nn.functional.scaled_dot_product_attention.__module__ != bench.__name__  # restored


def test_bench_train_runs_the_trainer_in_bf16_where_it_autocasts(capsys, monkeypatch):
    bench = load("bench_train")
    monkeypatch.setattr(bench, "matmul_peak", lambda: 1e11)
    real = bench.resolve_precision
    monkeypatch.setattr(bench, "resolve_precision",  # as on a CPU with AVX-512 BF16
                        lambda precision, device: torch.bfloat16 if precision == "auto" else real(precision, device))
    assert bench.main(["--rounds", "1", "--iters", "6", "--warmup", "1"]) == 0
    out = capsys.readouterr().out
    diffs = {line.split(", ", 1)[1].split(":")[0]: (float(line.split(": ")[1].split()[0]), "[bf16" in line)
             for line in out.splitlines() if line.startswith("max |loss - baseline|")}
    assert diffs["the same in fp32 (the same maths)"][0] < 1e-4 and not diffs["the same in fp32 (the same maths)"][1]
    d, flagged = diffs["llmcourse trainer (fast kernels + fused AdamW + bf16)"]
    assert flagged and 1e-6 < d < 0.05, d  # rounded products: close, but not the same maths
    assert "the trainer's step against the baseline" in out and "(bf16 autocast; in fp32" in out


def test_bench_train_curve_compares_fp32_and_bf16_runs(capsys):
    bench = load("bench_train")
    assert bench.main(["--preset", "tiny", "--curve", "--max-iters", "4", "--seeds", "1", "2"]) == 0
    out = capsys.readouterr().out
    assert "fp32 seed 1" in out and "bf16 seed 2" in out and "time s" in out
    assert out.count("largest |bf16 - fp32|") == 2 and "fp32, seed 1 against seed 2" in out


def test_bench_train_times_the_rope_preset_with_and_without_the_fast_rope(capsys, monkeypatch):
    bench = load("bench_train")
    monkeypatch.setattr(bench, "matmul_peak", lambda: 1e11)
    real = bench.get_preset
    small = lambda name: real(name, n_layer=1, block_size=16, batch_size=2)  # noqa: E731  (seconds, not minutes)
    monkeypatch.setattr(bench, "get_preset", small)
    assert bench.main(["--preset", "shakespeare-char", "--rounds", "1", "--iters", "3", "--warmup", "1",
                       "--all"]) == 0
    out = capsys.readouterr().out
    assert out.count("preset shakespeare-char") == 1 and "readable norms/GELU/RoPE" in out
    diffs = {line.split(", ", 1)[1].split(":")[0]: float(line.split(": ")[1].split()[0])
             for line in out.splitlines() if line.startswith("max |loss - baseline|")}
    fp32 = {name: d for name, d in diffs.items() if "bf16" not in name}
    assert len(fp32) == 4 and "fast kernels but lesson 4's readable RoPE, fp32" in fp32
    assert max(fp32.values()) < 1e-5, fp32  # fast and readable RoPE alike: the same maths
    # the preset trains with Muon: one more row, timed but not compared (a different update)
    assert out.count("+ Muon for the blocks' matrices") == 1 and "ms a step against fused AdamW" in out
    with pytest.raises(SystemExit):  # nanoGPT has no rotary positions: refused, with a reason
        bench.main(["--preset", "shakespeare-char", "--nanogpt-dir", str(BENCH)])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
@pytest.mark.slow
def test_bench_train_allocator_compares_fresh_processes(capsys):
    bench = load("bench_train")
    assert bench.main(["--preset", "tiny", "--allocator", "--rounds", "1", "--iters", "2"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("llmcourse, ")]
    assert len(rows) == 2 and "keep_freed_memory()" in rows[1] and "faults" in rows[1]
    assert "1.00x" in rows[0]  # the first row is the baseline


def test_bench_train_cuda_mode_runs_its_code_on_the_cpu(capsys, monkeypatch):
    bench = load("bench_train")
    real = bench.get_preset
    small = lambda name, **kw: real(name, **{**kw, "n_layer": 1, "n_head": 2, "n_embd": 32,  # noqa: E731
                                             "block_size": 16, "batch_size": 4, "eval_iters": 1})
    monkeypatch.setattr(bench, "get_preset", small)
    import llmcourse.training.presets as tc

    monkeypatch.setitem(tc.PRESETS, "nanogpt-gpu", small("nanogpt-gpu"))  # what the Trainer rows load
    assert bench.main(["--cuda", "--device", "cpu", "--no-compile", "--rounds", "1", "--iters", "4",
                       "--warmup", "1", "--steps", "20", "--memorise"]) == 0
    out = capsys.readouterr().out
    assert "nanoGPT's GPU recipe" in out and "the bare step" in out and "whole training loops" in out
    assert "nanoGPT's loop, nanoGPT-equivalent, eager" in out and "llmcourse Trainer, eager" in out
    assert "the Trainer's fastest loop against nanoGPT's fastest" in out and "readable, eager" in out


def test_bench_train_cuda_mode_without_a_gpu_says_so(capsys, monkeypatch):
    bench = load("bench_train")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench.main(["--cuda"]) == 3
    assert capsys.readouterr().out.strip() == "no CUDA GPU here: bench_train.py --cuda needs one (nothing measured)."
