"""``tools/gpu_check.sh`` runs the GPU checks where a GPU is present; without one it says so in
one line and exits with status 3, leaving no log behind."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "gpu_check.sh"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_without_a_gpu_the_check_says_so_in_one_line(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHON": sys.executable}
    log = tmp_path / "gpu.log"
    run = subprocess.run(["bash", str(SCRIPT), str(log)], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 3, run.stdout + run.stderr
    assert run.stdout.count("\n") == 1 and "sees no CUDA GPU" in run.stdout and not run.stderr
    assert not log.exists()
