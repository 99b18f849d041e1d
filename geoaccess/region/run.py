"""Run every county of a region on Dask: partition once, one task per county, resume.

:func:`run_region` is what ``geoaccess run-region`` calls. Counties run as independent,
idempotent Dask tasks (``client.submit(run_county, ..., retries=2, pure=False)``) on a
``LocalCluster`` (one single-threaded worker process per core by default) or on an
existing cluster given by its scheduler address; results are written as each county
finishes, and a re-run skips counties already done with the same inputs.
"""

from __future__ import annotations

import json
import logging
import numbers
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import shapely

from ..errors import InputError
from ..io import write_json
from ..outputset import safe_folder_name
from ..grids import KDTREE_WORKERS_VAR
from .config import DONE, load_region, read_units
from .partition import fingerprint, partition, run_county
from .outputs import county_rows, write_map, write_report, write_tables

#: Thread-pool sizes of the numeric libraries under a county task (OpenBLAS/MKL/OpenMP under numpy
#: and scipy, numexpr, GDAL), set in each LocalCluster worker process to its share of the cores.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "GDAL_NUM_THREADS")

#: Entries a region output folder may hold (anything else: the folder is not ours).
_OURS = {"slices", "counties", "status", "counties.csv", "region_summary.json", "map.html", "report.html"}


@dataclass
class RegionRun:
    """What a region run did: the status record per county and the files written."""

    root: Path
    records: dict[str, dict]
    ran: list[str]
    skipped: list[str]
    files: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0
    dashboard: str | None = None
    warnings: list[str] = field(default_factory=list)


def _check_root(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise InputError(f"the output folder {root} is a file: choose another --out folder")
    if root.is_dir():
        foreign = sorted(p.name for p in root.iterdir() if p.name not in _OURS and not p.name.startswith("."))
        if foreign:
            raise InputError(f"the output folder {root} holds files a region run did not write: "
                             f"{', '.join(foreign[:10])}. Choose another --out folder or move them.")


def _check_scheduler(scheduler: str) -> None:
    """Fail fast on a scheduler address that is malformed or refuses a connection (before
    partitioning; Dask's own connect retries for its whole timeout)."""
    import socket

    from distributed.comm import get_address_host_port

    how = ("start it with `dask scheduler` and workers with `dask worker <address>`, give its address as "
           "--scheduler tcp://host:8786, or omit --scheduler for a local cluster")
    try:
        host, port = get_address_host_port(scheduler)
    except ValueError as exc:
        raise InputError(f"--scheduler {scheduler} is not a scheduler address ({exc}); {how}") from None
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise InputError(f"cannot reach the Dask scheduler at {scheduler} ({exc}); {how}") from None


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS has one, else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def task_threads(workers: int, cores: int | None = None) -> int:
    """Thread budget of one county task: ``max(1, cores // workers)``.

    Parameters
    ----------
    workers : int
        Worker processes running county tasks side by side on this machine.
    cores : int, optional
        Cores to share (default :func:`usable_cores`).

    Returns
    -------
    int
        Threads each task's numeric libraries may use, so that the workers together do not
        ask for more threads than there are cores.
    """
    return max(1, (cores or usable_cores()) // max(1, workers))


def _client(workers: int | None, scheduler: str | None, threads: int | None = None):
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout="20s"), None
        except OSError as exc:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler} ({exc}); start it with "
                             "`dask scheduler` and workers with `dask worker <address>`, give its address as "
                             "--scheduler tcp://host:8786, or omit --scheduler") from None
    n = workers or max(1, min(usable_cores(), 8))
    # One single-threaded process per worker (the pipeline holds the GIL for much of a county); its
    # libraries' thread pools get the worker's share of the cores, so n workers do not oversubscribe them.
    budget = threads or task_threads(n)
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=logging.ERROR, env={v: str(budget) for v in (*THREAD_VARS, KDTREE_WORKERS_VAR)})
    return Client(cluster), cluster


def _dashboard(client, local: bool) -> str | None:
    import importlib.util

    if local and importlib.util.find_spec("bokeh") is None:  # the page would only say "install bokeh"
        return None
    try:
        services = client.scheduler_info().get("services", {})
    except Exception:  # noqa: BLE001 - a status nicety; the run goes on without it
        return None
    return client.dashboard_link if "dashboard" in services else None


def run_region(region_path: str | Path, out: str | Path | None = None, *, workers: int | None = None,
               scheduler: str | None = None, force: bool = False, counties: list[str] | None = None,
               lang: str | None = None, self_contained: bool | None = None, basemap: str | None = None,
               threads: int | None = None, say: Callable[[str], None] | None = None,
               tick: Callable[[dict[str, Any]], None] | None = None) -> RegionRun:
    """Evaluate every (or the chosen) county of a region and write the province outputs.

    Parameters
    ----------
    region_path : str or Path
        Region scenario TOML (see :mod:`geoaccess.region`).
    out : str or Path, optional
        Output folder; default ``maps/<region name>/``. Holds ``slices/<id>/`` (each
        county's buffered inputs and scenario), ``counties/<id>/`` (its usual outputs),
        ``status/<id>.json``, ``counties.csv``, ``region_summary.json``, ``map.html``,
        ``report.html``.
    workers : int, optional
        LocalCluster worker processes (default: the number of cores, at most 8).
    threads : int, optional
        Threads per county task on the LocalCluster: the size of the BLAS/OpenMP, numexpr
        and GDAL thread pools (:data:`THREAD_VARS`, set in each worker process); default
        :func:`task_threads` (``max(1, cores // workers)``); snapping's k-d tree queries get
        the same budget (:data:`geoaccess.grids.KDTREE_WORKERS_VAR`). Workers of an existing
        cluster (``scheduler``) keep what they were started with.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``); its workers must see
        the output folder at the same path (a shared file system).
    force : bool
        Partition again and re-run every county, even those already done.
    counties : list of str, optional
        Ids of the counties to run (default: all).
    lang, self_contained, basemap
        Map options of the county outputs and the province map.
    say : callable, optional
        Receives progress messages (str).
    tick : callable, optional
        Receives ``{"done", "running", "failed", "left", "total", "elapsed"}`` about once a
        second and after every finished county.

    Returns
    -------
    RegionRun

    Raises
    ------
    InputError
        Bad region file or inputs, an unknown county id, a foreign output folder, an
        unreachable scheduler, ``workers`` or ``threads`` not a positive whole number.
    """
    from dask.distributed import as_completed

    for name, value in (("workers", workers), ("threads", threads)):
        # 0 would otherwise fall back to the default without a word
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1):
            raise InputError(f"run_region: {name} must be a positive whole number or None (the default), got {value!r}")
    say = say or (lambda msg: None)
    t0 = time.perf_counter()
    region = load_region(region_path)
    notes: list[str] = []
    every = read_units(region, warn_to=notes)  # all counties: a home on a border goes to the first in file order
    units = every
    ids = list(units["id"])
    if counties:
        unknown = [c for c in counties if c not in set(ids)]
        if unknown:
            raise InputError(f"--counties names id(s) not in {region.units.name}: {', '.join(unknown)}; "
                             f"ids there look like {', '.join(ids[:5])}")
        ids = [c for c in ids if c in set(counties)]
        units = every[every["id"].isin(ids)].reset_index(drop=True)
    root = Path(out or Path("maps") / safe_folder_name(region.name)).expanduser().absolute()
    _check_root(root)
    if scheduler:
        _check_scheduler(scheduler)
    say(f"region {region.name}: {len(ids)} counties; buffer {region.buffer_km:g} km ({region.buffer_note})")
    infos = partition(region, every, root, ids, force=force, say=say)
    run = RegionRun(root=root, records={}, ran=[], skipped=[], warnings=notes)
    outside = json.loads((root / "slices" / "partition.json").read_text(encoding="utf-8"))["counties"].get("_outside")
    if outside:
        run.warnings.append(f"{outside['population']:,.0f} people ({outside['points']:,} demand points) lie in no "
                            f"county polygon of {region.units.name} and are counted in no county")
    fp = fingerprint(region)
    m = region.scenario.map
    options = {"lang": lang or m["lang"], "self_contained": self_contained, "basemap": basemap}
    jobs = []
    for cid, name, outline in zip(units["id"], units["name"], units.geometry):
        status = root / "status" / f"{cid}.json"
        if status.is_file() and not force:
            rec = json.loads(status.read_text(encoding="utf-8"))
            # an "ok" county whose output folder was deleted is run again (the map links to it)
            gone = rec.get("status") == "ok" and not (root / "counties" / cid / "summary.json").is_file()
            if rec.get("status") in DONE and rec.get("fingerprint") == fp and not gone:
                run.records[cid] = rec
                run.skipped.append(cid)
                continue
            if gone:
                say(f"county {cid}: its outputs counties/{cid}/ are missing; running it again")
        info = infos[cid]
        if info["status"] != "ready":  # nothing to route: a row saying so
            rec = {"id": cid, "name": name, "fingerprint": fp, "status": info["status"], "note": info["note"],
                   "targets": [], "seconds": 0.0, "population": info.get("population")}
            write_json(status, rec)
            run.records[cid] = rec
            continue
        jobs.append({"id": cid, "name": name, "slice": info["dir"], "out": str(root / "counties" / cid),
                     "status": str(status), "fingerprint": fp, "cost": int(info.get("roads") or 0), "outline": shapely.to_wkb(outline), **options})
    if run.skipped:
        say(f"skipping {len(run.skipped)} count{'y' if len(run.skipped) == 1 else 'ies'} already done "
            "(--force runs them again)")

    def tables() -> None:
        rows = county_rows(run.records, units, region.scenario.targets)
        run.files.update(write_tables(root, region.name, rows, region.scenario.targets,
                                      {"buffer_km": region.buffer_km, "buffer_rule": region.buffer_note,
                                       "warnings": run.warnings}))

    if jobs:
        client, cluster = _client(workers, scheduler, threads)
        stop = threading.Event()
        try:
            run.dashboard = _dashboard(client, local=cluster is not None)
            n_workers = len(client.scheduler_info().get("workers", {}))
            say(f"Dask: {n_workers} worker(s) at {client.scheduler.address}"
                + (f"; dashboard {run.dashboard}" if run.dashboard else "; no dashboard (pip install bokeh)"))
            # Largest slices first (by road features; the slice's size drives a county's time), so the
            # last counties to start are short ones and no worker idles long at the end (LPT order).
            jobs.sort(key=lambda j: -j["cost"])
            futures = {client.submit(run_county, job, retries=2, pure=False, priority=job["cost"]): job
                       for job in jobs}
            keys = {f.key for f in futures}
            state = {"done": 0, "running": 0, "failed": 0, "left": len(jobs), "total": len(jobs), "elapsed": 0.0}

            def ticker() -> None:
                while not stop.wait(1.0):
                    try:
                        busy = client.processing()
                        state["running"] = sum(k in keys for ks in busy.values() for k in ks)
                    except Exception:  # noqa: BLE001 - display only
                        pass
                    state["elapsed"] = time.perf_counter() - t0
                    if tick:
                        tick(dict(state))

            threading.Thread(target=ticker, daemon=True).start()
            for fut in as_completed(futures):
                job = futures[fut]
                if fut.status == "error":
                    exc = fut.exception()
                    rec = {"id": job["id"], "name": job["name"], "fingerprint": fp, "status": "failed",
                           "note": f"{type(exc).__name__}: {exc}", "targets": [], "seconds": None}
                    write_json(job["status"], rec)
                    Path(job["status"]).with_suffix(".running").unlink(missing_ok=True)
                else:
                    rec = fut.result()
                run.records[job["id"]] = rec
                run.ran.append(job["id"])
                state["failed" if rec["status"] == "failed" else "done"] += 1
                state["left"] -= 1
                state["elapsed"] = time.perf_counter() - t0
                if tick:
                    tick(dict(state))
                if rec["status"] == "failed":
                    say(f"county {job['id']} {job['name']} failed: {rec['note']}")
                tables()  # after every county: a crash later loses none
        finally:
            stop.set()
            client.close()
            if cluster is not None:
                cluster.close()
    tables()
    rows = county_rows(run.records, units, region.scenario.targets)
    run.files["map"] = write_map(root, region.name, units, rows, region.scenario.targets, options["lang"],
                                 bool(self_contained if self_contained is not None else m["self_contained"]))
    run.files["report"] = write_report(root, region.name, units, rows, region.scenario.targets, options["lang"])
    run.seconds = time.perf_counter() - t0
    return run
