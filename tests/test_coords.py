import numpy as np
import pyproj
import pytest

from geoaccess.points import check_lonlat
from geoaccess.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    to_wgs84_lonlat,
    utm_crs_for,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geoaccess.errors import InputError

# (wgs_lat, wgs_lon, gcj_lat, gcj_lon): test vectors of googollee/eviltransform
# (python/test.py, go/transform_test.go) - Shanghai, Shenzhen, Beijing.
EVILTRANSFORM = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),
]

# Cities across China (lon, lat): Beijing, Shanghai, Guiyang, Urumqi, Harbin, Haikou,
# Lhasa, Chengdu, Huainan, Ya'an.
CITIES = np.array([
    (116.397, 39.909), (121.474, 31.230), (106.630, 26.647), (87.617, 43.826), (126.535, 45.803),
    (110.199, 20.044), (91.117, 29.647), (104.066, 30.572), (116.999, 32.625), (103.013, 29.980),
])


def test_wgs84_to_gcj02_matches_eviltransform_vectors():
    for wlat, wlon, glat, glon in EVILTRANSFORM:
        lon, lat = wgs84_to_gcj02(wlon, wlat)
        assert lon == pytest.approx(glon, abs=1e-9)
        assert lat == pytest.approx(glat, abs=1e-9)


def test_coordtransform_readme_vectors():
    # wandergis/coordtransform README, input (116.404, 39.915) for every function.
    assert wgs84_to_gcj02(116.404, 39.915) == pytest.approx((116.41024449916938, 39.91640428150164), abs=1e-9)
    assert gcj02_to_bd09(116.404, 39.915) == pytest.approx((116.41036949371029, 39.92133699351021), abs=1e-9)
    # Their inverses are one-step approximations; ours are exact, so agree to metres only.
    assert bd09_to_gcj02(116.404, 39.915) == pytest.approx((116.39762729119315, 39.90865673957631), abs=2e-6)
    assert gcj02_to_wgs84(116.404, 39.915) == pytest.approx((116.39775550083061, 39.91359571849836), abs=2e-5)


def test_gcj02_to_wgs84_is_exact_inverse_of_vectors():
    for wlat, wlon, glat, glon in EVILTRANSFORM:
        lon, lat = gcj02_to_wgs84(glon, glat)
        assert abs(lon - wlon) < 1e-7 and abs(lat - wlat) < 1e-7


def _independent_gcj(lon, lat):
    """Scalar re-implementation from the textbook formula, written separately from the module."""
    import math

    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    tlat = (-100 + 2 * x + 3 * y + 0.2 * y ** 2 + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
            + (20 * math.sin(6 * x * math.pi) + 20 * math.sin(2 * x * math.pi)) * 2 / 3
            + (20 * math.sin(y * math.pi) + 40 * math.sin(y / 3 * math.pi)) * 2 / 3
            + (160 * math.sin(y / 12 * math.pi) + 320 * math.sin(y * math.pi / 30)) * 2 / 3)
    tlon = (300 + x + 2 * y + 0.1 * x ** 2 + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
            + (20 * math.sin(6 * x * math.pi) + 20 * math.sin(2 * x * math.pi)) * 2 / 3
            + (20 * math.sin(x * math.pi) + 40 * math.sin(x / 3 * math.pi)) * 2 / 3
            + (150 * math.sin(x / 12 * math.pi) + 300 * math.sin(x / 30 * math.pi)) * 2 / 3)
    rad = lat / 180 * math.pi
    magic = 1 - ee * math.sin(rad) ** 2
    dlat = tlat * 180 / ((a * (1 - ee)) / (magic * math.sqrt(magic)) * math.pi)
    dlon = tlon * 180 / (a / math.sqrt(magic) * math.cos(rad) * math.pi)
    return lon + dlon, lat + dlat


def test_vectorised_forward_matches_scalar_reimplementation():
    lon, lat = wgs84_to_gcj02(CITIES[:, 0], CITIES[:, 1])
    expected = np.array([_independent_gcj(x, y) for x, y in CITIES])
    np.testing.assert_allclose(lon, expected[:, 0], atol=1e-12)
    np.testing.assert_allclose(lat, expected[:, 1], atol=1e-12)


@pytest.mark.parametrize("forward, inverse", [
    (wgs84_to_gcj02, gcj02_to_wgs84),
    (gcj02_to_wgs84, wgs84_to_gcj02),
    (gcj02_to_bd09, bd09_to_gcj02),
    (wgs84_to_bd09, bd09_to_wgs84),
])
def test_round_trips_within_1e6_degrees(forward, inverse):
    rng = np.random.default_rng(42)
    lon = rng.uniform(73.5, 134.7, 20000)
    lat = rng.uniform(18.2, 53.5, 20000)
    back_lon, back_lat = inverse(*forward(lon, lat))
    assert back_lon.shape == lon.shape
    assert np.abs(back_lon - lon).max() < 1e-6
    assert np.abs(back_lat - lat).max() < 1e-6


def test_scalar_in_scalar_out_and_array_shape_kept():
    lon, lat = wgs84_to_gcj02(116.4, 39.9)
    assert isinstance(lon, float) and isinstance(lat, float)
    grid = np.full((2, 3), 116.4), np.full((2, 3), 39.9)
    out_lon, out_lat = gcj02_to_wgs84(*grid)
    assert out_lon.shape == (2, 3) and out_lat.shape == (2, 3)


def test_outside_china_unchanged():
    lon = np.array([7.42, -74.0, 139.7, 100.0])  # Monaco, New York, Tokyo, lat 60 N
    lat = np.array([43.73, 40.7, 35.7, 60.0])
    for func in (wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84):
        out_lon, out_lat = func(lon, lat)
        np.testing.assert_array_equal(out_lon, lon)
        np.testing.assert_array_equal(out_lat, lat)


def test_offset_in_china_between_100_and_700_m():
    geod = pyproj.Geod(ellps="WGS84")
    lon, lat = wgs84_to_gcj02(CITIES[:, 0], CITIES[:, 1])
    dist = geod.inv(CITIES[:, 0], CITIES[:, 1], lon, lat)[2]
    assert (dist > 100).all() and (dist < 700).all()
    # Baidu adds roughly another kilometre on top.
    b_lon, b_lat = wgs84_to_bd09(CITIES[:, 0], CITIES[:, 1])
    assert (geod.inv(lon, lat, b_lon, b_lat)[2] > 300).all()


@pytest.mark.parametrize("name", ["EPSG:4326", "WGS84", "CGCS2000", "EPSG:4490", "wgs84"])
def test_to_wgs84_lonlat_no_shift(name):
    assert to_wgs84_lonlat(116.4, 39.9, name) == (116.4, 39.9)


@pytest.mark.parametrize("name", ["GCJ-02", "GCJ02", "gcj"])
def test_to_wgs84_lonlat_gcj(name):
    wlat, wlon, glat, glon = EVILTRANSFORM[2]
    lon, lat = to_wgs84_lonlat(np.array([glon]), np.array([glat]), name)
    assert abs(lon[0] - wlon) < 1e-7 and abs(lat[0] - wlat) < 1e-7


@pytest.mark.parametrize("name", ["BD-09", "BD09", "baidu"])
def test_to_wgs84_lonlat_bd(name):
    b_lon, b_lat = wgs84_to_bd09(116.4, 39.9)
    assert to_wgs84_lonlat(b_lon, b_lat, name) == pytest.approx((116.4, 39.9), abs=1e-8)


def test_to_wgs84_lonlat_projected():
    # CGCS2000 / 3-degree Gauss-Kruger CM 117E: the central meridian maps to x = 500 km.
    lon, lat = to_wgs84_lonlat(np.array([500000.0]), np.array([3_600_000.0]), "EPSG:4548")
    assert lon[0] == pytest.approx(117.0, abs=1e-9)
    expected = pyproj.Transformer.from_crs("EPSG:4548", "EPSG:4326", always_xy=True).transform(500000.0, 3_600_000.0)
    assert lat[0] == pytest.approx(expected[1], abs=1e-12)


def test_to_wgs84_lonlat_unknown_crs():
    with pytest.raises(InputError, match=r"unknown crs 'Xian80-ish'.*'GCJ-02'.*'BD-09'"):
        to_wgs84_lonlat(1.0, 2.0, "Xian80-ish")


def test_utm_crs_for():
    assert utm_crs_for(7.42, 43.73).to_epsg() == 32632
    assert utm_crs_for(116.4, 39.9).to_epsg() == 32650
    assert utm_crs_for(19.9, -0.5).to_epsg() == 32734
    assert utm_crs_for(180.0, 10.0).to_epsg() == 32660
    with pytest.raises(InputError, match="longitude/latitude"):
        utm_crs_for(500000.0, 3_600_000.0)


def test_check_lonlat_accepts_valid():
    check_lonlat(CITIES[:, 0], CITIES[:, 1], "cities")


def test_check_lonlat_nan_lists_rows():
    lon = np.arange(15, dtype=float) + 100
    lat = np.full(15, 30.0)
    lat[[2, 14]] = np.nan
    with pytest.raises(InputError, match=r"facility file has missing or non-numeric coordinates in rows .* 2, 14"):
        check_lonlat(lon, lat, "facility file")
    lon[:] = np.nan
    with pytest.raises(InputError, match=r"0, 1, 2, 3, 4, 5, 6, 7, 8, 9 \(and 5 more\)"):
        check_lonlat(lon, lat, "facility file")


def test_check_lonlat_projected_hint():
    with pytest.raises(InputError, match=r"set crs = 'EPSG:xxxx' for projected coordinates"):
        check_lonlat([500000.0], [3_600_000.0], "facility file")


def test_check_lonlat_swapped_hint():
    with pytest.raises(InputError, match="swapped"):
        check_lonlat([39.9], [116.4], "facility file")
