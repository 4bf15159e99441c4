"""Run learner code so that it cannot hang the notebook, leak state or lie about its output.

:func:`stream` runs a job (a generator of per-case results) in a **forked worker process** on
Linux: the worker inherits the learner's functions, runs them on one thread, converts what they
return to plain data (:func:`to_plain`: plain tensors, numbers, strings, bytes and containers of
them; anything else becomes an :class:`Opaque` description made inside the worker) and sends it
back through a pipe, one message per case. The parent waits until the time limit and then kills
the worker with ``SIGKILL``, which no ``except``, disarmed timer or signal handler in learner code
can stop. Whatever the learner's code changes (default dtype, grad mode, random generators,
threads, patched functions) dies with the worker. Messages travel as builtins and raw tensor bytes
(:func:`dumps`, :func:`loads`), which a reader unpickles without naming any class, so even
forged data runs no code. Elsewhere (Windows; macOS, whose system libraries are not safe to use
after a fork; or
``LLMCOURSE_CHECK_ISOLATION=thread``) the job runs in a daemon thread: the check still ends at the
time limit, but the abandoned thread may keep running in the background until it finishes, and
the check restores the global state (:func:`standard_state`) when it returns.

:func:`run_limited` runs trusted package code (a planted mistake, a comparison) with a time limit
in the calling process.

>>> out = run_limited(lambda: print("hi") or 42, seconds=1.0)
>>> out.value, out.stdout, out.error
(42, 'hi\\n', None)
>>> run_limited(lambda: [0 for _ in iter(int, 1)], seconds=0.2).timed_out
True
>>> [m["value"] for m in stream(lambda: ({"value": to_plain(i * i)} for i in range(3)), 5.0)][:3]
[0, 1, 4]
>>> def forever():
...     while True:
...         pass
...     yield
>>> list(stream(forever, 0.3))
[{'timed_out': True}]
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import io
import os
import pickle
import queue
import random
import select
import signal
import struct
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch

from .show import Opaque, show, text

#: ``fork`` (default on Linux) or ``thread`` (default elsewhere): where learner code runs.
ISOLATION_ENV = "LLMCOURSE_CHECK_ISOLATION"
MAX_DEPTH = 32  # nesting depth of containers converted by to_plain


class TimeLimitExceeded(BaseException):
    """Raised inside package code run by :func:`run_limited` at its time limit."""


class CappedText(io.TextIOBase):
    """A text stream that keeps the first ``limit`` characters and counts the rest."""

    def __init__(self, limit: int = 2000):
        self.limit, self.total, self._parts = limit, 0, []

    def writable(self) -> bool:
        return True

    def write(self, s) -> int:
        s = str(s)
        room = self.limit - min(self.total, self.limit)
        if room > 0:
            self._parts.append(s[:room])
        self.total += len(s)
        return len(s)

    def getvalue(self) -> str:
        return "".join(self._parts)


@dataclass
class Outcome:
    value: Any = None
    error: BaseException | None = None
    timed_out: bool = False
    stdout: str = ""
    printed_chars: int = 0
    elapsed: float = 0.0


def _no_input(*_args, **_kwargs):
    raise RuntimeError("input() is not available while a check runs: the grader cannot type for you.")


# --- plain data ---------------------------------------------------------------------------------
def _short_repr(x, limit: int = 300) -> str:
    return show(x, limit)


def to_plain(x, depth: int = 0):
    """``x`` as plain data: a plain ``torch.Tensor`` (subclass, autograd graph and device dropped;
    storage copied), ``bool``/``int``/``float``/``complex``/``str``/``bytes``/``None``, and lists,
    tuples, dicts and sets of those; numpy scalars become Python numbers. Anything else becomes an
    :class:`Opaque`. Never calls a learner's ``__eq__``; ``repr`` only for :class:`Opaque` text.
    Run it where learner code runs (inside the worker), since it may call learner methods."""
    if depth > MAX_DEPTH:
        return Opaque(type(x).__name__, "<nested too deeply>")
    if x is None or type(x) in (bool, int, float, complex, str, bytes):
        return x
    if isinstance(x, torch.Tensor):
        with torch._C.DisableTorchFunctionSubclass():  # a subclass's own methods are not asked
            t = torch.Tensor.as_subclass(x, torch.Tensor).detach()
        if t.layout != torch.strided:
            t = t.to_dense()
        return t.cpu().clone().contiguous()  # own storage: nothing shared with learner objects
    for base in (int, float, complex, str, bytes):
        if isinstance(x, base):  # a subclass (maybe with a lying __eq__): keep the builtin value
            return {int: int.__int__, float: float.__float__, complex: complex.__complex__,
                    str: str.__str__, bytes: bytes}[base](x)
    if isinstance(x, torch.Size):
        return torch.Size(tuple(int.__int__(int(d)) for d in x))
    if isinstance(x, (torch.dtype, torch.device)):
        return x
    if isinstance(x, tuple):
        return tuple(to_plain(v, depth + 1) for v in tuple.__iter__(x))
    if isinstance(x, list):
        return [to_plain(v, depth + 1) for v in list.__iter__(x)]
    if isinstance(x, dict):
        return {to_plain(k, depth + 1): to_plain(v, depth + 1) for k, v in dict.items(x)}
    if isinstance(x, (set, frozenset)):
        return (frozenset if isinstance(x, frozenset) else set)(to_plain(v, depth + 1) for v in set(x))
    mod = type(x).__module__ or ""
    if mod.startswith("numpy"):
        if type(x).__name__ in ("ndarray", "matrix"):
            return Opaque("numpy array", _short_repr(x), numpy=True)
        with contextlib.suppress(Exception):
            return to_plain(x.item(), depth + 1)  # numpy scalar
    return Opaque(type(x).__name__, _short_repr(x))


_TAG = "__llmcourse_plain__"  # wire encoding: (_TAG, kind, ...) tuples for non-builtin values


def _to_wire(x):
    """Plain data as builtins only (tensors as raw bytes), for :func:`dumps`."""
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu().contiguous()
        raw = t.reshape(-1).view(torch.uint8)  # bytes without numpy (bfloat16 has no numpy dtype)
        data = ctypes.string_at(raw.data_ptr(), raw.numel()) if t.numel() else b""
        return (_TAG, "tensor", str(t.dtype).replace("torch.", ""), tuple(t.shape), data)
    if isinstance(x, Opaque):
        return (_TAG, "opaque", x.type_name, x.text, x.numpy)
    if isinstance(x, torch.Size):
        return (_TAG, "size", tuple(int(d) for d in x))
    if isinstance(x, (torch.dtype, torch.device)):
        return (_TAG, type(x).__name__, str(x).replace("torch.", ""))
    if isinstance(x, tuple):
        return tuple(_to_wire(v) for v in x)
    if isinstance(x, list):
        return [_to_wire(v) for v in x]
    if isinstance(x, dict):
        return {_to_wire(k): _to_wire(v) for k, v in x.items()}
    if isinstance(x, (set, frozenset)):
        return type(x)(_to_wire(v) for v in x)
    return x


def _tensor_from(dtype_name, shape, data) -> torch.Tensor:
    dtype = getattr(torch, str(dtype_name), None)
    if not isinstance(dtype, torch.dtype) or not isinstance(shape, tuple) or not isinstance(data, bytes):
        raise ValueError("not a tensor record")
    if not data:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).view(dtype).reshape(shape)


def from_wire(x):
    """Inverse of :func:`_to_wire`."""
    if isinstance(x, tuple):
        if len(x) >= 2 and x[0] == _TAG:
            kind, rest = x[1], x[2:]
            if kind == "tensor" and len(rest) == 3:
                return _tensor_from(*rest)
            if kind == "opaque" and len(rest) == 3:
                return Opaque(str(rest[0]), str(rest[1]), bool(rest[2]))
            if kind == "size" and len(rest) == 1:
                return torch.Size(rest[0])
            if kind == "dtype" and len(rest) == 1 and isinstance(getattr(torch, str(rest[0]), None), torch.dtype):
                return getattr(torch, rest[0])
            if kind == "device" and len(rest) == 1:
                return torch.device(str(rest[0]))
        return tuple(from_wire(v) for v in x)
    if isinstance(x, list):
        return [from_wire(v) for v in x]
    if isinstance(x, dict):
        return {from_wire(k): from_wire(v) for k, v in x.items()}
    if isinstance(x, (set, frozenset)):
        return type(x)(from_wire(v) for v in x)
    return x


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles builtins only: no class or function can be named, so no code runs."""

    _ALLOWED = {("builtins", "complex"): complex, ("builtins", "set"): set,
                ("builtins", "frozenset"): frozenset, ("builtins", "bytearray"): bytearray}

    def find_class(self, module, name):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"{module}.{name} is not plain data") from None


def dumps(obj) -> bytes:
    """Plain data (see :func:`to_plain`) as bytes that :func:`loads` reads back."""
    return pickle.dumps(_to_wire(obj), protocol=4)


def loads(data: bytes):
    """Read :func:`dumps` output safely: only builtins and tensors rebuilt from raw bytes, so data
    a notebook forged cannot run code in the reader."""
    return from_wire(_PlainUnpickler(io.BytesIO(data)).load())


# --- global state a submission may change -------------------------------------------------------
@contextlib.contextmanager
def standard_state(threads: int | None = None):
    """Run the body with the state the references expect (float32 default dtype, grad mode on,
    deterministic algorithms off) and restore everything the body may change afterwards: those
    three, torch's, Python's and numpy's random generators, and the number of threads."""
    saved_dtype = torch.get_default_dtype()
    saved_grad = torch.is_grad_enabled()
    saved_det = (torch.are_deterministic_algorithms_enabled(),
                 torch.is_deterministic_algorithms_warn_only_enabled())
    saved_threads = torch.get_num_threads()
    saved_py = random.getstate()
    np = sys.modules.get("numpy")
    saved_np = np.random.get_state() if np is not None else None
    saved_rng = torch.get_rng_state()
    try:
        torch.set_default_dtype(torch.float32)
        torch.set_grad_enabled(True)
        if saved_det[0]:  # the call itself is slow (an import): only when the flag is on
            torch.use_deterministic_algorithms(False)
        if threads:
            torch.set_num_threads(threads)
        yield
    finally:
        torch.set_default_dtype(saved_dtype)
        torch.set_grad_enabled(saved_grad)
        if torch.are_deterministic_algorithms_enabled() != saved_det[0] or \
                torch.is_deterministic_algorithms_warn_only_enabled() != saved_det[1]:
            torch.use_deterministic_algorithms(saved_det[0], warn_only=saved_det[1])
        if torch.get_num_threads() != saved_threads:
            torch.set_num_threads(saved_threads)
        random.setstate(saved_py)
        if saved_np is not None:
            np.random.set_state(saved_np)
        torch.set_rng_state(saved_rng)


@contextlib.contextmanager
def captured(limit: int = 2000):
    """Capture prints and warnings of the body into a :class:`CappedText`; ``input()`` raises."""
    buf = CappedText(limit)
    saved = sys.stdout, sys.stderr, builtins.input
    sys.stdout = sys.stderr = buf
    builtins.input = _no_input
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield buf
    finally:
        sys.stdout, sys.stderr, builtins.input = saved


# --- running a job in a worker ------------------------------------------------------------------
def isolation() -> str:
    """``"fork"`` or ``"thread"`` (see the module docstring)."""
    mode = os.environ.get(ISOLATION_ENV, "").strip().lower()
    if mode in ("fork", "thread"):
        return mode if (mode == "thread" or hasattr(os, "fork")) else "thread"
    return "fork" if hasattr(os, "fork") and sys.platform.startswith("linux") else "thread"


def stream(job: Callable[[], Iterator[dict]], seconds: float) -> Iterator[dict]:
    """Run ``job()`` (a generator of plain-data dicts) in a worker; yield its dicts as they come,
    then ``{"timed_out": True}`` if the time limit passed first, or ``{"died": text}`` if the
    worker ended without finishing. Closing the generator early stops the worker."""
    if seconds <= 0:
        yield {"timed_out": True}
        return
    if isolation() == "fork":
        yield from _stream_fork(job, seconds)
    else:
        yield from _stream_thread(job, seconds)


def _die_with_parent() -> None:
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: the kernel's death kills us


def _child(job, w: int) -> None:
    code = 0
    try:
        _die_with_parent()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the Stop button interrupts the parent only
        torch.set_num_threads(1)
        sys.stdout = sys.stderr = CappedText(0)
        for item in job():  # in the state the parent set up (run_check: standard_state)
            _send(w, item)
        _send(w, {"end": True})
    except BaseException as exc:  # noqa: BLE001 - SystemExit, a failed send, ...
        code = 1
        with contextlib.suppress(BaseException):
            _send(w, {"died": f"the worker failed ({type(exc).__name__})"})
    finally:
        os._exit(code)


def _send(w: int, item: dict) -> None:
    data = dumps(item)
    data = struct.pack("<Q", len(data)) + data
    view = memoryview(data)
    while view:
        n = os.write(w, view)
        view = view[n:]


def _fork() -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "multi-threaded, fork() may deadlock"
        return os.fork()


def _stream_fork(job, seconds: float) -> Iterator[dict]:
    deadline = time.monotonic() + seconds
    r, w = os.pipe()
    pid = _fork()
    if pid == 0:  # the worker
        os.close(r)
        _child(job, w)
    os.close(w)
    buf, ended = b"", False
    try:
        while not ended:
            left = deadline - time.monotonic()
            ready = select.select([r], [], [], max(left, 0))[0] if left > 0 else []
            if not ready:
                yield {"timed_out": True}
                return
            chunk = os.read(r, 1 << 20)
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 8:
                (n,) = struct.unpack("<Q", buf[:8])
                if len(buf) < 8 + n:
                    break
                item, buf = loads(buf[8:8 + n]), buf[8 + n:]
                ended = bool(item.get("end"))
                if not ended:
                    yield item
        if not ended:
            _, status = os.waitpid(pid, 0)
            pid = 0
            how = (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
                   else f"exit code {os.WEXITSTATUS(status)}")
            yield {"died": f"the process running your code ended early ({how}); did it call exit() "
                           f"or crash?"}
    finally:
        os.close(r)
        if pid:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)


def _stream_thread(job, seconds: float) -> Iterator[dict]:
    deadline = time.monotonic() + seconds
    box: queue.Queue = queue.Queue()
    stop = threading.Event()

    def target():
        try:
            for item in job():
                if stop.is_set():
                    return
                box.put(item)
            box.put({"end": True})
        except BaseException as exc:  # noqa: BLE001
            box.put({"died": f"the check's thread failed ({type(exc).__name__})"})

    saved = sys.stdout, sys.stderr, builtins.input
    worker = threading.Thread(target=target, daemon=True, name="llmcourse-check")
    try:
        with standard_state():
            worker.start()
            while True:
                try:
                    item = box.get(timeout=max(deadline - time.monotonic(), 0))
                except queue.Empty:
                    yield {"timed_out": True, "abandoned": True}
                    return
                if item.get("end"):
                    return
                yield item
    finally:
        stop.set()
        sys.stdout, sys.stderr, builtins.input = saved  # an abandoned thread may hold them


# --- trusted code with a time limit in this process --------------------------------------------
def _signals_usable() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def run_limited(fn: Callable[[], Any], seconds: float, output_limit: int = 2000) -> Outcome:
    """Call ``fn()`` (package code) with a time limit, capturing stdout/stderr/warnings. Never
    raises, except ``KeyboardInterrupt``."""
    out = Outcome()
    start = time.perf_counter()
    with captured(output_limit) as buf:
        if seconds <= 0:
            out.timed_out = True
        elif _signals_usable():
            _run_with_signal(fn, seconds, out)
        else:
            _run_in_thread(fn, seconds, out)
    out.elapsed = time.perf_counter() - start
    out.stdout, out.printed_chars = buf.getvalue(), buf.total
    return out


def _run_with_signal(fn, seconds: float, out: Outcome) -> None:
    def on_alarm(signum, frame):
        raise TimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        try:
            out.value = fn()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except TimeLimitExceeded:
        out.timed_out = True
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001
        out.error = exc
    finally:
        signal.signal(signal.SIGALRM, previous)


def _run_in_thread(fn, seconds: float, out: Outcome) -> None:
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001
            box["error"] = exc

    worker = threading.Thread(target=target, daemon=True, name="llmcourse-check")
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        out.timed_out = True
    else:
        out.value, out.error = box.get("value"), box.get("error")


def describe_error(exc: BaseException) -> dict:
    """An exception as plain data (run it inside the worker: ``str(exc)`` is learner code)."""
    try:
        message = text(exc, 300)
    except BaseException as inner:  # noqa: BLE001 - a __str__ that raises
        message = f"<message unavailable: its __str__ raised {type(inner).__name__}>"
    return {"type": type(exc).__name__, "text": message, "where": learner_frame(exc),
            "not_implemented": isinstance(exc, NotImplementedError)}


def learner_frame(exc: BaseException) -> str:
    """``"line 3 in causal_mask: return x @ y"`` for the deepest traceback frame outside the
    grader and PyTorch, so the learner sees where their code broke."""
    import traceback

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../llmcourse
    try:
        frames = traceback.extract_tb(exc.__traceback__)
    except Exception:  # noqa: BLE001
        return ""
    skip = ("site-packages", "dist-packages", os.sep + "lib" + os.sep + "python")
    mine = [f for f in frames
            if not f.filename.startswith(package) and not any(s in f.filename for s in skip)]
    if not mine:
        return ""
    f = mine[-1]
    code = f" : {f.line.strip()}" if f.line else ""
    return f"line {f.lineno} in {f.name}{code}".replace(" : ", ": ")
