"""Province scale: every county of a region in one run, on Dask, with cross-border buffers.

A region scenario (TOML) is a county scenario whose ``[scenario]`` section is replaced by
``[region]``, naming the county polygons::

    [region]
    name = "guizhou"
    units = "counties.geojson"     # county polygons
    id = "adcode"                  # id column (unique)
    name_column = "district"       # name column
    crs = "GCJ-02"                 # coordinates of the units file, when its own label is wrong or missing
    buffer_km = 30                 # optional; default below

The ``[network]``, ``[facilities]``, ``[population]`` and ``[admin]`` files are either
province-wide (cut here, once, per county) or per-county file patterns holding ``{id}``
(``roads/{id}.osm.pbf``), used as they are. The targets and every other key are those of
a county scenario.

How a county is cut (:func:`partition`): roads and facilities within ``buffer_km`` of the
county's outline are kept, so a resident served by the neighbour's hospital counts as
covered; people are kept only inside the county (a demand point lies in the first county,
in file order, whose polygon holds it), so every person is counted in one county. The
default buffer is the largest threshold of the targets times the fastest speed of the
modes they use (:func:`default_buffer_km`), capped at :data:`BUFFER_CAP_KM`: any facility
within a target's threshold then lies inside the buffer, so ``share_within`` verdicts are
those of a province-wide network. Each slice is written with a county scenario
(``slices/<id>/scenario.toml``) that ``geoaccess run`` runs as it is; the Dask task per
county (:func:`run_county`) does exactly that, with :func:`geoaccess.pipeline.run_scenario`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import socket
import time
import tomllib
import warnings as _warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .coords import crs_kind, to_wgs84_lonlat, utm_crs_for
from .errors import InputError
from .io import VECTOR_SUFFIXES, read_vector, write_atomic, write_json
from .scenario import Scenario, scenario_from_dict

#: Upper bound of the default buffer, km: a 30-minute target at 120 km/h would ask for 60 km.
BUFFER_CAP_KM = 50.0
#: Fastest legal speed in China (expressways), km/h: where ``maxspeed`` tags are used.
MAX_LEGAL_KMH = 120.0
#: County statuses that count as finished (a re-run skips them).
DONE = ("ok", "no_roads", "no_people")
_PATH_KEYS = (("network", "source"), ("facilities", "path"), ("population", "path"), ("admin", "path"))
_REGION_KEYS = {"name": str, "units": str, "id": str, "name_column": str, "crs": str, "buffer_km": (int, float),
                "layer": str}


@dataclass
class Region:
    """A parsed region scenario: the ``[region]`` keys and the county template.

    ``template`` is the county scenario as a dict (paths absolute, ``{id}`` patterns
    kept); ``scenario`` is it checked with :func:`geoaccess.scenario.scenario_from_dict`.
    """

    path: Path
    name: str
    units: Path
    id_column: str
    name_column: str
    crs: str | None
    buffer_km: float
    buffer_note: str
    layer: str | None
    template: dict[str, Any]
    scenario: Scenario
    text: bytes = field(repr=False, default=b"")


def load_region(path: str | Path) -> Region:
    """Read and check a region scenario file.

    Parameters
    ----------
    path : str or Path
        The region TOML file. Relative paths in it resolve against its folder.

    Returns
    -------
    Region

    Raises
    ------
    InputError
        Not TOML, no ``[region]`` section, an unknown or mistyped ``[region]`` key, a
        county-scenario key that is wrong (as ``geoaccess run`` reports it), a
        ``per_1000`` target, or an OSM download instead of a file.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"region file not found: {p}")
    text = p.read_bytes()
    try:
        raw = tomllib.loads(text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"region file {p.name} is not valid UTF-8 TOML: {exc}") from None
    if "region" not in raw:
        raise InputError(f"{p.name} has no [region] section: a region file names the county polygons with "
                         "[region] units = \"counties.geojson\", id = \"<id column>\", name_column = \"<name column>\"")
    if "scenario" in raw:
        raise InputError(f"{p.name}: a region file has [region] instead of [scenario]; move name into [region]")
    reg = raw.pop("region")
    for key, value in reg.items():
        if key not in _REGION_KEYS:
            raise InputError(f"{p.name}: unknown key [region] {key}; allowed: {', '.join(_REGION_KEYS)}")
        if isinstance(value, bool) or not isinstance(value, _REGION_KEYS[key]):
            raise InputError(f"{p.name}: [region] {key} has the wrong type ({type(value).__name__})")
    for key in ("units", "id", "name_column"):
        if key not in reg:
            raise InputError(f"{p.name}: [region] needs {key} = \"...\" (units: the county polygon file; id and "
                             "name_column: its id and name columns)")
    base = p.parent
    template = copy.deepcopy(raw)
    for section, key in _PATH_KEYS + (("targets", "file"),):
        value = template.get(section, {}).get(key)
        if isinstance(value, str):
            template[section][key] = str((base / value).expanduser()) if not Path(value).is_absolute() else value
    if "place" in template.get("network", {}) or "bbox" in template.get("network", {}):
        raise InputError(f"{p.name}: [network] place/bbox downloads are not cut per county; download once and "
                         "give the file as [network] source")
    template.get("output", {}).pop("dir", None)
    name = reg.get("name", p.stem)
    scenario = scenario_from_dict({**copy.deepcopy(template), "scenario": {"name": name}}, base_dir=base, path=p)
    ratio = [t.id for t in scenario.targets.values() if t.metric == "per_1000"]
    if ratio:
        raise InputError(f"{p.name}: target(s) {', '.join(ratio)} are resource ratios (per_1000); run them per "
                         "county with geoaccess run: a county's buffer holds its neighbours' beds, which a "
                         "ratio must not count. Remove them from [targets] use.")
    source = template["network"]["source"]
    if "{id}" not in source and not source.lower().endswith(VECTOR_SUFFIXES):
        raise InputError(f"{p.name}: [network] source {Path(source).name} is an OpenStreetMap file; a province-wide "
                         "one is not cut here. Give per-county extracts as a pattern, e.g. source = "
                         "\"roads/{id}.osm.pbf\" (osmium extract -c config.json makes them in one pass, each with "
                         "its buffer), or a roads vector file (GeoPackage, Shapefile, FlatGeobuf).")
    if "buffer_km" in reg:
        buffer_km = float(reg["buffer_km"])
        if not 0 <= buffer_km <= 500:
            raise InputError(f"{p.name}: [region] buffer_km must be between 0 and 500 km, got {buffer_km:g}")
        note = "buffer_km set in the region file"
    else:
        buffer_km, note = default_buffer_km(scenario)
    return Region(path=p, name=name, units=Path(_abs(base, reg["units"])), id_column=reg["id"],
                  name_column=reg["name_column"], crs=reg.get("crs"), buffer_km=buffer_km, buffer_note=note,
                  layer=reg.get("layer"), template=template, scenario=scenario, text=text)


def _abs(base: Path, value: str) -> str:
    return value if Path(value).is_absolute() else str(base / value)


def default_buffer_km(scenario: Scenario) -> tuple[float, str]:
    """The default cross-border buffer: largest threshold × fastest speed of the modes used.

    Parameters
    ----------
    scenario : Scenario
        Its targets (threshold minutes, modes) and ``[network] speeds``.

    Returns
    -------
    (float, str)
        Buffer in km (capped at :data:`BUFFER_CAP_KM`) and how it was found.
    """
    from .network import load_speeds

    speeds = load_speeds(scenario.network["speeds"])
    best = (0.0, "", "")
    for t in scenario.targets.values():
        for mode in t.modes:
            s = speeds[mode]
            kmh = max(max(s.kmh.values()), MAX_LEGAL_KMH * s.maxspeed_factor if s.use_maxspeed else 0.0)
            km = t.threshold_min / 60.0 * kmh
            if km > best[0]:
                best = (km, t.id, f"{t.threshold_min:g} min × {kmh:g} km/h ({mode})")
    km, tid, how = best
    if km > BUFFER_CAP_KM:
        return BUFFER_CAP_KM, f"{tid}: {how} = {km:.0f} km, capped at {BUFFER_CAP_KM:g} km"
    return km, f"{tid}: {how} = {km:.1f} km"


# --------------------------------------------------------------------------- county polygons

def read_units(region: Region) -> gpd.GeoDataFrame:
    """The county polygons in WGS84 with columns ``id``, ``name`` and ``geometry``.

    Raises
    ------
    InputError
        No id or name column (the columns are listed), empty or duplicate ids (rows
        named), missing or non-polygon geometries, a projected file declared as GCJ-02 /
        BD-09 lon/lat, no CRS at all, or coordinates that are not degrees.
    """
    what = f"county polygon file {region.units.name}"
    gdf = read_vector(region.units, what, layer=region.layer)
    for key, col in (("id", region.id_column), ("name_column", region.name_column)):
        if col not in gdf.columns:
            raise InputError(f"{what} has no column {col!r} ([region] {key}); its columns: "
                             f"{', '.join(c for c in map(str, gdf.columns) if c != gdf.geometry.name)}. "
                             f"Set [region] {key} to one of them.")
    ids = gdf[region.id_column]
    blank = ids.isna() | (ids.astype(str).str.strip() == "")
    if blank.any():
        raise InputError(f"{what}: empty {region.id_column!r} in row(s) "
                         f"{', '.join(str(i + 1) for i in np.flatnonzero(blank)[:10])}; give every county an id")
    ids = ids.astype(str).str.strip()
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):
        rows = "; ".join(f"{v} in rows {', '.join(str(i + 1) for i in np.flatnonzero(ids == v))}"
                         for v in dict.fromkeys(dup))
        raise InputError(f"{what}: duplicate ids in column {region.id_column!r}: {rows}. Ids must be unique.")
    geom = gdf.geometry
    bad = (geom.isna() | geom.is_empty | ~geom.geom_type.isin(["Polygon", "MultiPolygon"])).to_numpy()
    if bad.any():
        raise InputError(f"{what}: row(s) {', '.join(str(i + 1) for i in np.flatnonzero(bad)[:10])} have no "
                         "polygon geometry; each county needs its outline")
    crs = region.crs
    file_crs = gdf.crs
    if crs is not None:
        kind = crs_kind(crs)
        if file_crs is not None and not file_crs.is_geographic:
            raise InputError(f"{what} is in the projected CRS {file_crs.to_string()} (metres), but [region] crs = "
                             f"{crs!r} says longitude/latitude. Remove crs from [region] (the file's own CRS is "
                             "then used) or reproject the file to lon/lat.")
        if kind == "epsg" and file_crs is not None and file_crs.to_epsg() not in (None, 4326, 4490) \
                and f"EPSG:{file_crs.to_epsg()}" != crs.upper():
            raise InputError(f"{what} says it is in {file_crs.to_string()}, [region] crs says {crs}: "
                             "remove one of them")
    elif file_crs is None:
        raise InputError(f"{what} has no CRS: set [region] crs (\"EPSG:4326\", \"GCJ-02\" for Amap/Tencent "
                         "coordinates, \"BD-09\" for Baidu)")
    else:
        crs = file_crs.to_string()
    xy = shapely.get_coordinates(geom.to_numpy())
    lon, lat = to_wgs84_lonlat(xy[:, 0], xy[:, 1], crs)
    if not (np.all(np.abs(lon) <= 180) and np.all(np.abs(lat) <= 90)):
        raise InputError(f"{what}: coordinates up to ({np.abs(xy[:, 0]).max():,.0f}, {np.abs(xy[:, 1]).max():,.0f}) "
                         f"are not degrees, although read as {crs}; the file's CRS label is wrong. Set [region] "
                         "crs to its real CRS (e.g. \"EPSG:3857\") or reproject the file.")
    wgs = shapely.set_coordinates(geom.to_numpy().copy(), np.column_stack([lon, lat]))
    invalid = ~shapely.is_valid(wgs)
    if invalid.any():
        wgs[invalid] = shapely.make_valid(wgs[invalid])
        _warnings.warn(f"{what}: repaired invalid outline(s) of {', '.join(ids[invalid][:10])} with make_valid",
                       stacklevel=2)
    return gpd.GeoDataFrame({"id": ids.to_numpy(), "name": gdf[region.name_column].astype(str).to_numpy()},
                            geometry=wgs, crs="EPSG:4326")


# --------------------------------------------------------------------------- partitioning

def fingerprint(region: Region, ids: list[str]) -> str:
    """A digest of what a county's results depend on: the region file, the input files'
    sizes and times, the buffer and the geoaccess version (resume skips a county only
    when it matches)."""
    from . import __version__

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

    Returns
    -------
    dict
        County id → ``{"status": "ready" | "no_roads" | "no_people", "note", "roads",
        "facilities", "population", "dir"}``.
    """
    say = say or (lambda msg: None)
    fp = fingerprint(region, ids)
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
    from .demand import population_from_file
    from .facilities import facilities_from_file

    tpl = region.template
    c = units.geometry.union_all().centroid
    work = utm_crs_for(c.x, c.y)
    own_m = todo.to_crs(work).geometry.to_numpy()
    all_m = units.to_crs(work).geometry.to_numpy()
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
        pts = demand.to_crs(work).geometry.to_numpy()
        # each point in the first county (file order) holding it: every person counted once
        county_idx, pt_idx = shapely.STRtree(pts).query(all_m, predicate="intersects")
        first = np.full(len(pts), -1)
        order = np.lexsort((county_idx, pt_idx))
        pt_sorted, county_sorted = pt_idx[order], county_idx[order]
        head = np.r_[True, pt_sorted[1:] != pt_sorted[:-1]]
        first[pt_sorted[head]] = county_sorted[head]
        position = {cid: k for k, cid in enumerate(units["id"])}
        out = gpd.GeoDataFrame({"pop": demand["pop"].to_numpy(float)}, geometry=demand.geometry.to_numpy(),
                               crs=demand.crs).to_crs("EPSG:4326")
        for cid in todo["id"]:
            mine = first == position[cid]
            info[cid]["population"] = float(out["pop"].to_numpy()[mine].sum())
            _write_fgb(out[mine], root / "slices" / cid / "population.fgb")
            slices[cid]["population"] = {"path": "population.fgb", "pop": "pop", "crs": "EPSG:4326"}
        outside = first < 0
        if outside.any():
            info["_outside"] = {"points": int(outside.sum()), "population": float(out["pop"].to_numpy()[outside].sum())}
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
        elif info[cid].get("population") == 0:
            info[cid].update(status="no_people", note=f"nobody lives in the county according to "
                                                      f"{Path(tpl['population']['path']).name}")
        with write_atomic(d / "scenario.toml") as fh:
            fh.write(dump_toml({k: s[k] for k in ["scenario"] + [k for k in s if k != "scenario"]}))
    return info


def _write_fgb(gdf: gpd.GeoDataFrame, path: Path) -> None:
    """Write a slice as FlatGeobuf (fast to write and read, keeps every column)."""
    from .io import write_with

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
        ``self_contained``, ``basemap``.

    Returns
    -------
    dict
        The status record also written to ``job["status"]``.
    """
    from .pipeline import run_scenario
    from .scenario import load_scenario

    status = Path(job["status"])
    running = status.with_suffix(".running")
    write_json(running, {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
    t0 = time.perf_counter()
    record = {"id": job["id"], "name": job["name"], "fingerprint": job["fingerprint"], "pid": os.getpid(),
              "host": socket.gethostname()}
    try:
        scenario = load_scenario(Path(job["slice"]) / "scenario.toml")
        result = run_scenario(scenario, out_dir=job["out"], lang=job.get("lang"),
                              self_contained=job.get("self_contained"), basemap=job.get("basemap"))
        record.update(status="ok", note="", targets=[e.to_dict() | {"units": None} for e in result.evaluations],
                      warnings=result.warnings, population=float(result.demand["pop"].sum()),
                      nodes=int(result.network.n_nodes))
    except InputError as exc:
        record.update(status="failed", note=str(exc), targets=[], warnings=[])
    record["seconds"] = time.perf_counter() - t0
    write_json(status, record)
    running.unlink(missing_ok=True)
    return record
