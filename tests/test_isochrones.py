"""Isochrone bands and service areas: exact cuts on hand-made roads, one-way streets, band
algebra, and Monaco checked against the engine's own times (brute force, independent of
the polygon code)."""

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

from geoaccess.errors import InputError
from geoaccess.isochrones import isochrones, raster_times, reach_lines, reach_polygons, service_areas
from geoaccess.network import load_speeds, network_from_file
from geoaccess.routing import Placement, compile_mode, nearest_facility, place_points

from graphs import line_network, make_graph, one_way_square

MONACO = Path(__file__).resolve().parents[1] / "data" / "demo" / "monaco.osm.pbf"
DRIVE = load_speeds()["drive"]
DRIVE_RES_MS = DRIVE.kmh["residential"] * DRIVE.congestion["residential"] / 3.6  # 22.5 km/h
DRIVE_ACCESS_MS = DRIVE.access_kmh / 3.6  # 15 km/h
WALK_MS = 5.0 / 3.6


def grid_network(n=5, step=400.0):
    """n×n grid of residential streets; every second row runs one-way eastwards."""
    nodes = {i * n + j: (i * step, j * step) for i in range(n) for j in range(n)}
    edges = []
    for i in range(n):
        for j in range(n):
            if i + 1 < n:
                edges.append((i * n + j, (i + 1) * n + j, "residential", j % 2 == 1))
            if j + 1 < n:
                edges.append((i * n + j, i * n + j + 1, "residential", False))
    return make_graph(nodes, edges)


def inside(geom, xy):
    return shapely.intersects(geom, shapely.points(np.asarray(xy, dtype=float)))


def on_edges(graph, edge, fraction):
    """Road points as the engine sees them: exactly on ``edge`` at ``fraction``, no access leg."""
    n = len(edge)
    return Placement(np.asarray(edge), np.asarray(fraction, dtype=float), np.zeros(n), np.zeros(n),
                     np.ones(n, dtype=bool))


def road_samples(graph, spacing_m, rng=None, n_random=0):
    """Points along every edge the mode may use (every ``spacing_m``), or ``n_random``
    random ones. Not only the edges points snap to: one-way exits and other parts outside
    the strongly connected core are still driven on."""
    edges = graph.network.edges
    eligible = np.flatnonzero(np.isfinite(graph.forward_s) | np.isfinite(graph.backward_s))
    length = edges["length_m"].to_numpy()[eligible]
    if n_random:
        e = rng.choice(eligible, n_random, p=length / length.sum())
        f = rng.uniform(0, 1, n_random)
    else:
        count = np.maximum(np.ceil(length / spacing_m).astype(int), 1) + 1
        e = np.repeat(eligible, count)
        f = np.concatenate([np.linspace(0, 1, c) for c in count])
    xy = shapely.get_coordinates(shapely.line_interpolate_point(edges.geometry.to_numpy()[e], f, normalized=True))
    return e, f, xy


def reference_margin(sample_xy, sample_min, limit_min, access_ms, cap, query_xy):
    """Metres by which each query point misses the reach (< 0: inside), by brute force over
    road samples: reachable iff some sample with time t has distance <= min(cap, (T - t)·v)."""
    ok = sample_min <= limit_min
    radius = np.minimum(cap, (limit_min - sample_min[ok]) * 60.0 * access_ms)
    margin = np.full(len(query_xy), np.inf)
    if not ok.any():
        return margin
    pairs = cKDTree(query_xy).sparse_distance_matrix(cKDTree(sample_xy[ok]), float(radius.max()) + 50.0,
                                                     output_type="coo_matrix")
    np.minimum.at(margin, pairs.row, pairs.data - radius[pairs.col])
    return margin


def check_against_reference(graph, fac, limits, direction, cap, spacing_m, queries, tol_m):
    e, f, sxy = road_samples(graph, spacing_m)
    smin = nearest_facility(graph, on_edges(graph, e, f), fac, direction).minutes
    reaches = reach_polygons(graph, fac, limits, direction, buffer_cap_m=cap)
    checked = 0
    for limit, reach in zip(np.unique(limits), reaches):
        margin = reference_margin(sxy, smin, limit, graph.speeds.access_kmh / 3.6, cap, queries)
        got = inside(reach, queries)
        must_in, must_out = margin < -tol_m, margin > tol_m
        assert got[must_in].all(), f"T={limit}: {np.count_nonzero(~got[must_in])} reachable points outside"
        assert not got[must_out].any(), f"T={limit}: {np.count_nonzero(got[must_out])} unreachable points inside"
        assert must_in.sum() > 20 and must_out.sum() > 20
        checked += must_in.sum() + must_out.sum()
    return checked


# ------------------------------------------------------------------ straight road, exact cut


def test_walk_reach_along_a_straight_road_is_cut_exactly():
    g = compile_mode(line_network(), "walk", min_component_nodes=1)
    fac = place_points(g, np.array([[0.0, 0.0]]))  # at A, on the road
    iso = isochrones(g, fac, [5])
    reach = iso.geometry[0]
    L = 5 / 60 * 5000  # 416.67 m
    assert inside(reach, [[L - 0.5, 0.0]]).all()
    assert not inside(reach, [[L + 0.5, 0.0]]).any()
    # At the facility the whole 5 minutes are walked off the road (cap 1000 m not reached).
    assert inside(reach, [[0.0, L - 1.0], [0.0, -(L - 1.0)]]).all()
    assert not inside(reach, [[0.0, L + 1.0]]).any()
    # Walking off the road is as fast as on it: the reach is the disc of radius L around
    # the facility (drawn around the circle: at most 0.48 % larger), the tip a point of it.
    angle = np.linspace(0, 2 * np.pi, 97)
    ring = np.c_[np.cos(angle), np.sin(angle)]
    assert inside(reach, ring * (L - 0.5)).all()
    assert not inside(reach, ring * (L * 1.005)).any()
    lines = reach_lines(g, fac, 5)
    assert len(lines) == 1 and lines["f_end"][0] == pytest.approx(L / 1000)
    assert lines["minutes_end"][0] == pytest.approx(5.0)


def test_buffer_cap_limits_the_off_road_width_near_the_facility():
    g = compile_mode(line_network(), "walk", min_component_nodes=1)
    fac = place_points(g, np.array([[0.0, 0.0]]))
    reach = isochrones(g, fac, [5], buffer_cap_m=100).geometry[0]
    L = 5 / 60 * 5000
    assert inside(reach, [[0.0, 99.0], [200.0, 99.0], [L - 0.5, 0.0]]).all()
    assert not inside(reach, [[0.0, 101.0], [200.0, 101.0], [L + 0.5, 0.0]]).any()


def test_drive_buffer_tapers_from_remaining_time_to_zero_at_the_tip():
    # Road 22.5 km/h, access 15 km/h: within 1 minute the road reaches 375 m, and the
    # buffer is 250 m at the facility, shrinking to 0 at the tip.
    g = compile_mode(line_network(), "drive", min_component_nodes=1)
    fac = place_points(g, np.array([[0.0, 0.0]]))
    reach = isochrones(g, fac, [1.0]).geometry[0]
    L = 60 * DRIVE_RES_MS
    r0 = 60 * DRIVE_ACCESS_MS
    assert L == pytest.approx(375.0) and r0 == pytest.approx(250.0)
    assert inside(reach, [[L - 0.5, 0.0], [0.0, r0 - 1.0], [-(r0 - 1.0), 0.0]]).all()
    assert not inside(reach, [[L + 0.5, 0.0], [L, 1.0], [0.0, r0 + 1.0]]).any()
    # In between the exact shape (a union of discs along the road) is matched.
    rng = np.random.default_rng(0)
    q = rng.uniform([-300, -300], [450, 300], size=(3000, 2))
    c = np.linspace(0, L, 3001)  # road points and their remaining radius
    radius = (60 - c / DRIVE_RES_MS) * DRIVE_ACCESS_MS
    d = np.hypot(q[:, None, 0] - c[None], q[:, None, 1])
    margin = (d - radius[None]).min(axis=1)
    got = inside(reach, q)
    # Polygons are drawn around the exact shape, at most 0.48 % of the 250 m radius out.
    assert got[margin < -0.5].all() and not got[margin > 1.25].any()


def test_facility_in_the_middle_of_an_edge_reaches_both_ways_and_counts_its_access_leg():
    g = compile_mode(line_network(), "walk", min_component_nodes=1)
    fac = place_points(g, np.array([[500.0, 50.0]]))  # 50 m off the road: 0.6 min access leg
    lines = reach_lines(g, fac, 5)
    reach_m = (5 - 0.6) / 60 * 5000
    assert sorted(lines["f_start"]) == pytest.approx([(500 - reach_m) / 1000, 0.5])
    assert sorted(lines["f_end"]) == pytest.approx([0.5, (500 + reach_m) / 1000])
    reach = isochrones(g, fac, [5]).geometry[0]
    assert inside(reach, [[500 - reach_m + 0.5, 0.0], [500 + reach_m - 0.5, 0.0]]).all()
    assert not inside(reach, [[500 - reach_m - 0.5, 0.0], [500 + reach_m + 0.5, 0.0]]).any()


def test_reach_crosses_nodes_onto_the_next_edge():
    g = compile_mode(line_network(), "walk", min_component_nodes=1)
    fac = place_points(g, np.array([[900.0, 0.0]]))
    lines = reach_lines(g, fac, 2.4)  # 200 m: to x=700 and through B to x=1100
    assert lines["minutes_start"].min() == pytest.approx(0.0) and lines["minutes_end"].max() == pytest.approx(2.4)
    merged = shapely.line_merge(shapely.union_all(lines.geometry.to_numpy()))
    assert merged.geom_type == "LineString" and merged.bounds == pytest.approx((700, 0, 1100, 0))


# ----------------------------------------------------------------------------- one-way


def test_one_way_street_makes_from_and_to_facility_isochrones_differ():
    g = compile_mode(one_way_square(), "drive", min_component_nodes=1)
    station = place_points(g, np.array([[0.0, 0.0]]))  # at A; A -> B is one-way
    T = 1.5
    road = T * 60 * DRIVE_RES_MS  # 562.5 m
    out = isochrones(g, station, [T], "from_facility", buffer_cap_m=20).geometry[0]
    back = isochrones(g, station, [T], "to_facility", buffer_cap_m=20).geometry[0]
    # Out of the station the ambulance takes A -> B; back to A from the A-B street means
    # driving on to B and round the block.
    assert inside(out, [[road - 1, 0.0], [300.0, 0.0]]).all()
    assert not inside(back, [[300.0, 0.0], [road - 1, 0.0]]).any()
    # The two-way side street A-D works both ways.
    for geom in (out, back):
        assert inside(geom, [[0.0, road - 1]]).all() and not inside(geom, [[0.0, road + 1]]).any()
    assert out.area > back.area * 1.5
    # Walking ignores one-way rules: both directions agree.
    w = compile_mode(one_way_square(), "walk", min_component_nodes=1)
    fac = place_points(w, np.array([[0.0, 0.0]]))
    a = isochrones(w, fac, [5], "from_facility", buffer_cap_m=20).geometry[0]
    b = isochrones(w, fac, [5], "to_facility", buffer_cap_m=20).geometry[0]
    assert a.symmetric_difference(b).area < 1e-6 * a.area


def test_one_way_facility_edge_splits_the_reach_by_direction():
    # Station in the middle of the one-way A -> B street.
    g = compile_mode(one_way_square(), "drive", min_component_nodes=1)
    station = place_points(g, np.array([[500.0, 0.0]]))
    out = reach_lines(g, station, 1.0, "from_facility")
    back = reach_lines(g, station, 1.0, "to_facility")
    edge_ab = int(np.flatnonzero((g.network.edges["u"] == 0) & (g.network.edges["v"] == 1))[0])
    out_ab = out[out["edge"] == edge_ab]
    back_ab = back[back["edge"] == edge_ab]
    # From the station: onwards towards B only; to the station: from behind it (from A) only.
    assert out_ab["f_start"].min() == pytest.approx(0.5) and out_ab["f_end"].max() == pytest.approx(0.875)
    assert back_ab["f_start"].min() == pytest.approx(0.125) and back_ab["f_end"].max() == pytest.approx(0.5)


@pytest.mark.parametrize("direction", ["to_facility", "from_facility"])
def test_grid_with_one_way_rows_matches_brute_force_engine_times(direction):
    g = compile_mode(grid_network(), "drive", min_component_nodes=1)
    fac = place_points(g, np.array([[410.0, 790.0], [1250.0, 300.0]]))
    rng = np.random.default_rng(3)
    queries = rng.uniform(-150, 1750, size=(4000, 2))
    checked = check_against_reference(g, fac, [1.0, 2.0, 3.0], direction, cap=60.0, spacing_m=2.0,
                                       queries=queries, tol_m=2.5)
    assert checked > 5000


# ------------------------------------------------------------------------- band algebra


def test_bands_are_disjoint_and_add_up_to_the_largest_reach():
    g = compile_mode(grid_network(), "drive", min_component_nodes=1)
    fac = place_points(g, np.array([[410.0, 790.0], [1250.0, 300.0]]))
    iso = isochrones(g, fac, [3, 1, 2, 2])  # sorted, duplicates dropped
    assert iso["band"].tolist() == ["0–1", "1–2", "2–3"]
    assert iso["min_minutes"].tolist() == [0, 1, 2] and iso["max_minutes"].tolist() == [1, 2, 3]
    assert iso.crs == g.network.crs
    assert set(iso.geom_type) <= {"Polygon", "MultiPolygon"}
    geoms = iso.geometry.to_numpy()
    for i in range(3):
        for j in range(i + 1, 3):
            assert shapely.intersection(geoms[i], geoms[j]).area < 1e-6 * geoms[j].area
    largest = reach_polygons(g, fac, [3])[0]
    union = shapely.union_all(geoms)
    assert union.symmetric_difference(largest).area < 1e-6 * largest.area
    assert all(area > 0 for area in iso.area)


def test_simplified_bands_stay_a_clean_coverage():
    g = compile_mode(grid_network(), "drive", min_component_nodes=1)
    fac = place_points(g, np.array([[410.0, 790.0]]))
    raw = isochrones(g, fac, [1, 2, 3])
    simple = isochrones(g, fac, [1, 2, 3], simplify_m=5)
    assert shapely.get_coordinates(simple.geometry).shape[0] < shapely.get_coordinates(raw.geometry).shape[0]
    geoms = simple.geometry.to_numpy()
    assert shapely.intersection(geoms[0], geoms[1]).area < 1e-6 * geoms[1].area
    np.testing.assert_allclose(simple.area, raw.area, rtol=0.02)


def _hostile_classes(seed: int, kind: int, ny: int, nx: int) -> np.ndarray:
    """Band classes 0-2 (-1 unreached) made to stress polygonising and simplifying: noise
    (cells meeting at corners, holes in holes), smoothed noise, checkerboards, speckle."""
    from scipy.ndimage import uniform_filter

    rng = np.random.default_rng(seed)
    if kind == 0:
        return rng.integers(-1, 3, (ny, nx)).astype(np.int16)
    if kind == 1:
        f = uniform_filter(rng.random((ny, nx)), size=int(rng.integers(1, 6)))
        return (np.digitize(f, np.quantile(f, [0.2, 0.5, 0.8])) - 1).astype(np.int16)
    if kind == 2:
        board = np.add.outer(np.arange(ny), np.arange(nx)) % 2 * int(rng.integers(1, 3))
        return (board - (rng.random((ny, nx)) < 0.2)).astype(np.int16)
    out = rng.integers(-1, 3, (ny, nx))
    out[rng.random((ny, nx)) < 0.5] = 1
    return out.astype(np.int16)


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), kind=st.integers(0, 3), ny=st.integers(2, 60), nx=st.integers(2, 60),
       cell=st.sampled_from([1.0, 7.3, 25.0]), tol=st.sampled_from([0.5, 0.72, 1.0, 2.0, 5.0]))
def test_simplified_raster_bands_are_valid_without_make_valid(seed, kind, ny, nx, cell, tol):
    """The raster bands skip make_valid after coverage_simplify: on rasters built to break
    it, every simplified band is valid and make_valid would return it unchanged."""
    from affine import Affine

    from geoaccess.isochrones import _polygonal, _simplify_bands
    from geoaccess.isoraster import _class_bands

    klass = _hostile_classes(seed, kind, ny, nx)
    bands = _class_bands(klass, klass >= 0, Affine(cell, 0.0, 500_000.0, 0.0, -cell, 3_700_000.0), 3)
    present = ~shapely.is_empty(bands)
    simple = _simplify_bands(bands, tol * cell, from_raster=True)
    assert (shapely.is_empty(simple) == ~present).all()
    for g in simple[present]:
        assert g.is_valid, shapely.is_valid_reason(g)
        assert shapely.to_wkb(_polygonal(shapely.make_valid(g))) == shapely.to_wkb(g)
    # the same bands as the make_valid path
    assert list(shapely.to_wkb(simple)) == list(shapely.to_wkb(_simplify_bands(bands, tol * cell)))


def test_no_facility_on_the_network_gives_empty_bands():
    g = compile_mode(line_network(), "walk", min_component_nodes=1)
    fac = place_points(g, np.array([[500.0, 20_000.0]]))  # beyond the snap cap
    iso = isochrones(g, fac, [5, 10])
    assert len(iso) == 2 and iso.geometry.is_empty.all()


def test_polygon_follows_the_road_not_the_hull_of_reached_nodes():
    # A zigzag of 500 m legs: the hull of the reached nodes is a fat band, the reach a thin one.
    pts = {i: (i * 400.0, 0.0 if i % 2 == 0 else 600.0) for i in range(7)}
    g = compile_mode(make_graph(pts, [(i, i + 1, "residential", False) for i in range(6)]), "drive",
                     min_component_nodes=1)
    fac = place_points(g, np.array([[0.0, 0.0]]))
    reach = isochrones(g, fac, [8], buffer_cap_m=20).geometry[0]
    t = nearest_facility(g, place_points(g, np.array(list(pts.values()))), fac).minutes
    hull = shapely.convex_hull(shapely.multipoints(np.array(list(pts.values()))[t <= 8]))
    assert (t <= 8).sum() >= 5
    assert reach.area < 0.3 * hull.area


def test_bad_parameters_are_refused_with_their_name():
    g = compile_mode(line_network(), "walk", min_component_nodes=1)
    fac = place_points(g, np.array([[0.0, 0.0]]))
    with pytest.raises(InputError, match="direction"):
        isochrones(g, fac, [5], "sideways")
    with pytest.raises(InputError, match="thresholds_min"):
        isochrones(g, fac, [5, -1])
    with pytest.raises(InputError, match="thresholds_min"):
        isochrones(g, fac, [])
    with pytest.raises(InputError, match="buffer_cap_m"):
        isochrones(g, fac, [5], buffer_cap_m=0)


# ------------------------------------------------------------------------------- Monaco


@lru_cache(maxsize=None)
def monaco():
    net = network_from_file(MONACO)
    return net


def monaco_facilities(g, n=3, seed=11):
    net = g.network
    nodes = np.unique(net.edges["u"].to_numpy()[g.eligible])
    rng = np.random.default_rng(seed)
    return place_points(g, net.node_xy[rng.choice(nodes, n, replace=False)] + 15.0)


@pytest.mark.parametrize("mode,direction,limits,cap", [
    ("walk", "to_facility", [5, 10], None),
    ("drive", "from_facility", [2, 4], 80.0),
    ("drive", "to_facility", [2, 4], 80.0),
])
def test_monaco_road_points_within_time_are_inside(mode, direction, limits, cap):
    g = compile_mode(monaco(), mode)
    fac = monaco_facilities(g)
    rng = np.random.default_rng(5)
    e, f, xy = road_samples(g, None, rng, n_random=4000)
    minutes = nearest_facility(g, on_edges(g, e, f), fac, direction).minutes
    reaches = reach_polygons(g, fac, limits, direction, buffer_cap_m=cap)
    for limit, reach in zip(limits, reaches):
        near = minutes <= limit - 1e-6
        assert near.sum() > 50
        assert inside(reach, xy[near]).all()


def test_monaco_drive_matches_brute_force_reach_both_ways():
    # Small cap so that the road network, not the buffer, shapes the polygons.
    g = compile_mode(monaco(), "drive")
    fac = monaco_facilities(g)
    rng = np.random.default_rng(8)
    _, _, road_q = road_samples(g, None, rng, n_random=1500)
    lo, hi = g.network.edges.total_bounds.reshape(2, 2)
    queries = np.r_[road_q, rng.uniform(lo, hi, size=(1500, 2))]
    for direction in ("to_facility", "from_facility"):
        checked = check_against_reference(g, fac, [2, 4], direction, cap=60.0, spacing_m=2.0,
                                          queries=queries, tol_m=3.0)
        assert checked > 1500


def test_monaco_walk_outside_points_are_beyond_the_buffer():
    g = compile_mode(monaco(), "walk")
    fac = monaco_facilities(g)
    rng = np.random.default_rng(9)
    e, f, xy = road_samples(g, None, rng, n_random=3000)
    minutes = nearest_facility(g, on_edges(g, e, f), fac, "to_facility").minutes
    reach = reach_polygons(g, fac, [5], buffer_cap_m=150)[0]
    # A road point is outside unless some reachable road point is within its remaining
    # off-road distance (cap 150 m): check with brute force over 5 m road samples.
    se, sf, sxy = road_samples(g, 5.0)
    smin = nearest_facility(g, on_edges(g, se, sf), fac, "to_facility").minutes
    margin = reference_margin(sxy, smin, 5.0, WALK_MS, 150.0, xy)
    late = minutes > 5.0
    beyond = late & (margin > 4.0)
    assert beyond.sum() > 100
    assert not inside(reach, xy[beyond]).any()
    # Late points the buffer does reach exist (across blocks) — that is the off-road leg.
    assert inside(reach, xy[late & (margin < -4.0)]).all()


def test_monaco_polygon_is_much_smaller_than_the_hull_of_reached_nodes():
    g = compile_mode(monaco(), "drive")
    fac = monaco_facilities(g, n=1, seed=2)
    net = g.network
    t = nearest_facility(g, place_points(g, net.node_xy[:1]), fac, "from_facility").node_minutes
    # Streets with a 10 m verge: 2 minutes of driving in a dense town.
    reach = reach_polygons(g, fac, [2], "from_facility", buffer_cap_m=10)[0]
    hull = shapely.convex_hull(shapely.multipoints(net.node_xy[t <= 2]))
    # Roads are split at junctions only (3,761 junctions; the routed network adds copies of
    # private roads' nodes, which are no extra places).
    assert (t <= 2).sum() > 0.08 * monaco().n_nodes
    assert reach.area < 0.35 * hull.area
    assert shapely.covers(reach.buffer(1.0), shapely.multipoints(net.node_xy[t <= 2]))


# ------------------------------------------------------------------------- raster method


def check_raster_matches_exact(g, fac, limits, direction, cap, cell, min_cells=50):
    """Every cell centre of the grid lies in the same band of the raster and the exact
    isochrones, except within one cell diagonal of an exact band boundary (of any band:
    where the buffer cap cuts the reach, times jump from within the band to unreachable)."""
    exact = isochrones(g, fac, limits, direction, buffer_cap_m=cap).geometry.to_numpy()
    raster = isochrones(g, fac, limits, direction, buffer_cap_m=cap, method="raster", cell_m=cell)
    assert raster["band"].tolist() == [f"{lo:g}–{hi:g}" for lo, hi in zip([0] + limits[:-1], limits)]
    bands = raster.geometry.to_numpy()
    assert shapely.is_valid(bands).all() and set(raster.geom_type) <= {"Polygon", "MultiPolygon"}
    for i in range(len(bands)):
        for j in range(i + 1, len(bands)):
            assert shapely.intersection(bands[i], bands[j]).area == pytest.approx(0.0, abs=1e-6)
    lo, hi = np.floor(shapely.total_bounds(exact)[:2] / cell) - 2, np.ceil(shapely.total_bounds(exact)[2:] / cell) + 2
    gx, gy = np.meshgrid(np.arange(lo[0], hi[0]) + 0.5, np.arange(lo[1], hi[1]) + 0.5)
    centres = shapely.points(np.c_[gx.ravel(), gy.ravel()] * cell)
    edges = shapely.union_all(shapely.boundary(exact[~shapely.is_empty(exact)]))
    for band, want_geom, got_geom in zip(raster["band"], exact, bands):
        want, got = shapely.intersects(want_geom, centres), shapely.intersects(got_geom, centres)
        wrong = np.flatnonzero(want != got)
        off = shapely.distance(edges, centres[wrong])
        assert (off <= np.sqrt(2) * cell).all(), f"band {band}: {np.count_nonzero(off > np.sqrt(2) * cell)} cells wrong"
        assert got.sum() >= min_cells and len(wrong) < 0.2 * got.sum()
    # One reach, the bands' union, seen through the grid of times.
    minutes, (x0, y_top, size) = raster_times(g, fac, limits[-1], direction, buffer_cap_m=cap, cell_m=cell)
    assert size == cell and x0 % cell == 0 and y_top % cell == 0
    assert np.isfinite(minutes).sum() * cell * cell == pytest.approx(shapely.union_all(bands).area)
    return raster


def test_raster_drive_along_a_straight_road_matches_the_exact_taper():
    g = compile_mode(line_network(), "drive", min_component_nodes=1)
    fac = place_points(g, np.array([[0.0, 0.0]]))
    raster = check_raster_matches_exact(g, fac, [0.5, 1.0], "to_facility", cap=100.0, cell=5.0)
    reach = shapely.union_all(raster.geometry.to_numpy())
    L = 60 * DRIVE_RES_MS  # 375 m along the road, 100 m wide near the facility
    assert inside(reach, [[L - 10, 0.0], [0.0, 95.0], [150.0, 95.0]]).all()
    assert not inside(reach, [[L + 10, 0.0], [0.0, 110.0], [0.0, 50_000.0]]).any()


@pytest.mark.parametrize("direction", ["to_facility", "from_facility"])
def test_raster_grid_with_one_way_rows_matches_exact(direction):
    g = compile_mode(grid_network(), "drive", min_component_nodes=1)
    fac = place_points(g, np.array([[410.0, 790.0], [1250.0, 300.0]]))
    check_raster_matches_exact(g, fac, [1, 2, 3], direction, cap=60.0, cell=10.0)


def test_raster_follows_the_road_not_the_hull():
    pts = {i: (i * 400.0, 0.0 if i % 2 == 0 else 600.0) for i in range(7)}
    g = compile_mode(make_graph(pts, [(i, i + 1, "residential", False) for i in range(6)]), "drive",
                     min_component_nodes=1)
    fac = place_points(g, np.array([[0.0, 0.0]]))
    reach = isochrones(g, fac, [8], buffer_cap_m=20, method="raster", cell_m=10).geometry[0]
    exact = isochrones(g, fac, [8], buffer_cap_m=20).geometry[0]
    assert reach.area == pytest.approx(exact.area, rel=0.35)
    assert shapely.convex_hull(reach).area > 4 * reach.area


@pytest.mark.parametrize("mode,direction,limits,cap,cell", [
    ("walk", "to_facility", [5, 10, 15], 200.0, 25.0),
    ("drive", "from_facility", [1, 2, 3], 80.0, 10.0),
])
def test_raster_monaco_matches_exact(mode, direction, limits, cap, cell):
    # Speed is measured in benchmarks, not asserted here.
    g = compile_mode(monaco(), mode)
    fac = monaco_facilities(g, n=18, seed=1)
    exact = isochrones(g, fac, limits, direction, buffer_cap_m=cap, simplify_m=10)
    raster = isochrones(g, fac, limits, direction, buffer_cap_m=cap, simplify_m=10, method="raster", cell_m=cell)
    np.testing.assert_allclose(raster.area, exact.area, rtol=0.1)
    check_raster_matches_exact(g, fac, limits, direction, cap, cell)


def test_raster_without_reachable_facility_and_bad_parameters():
    g = compile_mode(line_network(), "walk", min_component_nodes=1)
    far = place_points(g, np.array([[500.0, 20_000.0]]))
    iso = isochrones(g, far, [5, 10], method="raster")
    assert len(iso) == 2 and iso.geometry.is_empty.all()
    fac = place_points(g, np.array([[0.0, 0.0]]))
    with pytest.raises(InputError, match="method"):
        isochrones(g, fac, [5], method="hexagons")
    with pytest.raises(InputError, match="cell_m"):
        isochrones(g, fac, [5], method="raster", cell_m=0)


# ------------------------------------------------------------------------ service areas


def test_service_areas_partition_demand_by_nearest_facility():
    g = compile_mode(line_network(), "walk", min_component_nodes=1)
    fac = place_points(g, np.array([[0.0, 0.0], [2000.0, 0.0]]))
    xs = np.arange(50.0, 2000.0, 100.0)  # 20 cells of 100 m along the road
    demand_xy = np.r_[np.c_[xs, np.zeros_like(xs)], [[450.0, 50_000.0]]]  # + one on the island
    dem = place_points(g, demand_xy)
    r = nearest_facility(g, dem, fac)
    pop = np.r_[np.arange(20.0), 7.0]
    sa = service_areas(demand_xy, r, ["west", "east"], weights=pop, crs=g.network.crs)
    assert sa["facility_id"].tolist() == ["west", "east", None]
    assert sa["facility"].tolist() == [0, 1, -1]
    assert sa["n_demand"].tolist() == [10, 10, 1]
    assert sa["pop"].tolist() == [pop[:10].sum(), pop[10:20].sum(), 7.0]
    assert np.isinf(sa["mean_minutes"][2])
    expected_west = np.average(r.minutes[:10], weights=pop[:10])
    assert sa["mean_minutes"][0] == pytest.approx(expected_west)
    assert sa["max_minutes"][0] == pytest.approx(r.minutes[:10].max())
    # Cell size inferred from the 100 m spacing; cells on a lattice merge into one block.
    assert sa.geometry[0].area == pytest.approx(10 * 100 * 100)
    assert sa.geometry[0].bounds == pytest.approx((0, -50, 1000, 50))
    assert sa.geometry[0].intersection(sa.geometry[1]).area == 0
    assert sa.crs == g.network.crs


def test_service_areas_without_weights_or_unreachable_and_with_a_facility_serving_nobody():
    g = compile_mode(line_network(), "walk", min_component_nodes=1)
    fac = place_points(g, np.array([[0.0, 0.0], [100.0, 0.0], [2000.0, 0.0]]))
    rng = np.random.default_rng(2)
    demand_xy = np.c_[rng.uniform(1500, 2000, 30), rng.uniform(-40, 40, 30)]  # not a lattice
    r = nearest_facility(g, place_points(g, demand_xy), fac)
    sa = service_areas(demand_xy, r, ["a", "b", "c"], cell_size_m=20)
    assert "pop" not in sa and len(sa) == 3
    assert sa["n_demand"].tolist() == [0, 0, 30]
    assert sa.geometry[0].is_empty and sa.geometry[2].area > 0
    assert sa.geometry[2].area <= 30 * 400 + 1e-6
    with pytest.raises(InputError, match="weights"):
        service_areas(demand_xy, r, ["a", "b", "c"], weights=np.ones(3))
    with pytest.raises(InputError, match="facility_ids"):
        service_areas(demand_xy, r, ["only one"])


# ------------------------------------------------ bands agree with the table (issue 13)

def river_network():
    """Two banks 150 m apart (y = 0 and y = 150), 4 km long, one bridge at their east end."""
    nodes = {f"S{k}": (1000.0 * k, 0.0) for k in range(5)} | {f"N{k}": (1000.0 * k, 150.0) for k in range(5)}
    edges = [(f"{b}{k}", f"{b}{k + 1}", "residential", False) for b in "SN" for k in range(4)]
    return make_graph(nodes, edges + [("S4", "N4", "residential", False)])


def covering_bands(bands, xy):
    """For every point, the indices of the bands whose polygon covers it."""
    pts = shapely.points(np.asarray(xy, dtype=float))
    hit = np.array([shapely.covers(g, pts) for g in bands.geometry.to_numpy()])
    return [np.flatnonzero(hit[:, i]) for i in range(len(pts))]


def assert_bands_hold_their_times(bands, xy, minutes):
    """A point lies in a band containing its minutes, or in none when beyond the last band."""
    lo, hi = bands["min_minutes"].to_numpy(), bands["max_minutes"].to_numpy()
    wrong = []
    for i, (found, t) in enumerate(zip(covering_bands(bands, xy), minutes)):
        ok = any(lo[b] <= t <= hi[b] for b in found) if len(found) else not t <= hi[-1]
        if not ok:
            wrong.append((i, t, [bands["band"].iloc[b] for b in found]))
    assert wrong == []


def test_a_home_across_the_river_is_not_drawn_in_the_clinics_band():
    g = compile_mode(river_network(), "drive", min_component_nodes=1)
    clinic = place_points(g, np.array([[20.0, -10.0]]))
    # homes 30 m north of the north bank (180 m from the clinic's bank) and on the south bank
    xy = np.r_[np.c_[60.0 + 400 * np.arange(10), np.full(10, 180.0)],
               np.c_[60.0 + 400 * np.arange(10), np.full(10, -40.0)]]
    minutes = nearest_facility(g, place_points(g, xy), clinic, "to_facility").minutes
    # by road: 4 km east, over the bridge, back west (about 8 km at 22.5 km/h)
    assert minutes[0] == pytest.approx(((4000 - 20) + 150 + (4000 - 60)) / DRIVE_RES_MS / 60
                                       + (10 / DRIVE_ACCESS_MS + 30 / DRIVE_ACCESS_MS) / 60, abs=0.05)
    assert minutes[0] > 15 and minutes[10] < 1
    limits = [5, 10, 15]
    # Any reached road within the cap: the homes across the river sit in the first band.
    reach = isochrones(g, clinic, limits, buffer_cap_m=200, method="raster", cell_m=10)
    assert [list(b) for b in covering_bands(reach, xy[:2])] == [[0], [0]]
    # Nearest road, as the engine joins homes: each home lies in its own time's band.
    near = isochrones(g, clinic, limits, buffer_cap_m=200, method="raster", cell_m=10, access="nearest")
    clear = np.abs(minutes[:, None] - np.array(limits)[None, :]).min(axis=1) > 0.3
    assert clear.sum() >= 15
    assert_bands_hold_their_times(near, xy[clear], minutes[clear])
    # With the homes' own times every home agrees, also next to a band limit.
    exact = isochrones(g, clinic, limits, buffer_cap_m=200, method="raster", cell_m=10, access="nearest",
                       points=(xy, minutes))
    assert_bands_hold_their_times(exact, xy, minutes)
    assert len(covering_bands(exact, xy[:1])[0]) == 0  # 8 km by road: outside every band
    with pytest.raises(InputError, match="raster"):
        isochrones(g, clinic, limits, access="nearest")


def test_every_demand_point_of_a_county_lies_in_its_own_band(tmp_path):
    from geoaccess.pipeline import run_scenario, target_isochrones, travels_by
    from geoaccess.scenario import load_scenario
    from geoaccess.synthetic import generate_county
    from geoaccess.targets import select_facilities

    county = generate_county(tmp_path / "county", seed=5, area_km2=40, n_nodes=2500, write_osm=False)
    result = run_scenario(load_scenario(county.scenario_toml), write=False)
    demand = result.demand
    xy = np.c_[demand.geometry.x, demand.geometry.y]
    checked = 0
    for e in result.evaluations:
        if e.target.metric == "per_1000":
            continue
        minutes = demand[f"{e.target.id}_min"].to_numpy()
        bands = target_isochrones(e.target, result.engine, select_facilities(e.target, result.facilities), demand,
                                  simplify_m=None)
        bands[["min_minutes", "max_minutes"]] -= e.target.dispatch_delay_min
        # the bands are one mode's (drive here); homes travelling by it lie in their own band
        uses = travels_by(e.target, bands["mode"].iloc[0], demand["urban"].to_numpy(bool))
        assert_bands_hold_their_times(bands, xy[uses], minutes[uses])
        checked += uses.sum()
    assert checked > 2 * len(xy) > 2000


def test_raster_polygons_equal_rasterios_shapes_one_by_one():
    from affine import Affine
    from rasterio.features import shapes

    from geoaccess.grids import raster_polygons

    rng = np.random.default_rng(3)
    values = rng.integers(0, 3, (40, 50)).astype(np.int16)
    values[10:20, 10:20], values[14:16, 14:16] = 1, 2  # a region with a hole
    mask = rng.random(values.shape) < 0.9
    transform = Affine(25.0, 0.0, 500_000.0, 0.0, -25.0, 3_000_000.0)
    polys, value = raster_polygons(values, mask, transform)
    want = [(shapely.geometry.shape(g), v) for g, v in shapes(values, mask=mask, connectivity=4, transform=transform)]
    assert len(polys) == len(want) > 100 and (shapely.get_num_interior_rings(polys) > 0).any()
    assert all(p.equals(w) and v == wv for p, v, (w, wv) in zip(polys, value, want))
    assert shapely.area(polys).sum() == pytest.approx(mask.sum() * 25.0 ** 2)


def test_targets_on_one_road_set_share_the_nearest_road_grid_and_draw_the_same_bands(tmp_path, monkeypatch):
    """Issue 15: the roads' grid and its nearest-road transform are built once for all the
    targets on those roads; the bands equal those of each target's own grid."""
    from geoaccess import grids, isoraster
    from geoaccess.pipeline import run_scenario, target_isochrones
    from geoaccess.scenario import load_scenario
    from geoaccess.synthetic import generate_county
    from geoaccess.targets import select_facilities

    county = generate_county(tmp_path / "county", seed=5, area_km2=40, n_nodes=2500, write_osm=False)
    result = run_scenario(load_scenario(county.scenario_toml), write=False)
    calls = []
    real = grids.nearest_seeds
    monkeypatch.setattr(isoraster, "nearest_seeds", lambda *a: calls.append(1) or real(*a))
    targets = [e.target for e in result.evaluations if e.target.metric != "per_1000"]

    def bands(ratio):
        monkeypatch.setattr(isoraster, "SHARED_GRID_MAX_RATIO", ratio)
        return [target_isochrones(t, result.engine, select_facilities(t, result.facilities), result.demand,
                                  simplify_m=None) for t in targets]

    own = bands(0)  # every target on its own grid: one transform each (in nearest_seed_time, not here)
    assert calls == []
    monkeypatch.setattr(grids, "_KEPT", {})  # the run kept the roads' transform: build it anew
    shared = bands(10)
    assert len(targets) >= 2 and len(calls) == len({result.engine.graph(b["mode"].iloc[0]).snap_key() for b in shared})
    for a, b in zip(own, shared):
        assert len(a) == len(b) and (a["band"] == b["band"]).all()
        assert all(x.equals(y) for x, y in zip(a.geometry, b.geometry))
        assert sum(not g.is_empty for g in a.geometry) >= 2


def test_the_nearest_road_transform_on_a_thread_draws_the_one_thread_bands(tmp_path, monkeypatch):
    """The roads' nearest-road transform starts on a thread (grids.kept_soon) while the homes'
    spacing is found; GEOACCESS_KDTREE_WORKERS=1 builds it in line, when asked for. Same bands."""
    import os
    import threading

    from geoaccess import grids, isoraster
    from geoaccess.pipeline import run_scenario, target_isochrones
    from geoaccess.scenario import load_scenario
    from geoaccess.synthetic import generate_county
    from geoaccess.targets import select_facilities

    county = generate_county(tmp_path / "county", seed=7, area_km2=40, n_nodes=2500, write_osm=False)
    result = run_scenario(load_scenario(county.scenario_toml), write=False)
    targets = [e.target for e in result.evaluations if e.target.metric != "per_1000"]
    where = []
    real = grids.nearest_seeds
    monkeypatch.setattr(isoraster, "nearest_seeds", lambda *a: where.append(threading.current_thread().name) or real(*a))

    def bands(workers):
        monkeypatch.setenv(grids.KDTREE_WORKERS_VAR, workers)
        monkeypatch.setattr(grids, "_KEPT", {})  # the run kept the roads' transform: build it anew
        where.clear()
        out = [target_isochrones(t, result.engine, select_facilities(t, result.facilities), result.demand)
               for t in targets]
        return out, list(where)

    one, one_where = bands("1")
    two, two_where = bands("2")
    assert one_where and set(one_where) == {threading.current_thread().name}
    threaded = (os.cpu_count() or 1) > 1
    assert len(two_where) == len(one_where)
    assert set(two_where) == {"geoaccess-soon" if threaded else threading.current_thread().name}
    for a, b in zip(one, two):
        assert list(a["band"]) == list(b["band"]) and sum(not g.is_empty for g in a.geometry) >= 2
        assert list(shapely.to_wkb(a.geometry.to_numpy())) == list(shapely.to_wkb(b.geometry.to_numpy()))
