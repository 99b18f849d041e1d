"""Health-facility tables: reading a county's own facility list or OpenStreetMap.

Every reader returns a GeoDataFrame of points in EPSG:4326 with the standard columns

``facility_id`` (str, unique), ``name``, ``type`` (the raw type value), ``kind`` (the
vocabulary id from ``data/facility_types.toml``, or ``"other"``), ``capacity`` (float,
NaN when unknown), ``lon`` and ``lat`` (WGS84 degrees of the point), ``geometry``;
file readers add ``kind_rule``, saying how each kind was found (see
:func:`classify_facilities`).

Facility lists exported from Amap or Baidu are in GCJ-02 / BD-09; pass ``crs="GCJ-02"``
or ``crs="BD-09"`` and the points are shifted to WGS84 (see :mod:`geoaccess.coords`).
Coordinates may be decimal degrees or degrees-minutes-seconds text
(:func:`geoaccess.points.parse_degrees`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd

from .coords import crs_kind
from .errors import InputError
from .io import TABLE_SUFFIXES, VECTOR_SUFFIXES, check_input_file, read_table_lines, read_vector, require_columns
from .facilitytypes import (OTHER_KIND, category_codes, check_type_mapping, classify_facilities, kind_from_type,
                            load_facility_types, name_rules, normalise_type, type_warnings)
from .points import lonlat_points, points_from_vector

__all__ = ["OTHER_KIND", "STANDARD_COLUMNS", "category_codes", "check_type_mapping", "classify_facilities",
           "facilities_from_file", "facilities_from_osm", "kind_from_type", "load_facility_types", "name_rules",
           "normalise_type", "type_warnings"]

STANDARD_COLUMNS = ["facility_id", "name", "type", "kind", "capacity", "lon", "lat"]

# OSM tag values read as health facilities, and the `type` each becomes; the types are
# aliases in the facility vocabulary (centre -> community_health_centre, ...).
OSM_AMENITY_TYPES = {"hospital": "hospital", "clinic": "clinic", "doctors": "doctors", "pharmacy": "pharmacy"}
OSM_HEALTHCARE_TYPES = {"hospital": "hospital", "clinic": "clinic", "doctor": "doctors", "centre": "centre",
                        "pharmacy": "pharmacy"}

def facilities_from_file(path: str | os.PathLike, x: str = "lon", y: str = "lat", type: str = "type",
                         name: str | None = "name", capacity: str | None = None, id: str | None = None,
                         crs: str = "EPSG:4326", sheet: str | int | None = None, layer: str | None = None,
                         encoding: str | None = None, types: Mapping[str, str] | None = None,
                         code: str | None = None, classify_names: bool = True) -> gpd.GeoDataFrame:
    """Read a facility list from .csv, .xlsx, GeoJSON, GeoPackage or Shapefile.

    Parameters
    ----------
    path : str or path-like
        The facility file.
    x, y : str
        Columns with longitude/latitude (or easting/northing in metres for a projected
        ``crs``); tables only, vector files use their geometry. Degrees may be decimal
        or degrees-minutes-seconds text (``116°48'30.5"E``, ``东经116度48分30秒``; see
        :func:`geoaccess.points.parse_degrees`).
    type : str
        Column with the facility type; mapped to ``kind`` by :func:`classify_facilities`.
    name : str or None
        Column with the facility name; None when the file has no names.
    capacity : str, optional
        Column with a capacity (beds, staff, ...); non-negative numbers, empty = unknown.
    id : str, optional
        Column with unique facility ids; by default ids are "F0001", "F0002", ... in
        file order.
    crs : str
        CRS of x/y: "EPSG:4326" (default), "CGCS2000", "GCJ-02" (Amap/Tencent), "BD-09"
        (Baidu) or any EPSG code. For vector files the file's own CRS is used, unless
        the file has none or ``crs`` is GCJ-02/BD-09 (Amap/Baidu exports are labelled
        EPSG:4326 but hold shifted coordinates).
    sheet : str or int, optional
        Worksheet of an .xlsx file (first by default).
    layer : str, optional
        Layer of a GeoPackage.
    encoding : str, optional
        Force the text encoding of a CSV or Shapefile (default: UTF-8, falling back to GBK).
    types : mapping of str to str, optional
        The user's type values mapped to kinds (``{"村卫生所": "village_clinic"}``); they
        take precedence over the built-in vocabulary.
    code : str, optional
        Column with WS 218-2002 category codes (``A1``, ``B1``, ``C21``...).
    classify_names : bool
        When the type matches nothing, try the name rules on the facility name.

    Returns
    -------
    geopandas.GeoDataFrame
        Points in EPSG:4326 with the standard columns (see module docstring) first,
        then ``kind_rule`` and all other original columns. Polygons become their
        representative point (a point guaranteed to lie inside). The x/y columns are
        replaced by ``lon``/``lat`` in WGS84; original columns named like a standard
        column are replaced by it.

    Raises
    ------
    InputError
        Missing file or unknown suffix, no rows, missing x/y/type/name/capacity/id/code
        column, missing, unreadable or invalid coordinates or geometries (file lines
        and values listed), negative or non-numeric capacity, missing or duplicate ids,
        a mapping to an unknown kind.
    """
    what = "facility file"
    p = check_input_file(path, what, TABLE_SUFFIXES + VECTOR_SUFFIXES)
    crs_kind(crs)  # fail on an unknown crs before reading the file
    if types:
        check_type_mapping(types)
    text_columns = tuple(c for c in (id, type, name, code) if c is not None)
    columns = {"type": type, "name": name, "capacity": capacity, "id": id, "code": code}
    if p.name.lower().endswith(TABLE_SUFFIXES):
        df, lines = read_table_lines(p, what, sheet=sheet, encoding=encoding, text_columns=text_columns)
        require_columns(df, what, {"x": x, "y": y, **columns})
        points = lonlat_points(df[x].to_numpy(dtype=object), df[y].to_numpy(dtype=object), crs,
                               f"{what} {p.name} (columns {x!r}, {y!r})", lines=lines)
        df = df.drop(columns=[x, y])
    else:
        gdf = read_vector(p, what, layer=layer, encoding=encoding)
        if gdf.empty:
            raise InputError(f"{what} has no rows: {p}")
        require_columns(gdf, what, columns)
        points = points_from_vector(gdf, crs, f"{what} {p.name}")
        df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        lines = None
    df = df.reset_index(drop=True)
    names = df[name] if name is not None else None
    classes = classify_facilities(df[type], names if classify_names else None, types,
                                  df[code] if code is not None else None)
    std = pd.DataFrame({
        "facility_id": _ids(df, id, what, p.name, lines),
        "name": names.astype(object) if names is not None else pd.Series(None, index=df.index, dtype=object),
        "type": df[type].astype(object),
        "kind": classes["kind"],
        "capacity": _capacity(df, capacity, what, p.name, lines),
        "lon": points.x.to_numpy(),
        "lat": points.y.to_numpy(),
        "kind_rule": classes["kind_rule"],
    })
    own = {type, name, capacity, id} | set(std.columns)
    rest = df.drop(columns=[c for c in df.columns if c in own])
    return gpd.GeoDataFrame(pd.concat([std, rest], axis=1), geometry=points.to_numpy(), crs="EPSG:4326")


def _row_list(mask: np.ndarray, lines: np.ndarray | None) -> str:
    """'rows 1, 2 (0-based; file lines 3, 4)' for the True positions of ``mask`` (first 10)."""
    idx = np.flatnonzero(mask)[:10]
    text = "rows " + ", ".join(str(i) for i in idx)
    if lines is not None:
        text += f" (0-based; file line{'s' if idx.size > 1 else ''} {', '.join(str(int(n)) for n in lines[idx])})"
    return text


def _ids(df: pd.DataFrame, id: str | None, what: str, fname: str, lines: np.ndarray | None = None) -> pd.Series:
    if id is None:
        width = max(4, len(str(len(df))))
        return pd.Series([f"F{i:0{width}d}" for i in range(1, len(df) + 1)], index=df.index, dtype=object)
    ids = df[id].astype("string").str.strip()
    missing = (ids.isna() | (ids == "")).to_numpy(dtype=bool)
    if missing.any():
        raise InputError(f"{what} {fname} has empty ids in column {id!r}, {_row_list(missing, lines)}; "
                         "fill them or set id=None")
    dup = ids[ids.duplicated(keep=False)]
    if not dup.empty:
        shown = ", ".join(map(repr, dup.unique()[:10]))
        where = f" ({_row_list(ids.duplicated(keep=False).to_numpy(), lines)})"
        raise InputError(f"{what} {fname} has duplicate ids in column {id!r}: {shown}{where}; ids must be unique")
    return ids.astype(object)


def _capacity(df: pd.DataFrame, capacity: str | None, what: str, fname: str,
              lines: np.ndarray | None = None) -> pd.Series:
    if capacity is None:
        return pd.Series(np.nan, index=df.index, dtype=float)
    raw = df[capacity]
    values = pd.to_numeric(raw, errors="coerce")
    blank = raw.isna() | (raw.astype("string").str.strip() == "")
    bad = ((values.isna() & ~blank) | (values < 0)).to_numpy(dtype=bool)
    if bad.any():
        shown = ", ".join(repr(v) for v in raw[bad].head(5))
        raise InputError(f"{what} {fname} has non-numeric or negative values in capacity column {capacity!r},"
                         f" {_row_list(bad, lines)}: {shown}; use non-negative numbers, or leave the cell empty"
                         " when unknown")
    return values.astype(float)


def facilities_from_osm(path: str | os.PathLike) -> gpd.GeoDataFrame:
    """Health facilities from an OpenStreetMap .osm.pbf extract.

    Reads features tagged ``amenity`` = hospital / clinic / doctors / pharmacy or
    ``healthcare`` = hospital / clinic / doctor / centre / pharmacy, as nodes and as
    building polygons (ways and multipolygon relations). Other ``healthcare`` values
    (laboratory, physiotherapist, blood donation, ...) are not places of care for the
    plan targets and are left out. ``type`` comes from ``amenity`` when it is one of
    the values above, else from ``healthcare`` (``doctor`` -> ``doctors``), so that
    :func:`kind_from_type` gives hospital, clinic, doctors, community_health_centre
    or pharmacy.

    Duplicates: mappers often tag a facility both as a node and on its building. A
    node that lies inside a facility polygon is dropped as the same facility when the
    two names match (one contains the other, case-insensitively, e.g. "Centre Cardio
    Thoracique" inside "Centre Cardio Thoracique de Monaco") or, when either has no
    name, when their types are equal. The polygon is kept; it takes the node's name
    if it has none, and ``emergency`` is true if either was tagged ``emergency=yes``.

    Parameters
    ----------
    path : str or path-like
        An .osm.pbf file.

    Returns
    -------
    geopandas.GeoDataFrame
        Points in EPSG:4326 (polygons -> representative point), sorted by OSM type and
        id, with the standard columns (``facility_id`` is "node/123", "way/456",
        "relation/789", stable across runs; ``capacity`` is NaN) plus ``osm_id`` (int),
        ``osm_type``, ``emergency`` (bool), ``amenity`` and ``healthcare`` (raw tags).

    Raises
    ------
    InputError
        Missing or unreadable file, or no health facilities in it.
    """
    import pyrosm  # heavy import; only needed for OSM input

    p = check_input_file(path, "OSM file", (".osm.pbf", ".pbf"))
    try:
        pois = pyrosm.OSM(str(p)).get_pois(custom_filter={
            "amenity": list(OSM_AMENITY_TYPES), "healthcare": list(OSM_HEALTHCARE_TYPES)})
    except Exception as exc:  # pyrosm raises bare errors on corrupt files
        raise InputError(f"could not read OSM file {p}: {exc}") from None
    if pois is None or pois.empty:
        raise InputError(f"OSM file {p} has no health facilities (amenity=hospital/clinic/doctors/pharmacy or "
                         "healthcare=*); use facilities_from_file with the county's own facility list")
    pois = pois.reset_index(drop=True)
    for col in ("amenity", "healthcare", "name", "tags", "emergency"):
        if col not in pois.columns:
            pois[col] = None
    facility_type = (pois["amenity"].map(OSM_AMENITY_TYPES)
                     .fillna(pois["healthcare"].map(OSM_HEALTHCARE_TYPES)))
    emergency = pois["emergency"].astype("string").str.strip().str.lower().eq("yes").fillna(False)
    emergency |= pois["tags"].astype("string").str.contains(r'"emergency"\s*:\s*"yes"', regex=True).fillna(False)
    gdf = gpd.GeoDataFrame({
        "type": facility_type,
        "name": pois["name"].astype(object),
        "osm_id": pois["id"].astype("int64"),
        "osm_type": pois["osm_type"].astype(str),
        "emergency": emergency.astype(bool),
        "amenity": pois["amenity"].astype(object),
        "healthcare": pois["healthcare"].astype(object),
    }, geometry=pois.geometry, crs="EPSG:4326")
    gdf = _drop_tagged_twice(gdf[gdf["type"].notna()])
    gdf = gdf.sort_values(["osm_type", "osm_id"]).reset_index(drop=True)
    points = gdf.geometry.where(gdf.geom_type == "Point", gdf.geometry.representative_point())
    std = pd.DataFrame({
        "facility_id": gdf["osm_type"] + "/" + gdf["osm_id"].astype(str),
        "name": gdf["name"],
        "type": gdf["type"],
        "kind": kind_from_type(gdf["type"]),
        "capacity": np.nan,
        "lon": points.x,
        "lat": points.y,
    })
    rest = gdf[["osm_id", "osm_type", "emergency", "amenity", "healthcare"]]
    return gpd.GeoDataFrame(pd.concat([std, rest], axis=1), geometry=points.to_numpy(), crs="EPSG:4326")


def _drop_tagged_twice(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Drop nodes that duplicate the facility polygon they lie in (see facilities_from_osm)."""
    is_point = (gdf.geom_type == "Point").to_numpy()
    nodes, polys = gdf[is_point], gdf[~is_point]
    if nodes.empty or polys.empty:
        return gdf
    pairs = gpd.sjoin(nodes[["name", "type", "emergency", "geometry"]],
                      polys[["name", "type", "geometry"]], predicate="within", how="inner")
    name_n = pairs["name_left"].astype("string").str.strip().str.casefold()
    name_p = pairs["name_right"].astype("string").str.strip().str.casefold()
    both = (name_n.notna() & name_p.notna()).to_numpy()
    a = name_n.fillna("").to_numpy(dtype=str)
    b = name_p.fillna("").to_numpy(dtype=str)
    contains = (np.char.find(a, b) >= 0) | (np.char.find(b, a) >= 0)
    same_type = (pairs["type_left"] == pairs["type_right"]).to_numpy()
    dup = pairs[np.where(both, contains, same_type)]
    if dup.empty:
        return gdf
    dup = dup[~dup.index.duplicated()]  # a node inside nested polygons merges into the first
    out = gdf.drop(index=dup.index).copy()
    target = dup["index_right"].to_numpy()
    merged = pd.DataFrame({"poly": target, "name": dup["name_left"].to_numpy(),
                           "emergency": dup["emergency"].to_numpy()}).groupby("poly")
    out.loc[merged.groups.keys(), "emergency"] |= merged["emergency"].any()
    out.loc[merged.groups.keys(), "name"] = out.loc[merged.groups.keys(), "name"].fillna(merged["name"].first())
    return out
