"""Region scenario files: the ``[region]`` keys, the county template, the default buffer,
the county polygons (checked and in WGS84)."""

from __future__ import annotations

import copy
import warnings as _warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from ..coords import crs_kind, to_wgs84_lonlat
from ..errors import InputError
from ..io import VECTOR_SUFFIXES, read_vector
from ..scenario import Scenario, read_toml, scenario_from_dict

#: Upper bound of the default buffer, km: a 30-minute target at 120 km/h would ask for 60 km.
BUFFER_CAP_KM = 50.0
#: Fastest legal speed in China (expressways), km/h: where ``maxspeed`` tags are used.
MAX_LEGAL_KMH = 120.0
#: County statuses that count as finished (a re-run skips them).
DONE = ("ok", "no_roads", "no_people", "no_facilities")
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
    text = p.read_bytes()  # kept whole on the config (its digest names the run)
    raw = read_toml(p, "region file")
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
    base = p.resolve().parent  # absolute: scenario_from_dict joins the template's paths to it again
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
    from ..network import load_speeds

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

def read_units(region: Region, warn_to: list[str] | None = None) -> gpd.GeoDataFrame:
    """The county polygons in WGS84 with columns ``id``, ``name`` and ``geometry``.

    Invalid outlines (self-intersecting) are repaired with ``shapely.make_valid`` and named
    in a warning, appended to ``warn_to`` when given (the run's warnings, shown by the CLI
    and kept in region_summary.json), else issued as a Python warning.

    Raises
    ------
    InputError
        No counties, no id or name column (the columns are listed), empty or duplicate
        ids or ids that cannot name a folder (``a/b``, ``..``; rows named), missing or
        non-polygon geometries, a projected file declared as GCJ-02 / BD-09 lon/lat, no
        CRS at all, or coordinates that are not degrees.
    """
    from ..outputset import safe_folder_name

    what = f"county polygon file {region.units.name}"
    gdf = read_vector(region.units, what, layer=region.layer)
    if len(gdf) == 0:
        raise InputError(f"{what} has no counties (no features): give the file with the county polygons as "
                         "[region] units")
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
    # Ids name folders (slices/<id>/, counties/<id>/): "../x" or "a/b" would write outside them.
    unsafe = np.flatnonzero([safe_folder_name(i) != i for i in ids])
    if len(unsafe):
        listed = ", ".join(f"{ids.iloc[k]!r} (row {k + 1})" for k in unsafe[:10])
        raise InputError(f"{what}: id(s) {listed} in column {region.id_column!r} cannot name a folder (a county's "
                         "outputs go to counties/<id>/; ids may not hold / \\ : * ? \" < > |, control characters, "
                         "or begin or end with a dot or space). Give [region] id a column of plain codes such as "
                         "the adcode, or correct those rows.")
    geom = gdf.geometry
    bad = (geom.isna() | geom.is_empty | ~geom.geom_type.isin(["Polygon", "MultiPolygon"])).to_numpy()
    if bad.any():
        raise InputError(f"{what}: row(s) {', '.join(str(i + 1) for i in np.flatnonzero(bad)[:10])} have no "
                         "polygon geometry; each county needs its outline")
    crs = region.crs
    file_crs = gdf.crs
    if crs is not None:
        kind = crs_kind(crs)
        if kind in ("gcj02", "bd09") and file_crs is not None and not file_crs.is_geographic:
            raise InputError(f"{what} is in the projected CRS {file_crs.to_string()} (metres), but [region] crs = "
                             f"{crs!r} says longitude/latitude. Remove crs from [region] (the file's own CRS is "
                             "then used) or reproject the file to lon/lat.")
        if kind == "pyproj" and file_crs is not None and not pyproj.CRS.from_user_input(crs).equals(file_crs):
            raise InputError(f"{what} says it is in {file_crs.to_string()}, [region] crs says {crs}: "
                             "remove one of them")
    elif file_crs is None:
        raise InputError(f"{what} has no CRS: set [region] crs (\"EPSG:4326\", \"GCJ-02\" for Amap/Tencent "
                         "coordinates, \"BD-09\" for Baidu)")
    else:
        crs = file_crs.to_string()
    xy = shapely.get_coordinates(geom.to_numpy())
    degrees = crs_kind(crs) != "pyproj" or pyproj.CRS.from_user_input(crs).is_geographic
    if degrees and not (np.all(np.abs(xy[:, 0]) <= 180) and np.all(np.abs(xy[:, 1]) <= 90)):
        raise InputError(f"{what}: coordinates up to ({np.abs(xy[:, 0]).max():,.0f}, {np.abs(xy[:, 1]).max():,.0f}) "
                         f"are not degrees, although read as {crs}; the file's CRS label is wrong. Set [region] "
                         "crs to its real CRS (e.g. \"EPSG:3857\") or reproject the file.")
    lon, lat = to_wgs84_lonlat(xy[:, 0], xy[:, 1], crs)
    wgs = shapely.set_coordinates(geom.to_numpy().copy(), np.column_stack([lon, lat]))
    invalid = ~shapely.is_valid(wgs)
    if invalid.any():
        wgs[invalid] = shapely.make_valid(wgs[invalid])
        message = (f"{what}: repaired the invalid outline(s) of {', '.join(ids[invalid][:10])} (self-intersecting "
                   "boundaries) with shapely.make_valid; check them in a GIS")
        if warn_to is None:
            _warnings.warn(message, stacklevel=2)
        else:
            warn_to.append(message)
    return gpd.GeoDataFrame({"id": ids.to_numpy(), "name": gdf[region.name_column].astype(str).to_numpy()},
                            geometry=wgs, crs="EPSG:4326")
