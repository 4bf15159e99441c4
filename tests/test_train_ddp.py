"""Data-parallel training (lesson 20): ``torchrun --nproc_per_node=2`` with the gloo backend on CPU.
These runs mean the CPU: ``--device cpu`` and CUDA hidden from the processes, so that a machine
with one GPU runs them the same way.

The documented equivalence: N processes with a global ``batch_size`` B each take B / N rows of
the same global batch, and DistributedDataParallel averages their gradients. That is the same
gradient as one process on the whole batch, so the two runs agree up to float rounding (the sums
happen in a different order). Tolerance: losses within 1e-4, parameters within 1e-4, with AdamW
and with Muon (whose update every process computes from the same averaged gradient).
"""

import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist

from llmcourse.training import Trainer
from torch_threads import torch_threads

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="needs torch.distributed with gloo")
TOL = 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_two_gloo_processes_match_one_process(tmp_path, optimizer):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "llmcourse", "train", "--preset", "tiny", "--max-iters", "30", "--out", str(out),
           "--no-progress", "--optimizer", optimizer, "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 process(es)" in run.stdout and run.stdout.count("done:") == 1  # only rank 0 reports
    ddp = torch.load(out / "ckpt.pt", weights_only=True)

    with torch_threads(1):
        single = Trainer("tiny", max_iters=30, optimizer=optimizer, progress=False, log=None, device="cpu")
        single.train()
    assert ddp["step"] == single.step == 30
    for key in ("loss", "val_loss", "train_loss"):
        got = [r[key] for r in ddp["history"] if key in r]
        want = [r[key] for r in single.history if key in r]
        assert len(got) == len(want) > 0
        assert max(abs(a - b) for a, b in zip(got, want)) <= TOL, key
    for name, p in single.model.state_dict().items():
        torch.testing.assert_close(ddp["model"][name], p, atol=TOL, rtol=0, msg=name)
    # and the run really moved away from the initial weights (a no-op would also "match")
    fresh = Trainer("tiny", max_iters=0, progress=False, log=None, device="cpu").model.state_dict()
    assert (fresh["blocks.0.attn.c_attn.weight"] - ddp["model"]["blocks.0.attn.c_attn.weight"]).abs().max() > 1e-2


def torchrun_env(monkeypatch, processes: int, gpus: int, rank: int = 0):
    """The variables torchrun sets for process ``rank`` of ``processes`` on one machine, and a
    machine with ``gpus`` GPUs (faked); joining a process group would fail the test."""
    for name, value in {"RANK": rank, "LOCAL_RANK": rank, "WORLD_SIZE": processes,
                        "LOCAL_WORLD_SIZE": processes, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29999"}.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)

    def no_work(*a, **k):
        raise AssertionError("work started before the check")

    monkeypatch.setattr(torch.cuda, "set_device", no_work)
    monkeypatch.setattr(dist, "init_process_group", no_work)


@pytest.mark.parametrize("rank", [0, 1])
def test_more_processes_than_gpus_is_refused_before_any_work(monkeypatch, capsys, rank, tmp_path):
    from llmcourse.training.distributed import setup_distributed
    from llmcourse.training.cli import cli_train

    torchrun_env(monkeypatch, processes=2, gpus=1, rank=rank)
    with pytest.raises(ValueError, match=r"2 processes on this machine but it has 1 GPU\(s\).*"
                                         r"--nproc_per_node=1, or add --device cpu"):
        setup_distributed("cuda")
    with pytest.raises(SystemExit) as e:
        cli_train(["--preset", "tiny", "--device", "cuda", "--max-iters", "1", "--no-progress",
                   "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and "but it has 1 GPU(s)" in err[0]
    assert not (tmp_path / "run").exists()


def test_as_many_processes_as_gpus_pass_the_check(monkeypatch):
    from llmcourse.training.distributed import check_gpus_for

    torchrun_env(monkeypatch, processes=2, gpus=2)
    check_gpus_for(2)
    check_gpus_for(1)
