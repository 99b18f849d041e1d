"""Gap clusters: contiguous areas of demand beyond a time threshold, ranked by population.

A demand point is a *gap point* when its time exceeds the threshold; ``inf`` (unreachable)
is a gap too. Gap points are linked when they are within ``link_distance_m`` of each other
(default: 1.5 × the median nearest-neighbour spacing of *all* demand points, so a regular
grid links its 4-neighbours and a gap is not split by one missing cell); each connected
component of that proximity graph is one gap area.

Ranking: population descending; ties by the representative point's x then y (metres), then
by the lowest member index — deterministic whatever the input order's ties are.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
import shapely.geometry
from shapely import union_all
from shapely.geometry import Point

from .errors import InputError, check_positive
from .io import csv_safe, write_atomic, write_with

__all__ = ["find_gaps", "gap_areas", "write_gaps"]

_COLUMNS = ["gap_id", "pop", "n_points", "pop_unreachable", "mean_minutes", "max_minutes", "nearest_facility",
            "best_minutes", "admin", "area_geometry", "geometry"]


def _check_demand(demand: Any) -> gpd.GeoDataFrame:
    if not isinstance(demand, gpd.GeoDataFrame):
        raise InputError("demand must be a GeoDataFrame of points with a 'pop' column")
    if "pop" not in demand.columns:
        raise InputError(f"demand has no 'pop' column (columns: {list(demand.columns)})")
    if demand.crs is None or not demand.crs.is_projected:
        raise InputError("demand must have a projected CRS in metres (e.g. a UTM zone), "
                         f"got {demand.crs!r}; use demand.to_crs(demand.estimate_utm_crs())")
    if len(demand) and not (demand.geom_type == "Point").all():
        raise InputError("demand geometries must all be points")
    return demand


def _spacing(xy: np.ndarray) -> float:
    if len(xy) < 2:
        return 0.0
    d, _ = cKDTree(xy).query(xy, k=2)
    nn = d[:, 1]
    nn = nn[nn > 0]
    return float(np.median(nn)) if nn.size else 0.0


def find_gaps(demand: gpd.GeoDataFrame, minutes: Any, threshold_min: float, *,
              link_distance_m: float | None = None, nearest_facility: Any = None,
              admin: Any = None) -> gpd.GeoDataFrame:
    """Cluster demand points with ``minutes > threshold_min`` into gap areas.

    ``minutes``: current time per demand point (inf = unreachable). ``nearest_facility``:
    the id of each point's nearest facility (None/NaN where unreachable). ``admin``: each
    point's admin unit. Returns one row per gap, in the demand CRS:

    gap_id (1 = largest population), pop, n_points, pop_unreachable (people in the gap no
    facility reaches), mean_minutes (population-weighted over the reachable members; inf
    when none is reachable; equal-weight when they hold no population) and max_minutes
    (inf if any member is unreachable), nearest_facility (population-weighted mode over members, ties
    by the smallest id string; None if all members unreachable), best_minutes (the lowest
    member time), admin (sorted units joined with "; "), area_geometry (a polygon: the
    union of the members' cells — squares of the median demand spacing centred on each
    point, i.e. the raster cells for gridded demand —
    which keeps holes and concave shapes that a convex hull would fill), and geometry
    (the population-weighted centroid snapped to the nearest member point).
    """
    demand = _check_demand(demand)
    thr = check_positive("threshold_min", threshold_min)
    n = len(demand)
    try:
        t = np.asarray(minutes, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise InputError("minutes must be numbers (inf for unreachable)") from None
    if t.shape[0] != n:
        raise InputError(f"minutes has {t.shape[0]} values but demand has {n} points")
    if np.isnan(t).any():
        raise InputError("minutes contain NaN; use inf for unreachable points")
    pop = pd.to_numeric(demand["pop"], errors="coerce").to_numpy(dtype=float)
    if np.isnan(pop).any() or (pop < 0).any() or np.isinf(pop).any():
        raise InputError("demand 'pop' must be finite numbers >= 0")
    fac = None
    if nearest_facility is not None:
        fac = np.asarray(nearest_facility, dtype=object).reshape(-1)
        if fac.shape[0] != n:
            raise InputError(f"nearest_facility has {fac.shape[0]} values but demand has {n} points")
    adm = None
    if admin is not None:
        adm = np.asarray(admin, dtype=object).reshape(-1)
        if adm.shape[0] != n:
            raise InputError(f"admin has {adm.shape[0]} values but demand has {n} points")
    xy = np.column_stack([demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy()]) if n else np.zeros((0, 2))
    spacing = _spacing(xy)
    if link_distance_m is None:
        link = 1.5 * spacing
        if link <= 0:
            link = 1.0
    else:
        link = check_positive("link_distance_m", link_distance_m)

    gap_idx = np.flatnonzero(t > thr)
    if gap_idx.size == 0:
        return gpd.GeoDataFrame({c: [] for c in _COLUMNS[:-1]}, geometry=gpd.GeoSeries([], crs=demand.crs),
                                 crs=demand.crs)
    gxy = xy[gap_idx]
    pairs = cKDTree(gxy).query_pairs(link * (1 + 1e-9), output_type="ndarray")
    k = len(gap_idx)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(k, k))
    _, label = connected_components(graph, directed=False)

    areas = _cluster_areas(gxy, label, spacing if spacing > 0 else link)
    rows = []
    for lab in np.unique(label):
        members = np.flatnonzero(label == lab)
        idx = gap_idx[members]
        p = pop[idx]
        tm = t[idx]
        P = float(p.sum())
        wts = p if P > 0 else np.ones(len(idx))
        cx, cy = (gxy[members] * wts[:, None]).sum(0) / wts.sum()
        d2 = (gxy[members, 0] - cx) ** 2 + (gxy[members, 1] - cy) ** 2
        rep = members[np.lexsort((members, d2))[0]]
        # Mean over the members some facility reaches; the unreachable are counted apart,
        # so one cut-off cell does not turn a whole cluster's mean into "unreachable".
        reach = np.isfinite(tm)
        mean_t = float((tm[reach] * wts[reach]).sum() / wts[reach].sum()) if reach.any() and wts[reach].sum() > 0 \
            else (float(tm[reach].mean()) if reach.any() else np.inf)
        pop_unreachable = float(p[~reach].sum())
        nf = None
        if fac is not None:
            f = fac[idx]
            ok = np.array([v is not None and not (isinstance(v, float) and np.isnan(v)) for v in f]) & np.isfinite(tm)
            if ok.any():
                s = pd.Series(wts[ok]).groupby(pd.Series(f[ok]).astype(str).to_numpy()).sum()
                top = s[s == s.max()].index.min()
                nf = f[ok][pd.Series(f[ok]).astype(str).to_numpy() == top][0]
        units = ""
        if adm is not None:
            vals = sorted({str(a) for a in adm[idx] if a is not None and not (isinstance(a, float) and np.isnan(a))})
            units = "; ".join(vals)
        rows.append(dict(pop=P, n_points=int(len(idx)), pop_unreachable=pop_unreachable, mean_minutes=mean_t,
                         max_minutes=float(tm.max()),
                         nearest_facility=nf, best_minutes=float(tm.min()), admin=units, area_geometry=areas[lab],
                         geometry=Point(gxy[rep]), _x=float(gxy[rep, 0]), _y=float(gxy[rep, 1]),
                         _first=int(idx.min())))
    df = pd.DataFrame(rows)
    df = df.sort_values(["pop", "_x", "_y", "_first"], ascending=[False, True, True, True], kind="mergesort")
    df = df.drop(columns=["_x", "_y", "_first"]).reset_index(drop=True)
    df.insert(0, "gap_id", np.arange(1, len(df) + 1))
    out = gpd.GeoDataFrame(df, geometry="geometry", crs=demand.crs)
    out["area_geometry"] = gpd.GeoSeries(out["area_geometry"], crs=demand.crs)
    return out


def _cluster_areas(xy: np.ndarray, label: np.ndarray, size: float) -> list:
    """Per cluster label, the union of squares of side ``size`` centred on its points.

    Drawn on a grid of half-squares and polygonised with rasterio: a square centred on a
    point covers the 2 × 2 half-cells around it, exactly so for points on a lattice of
    that spacing (raster demand), within half a square otherwise. Far faster than a
    GEOS union of thousands of squares; clusters never share a half-cell because their
    points are more than the link distance (≥ ``size``) apart.
    """
    from affine import Affine
    from rasterio.features import shapes

    cell = size / 2.0
    origin = xy.min(axis=0) - size
    ij = np.floor((xy - origin) / cell + 1e-9).astype(np.int64)
    grid = np.zeros((ij[:, 1].max() + 2, ij[:, 0].max() + 2), dtype=np.int32)
    for di in (-1, 0):
        for dj in (-1, 0):
            grid[ij[:, 1] + dj, ij[:, 0] + di] = label + 1
    transform = Affine(cell, 0.0, origin[0], 0.0, cell, origin[1])
    parts: dict[int, list] = {}
    for geom, value in shapes(grid, mask=grid > 0, connectivity=4, transform=transform):
        parts.setdefault(int(value) - 1, []).append(shapely.geometry.shape(geom))
    return [union_all(parts[k]) for k in range(int(label.max()) + 1)]


def gap_areas(gaps: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The gap polygons as the active geometry (gap_id, pop and the other attributes kept)."""
    if not isinstance(gaps, gpd.GeoDataFrame) or "area_geometry" not in gaps.columns:
        raise InputError("gaps must be the GeoDataFrame returned by find_gaps")
    out = gaps.drop(columns=[gaps.geometry.name]).copy()
    return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(out.pop("area_geometry"), crs=gaps.crs), crs=gaps.crs)


def write_gaps(gaps: gpd.GeoDataFrame, directory: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``gaps.csv`` (lon/lat of the representative point, WGS84; no geometry) and
    ``gaps.geojson`` (EPSG:4326 representative points with attributes), atomically.
    Infinite minutes are written as empty cells in the CSV and null in the GeoJSON."""
    if not isinstance(gaps, gpd.GeoDataFrame) or "gap_id" not in gaps.columns:
        raise InputError("gaps must be the GeoDataFrame returned by find_gaps")
    if gaps.crs is None:
        raise InputError("gaps has no CRS; cannot convert to WGS84")
    d = Path(directory)
    pts = gaps.drop(columns=["area_geometry"], errors="ignore")
    pts = gpd.GeoDataFrame(pts, geometry=gaps.geometry.name, crs=gaps.crs).to_crs(4326)
    table = pd.DataFrame(pts.drop(columns=[pts.geometry.name]))
    table["lon"] = pts.geometry.x.round(7) if len(pts) else []
    table["lat"] = pts.geometry.y.round(7) if len(pts) else []
    for col in ("mean_minutes", "max_minutes", "best_minutes"):
        table[col] = table[col].astype(float).replace([np.inf, -np.inf], np.nan)
    table["nearest_facility"] = table["nearest_facility"].astype(object)
    csv_path = d / "gaps.csv"
    with write_atomic(csv_path) as fh:
        csv_safe(table).to_csv(fh, index=False, lineterminator="\n")
    gj = gpd.GeoDataFrame(table.drop(columns=["lon", "lat"]), geometry=pts.geometry.values, crs=4326)
    gj["nearest_facility"] = gj["nearest_facility"].map(lambda v: None if pd.isna(v) else str(v))
    gj_path = write_with(d / "gaps.geojson", lambda p: gj.to_file(p, driver="GeoJSON"))
    return csv_path, gj_path
