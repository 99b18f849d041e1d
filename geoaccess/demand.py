"""Demand: where people live, as points carrying a population count.

Every reader returns a GeoDataFrame of points with ``demand_id`` (int, 0..n-1) and
``pop`` (float, persons), with its CRS set. Sources: a population raster (WorldPop,
GPW, or one made from buildings), polygons with a population field (villages,
communities, census units), or points (CSV or vector).

:func:`population_raster_from_buildings` makes a population raster from OpenStreetMap
building footprints where no census grid is fine enough (in :mod:`geoaccess.buildings`,
re-exported here).

Population values: one rule for every input (raster, points, polygons)
---------------------------------------------------------------------
* Nodata: raster cells equal to the raster's declared nodata value are no data and hold
  nobody (skipped, as are cells of 0).
* Anything else that is not a count of persons >= 0 is refused with an InputError: a
  negative value, or NaN / an empty or non-numeric cell, that is not the declared nodata.
  The message names the file, the count of such cells or rows, the sum of the negative
  values, and the first one's location (row/col and lon/lat for a raster, row and file line
  for a table, feature for a vector file), and how to fix it (declare the nodata value
  with ``gdal_edit.py -a_nodata``, or correct the rows). Nothing is dropped silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from .errors import InputError
from .buildings import (NON_RESIDENTIAL_KEYS, RESIDENTIAL_BUILDINGS, buildings_from_osm,  # noqa: F401  (moved)
                        population_raster_from_buildings)
from .io import RASTER_SUFFIXES, TABLE_SUFFIXES, VECTOR_SUFFIXES, check_input_file, read_table_lines, read_vector, require_columns
from .points import lonlat_points, points_from_vector



def population_from_raster(path: str | os.PathLike, band: int = 1,
                           to_crs: str | pyproj.CRS | None = None) -> gpd.GeoDataFrame:
    """One demand point per populated raster cell.

    Parameters
    ----------
    path : str or path-like
        A GeoTIFF of population counts (persons per cell), e.g. WorldPop.
    band : int
        1-based band number.
    to_crs : str or pyproj.CRS, optional
        CRS of the returned points; default the raster's own. The cell centres are
        transformed before the points are made: the same coordinates as
        ``GeoDataFrame.to_crs`` gives, without making the points twice.

    Returns
    -------
    geopandas.GeoDataFrame
        Points at cell centres, in the raster's CRS (or ``to_crs``), for every cell with a population
        above 0 (nodata cells, as the raster declares them, and 0 cells hold nobody and
        are skipped), in row-major order; columns
        ``demand_id``, ``pop`` (persons), ``row``, ``col`` (0-based cell indices),
        ``cell_area_m2`` (square metres; for geographic rasters the exact area of the
        cell on the CRS's ellipsoid).

    Raises
    ------
    InputError
        Missing or unreadable file, band out of range, no CRS, a rotated geographic
        grid, or cells that are negative or NaN without being the raster's declared
        nodata (see the population-values rule in the module docstring; the message gives their count, their sum
        and the first one's row/col and lon/lat).
    """
    import rasterio

    p = check_input_file(path, "population raster", RASTER_SUFFIXES)
    try:
        with rasterio.open(p) as src:
            if not 1 <= band <= src.count:
                raise InputError(f"population raster {p.name} has {src.count} band(s); band={band} is out of range")
            if src.crs is None:
                raise InputError(
                    f"population raster {p.name} has no CRS; WorldPop rasters are EPSG:4326; fix with "
                    f"gdal_edit.py -a_srs EPSG:4326 {p.name} (or the EPSG code of the grid it was made on)")
            values = src.read(band, masked=True)
            transform, crs = src.transform, pyproj.CRS.from_user_input(src.crs)
    except InputError:
        raise
    except Exception as exc:  # rasterio errors: say which file and why
        raise InputError(f"could not read population raster {p}: {exc}") from None
    data = values.filled(0.0).astype(float)  # declared nodata holds nobody
    valid = np.isfinite(data)
    if not valid.all():
        _refuse_cells(p, band, ~valid, data, transform, crs, "missing (NaN)",
                      f"if NaN means 'no data' here, declare it: gdal_edit.py -a_nodata nan {p.name}")
    if (data < 0).any():
        _refuse_cells(p, band, data < 0, data, transform, crs, "negative",
                      f"if these cells mean 'no data', declare that value as nodata: gdal_edit.py -a_nodata "
                      f"<value> {p.name}; otherwise correct them (0 where nobody lives)")
    rows, cols = np.nonzero(data > 0)
    x, y = _cell_centres(transform, rows, cols)
    area = _cell_area_m2(transform, crs, y, p.name)
    out_crs = crs
    if to_crs is not None and not crs.is_exact_same(pyproj.CRS.from_user_input(to_crs)):  # as GeoDataFrame.to_crs
        out_crs = pyproj.CRS.from_user_input(to_crs)
        x, y = pyproj.Transformer.from_crs(crs, out_crs, always_xy=True).transform(x, y)
    return gpd.GeoDataFrame({
        "demand_id": np.arange(rows.size, dtype=np.int64),
        "pop": data[rows, cols],
        "row": rows.astype(np.int64),
        "col": cols.astype(np.int64),
        "cell_area_m2": area,
    }, geometry=gpd.points_from_xy(x, y), crs=out_crs)


def _cell_centres(transform, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xc, yc = cols + 0.5, rows + 0.5
    return transform.c + transform.a * xc + transform.b * yc, transform.f + transform.d * xc + transform.e * yc


def _refuse_cells(p: Path, band: int, bad: np.ndarray, data: np.ndarray, transform, crs: pyproj.CRS,
                  problem: str, fix: str) -> None:
    """Raise the the population-values rule of this module error for raster cells, locating the first bad cell."""
    rows, cols = np.nonzero(bad)
    x, y = _cell_centres(transform, rows[:1], cols[:1])
    lon, lat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x[0], y[0])
    first = f"row {rows[0]}, col {cols[0]} (0-based; cell centre lon {lon:.5f}, lat {lat:.5f})"
    total = data[bad].sum() if problem == "negative" else None
    _refuse(f"population raster {p.name}", problem, f"band {band}", rows.size, "cell", total, first, fix)


def _refuse(what: str, problem: str, where: str, count: int, unit: str, total: float | None, first: str,
            fix: str) -> None:
    """The one wording of the population-values rule of this module errors, for every population reader."""
    held = f" holding {total:,.1f} persons in total" if total is not None else ""
    raise InputError(f"{what} has {problem} values in {where}: {count:,} {unit}{'s' if count != 1 else ''}{held}, "
                     f"the first at {first}; population must be a number of persons >= 0. Fix: {fix}")


def _cell_area_m2(transform, crs: pyproj.CRS, y_centre: np.ndarray, name: str) -> np.ndarray:
    if not crs.is_geographic:
        unit = crs.axis_info[0].unit_conversion_factor
        return np.full(y_centre.shape, abs(transform.determinant) * unit * unit)
    if transform.b != 0 or transform.d != 0:
        raise InputError(f"population raster {name} is a rotated geographic grid; warp it north-up first "
                         "(gdalwarp -t_srs EPSG:4326 in.tif out.tif)")
    # Area of a lon/lat cell on the ellipsoid: a^2/2 * dlon * (q(lat_top) - q(lat_bottom)),
    # with q the authalic-latitude function (Snyder, Map Projections, eq. 3-12).
    a = crs.ellipsoid.semi_major_metre
    e = np.sqrt(1.0 - (crs.ellipsoid.semi_minor_metre / a) ** 2)
    half = abs(transform.e) / 2.0

    def q(lat_deg: np.ndarray) -> np.ndarray:
        s = np.sin(np.radians(lat_deg))
        if e == 0.0:
            return 2.0 * s
        return (1.0 - e * e) * (s / (1.0 - e * e * s * s) - np.log((1.0 - e * s) / (1.0 + e * s)) / (2.0 * e))

    return a * a / 2.0 * np.radians(abs(transform.a)) * np.abs(q(y_centre + half) - q(y_centre - half))


def _pop_values(df: pd.DataFrame, pop: str, what: str, lines: np.ndarray | None = None) -> np.ndarray:
    """Population column as floats; missing, non-numeric or negative values are refused
    (the module's population-values rule), rows listed. ``lines``: each row's line in a
    CSV/XLSX file (blank lines skipped by the reader), for a table."""
    values = pd.to_numeric(df[pop], errors="coerce").to_numpy(dtype=float)
    for mask, problem in ((~np.isfinite(values), "missing or non-numeric"), (values < 0, "negative")):
        if mask.any():
            idx = np.flatnonzero(mask)
            rows = ", ".join(str(i) for i in idx[:10]) + (f" (and {idx.size - 10} more)" if idx.size > 10 else "")
            table = lines is not None
            rows = "rows (0-based) " + rows
            if table:  # and the file lines an editor shows (blank lines are skipped by the reader)
                rows += f" (file line{'s' if idx.size > 1 else ''} {', '.join(str(int(n)) for n in lines[idx[:10]])})"
            first = f"row {idx[0]} (line {lines[idx[0]]} of the file)" if table else f"feature {idx[0]} (0-based)"
            _refuse(what, problem, f"population column {pop!r}, {rows}", idx.size,
                    "row" if table else "feature", values[mask].sum() if problem == "negative" else None, first,
                    "correct those values (a count of persons, 0 where nobody lives) or delete the rows")
    return values


def _demand_frame(pop: np.ndarray, attrs: pd.DataFrame, geometry, crs) -> gpd.GeoDataFrame:
    attrs = attrs.reset_index(drop=True).drop(columns=[c for c in ("demand_id", "pop") if c in attrs.columns])
    head = pd.DataFrame({"demand_id": np.arange(len(pop), dtype=np.int64), "pop": pop})
    return gpd.GeoDataFrame(pd.concat([head, attrs], axis=1), geometry=geometry, crs=crs)


def _check_geometry(gdf: gpd.GeoDataFrame, allowed: tuple[str, ...], what: str, hint: str) -> None:
    geom = gdf.geometry
    bad = (geom.isna() | geom.is_empty).to_numpy()
    if bad.any():
        rows = ", ".join(str(i) for i in np.flatnonzero(bad)[:10])
        raise InputError(f"{what} has missing or empty geometries in rows {rows}; fix or drop those features")
    other = sorted(set(geom.geom_type) - set(allowed))
    if other:
        raise InputError(f"{what} holds {', '.join(other)} geometries, expected {' or '.join(allowed)}; {hint}")


def _polygons_to_demand(gdf: gpd.GeoDataFrame, pop: str, what: str) -> gpd.GeoDataFrame:
    if gdf.empty:
        raise InputError(f"{what} has no rows")
    require_columns(gdf, what, {"pop": pop})
    _check_geometry(gdf, ("Polygon", "MultiPolygon"), what, "use population_from_points for point files")
    if gdf.crs is None:
        raise InputError(f"{what} has no CRS (a Shapefile without .prj?); define it in your GIS or with "
                         "ogr2ogr -a_srs EPSG:4326 out.gpkg in.shp")
    values = _pop_values(gdf, pop, what)
    attrs = pd.DataFrame(gdf.drop(columns=[gdf.geometry.name, pop]))
    return _demand_frame(values, attrs, gdf.geometry.representative_point().to_numpy(), gdf.crs)


def population_from_polygons(path: str | os.PathLike, pop: str, layer: str | None = None,
                             encoding: str | None = None) -> gpd.GeoDataFrame:
    """One demand point per polygon (village, community, census unit) with its population.

    Parameters
    ----------
    path : str or path-like
        GeoPackage, Shapefile or GeoJSON of polygons.
    pop : str
        Column with the population (persons) of each polygon.
    layer : str, optional
        Layer of a GeoPackage.
    encoding : str, optional
        Force the attribute encoding (default: UTF-8, falling back to GBK for Shapefiles).

    Returns
    -------
    geopandas.GeoDataFrame
        Each polygon's representative point (guaranteed inside it), in the file's CRS,
        with ``demand_id``, ``pop`` (persons) and all other attributes of the polygon.

    Raises
    ------
    InputError
        Missing or unreadable file, no rows, missing population column (columns
        listed), non-numeric / missing / negative population (rows listed), non-polygon
        or missing geometries, or no CRS.
    """
    what = f"population polygons {Path(path).name}"
    return _polygons_to_demand(read_vector(path, what, layer=layer, encoding=encoding), pop, what)


def _points_to_demand(gdf: gpd.GeoDataFrame, pop: str, crs: str, what: str) -> gpd.GeoDataFrame:
    if gdf.empty:
        raise InputError(f"{what} has no rows")
    require_columns(gdf, what, {"pop": pop})
    _check_geometry(gdf, ("Point",), what, "use population_from_polygons for polygon files")
    values = _pop_values(gdf, pop, what)
    points = points_from_vector(gdf.reset_index(drop=True), crs, what)
    attrs = pd.DataFrame(gdf.drop(columns=[gdf.geometry.name, pop]))
    return _demand_frame(values, attrs, points.to_numpy(), "EPSG:4326")


def population_from_points(path: str | os.PathLike, x: str = "lon", y: str = "lat", pop: str = "pop",
                           crs: str = "EPSG:4326", layer: str | None = None) -> gpd.GeoDataFrame:
    """Demand points from a CSV / XLSX table or a vector file of points.

    Parameters
    ----------
    path : str or path-like
        .csv / .xlsx with x, y and population columns, or a GeoPackage / Shapefile /
        GeoJSON of points.
    x, y : str
        Coordinate columns of a table (ignored for vector files).
    pop : str
        Column with the population (persons) at each point.
    crs : str
        CRS of x/y (see :func:`geoaccess.coords.crs_kind`); for vector files, used when
        the file has no CRS or to shift GCJ-02 / BD-09 coordinates.
    layer : str, optional
        Layer of a GeoPackage.

    Returns
    -------
    geopandas.GeoDataFrame
        Points in EPSG:4326 with ``demand_id``, ``pop`` (persons) and the other columns;
        a table's x/y columns are dropped (the geometry holds the WGS84 position).

    Raises
    ------
    InputError
        Missing or unreadable file, no rows, missing columns (listed), bad coordinates
        or population values (rows listed), non-point geometries.
    """
    p = check_input_file(path, "population points", TABLE_SUFFIXES + VECTOR_SUFFIXES)
    what = f"population points {p.name}"
    if p.name.lower().endswith(TABLE_SUFFIXES):
        df, lines = read_table_lines(p, what)
        require_columns(df, what, {"x": x, "y": y, "pop": pop})
        values = _pop_values(df, pop, what, lines)
        # raw cells: lonlat_points reads decimal and degrees-minutes-seconds alike
        points = lonlat_points(df[x].to_numpy(), df[y].to_numpy(), crs, what, lines)
        return _demand_frame(values, df.drop(columns=[x, y, pop]), points.to_numpy(), "EPSG:4326")
    return _points_to_demand(read_vector(p, what, layer=layer), pop, crs, what)


def population_from_file(path: str | os.PathLike, pop: str = "pop", x: str = "lon", y: str = "lat",
                         crs: str = "EPSG:4326", band: int = 1, layer: str | None = None,
                         to_crs: str | pyproj.CRS | None = None) -> gpd.GeoDataFrame:
    """Demand points from any supported population source, chosen by file type.

    .tif / .tiff -> :func:`population_from_raster`; .csv / .xlsx ->
    :func:`population_from_points`; vector files -> :func:`population_from_polygons` if
    every feature is a polygon, :func:`population_from_points` if every feature is a point.

    Parameters
    ----------
    path : str or path-like
        The population file.
    pop : str
        Population column (persons) of tables and vector files.
    x, y : str
        Coordinate columns of tables.
    crs : str
        CRS of table coordinates / vector points (see :func:`population_from_points`).
    band : int
        Raster band (1-based).
    layer : str, optional
        Layer of a GeoPackage.
    to_crs : str or pyproj.CRS, optional
        CRS of the returned points (``GeoDataFrame.to_crs``; a raster's cell centres are
        transformed before its points are made); default the source's own.

    Returns
    -------
    geopandas.GeoDataFrame
        Demand points with ``demand_id`` and ``pop`` (persons).

    Raises
    ------
    InputError
        As the reader chosen, or for a vector file mixing points and polygons.
    """
    p = check_input_file(path, "population file", RASTER_SUFFIXES + TABLE_SUFFIXES + VECTOR_SUFFIXES)
    name = p.name.lower()
    if name.endswith(RASTER_SUFFIXES):
        return population_from_raster(p, band=band, to_crs=to_crs)
    def done(demand: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        return demand if to_crs is None else demand.to_crs(to_crs)

    if name.endswith(TABLE_SUFFIXES):
        return done(population_from_points(p, x=x, y=y, pop=pop, crs=crs))
    what = f"population file {p.name}"
    gdf = read_vector(p, what, layer=layer)
    types = set(gdf.geometry.dropna().geom_type)
    if types and types <= {"Polygon", "MultiPolygon"}:
        return done(_polygons_to_demand(gdf, pop, what))
    if types == {"Point"}:
        return done(_points_to_demand(gdf, pop, crs, what))
    raise InputError(f"{what} holds {', '.join(sorted(types)) or 'no'} geometries; population files must be all "
                     "polygons (units with a population field) or all points")
