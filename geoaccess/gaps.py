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
from typing import Any, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
import shapely.geometry

from .errors import InputError, check_positive
from .grids import median_spacing
from .io import csv_safe, write_atomic, write_with
from .targets import Target, minutes_beside, population_mask

__all__ = ["find_gaps", "gap_areas", "target_gaps", "write_gaps", "write_target_gaps"]

#: In runs, gaps are split into pieces of at most this side (km), and never span two townships.
GAP_PIECE_KM = 5.0

_COLUMNS = ["gap_id", "pop", "n_points", "pop_unreachable", "mean_minutes", "max_minutes", "best_minutes",
            "nearest_facility", "admin", "area_km2", "area_geometry", "geometry"]


def _check_demand(demand: Any) -> gpd.GeoDataFrame:
    if not isinstance(demand, gpd.GeoDataFrame):
        raise InputError("demand must be a GeoDataFrame of points with a 'pop' column")
    if "pop" not in demand.columns:
        raise InputError(f"demand has no 'pop' column (columns: {list(demand.columns)})")
    if demand.crs is None or not demand.crs.is_projected:
        raise InputError("demand must have a projected CRS in metres (e.g. a UTM zone), "
                         f"got {demand.crs!r}; use demand.to_crs(demand.estimate_utm_crs())")
    if len(demand) and not (shapely.get_type_id(demand.geometry.values) == 0).all():  # 0: Point
        raise InputError("demand geometries must all be points")
    return demand


def find_gaps(demand: gpd.GeoDataFrame, minutes: Any, threshold_min: float, *,
              link_distance_m: float | None = None, nearest_facility: Any = None,
              admin: Any = None, facility_names: Mapping[Any, str] | None = None,
              by_unit: bool = False, piece_km: float | None = None) -> gpd.GeoDataFrame:
    """Cluster demand points with ``minutes > threshold_min`` into gap areas.

    Parameters
    ----------
    demand : geopandas.GeoDataFrame
        Demand points with a ``pop`` column (persons), in a projected CRS (metres).
    minutes : array-like
        Current time per demand point, minutes (``inf`` = unreachable, a gap too).
    threshold_min : float
        Points strictly beyond this many minutes are gap points.
    link_distance_m : float, optional
        Gap points closer than this (metres) belong to the same gap; default 1.5 × the
        median nearest-neighbour spacing of all demand points.
    nearest_facility : array-like, optional
        The id of each point's nearest facility (None/NaN where unreachable).
    admin : array-like, optional
        Each point's admin unit (township).
    facility_names : mapping, optional
        Facility id → name, for the ``nearest_facility_name`` column.
    by_unit : bool, default False
        Split gaps at admin unit boundaries: a gap then never spans two units (points of
        different units are never linked). Needs ``admin``.
    piece_km : float, optional
        Split every gap wider or taller than ``piece_km`` kilometres into pieces of at most
        ``piece_km`` × ``piece_km``: the gap's bounding box is cut by a grid of that side
        starting at its lower-left corner, and each grid square's part of the gap is
        clustered again (so a piece is linked, and a square may hold several). Default:
        no splitting by size.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per gap holding people (gaps whose points all hold 0 people are not
        listed), in the demand CRS: gap_id (1 = largest population), pop, n_points,
        pop_unreachable (people in the gap no facility reaches), mean_minutes
        (population-weighted over the reachable members; equal-weight when those hold no
        population; inf when none is reachable), max_minutes (inf if any member is
        unreachable), nearest_facility (population-weighted mode over reachable members,
        ties by the smallest id string; None if all members are unreachable),
        nearest_facility_name (with ``facility_names``), best_minutes (the lowest member
        time), admin (the unit, or the sorted units joined with "; " when not
        ``by_unit``), area_km2, area_geometry (the union of the members' cells — squares
        of the median demand spacing centred on each point, i.e. the raster cells for
        gridded demand — which keeps holes and concave shapes a convex hull would fill),
        and geometry (the representative location: the population-weighted centroid
        snapped to the nearest member point, ties by the lowest demand index).

    Raises
    ------
    InputError
        Mismatched lengths, NaN minutes, negative or non-finite population, a
        geographic CRS, a non-positive threshold, link distance or ``piece_km``, or
        ``by_unit`` without ``admin``.
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
        fac = _values(nearest_facility)
        if fac.shape[0] != n:
            raise InputError(f"nearest_facility has {fac.shape[0]} values but demand has {n} points")
    adm = None
    if admin is not None:
        adm = _values(admin)
        if adm.shape[0] != n:
            raise InputError(f"admin has {adm.shape[0]} values but demand has {n} points")
    if by_unit and adm is None:
        raise InputError("by_unit=True splits gaps at admin unit boundaries and needs admin (each point's unit)")
    piece = None if piece_km is None else check_positive("piece_km", piece_km) * 1000.0
    geoms = demand.geometry.values
    xy = shapely.get_coordinates(geoms) if n else np.zeros((0, 2))
    spacing = median_spacing(xy)
    if link_distance_m is None:
        link = 1.5 * spacing
        if link <= 0:
            link = 1.0
    else:
        link = check_positive("link_distance_m", link_distance_m)

    gap_idx = np.flatnonzero(t > thr)
    if gap_idx.size == 0:
        return _empty(demand.crs, thr)
    gxy = xy[gap_idx]
    # the gap points' labels only (a column of 200k Arrow strings converts slowly); text columns
    # stay text arrays (coded by a hash in C), others become object arrays
    fac = None if fac is None else _labels(fac[gap_idx])
    adm = None if adm is None else _labels(adm[gap_idx])
    # An unbalanced tree builds faster; the pairs' order differs, the components do not.
    tree = cKDTree(gxy, balanced_tree=False, compact_nodes=False)
    pairs = tree.query_pairs(link * (1 + 1e-9), output_type="ndarray").reshape(-1, 2)
    adm_codes = _codes(adm) if adm is not None else None
    unit_code = adm_codes[0] if adm_codes is not None else np.zeros(len(gap_idx), dtype=np.int64)
    if by_unit:
        pairs = pairs[unit_code[pairs[:, 0]] == unit_code[pairs[:, 1]]]
    label = _components(pairs, len(gap_idx))
    if piece is not None:
        label = _split_pieces(gxy, label, pairs, piece)
    p, tm = pop[gap_idx], t[gap_idx]
    P = np.bincount(label, weights=p)
    keep = P > 0  # a gap where nobody lives is no gap for a planner
    stats = _group_stats(label, p, tm, gxy)
    nf = _weighted_mode(label, fac, p, np.isfinite(tm), len(P)) if fac is not None else [None] * len(P)
    units = _joined(label, adm_codes, len(P)) if adm_codes is not None else np.full(len(P), "", dtype=object)
    areas = _cluster_areas(gxy, label, spacing if spacing > 0 else link)
    first = np.full(len(P), np.iinfo(np.int64).max)
    np.minimum.at(first, label, gap_idx)
    rep = stats.pop("rep")
    df = pd.DataFrame({"pop": P, "n_points": np.bincount(label), **stats,
                       "nearest_facility": pd.Series(nf, dtype=object), "admin": units,
                       "area_km2": shapely.area(areas) / 1e6, "area_geometry": areas,
                       "_x": gxy[rep, 0], "_y": gxy[rep, 1], "_first": first})[keep]
    df = df.sort_values(["pop", "_x", "_y", "_first"], ascending=[False, True, True, True], kind="mergesort")
    geometry = shapely.points(df[["_x", "_y"]].to_numpy())
    df = df.drop(columns=["_x", "_y", "_first"]).reset_index(drop=True)
    df.insert(0, "gap_id", np.arange(1, len(df) + 1, dtype=np.int64))
    if facility_names is not None:
        names = {str(k): v for k, v in dict(facility_names).items()}
        df.insert(df.columns.get_loc("nearest_facility") + 1, "nearest_facility_name",
                  df["nearest_facility"].map(lambda v: None if _missing(v) else names.get(str(v))).astype(object))
    out = gpd.GeoDataFrame(df, geometry=geometry, crs=demand.crs)
    out["area_geometry"] = gpd.GeoSeries(out["area_geometry"], crs=demand.crs)
    out.attrs["threshold_min"] = thr  # write_gaps rounds the minutes to this threshold's side
    return out


def target_gaps(target: Target, demand: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame,
                by_unit: bool) -> gpd.GeoDataFrame:
    """The gap list of a run's target, among the target's own people only.

    Only demand points of the target's population (all, urban or rural: :func:`~geoaccess.
    targets.population_mask` on ``demand["urban"]``) can be gap points — the people its
    share or mean is computed over — so the gaps' people add up to its people beyond the
    threshold (``population_total - population_covered``). :func:`find_gaps` on
    ``demand[f"{target.id}_min"]`` (minutes) plus the dispatch delay, split by township
    (``by_unit``: ``demand["unit"]``) and into pieces of at most :data:`GAP_PIECE_KM`, with
    the nearest facility's name (``facilities``' ``facility_id`` → ``name``). ``demand``
    should hold only points new sites could serve (not those far off the roads). Raises
    :class:`InputError` as :func:`find_gaps`.
    """
    own = demand[population_mask(target, demand["urban"].to_numpy(bool))]
    return find_gaps(own, own[f"{target.id}_min"].to_numpy() + target.dispatch_delay_min,
                     target.threshold_min, nearest_facility=own[f"{target.id}_facility"],
                     admin=own["unit"] if by_unit else None, by_unit=by_unit, piece_km=GAP_PIECE_KM,
                     facility_names=dict(zip(facilities["facility_id"].astype(str), facilities["name"].astype(str))))


def _values(values: Any) -> Any:
    """A Series' own array (converted later, gap points only), else a flat object array."""
    if isinstance(values, (pd.Series, pd.Index)):
        return values.array
    return np.asarray(values, dtype=object).reshape(-1)


def _empty(crs, threshold_min: float) -> gpd.GeoDataFrame:
    out = gpd.GeoDataFrame({c: [] for c in _COLUMNS[:-1]}, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    out.attrs["threshold_min"] = threshold_min
    return out


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA


def _labels(values: Any) -> Any:
    """``values`` as a pandas text array when they are one, else as an object array."""
    if isinstance(values, pd.api.extensions.ExtensionArray) and pd.api.types.is_string_dtype(values.dtype):
        return values
    return np.asarray(values, dtype=object)


def _codes(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of ``values`` in the order of their text (missing: -1), and the texts."""
    if not isinstance(values, np.ndarray):
        # A pandas text array: factorised by a hash (pyarrow), then only its few distinct texts
        # sorted, not every value compared as in np.unique; the same codes.
        codes, uniques = pd.factorize(values)
        texts = np.asarray(uniques, dtype=object)
        order = np.argsort(texts.astype(str), kind="stable")
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        return np.where(codes >= 0, rank[np.maximum(codes, 0)], -1).astype(np.int64), texts[order]
    values = np.asarray(values, dtype=object)
    missing = pd.isna(values)  # None, NaN and pd.NA, in one vectorised pass
    codes = np.full(len(values), -1, dtype=np.int64)
    if missing.all():
        return codes, np.empty(0, dtype=object)
    uniques, inverse = np.unique(values[~missing].astype(str), return_inverse=True)
    codes[~missing] = inverse
    return codes, uniques.astype(object)


def _components(pairs: np.ndarray, k: int) -> np.ndarray:
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(k, k))
    return connected_components(graph, directed=False)[1].astype(np.int64)


def _split_pieces(xy: np.ndarray, label: np.ndarray, pairs: np.ndarray, piece: float) -> np.ndarray:
    """Cut each cluster wider or taller than ``piece`` metres by a grid of that side anchored
    at its own lower-left corner, and re-link within each grid square."""
    n_lab = int(label.max()) + 1
    # extremes per column: numpy's 1-D ufunc.at is many times faster than on (n, 2) rows
    lo = np.full((2, n_lab), np.inf)
    hi = np.full((2, n_lab), -np.inf)
    for c in range(2):
        np.minimum.at(lo[c], label, xy[:, c])
        np.maximum.at(hi[c], label, xy[:, c])
    lo, hi = lo.T, hi.T
    big = ((hi - lo) > piece).any(axis=1)[label]
    cell = np.where(big[:, None], np.floor((xy - lo[label]) / piece), 0).astype(np.int64)
    cx, cy = np.ascontiguousarray(cell[:, 0]), np.ascontiguousarray(cell[:, 1])  # 1-D gathers: faster
    a, b = pairs[:, 0], pairs[:, 1]
    same = (cx[a] == cx[b]) & (cy[a] == cy[b])
    return _components(pairs[same], len(xy))


def _group_stats(label: np.ndarray, p: np.ndarray, tm: np.ndarray, xy: np.ndarray) -> dict[str, np.ndarray]:
    """Per label: pop_unreachable, mean/max/best minutes, and the representative member."""
    n_lab = int(label.max()) + 1
    reach = np.isfinite(tm)
    tr = np.where(reach, tm, 0.0)
    wsum = np.bincount(label, weights=np.where(reach, p, 0.0), minlength=n_lab)
    wt = np.bincount(label, weights=np.where(reach, p * tr, 0.0), minlength=n_lab)
    nr = np.bincount(label, weights=reach.astype(float), minlength=n_lab)
    tsum = np.bincount(label, weights=tr, minlength=n_lab)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(wsum > 0, wt / np.where(wsum > 0, wsum, 1), np.where(nr > 0, tsum / np.maximum(nr, 1), np.inf))
    tmax = np.full(n_lab, -np.inf)
    tmin = np.full(n_lab, np.inf)
    np.maximum.at(tmax, label, tm)
    np.minimum.at(tmin, label, tm)
    # Representative: the member nearest the population-weighted centroid (equal weights
    # when the cluster holds nobody), ties by the lowest member index.
    P = np.bincount(label, weights=p, minlength=n_lab)
    w = np.where(P[label] > 0, p, 1.0)
    W = np.bincount(label, weights=w, minlength=n_lab)
    cx = np.bincount(label, weights=w * xy[:, 0], minlength=n_lab) / W
    cy = np.bincount(label, weights=w * xy[:, 1], minlength=n_lab) / W
    d2 = (xy[:, 0] - cx[label]) ** 2 + (xy[:, 1] - cy[label]) ** 2
    # the lowest index among each label's nearest members (the same as a sort by label, d2, index)
    d2_min = np.full(n_lab, np.inf)
    np.minimum.at(d2_min, label, d2)
    nearest = np.flatnonzero(d2 == d2_min[label])
    rep = np.full(n_lab, len(label), dtype=np.int64)
    np.minimum.at(rep, label[nearest], nearest)
    return {"pop_unreachable": np.bincount(label, weights=np.where(reach, 0.0, p), minlength=n_lab),
            "mean_minutes": mean, "max_minutes": tmax, "best_minutes": tmin, "rep": rep}


def _weighted_mode(label: np.ndarray, fac: np.ndarray, p: np.ndarray, reach: np.ndarray, n_lab: int) -> np.ndarray:
    """Per label, the facility holding most population among its reachable members (ties:
    the smallest id text); None where no member is reachable."""
    code, uniques = _codes(fac)
    ok = reach & (code >= 0)
    out = np.full(n_lab, None, dtype=object)
    if not ok.any():
        return out
    key = label[ok] * len(uniques) + code[ok]
    inverse, combo = pd.factorize(key, sort=True)  # np.unique's answer, by a hash
    weight = np.bincount(inverse, weights=p[ok])
    lab, cod = combo // len(uniques), combo % len(uniques)
    order = np.lexsort((cod, -weight, lab))
    best = order[np.r_[True, lab[order][1:] != lab[order][:-1]]]
    # The original value (not its text) of the winning code.
    present, first = np.unique(code[ok], return_index=True)
    first_of = np.full(len(uniques), -1)
    first_of[present] = np.flatnonzero(ok)[first]
    out[lab[best]] = np.asarray(fac[first_of[cod[best]]], dtype=object)
    return out


def _joined(label: np.ndarray, adm_codes: tuple[np.ndarray, np.ndarray], n_lab: int) -> np.ndarray:
    """Per label, its distinct admin units (``adm_codes``: :func:`_codes` of the units) sorted
    and joined with "; "."""
    code, uniques = adm_codes
    ok = code >= 0
    out = np.full(n_lab, "", dtype=object)
    if ok.any():
        key = pd.unique(label[ok] * len(uniques) + code[ok])
        key.sort()  # by label, then code (the units' text order)
        lab, cod = key // len(uniques), key % len(uniques)
        # Most gaps lie in one unit (always when split by unit): its name as it is; the others joined.
        many = np.bincount(lab, minlength=n_lab)[lab] > 1
        out[lab[~many]] = uniques[cod[~many]]
        if many.any():
            joined = pd.Series(uniques[cod[many]]).groupby(lab[many], sort=False).agg("; ".join)
            out[joined.index.to_numpy()] = joined.to_numpy()
    return out


def _cluster_areas(xy: np.ndarray, label: np.ndarray, size: float) -> np.ndarray:
    """Per cluster label, the union of squares of side ``size`` centred on its points.

    Drawn on a grid of half-squares and polygonised with rasterio: a square centred on a
    point covers the 2 × 2 half-cells around it, exactly so for points on a lattice of
    that spacing (raster demand), within half a square otherwise. Far faster than a
    GEOS union of thousands of squares; clusters never share a half-cell because their
    points are more than the link distance (≥ ``size``) apart.
    """
    from affine import Affine

    from .grids import raster_polygons

    cell = size / 2.0
    origin = xy.min(axis=0) - size
    ij = np.floor((xy - origin) / cell + 1e-9).astype(np.int64)
    grid = np.zeros((ij[:, 1].max() + 2, ij[:, 0].max() + 2), dtype=np.int32)
    for di in (-1, 0):
        for dj in (-1, 0):
            grid[ij[:, 1] + dj, ij[:, 0] + di] = label + 1
    transform = Affine(cell, 0.0, origin[0], 0.0, cell, origin[1])
    polys, value = raster_polygons(grid, grid > 0, transform)
    value = value.astype(np.int64) - 1
    # 4-connected regions of one label touch at most at corners: one valid MultiPolygon.
    order = np.argsort(value, kind="stable")
    n_lab = int(label.max()) + 1
    out = np.array([shapely.Polygon()] * n_lab, dtype=object)
    labs, counts = np.unique(value, return_counts=True)
    multi = shapely.multipolygons(polys[order], indices=np.searchsorted(labs, value[order]))
    out[labs] = np.where(counts == 1, shapely.get_geometry(multi, 0), multi)
    return out


def gap_areas(gaps: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The gap polygons as the active geometry (gap_id, pop and the other attributes kept)."""
    if not isinstance(gaps, gpd.GeoDataFrame) or "area_geometry" not in gaps.columns:
        raise InputError("gaps must be the GeoDataFrame returned by find_gaps")
    out = gaps.drop(columns=[gaps.geometry.name]).copy()
    return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(out.pop("area_geometry"), crs=gaps.crs), crs=gaps.crs)


def write_gaps(gaps: gpd.GeoDataFrame, directory: str | os.PathLike, layer: str = "gaps",
               threshold_min: Any = None) -> tuple[Path, Path]:
    """Write ``gaps.csv`` and ``gaps.geojson`` into ``directory``, atomically.

    Parameters
    ----------
    gaps : geopandas.GeoDataFrame
        As returned by :func:`find_gaps` (other columns, e.g. ``target``, are kept).
    directory : str or path
        Output folder (must exist).
    layer : str, default "gaps"
        Name of the GeoJSON layer (what GIS software shows).
    threshold_min : float or array-like, optional
        The gaps' threshold, minutes (one, or one per row); default the one
        :func:`find_gaps` computed them with (``gaps.attrs["threshold_min"]``).

    Returns
    -------
    (Path, Path)
        The CSV and the GeoJSON written.

    Notes
    -----
    ``gaps.csv`` is UTF-8 with a BOM (Excel shows Chinese names right), no geometry, the
    representative point as ``lon``/``lat`` (WGS84, 7 decimals), people rounded to whole
    persons and minutes to 0.1 min — more decimals where 0.1 min would put a gap's time at
    or under its threshold (:func:`minutes_beside`: 15.04 → 15.04) —, ``area_km2`` to
    0.01 km². ``gaps.geojson`` holds the same rows and values as EPSG:4326 points. Infinite
    minutes (unreachable) are empty cells in the CSV and null in the GeoJSON.

    Raises
    ------
    InputError
        ``gaps`` is not a gap table, has no CRS, or no threshold is known.
    """
    if not isinstance(gaps, gpd.GeoDataFrame) or "gap_id" not in gaps.columns:
        raise InputError("gaps must be the GeoDataFrame returned by find_gaps")
    if gaps.crs is None:
        raise InputError("gaps has no CRS; cannot convert to WGS84")
    if threshold_min is None:
        threshold_min = gaps.attrs.get("threshold_min")
    if threshold_min is None:
        raise InputError("gaps carries no threshold (gaps.attrs['threshold_min'], set by find_gaps); pass "
                         "threshold_min= (minutes) so no time is rounded onto the wrong side of it")
    d = Path(directory)
    pts = gaps.drop(columns=["area_geometry"], errors="ignore")
    pts = gpd.GeoDataFrame(pts, geometry=gaps.geometry.name, crs=gaps.crs).to_crs(4326)
    table = pd.DataFrame(pts.drop(columns=[pts.geometry.name]))
    table["gap_id"] = table["gap_id"].astype(np.int64)
    table["lon"] = pts.geometry.x.round(7) if len(pts) else []
    table["lat"] = pts.geometry.y.round(7) if len(pts) else []
    for col in ("pop", "pop_unreachable", "n_points"):
        if col in table:
            table[col] = table[col].astype(float).round().astype(np.int64)
    for col in ("mean_minutes", "max_minutes", "best_minutes"):
        values = table[col].astype(float).replace([np.inf, -np.inf], np.nan).to_numpy()
        table[col] = minutes_beside(values, threshold_min)
    if "area_km2" in table:
        table["area_km2"] = table["area_km2"].astype(float).round(2)
    for col in ("nearest_facility", "nearest_facility_name"):
        if col in table:
            table[col] = table[col].map(lambda v: None if _missing(v) else str(v)).astype(object)
    csv_path = d / "gaps.csv"
    with write_atomic(csv_path, encoding="utf-8-sig") as fh:  # BOM: Excel opens Chinese names right
        csv_safe(table).to_csv(fh, index=False, lineterminator="\n")
    gj = gpd.GeoDataFrame(table.drop(columns=["lon", "lat"]), geometry=pts.geometry.values, crs=4326)
    gj_path = write_with(d / "gaps.geojson", lambda p: gj.to_file(p, driver="GeoJSON", layer=layer))
    return csv_path, gj_path


def write_target_gaps(gaps: Mapping[str, gpd.GeoDataFrame], directory: str | os.PathLike) -> tuple[Path, Path]:
    """The gap lists of several targets (target id → :func:`find_gaps` result) as one
    ``gaps.csv``/``gaps.geojson`` (see :func:`write_gaps`) with a leading ``target``
    column; the GeoJSON is one layer, named after the target when one target has gaps,
    else "gaps". Each target's minutes are rounded to its own threshold's side."""
    frames = [g.assign(target=tid) for tid, g in gaps.items()]
    listed = [f for f in frames if len(f)] or frames[:1]
    # a gap table without its threshold cannot be rounded safely: write_gaps names the fix
    thresholds = np.concatenate([np.full(len(f), np.nan if f.attrs.get("threshold_min") is None
                                         else float(f.attrs["threshold_min"])) for f in listed])
    if np.isnan(thresholds).any():
        thresholds = None
    table = gpd.GeoDataFrame(pd.concat(listed, ignore_index=True), geometry="geometry", crs=frames[0].crs)
    table = table[["target", *[c for c in table.columns if c != "target"]]]
    layer = listed[0]["target"].iloc[0] if len(listed) == 1 and len(listed[0]) else "gaps"
    return write_gaps(table, directory, layer=layer, threshold_min=thresholds)
