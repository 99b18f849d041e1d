"""Gap clusters on a hand-made grid with known clusters, populations and ranks."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from geoaccess.errors import InputError
from geoaccess.gaps import find_gaps, gap_areas, write_gaps

CRS = "EPSG:32650"  # UTM 50N, metres
X0, Y0 = 500_000.0, 3_000_000.0


def grid():
    """10 × 10 points, 100 m apart. Returns (demand, minutes, facility, admin)."""
    ii, jj = np.meshgrid(np.arange(10), np.arange(10), indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    pts = [Point(X0 + 100 * j, Y0 + 100 * i) for i, j in zip(ii, jj)]
    pop = np.ones(100)
    minutes = np.full(100, 5.0)
    fac = np.array(["F0"] * 100, dtype=object)
    admin = np.where(jj < 5, "West", "East").astype(object)
    # cluster A: rows 0-2, cols 3-5 (3x3, 9 pts, crosses West/East), pop 10 each, 20-40 min
    a = (ii <= 2) & (jj >= 3) & (jj <= 5)
    pop[a] = 10
    minutes[a] = 20 + 10 * (ii[a] == 1)
    fac[a] = "F1"
    fac[a & (jj == 3)] = "F2"   # F2 weighs 30, F1 60: mode is F1
    # cluster B: rows 7-8, cols 7-8 (2x2), unreachable, pop 50 each
    b = (ii >= 7) & (ii <= 8) & (jj >= 7) & (jj <= 8)
    pop[b] = 50
    minutes[b] = np.inf
    fac[b] = None
    # isolated point C at (5, 0), pop 5, 16 min (just above 15)
    c = (ii == 5) & (jj == 0)
    pop[c] = 5
    minutes[c] = 16
    # a point exactly at the threshold is not a gap
    minutes[(ii == 9) & (jj == 0)] = 15.0
    demand = gpd.GeoDataFrame({"pop": pop}, geometry=pts, crs=CRS)
    return demand, minutes, fac, admin, a, b, c


def test_clusters_populations_ranks():
    demand, minutes, fac, admin, a, b, c = grid()
    g = find_gaps(demand, minutes, 15, nearest_facility=fac, admin=admin)
    assert list(g.gap_id) == [1, 2, 3]
    assert list(g["pop"]) == [200.0, 90.0, 5.0]
    assert list(g.n_points) == [4, 9, 1]
    # B: unreachable people are a gap; mean/max inf; no nearest facility
    assert np.isinf(g.loc[0, "mean_minutes"]) and np.isinf(g.loc[0, "max_minutes"])
    assert pd.isna(g.loc[0, "nearest_facility"]) and g.loc[0, "admin"] == "East"
    # A: 3 rows at 20, 30, 20 min -> mean 23.33, max 30, best 20
    assert g.loc[1, "mean_minutes"] == pytest.approx(70 / 3)
    assert g.loc[1, "max_minutes"] == 30 and g.loc[1, "best_minutes"] == 20
    assert g.loc[1, "nearest_facility"] == "F1"
    assert g.loc[1, "admin"] == "East; West"
    # representative of A = its centre cell (row 1, col 4)
    assert g.geometry.iloc[1].equals(Point(X0 + 400, Y0 + 100))
    # B's centroid is equidistant to 4 members: the lowest demand index wins (row 7, col 7)
    assert g.geometry.iloc[0].equals(Point(X0 + 700, Y0 + 700))
    assert g.loc[2, "mean_minutes"] == 16 and g.loc[2, "admin"] == "West"
    assert g.crs == demand.crs
    areas = gap_areas(g)
    assert areas.geometry.iloc[1].area == pytest.approx(9 * 100 ** 2)  # nine 100 m cells
    assert all(areas.geometry.iloc[k].contains(g.geometry.iloc[k]) for k in range(3))


def test_link_distance_and_order_independence():
    demand, minutes, fac, admin, *_ = grid()
    small = find_gaps(demand, minutes, 15, link_distance_m=50)  # nothing links: every point alone
    assert len(small) == 4 + 9 + 1
    assert small["pop"].iloc[0] == 50
    perm = np.random.default_rng(0).permutation(len(demand))
    g1 = find_gaps(demand, minutes, 15, nearest_facility=fac, admin=admin)
    g2 = find_gaps(demand.iloc[perm].reset_index(drop=True), minutes[perm], 15,
                   nearest_facility=fac[perm], admin=admin[perm])
    assert list(g1["pop"]) == list(g2["pop"])
    assert all(g1.geometry.iloc[k].equals(g2.geometry.iloc[k]) for k in range(len(g1))[1:])
    # ties in population are ordered by location (x then y)
    d = gpd.GeoDataFrame({"pop": [3.0, 3.0]}, geometry=[Point(X0 + 5000, Y0), Point(X0, Y0)], crs=CRS)
    t = find_gaps(d, [99, 99], 15, link_distance_m=10)
    assert t.geometry.iloc[0].x == X0


def test_no_gaps_returns_empty_frame():
    demand, minutes, *_ = grid()
    g = find_gaps(demand, np.zeros(len(demand)), 15)
    assert len(g) == 0 and "gap_id" in g.columns


def test_write_gaps(tmp_path):
    demand, minutes, fac, admin, *_ = grid()
    g = find_gaps(demand, minutes, 15, nearest_facility=fac, admin=admin)
    csv_path, gj_path = write_gaps(g, tmp_path / "out")
    table = pd.read_csv(csv_path)
    assert list(table.gap_id) == [1, 2, 3]
    assert "geometry" not in table.columns and "area_geometry" not in table.columns
    assert table.lon.between(116, 118).all() and table.lat.between(27, 28).all()  # UTM 50N ≈ 117°E
    assert pd.isna(table.loc[0, "max_minutes"]) and table.loc[1, "nearest_facility"] == "F1"
    back = gpd.read_file(gj_path)
    assert back.crs.to_epsg() == 4326 and len(back) == 3
    assert back.geometry.iloc[1].x == pytest.approx(table.lon[1], abs=1e-6)
    with open(gj_path, encoding="utf-8") as fh:
        assert json.load(fh)["type"] == "FeatureCollection"
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temp files left


def test_gap_input_errors():
    demand, minutes, *_ = grid()
    with pytest.raises(InputError, match="minutes"):
        find_gaps(demand, minutes[:-1], 15)
    with pytest.raises(InputError, match="NaN"):
        find_gaps(demand, np.full(len(demand), np.nan), 15)
    with pytest.raises(InputError, match="threshold_min"):
        find_gaps(demand, minutes, 0)
    with pytest.raises(InputError, match="projected"):
        find_gaps(demand.to_crs(4326), minutes, 15)
    with pytest.raises(InputError, match="pop"):
        find_gaps(demand.drop(columns="pop"), minutes, 15)
    with pytest.raises(InputError, match="link_distance_m"):
        find_gaps(demand, minutes, 15, link_distance_m=-1)
    with pytest.raises(InputError, match="admin"):
        find_gaps(demand, minutes, 15, admin=["x"])
    with pytest.raises(InputError, match="nearest_facility"):
        find_gaps(demand, minutes, 15, nearest_facility=["x"])


def test_gap_areas_equal_the_union_of_cell_squares_on_a_lattice():
    import shapely

    rng = np.random.default_rng(4)
    ij = np.unique(rng.integers(0, 40, size=(500, 2)), axis=0)
    xy = 500_000.0 + ij * 100.0
    demand = gpd.GeoDataFrame({"pop": np.ones(len(xy))}, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
                              crs="EPSG:32650")
    # Everybody is a gap point; a full 40 x 40 lattice spacing of 100 m.
    g = find_gaps(demand, np.full(len(xy), 60.0), 15.0, link_distance_m=150.0)
    for row in g.itertuples():
        members = gpd.GeoSeries(demand.geometry).distance(row.area_geometry) == 0
        boxes = shapely.union_all([shapely.box(x - 50, y - 50, x + 50, y + 50)
                                   for x, y in xy[members.to_numpy()]])
        assert row.area_geometry.symmetric_difference(boxes).area == pytest.approx(0.0, abs=1e-6)
        assert row.area_geometry.area == pytest.approx(row.n_points * 100.0 ** 2)


def test_one_unreachable_cell_does_not_hide_a_clusters_mean():
    xy = np.array([[0.0, 0.0], [100.0, 0.0], [200.0, 0.0]]) + 500_000.0
    demand = gpd.GeoDataFrame({"pop": [10.0, 30.0, 5.0]}, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=CRS)
    g = find_gaps(demand, np.array([20.0, 40.0, np.inf]), 15)
    assert len(g) == 1
    assert g.loc[0, "mean_minutes"] == pytest.approx((10 * 20 + 30 * 40) / 40)
    assert np.isinf(g.loc[0, "max_minutes"]) and g.loc[0, "pop_unreachable"] == 5.0
