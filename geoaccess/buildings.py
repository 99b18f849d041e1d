"""Population rasters made from OpenStreetMap building footprints, where no census grid is
fine enough (:func:`buildings_from_osm`, :func:`population_raster_from_buildings`; the
demo's population was made this way). :mod:`geoaccess.demand` re-exports both.
"""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .coords import utm_crs_for
from .errors import InputError, check_positive
from .io import check_input_file, require_columns, write_with

# OSM building values that are homes. building=yes is handled separately.
RESIDENTIAL_BUILDINGS = ("residential", "apartments", "house", "detached", "semidetached_house", "terrace",
                         "bungalow", "dormitory", "farm", "cabin", "static_caravan", "houseboat", "ger")
# Tags that mark an untyped (building=yes) building as something other than a home.
NON_RESIDENTIAL_KEYS = ("amenity", "shop", "office", "tourism", "leisure", "craft", "healthcare", "man_made",
                        "historic", "government", "public_transport", "industrial", "religion")
_NODATA = -99999.0


def buildings_from_osm(path: str | os.PathLike) -> gpd.GeoDataFrame:
    """Building footprints from an OpenStreetMap .osm.pbf extract.

    Parameters
    ----------
    path : str or path-like
        An .osm.pbf file.

    Returns
    -------
    geopandas.GeoDataFrame
        Polygons in EPSG:4326 with the columns pyrosm gives (``building``,
        ``building:levels``, ``amenity``, ``shop``, ``tags`` (JSON of the other tags),
        ...), ``id`` renamed to ``osm_id``.

    Raises
    ------
    InputError
        Missing or unreadable file, or no buildings in it.
    """
    import pyrosm  # heavy import; only needed for OSM input

    p = check_input_file(path, "OSM file", (".osm.pbf", ".pbf"))
    try:
        gdf = pyrosm.OSM(str(p)).get_buildings()
    except Exception as exc:  # pyrosm raises bare errors on corrupt files
        raise InputError(f"could not read OSM file {p}: {exc}") from None
    if gdf is None or gdf.empty:
        raise InputError(f"OSM file {p} has no buildings; use a population raster or census polygons instead")
    return gdf.rename(columns={"id": "osm_id"}).reset_index(drop=True)


def population_raster_from_buildings(buildings: gpd.GeoDataFrame, out_path: str | os.PathLike,
                                     cell_size_m: float = 100.0, floor_area_per_person_m2: float = 40.0,
                                     default_levels: float = 3.0,
                                     residential_values: tuple[str, ...] = RESIDENTIAL_BUILDINGS,
                                     untyped_as_residential: bool = True,
                                     total_population: float | None = None) -> Path:
    """Estimate residents from building footprints and write them as a population raster.

    Residents of a building = footprint area (m², measured in the local UTM zone) ×
    levels / ``floor_area_per_person_m2``, where levels is the ``building:levels`` tag
    when it is a positive number, else ``default_levels``. A building's residents all
    go to the grid cell that holds its centroid (sums per cell with ``np.bincount``).

    Which buildings are homes: those whose ``building`` value is in
    ``residential_values``, plus, when ``untyped_as_residential`` is true, untyped
    ``building=yes`` footprints that carry none of the tags in ``NON_RESIDENTIAL_KEYS``
    (amenity, shop, office, tourism, ...). In China most OSM buildings, homes included,
    are tagged only ``building=yes``; leaving them out would place almost nobody.

    Defaults fit Chinese counties: 40 m² of gross floor area per person (the 2020
    census gives about 41.8 m² of housing construction area per person) and 3 levels
    for buildings without ``building:levels``. Where the total is known (census),
    pass ``total_population``: the estimates are then scaled to it and only act as
    weights, which removes most of the error of the defaults.

    Parameters
    ----------
    buildings : geopandas.GeoDataFrame
        Footprints with a CRS and a ``building`` column (e.g. from :func:`buildings_from_osm`);
        non-polygon features are ignored.
    out_path : str or path-like
        GeoTIFF to write (atomically).
    cell_size_m : float
        Cell size in metres. The grid is in the UTM zone of the buildings' centre and
        aligned to multiples of the cell size.
    floor_area_per_person_m2 : float
        Gross floor area per resident, m².
    default_levels : float
        Levels assumed where ``building:levels`` is missing or not a positive number.
    residential_values : tuple of str
        ``building`` values counted as homes (compared lower-case, trimmed).
    untyped_as_residential : bool
        Count ``building=yes`` without non-residential tags as homes.
    total_population : float, optional
        Scale the raster so that it sums to this many persons.

    Returns
    -------
    pathlib.Path
        ``out_path``: a float32 GeoTIFF of persons per cell, CRS and nodata set
        (cells without residents hold 0).

    Raises
    ------
    InputError
        Not a GeoDataFrame, no CRS, no ``building`` column (columns listed), a
        non-positive parameter, or no residential buildings.
    """
    import rasterio
    from rasterio.transform import from_origin

    what = "buildings"
    if not isinstance(buildings, gpd.GeoDataFrame):
        raise InputError(f"buildings must be a GeoDataFrame of footprints (e.g. from buildings_from_osm), "
                         f"got {type(buildings).__name__}")
    if buildings.crs is None:
        raise InputError("buildings have no CRS; set it with buildings.set_crs('EPSG:4326')")
    require_columns(buildings, what, {"building": "building"})
    cell = check_positive("cell_size_m", cell_size_m)
    per_person = check_positive("floor_area_per_person_m2", floor_area_per_person_m2)
    levels_default = check_positive("default_levels", default_levels)
    total = None if total_population is None else check_positive("total_population", total_population)

    homes = buildings[_is_home(buildings, residential_values, untyped_as_residential)
                      & buildings.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()]
    if homes.empty:
        found = buildings["building"].value_counts().head(15).index.tolist()
        raise InputError(f"no residential buildings among {len(buildings)} buildings; building values found: "
                         f"{', '.join(map(str, found))}; pass residential_values to say which are homes")
    lon, lat = homes.to_crs("EPSG:4326").geometry.union_all().envelope.centroid.coords[0]
    utm = homes.to_crs(utm_crs_for(lon, lat)).geometry
    levels = (pd.to_numeric(homes["building:levels"], errors="coerce") if "building:levels" in homes
              else pd.Series(np.nan, index=homes.index)).to_numpy(dtype=float)
    levels = np.where(levels > 0, levels, levels_default)
    persons = utm.area.to_numpy() * levels / per_person
    if total is not None:
        persons *= total / persons.sum()

    centroids = utm.centroid
    cx, cy = centroids.x.to_numpy(), centroids.y.to_numpy()
    x0, y_top = np.floor(cx.min() / cell) * cell, np.ceil(cy.max() / cell) * cell
    col = np.floor((cx - x0) / cell).astype(np.int64)
    row = np.floor((y_top - cy) / cell).astype(np.int64)
    ncols, nrows = int(col.max()) + 1, int(row.max()) + 1
    grid = np.bincount(row * ncols + col, weights=persons, minlength=nrows * ncols).reshape(nrows, ncols)

    profile = {"driver": "GTiff", "width": ncols, "height": nrows, "count": 1, "dtype": "float32",
               "crs": utm.crs.to_wkt(), "transform": from_origin(x0, y_top, cell, cell), "nodata": _NODATA,
               "compress": "deflate"}

    def _write(tmp: Path) -> None:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(grid.astype(np.float32), 1)

    return write_with(out_path, _write)


def _is_home(buildings: gpd.GeoDataFrame, residential_values: tuple[str, ...], untyped: bool) -> np.ndarray:
    value = buildings["building"].astype("string").str.strip().str.lower()
    home = value.isin([v.strip().lower() for v in residential_values]).fillna(False).to_numpy(dtype=bool)
    if not untyped:
        return home
    tagged = np.zeros(len(buildings), dtype=bool)
    for key in NON_RESIDENTIAL_KEYS:
        if key in buildings.columns:
            tagged |= buildings[key].notna().to_numpy()
    if "tags" in buildings.columns:
        # pyrosm keeps tags it has no column for as a JSON string.
        pattern = r'"(?:' + "|".join(NON_RESIDENTIAL_KEYS) + r')"\s*:'
        tagged |= buildings["tags"].astype("string").str.contains(pattern, regex=True).fillna(False).to_numpy(dtype=bool)
    return home | ((value == "yes").fillna(False).to_numpy(dtype=bool) & ~tagged)
