"""Coordinates as people type them: degrees-minutes-seconds, range checks, points from files.

Coordinates typed by hand come as degrees-minutes-seconds as often as decimal degrees:
:func:`parse_degrees` reads both (``116°48'30.5"E``, ``N32°30′12″``, ``东经116度48分30秒``,
``116 48 30.5``, ``32°30.2'S``), :func:`lonlat_points` applies it to table columns (with
GCJ-02 / BD-09 shifted to WGS84 by :mod:`geoaccess.coords`), and
:func:`points_from_vector` turns the features of a vector file into WGS84 points.
"""

from __future__ import annotations

import re
import unicodedata

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from numpy.typing import ArrayLike

from .coords import crs_kind, to_wgs84_lonlat
from .errors import InputError


def check_lonlat(lon: ArrayLike, lat: ArrayLike, what: str, lines: ArrayLike | None = None,
                 detail: str = "") -> None:
    """Raise :class:`InputError` unless every point is a finite longitude/latitude.

    Parameters
    ----------
    lon, lat : array_like
        Longitude and latitude in decimal degrees, one entry per row of the input.
    what : str
        Names the input in messages, e.g. "facility file hospitals.csv".
    lines : array_like of int, optional
        The file line number of each row (see :func:`geoaccess.io.read_table_lines`);
        messages then name the lines as well as the 0-based rows.
    detail : str
        Added to the message about missing values (e.g. the unreadable values).

    Raises
    ------
    InputError
        Listing up to 10 rows with missing values or values out of range; values that
        look like projected metres get a hint to set ``crs``.
    """
    lon_a, lat_a = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    lon_a, lat_a = lon_a.ravel(), lat_a.ravel()
    missing = ~(np.isfinite(lon_a) & np.isfinite(lat_a))
    if missing.any():
        raise InputError(f"{what} has missing or non-numeric coordinates in {_rows(missing, lines)}; {detail}"
                         "fill them or drop those rows")
    bad = (np.abs(lon_a) > 180) | (np.abs(lat_a) > 90)
    if bad.any():
        hint = ""
        if (np.abs(lon_a[bad]) > 1000).any() or (np.abs(lat_a[bad]) > 1000).any():
            hint = (" they look like projected coordinates in metres: set crs = 'EPSG:xxxx' for projected"
                    " coordinates (e.g. 'EPSG:4547' for CGCS2000 / 3-degree Gauss-Kruger CM 114E)")
        elif (np.abs(lon_a[bad]) <= 90).all() and (np.abs(lat_a[bad]) <= 180).all():
            hint = " longitude and latitude may be swapped: check the x and y column names"
        raise InputError(
            f"{what} has coordinates outside longitude -180..180 / latitude -90..90 in {_rows(bad, lines)};{hint}"
        )


def _rows(mask: np.ndarray, lines: ArrayLike | None = None) -> str:
    """'rows (0-based, header not counted) 3, 7 (and 12 more)' for the True positions of ``mask``,
    led by their file line numbers when ``lines`` is given."""
    idx = np.flatnonzero(mask)
    more = f" (and {idx.size - 10} more)" if idx.size > 10 else ""
    if lines is None:
        return "rows (0-based, header not counted) " + ", ".join(str(i) for i in idx[:10]) + more
    at = np.asarray(lines)[idx[:10]]
    word = "line" if idx.size == 1 else "lines"
    rows_0 = ", ".join(str(i) for i in idx[:10])
    return f"rows at file {word} {', '.join(str(int(n)) for n in at)}{more} (line 1 = the header), 0-based data rows {rows_0}"


# Hemisphere words and unit marks, mapped to one spelling before parsing. NFKC already
# turns full-width digits and letters into ASCII and the double prime into two primes.
_DMS_WORDS = (("东经", "E"), ("西经", "W"), ("北纬", "N"), ("南纬", "S"), ("东", "E"), ("西", "W"), ("北", "N"),
              ("南", "S"), ("度", "°"), ("分", "'"), ("秒", '"'))
_DMS_MARKS = str.maketrans({"′": "'", "’": "'", "‘": "'", "`": "'", "´": "'", "″": '"', "”": '"', "“": '"'})
_NUM = r"\d+(?:\.\d*)?|\.\d+"
_DMS = re.compile(
    rf"""^(?P<h1>[NSEW])?\s*(?P<sign>[+-])?\s*(?P<deg>{_NUM})(?:\s*°)?
         (?:(?:(?<=°)\s*|\s+)(?P<min>{_NUM})(?:\s*')?
            (?:(?:(?<=')\s*|\s+)(?P<sec>{_NUM})(?:\s*")?)?)?
         \s*(?P<h2>[NSEW])?$""", re.VERBOSE)


def parse_degrees(values: ArrayLike, axis: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decimal degrees from numbers, decimal text or degrees-minutes-seconds text.

    Accepted text (whitespace around parts is free; full-width characters are read as
    their ASCII forms):

    - decimal degrees: ``116.808``, ``-32.5``, ``116.808°E``, ``E116.808``;
    - degrees and decimal minutes: ``116°48.5'``, ``116 48.5 E``;
    - degrees, minutes, seconds: ``116°48'30.5"E``, ``N32°30′12″``, ``32°30'12"S``,
      ``116 48 30.5``, ``东经116度48分30.5秒``, ``南纬32度30分``.

    Minute marks may be ``'`` ``′`` ``’`` or ``分``; second marks ``"`` ``″`` ``”``
    ``''`` or ``秒``. A hemisphere letter (N, S, E, W, before or after the number) or
    word (东经/西经/北纬/南纬) gives the sign: S and W are negative. Minutes and seconds
    must be below 60, only the last part may have decimals, and a minus sign cannot be
    combined with a hemisphere.

    Parameters
    ----------
    values : array_like
        One value per row: numbers, text, None/NaN.
    axis : {"lon", "lat"}, optional
        When given, a hemisphere of the other axis (N/S on a longitude, E/W on a
        latitude) makes the value unreadable: the columns are probably swapped.

    Returns
    -------
    (numpy.ndarray of float, numpy.ndarray of bool)
        Decimal degrees (NaN for missing or unreadable values), and the mask of values
        that were given but could not be read.
    """
    arr = np.asarray(values)
    if arr.dtype.kind in "fiub":  # numbers already: nothing to read
        return arr.astype(float).ravel(), np.zeros(arr.size, dtype=bool)
    series = pd.Series(arr.astype(object).ravel(), dtype=object)
    degrees = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, copy=True)
    unreadable = np.zeros(len(series), dtype=bool)
    nan = np.isnan(degrees)
    text = series[nan].astype("string").str.strip()
    given = (text.notna() & (text != "")).fillna(False).to_numpy(dtype=bool)
    todo = np.zeros(len(series), dtype=bool)
    todo[np.flatnonzero(nan)[given]] = True
    if not todo.any():
        return degrees, unreadable
    # º and ˚ (typed for °) go first: NFKC would turn º into the letter o.
    t = text[given].str.replace("º", "°").str.replace("˚", "°")
    t = t.map(lambda v: unicodedata.normalize("NFKC", v)).str.upper()
    for word, to in _DMS_WORDS:
        t = t.str.replace(word, to, regex=False)
    t = t.str.translate(_DMS_MARKS).str.replace("''", '"', regex=False)
    parts = t.str.extract(_DMS)
    number = {k: pd.to_numeric(parts[k], errors="coerce").to_numpy(dtype=float) for k in ("deg", "min", "sec")}
    has_min, has_sec = ~np.isnan(number["min"]), ~np.isnan(number["sec"])
    hemi = parts["h1"].fillna(parts["h2"]).fillna("").to_numpy(dtype=str)
    ok = parts["deg"].notna().to_numpy().copy()
    ok &= ~(parts["h1"].notna() & parts["h2"].notna()).to_numpy()  # "N32°S"
    ok &= ~((hemi != "") & parts["sign"].notna().to_numpy())     # "-32°S": which one?
    ok &= ~(has_min & (number["deg"] % 1 != 0)) & ~(has_sec & (number["min"] % 1 != 0))
    ok &= ~(np.nan_to_num(number["min"]) >= 60) & ~(np.nan_to_num(number["sec"]) >= 60)
    if axis == "lon":
        ok &= ~np.isin(hemi, ["N", "S"])
    elif axis == "lat":
        ok &= ~np.isin(hemi, ["E", "W"])
    value = number["deg"] + np.nan_to_num(number["min"]) / 60.0 + np.nan_to_num(number["sec"]) / 3600.0
    negative = np.isin(hemi, ["S", "W"]) | (parts["sign"] == "-").fillna(False).to_numpy()
    degrees[todo] = np.where(ok, np.where(negative, -value, value), np.nan)
    unreadable[todo] = ~ok
    return degrees, unreadable


def lonlat_points(x: ArrayLike, y: ArrayLike, crs: str, what: str, lines: ArrayLike | None = None) -> gpd.GeoSeries:
    """Checked WGS84 points from x/y values given in ``crs``.

    Parameters
    ----------
    x, y : array_like
        Coordinates in ``crs``: numbers, or text; in a geographic ``crs`` text may be
        decimal degrees or degrees-minutes-seconds (see :func:`parse_degrees`). NaN,
        None or empty text for missing values.
    crs : str
        See :func:`crs_kind`; GCJ-02 / BD-09 values are shifted to WGS84.
    what : str
        Names the input in messages.
    lines : array_like of int, optional
        File line number of each value, for messages.

    Returns
    -------
    geopandas.GeoSeries
        Points in EPSG:4326, one per input value, indexed 0..n-1.

    Raises
    ------
    InputError
        For an unknown CRS, missing or unreadable values (rows and values listed), or
        coordinates out of range (rows listed).
    """
    kind = crs_kind(crs)
    projected = kind == "pyproj" and not pyproj.CRS.from_user_input(crs).is_geographic
    x_a, bad_x = parse_degrees(x, None if projected else "lon")
    y_a, bad_y = parse_degrees(y, None if projected else "lat")
    if projected:
        # Metres are plain numbers: degree notation is no reading of them.
        x_a[bad_x | ~np.isfinite(x_a)], y_a[bad_y | ~np.isfinite(y_a)] = np.nan, np.nan
    detail = _unreadable(np.asarray(x, dtype=object).ravel(), np.asarray(y, dtype=object).ravel(), bad_x, bad_y,
                         lines, projected)
    if projected:
        missing = ~(np.isfinite(x_a) & np.isfinite(y_a))
        if missing.any():
            raise InputError(f"{what} has missing or non-numeric coordinates in {_rows(missing, lines)}; {detail}"
                             "fill them or drop those rows")
    else:
        # Check before shifting so the message shows the user's own values.
        check_lonlat(x_a, y_a, what, lines, detail)
    lon, lat = to_wgs84_lonlat(x_a, y_a, crs)
    if projected:
        failed = ~(np.isfinite(lon) & np.isfinite(lat))
        if failed.any():
            raise InputError(f"{what}: {_rows(failed, lines)} could not be transformed from {crs} to longitude/latitude;"
                             " check that crs is the system the x/y values are in")
    return gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326")


def _unreadable(x: np.ndarray, y: np.ndarray, bad_x: np.ndarray, bad_y: np.ndarray, lines: ArrayLike | None,
                projected: bool) -> str:
    """'unreadable values: line 4 x '116度48'; …. ' naming up to 5 values that could not be read."""
    idx = np.flatnonzero(bad_x | bad_y)
    if idx.size == 0:
        return ""
    where = (lambda i: f"line {int(np.asarray(lines)[i])}") if lines is not None else (lambda i: f"row {i}")
    shown = [f"{where(i)} x {x[i]!r}" if bad_x[i] else f"{where(i)} y {y[i]!r}" for i in idx[:5]]
    more = f" (and {idx.size - 5} more)" if idx.size > 5 else ""
    if projected:
        how = "projected coordinates must be plain numbers in metres"
    else:
        how = ("write decimal degrees (116.80847) or degrees-minutes-seconds (116°48'30.5\"E, N32°30'12\", "
               "东经116度48分30.5秒); N/S belong to latitude (y), E/W to longitude (x)")
    return f"unreadable values: {'; '.join(shown)}{more} ({how}); "


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


def point_xy(gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
    """The x and y of point geometries, in their CRS's units (NaN for an empty point).

    The values of ``GeoSeries.x`` / ``.y`` without their check that every geometry is a
    point, which names each row's type (~4x the cost on 200,000 demand points); for frames
    made of points only, as the readers here return.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame or geopandas.GeoSeries
        Point geometries.

    Returns
    -------
    x, y : numpy.ndarray
        Coordinates per row.
    """
    geoms = (gdf.geometry if isinstance(gdf, gpd.GeoDataFrame) else gdf).to_numpy()
    full = ~shapely.is_empty(geoms)  # GEOS refuses the x of an empty point
    if full.all():
        return shapely.get_x(geoms), shapely.get_y(geoms)
    x, y = np.full(len(geoms), np.nan), np.full(len(geoms), np.nan)
    x[full], y[full] = shapely.get_x(geoms[full]), shapely.get_y(geoms[full])
    return x, y
