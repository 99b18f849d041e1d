"""The load and snap stages' faster paths (issue 15) against independent computations: the
road index built and searched on background threads while inputs load (the same answers, to
the bit, as the one-thread path; nothing started on a one-thread budget,
GEOACCESS_KDTREE_WORKERS=1), and the admin unit of each point."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geoaccess.errors import InputError


def _streets(rng):
    """A 100 m street grid and 40 wiggly roads; 2,403 points, some equidistant from several
    streets (block centres and mid-blocks: ties), and a mask keeping ~70 % of the roads."""
    lines = [shapely.LineString([(x, 0), (x, 2000)]) for x in range(0, 2001, 100)]
    lines += [shapely.LineString([(0, y), (2000, y)]) for y in range(0, 2001, 100)]
    lines += [shapely.LineString(rng.uniform(0, 2000, 2) + np.cumsum(rng.normal(0, 200, (4, 2)), axis=0))
              for _ in range(40)]
    geoms = np.array(lines, dtype=object)
    pts = np.r_[rng.uniform(-100, 2100, (2200, 2)),
                np.column_stack([rng.integers(0, 20, 200) * 100 + 50, rng.integers(0, 20, 200) * 100 + 50]),
                [[50.0, 50.0], [150.0, 250.0], [1000.0, 1000.0]]]
    return geoms, pts, rng.random(len(geoms)) > 0.3


def _nearest_by_shapely(geoms, mask, pts):
    """Distance from each point to its nearest road of ``mask`` (shapely, every road)."""
    d = shapely.distance(shapely.points(pts)[:, None], geoms[mask][None, :])
    return d.min(axis=1)


@pytest.mark.parametrize("workers, started", [(2, True), (3, True), (-1, True), (2, False)])
def test_background_tree_and_search_answer_as_one_thread_and_shapely(workers, started, monkeypatch):
    from concurrent.futures import Future

    import geoaccess.snapping as snapping
    from geoaccess.snapping import SegmentIndex, query_views

    monkeypatch.setattr(snapping, "_CHUNK", 256)  # 2,403 points: 10 chunks
    geoms, pts, mask = _streets(np.random.default_rng(11))
    one = SegmentIndex(geoms)
    soon = SegmentIndex(geoms, background=True)
    if not started:  # no chunk started by the time the points are snapped: the snapping takes them all back
        monkeypatch.setattr(snapping, "_soon", lambda threads, calls: [Future() for _ in calls])
    soon.search_soon(pts, workers)
    assert soon._searching is not None
    # Other points queried meanwhile (the facilities' GCJ-02 check) leave the search pending ...
    other = pts[::7] + 3.0
    for field in ("edge", "fraction", "distance_m"):
        assert np.array_equal(getattr(soon.query(other, workers), field), getattr(one.query(other, 1), field))
    assert soon._searching is not None
    # ... and the query of the same points takes it: the one-thread answers, to the bit.
    got = query_views([soon.view(mask), soon], pts, workers)
    assert soon._searching is None
    for m, g in zip((mask, None), got):
        want = one.query(pts, 1, mask=m)
        for field in ("edge", "fraction", "distance_m"):
            assert np.array_equal(getattr(g, field), getattr(want, field)), field
        keep = np.ones(len(geoms), bool) if m is None else m
        np.testing.assert_allclose(g.distance_m, _nearest_by_shapely(geoms, keep, pts), rtol=1e-12, atol=1e-7)
    assert soon.tree.data.tobytes() == one.tree.data.tobytes()


def test_nothing_is_started_on_a_one_thread_budget_or_for_points_that_are_not_finite():
    from geoaccess.snapping import SegmentIndex, query_views, road_index_soon

    geoms, pts, _ = _streets(np.random.default_rng(12))
    index = SegmentIndex(geoms)
    index.search_soon(pts, workers=1)
    assert index._searching is None
    bad = pts.copy()
    bad[5] = np.nan
    index.search_soon(bad, workers=2)
    assert index._searching is None
    with pytest.raises(InputError, match=r"1 point\(s\) have NaN or infinite coordinates \(rows \[5\]\)"):
        query_views([index], bad, 2)

    class Net:  # road_index_soon needs only the edges
        edges = None

    assert road_index_soon(Net(), workers=1) is None


def test_an_index_that_cannot_be_built_early_is_refused_where_it_is_needed():
    # road_index_soon starts nothing and road_index raises the InputError later, where the
    # index was always first needed (after the facility and population files' own errors).
    import geopandas as gpd

    from geoaccess.snapping import road_index, road_index_soon

    class Net:
        edges = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], dtype="geometry"))

    net = Net()
    assert road_index_soon(net, workers=2) is None
    with pytest.raises(InputError, match="no road of this travel mode to snap to"):
        road_index(net)


def test_a_run_on_one_thread_places_and_warns_as_the_background_run(monkeypatch):
    """Monaco's demo: inputs loaded with the road index and the demand's search on threads,
    and with GEOACCESS_KDTREE_WORKERS=1 (nothing on threads): the same warnings, and every
    mode's demand placed to the bit alike."""
    from geoaccess import pipeline as P
    from geoaccess._paths import data_path
    from geoaccess.scenario import load_scenario
    from geoaccess.snapping import road_index

    runs = []
    for workers in ("1", ""):
        monkeypatch.setenv("GEOACCESS_KDTREE_WORKERS", workers)
        scenario = load_scenario(data_path("demo", "scenario.toml"))
        inputs = P.load_inputs(scenario)
        index = road_index(inputs.network)
        assert (index._searching is None) == (workers == "1")
        demand = inputs.demand
        xy = np.column_stack([demand.geometry.x, demand.geometry.y])
        fxy = np.column_stack([inputs.facilities.geometry.x, inputs.facilities.geometry.y])
        engine = P._Engine(inputs.network, P.load_speeds(scenario.network["speeds"]), None, xy, fxy, 0.5,
                           demand_modes=("walk", "drive", "ambulance"))
        runs.append((inputs.warnings, [engine.demand(m) for m in ("walk", "drive", "ambulance")]))
        assert index._searching is None  # taken by the engine's snapping
    (warn_one, one), (warn_bg, bg) = runs
    assert warn_one == warn_bg
    for a, b in zip(one, bg):
        for field in ("edge", "fraction", "distance_m", "access_s", "on_network"):
            assert np.array_equal(getattr(a, field), getattr(b, field)), field


def test_unit_of_each_point_is_shapelys_intersects_borders_and_corners_to_the_first_unit():
    # Points in, outside, on shared borders, on corners shared by four units and on a hole's
    # ring, against shapely.intersects of every (unit, point) pair, unprepared.
    import geopandas as gpd

    from geoaccess.admin import OUTSIDE, unit_of

    cells = [shapely.box(x, y, x + 100, y + 100) for y in (0, 100) for x in (0, 100)]
    cells[3] = shapely.Polygon(shapely.get_coordinates(cells[3].exterior),
                               [[(140, 140), (160, 140), (160, 160), (140, 160)]])  # a hole
    cells.append(shapely.Polygon([(200, 0), (260, 100), (200, 200), (230, 100)]))  # concave, borders unit 1
    units = gpd.GeoDataFrame({"unit": [f"u{i}" for i in range(len(cells))]}, geometry=cells, crs="EPSG:32650")
    rng = np.random.default_rng(4)
    xy = np.r_[rng.uniform(-20, 280, (3000, 2)), rng.integers(0, 5, (400, 2)) * 50.0,
               [[100, 100], [150, 150], [140, 150], [200, 100], [230, 100], [215, 50]]]
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs="EPSG:32650")
    hits = shapely.intersects(np.array(cells, dtype=object)[:, None], shapely.points(xy)[None, :])
    first = np.where(hits.any(axis=0), hits.argmax(axis=0), len(cells))
    want = np.r_[units["unit"].to_numpy(dtype=object), [OUTSIDE]][first]
    name, shared = unit_of(points, units)
    assert list(name) == list(want)
    assert np.array_equal(shared, hits.sum(axis=0) > 1)
    assert shared.sum() > 100 and (name == OUTSIDE).sum() > 100  # the cases are there


def test_point_xy_is_geopandas_x_and_y():
    import geopandas as gpd

    from geoaccess.points import point_xy

    rng = np.random.default_rng(6)
    geoms = list(shapely.points(rng.normal(0, 1e6, (50, 2)))) + [None, shapely.Point()]
    frame = gpd.GeoDataFrame({"a": range(52)}, geometry=geoms, crs="EPSG:32650")
    for obj in (frame, frame.geometry):
        x, y = point_xy(obj)
        np.testing.assert_array_equal(x, frame.geometry.x.to_numpy())  # NaN where None or empty
        np.testing.assert_array_equal(y, frame.geometry.y.to_numpy())
