"""Coordinate systems used for Chinese facility data, and checks on lon/lat input.

Chinese web maps do not publish WGS84 coordinates. Amap (Gaode), Tencent and Google China
use GCJ-02, an obfuscated datum offset from WGS84 by roughly 100-700 m; Baidu adds a
second offset on top (BD-09). Facility lists exported from those maps must be shifted
back to WGS84 before they are placed on an OpenStreetMap road network, or every
facility lands a few hundred metres away from its door.

All functions take scalars or numpy arrays (any shape) of longitudes and latitudes in
decimal degrees and return the same shape. Points outside China's bounding box are
returned unchanged, as the GCJ-02 obfuscation is not applied there.

Reading coordinates as people type them (degrees-minutes-seconds, range checks, vector
files to points) is in :mod:`geoaccess.points`.
"""

from __future__ import annotations


import numpy as np
import pyproj
from numpy.typing import ArrayLike

from .errors import InputError

# Krasovsky 1940 ellipsoid, on which the GCJ-02 formulas are defined.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0

# The usual rectangle for "inside China" shared by the published implementations.
_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)

WGS84_NAMES = ("EPSG:4326", "WGS84", "WGS 84", "CGCS2000", "EPSG:4490")
GCJ02_NAMES = ("GCJ-02", "GCJ02", "gcj")
BD09_NAMES = ("BD-09", "BD09", "baidu")

_ACCEPTED = (
    "accepted values are " + ", ".join(map(repr, WGS84_NAMES + GCJ02_NAMES + BD09_NAMES))
    + " or any EPSG code / PROJ string, e.g. 'EPSG:4547' (CGCS2000 / 3-degree Gauss-Kruger CM 114E)"
)

_INVERSE_TOL_DEG = 1e-9
_INVERSE_MAX_ITER = 30


def _arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    lon_a, lat_a = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return lon_a, lat_a


def _out(lon: np.ndarray, lat: np.ndarray, scalar: bool):
    if scalar:
        return float(lon), float(lat)
    return lon, lat


def _is_scalar(lon: ArrayLike, lat: ArrayLike) -> bool:
    return np.ndim(lon) == 0 and np.ndim(lat) == 0


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
    """Boolean mask of points outside China's bounding box (where no shift applies).

    Parameters
    ----------
    lon, lat : array_like
        Longitude and latitude in decimal degrees.

    Returns
    -------
    numpy.ndarray of bool
    """
    lon_a, lat_a = _arrays(lon, lat)
    return (lon_a < _CHINA_LON[0]) | (lon_a > _CHINA_LON[1]) | (lat_a < _CHINA_LAT[0]) | (lat_a > _CHINA_LAT[1])


def _gcj_delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS84 in degrees, evaluated at a WGS84 point."""
    x = lon - 105.0
    y = lat - 35.0
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x)) + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x)) + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    radlat = np.radians(lat)
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike):
    """Shift WGS84 coordinates to GCJ-02 (Amap / Tencent / Google China).

    Parameters
    ----------
    lon, lat : array_like
        WGS84 longitude and latitude in decimal degrees.

    Returns
    -------
    (lon, lat)
        GCJ-02 longitude and latitude in decimal degrees; floats for scalar input,
        arrays otherwise. Points outside China are unchanged.
    """
    scalar = _is_scalar(lon, lat)
    lon_a, lat_a = _arrays(lon, lat)
    dlon, dlat = _gcj_delta(lon_a, lat_a)
    outside = out_of_china(lon_a, lat_a)
    return _out(np.where(outside, lon_a, lon_a + dlon), np.where(outside, lat_a, lat_a + dlat), scalar)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike):
    """Shift GCJ-02 coordinates back to WGS84.

    The forward shift has no closed-form inverse; the WGS84 point ``w`` with
    ``wgs84_to_gcj02(w) == g`` is found by fixed-point iteration
    ``w <- w - (wgs84_to_gcj02(w) - g)``, which contracts because the shift changes
    slowly with position. It stops when every point moves by less than 1e-9 degrees
    (about 0.1 mm), far below the 1e-7 degree accuracy promised; the common one-step
    approximation is off by up to a few metres.

    Parameters
    ----------
    lon, lat : array_like
        GCJ-02 longitude and latitude in decimal degrees.

    Returns
    -------
    (lon, lat)
        WGS84 longitude and latitude in decimal degrees. Points outside China are unchanged.
    """
    scalar = _is_scalar(lon, lat)
    g_lon, g_lat = _arrays(lon, lat)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(_INVERSE_MAX_ITER):
        dlon, dlat = _gcj_delta(w_lon, w_lat)
        step_lon = w_lon + dlon - g_lon
        step_lat = w_lat + dlat - g_lat
        w_lon = w_lon - step_lon
        w_lat = w_lat - step_lat
        if np.all(np.abs(step_lon) < _INVERSE_TOL_DEG) and np.all(np.abs(step_lat) < _INVERSE_TOL_DEG):
            break
    outside = out_of_china(g_lon, g_lat)
    return _out(np.where(outside, g_lon, w_lon), np.where(outside, g_lat, w_lat), scalar)


def _gcj_to_bd_raw(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike):
    """Shift GCJ-02 coordinates to Baidu BD-09.

    Parameters
    ----------
    lon, lat : array_like
        GCJ-02 longitude and latitude in decimal degrees.

    Returns
    -------
    (lon, lat)
        BD-09 longitude and latitude in decimal degrees. Points outside China are unchanged.
    """
    scalar = _is_scalar(lon, lat)
    lon_a, lat_a = _arrays(lon, lat)
    b_lon, b_lat = _gcj_to_bd_raw(lon_a, lat_a)
    outside = out_of_china(lon_a, lat_a)
    return _out(np.where(outside, lon_a, b_lon), np.where(outside, lat_a, b_lat), scalar)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike):
    """Shift Baidu BD-09 coordinates to GCJ-02.

    Starts from the published closed-form inverse and refines it by fixed-point
    iteration on :func:`gcj02_to_bd09`, so a round trip returns the input to better
    than 1e-9 degrees (the closed form alone is off by up to ~1e-6 degrees).

    Parameters
    ----------
    lon, lat : array_like
        BD-09 longitude and latitude in decimal degrees.

    Returns
    -------
    (lon, lat)
        GCJ-02 longitude and latitude in decimal degrees. Points outside China are unchanged.
    """
    scalar = _is_scalar(lon, lat)
    b_lon, b_lat = _arrays(lon, lat)
    x = b_lon - 0.0065
    y = b_lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    g_lon, g_lat = z * np.cos(theta), z * np.sin(theta)
    for _ in range(_INVERSE_MAX_ITER):
        f_lon, f_lat = _gcj_to_bd_raw(g_lon, g_lat)
        step_lon, step_lat = f_lon - b_lon, f_lat - b_lat
        g_lon, g_lat = g_lon - step_lon, g_lat - step_lat
        if np.all(np.abs(step_lon) < _INVERSE_TOL_DEG) and np.all(np.abs(step_lat) < _INVERSE_TOL_DEG):
            break
    outside = out_of_china(b_lon, b_lat)
    return _out(np.where(outside, b_lon, g_lon), np.where(outside, b_lat, g_lat), scalar)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike):
    """Shift WGS84 coordinates to Baidu BD-09 (via GCJ-02).

    Parameters
    ----------
    lon, lat : array_like
        WGS84 longitude and latitude in decimal degrees.

    Returns
    -------
    (lon, lat)
        BD-09 longitude and latitude in decimal degrees. Points outside China are unchanged.
    """
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike):
    """Shift Baidu BD-09 coordinates to WGS84 (via GCJ-02).

    Parameters
    ----------
    lon, lat : array_like
        BD-09 longitude and latitude in decimal degrees.

    Returns
    -------
    (lon, lat)
        WGS84 longitude and latitude in decimal degrees. Points outside China are unchanged.
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def crs_kind(crs: str) -> str:
    """Classify a CRS name as ``"wgs84"``, ``"gcj02"``, ``"bd09"`` or ``"pyproj"``.

    Parameters
    ----------
    crs : str
        "EPSG:4326" / "WGS84" / "CGCS2000" / "EPSG:4490" (no shift needed: CGCS2000
        agrees with WGS84 to a few centimetres), "GCJ-02" / "GCJ02" / "gcj",
        "BD-09" / "BD09" / "baidu", or any CRS string pyproj understands.

    Returns
    -------
    str

    Raises
    ------
    InputError
        If the string is none of the above.
    """
    if not isinstance(crs, str) or not crs.strip():
        raise InputError(f"crs must be a non-empty string, got {crs!r}; {_ACCEPTED}")
    key = crs.strip().casefold()
    for kind, names in (("wgs84", WGS84_NAMES), ("gcj02", GCJ02_NAMES), ("bd09", BD09_NAMES)):
        if key in {n.casefold() for n in names}:
            return kind
    try:
        pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError:
        raise InputError(f"unknown crs {crs!r}; {_ACCEPTED}") from None
    return "pyproj"


def to_wgs84_lonlat(lon: ArrayLike, lat: ArrayLike, crs: str):
    """Convert coordinates in ``crs`` to WGS84 longitude/latitude.

    Parameters
    ----------
    lon, lat : array_like
        x and y in ``crs``: degrees for geographic systems, the CRS's own units
        (usually metres) for projected ones.
    crs : str
        See :func:`crs_kind`. GCJ-02 and BD-09 are shifted with the formulas of this
        module; other CRSs are transformed with pyproj.

    Returns
    -------
    (lon, lat)
        WGS84 longitude and latitude in decimal degrees.

    Raises
    ------
    InputError
        For an unknown CRS string.
    """
    kind = crs_kind(crs)
    if kind == "wgs84":
        scalar = _is_scalar(lon, lat)
        return _out(*_arrays(lon, lat), scalar)
    if kind == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if kind == "bd09":
        return bd09_to_wgs84(lon, lat)
    scalar = _is_scalar(lon, lat)
    transformer = pyproj.Transformer.from_crs(pyproj.CRS.from_user_input(crs), "EPSG:4326", always_xy=True)
    out_lon, out_lat = transformer.transform(*_arrays(lon, lat))
    return _out(np.asarray(out_lon, dtype=float), np.asarray(out_lat, dtype=float), scalar)


def utm_crs_for(lon: float, lat: float) -> pyproj.CRS:
    """The WGS84 / UTM zone CRS containing a point, for distances and areas in metres.

    Parameters
    ----------
    lon, lat : float
        Centre of the study area, WGS84 decimal degrees.

    Returns
    -------
    pyproj.CRS
        EPSG:326zz (north) or EPSG:327zz (south).

    Raises
    ------
    InputError
        If the point is not a valid longitude/latitude.
    """
    lon_f, lat_f = float(lon), float(lat)
    if not (np.isfinite(lon_f) and np.isfinite(lat_f) and -180 <= lon_f <= 180 and -90 <= lat_f <= 90):
        raise InputError(f"utm_crs_for needs a WGS84 longitude/latitude in degrees, got ({lon!r}, {lat!r})")
    zone = min(int((lon_f + 180.0) // 6.0) + 1, 60)
    return pyproj.CRS.from_epsg((32600 if lat_f >= 0 else 32700) + zone)
