"""Run learner code so that it cannot hang or flood the notebook: a time limit and captured,
truncated output.

Time limit: on POSIX, in the main thread (where a Jupyter cell runs), ``signal.setitimer``
raises :class:`TimeLimitExceeded` inside the learner's code, keeps raising every 50 ms, and
traces the learner's frames so that it raises again on the next line executed: a loop with a
bare ``except:`` cannot swallow it. (Loops that swallow exceptions at several nested levels can
still outlast it; the learner's Stop button is the last resort.) Elsewhere (Windows, or
a check run from a worker thread) the call runs in a daemon thread that the grader stops waiting
for after the limit; the abandoned thread may keep running in the background until it ends.
The limit is checked between Python bytecodes, so one very long native PyTorch call finishes
before it fires.

>>> out = run_limited(lambda: print("hi") or 42, seconds=1.0)
>>> out.value, out.stdout, out.error
(42, 'hi\\n', None)
>>> run_limited(lambda: [0 for _ in iter(int, 1)], seconds=0.2).timed_out
True
"""

from __future__ import annotations

import builtins
import contextlib
import io
import os
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable


class TimeLimitExceeded(BaseException):
    """Raised inside learner code at the time limit. A ``BaseException`` so that the learner's
    ``except Exception:`` cannot swallow it."""


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


def _signals_usable() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def run_limited(fn: Callable[[], Any], seconds: float, output_limit: int = 2000) -> Outcome:
    """Call ``fn()`` with a time limit, capturing stdout/stderr/warnings. Never raises, except
    ``KeyboardInterrupt`` (the learner pressed stop)."""
    out = Outcome()
    buf = CappedText(output_limit)
    start = time.perf_counter()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        saved_input, builtins.input = builtins.input, _no_input
        try:
            if seconds <= 0:
                out.timed_out = True
            elif _signals_usable():
                _run_with_signal(fn, seconds, out)
            else:
                _run_in_thread(fn, seconds, out)
        finally:
            builtins.input = saved_input
    out.elapsed = time.perf_counter() - start
    out.stdout, out.printed_chars = buf.getvalue(), buf.total
    return out


def _run_with_signal(fn, seconds: float, out: Outcome) -> None:
    state = {"active": True}
    me = sys._getframe()

    def tracer(frame, event, arg):  # raises at the next line of learner code after the limit
        if not state["active"]:
            return None
        if event in ("line", "call"):  # not on "exception": that would switch tracing off
            raise TimeLimitExceeded()
        return tracer

    def on_alarm(signum, frame):
        if not state["active"]:
            return
        chain, f = [], frame
        while f is not None and f is not me:
            chain.append(f)
            f = f.f_back
        if f is me:  # only frames running inside this call: never the caller's
            for g in chain:
                g.f_trace, g.f_trace_lines = tracer, True
            sys.settrace(tracer)
        # A bare `except:` in the learner's loop may swallow this one; the tracer then raises
        # again on the first line of the except block, which no handler of that try covers.
        raise TimeLimitExceeded()

    previous_trace = sys.gettrace()
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
    try:
        try:
            out.value = fn()
        finally:
            state["active"] = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            sys.settrace(previous_trace)
    except TimeLimitExceeded:
        out.timed_out = True
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - SystemExit, RecursionError, MemoryError, ...
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


def learner_frame(exc: BaseException) -> str:
    """``"line 3 in causal_mask: return x @ y"`` for the deepest traceback frame outside the
    grader and PyTorch, so the learner sees where their code broke."""
    import traceback

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../llmcourse
    frames = traceback.extract_tb(exc.__traceback__)
    skip = ("site-packages", "dist-packages", os.sep + "lib" + os.sep + "python")
    mine = [f for f in frames
            if not f.filename.startswith(package) and not any(s in f.filename for s in skip)]
    if not mine:
        return ""
    f = mine[-1]
    code = f" : {f.line.strip()}" if f.line else ""
    return f"line {f.lineno} in {f.name}{code}".replace(" : ", ": ")


def in_ipython() -> bool:
    return "IPython" in sys.modules and getattr(builtins, "get_ipython", lambda: None)() is not None
