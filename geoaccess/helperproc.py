"""A helper process: work of a run done on the second core while the run goes on.

GDAL holds Python's GIL while it writes (pyogrio), and so does most of what a run does
after its evaluation (gap clustering, isochrones, the map), so threads cannot overlap
them. :class:`Helper` starts a second Python process once a run has read its inputs (its
imports overlap the snapping and the searches); a call sent to it (function and arguments pickled through a pipe)
runs there and its result comes back the same way: the same function on the same values,
so the same result. Calls run one after another in the order they were sent.

``GEOACCESS_OVERLAP=0`` (:data:`OVERLAP_VAR`) runs every call in the run's own process,
when it is made; ``1`` or unset: the helper process. If the helper cannot be started or
dies, or a call or its value does not pickle, the call runs in the run's process (the same
result, only later).
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import threading
import traceback
import warnings
from pathlib import Path
from typing import Any, BinaryIO, Callable, Sequence

from .errors import InputError

OVERLAP_VAR = "GEOACCESS_OVERLAP"


def overlap_enabled() -> bool:
    """Whether a run sends work to a helper process (:data:`OVERLAP_VAR`).

    Raises
    ------
    InputError
        The variable is set to something other than ``0`` or ``1``.
    """
    value = os.environ.get(OVERLAP_VAR, "").strip()
    if value not in ("", "0", "1"):
        raise InputError(f"environment variable {OVERLAP_VAR}={value!r} must be 0 (compute and write everything in "
                         f"this process) or 1 (use a helper process on the second core); unset it for the default (1)")
    return value != "0"


def each(fn: Callable, firsts: Sequence[Any], *rest: Any) -> list[tuple[bool, Any]]:
    """``fn(a, *rest)`` for every ``a`` of ``firsts``, in order: ``(True, result)`` or
    ``(False, exception)`` each, so the caller raises an error where the sequential code would.
    One call to the helper for several items sharing large arguments (sent once)."""
    out = []
    for a in firsts:
        try:
            out.append((True, fn(a, *rest)))
        except Exception as exc:  # noqa: BLE001  (handed to the caller, raised there)
            out.append((False, exc))
    return out


def _send(stream: BinaryIO, payload: bytes | memoryview) -> None:
    stream.write(struct.pack("<Q", len(payload)))
    stream.write(payload)
    stream.flush()


def _receive(stream: BinaryIO) -> bytes:
    head = stream.read(8)
    size = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
    data = stream.read(size) if size >= 0 else b""
    if size < 0 or len(data) < size:
        raise EOFError("the helper process closed its pipe")
    return data


class Job:
    """A call sent to the helper (or already run here); :meth:`result` waits for it."""

    def __init__(self, helper: "Helper | None", call: tuple, done: tuple | None = None):
        self.helper, self.call, self.done = helper, call, done
        self.sender: threading.Thread | None = None

    def result(self) -> Any:
        """The call's return value; the helper's warnings are issued here, in order.

        Raises
        ------
        Exception
            What the call raised (same type and message as in this process).
        """
        if self.done is None:
            self.done = self.helper._answer(self)
        ok, value = self.done
        if not ok:
            raise value
        return value


class Helper:
    """The helper process (see the module notes). Use as a context manager: leaving it
    ends the process, and with it any call still under way.

    Parameters
    ----------
    preload : sequence of str
        Modules the helper imports as it starts (while the run is busy with other work).
    start : bool, default True
        Start the process now; else at :meth:`start` (calls made before run here).
    """

    def __init__(self, preload: Sequence[str] = (), start: bool = True):
        self.preload = tuple(preload)
        self._pending: list[Job] = []
        self.proc: subprocess.Popen | None = None
        if start:
            self.start()

    def start(self) -> None:
        """Start the helper process (nothing if it runs, or if there is no Python to start)."""
        if self.proc is not None or not sys.executable:  # no sys.executable: an embedding application
            return
        # This process's module path, so calls name the same modules here and there (this geoaccess first).
        path = [str(Path(__file__).resolve().parents[1]), *sys.path]
        code = (f"import sys; sys.path[:] = {path!r}; from geoaccess.helperproc import _serve; "
                f"_serve({list(self.preload)!r})")
        try:
            self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL)
        except OSError:
            self.proc = None

    def __enter__(self) -> "Helper":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def submit(self, fn: Callable, *args: Any, **kwargs: Any) -> Job:
        """Send ``fn(*args, **kwargs)`` to the helper and return at once (``fn`` goes by its
        module and name). Without a helper, or if the call does not pickle, run it now; a call
        the helper cannot unpickle, or whose value does not pickle, runs again here (so calls
        should return a value or write one file, as those of a run do)."""
        if self.proc is None:
            return _here(fn, args, kwargs)
        job = Job(self, (fn, args, kwargs))
        try:
            payload = pickle.dumps(job.call, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001  (a value that does not pickle: the call runs here)
            return _here(fn, args, kwargs)
        # Sent from a thread: the pipe takes 64 KB at a time while the helper may still be busy.
        job.sender = threading.Thread(target=self._send, args=(payload,), daemon=True)
        job.sender.start()
        self._pending.append(job)
        return job

    def _send(self, payload: bytes) -> None:
        try:
            _send(self.proc.stdin, payload)
        except (OSError, ValueError, AttributeError):  # the helper died or was closed: _answer sees it
            pass

    def _answer(self, job: Job) -> tuple[bool, Any]:
        # Answers come in the order the calls were sent: read those before this one first.
        while job.done is None:
            first = self._pending.pop(0)
            first.sender.join()
            try:
                ok, value, caught = pickle.loads(_receive(self.proc.stdout))
            except (EOFError, OSError, ValueError, AttributeError, pickle.UnpicklingError):
                self.close()  # the helper died: this call and the ones after it run here
                for left in [first, *self._pending]:
                    left.helper, left.done = None, _here(*left.call).done
                self._pending = []
                break
            for message, category, filename, lineno in caught:
                warnings.warn_explicit(message, category, filename, lineno)
            # ok None: the helper could not take the call or return its value: it runs here
            first.done = (ok, value) if ok is not None else _here(*first.call).done
        return job.done

    def close(self) -> None:
        """End the helper process now (a call under way is dropped)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass


def submit(helper: Helper | None, fn: Callable, *args: Any, **kwargs: Any) -> Job:
    """``helper.submit(fn, *args, **kwargs)``, or without a helper ``fn(*args, **kwargs)``
    run now; either way :meth:`Job.result` gives its value or raises its error."""
    return helper.submit(fn, *args, **kwargs) if helper is not None else _here(fn, args, kwargs)


def _here(fn: Callable, args: tuple, kwargs: dict) -> Job:
    try:
        return Job(None, (fn, args, kwargs), (True, fn(*args, **kwargs)))
    except Exception as exc:  # noqa: BLE001  (raised by Job.result, as from the helper)
        return Job(None, (fn, args, kwargs), (False, exc))


def _serve(preload: Sequence[str]) -> None:
    """The helper process: run each call received on stdin, answer on stdout."""
    import importlib
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the run's to handle: it ends this process
    stdin, stdout = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a library prints cannot mix into the answers
    for name in preload:
        importlib.import_module(name)
    while True:
        try:
            call = _receive(stdin)
        except EOFError:
            return
        answer, call = _run(call), None  # nothing of the call kept while waiting for the next
        _send(stdout, answer)


def _run(call: bytes) -> bytes:
    """One call of the helper: its answer, pickled (its arguments are dropped on return)."""
    try:
        fn, args, kwargs = pickle.loads(call)
    except Exception:  # noqa: BLE001  (e.g. a module this process cannot import): the run's process calls it
        return pickle.dumps((None, None, []))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # the run's own filters decide when they are shown
        try:
            answer: tuple = (True, fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001  (sent to the run, raised there)
            exc.add_note("raised in geoaccess's helper process:\n" + traceback.format_exc())  # not in str(exc)
            answer = (False, exc)
    found = [(str(w.message), w.category, w.filename, w.lineno) for w in caught]
    try:
        return pickle.dumps((*answer, found), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001  (a value or error that does not pickle: the run's process calls it)
        return pickle.dumps((None, None, []))
