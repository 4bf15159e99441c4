"""tools/warm_kernels.py: the notebook kernels of the test suite, forked from a server that has
already imported torch and the package. A warm kernel must behave as the kernel Jupyter would
have started: its own process, folder and environment, interruptible, ended when its launcher is
killed, its exit seen by the client; and a [lab]-only server's kernels cannot import the extras.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from jupyter_client.manager import KernelManager

from tools.warm_kernels import SERVER_ENV, start_server
from tools.without_extras import blocker_folder, pythonpath_with

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="warm kernels are forked on Linux only")]


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    """A [lab]-only kernel server (the extras blocked), as the root conftest.py starts them."""
    tmp = tmp_path_factory.mktemp("warm")
    env = dict(os.environ, PYTHONPATH=pythonpath_with(blocker_folder(tmp / "blocker"), os.environ.get("PYTHONPATH")))
    env.pop(SERVER_ENV, None)
    path = str(tmp / "server.sock")
    proc = start_server(path, env)
    yield path
    proc.kill()
    proc.wait()


def start(monkeypatch, server: str | None, cwd: Path):
    if server:
        monkeypatch.setenv(SERVER_ENV, server)
    else:
        monkeypatch.delenv(SERVER_ENV, raising=False)
    monkeypatch.setenv("LLMCOURSE_WARM_PROBE", "from the client")
    km = KernelManager(kernel_name="llmcourse-warm")  # the kernelspec the root conftest.py writes
    km.start_kernel(cwd=str(cwd), stderr=subprocess.DEVNULL)
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return km, kc


def run(kc, code: str, timeout: float = 30):
    """Execute ``code``; (reply content, printed text)."""
    out = []
    reply = kc.execute_interactive(code, timeout=timeout, output_hook=lambda m: out.append(
        m["content"].get("text", "")) if m["msg_type"] == "stream" else None)
    return reply["content"], "".join(out)


def gone(pid: int, within: float = 10.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_warm_kernel_is_a_new_process_in_its_folder_with_the_extras_blocked(monkeypatch, tmp_path, lab_server):
    km, kc = start(monkeypatch, lab_server, tmp_path)
    try:
        _, text = run(kc, "import os, sys\n"
                          "print('torch' in sys.modules, os.getcwd(), os.environ['LLMCOURSE_WARM_PROBE'], "
                          f"{SERVER_ENV!r} in os.environ, os.getpid(), sep='\\n')")
        warm, cwd, probe, leaked, pid = text.splitlines()
        assert (warm, cwd, probe, leaked) == ("True", str(tmp_path), "from the client", "False")
        assert int(pid) != km.provisioner.process.pid  # the kernel is not the launcher Jupyter started
        reply, text = run(kc, "import tiktoken")
        assert reply["status"] == "error" and reply["ename"] == "ModuleNotFoundError"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert gone(int(pid)), "killing the launcher did not end the kernel"


def test_an_interrupt_reaches_the_kernel_and_its_death_is_seen(monkeypatch, tmp_path, lab_server):
    km, kc = start(monkeypatch, lab_server, tmp_path)
    try:
        msg_id = kc.execute("while True:\n    pass", stop_on_error=False)  # the next request is not dropped
        time.sleep(0.5)
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=10)
        assert reply["parent_header"]["msg_id"] == msg_id and reply["content"]["ename"] == "KeyboardInterrupt"
        kc.execute("import os\nos._exit(3)")
        end = time.monotonic() + 10
        while km.is_alive() and time.monotonic() < end:
            time.sleep(0.05)
        assert not km.is_alive() and km.provisioner.process.returncode == 3
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_without_a_server_the_launcher_is_an_ordinary_kernel(monkeypatch, tmp_path):
    km, kc = start(monkeypatch, None, tmp_path)
    try:
        _, text = run(kc, "import sys\nprint('torch' in sys.modules)")
        assert text.strip() == "False"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
