"""Run tests/test_widgets.py again under ipywidgets 7.7.1, the version Colab ships.

No second virtualenv: the ipywidgets-7 packages are installed once (``pip install --no-deps
--target``) into a cache folder, which is put first on ``PYTHONPATH`` of a child pytest. The
child checks that it really imported 7.x (``LLMCOURSE_EXPECT_IPYWIDGETS=7``). See
tests/widgets7/README.md.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from widgets7.install import PACKAGES, ensure_ipywidgets7  # noqa: E402


@pytest.mark.slow
def test_widget_tests_pass_under_ipywidgets_7():
    try:
        target = ensure_ipywidgets7()
    except RuntimeError as e:
        if os.environ.get("CI") or os.environ.get("LLMCOURSE_REQUIRE_IPYWIDGETS7"):
            raise
        pytest.skip(f"could not install {' '.join(PACKAGES)} (no package registry?): {e}")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), str(ROOT)]),
               LLMCOURSE_EXPECT_IPYWIDGETS="7", PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "tests" / "test_widgets.py"), "-q", "-n0",
           "-p", "no:cacheprovider", "-p", "no:nbval", "-o", "addopts=", "-W", "ignore::DeprecationWarning"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    report = proc.stdout[-6000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, f"widget tests failed under ipywidgets 7.7.1:\n{report}"
    assert " passed" in proc.stdout and " failed" not in proc.stdout, report
