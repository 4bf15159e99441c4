"""Notebook kernels for the test suite that start with torch and the package already imported.

Every notebook's setup cell imports torch, which takes most of a second, and the test suite starts
about sixty kernels. A *kernel server* (``--serve SOCKET``) imports what every setup cell imports
(torch, numpy, the package's ``env``) and matplotlib once, then forks one process per kernel on
request: each notebook still runs in a new process of its own, in its own folder and environment,
and shares nothing with the other notebooks; only those imports are done before its first cell.
The kernel's own modules are imported too, except ``ipykernel.kernelapp``, which reads its parent's
process id from the environment when it is imported: each kernel imports that one itself.

The kernelspec that the root ``conftest.py`` writes runs this file as the kernel command
(``python warm_kernels.py -f CONNECTION_FILE``). Run that way it is a *launcher*: with
``LLMCOURSE_WARM_KERNELS`` naming a server's socket, it asks the server for a kernel and passes on
its standard streams, the signals it receives (an interrupt is SIGINT) and, at the end, the
kernel's exit status; if the launcher is killed, the server kills the kernel. Without that
variable it simply becomes an ordinary ``python -m ipykernel_launcher`` kernel.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys

SERVER_ENV = "LLMCOURSE_WARM_KERNELS"
SCRIPT = os.path.abspath(__file__)  # the kernel command runs this file; so does a server
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


# --- launcher: the process Jupyter starts as the kernel ------------------------------------------
def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(64)
        if not chunk:
            break
        data += chunk
    return data


def launch(argv: list[str]) -> None:
    server = os.environ.pop(SERVER_ENV, "")
    if not server:
        os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *argv])
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(server)
    request = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}).encode() + b"\n"
    socket.send_fds(conn, [request], [0, 1, 2])
    pid = int(_read_line(conn))
    for sig in FORWARDED:
        signal.signal(sig, lambda signum, frame: os.kill(pid, signum))
    status = _read_line(conn)  # the server writes the kernel's wait status when the kernel ends
    status = int(status) if status.strip() else 0
    if os.WIFSIGNALED(status):
        signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


# --- server: imports once, forks a kernel per request (Linux) ------------------------------------
def start_server(path: str, env: dict):
    """Start a kernel server listening on ``path`` in environment ``env``; return its process
    once it is ready to fork kernels."""
    import subprocess

    proc = subprocess.Popen([sys.executable, SCRIPT, "--serve", path], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError(f"the warm kernel server did not start (exit status {proc.wait()})")
    return proc


def _die_with_parent() -> None:
    import contextlib
    import ctypes

    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: killed when the parent ends


def _kernel(argv: list[str], cwd: str, env: dict, fds: list[int]) -> None:
    """In the forked child: become ``python -m ipykernel_launcher ARGV`` started in ``cwd``."""
    code = 1
    try:
        os.setsid()  # like a kernel Jupyter starts: not in the test runner's process group
        _die_with_parent()
        for target, fd in zip((0, 1, 2), fds):
            os.dup2(fd, target)
        for fd in fds:
            os.close(fd)
        for sig in FORWARDED + (signal.SIGCHLD,):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        import random

        import numpy

        random.seed()  # a new interpreter's random state, not a copy of the server's
        numpy.random.seed()
        import importlib.util

        sys.argv = [importlib.util.find_spec("ipykernel_launcher").origin, *argv]
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    except BaseException:  # noqa: BLE001 - report, then end this process only
        import traceback

        traceback.print_exc()
    finally:
        import atexit

        atexit._run_exitfuncs()  # as an interpreter that ends normally would (os._exit skips them)
        os._exit(code)


def serve(path: str) -> None:
    sys.path.pop(0)  # this file's folder: a kernel's sys.path is that of python -m ipykernel_launcher
    import select

    import ipykernel.ipkernel  # noqa: F401 - the kernel's parts, but not ipykernel.kernelapp (see above)
    import jupyter_client.localinterfaces  # noqa: F401
    import matplotlib.pyplot  # noqa: F401 - most notebooks plot (the backend comes from MPLBACKEND)
    import numpy  # noqa: F401
    import torch  # noqa: F401

    import llmcourse.env  # noqa: F401 - what every setup cell imports

    _die_with_parent()  # the server ends with the test process that started it
    import threading

    # fork() copies only the calling thread. (numpy's OpenBLAS may have started native worker
    # threads: it handles fork() itself, as the grader's own forks in every kernel rely on.)
    if threading.active_count() != 1:
        raise RuntimeError("an import started a Python thread in the kernel server; it cannot fork safely")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    print("ready", flush=True)
    kernels: dict[int, socket.socket] = {}  # kernel pid -> its launcher's connection
    waiting: list[socket.socket] = []  # connections of launchers still running
    while True:
        while kernels:  # tell the launchers of kernels that have ended
            pid, status = os.waitpid(-1, os.WNOHANG)
            if not pid:
                break
            conn = kernels.pop(pid, None)
            if conn is not None:
                if conn in waiting:
                    waiting.remove(conn)
                    try:
                        conn.sendall(f"{status}\n".encode())
                    except OSError:
                        pass
                conn.close()
        ready, _, _ = select.select([listener, *waiting], [], [], 0.05)
        for sock in ready:
            if sock is listener:
                conn, _ = listener.accept()
                data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
                while not data.endswith(b"\n"):
                    data += conn.recv(1 << 20)
                request = json.loads(data)
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    for other in [conn, *waiting]:
                        other.close()
                    _kernel(request["argv"], request["cwd"], request["env"], fds)
                for fd in fds:
                    os.close(fd)
                kernels[pid] = conn
                waiting.append(conn)
                conn.sendall(f"{pid}\n".encode())
            elif not sock.recv(64):  # the launcher has ended (it was killed): end its kernel
                waiting.remove(sock)
                for pid, conn in kernels.items():
                    if conn is sock:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except OSError:
                            pass

if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2])
    else:
        launch(sys.argv[1:])
