"""The run's tables as a planner opens them in Excel: ``units.csv`` and ``facilities.csv``;
and the demand points with their minutes, ``demand_times.gpkg`` (:func:`write_demand_times`).

Every CSV is UTF-8 with a BOM (Excel and WPS then show Chinese names right) and goes
through :func:`geoaccess.io.csv_safe`. People have one decimal and minutes two; a
target's ``value`` (the number its verdict is on) and shares keep full precision, so no rounding can put a value on the other side of its goal.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .io import csv_safe, write_atomic
from .targets import select_facilities

if TYPE_CHECKING:
    import geopandas as gpd
    import pyarrow as pa

    from .results import RunResult

PEOPLE_COLUMNS = ("population_total", "population_covered", "population_unreachable", "pop", "gain", "cumulative")
MINUTE_COLUMNS = ("mean_minutes", "p90_minutes", "max_minutes", "best_minutes")


def rounded(table: pd.DataFrame) -> pd.DataFrame:
    """A copy with people rounded to 0.1 person and minutes to 0.01 min (columns by name)."""
    out = table.copy()
    for col in out.columns:
        if col in PEOPLE_COLUMNS and pd.api.types.is_numeric_dtype(out[col]):
            # 0.1 person: raster populations are fractional estimates; whole persons would change
            # sums others check against the population file by more than its own precision
            out[col] = out[col].astype(float).round(1)
        elif (col in MINUTE_COLUMNS or col.endswith("_minutes")) and pd.api.types.is_numeric_dtype(out[col]):
            out[col] = out[col].astype(float).replace([np.inf, -np.inf], np.nan).round(2)
    return out


def units_table(result: "RunResult") -> pd.DataFrame:
    """One row per admin unit × target (``units.csv``), people and minutes rounded."""
    rows = [{"target": e.target.id, **row} for e in result.evaluations for row in e.units.to_dict(orient="records")]
    return rounded(pd.DataFrame(rows))


def facilities_table(result: "RunResult", lang: str = "zh") -> pd.DataFrame:
    """Every facility of the run: id, name, kind, the evaluated targets it counts for, snap distance.

    Columns: ``facility_id``, ``name``, ``kind``, ``kind_name`` (in ``lang``), ``type`` (the
    input's own value), ``targets`` (ids joined by ``;``, empty when it counts for none of
    the evaluated targets), ``lon``/``lat`` (WGS84) and ``snap_distance_m_<mode>``: metres
    from the facility to the nearest road it may use, per travel mode the run routed.
    """
    fac = result.facilities
    targets = np.full(len(fac), "", dtype=object)
    for e in result.evaluations:  # a few targets; vectorised over the facilities
        counts = np.asarray(select_facilities(e.target, fac), dtype=bool)
        targets = np.where(counts, np.where(targets == "", e.target.id, targets + ";" + e.target.id), targets)
    from .maplayers import kind_label  # here: maplayers loads folium, which tables read without the map

    kinds = fac["kind"].fillna("other").astype(str) if "kind" in fac else pd.Series("other", index=fac.index)
    wgs = fac.geometry.to_crs("EPSG:4326") if fac.crs is not None else fac.geometry
    table = pd.DataFrame({
        "facility_id": fac["facility_id"].astype(str).to_numpy(),
        "name": fac["name"].astype(object).where(fac["name"].notna(), "").astype(str).to_numpy()
        if "name" in fac else "",
        "kind": kinds.to_numpy(),
        "kind_name": kinds.map({k: kind_label(k, lang) for k in kinds.unique()}).to_numpy(),
        "type": fac["type"].astype(object).where(fac["type"].notna(), "").astype(str).to_numpy() if "type" in fac else "",
        "targets": targets,
        "lon": wgs.x.round(7).to_numpy(), "lat": wgs.y.round(7).to_numpy(),
    })
    engine = getattr(result, "engine", None)
    if engine is not None:
        for mode in sorted(getattr(engine, "graphs", {}) or {}):
            table[f"snap_distance_m_{mode}"] = np.round(engine.facilities(mode).distance_m, 1)
    return table


def write_csv(table: pd.DataFrame, path: str | Path) -> Path:
    """Write ``table`` as UTF-8 with BOM, formula-safe, atomically; returns ``path``."""
    with write_atomic(Path(path), encoding="utf-8-sig") as fh:  # BOM: Excel opens Chinese names right
        csv_safe(table).to_csv(fh, index=False)
    return Path(path)


# A 2-D point in little-endian WKB: byte order 1, geometry type 1 (Point), x, y.
_WKB_POINT = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])  # packed: 21 bytes


def _wkb_points(x: np.ndarray, y: np.ndarray) -> "pa.Array":
    """2-D points as a binary Arrow array of WKB, the bytes ``shapely.to_wkb`` writes for them."""
    import pyarrow as pa

    wkb = np.empty(len(x), _WKB_POINT)
    wkb["order"], wkb["type"], wkb["x"], wkb["y"] = 1, 1, x, y
    offsets = np.arange(0, (len(x) + 1) * _WKB_POINT.itemsize, _WKB_POINT.itemsize, dtype=np.int32)
    return pa.Array.from_buffers(pa.binary(), len(x), [None, pa.py_buffer(offsets), pa.py_buffer(wkb)])


def _arrow_strings(values: pd.Series) -> "pa.Array":
    """``values`` as strings, missing values (NaN, None) null as pandas sees them; pandas'
    Arrow-backed strings go over without a Python string per value."""
    import pyarrow as pa

    return pa.array(values.astype(str), pa.string())


def demand_times_table(demand: "gpd.GeoDataFrame", facilities: pd.DataFrame) -> "pa.Table":
    """The layer of ``demand_times.gpkg`` as an Arrow table, in ``demand``'s column order.

    Every demand point in lon/lat (EPSG:4326, the numbers ``GeoDataFrame.to_crs`` gives) as
    WKB, its columns, minutes per target (``*_min``; inf, unreachable, becomes null: GeoPackage
    has no inf) and, beside every nearest facility's id (``<id>_facility``; null for an
    unreachable point, which has none — the run holds ``''`` there), its name
    (``<id>_facility_name``, from ``facilities``' ``facility_id`` and ``name``; the last row
    of a repeated id; null where no facility is named). An unreachable point is null in
    ``*_min``, ``*_facility`` and ``*_facility_name`` alike, so ``IS NULL`` finds it in each.

    Parameters
    ----------
    demand : GeoDataFrame
        The run's demand: 2-D points (metres, any CRS) with the targets' columns.
    facilities : DataFrame
        ``facility_id`` and ``name`` of the run's facilities.

    Raises
    ------
    ValueError
        ``demand`` holds a geometry other than a 2-D point (a run's demand never does).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import shapely
    from pyproj import Transformer

    geom = demand.geometry.name
    points = demand.geometry.to_numpy()
    if len(points) and ((shapely.get_type_id(points) != 0) | shapely.has_z(points)).any():
        raise ValueError("demand_times_table takes 2-D points only")
    xy = shapely.get_coordinates(points)
    # The transform GeoDataFrame.to_crs makes (same call, same numbers), on the coordinates only.
    lon, lat = Transformer.from_crs(demand.crs, "EPSG:4326", always_xy=True).transform(xy[:, 0], xy[:, 1])
    attrs = pd.DataFrame(demand.drop(columns=geom))
    for col in [c for c in attrs.columns if c.endswith("_min")]:
        attrs[col] = attrs[col].replace(np.inf, np.nan)
    table = pa.Table.from_pandas(attrs, preserve_index=False)  # NaN -> null, as GeoDataFrame.to_file's Arrow path
    # Names looked up in Arrow (a hash of the facility ids, not a dict call per point);
    # reversed so that, as in a dict, a repeated id's last row wins.
    ids, names = _arrow_strings(facilities["facility_id"][::-1]), _arrow_strings(facilities["name"][::-1])
    for col in [c for c in attrs.columns if c.endswith("_facility")]:
        # No nearest facility ('' from the run): null like the name beside it, not an empty text.
        facility = _arrow_strings(attrs[col].where(attrs[col] != "", None))
        found = pc.index_in(facility, value_set=ids)
        at = table.schema.get_field_index(col)
        table = table.set_column(at, col, facility).add_column(at + 1, f"{col}_name", pc.take(names, found))
    return table.add_column(demand.columns.get_loc(geom), geom, _wkb_points(lon, lat))


def write_demand_times(demand: "gpd.GeoDataFrame", facilities: pd.DataFrame, path: str | Path) -> None:
    """Write :func:`demand_times_table` as the layer ``demand_times`` (points, EPSG:4326) of a
    new GeoPackage ``path``: one Arrow batch and no R-tree (GIS software builds one when asked).

    Raises
    ------
    ValueError
        As :func:`demand_times_table`.
    """
    from pyogrio.raw import write_arrow

    table = demand_times_table(demand, facilities)
    write_arrow(table, path, layer="demand_times", driver="GPKG", geometry_name=demand.geometry.name,
                geometry_type="Point" if table.num_rows else "Unknown", crs="EPSG:4326",
                layer_options={"SPATIAL_INDEX": "NO"})
