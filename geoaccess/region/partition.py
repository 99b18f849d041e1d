"""Cutting the province inputs once into buffered county slices, and the Dask task that runs a slice."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from .._version import __version__
from ..coords import utm_crs_for
from ..errors import InputError
from ..io import read_vector, write_atomic, write_json, write_with
from .config import _PATH_KEYS, Region

# --------------------------------------------------------------------------- partitioning

def fingerprint(region: Region) -> str:
    """A digest of what a county's results depend on: the region file, the input files'
    sizes and times, the buffer and the geoaccess version (resume skips a county only
    when it matches)."""
    h = hashlib.sha256(region.text)
    h.update(f"{__version__}|{region.buffer_km!r}".encode())
    for p in [region.units] + [Path(region.template.get(s, {}).get(k) or "") for s, k in _PATH_KEYS]:
        if p.is_file():
            st = p.stat()
            h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def partition(region: Region, units: gpd.GeoDataFrame, root: Path, ids: list[str], *, force: bool = False,
              say: Callable[[str], None] | None = None) -> dict[str, dict]:
    """Cut the province inputs once into one buffered slice per county, under ``root/slices/<id>/``.

    Each slice holds the roads and facilities within ``region.buffer_km`` of the county,
    the county's own people (and townships), and a ``scenario.toml`` that runs it. A
    slice already written for the same :func:`fingerprint` is kept unless ``force``.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
        Every county of the region (:func:`geoaccess.region.read_units`): people are
        assigned against all of them, so a home on a border goes to the first county in
        file order whichever counties are cut.
    ids : list of str
        The counties to cut.

    Returns
    -------
    dict
        County id → ``{"status": "ready" | "no_roads" | "no_facilities" | "no_people", "note", "roads",
        "facilities", "population", "dir"}``.
    """
    say = say or (lambda msg: None)
    fp = fingerprint(region)
    index_path = root / "slices" / "partition.json"
    known: dict[str, dict] = {}
    if index_path.is_file() and not force:
        saved = json.loads(index_path.read_text(encoding="utf-8"))
        if saved.get("fingerprint") == fp:
            known = saved.get("counties", {})
    todo = [i for i in ids if i not in known or not (root / "slices" / i / "scenario.toml").is_file()]
    if todo:
        t0 = time.perf_counter()
        say(f"partitioning {len(todo)} count{'y' if len(todo) == 1 else 'ies'} (buffer {region.buffer_km:g} km)")
        known.update(_cut(region, units.set_index("id").loc[todo].reset_index(), units, root, say))
        write_json(index_path, {"fingerprint": fp, "buffer_km": region.buffer_km, "counties": known})
        say(f"partitioned in {time.perf_counter() - t0:.1f} s")
    return {i: known[i] for i in ids}


def _cut(region: Region, todo: gpd.GeoDataFrame, units: gpd.GeoDataFrame, root: Path,
         say: Callable[[str], None]) -> dict[str, dict]:
    from ..demand import population_from_file
    from ..facilities import facilities_from_file

    tpl = region.template
    c = units.geometry.union_all().centroid
    work = utm_crs_for(c.x, c.y)
    own_m = todo.to_crs(work).geometry.to_numpy()
    buf_m = shapely.buffer(own_m, region.buffer_km * 1000.0) if region.buffer_km > 0 else own_m
    n = len(todo)
    info = {cid: {"status": "ready", "note": "", "dir": str(root / "slices" / cid)} for cid in todo["id"]}
    slices: dict[str, dict[str, Any]] = {cid: copy.deepcopy(tpl) for cid in todo["id"]}

    def members(geoms_m: np.ndarray, areas: np.ndarray) -> list[np.ndarray]:
        """Per county k, the indices of geoms intersecting areas[k] (one vectorised query)."""
        tree = shapely.STRtree(geoms_m)
        area_idx, geom_idx = tree.query(areas, predicate="intersects")
        order = np.argsort(area_idx, kind="stable")
        return np.split(geom_idx[order], np.searchsorted(area_idx[order], np.arange(1, n)))

    net = tpl["network"]
    if "{id}" not in net["source"]:
        say(f"reading {Path(net['source']).name}")
        roads = read_vector(net["source"], "roads file")
        for cid, idx in zip(todo["id"], members(roads.to_crs(work).geometry.to_numpy(), buf_m)):
            info[cid]["roads"] = int(len(idx))
            _write_fgb(roads.iloc[np.sort(idx)], root / "slices" / cid / "roads.fgb")
            slices[cid]["network"]["source"] = "roads.fgb"
    fac = tpl["facilities"]
    if "{id}" not in fac["path"]:
        say(f"reading {Path(fac['path']).name}")
        f = region.scenario.facilities
        table = facilities_from_file(f["path"], x=f["x"], y=f["y"], type=f["type"], name=f["name"],
                                     capacity=f["capacity"], id=f["id"], crs=f["crs"], sheet=f["sheet"],
                                     layer=f["layer"], encoding=f["encoding"], types=f["types"], code=f["code"],
                                     classify_names=f["classify_names"])
        keep = [c for c in table.columns if c not in ("geometry", "kind", "kind_rule")]
        for cid, idx in zip(todo["id"], members(table.to_crs(work).geometry.to_numpy(), buf_m)):
            info[cid]["facilities"] = int(len(idx))
            with write_atomic(root / "slices" / cid / "facilities.csv", "w", encoding="utf-8") as fh:
                pd.DataFrame(table.iloc[np.sort(idx)][keep]).to_csv(fh, index=False, lineterminator="\n")
            s = slices[cid]["facilities"]
            s.update(path="facilities.csv", x="lon", y="lat", crs="EPSG:4326", type="type", name="name",
                     id="facility_id", **({"capacity": "capacity"} if f["capacity"] else {}))
            for key in ("sheet", "layer", "encoding"):
                s.pop(key, None)
    pop = tpl["population"]
    if "{id}" not in pop["path"]:
        say(f"reading {Path(pop['path']).name}")
        p = region.scenario.population
        demand = population_from_file(p["path"], pop=p["pop"], x=p["x"], y=p["y"], crs=p["crs"], band=p["band"],
                                      layer=p["layer"])
        # Plain coordinate arrays from here (a province raster is ~10^7 cells: two GeoDataFrames of
        # points and an STRtree over them took 10.8 GB for 88 counties); points are made per county.
        x, y = shapely.get_coordinates(demand.geometry.to_numpy()).T
        pop_v = demand["pop"].to_numpy(float)
        if not pyproj.CRS.from_user_input(demand.crs).equals(pyproj.CRS.from_epsg(4326)):
            x, y = pyproj.Transformer.from_crs(demand.crs, "EPSG:4326", always_xy=True).transform(x, y)
        del demand
        # each point in the first county (file order) holding it: every person counted once. Tested
        # in lon/lat, where the outlines' edges are straight, so a home on a shared border is on both.
        first = _first_county(units.geometry.to_numpy(), x, y)
        position = {cid: k for k, cid in enumerate(units["id"])}
        order = np.argsort(first, kind="stable")
        starts = np.searchsorted(first[order], np.arange(len(units) + 1))
        for cid in todo["id"]:
            k = position[cid]
            mine = order[starts[k]:starts[k + 1]]
            info[cid]["population"] = float(pop_v[mine].sum())
            _write_fgb(gpd.GeoDataFrame({"pop": pop_v[mine]}, geometry=shapely.points(x[mine], y[mine]),
                                        crs="EPSG:4326"), root / "slices" / cid / "population.fgb")
            slices[cid]["population"] = {"path": "population.fgb", "pop": "pop", "crs": "EPSG:4326"}
        outside = first < 0
        if outside.any():
            info["_outside"] = {"points": int(outside.sum()), "population": float(pop_v[outside].sum())}
    adm = tpl.get("admin", {})
    if adm.get("path") and "{id}" not in adm["path"]:
        a = region.scenario.admin
        towns = read_vector(a["path"], "admin units file", layer=a["layer"], encoding=a["encoding"])
        rep = towns.to_crs(work).representative_point().to_numpy()
        for cid, idx in zip(todo["id"], members(rep, own_m)):
            _write_fgb(towns.iloc[np.sort(idx)], root / "slices" / cid / "admin.fgb")
            slices[cid]["admin"].update(path="admin.fgb")
            slices[cid]["admin"].pop("layer", None)
            slices[cid]["admin"].pop("encoding", None)
    for cid, name in zip(todo["id"], todo["name"]):
        d = root / "slices" / cid
        s = slices[cid]
        for section, key in _PATH_KEYS:
            value = s.get(section, {}).get(key)
            if isinstance(value, str) and "{id}" in value:
                s[section][key] = value.replace("{id}", cid)
        s["scenario"] = {"name": f"{name} {cid}".strip()}
        if info[cid].get("roads") == 0:
            info[cid].update(status="no_roads", note=f"no road within {region.buffer_km:g} km of the county in "
                                                     f"{Path(tpl['network']['source']).name}")
        elif info[cid].get("facilities") == 0:
            info[cid].update(status="no_facilities", note=f"no health facility within {region.buffer_km:g} km of the "
                                                          f"county in {Path(tpl['facilities']['path']).name}: nobody "
                                                          "is covered, every target fails")
        elif info[cid].get("population") == 0:
            info[cid].update(status="no_people", note=f"nobody lives in the county according to "
                                                      f"{Path(tpl['population']['path']).name}")
        with write_atomic(d / "scenario.toml") as fh:
            fh.write(dump_toml({k: s[k] for k in ["scenario"] + [k for k in s if k != "scenario"]}))
    return info


def _first_county(polygons: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Index of the first polygon (array order) each point ``(x, y)`` intersects (its boundary
    included), -1 for none; one vectorised ``intersects_xy`` per polygon on the points within
    its bounding box (points sorted by x once)."""
    first = np.full(len(x), -1, dtype=np.int64)
    by_x = np.argsort(x, kind="stable")
    xs = x[by_x]
    for k, (poly, (x0, y0, x1, y1)) in enumerate(zip(polygons, shapely.bounds(polygons))):
        cand = by_x[np.searchsorted(xs, x0, side="left"):np.searchsorted(xs, x1, side="right")]
        cand = cand[(first[cand] < 0) & (y[cand] >= y0) & (y[cand] <= y1)]
        if len(cand):
            shapely.prepare(poly)
            first[cand[shapely.intersects_xy(poly, x[cand], y[cand])]] = k
    return first


def _write_fgb(gdf: gpd.GeoDataFrame, path: Path) -> None:
    """Write a slice as FlatGeobuf (fast to write and read, keeps every column)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_with(path, lambda p: gdf.to_file(p, driver="FlatGeobuf", engine="pyogrio", SPATIAL_INDEX="NO"))


def dump_toml(data: dict[str, Any]) -> str:
    """TOML text of nested dicts of str/int/float/bool/lists (what a scenario holds)."""
    def val(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v) if math.isfinite(v) else ("inf" if v > 0 else "-inf")
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)} = {val(x)}" for k, x in v.items()) + "}"
        raise TypeError(f"cannot write {type(v).__name__} to TOML")

    lines: list[str] = []

    def table(prefix: str, d: dict[str, Any]) -> None:
        scalars = {k: v for k, v in d.items() if not isinstance(v, dict) and not (
            isinstance(v, list) and v and all(isinstance(x, dict) for x in v))}
        if prefix:
            lines.append(f"\n[{prefix}]")
        lines.extend(f"{json.dumps(str(k), ensure_ascii=False)} = {val(v)}" for k, v in scalars.items())
        for k, v in d.items():
            key = f"{prefix}.{json.dumps(str(k), ensure_ascii=False)}" if prefix else json.dumps(str(k), ensure_ascii=False)
            if isinstance(v, dict):
                table(key, v)
            elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                for item in v:
                    lines.append(f"\n[[{key}]]")
                    lines.extend(f"{json.dumps(str(a), ensure_ascii=False)} = {val(b)}" for a, b in item.items())

    table("", data)
    return "\n".join(lines).lstrip("\n") + "\n"


# --------------------------------------------------------------------------- the task per county

#: How far beyond the county's bounding box its map draws the isochrone bands, m.
MAP_MARGIN_M = 5_000.0


def map_box(outline_lonlat: shapely.Geometry, crs: Any, margin_m: float = MAP_MARGIN_M
            ) -> tuple[float, float, float, float]:
    """The box a county's map draws bands in: its outline's bounding box in ``crs`` plus ``margin_m``.

    Parameters
    ----------
    outline_lonlat : shapely.Geometry
        The county's outline, WGS84 lon/lat.
    crs : pyproj.CRS or str
        The run's projected CRS (metres).
    margin_m : float
        Margin around the outline's bounding box, metres.

    Returns
    -------
    tuple of float
        ``(xmin, ymin, xmax, ymax)`` in metres of ``crs``.
    """
    x0, y0, x1, y1 = gpd.GeoSeries([outline_lonlat], crs="EPSG:4326").to_crs(crs).total_bounds
    return float(x0 - margin_m), float(y0 - margin_m), float(x1 + margin_m), float(y1 + margin_m)


def clip_bands(bands: gpd.GeoDataFrame, outline_lonlat: shapely.Geometry,
               margin_m: float = MAP_MARGIN_M) -> gpd.GeoDataFrame:
    """Isochrone bands cut to the county's bounding box plus ``margin_m``, for its map.

    A slice's bands cover everything its facilities reach, far into the buffer (up to
    50 km beyond the border); the county's map needs them only around the county, and
    drawing them over the whole buffer was most of a county task's map time. Travel times
    and every figure are unchanged: only the drawn bands are cut.

    Parameters
    ----------
    bands : geopandas.GeoDataFrame
        Bands of :func:`geoaccess.pipeline.target_isochrones` (projected CRS, metres).
    outline_lonlat : shapely.Geometry
        The county's outline, WGS84 lon/lat.
    margin_m : float
        Margin around the outline's bounding box, metres.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with each band's polygonal parts inside the box (empty polygon where none).
    """
    box = shapely.box(*map_box(outline_lonlat, bands.crs, margin_m))
    cut = []
    for geom in shapely.intersection(bands.geometry.to_numpy(), box):
        parts = shapely.get_parts(shapely.get_parts(geom))  # a collection may hold multipolygons
        polys = parts[shapely.get_type_id(parts) == 3]  # drop lines and points left where a band touches the box
        cut.append(polys[0] if len(polys) == 1 else shapely.multipolygons(polys) if len(polys) else shapely.Polygon())
    out = bands.copy()
    out.geometry = gpd.GeoSeries(cut, index=bands.index, crs=bands.crs)
    return out


def run_county(job: dict[str, Any]) -> dict[str, Any]:
    """Run one county's slice with the county pipeline and record its status (a Dask task).

    Idempotent: the county's outputs are written as one set (swapped in whole) into
    ``job["out"]``, then its status file; a retried task simply writes them again.
    Bad input (:class:`InputError`) is recorded as ``failed`` with the message, not
    raised (a retry could not fix it); any other error is raised so Dask retries.

    Parameters
    ----------
    job : dict
        ``id``, ``name``, ``slice`` (folder with scenario.toml), ``out`` (the county's
        output folder), ``status`` (status file path), ``fingerprint``, ``lang``,
        ``self_contained``, ``basemap``; optionally ``cost`` (the slice's road features,
        which orders the tasks) and ``outline`` (the county's outline, WKB in lon/lat: its
        map draws the isochrone bands only around it, see :func:`clip_bands`).

    Returns
    -------
    dict
        The status record also written to ``job["status"]``: besides the county's results,
        ``seconds`` (wall) and ``cpu_seconds`` (CPU of the worker process, all its threads)
        of the task, ``started`` (Unix time), ``threads`` (the worker's thread budget,
        ``OMP_NUM_THREADS``, or None) and ``peak_rss_mb``.
    """
    from ..outputset import check_output_dir
    from ..pipeline import run_scenario, write_outputs
    from ..scenario import load_scenario

    status = Path(job["status"])
    running = status.with_suffix(".running")
    write_json(running, {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
    t0, c0 = time.perf_counter(), time.process_time()
    budget = os.environ.get("OMP_NUM_THREADS")
    record = {"id": job["id"], "name": job["name"], "fingerprint": job["fingerprint"], "pid": os.getpid(),
              "host": socket.gethostname(), "started": time.time(),
              "threads": int(budget) if budget and budget.isdigit() else None}
    try:
        scenario = load_scenario(Path(job["slice"]) / "scenario.toml")
        out = check_output_dir(job["out"])  # as run_scenario does, before computing
        outline = shapely.from_wkb(job["outline"]) if job.get("outline") else None
        # The bands are computed only around the county (its map's box); clip_bands makes the exact cut.
        result = run_scenario(scenario, write=False,
                              map_extent=None if outline is None else lambda crs: map_box(outline, crs))
        if outline is not None:
            result.isochrones = {k: clip_bands(v, outline) for k, v in result.isochrones.items()}
        result.files = write_outputs(result, out, lang=job.get("lang") or scenario.map["lang"],
                                     self_contained=job.get("self_contained"), basemap=job.get("basemap"))
        record.update(status="ok", note="", targets=[e.to_dict() | {"units": None} for e in result.evaluations],
                      warnings=result.warnings, population=float(result.demand["pop"].sum()),
                      nodes=int(result.network.n_nodes))
    except InputError as exc:
        record.update(status="failed", note=str(exc), targets=[], warnings=[])
    record["seconds"] = time.perf_counter() - t0
    # CPU beside wall: on a shared machine the gap between them is time spent waiting for a core.
    record["cpu_seconds"] = time.process_time() - c0
    record["peak_rss_mb"] = _peak_rss_mb()  # of the worker process so far: what it needed at most
    write_json(status, record)
    running.unlink(missing_ok=True)
    return record


def _peak_rss_mb() -> float | None:
    """Peak resident memory of this process, MB (None where the OS does not say).

    Linux: ``VmHWM`` of ``/proc/self/status``. Not ``ru_maxrss``: Linux carries that across
    ``exec``, so a worker spawned (fork + exec) by a process that had read the whole province
    would report the parent's peak as its own.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Windows
        return None
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / 1024.0 / 1024.0
