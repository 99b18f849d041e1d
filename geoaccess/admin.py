"""Admin units (townships, streets) and the urban/rural split of demand.

Urban or rural, in this order of precedence:
1. a true/false ``urban`` column of the admin layer (values true/1/yes/urban/城镇/城市 are urban);
2. the unit's name: in China, units named …街道 (sub-district) are urban, …镇 (town)
   and …乡 (township) rural;
3. a density rule: a demand point is urban when the population within the surrounding
   1 km² is at least ``urban_density`` persons per km² (default 1,500, the density the
   degree-of-urbanisation method uses for urban clusters).

Unit geometry (checked at load and when people are assigned):

* invalid polygons (self-intersecting rings, bow-ties) are repaired with
  ``shapely.make_valid``, keeping their polygonal parts, with a warning naming the units;
* units must not overlap: an overlap larger than :data:`OVERLAP_TOLERANCE` of the smaller
  unit's area is refused (both units, the area in km² and the people in it named);
  smaller slivers, normal where boundaries were digitised separately, and points lying
  exactly on a shared border go to the unit listed first in the file, with a warning
  giving the people concerned.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

import warnings as _warnings

import shapely

from .errors import InputError
from .io import read_vector
from .points import point_xy

OUTSIDE = "(outside admin units)"
# Overlaps up to this share of the smaller unit's area are digitising slivers (tolerated);
# larger ones mean the file holds overlapping units and the run is refused.
OVERLAP_TOLERANCE = 0.01
_URBAN_VALUES = {"true", "1", "yes", "y", "t", "urban", "城镇", "城市", "城区", "街道"}
_RURAL_VALUES = {"false", "0", "no", "n", "f", "rural", "农村", "乡村", "镇", "乡"}


def _warn(message: str, warn_to: list[str] | None) -> None:
    if warn_to is None:
        _warnings.warn(message, UserWarning, stacklevel=3)
    else:
        warn_to.append(message)


def admin_from_file(path: str, name: str = "name", urban: str | None = None, layer: str | None = None,
                    encoding: str | None = None, warn_to: list[str] | None = None) -> gpd.GeoDataFrame:
    """Admin unit polygons (townships, streets) from a vector file.

    Parameters
    ----------
    path : str
        GeoPackage, Shapefile or GeoJSON of polygons.
    name : str
        Column with the unit's name.
    urban : str, optional
        Column saying urban (true/1/yes/urban/城镇/…) or rural (false/0/no/rural/乡村/…).
    layer : str, optional
        Layer of a GeoPackage.
    encoding : str, optional
        Force the attribute encoding.
    warn_to : list of str, optional
        Warnings are appended here (the pipeline's list); ``None``: Python warnings.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per unit in file order, columns ``unit`` (name) and ``urban`` (bool, or NA
        when undecided), in the file's CRS. Invalid polygons are repaired
        (``shapely.make_valid``, polygonal parts kept) with a warning naming the units.

    Raises
    ------
    InputError
        Missing file, no CRS, missing columns (listed), non-polygon geometries, urban
        values that are neither, or a unit that is empty once repaired.
    """
    units = read_vector(path, "admin units file", layer=layer, encoding=encoding)
    if units.crs is None:
        raise InputError(f"admin units file {path} has no CRS; set it (e.g. EPSG:4326) in GIS software")
    if name not in units:
        raise InputError(f"admin units file has no column {name!r} (set [admin] name); "
                         f"columns: {', '.join(map(str, units.columns.drop(units.geometry.name)))}")
    if not units.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        raise InputError("admin units must be polygons")
    out = gpd.GeoDataFrame({"unit": units[name].astype(str).str.strip()}, geometry=units.geometry, crs=units.crs)
    if urban is not None:
        if urban not in units:
            raise InputError(f"admin units file has no column {urban!r} (set [admin] urban); "
                             f"columns: {', '.join(map(str, units.columns.drop(units.geometry.name)))}")
        text = units[urban].astype(str).str.strip().str.lower()
        flag = pd.Series(pd.NA, index=units.index, dtype="boolean")
        flag[text.isin(_URBAN_VALUES)] = True
        flag[text.isin(_RURAL_VALUES)] = False
        bad = units.loc[flag.isna(), urban].unique()[:5]
        if len(bad):
            raise InputError(f"admin column {urban!r} has values that are neither urban nor rural: "
                             f"{', '.join(map(repr, bad))}; use true/false")
        out["urban"] = flag.to_numpy()
    else:
        out["urban"] = urban_from_name(out["unit"])
    return _repair_invalid(out, f"admin units file {path}", warn_to)


def _repair_invalid(units: gpd.GeoDataFrame, what: str, warn_to: list[str] | None) -> gpd.GeoDataFrame:
    """Repair invalid unit polygons with make_valid, keeping the polygonal parts only.

    Invalid rings (a self-intersecting boundary) make GEOS overlays such as the map's
    unions fail with a TopologyException long after loading; repairing here keeps every
    later stage on valid geometry.
    """
    geoms = units.geometry.to_numpy()
    bad = np.flatnonzero(~shapely.is_valid(geoms))
    if bad.size == 0:
        return units
    reasons = shapely.is_valid_reason(geoms[bad])
    fixed = shapely.make_valid(geoms[bad])
    # make_valid may return a GeometryCollection with lines/points: keep its polygons.
    parts, owner = shapely.get_parts(fixed, return_index=True)
    polygonal = np.isin(shapely.get_type_id(parts), (3, 6))
    repaired = np.array([shapely.union_all(parts[polygonal & (owner == k)]) for k in range(bad.size)], dtype=object)
    empty = shapely.is_empty(repaired)
    if empty.any():
        raise InputError(f"{what}: unit {units['unit'].iloc[bad[np.argmax(empty)]]!r} has an invalid geometry with "
                         "no area once repaired; redraw it in your GIS or delete it")
    out = units.copy()
    out.loc[out.index[bad], out.geometry.name] = repaired
    listed = "; ".join(f"{n} ({r})" for n, r in zip(units["unit"].iloc[bad][:10], reasons[:10]))
    _warn(f"{what}: {bad.size} unit geometr{'y was' if bad.size == 1 else 'ies were'} invalid and "
          f"{'was' if bad.size == 1 else 'were'} repaired (shapely.make_valid, polygonal parts kept): {listed}. "
          "Check the boundaries in your GIS (QGIS: Vector > Geometry Tools > Check Validity).", warn_to)
    return out


def urban_from_name(names: pd.Series) -> pd.Series:
    """Urban (True) for names ending in 街道, rural (False) for 镇/乡, NA otherwise."""
    names = names.astype(str).str.strip()
    flag = pd.Series(pd.NA, index=names.index, dtype="boolean")
    flag[names.str.endswith("街道")] = True
    flag[names.str.endswith(("镇", "乡"))] = False
    return flag


def urban_by_density(xy: np.ndarray, pop: np.ndarray, urban_density: float = 1500.0,
                     window_m: float = 1000.0, cell_m: float = 100.0) -> np.ndarray:
    """Urban flag per point from the population density of its surrounding ``window_m`` square.

    Points are binned on a ``cell_m`` grid (metres, projected CRS); each point gets the
    population per km² in the ``window_m × window_m`` window around its cell.

    Parameters
    ----------
    xy : numpy.ndarray
        (n, 2) point coordinates, metres.
    pop : numpy.ndarray
        Persons at each point.
    urban_density : float
        Persons per km² from which a point is urban.
    window_m, cell_m : float
        Window and grid cell size, metres.

    Returns
    -------
    numpy.ndarray
        Boolean urban flag per point.

    Notes
    -----
    Memory and time depend on the number of points and the extent of their clusters, not
    on how far apart clusters lie: empty grid rows and columns between occupied ones are
    collapsed to one window width, which changes no window sum (a window never spans
    them), so one stray point far away costs a few rows, not a grid across the country.
    """
    if len(xy) == 0:
        return np.zeros(0, dtype=bool)
    size = max(int(round(window_m / cell_m)), 1)
    ij = np.floor((xy - xy.min(axis=0)) / cell_m).astype(np.int64)
    ij = np.column_stack([_collapse_gaps(ij[:, 0], size), _collapse_gaps(ij[:, 1], size)])
    grid = np.zeros(tuple(ij.max(axis=0) + 1))
    np.add.at(grid, (ij[:, 0], ij[:, 1]), pop)
    from scipy import ndimage  # here: importing it costs 0.2 s that `check` without density never needs

    window_sum = ndimage.uniform_filter(grid, size=size, mode="constant") * size * size
    density = window_sum[ij[:, 0], ij[:, 1]] / (size * cell_m) ** 2 * 1e6
    return density >= urban_density


def _collapse_gaps(index: np.ndarray, size: int) -> np.ndarray:
    """Renumber grid indices so that gaps of ``size`` or more empty cells shrink to ``size``."""
    used, inverse = np.unique(index, return_inverse=True)
    steps = np.minimum(np.diff(used), size)
    return np.r_[0, np.cumsum(steps)][inverse]


def _projected(units: gpd.GeoDataFrame, crs) -> gpd.GeoDataFrame:
    units = units.to_crs(crs)
    return units.to_crs(units.estimate_utm_crs()) if units.crs.is_geographic else units


def check_overlaps(units: gpd.GeoDataFrame, demand: gpd.GeoDataFrame | None = None, what: str = "admin units",
                   tolerance: float = OVERLAP_TOLERANCE) -> None:
    """Refuse admin units that overlap by more than ``tolerance`` of the smaller unit's area.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
        Units with ``unit`` names (any CRS; areas are measured in a projected CRS).
    demand : geopandas.GeoDataFrame, optional
        Demand points with ``pop``: the people inside each overlap are given.
    what : str
        Names the admin file in the message.
    tolerance : float
        Largest tolerated overlap as a share of the smaller unit's area.

    Raises
    ------
    InputError
        Naming both units of each overlap (up to five, largest first), its area in km²,
        its share of the smaller unit and the people in it.
    """
    proj = _projected(units, demand.crs if demand is not None else units.crs)
    geoms = proj.geometry.to_numpy()
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pair = i < j
    i, j = i[pair], j[pair]
    overlap = shapely.intersection(geoms[i], geoms[j])
    area = shapely.area(overlap)
    area_u = shapely.area(geoms)
    smaller = np.minimum(area_u[i], area_u[j])
    bad = np.flatnonzero(area > tolerance * smaller)
    if bad.size == 0:
        return
    bad = bad[np.argsort(-area[bad])]
    names = units["unit"].to_numpy()
    if demand is not None:
        pts = demand.to_crs(proj.crs)
        x, y, pop = pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy(), pts["pop"].to_numpy(float)
    listed = []
    for k in bad[:5]:  # the message names at most five pairs
        people = (f", holding {pop[shapely.contains_xy(overlap[k], x, y)].sum():,.0f} people"
                  if demand is not None else "")
        listed.append(f"{names[i[k]]!r} and {names[j[k]]!r} overlap by {area[k] / 1e6:,.3f} km² "
                      f"({area[k] / smaller[k]:.0%} of the smaller unit){people}")
    more = f" (and {bad.size - 5} more overlapping pairs)" if bad.size > 5 else ""
    raise InputError(f"{what}: {'; '.join(listed)}{more}. Units may overlap by at most {tolerance:.0%} of the "
                     "smaller unit's area, otherwise people in the overlap would be counted in one unit only. Fix the "
                     "boundaries (QGIS: Vector > Geometry Tools > Check Validity, or Difference one unit by the "
                     "other) or remove duplicate units.")


def unit_of(points: gpd.GeoDataFrame, units: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The admin unit holding each point.

    Parameters
    ----------
    points : geopandas.GeoDataFrame
        Points with a CRS.
    units : geopandas.GeoDataFrame
        Units with ``unit`` names.

    Returns
    -------
    name : numpy.ndarray
        Unit name per point; :data:`OUTSIDE` where no unit holds it. A point in several
        units (on a shared border, or in a sliver overlap) goes to the unit listed first.
    shared : numpy.ndarray
        Boolean, True where the point lay in more than one unit.
    """
    pos, shared = _unit_index(points, units)
    names = np.r_[units["unit"].to_numpy(dtype=object), np.array([OUTSIDE], dtype=object)]
    return names[pos], shared


def _unit_index(points: gpd.GeoDataFrame, units: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row position of the unit holding each point (``len(units)`` = outside), and whether
    several units held it (the first listed wins)."""
    geoms = units.to_crs(points.crs).geometry.to_numpy()
    pts = points.geometry.to_numpy()
    # Boxes from the tree, then each pair's point tested in its prepared polygon: the same
    # pairs as the tree's "intersects" predicate (borders included), ~3x faster on 200k points.
    pt, unit = shapely.STRtree(geoms).query(pts)
    shapely.prepare(geoms)
    inside = shapely.intersects_xy(geoms[unit], shapely.get_x(pts[pt]), shapely.get_y(pts[pt]))
    pt, unit = pt[inside], unit[inside]
    pos = np.full(len(points), len(units), dtype=np.int64)
    np.minimum.at(pos, pt, unit)
    shared = np.bincount(pt, minlength=len(points)) > 1
    return pos, shared


def assign_units(demand: gpd.GeoDataFrame, units: gpd.GeoDataFrame | None, urban_density: float = 1500.0,
                 what: str = "admin units", warn_to: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Admin unit name and urban flag of every demand point (projected CRS).

    Parameters
    ----------
    demand : geopandas.GeoDataFrame
        Demand points with ``pop`` (persons), in a projected CRS (metres).
    units : geopandas.GeoDataFrame or None
        Admin units (:func:`admin_from_file`); ``None``: one unit ``"all"``.
    urban_density : float
        Persons per km² from which the density rule calls a point urban.
    what : str
        Names the admin file in messages.
    warn_to : list of str, optional
        Warnings are appended here; ``None``: Python warnings.

    Returns
    -------
    name, urban : numpy.ndarray
        Unit name (:data:`OUTSIDE` for points outside every unit) and urban flag per
        point; the flag falls back to the density rule wherever the unit does not decide.

    Raises
    ------
    InputError
        Units overlapping by more than :data:`OVERLAP_TOLERANCE` (see :func:`check_overlaps`).
    """
    xy = np.column_stack(point_xy(demand))
    density_urban = urban_by_density(xy, demand["pop"].to_numpy(float), urban_density)
    if units is None:
        return np.full(len(demand), "all", dtype=object), density_urban
    check_overlaps(units, demand, what)
    pos, shared = _unit_index(demand, units)
    name = np.r_[units["unit"].to_numpy(dtype=object), np.array([OUTSIDE], dtype=object)][pos]
    shared_pop = demand["pop"].to_numpy(float)[shared].sum()
    if shared_pop > 0:
        _warn(f"{what}: {shared_pop:,.0f} people ({shared.sum():,} demand points) lie on a border shared by two "
              f"units or in a sliver overlap below {OVERLAP_TOLERANCE:.0%} of a unit's area; each was counted in the "
              "unit listed first in the file", warn_to)
    unit_urban = pd.array(np.r_[units["urban"].to_numpy(dtype=object), [pd.NA]], dtype="boolean")[pos]
    urban = np.where(np.asarray(unit_urban.isna()), density_urban, unit_urban.fillna(False).to_numpy(dtype=bool))
    return name, urban.astype(bool)
