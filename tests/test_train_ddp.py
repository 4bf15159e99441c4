"""Data-parallel training (lesson 20): ``torchrun --nproc_per_node=2`` with the gloo backend on CPU.

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

from llmcourse.train import Trainer
from torch_threads import torch_threads

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="needs torch.distributed with gloo")
TOL = 1e-4


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_two_gloo_processes_match_one_process(tmp_path, optimizer):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "llmcourse", "train", "--preset", "tiny", "--max-iters", "30", "--out", str(out),
           "--no-progress", "--optimizer", optimizer]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 process(es)" in run.stdout and run.stdout.count("done:") == 1  # only rank 0 reports
    ddp = torch.load(out / "ckpt.pt", weights_only=True)

    with torch_threads(1):
        single = Trainer("tiny", max_iters=30, optimizer=optimizer, progress=False, log=None)
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
    fresh = Trainer("tiny", max_iters=0, progress=False, log=None).model.state_dict()
    assert (fresh["blocks.0.attn.c_attn.weight"] - ddp["model"]["blocks.0.attn.c_attn.weight"]).abs().max() > 1e-2
