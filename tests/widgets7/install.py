"""Install ipywidgets 7.7.1 (Colab's version) into a cache folder, without touching the venv.

Used by tests/test_widgets_ipyw7.py; can also be run by hand: ``python tests/widgets7/install.py``
prints the folder. Put it first on PYTHONPATH to import ipywidgets 7 instead of the installed 8.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# ipywidgets 7.7.1 and the versions its own requirements pick (widgetsnbextension ~=3.6.0,
# jupyterlab_widgets >=1.0, ipython_genutils ~=0.2.0), as Colab has them.
PACKAGES = ["ipywidgets==7.7.1", "widgetsnbextension==3.6.10", "jupyterlab_widgets==1.1.11",
            "ipython_genutils==0.2.0"]
CACHE = Path(os.environ.get("LLMCOURSE_IPYWIDGETS7_DIR", ROOT / ".pytest_cache" / "ipywidgets-7.7.1"))


def _version_in(target: Path) -> str | None:
    code = "import ipywidgets, ipython_genutils; print(ipywidgets.__version__)"
    env = dict(os.environ, PYTHONPATH=str(target))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def ensure_ipywidgets7(target: Path = CACHE) -> Path:
    """Return a folder holding ipywidgets 7.7.1, installing it there first if needed.
    Raises RuntimeError (with pip's output) when the install fails."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / "ipywidgets-7.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test workers install only once
        if _version_in(target) == "7.7.1":
            return target
        tmp = Path(tempfile.mkdtemp(prefix="ipyw7-", dir=target.parent))
        cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "--quiet",
               "--disable-pip-version-check", "--target", str(tmp), *PACKAGES]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        version = _version_in(target)
        if version != "7.7.1":
            raise RuntimeError(f"installed into {target} but it imports ipywidgets {version!r}")
        return target


if __name__ == "__main__":
    print(ensure_ipywidgets7())
