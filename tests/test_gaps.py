"""Gap clusters on a hand-made grid with known clusters, populations and ranks."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
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


# --------------------------------------------------------------- splitting (issues 13, 15)

def _points(xy, pop):
    xy = np.asarray(xy, dtype=float)
    return gpd.GeoDataFrame({"pop": np.asarray(pop, dtype=float)}, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
                            crs=CRS)


def test_a_gap_never_spans_two_townships():
    # a 3 x 6 block of gap cells, 100 m apart; columns 0-1 in West (pop 2 each), 2-5 in East (pop 1)
    ii, jj = np.meshgrid(np.arange(3), np.arange(6), indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    demand = _points(np.c_[X0 + 100 * jj, Y0 + 100 * ii], np.where(jj < 2, 2.0, 1.0))
    unit = np.where(jj < 2, "West", "East").astype(object)
    whole = find_gaps(demand, np.full(18, 40.0), 15, admin=unit)
    assert len(whole) == 1 and whole.loc[0, "admin"] == "East; West"
    g = find_gaps(demand, np.full(18, 40.0), 15, admin=unit, by_unit=True)
    assert list(g["admin"]) == ["West", "East"]          # 12 people in each: the tie goes west (x)
    assert list(g["pop"]) == [12.0, 12.0] and list(g["n_points"]) == [6, 12]
    assert g.geometry.iloc[0].x < X0 + 200 <= g.geometry.iloc[1].x  # each representative in its own unit
    assert g["area_km2"].tolist() == pytest.approx([6 * 0.01, 12 * 0.01])
    with pytest.raises(InputError, match="by_unit"):
        find_gaps(demand, np.full(18, 40.0), 15, by_unit=True)


def test_a_long_gap_is_cut_into_pieces_of_bounded_size():
    # a 12 km strip of gap cells 100 m apart (121 points), one township, pop 1 each
    x = X0 + 100.0 * np.arange(121)
    demand = _points(np.c_[x, np.full(121, Y0)], np.ones(121))
    g = find_gaps(demand, np.full(121, 30.0), 15, piece_km=5)
    # cut at 5 km and 10 km from the strip's west end: [0, 5), [5, 10), [10, 12] km
    assert list(g["pop"]) == [50.0, 50.0, 21.0]
    spans = [shapely.bounds(a)[2] - shapely.bounds(a)[0] for a in g["area_geometry"]]
    assert spans == pytest.approx([5000.0, 5000.0, 2100.0])
    assert g["pop"].sum() == 121
    # a gap smaller than a piece stays whole, wherever the grid would fall
    short = _points(np.c_[X0 + 4950 + 100.0 * np.arange(5), np.full(5, Y0)], np.ones(5))
    assert len(find_gaps(short, np.full(5, 30.0), 15, piece_km=5)) == 1
    with pytest.raises(InputError, match="piece_km"):
        find_gaps(demand, np.full(121, 30.0), 15, piece_km=0)


def test_gaps_of_nobody_are_not_listed_and_facilities_have_names():
    demand = _points([[X0, Y0], [X0 + 100, Y0], [X0 + 5000, Y0]], [0.0, 0.0, 7.0])
    g = find_gaps(demand, [20.0, 25.0, 30.0], 15, nearest_facility=["F1", "F1", "F2"],
                  facility_names={"F1": "一号诊所", "F2": "二号卫生院"})
    assert len(g) == 1 and g.loc[0, "pop"] == 7 and g.loc[0, "nearest_facility_name"] == "二号卫生院"
    assert g.loc[0, "gap_id"] == 1


def _reference_gaps(xy, pop, minutes, thr, link, fac, adm, piece):
    """A plain loop over points and clusters: what find_gaps(by_unit=True, piece_km) computes."""
    gap = [i for i in range(len(xy)) if minutes[i] > thr]

    def components(members, linked):
        label, out = {}, []
        for s in members:
            if s in label:
                continue
            label[s], stack, comp = len(out), [s], [s]
            while stack:
                a = stack.pop()
                for b in members:
                    if b not in label and linked(a, b):
                        label[b] = label[s]
                        stack.append(b)
                        comp.append(b)
            out.append(sorted(comp))
        return out

    near = lambda a, b: np.hypot(*(xy[a] - xy[b])) <= link * (1 + 1e-9) and adm[a] == adm[b]  # noqa: E731
    clusters = []
    for comp in components(gap, near):
        lo = xy[comp].min(axis=0)
        big = ((xy[comp].max(axis=0) - lo) > piece).any()
        cell = {i: tuple(np.floor((xy[i] - lo) / piece).astype(int)) if big else (0, 0) for i in comp}
        clusters += components(comp, lambda a, b: near(a, b) and cell[a] == cell[b])
    rows = []
    for c in clusters:
        p, t = pop[c], minutes[c]
        if p.sum() == 0:
            continue
        reach = np.isfinite(t)
        mean = (p[reach] * t[reach]).sum() / p[reach].sum() if p[reach].sum() > 0 else (
            t[reach].mean() if reach.any() else np.inf)
        centre = (xy[c] * p[:, None]).sum(0) / p.sum()
        d2 = ((xy[c] - centre) ** 2).sum(1)
        rep = c[min(range(len(c)), key=lambda k: (d2[k], c[k]))]
        weight = {}
        for i in c:
            if np.isfinite(minutes[i]) and fac[i] is not None:
                weight[fac[i]] = weight.get(fac[i], 0.0) + pop[i]
        best = min(weight, key=lambda f: (-weight[f], f)) if weight else None
        rows.append((p.sum(), len(c), mean, t.max(), t.min(), best, adm[c[0]], xy[rep][0], xy[rep][1], min(c)))
    rows.sort(key=lambda r: (-r[0], r[7], r[8], r[9]))
    return rows


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_gaps_equal_a_plain_loop(seed):
    rng = np.random.default_rng(seed)
    # a jittered 18 x 18 lattice (100 m) with holes, three townships split by two lines
    ij = np.argwhere(rng.random((18, 18)) < 0.8)
    xy = X0 + ij[:, ::-1] * 100.0 + rng.uniform(-20, 20, (len(ij), 2))
    n = len(xy)
    pop = rng.integers(0, 4, n).astype(float)
    minutes = np.where(rng.random(n) < 0.6, rng.uniform(16, 60, n), rng.uniform(0, 15, n))
    minutes[rng.random(n) < 0.1] = np.inf
    fac = np.array([None if not np.isfinite(m) else f"F{k}" for m, k in zip(minutes, rng.integers(0, 4, n))],
                   dtype=object)
    adm = np.where(ij[:, 1] < 6, "甲镇", np.where(ij[:, 0] < 9, "乙乡", "丙街道")).astype(object)
    g = find_gaps(_points(xy, pop), minutes, 15, link_distance_m=150, nearest_facility=fac, admin=adm,
                  by_unit=True, piece_km=0.55)
    ref = _reference_gaps(xy, pop, minutes, 15, 150, fac, adm, 550.0)
    assert len(g) == len(ref) > 5
    got = list(zip(g["pop"], g["n_points"], g["mean_minutes"], g["max_minutes"], g["best_minutes"],
                   g["nearest_facility"], g["admin"], g.geometry.x, g.geometry.y))
    for a, b in zip(got, ref):
        assert a[:2] == pytest.approx(b[:2]) and a[2:5] == pytest.approx(b[2:5])
        assert a[5:7] == b[5:7] and a[7:9] == pytest.approx(b[7:9])


@pytest.mark.parametrize("by_unit", [True, False])
def test_text_columns_give_the_gaps_of_object_columns(by_unit):
    """Facility and unit columns of pandas text (Arrow-backed, as a run's demand holds them) are
    coded by a hash, not by np.unique over Python strings: the same gap list, missing values and
    units joined across townships included."""
    rng = np.random.default_rng(5)
    ij = np.argwhere(rng.random((20, 20)) < 0.85)
    xy = X0 + ij[:, ::-1] * 100.0
    n = len(xy)
    minutes = np.where(rng.random(n) < 0.7, rng.uniform(16, 60, n), rng.uniform(0, 15, n))
    minutes[rng.random(n) < 0.1] = np.inf
    fac = np.array([None if not np.isfinite(m) else f"F{k}" for m, k in zip(minutes, rng.integers(0, 12, n))],
                   dtype=object)
    adm = np.where(ij[:, 1] < 7, "甲镇", np.where(ij[:, 0] < 9, "乙乡", "Zhen")).astype(object)
    adm[rng.random(n) < 0.05] = None
    demand = _points(xy, rng.integers(0, 4, n))
    kw = dict(by_unit=by_unit, piece_km=0.7)
    plain = find_gaps(demand, minutes, 15, nearest_facility=fac, admin=adm, **kw)
    text = find_gaps(demand, minutes, 15, nearest_facility=pd.Series(fac, dtype="string[pyarrow]"),
                     admin=pd.Series(adm, dtype="string[pyarrow]"), **kw)
    assert len(plain) > 5 and (by_unit or plain["admin"].str.contains("; ").any())
    pd.testing.assert_frame_equal(pd.DataFrame(text), pd.DataFrame(plain), check_exact=True)


def test_write_gaps_for_excel_and_gis(tmp_path):
    demand, minutes, fac, admin, *_ = grid()
    demand["pop"] = demand["pop"] + 0.4
    g = find_gaps(demand, np.where(minutes > 15, minutes + 0.04, minutes), 15, nearest_facility=fac, admin=admin, facility_names={"F1": "城关卫生院"})
    csv_path, gj_path = write_gaps(g, tmp_path, layer="medical_point_15min")
    raw = csv_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM
    table = pd.read_csv(csv_path, encoding="utf-8-sig", dtype=str)
    assert table["pop"].tolist() == ["202", "94", "5"]          # 4 x 50.4, 9 x 10.4, 5.4 rounded
    assert table.loc[1, "mean_minutes"] == "23.4" and table.loc[1, "gap_id"] == "2"
    assert table.loc[1, "nearest_facility_name"] == "城关卫生院"
    with open(gj_path, encoding="utf-8") as fh:
        assert json.load(fh)["name"] == "medical_point_15min"


def test_gaps_of_several_targets_in_one_file(tmp_path):
    from geoaccess.gaps import write_target_gaps

    demand, minutes, fac, admin, *_ = grid()
    some = find_gaps(demand, minutes, 15, nearest_facility=fac, admin=admin)
    none = find_gaps(demand, np.zeros(len(demand)), 15)
    csv_path, gj_path = write_target_gaps({"ems_120": none, "medical_point_15min": some}, tmp_path)
    table = pd.read_csv(csv_path, encoding="utf-8-sig", dtype=str)
    assert list(table.columns[:2]) == ["target", "gap_id"] and set(table["target"]) == {"medical_point_15min"}
    assert table["n_points"].tolist() == ["4", "9", "1"]
    with open(gj_path, encoding="utf-8") as fh:
        assert json.load(fh)["name"] == "medical_point_15min"  # the one target with gaps
    write_target_gaps({"a": some, "b": some}, tmp_path)
    with open(gj_path, encoding="utf-8") as fh:
        assert json.load(fh)["name"] == "gaps"
