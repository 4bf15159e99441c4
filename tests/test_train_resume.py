"""Kill-and-resume (lesson 20): a real training process is killed with SIGKILL in the middle of
its run; the checkpoint it leaves behind must load, and ``--resume`` must continue the very same
run: every logged loss after resuming equals the uninterrupted run's (tolerance 1e-5, stated
below; in practice they are bit-identical on one thread)."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from llmcourse.training.checkpoint import load_checkpoint, save_checkpoint
from llmcourse.training import Trainer
from torch_threads import torch_threads

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

ARGS = ["--preset", "tiny", "--max-iters", "300", "--checkpoint-interval", "2", "--eval-interval", "50",
        "--no-progress", "--device", "cpu"]  # compared number for number with a CPU run below
TOL = 1e-5


@pytest.mark.slow
def test_sigkill_then_resume_continues_the_same_run(tmp_path):
    out = tmp_path / "run"
    ckpt = out / "ckpt.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "llmcourse", "train", *ARGS, "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    reads, step, deadline = 0, 0, time.time() + 120
    try:
        while step < 60:  # read the checkpoint while it is being rewritten every 2 steps
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.time() < deadline, "the training process made no progress"
            if ckpt.exists():
                step = torch.load(ckpt, weights_only=True)["step"]  # never a half-written file
                reads += 1
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    killed_at = load_checkpoint(out)["step"]  # still loads after the kill
    assert 60 <= killed_at < 300 and reads > 3

    resumed = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming at step {killed_at}" in resumed.stdout
    final = load_checkpoint(out)
    assert final["step"] == 300

    with torch_threads(1):
        ref = Trainer("tiny", max_iters=300, checkpoint_interval=2, eval_interval=50, progress=False,
                      log=None, device="cpu").train().history
    for key in ("loss", "val_loss"):
        got = [(r["step"], r[key]) for r in final["history"] if key in r]
        want = [(r["step"], r[key]) for r in ref if key in r]
        assert [s for s, _ in got] == [s for s, _ in want]
        worst = max(abs(a - b) for (_, a), (_, b) in zip(got, want))
        assert worst <= TOL, f"{key}: resumed run drifts from the uninterrupted one by {worst}"
    assert any(s > killed_at for s, _ in got)


def test_a_failed_save_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    """Simulate a crash in the middle of writing: the previous file must stay intact."""
    save_checkpoint({"step": 1, "w": torch.zeros(3)}, tmp_path)

    def crash(obj, f, *a, **k):
        f.write(b"PK\x03\x04 half a zip file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError):
        save_checkpoint({"step": 2, "w": torch.ones(3)}, tmp_path)
    assert load_checkpoint(tmp_path)["step"] == 1


def test_checkpoint_holds_only_safe_types(tmp_path):
    t = Trainer("tiny", max_iters=3, out_dir=tmp_path, progress=False, log=None)
    t.train()
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)  # raises on any pickled object
    assert {"model", "optimizer", "step", "model_config", "train_config", "tokenizer", "rng",
            "sampler", "history"} <= set(state)
    assert state["step"] == 3 and state["tokenizer"]["type"] == "char"
    assert isinstance(state["rng"]["torch"], torch.Tensor)


def test_rng_state_round_trip():
    import random

    import numpy as np

    from llmcourse.training.checkpoint import rng_state, set_rng_state

    state = rng_state()
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a
