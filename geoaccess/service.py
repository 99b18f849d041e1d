"""Service areas: demand partitioned by its nearest facility, one polygon per facility.

Split out of :mod:`geoaccess.isochrones` (which re-exports :func:`service_areas`).
"""

from __future__ import annotations

from typing import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import InputError, check_positive
from .routing import NearestResult

__all__ = ["service_areas"]


def service_areas(demand_xy: np.ndarray, nearest: NearestResult, facility_ids: Sequence,
                  cell_size_m: float | None = None, *, weights: np.ndarray | None = None,
                  crs=None) -> gpd.GeoDataFrame:
    """Demand partitioned by its nearest facility: one row per facility.

    Each demand point stands for a square cell of ``cell_size_m`` centred on it (the
    population raster's cell); a facility's area is the union of the cells it serves.
    Demand no facility reaches (facility -1) gets a last row with ``facility`` -1 and
    ``facility_id`` None, so that it is reported rather than dropped.

    Parameters
    ----------
    demand_xy
        ``(n, 2)`` demand coordinates in the network CRS (metres).
    nearest
        :func:`geoaccess.routing.nearest_facility` result for these demand points.
    facility_ids
        Label of each facility, in the order given to ``nearest_facility``.
    cell_size_m
        Side of a demand cell; default the median distance between neighbouring demand
        points (the raster resolution for raster demand).
    weights
        Population of each demand point; adds ``pop`` and weights ``mean_minutes``.
    crs
        CRS of ``demand_xy`` for the result (the network CRS).

    Returns
    -------
    geopandas.GeoDataFrame
        ``facility`` (index), ``facility_id``, ``n_demand``, ``pop`` (with weights),
        ``mean_minutes``, ``max_minutes`` and the area ``geometry`` (empty when the
        facility is nobody's nearest).
    """
    xy = np.asarray(demand_xy, dtype=float).reshape(-1, 2)
    fac = np.asarray(nearest.facility)
    minutes = np.asarray(nearest.minutes, dtype=float)
    if len(fac) != len(xy):
        raise InputError(f"demand_xy has {len(xy)} points but the nearest-facility result has {len(fac)}")
    if not np.isfinite(xy).all():
        raise InputError("demand_xy holds NaN or infinite coordinates")
    ids = list(facility_ids)
    k = len(ids)
    if len(fac) and fac.max(initial=-1) >= k:
        raise InputError(f"the nearest-facility result names facility {int(fac.max())} but only {k} facility_ids "
                         "were given")
    w = np.ones(len(xy)) if weights is None else np.asarray(weights, dtype=float).reshape(-1)
    if len(w) != len(xy):
        raise InputError(f"weights has {len(w)} values for {len(xy)} demand points")
    if (w < 0).any() or not np.isfinite(w).all():
        raise InputError("weights (population) must be finite and >= 0")
    size = _cell_size(xy) if cell_size_m is None else check_positive("cell_size_m", cell_size_m)

    group = np.where(fac >= 0, fac, k)  # k = the unreachable row
    n_groups = k + 1
    n_demand = np.bincount(group, minlength=n_groups)
    pop = np.bincount(group, weights=w, minlength=n_groups)
    finite = np.isfinite(minutes)
    tw = np.bincount(group[finite], weights=(w * minutes)[finite], minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(pop > 0, tw / pop, np.nan)
    mean[k] = np.inf if n_demand[k] else np.nan
    max_min = np.full(n_groups, np.nan)
    if len(group):
        np.fmax.at(max_min, group, minutes)

    half = size / 2.0
    cells = shapely.box(xy[:, 0] - half, xy[:, 1] - half, xy[:, 0] + half, xy[:, 1] + half)
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(n_groups + 1))
    lattice = _on_lattice(xy, size)
    geoms = []
    for g in range(n_groups):  # one union per facility (hundreds), not per cell
        members = cells[order[bounds[g]:bounds[g + 1]]]
        if len(members) == 0:
            geoms.append(shapely.Polygon())
        elif lattice:
            geoms.append(shapely.coverage_union_all(members))
        else:
            geoms.append(shapely.union_all(members))
    frame = pd.DataFrame({"facility": np.r_[np.arange(k), -1], "facility_id": pd.Series(ids + [None], dtype=object),
                          "n_demand": n_demand, "pop": pop, "mean_minutes": mean, "max_minutes": max_min})
    if weights is None:
        frame = frame.drop(columns="pop")
    out = gpd.GeoDataFrame(frame, geometry=geoms, crs=crs)
    if n_demand[k] == 0:
        out = out.iloc[:k]
    return out.reset_index(drop=True)


def _cell_size(xy: np.ndarray) -> float:
    from scipy.spatial import cKDTree

    unique = np.unique(xy, axis=0)
    if len(unique) < 2:
        raise InputError("cannot infer cell_size_m from fewer than two distinct demand points; pass cell_size_m")
    dist, _ = cKDTree(unique).query(unique, k=2)
    return float(np.median(dist[:, 1]))


def _on_lattice(xy: np.ndarray, size: float) -> bool:
    """True when the points are distinct centres of a regular grid of ``size`` (cells then
    form a clean coverage and can be merged with the much faster coverage union)."""
    if len(xy) == 0:
        return True
    steps = (xy - xy[0]) / size
    if not np.allclose(steps, np.round(steps), atol=1e-6):
        return False
    return len(np.unique(np.round(steps).astype(np.int64), axis=0)) == len(xy)
