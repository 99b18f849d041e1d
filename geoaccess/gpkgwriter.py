"""Vector layers written in a helper process, on the second core, while the run goes on.

GDAL holds Python's GIL while it writes (pyogrio), and so does most of what a run does
after its evaluation, so a thread cannot overlap a large layer with the rest of the run.
:class:`GpkgWriter` starts a helper process (Python with geopandas, no geoaccess stage)
when the run starts, so its imports overlap the loading; a GeoDataFrame sent to it
(pickled through a pipe) is written there with the same ``to_file`` call the run would
make: the same file.

``GEOACCESS_OVERLAP=0`` (:data:`OVERLAP_VAR`) writes in the run's own process instead;
``1`` or unset: the helper process. If the helper cannot be started or dies, the layer is
written in this process (the same file, only slower).
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any, BinaryIO

from .errors import InputError

OVERLAP_VAR = "GEOACCESS_OVERLAP"


def overlap_enabled() -> bool:
    """Whether a run writes its demand layer in a helper process (:data:`OVERLAP_VAR`).

    Raises
    ------
    InputError
        The variable is set to something other than ``0`` or ``1``.
    """
    value = os.environ.get(OVERLAP_VAR, "").strip()
    if value not in ("", "0", "1"):
        raise InputError(f"environment variable {OVERLAP_VAR}={value!r} must be 0 (write every output in this "
                         f"process) or 1 (write the demand layer on the second core); unset it for the default (1)")
    return value != "0"


def write_layer(frame: Any, path: str | os.PathLike, options: dict[str, Any]) -> None:
    """``frame.to_file(path, **options)``: what the helper process runs for each layer.

    Parameters
    ----------
    frame : geopandas.GeoDataFrame
        The layer.
    path
        The new file.
    options : dict
        Keyword arguments of :meth:`geopandas.GeoDataFrame.to_file` (layer, driver, ...).
    """
    frame.to_file(path, **options)


def _send(stream: BinaryIO, payload: bytes) -> None:
    stream.write(struct.pack("<Q", len(payload)))
    stream.write(payload)
    stream.flush()


def _receive(stream: BinaryIO) -> bytes:
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError("the helper process closed its pipe")
    size = struct.unpack("<Q", head)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the helper process closed its pipe")
    return data


class Job:
    """A layer being written by the helper process; :meth:`wait` returns when it is on disk."""

    def __init__(self, writer: "GpkgWriter | None", args: tuple):
        self.writer, self.args = writer, args

    def wait(self) -> None:
        """Block until the layer is written; re-issue the helper's warnings here, in order.

        Raises
        ------
        Exception
            What the write raised in the helper (same type and message as in this process).
        """
        writer, self.writer = self.writer, None
        if writer is None:
            return
        try:
            status, error, caught = pickle.loads(_receive(writer.proc.stdout))
        except (EOFError, OSError, pickle.UnpicklingError):  # the helper died: write it here
            writer.close()
            Path(self.args[1]).unlink(missing_ok=True)  # what it had begun
            write_layer(*self.args)
            return
        for w in caught:
            warnings.warn_explicit(w[0], w[1], w[2], w[3])
        if status != "ok":
            raise error


class GpkgWriter:
    """A helper process writing GeoPackage layers from Arrow tables (see the module notes).

    Use as a context manager; leaving it ends the helper (a write still under way is
    stopped: the caller's staging folder is deleted after it).
    """

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[1])
        code = f"import sys; sys.path.insert(0, {root!r}); from geoaccess.gpkgwriter import _serve; _serve()"
        try:
            self.proc: subprocess.Popen | None = subprocess.Popen(
                [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL)
        except OSError:
            self.proc = None

    def __enter__(self) -> "GpkgWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def submit(self, frame: Any, path: str | os.PathLike, options: dict[str, Any]) -> Job:
        """Start writing ``frame`` to ``path`` (see :func:`write_layer`) and return at once;
        without a helper process (it could not start, or died), write it now."""
        args = (frame, str(path), options)
        try:
            if self.proc is None:
                raise OSError("no helper process")
            _send(self.proc.stdin, pickle.dumps(args, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:  # BrokenPipeError included
            self.close()
            write_layer(*args)
            return Job(None, args)
        return Job(self, args)

    def close(self) -> None:
        """End the helper process (at once: the caller no longer wants what it writes)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass


def _serve() -> None:
    """The helper process: write each layer received on stdin, answer on stdout."""
    import signal

    import geopandas  # noqa: F401  (imported while the run loads its inputs)
    import pyogrio  # noqa: F401

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the run's to handle: it ends this process
    stdin, stdout = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a library prints cannot mix into the answers
    while True:
        try:
            args = pickle.loads(_receive(stdin))
        except EOFError:
            return
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # the run's own filters decide when they are re-issued
            try:
                write_layer(*args)
                answer: tuple = ("ok", None)
            except Exception as exc:  # noqa: BLE001  (sent to the run, raised there)
                answer = ("error", exc)
        found = [(str(w.message), w.category, w.filename, w.lineno) for w in caught]
        try:
            payload = pickle.dumps((*answer, found))
        except Exception:  # noqa: BLE001  (what does not pickle goes as its type and text)
            error = None if answer[1] is None else RuntimeError(f"{type(answer[1]).__name__}: {answer[1]}")
            payload = pickle.dumps((answer[0], error, [(m, UserWarning, f, n) for m, _, f, n in found]))
        _send(stdout, payload)
