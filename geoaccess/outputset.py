"""Output folders written as one set: a run's files replace the previous run's whole.

A run's outputs are written into a sibling staging folder and swapped in with two
renames (:class:`OutputSet`), so a reader, or a run killed mid-write, sees the old set or
the new one, never a mix; :func:`check_output_dir` refuses a folder holding files geoaccess
did not write before anything is computed; :func:`safe_folder_name` makes a folder name
from any scenario name that cannot leave its parent.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .errors import InputError
from .io import write_json

MANIFEST = "geoaccess-run.json"  # visible: an output folder holds no hidden files
# Names geoaccess writes into an output folder; a folder holding only these (e.g. from a
# version without manifests) counts as ours and may be replaced.
OUTPUT_NAMES = frozenset({"summary.json", "units.csv", "demand_times.gpkg", "gaps.csv", "gaps.geojson",
                          "map.html", "report.html", "sites.csv", MANIFEST})
_WINDOWS_RESERVED = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                               *(f"LPT{i}" for i in range(1, 10))})


def safe_folder_name(name: str) -> str:
    """A folder name made from a scenario name that cannot leave its parent folder.

    Letters of every script (Chinese included), digits, spaces and ``._-()`` stay; path
    separators, control characters and the characters Windows forbids (``<>:"/\\|?*``)
    become ``_``; leading dots and spaces and trailing dots and spaces are stripped (no
    ``..``, no hidden folder); Windows device names (CON, NUL.txt, COM1, …) get a ``_``
    prefix; the result is cut to 100 characters. An empty result is ``"scenario"``.

    Parameters
    ----------
    name
        The scenario's ``[scenario] name``.

    Returns
    -------
    str
        A single path component, safe on POSIX and Windows.
    """
    out = "".join("_" if (ord(ch) < 32 or ord(ch) == 127 or ch in '<>:"/\\|?*') else ch for ch in str(name))
    out = out.strip(" .")[:100].strip(" .")
    if out.split(".")[0].strip().upper() in _WINDOWS_RESERVED:
        out = "_" + out
    return out or "scenario"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def _leftovers(final: Path) -> list[tuple[Path, str, int]]:
    """Staging (``tmp``) and replaced (``old``) folders a run on ``final`` left behind."""
    found = []
    if not final.parent.is_dir():
        return found
    prefix = f".{final.name}."
    for p in final.parent.iterdir():
        if not p.name.startswith(prefix):
            continue
        kind, _, pid = p.name[len(prefix):].partition("-")
        if kind in ("tmp", "old") and pid.isdigit():
            found.append((p, kind, int(pid)))
    return found


def clean_leftovers(final: str | os.PathLike) -> list[str]:
    """Remove what a killed run on ``final`` left behind; return one message per action.

    A staging folder (``.<name>.tmp-<pid>``) of a dead process is deleted. A replaced set
    (``.<name>.old-<pid>``) is renamed back to ``final`` when ``final`` is missing (the
    run died between its two renames), else deleted. Folders of a live process are left.
    """
    import shutil

    final = Path(final)
    said = []
    for p, kind, pid in sorted(_leftovers(final), key=lambda x: x[1] == "tmp"):  # old first: restore
        if pid != os.getpid() and _pid_alive(pid):
            continue
        if kind == "old" and not final.exists():
            os.rename(p, final)
            said.append(f"restored the previous outputs {final} from {p.name} (an earlier run was interrupted)")
        else:
            shutil.rmtree(p, ignore_errors=True)
            said.append(f"removed {p.name}, left by an interrupted run")
    return said


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and not p.is_symlink():  # a dangling symlink is treated as existing (refused below)
        if p.parent == p:
            break
        p = p.parent
    return p


def check_output_dir(out: str | os.PathLike, carry: Iterable[str] = ()) -> Path:
    """Check before any computing that a run can write its output set to ``out``.

    ``out`` must be a folder (or not exist yet), hold only files geoaccess wrote (listed
    in its ``geoaccess-run.json``, or output names of :data:`OUTPUT_NAMES`, or ``carry``),
    and its parent must exist or be creatable, be writable and not on a read-only mount:
    the new set is staged beside ``out`` and renamed into place. Creates nothing.

    Parameters
    ----------
    out
        The output folder.
    carry
        Names inside ``out`` that are kept across runs (the synthetic county's ``input``).

    Returns
    -------
    pathlib.Path
        ``out``, absolute.

    Raises
    ------
    InputError
        Naming the folder (or the foreign files in it) and the fix.
    """
    final = Path(out).expanduser().absolute()
    fix = "choose another --out folder (or [output] dir) that you can write to"
    if final.is_symlink() or (final.exists() and not final.is_dir()):
        raise InputError(f"the output folder {final} exists and is not a folder (a file or a link): "
                         f"{fix}, or remove that file")
    if final.is_dir():
        ours = set(OUTPUT_NAMES) | set(carry)
        try:
            listed = json.loads((final / MANIFEST).read_text(encoding="utf-8")).get("files", {})
            ours |= set(listed)
        except (OSError, ValueError, AttributeError):
            pass
        try:
            foreign = sorted(p.name for p in final.iterdir() if p.name not in ours)
        except OSError as exc:
            raise InputError(f"cannot list the output folder {final} ({exc.strerror}): {fix}") from None
        if foreign:
            shown = ", ".join(foreign[:8]) + (f" and {len(foreign) - 8} more" if len(foreign) > 8 else "")
            raise InputError(f"the output folder {final} holds files geoaccess did not write: {shown}. A run "
                             "replaces its whole output folder; move those files away or choose another --out "
                             "folder (an empty or new one)")
    base = _nearest_existing(final.parent)
    if not base.is_dir():
        raise InputError(f"cannot create the output folder {final}: {base} is a file, not a folder; {fix}")
    if not os.access(base, os.W_OK | os.X_OK):
        raise InputError(f"cannot write the output folder {final}: {base} is not writable (permissions); {fix}")
    try:
        if os.statvfs(base).f_flag & os.ST_RDONLY:
            raise InputError(f"cannot write the output folder {final}: {base} is on a read-only file system; {fix}")
        probe = tempfile.mkdtemp(prefix=".geoaccess-probe-", dir=base)  # what root's os.access cannot tell
        os.rmdir(probe)
    except OSError as exc:
        raise InputError(f"cannot write the output folder {final}: {base}: {exc.strerror or exc}; {fix}") from None
    return final


def _file_digest(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class OutputSet:
    """Stage an output set beside ``final`` and swap it in as a whole.

    Use as a context manager: write every file under :attr:`dir`, then :meth:`commit`.
    ``commit`` writes the manifest ``geoaccess-run.json`` (name, size and SHA-256 of
    every file) and swaps with two renames: ``final`` → ``.<name>.old-<pid>``, staging →
    ``final``; then deletes the old set. If the second rename fails the old set is
    renamed back. Leaving the block without ``commit`` (an error, Ctrl-C) deletes the
    staging folder and leaves ``final`` untouched. Leftovers of a killed run are cleaned
    (or the old set restored) by :func:`clean_leftovers` when the next set starts.

    Parameters
    ----------
    final
        The output folder; checked with :func:`check_output_dir`.
    carry
        Names of entries of an existing ``final`` to keep in the new set (hard-linked,
        else copied, into the staging folder), e.g. the synthetic county's ``input``.
    """

    def __init__(self, final: str | os.PathLike, carry: Iterable[str] = ()):
        self.carry = tuple(carry)
        self.final = check_output_dir(final, self.carry)
        self.notes = clean_leftovers(self.final)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.dir = self.final.parent / f".{self.final.name}.tmp-{os.getpid()}"
        self.committed = False

    def __enter__(self) -> "OutputSet":
        import shutil

        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir()
        for name in self.carry:
            src = self.final / name
            if src.is_dir():
                shutil.copytree(src, self.dir / name, copy_function=_link_or_copy)
            elif src.is_file():
                _link_or_copy(src, self.dir / name)
        return self

    def __exit__(self, *exc) -> None:
        import shutil

        if not self.committed:
            shutil.rmtree(self.dir, ignore_errors=True)

    def commit(self, scenario: str = "") -> Path:
        """Write the manifest and swap the staged set in; returns the final folder."""
        from ._version import __version__

        files = {p.relative_to(self.dir).as_posix(): {"bytes": p.stat().st_size, "sha256": _file_digest(p)}
                 for p in sorted(self.dir.iterdir()) if p.is_file()}
        write_json(self.dir / MANIFEST, {"geoaccess": __version__, "scenario": scenario,
                                         "files": {**files, **{n: "kept" for n in self.carry
                                                               if (self.dir / n).exists()}}})
        old = self.final.parent / f".{self.final.name}.old-{os.getpid()}"
        had_old = self.final.exists()
        if had_old:
            os.rename(self.final, old)
        try:
            os.rename(self.dir, self.final)
        except BaseException:
            if had_old:
                os.rename(old, self.final)
            raise
        self.committed = True
        import shutil

        if had_old:
            shutil.rmtree(old, ignore_errors=True)
        return self.final


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        import shutil

        shutil.copy2(src, dst)
