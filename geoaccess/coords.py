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

import functools
import re

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


class NotLonLatError(InputError):
    """A point that should be WGS84 lon/lat is not (:func:`utm_crs_for`); callers that know
    the file re-raise it naming the file and the fix. ``lon``/``lat`` hold the values."""

    def __init__(self, lon: float, lat: float) -> None:
        super().__init__(f"({lon!r}, {lat!r}) is no WGS84 longitude/latitude in degrees (lon -180 to 180, "
                         "lat -90 to 90): the coordinates do not match their CRS")
        self.lon, self.lat = lon, lat


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
    NotLonLatError
        If the point is not a valid longitude/latitude (an :class:`InputError`).
    """
    lon_f, lat_f = float(lon), float(lat)
    if not (np.isfinite(lon_f) and np.isfinite(lat_f) and -180 <= lon_f <= 180 and -90 <= lat_f <= 90):
        raise NotLonLatError(lon, lat)
    zone = min(int((lon_f + 180.0) // 6.0) + 1, 60)
    return pyproj.CRS.from_epsg((32600 if lat_f >= 0 else 32700) + zone)


#: Largest scale error (|k - 1| of a length in any direction, Tissot's semi-axes) a ``[scenario]
#: crs`` may have anywhere over the roads' extent: 1 %. A UTM or 3°/6° Gauss-Krüger zone holds
#: 0.15 % inside its zone (UTM 2 degrees beyond its edge at 30°N: 0.5 %); Web Mercator in China
#: (1/cos(lat): 15 % at 30°N) and a zone 100° away are far beyond it. Snapping caps, grids and
#: search radii are metres of the analysis CRS, so its scale error is theirs.
MAX_SCALE_ERROR = 0.01


def crs_scale_error(crs: str | pyproj.CRS, lon: tuple[float, float], lat: tuple[float, float]) -> float:
    """Largest scale error of a projected CRS over a lon/lat rectangle.

    Parameters
    ----------
    crs
        A projected CRS (anything :meth:`pyproj.CRS.from_user_input` reads).
    lon, lat
        (west, east) and (south, north) of the rectangle, WGS84 degrees.

    Returns
    -------
    float
        ``max |s - 1|`` over Tissot's semi-major and semi-minor scale (the largest and
        smallest scale of a short length in any direction; a fraction, 0.01 = 1 %) at
        the rectangle's corners, edge midpoints and centre; ``inf`` where the
        projection cannot take one of them.
    """
    lons = np.array([lon[0], (lon[0] + lon[1]) / 2, lon[1]], dtype=float)
    lats = np.array([lat[0], (lat[0] + lat[1]) / 2, lat[1]], dtype=float)
    grid_lon, grid_lat = np.meshgrid(lons, lats)
    proj = pyproj.Proj(pyproj.CRS.from_user_input(crs))
    with np.errstate(invalid="ignore"):
        factors = proj.get_factors(grid_lon.ravel(), grid_lat.ravel(), errcheck=False)
    scale = np.concatenate([np.asarray(factors.tissot_semimajor, float), np.asarray(factors.tissot_semiminor, float)])
    if not np.isfinite(scale).all():
        return float("inf")
    return float(np.abs(scale - 1).max())


def check_analysis_crs(crs: str | pyproj.CRS, lon: tuple[float, float], lat: tuple[float, float],
                       key: str = "[scenario] crs") -> None:
    """Refuse an analysis CRS whose scale error over the data exceeds :data:`MAX_SCALE_ERROR`.

    ``crs``: the analysis CRS the user gave; ``lon, lat``: (west, east) and (south, north) of
    the roads' extent, WGS84 degrees; ``key``: where the CRS was given, for the message.

    Raises
    ------
    InputError
        Scale error above 1 % somewhere over the extent, with the figure, the key and
        the fix (the UTM zone of the data's centre, or leaving the key out).
    """
    error = crs_scale_error(crs, lon, lat)
    if error <= MAX_SCALE_ERROR:
        return
    parsed = pyproj.CRS.from_user_input(crs)
    utm = utm_crs_for((lon[0] + lon[1]) / 2, (lat[0] + lat[1]) / 2)
    figure = "cannot take every point of it" if not np.isfinite(error) else f"distorts lengths by up to {error:.1%}"
    raise InputError(f"{key} {parsed.to_string()} ({parsed.name}) {figure} over the roads' extent (lon "
                     f"{lon[0]:.3f} to {lon[1]:.3f}, lat {lat[0]:.3f} to {lat[1]:.3f}); at most "
                     f"{MAX_SCALE_ERROR:.0%} is accepted, as every distance of the run is measured in it. Use the "
                     f"data's UTM zone, crs = \"{utm.to_string()}\" ({utm.name}), or a Gauss-Krüger zone that holds "
                     "the area, or leave crs out (the data's UTM zone is then used)")


@functools.lru_cache(maxsize=1)
def _projected_by_name() -> dict[str, str]:
    """EPSG's projected CRSs by name ('CGCS2000 / 3-degree Gauss-Kruger zone 39' -> 'EPSG:4527')."""
    from pyproj.database import query_crs_info
    from pyproj.enums import PJType

    return {i.name: f"EPSG:{i.code}" for i in query_crs_info(auth_name="EPSG", pj_types=PJType.PROJECTED_CRS)}


def _lands(code: str, x: float, y: float) -> bool:
    """Whether (x, y) in ``code`` is a place on the earth (finite lon/lat in range)."""
    lon, lat = pyproj.Transformer.from_crs(code, "EPSG:4326", always_xy=True).transform(x, y)
    return bool(np.isfinite(lon) and np.isfinite(lat) and abs(lon) <= 180 and abs(lat) <= 90)


def crs_mismatch_hint(x: float, y: float, crs: pyproj.CRS, name: str) -> str:
    """The likely fix for a coordinate (x, y) that is no place on the earth in ``crs``, worded
    from what the file holds: swapped lon/lat, metres labelled as degrees (a GeoJSON without a
    ``crs`` member is WGS84 by its standard), an 8-digit Gauss-Krüger easting (zone number
    first) in a CM CRS, a 6-digit one in a zone CRS.

    ``x, y``: one offending coordinate as the file holds it; ``crs``: the CRS the file was read
    as; ``name``: the file's name (a GeoJSON suffix changes the advice). Returns one or two
    sentences naming the CRS to use (an EPSG code where the file's numbers tell it) or the edit.
    """
    geojson = name.lower().endswith((".geojson", ".json"))
    if crs.is_geographic:
        if abs(x) <= 90 < abs(y) <= 180:
            return (f"The values look like latitude, longitude in that order (x={x:.6g} is a latitude, y={y:.6g} "
                    "a longitude): swap the two coordinates (x = longitude, y = latitude) in GIS software and save "
                    "the file again")
        if max(abs(x), abs(y)) > 1000:
            where = ("A GeoJSON file is WGS84 longitude/latitude by its standard (RFC 7946) unless it names "
                     "another CRS: reproject it to EPSG:4326 (QGIS: Export > Save Features As, CRS EPSG:4326; or "
                     "ogr2ogr -s_srs <its CRS> -t_srs EPSG:4326), or save it as a GeoPackage with its CRS"
                     if geojson else "Set the file's true CRS (.prj, or the GeoPackage's CRS) in GIS software, "
                     "or reproject it to EPSG:4326")
            zone = _zone_crs_for(x, y, "CGCS2000 / 3-degree Gauss-Kruger CM 117E") if x >= 1e7 else None
            guess = (f" (an 8-digit easting such as {x:.0f} carries a Gauss-Krüger zone number: {zone[1]}, "
                     f"{zone[0]}, for CGCS2000 data)" if zone else "")
            return (f"These coordinates are not degrees: they look like projected metres (eastings/northings)"
                    f"{guess}. {where}")
        return "Check the file's CRS and its x (longitude) and y (latitude) columns, or save it in EPSG:4326"
    if x >= 1e7:
        zone = _zone_crs_for(x, y, crs.name)
        if zone and zone[0] != crs.to_string():
            return (f"An 8-digit easting such as {x:.0f} starts with its Gauss-Krüger zone number "
                    f"({int(x // 1e6)}): give the file that zone's CRS, {zone[0]} ({zone[1]}), "
                    "not a 'CM' one; or save it in EPSG:4326")
    cm = _cm_crs_for(x, y, crs.name) if 1e5 <= abs(x) < 1e7 else None
    if cm:
        return (f"A 6-digit easting such as {x:.0f} has no zone number, but the file's CRS ({crs.name}) expects "
                f"one in front of it: give the file its central meridian's CRS, {cm[0]} ({cm[1]}); or save it in "
                "EPSG:4326")
    return ("Check the file's CRS (.prj, or the GeoPackage's CRS): it is not the one its coordinates were saved "
            "in; or save it in EPSG:4326")


def _zone_crs_for(x: float, y: float, cm_name: str) -> tuple[str, str] | None:
    """The zone CRS ('EPSG:4527', its name) of the datum and zone width of ``cm_name`` (a
    '... Gauss-Kruger CM 117E' CRS) for the zone number in front of an 8-digit easting."""
    match = re.fullmatch(r"(.+ / (?:3-degree )?Gauss-Kruger) CM \d+E", cm_name)
    if not match:
        return None
    zone_name = f"{match.group(1)} zone {int(x // 1e6)}"
    code = _projected_by_name().get(zone_name)
    return (code, zone_name) if code and _lands(code, x, y) else None


def _cm_crs_for(x: float, y: float, zone_name: str) -> tuple[str, str] | None:
    """The CM CRS ('EPSG:4548', its name) of a '... Gauss-Kruger zone 39' CRS, for eastings
    saved without the zone number."""
    match = re.fullmatch(r"(.+ / (3-degree )?Gauss-Kruger) zone (\d+)", zone_name)
    if not match:
        return None
    zone = int(match.group(3))
    cm = 3 * zone if match.group(2) else 6 * zone - 3
    cm_name = f"{match.group(1)} CM {cm}E"
    code = _projected_by_name().get(cm_name)
    return (code, cm_name) if code and _lands(code, x, y) else None
