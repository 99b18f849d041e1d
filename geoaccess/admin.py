"""Admin units (townships, streets) and the urban/rural split of demand.

Urban or rural, in this order of precedence:
1. a true/false ``urban`` column of the admin layer (values true/1/yes/urban/城镇/城市 are urban);
2. the unit's name: in China, units named …街道 (sub-district) are urban, …镇 (town)
   and …乡 (township) rural;
3. a density rule: a demand point is urban when the population within the surrounding
   1 km² is at least ``urban_density`` persons per km² (default 1,500, the density the
   degree-of-urbanisation method uses for urban clusters).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import ndimage

from .errors import InputError
from .io import read_vector

OUTSIDE = "(outside admin units)"
_URBAN_VALUES = {"true", "1", "yes", "y", "t", "urban", "城镇", "城市", "城区", "街道"}
_RURAL_VALUES = {"false", "0", "no", "n", "f", "rural", "农村", "乡村", "镇", "乡"}


def admin_from_file(path: str, name: str = "name", urban: str | None = None, layer: str | None = None,
                    encoding: str | None = None) -> gpd.GeoDataFrame:
    """Admin unit polygons with columns ``unit`` (name) and ``urban`` (bool, or NA when undecided)."""
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
    """
    if len(xy) == 0:
        return np.zeros(0, dtype=bool)
    origin = xy.min(axis=0)
    ij = np.floor((xy - origin) / cell_m).astype(np.int64)
    shape = tuple(ij.max(axis=0) + 1)
    grid = np.zeros(shape)
    np.add.at(grid, (ij[:, 0], ij[:, 1]), pop)
    size = max(int(round(window_m / cell_m)), 1)
    window_sum = ndimage.uniform_filter(grid, size=size, mode="constant") * size * size
    density = window_sum[ij[:, 0], ij[:, 1]] / (size * cell_m) ** 2 * 1e6
    return density >= urban_density


def assign_units(demand: gpd.GeoDataFrame, units: gpd.GeoDataFrame | None, urban_density: float = 1500.0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Admin unit name and urban flag of every demand point (projected CRS).

    Points outside every unit get the unit :data:`OUTSIDE`; the urban flag falls back to
    the density rule wherever the unit does not decide it.
    """
    xy = np.column_stack([demand.geometry.x, demand.geometry.y])
    density_urban = urban_by_density(xy, demand["pop"].to_numpy(float), urban_density)
    if units is None:
        return np.full(len(demand), "all", dtype=object), density_urban
    units = units.to_crs(demand.crs)
    joined = gpd.sjoin(demand[[demand.geometry.name]], units, how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    name = joined["unit"].fillna(OUTSIDE).to_numpy(dtype=object)
    unit_urban = joined["urban"].astype("boolean")
    urban = np.where(unit_urban.isna().to_numpy(), density_urban, unit_urban.fillna(False).to_numpy(dtype=bool))
    return name, urban.astype(bool)
