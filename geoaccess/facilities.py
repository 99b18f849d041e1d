"""Health-facility tables: reading a county's own facility list or OpenStreetMap.

Every reader returns a GeoDataFrame of points in EPSG:4326 with the standard columns

``facility_id`` (str, unique), ``name``, ``type`` (the raw type value), ``kind`` (the
vocabulary id from ``data/facility_types.toml``, or ``"other"``), ``capacity`` (float,
NaN when unknown), ``lon`` and ``lat`` (WGS84 degrees of the point), ``geometry``.

Facility lists exported from Amap or Baidu are in GCJ-02 / BD-09; pass ``crs="GCJ-02"``
or ``crs="BD-09"`` and the points are shifted to WGS84 (see :mod:`geoaccess.coords`).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from ._paths import data_path
from .coords import crs_kind, lonlat_points
from .errors import InputError
from .io import VECTOR_SUFFIXES, check_input_file, read_vector

TABLE_SUFFIXES = (".csv", ".xlsx")
STANDARD_COLUMNS = ["facility_id", "name", "type", "kind", "capacity", "lon", "lat"]

# OSM tag values read as health facilities, and the `type` each becomes; the types are
# aliases in the facility vocabulary (centre -> community_health_centre, ...).
OSM_AMENITY_TYPES = {"hospital": "hospital", "clinic": "clinic", "doctors": "doctors", "pharmacy": "pharmacy"}
OSM_HEALTHCARE_TYPES = {"hospital": "hospital", "clinic": "clinic", "doctor": "doctors", "centre": "centre",
                        "pharmacy": "pharmacy"}


def load_facility_types() -> dict[str, dict]:
    """The facility vocabulary: kind id -> its table in ``data/facility_types.toml``.

    Returns
    -------
    dict
        ``{kind_id: {"name_zh", "name_en", "tier", "medical_point", "aliases"}}``.
    """
    with open(data_path("facility_types.toml"), "rb") as fh:
        return tomllib.load(fh)


def kind_from_type(values: pd.Series) -> pd.Series:
    """Map raw facility type values to vocabulary kind ids.

    A value matches a kind when, trimmed and compared case-insensitively, it equals the
    kind id or one of its aliases. Values that match nothing (and missing values)
    become ``"other"``.

    Parameters
    ----------
    values : pandas.Series
        Raw type values, e.g. ``"卫生院"``, ``"Hospital "``, ``"village_clinic"``.

    Returns
    -------
    pandas.Series of str
        Kind ids, same index as ``values``.
    """
    lookup: dict[str, str] = {}
    for kind, table in load_facility_types().items():
        for alias in [kind, *table.get("aliases", [])]:
            lookup.setdefault(str(alias).strip().casefold(), kind)
    keys = values.astype("string").str.strip().str.casefold()
    return keys.map(lookup).fillna("other").astype(object)


def read_table(path: str | os.PathLike, what: str = "table", sheet: str | int | None = None,
               encoding: str | None = None, text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a .csv or .xlsx table, handling the encodings Chinese spreadsheets use.

    CSV files are read as UTF-8 (a byte-order mark, as Excel writes, is skipped) and,
    if that fails, as GB18030 (a superset of GBK and GB2312), unless ``encoding`` is
    given. Header names are stripped of surrounding whitespace.

    Parameters
    ----------
    path : str or path-like
        A .csv or .xlsx file.
    what : str
        Names the input in messages.
    sheet : str or int, optional
        Worksheet name or 0-based position for .xlsx; the first sheet by default.
    encoding : str, optional
        Force a CSV encoding.
    text_columns : tuple of str
        Columns to read as text (ids such as ``"001"`` keep their leading zeros).

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    InputError
        Missing file, unknown type, unreadable file, unknown sheet, or no rows.
    """
    p = check_input_file(path, what, TABLE_SUFFIXES)
    dtype = {c: str for c in text_columns}
    try:
        if p.name.lower().endswith(".xlsx"):
            df = _read_xlsx(p, what, sheet, dtype)
        elif encoding is not None:
            df = pd.read_csv(p, encoding=encoding, dtype=dtype)
        else:
            try:
                df = pd.read_csv(p, encoding="utf-8-sig", dtype=dtype)
            except UnicodeDecodeError:
                df = pd.read_csv(p, encoding="gb18030", dtype=dtype)
    except InputError:
        raise
    except (UnicodeDecodeError, LookupError) as exc:
        raise InputError(f"could not decode {what} {p} with encoding {encoding!r}: {exc}") from None
    except Exception as exc:  # pandas / openpyxl parse errors: say which file and why
        raise InputError(f"could not read {what} {p}: {exc}") from None
    df.columns = [c.strip() if isinstance(c, str) else c for c in df.columns]
    if df.empty:
        raise InputError(f"{what} has no rows: {p}")
    return df


def _read_xlsx(p: Path, what: str, sheet: str | int | None, dtype: dict) -> pd.DataFrame:
    sheets = pd.ExcelFile(p, engine="openpyxl").sheet_names
    if sheet is None:
        sheet = 0
    elif (isinstance(sheet, int) and not 0 <= sheet < len(sheets)) or (isinstance(sheet, str) and sheet not in sheets):
        raise InputError(f"{what} {p.name} has no sheet {sheet!r}; its sheets are {', '.join(map(repr, sheets))}")
    return pd.read_excel(p, sheet_name=sheet, engine="openpyxl", dtype=dtype)


def require_columns(df: pd.DataFrame, what: str, columns: dict[str, str | None]) -> None:
    """Raise :class:`InputError` if a named column is missing.

    Parameters
    ----------
    df : pandas.DataFrame
    what : str
        Names the input in messages.
    columns : dict
        ``{parameter name: column name}``; entries whose column is None are skipped.

    Raises
    ------
    InputError
        Naming the missing column and the parameter to set, and listing the available columns.
    """
    available = [c for c in df.columns if c != "geometry"]
    for param, col in columns.items():
        if col is not None and col not in df.columns:
            raise InputError(
                f"{what} has no column {col!r}; set the {param!r} parameter to the column that holds it."
                f" Available columns: {', '.join(map(repr, available))}"
            )


def facilities_from_file(path: str | os.PathLike, x: str = "lon", y: str = "lat", type: str = "type",
                         name: str | None = "name", capacity: str | None = None, id: str | None = None,
                         crs: str = "EPSG:4326", sheet: str | int | None = None, layer: str | None = None,
                         encoding: str | None = None) -> gpd.GeoDataFrame:
    """Read a facility list from .csv, .xlsx, GeoJSON, GeoPackage or Shapefile.

    Parameters
    ----------
    path : str or path-like
        The facility file.
    x, y : str
        Columns with longitude/latitude (or easting/northing in metres for a projected
        ``crs``); tables only, vector files use their geometry.
    type : str
        Column with the facility type; mapped to ``kind`` by :func:`kind_from_type`.
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

    Returns
    -------
    geopandas.GeoDataFrame
        Points in EPSG:4326 with the standard columns (see module docstring) first,
        then all other original columns. Polygons become their representative point
        (a point guaranteed to lie inside). The x/y columns are replaced by ``lon``/``lat``
        in WGS84; original columns named like a standard column are replaced by it.

    Raises
    ------
    InputError
        Missing file or unknown suffix, no rows, missing x/y/type/name/capacity/id
        column, missing or invalid coordinates or geometries (rows listed), negative or
        non-numeric capacity, missing or duplicate ids.
    """
    what = "facility file"
    p = check_input_file(path, what, TABLE_SUFFIXES + VECTOR_SUFFIXES)
    crs_kind(crs)  # fail on an unknown crs before reading the file
    text_columns = tuple(c for c in (id, type, name) if c is not None)
    if p.name.lower().endswith(TABLE_SUFFIXES):
        df = read_table(p, what, sheet=sheet, encoding=encoding, text_columns=text_columns)
        require_columns(df, what, {"x": x, "y": y, "type": type, "name": name, "capacity": capacity, "id": id})
        points = lonlat_points(_numeric(df[x]), _numeric(df[y]), crs, f"{what} {p.name} (columns {x!r}, {y!r})")
        df = df.drop(columns=[x, y])
    else:
        gdf = read_vector(p, what, layer=layer, encoding=encoding)
        if gdf.empty:
            raise InputError(f"{what} has no rows: {p}")
        require_columns(gdf, what, {"type": type, "name": name, "capacity": capacity, "id": id})
        points = points_from_vector(gdf, crs, f"{what} {p.name}")
        df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    df = df.reset_index(drop=True)
    std = pd.DataFrame({
        "facility_id": _ids(df, id, what, p.name),
        "name": df[name].astype(object) if name is not None else pd.Series(None, index=df.index, dtype=object),
        "type": df[type].astype(object),
        "kind": kind_from_type(df[type]),
        "capacity": _capacity(df, capacity, what, p.name),
        "lon": points.x.to_numpy(),
        "lat": points.y.to_numpy(),
    })
    rest = df.drop(columns=[c for c in df.columns if c in {type, name, capacity, id} | set(STANDARD_COLUMNS)])
    return gpd.GeoDataFrame(pd.concat([std, rest], axis=1), geometry=points.to_numpy(), crs="EPSG:4326")


def _numeric(values: pd.Series) -> np.ndarray:
    """Numbers from a column; text such as "" or "n/a" becomes NaN so it is reported as missing."""
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)


def points_from_vector(gdf: gpd.GeoDataFrame, crs: str, what: str) -> gpd.GeoSeries:
    """WGS84 points for the features of a vector file.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Features as read from the file; non-point geometries become their
        representative point (a point guaranteed to lie inside a polygon).
    crs : str
        Used when the file has no CRS, or when it names GCJ-02 / BD-09 (the file's
        label is then ignored and the coordinates shifted to WGS84).
    what : str
        Names the input in messages.

    Returns
    -------
    geopandas.GeoSeries
        Points in EPSG:4326, indexed 0..n-1.

    Raises
    ------
    InputError
        Missing or empty geometries (rows listed), coordinates out of range, or a
        projected file combined with crs GCJ-02 / BD-09.
    """
    kind = crs_kind(crs)
    geom = gdf.geometry.reset_index(drop=True)
    bad = (geom.isna() | geom.is_empty).to_numpy()
    if bad.any():
        rows = ", ".join(str(i) for i in np.flatnonzero(bad)[:10])
        raise InputError(f"{what} has missing or empty geometries in rows {rows}; fix or drop those features")
    points = geom.where(geom.geom_type == "Point", geom.representative_point())
    if kind in ("gcj02", "bd09"):
        # The file's CRS label cannot be trusted for shifted coordinates: take the raw degrees.
        if gdf.crs is not None and not gdf.crs.is_geographic:
            raise InputError(f"{what} is in the projected CRS {gdf.crs.to_string()}, but crs={crs!r} needs "
                             "longitude/latitude degrees; reproject the file or drop the crs parameter")
        return lonlat_points(points.x.to_numpy(), points.y.to_numpy(), crs, what)
    if gdf.crs is None:
        return lonlat_points(points.x.to_numpy(), points.y.to_numpy(), crs, f"{what} (no CRS in file; assumed {crs})")
    wgs = points.set_crs(gdf.crs, allow_override=True).to_crs("EPSG:4326")
    return lonlat_points(wgs.x.to_numpy(), wgs.y.to_numpy(), "EPSG:4326", what)


def _ids(df: pd.DataFrame, id: str | None, what: str, fname: str) -> pd.Series:
    if id is None:
        width = max(4, len(str(len(df))))
        return pd.Series([f"F{i:0{width}d}" for i in range(1, len(df) + 1)], index=df.index, dtype=object)
    ids = df[id].astype("string").str.strip()
    missing = ids.isna() | (ids == "")
    if missing.any():
        rows = ", ".join(str(i) for i in np.flatnonzero(missing.to_numpy())[:10])
        raise InputError(f"{what} {fname} has empty ids in column {id!r}, rows {rows}; fill them or set id=None")
    dup = ids[ids.duplicated(keep=False)]
    if not dup.empty:
        shown = ", ".join(map(repr, dup.unique()[:10]))
        raise InputError(f"{what} {fname} has duplicate ids in column {id!r}: {shown}; ids must be unique")
    return ids.astype(object)


def _capacity(df: pd.DataFrame, capacity: str | None, what: str, fname: str) -> pd.Series:
    if capacity is None:
        return pd.Series(np.nan, index=df.index, dtype=float)
    raw = df[capacity]
    values = pd.to_numeric(raw, errors="coerce")
    blank = raw.isna() | (raw.astype("string").str.strip() == "")
    bad = (values.isna() & ~blank) | (values < 0)
    if bad.any():
        rows = ", ".join(str(i) for i in np.flatnonzero(bad.to_numpy())[:10])
        raise InputError(f"{what} {fname} has non-numeric or negative values in capacity column {capacity!r},"
                         f" rows {rows}; use non-negative numbers, or leave the cell empty when unknown")
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
