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


def demand_times(demand: "gpd.GeoDataFrame", facilities: pd.DataFrame) -> "gpd.GeoDataFrame":
    """The layer of ``demand_times.gpkg``: every demand point in lon/lat (EPSG:4326) with its
    columns, minutes per target (NaN = unreachable: GeoPackage has no inf) and, beside every
    nearest facility's id (``<id>_facility``), its name (from ``facilities``' ``facility_id``
    and ``name``)."""
    import geopandas as gpd
    import shapely
    from pyproj import Transformer

    geom = demand.geometry.name
    # Coordinates through pyproj as GeoDataFrame.to_crs does (same call, same numbers), without
    # copying 200k point objects first.
    xy = shapely.get_coordinates(demand.geometry.to_numpy())
    lon, lat = Transformer.from_crs(demand.crs, "EPSG:4326", always_xy=True).transform(xy[:, 0], xy[:, 1])
    times = demand.copy()
    times[geom] = gpd.GeoSeries(shapely.points(lon, lat), crs="EPSG:4326", index=demand.index)
    names = dict(zip(facilities["facility_id"].astype(str), facilities["name"].astype(str)))
    for col in [c for c in times.columns if c.endswith("_min")]:
        times[col] = times[col].replace(np.inf, np.nan)
    for col in [c for c in times.columns if c.endswith("_facility")]:  # every facility id beside its name
        times.insert(times.columns.get_loc(col) + 1, f"{col}_name", times[col].astype(str).map(names))
    return times


def write_demand_times(demand: "gpd.GeoDataFrame", facilities: pd.DataFrame, path: str | Path) -> None:
    """Write :func:`demand_times` as the layer ``demand_times`` of a new GeoPackage ``path``:
    one Arrow batch and no R-tree (GIS software builds one when asked)."""
    demand_times(demand, facilities).to_file(path, layer="demand_times", driver="GPKG", use_arrow=True,
                                             layer_options={"SPATIAL_INDEX": "NO"})
