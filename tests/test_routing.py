"""Travel-time engine on hand-made graphs whose answers are known, and on real Monaco."""

from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from geoaccess.errors import InputError
from geoaccess.network import load_speeds, network_from_file, network_from_graph
from geoaccess.routing import compile_mode, nearest_facility, od_matrix, place_points

from graphs import FLAT, line_network, one_way_square

MONACO = Path(__file__).resolve().parents[1] / "data" / "demo" / "monaco.osm.pbf"


def walk(net, **kw):
    return compile_mode(net, "walk", min_component_nodes=1, **kw)


def test_walk_times_along_a_line_include_both_off_network_legs():
    g = walk(line_network())
    # 5 km/h = 12 min per km; access legs also at 5 km/h.
    fac = place_points(g, np.array([[2000.0, 50.0]]))  # 50 m off the road at C: 0.6 min
    dem = place_points(g, np.array([[0.0, 0.0], [500.0, 100.0], [2000.0, 0.0], [1500.0, 0.0]]))
    r = nearest_facility(g, dem, fac)
    np.testing.assert_allclose(r.minutes, [24.6, 18.0 + 1.2 + 0.6, 0.6, 6.6], atol=1e-9)
    assert (r.facility == 0).all()


def test_demand_on_the_same_edge_as_the_facility_goes_straight_along_it():
    # Facility at x=700 and demand at x=400 on the A-B edge of length 1000 m.
    g = walk(line_network())
    fac = place_points(g, np.array([[700.0, 0.0]]))
    dem = place_points(g, np.array([[400.0, 0.0], [900.0, 0.0], [1500.0, 0.0]]))
    r = nearest_facility(g, dem, fac)
    np.testing.assert_allclose(r.minutes, [3.6, 2.4, 9.6], atol=1e-9)


def test_point_beyond_the_snap_cap_is_off_network_and_infinite():
    g = walk(line_network())
    dem = place_points(g, np.array([[500.0, 1500.0], [500.0, 900.0]]))
    assert dem.on_network.tolist() == [False, True]
    r = nearest_facility(g, dem, place_points(g, np.array([[0.0, 0.0]])))
    assert np.isinf(r.minutes[0]) and r.facility[0] == -1
    assert r.minutes[1] == pytest.approx(6.0 + 900 / 5000 * 60)
    assert r.n_unreachable == 1


def test_island_component_is_unreachable_not_dropped():
    g = walk(line_network())
    dem = place_points(g, np.array([[500.0, 50_000.0], [500.0, 0.0]]))
    r = nearest_facility(g, dem, place_points(g, np.array([[0.0, 0.0]])))
    assert np.isinf(r.minutes[0]) and r.facility[0] == -1
    assert r.minutes[1] == pytest.approx(6.0)


def test_a_point_beside_an_island_road_stays_on_the_island():
    # Issue 9: a point beside its own road is not moved to another part of the network
    # hundreds of metres (here 50 km) away; it is on the island, unreachable from the mainland.
    net = line_network()
    for g in (compile_mode(net, "walk"), compile_mode(net, "walk", min_component_nodes=10)):
        dem = place_points(g, np.array([[500.0, 50_000.0]]))
        assert dem.on_network[0] and dem.distance_m[0] == pytest.approx(0.0)
        r = nearest_facility(g, dem, place_points(g, np.array([[0.0, 0.0]])))
        assert np.isinf(r.minutes[0]) and r.facility[0] == -1
    # By nodes (the old rule, on request) the 2-node island is a fragment: still snapped to,
    # since the main network is 50 km farther than the tolerance.
    assert compile_mode(net, "walk", min_component_nodes=10).n_small_components == 1


def test_points_join_a_fragment_only_when_nearer_by_more_than_the_tolerance():
    # place_points searches the fragments only for points farther than the tolerance from the
    # main network (no nearer one can win by more): every point must still get the rule's edge
    # and distance, as measured by shapely to each road.
    from graphs import make_graph

    net = make_graph({"A": (0, 0), "B": (2000, 0), "C": (4000, 0), "D": (0, 300), "E": (1000, 300)},
                     [("A", "B", "residential", False), ("B", "C", "residential", False),
                      ("D", "E", "residential", False)])
    g = compile_mode(net, "walk", load_speeds({"walk": {"fragment_tolerance_m": 100.0}}), min_component_nodes=3)
    assert g.fragment.sum() == 1 and g.eligible.sum() == 2
    gx, gy = np.meshgrid(np.linspace(-300, 2300, 27), np.linspace(-150, 600, 31))
    xy = np.c_[gx.ravel(), gy.ravel()]
    p = place_points(g, xy)
    main = shapely.distance(shapely.points(xy), shapely.LineString([(0, 0), (4000, 0)]))
    frag = shapely.distance(shapely.points(xy), shapely.LineString([(0, 300), (1000, 300)]))
    on_fragment = frag + 100.0 < main
    assert on_fragment.any() and (~on_fragment & (main > 100.0)).any()  # both sides of the rule, beyond the tolerance
    assert (on_fragment & (main < 300.0)).any()  # fragment homes a little beyond the tolerance from the main road
    np.testing.assert_array_equal(g.fragment[p.edge], on_fragment)
    np.testing.assert_allclose(p.distance_m, np.where(on_fragment, frag, main), atol=1e-9)


def test_one_way_street_makes_to_and_from_facility_differ():
    net = one_way_square()
    g = compile_mode(net, "drive", min_component_nodes=1)
    kmh = load_speeds()["drive"].kmh["residential"] * load_speeds()["drive"].congestion["residential"]
    km_min = 60.0 / kmh
    station = place_points(g, np.array([[0.0, 0.0]]))  # at A
    patient = place_points(g, np.array([[1000.0, 0.0]]))  # at B
    out = nearest_facility(g, patient, station, "from_facility").minutes[0]
    back = nearest_facility(g, patient, station, "to_facility").minutes[0]
    assert out == pytest.approx(1 * km_min)  # A -> B directly
    assert back == pytest.approx(3 * km_min)  # B -> C -> D -> A around the block
    # Walking ignores one-way rules.
    w = compile_mode(net, "walk", min_component_nodes=1)
    assert nearest_facility(w, place_points(w, np.array([[1000.0, 0.0]])), place_points(w, np.array([[0.0, 0.0]])),
                            "to_facility").minutes[0] == pytest.approx(12.0)


def test_mid_edge_point_on_a_one_way_street():
    g = compile_mode(one_way_square(), "drive", min_component_nodes=1)
    km_min = 60.0 / (25.0 * 0.9)
    station = place_points(g, np.array([[0.0, 0.0]]))
    patient = place_points(g, np.array([[400.0, 0.0]]))  # 400 m along A->B
    assert nearest_facility(g, patient, station, "from_facility").minutes[0] == pytest.approx(0.4 * km_min)
    # Back to A: forward to B (0.6 km), then around (3 km); no driving backwards.
    assert nearest_facility(g, patient, station, "to_facility").minutes[0] == pytest.approx(3.6 * km_min)


def test_parallel_edges_use_the_fastest():
    g = nx.MultiDiGraph(crs=FLAT)
    g.add_node(1, x=0.0, y=0.0)
    g.add_node(2, x=1000.0, y=0.0)
    slow = shapely.LineString([(0, 0), (500, 800), (1000, 0)])
    g.add_edge(1, 2, highway="residential", geometry=slow)
    g.add_edge(2, 1, highway="residential", geometry=shapely.reverse(slow))
    g.add_edge(1, 2, highway="residential", geometry=shapely.LineString([(0, 0), (1000, 0)]))
    g.add_edge(2, 1, highway="residential", geometry=shapely.LineString([(1000, 0), (0, 0)]))
    net = network_from_graph(g, crs=FLAT)
    assert net.n_edges == 2
    m = walk(net)
    r = nearest_facility(m, place_points(m, np.array([[1000.0, 0.0]])), place_points(m, np.array([[0.0, 0.0]])))
    assert r.minutes[0] == pytest.approx(12.0)


def test_nearest_facility_picks_the_closest_of_many():
    g = walk(line_network())
    fac = place_points(g, np.array([[0.0, 0.0], [2000.0, 0.0], [0.0, 50_000.0]]))
    dem = place_points(g, np.array([[300.0, 0.0], [1900.0, 0.0], [900.0, 50_000.0]]))
    r = nearest_facility(g, dem, fac)
    assert r.facility.tolist() == [0, 1, 2]
    np.testing.assert_allclose(r.minutes, [3.6, 1.2, 10.8])


def test_od_matrix_matches_single_facility_searches():
    g = walk(one_way_square())
    rng = np.random.default_rng(1)
    dem = place_points(g, rng.uniform(-50, 1050, size=(60, 2)))
    src = place_points(g, rng.uniform(0, 1000, size=(7, 2)))
    cutoff = 20.0
    od = od_matrix(g, dem, src, cutoff, "to_facility", batch=3).tocoo()
    stored = {(int(i), int(j)): m for i, j, m in zip(od.row, od.col, od.data)}
    for j in range(len(src)):
        single = nearest_facility(g, dem, src.subset(np.arange(len(src)) == j)).minutes
        within = np.flatnonzero(single <= cutoff)
        assert {i for (i, jj) in stored if jj == j} == set(within.tolist())
        np.testing.assert_allclose([stored[(i, j)] for i in within], single[within], atol=1e-9)


def test_od_matrix_in_forked_processes_equals_one_process():
    g = walk(one_way_square())
    rng = np.random.default_rng(2)
    dem = place_points(g, rng.uniform(-50, 1050, size=(80, 2)))
    src = place_points(g, np.r_[rng.uniform(0, 1000, size=(9, 2)), [[5000.0, 5000.0]]])  # last: off network
    one = od_matrix(g, dem, src, 15.0, "from_facility", batch=2)
    two = od_matrix(g, dem, src, 15.0, "from_facility", batch=2, processes=2)
    assert one.shape == two.shape == (80, 10) and one.nnz == two.nnz > 0
    assert one.has_sorted_indices and two.has_sorted_indices
    np.testing.assert_array_equal(one.indptr, two.indptr)
    np.testing.assert_array_equal(one.indices, two.indices)
    np.testing.assert_array_equal(one.data, two.data)
    assert one[:, 9].nnz == 0


def test_od_matrix_progress_bar_only_on_a_terminal(monkeypatch):
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    g = walk(one_way_square())
    rng = np.random.default_rng(3)
    dem, src = place_points(g, rng.uniform(0, 1000, size=(20, 2))), place_points(g, rng.uniform(0, 1000, size=(6, 2)))
    for stream, shown in ((io.StringIO(), False), (Terminal(), True)):
        monkeypatch.setattr("sys.stderr", stream)
        od_matrix(g, dem, src, 15.0, batch=2, progress=True)
        # a log file (not a terminal) gets no bar redraws; a terminal gets the bar
        assert ("travel-time matrix" in stream.getvalue()) is shown


def test_od_keeps_zero_minute_pairs():
    g = walk(line_network())
    pts = np.array([[1000.0, 0.0]])
    od = od_matrix(g, place_points(g, pts), place_points(g, pts), 5.0)
    assert od.nnz == 1 and od.data[0] == 0.0


def test_bad_parameters_are_refused_with_their_name():
    g = walk(line_network())
    p = place_points(g, np.array([[0.0, 0.0]]))
    with pytest.raises(InputError, match="direction"):
        nearest_facility(g, p, p, "sideways")
    with pytest.raises(InputError, match="cutoff_min"):
        od_matrix(g, p, p, -5)
    with pytest.raises(InputError, match="mode"):
        compile_mode(line_network(), "bicycle")
    with pytest.raises(InputError, match="NaN"):
        place_points(g, np.array([[np.nan, 0.0]]))
    with pytest.raises(InputError, match="must be a positive"):
        compile_mode(line_network(), "drive", speeds=load_speeds({"drive": {"kmh": {"residential": 0}}}))


def _networkx_reference(mode_graph, sources, reverse):
    g = nx.DiGraph()
    tails, heads, seconds = mode_graph.road_arcs()
    for t, h, s in zip(tails.tolist(), heads.tolist(), seconds.tolist()):
        if not g.has_edge(t, h) or g[t][h]["w"] > s:
            g.add_edge(t, h, w=s)
    if reverse:
        g = g.reverse()
    lengths = nx.multi_source_dijkstra_path_length(g, set(sources), weight="w")
    return np.array([lengths.get(i, np.inf) for i in range(mode_graph.n_nodes)]) / 60.0


@pytest.fixture(scope="module")
def monaco():
    return network_from_file(MONACO)


@pytest.mark.parametrize("mode", ["walk", "drive", "ambulance"])
@pytest.mark.parametrize("direction", ["to_facility", "from_facility"])
def test_monaco_node_times_equal_networkx_multi_source_dijkstra(monaco, mode, direction):
    g = compile_mode(monaco, mode)
    net = g.network  # the routed network: private roads laid twice (leaving and arriving copies)
    eligible_nodes = np.unique(np.r_[net.edges["u"].to_numpy()[g.eligible], net.edges["v"].to_numpy()[g.eligible]])
    # Points on nodes a private road touches may join it (then their node is its copy):
    # those are pinned by the hand-made access tests; here, nodes of public roads only.
    private = monaco.edges[f"access_{mode}"].to_numpy() == 1
    touched = np.r_[monaco.edges["u"].to_numpy()[private], monaco.edges["v"].to_numpy()[private]]
    eligible_nodes = eligible_nodes[(eligible_nodes < monaco.n_nodes) & ~np.isin(eligible_nodes, touched)]
    rng = np.random.default_rng(7)
    fac_nodes = rng.choice(eligible_nodes, 6, replace=False)
    fac = place_points(g, net.node_xy[fac_nodes])
    dem = place_points(g, net.node_xy[eligible_nodes])
    r = nearest_facility(g, dem, fac, direction)
    ref = _networkx_reference(g, fac_nodes.tolist(), reverse=direction == "to_facility")
    both_inf = np.isinf(ref) & np.isinf(r.node_minutes)
    assert (np.isinf(ref) == np.isinf(r.node_minutes)).all()
    np.testing.assert_allclose(r.node_minutes[~both_inf], ref[~both_inf], atol=1e-6)
    # Demand points placed on the nodes get the node times (no access leg: distance 0).
    np.testing.assert_allclose(r.minutes, ref[eligible_nodes], atol=1e-6)
    assert np.isfinite(ref[eligible_nodes]).mean() > 0.8


@pytest.mark.parametrize("direction", ["to_facility", "from_facility"])
def test_edge_piece_times_from_a_kept_search_equal_a_bounded_search(monaco, direction):
    # After nearest_facility, edge_piece_times of the same facilities takes its kept search, cut
    # at the limit, instead of a bounded Dijkstra: every array must be the bounded search's,
    # also at a limit equal to a node's own time (scipy keeps a node at exactly the limit).
    from geoaccess.routing import _kept_search, edge_piece_times

    g, fresh = compile_mode(monaco, "drive"), compile_mode(monaco, "drive")  # fresh: a graph with nothing kept
    rng = np.random.default_rng(11)
    xy = monaco.node_xy[rng.choice(monaco.n_nodes, 8, replace=False)] + rng.normal(0, 20, (8, 2))
    fac, fac_fresh = place_points(g, xy), place_points(fresh, xy)
    dem = place_points(g, monaco.node_xy)
    r = nearest_facility(g, dem, fac, direction)
    assert _kept_search(g, fac.subset(np.ones(len(fac), bool)), direction) is not None  # a copy's contents match
    assert _kept_search(fresh, fac_fresh, direction) is None
    seconds = _kept_search(g, fac, direction)[3]
    seconds = np.sort(seconds[np.isfinite(seconds) & (seconds > 0)])
    exact = seconds[(seconds / 60.0) * 60.0 == seconds]  # limits whose seconds are a node's own
    assert len(exact) and np.isfinite(r.node_minutes).any()
    for limit in (exact[len(exact) // 3] / 60.0, 2.0, np.inf):
        nearest_facility(g, dem, fac, direction)  # kept again: each edge_piece_times takes it
        got = edge_piece_times(g, fac, direction, limit_min=limit)
        assert _kept_search(g, fac, direction) is None  # handed over, not kept beyond the bands
        want = edge_piece_times(fresh, fac_fresh, direction, limit_min=limit)
        assert got.keys() == want.keys()
        for key in want:
            assert got[key].dtype == want[key].dtype and np.array_equal(got[key], want[key]), key
        assert 0 < np.isfinite(want["t0"]).sum() < len(want["t0"]) or limit == np.inf


def _brute_force_snap(geoms, eligible, pts):
    """Distance from every point to every eligible edge with shapely; min distance per point."""
    cand = np.flatnonzero(eligible)
    d = shapely.distance(shapely.points(pts)[:, None], geoms[cand][None, :])
    return d, cand


@pytest.mark.parametrize("seed,k_first,k_second", [(0, 16, 128), (1, 16, 128), (2, 1, 2)])
def test_snapping_equals_brute_force_nearest_segment(seed, k_first, k_second, monkeypatch):
    import geoaccess.snapping as snapping
    from geoaccess.snapping import snap_points

    # k = 1 then 2 nearest pieces: most points fail the certificate and take the
    # second round and the exact ball-query fallback.
    monkeypatch.setattr(snapping, "_K_FIRST", k_first)
    monkeypatch.setattr(snapping, "_K_SECOND", k_second)

    rng = np.random.default_rng(seed)
    # Random polylines (some long: pieces of <= 100 m), a few zero-length and duplicate-vertex
    # edges, and axis-aligned edges on a grid so that points equidistant from two edges exist.
    lines = []
    for _ in range(120):
        n = rng.integers(2, 6)
        start = rng.uniform(0, 3000, 2)
        lines.append(shapely.LineString(start + np.cumsum(rng.normal(0, 300, (n, 2)), axis=0)))
    lines.append(shapely.LineString([(500, 500), (500, 500)]))
    lines.append(shapely.LineString([(10, 10), (400, 10), (400, 10), (800, 10)]))
    for x in (0.0, 1000.0, 2000.0):
        lines.append(shapely.LineString([(x, -2000), (x, -1000)]))
    lines.append(shapely.LineString([(0, -2000), (2000, -2000)]))
    geoms = np.array(lines, dtype=object)
    eligible = rng.random(len(geoms)) > 0.2
    eligible[-5:] = True
    pts = np.r_[
        rng.uniform(-500, 3500, (400, 2)),  # near and among the roads
        rng.uniform(-1e5, 1e5, (40, 2)),  # far away
        [[500.0, -1500.0], [1500.0, -1500.0], [1000.0, -1500.0], [0.0, -2000.0]],  # exact ties / on a node
        shapely.get_coordinates(geoms[eligible])[:50],  # on vertices
    ]
    s = snap_points(geoms, pts, eligible)
    d, cand = _brute_force_snap(geoms, eligible, pts)
    best = d.min(axis=1)
    np.testing.assert_allclose(s.distance_m, best, rtol=1e-12, atol=1e-7)
    assert eligible[s.edge].all()
    # The chosen edge is (one of) the nearest, and the reported position lies on it at that distance.
    chosen = d[np.arange(len(pts)), np.searchsorted(cand, s.edge)]
    np.testing.assert_allclose(chosen, best, rtol=1e-12, atol=1e-7)
    on_edge = shapely.line_interpolate_point(geoms[s.edge], s.fraction, normalized=True)
    np.testing.assert_allclose(shapely.distance(on_edge, shapely.points(pts)), best, rtol=1e-9, atol=1e-6)
    # Ties pick the lowest edge index among the equally near ones.
    tie = np.flatnonzero((d <= best[:, None] + 1e-9).sum(axis=1) > 1)
    assert len(tie) >= 3
    lowest = np.array([cand[np.flatnonzero(d[i] <= best[i] + 1e-9)].min() for i in tie])
    assert (s.edge[tie] == lowest).all()
    # Same answer through the cached index of a compiled graph's kind (built once, reused).
    from geoaccess.snapping import SegmentIndex

    index = SegmentIndex(geoms, eligible)
    again = snap_points(geoms, pts, eligible, index=index)
    assert (again.edge == s.edge).all() and np.array_equal(again.distance_m, s.distance_m)


def test_one_road_index_seen_through_a_mask_snaps_as_an_index_of_those_roads_alone():
    # Modes share one index per road set (issue 15): a view must answer exactly what an
    # index built on the mode's own edges answers, ties and far points included.
    from geoaccess.snapping import SegmentIndex

    rng = np.random.default_rng(7)
    start = rng.uniform(0, 3000, (400, 2))
    end = start + rng.normal(0, 150, (400, 2))
    geoms = shapely.linestrings(np.stack([start, end], axis=1))
    shared = SegmentIndex(geoms)
    points = np.r_[rng.uniform(-500, 3500, (3000, 2)), [[50_000.0, 50_000.0]], start[:5]]
    for share in (0.9, 0.3, 0.02):
        mask = rng.random(400) < share
        want = SegmentIndex(geoms, mask).query(points)
        got = shared.view(mask).query(points)
        assert mask[got.edge].all()
        np.testing.assert_array_equal(got.edge, want.edge)
        np.testing.assert_allclose(got.fraction, want.fraction, atol=1e-12)
        np.testing.assert_allclose(got.distance_m, want.distance_m, atol=1e-9)
    assert shared.view(None) is shared and shared.view(mask).matches(mask)


@pytest.mark.parametrize("sparse_share", [0.0, 0.5, 1.01])
def test_a_view_of_few_roads_snaps_to_the_brute_force_nearest_of_them(sparse_share, monkeypatch):
    # A mode's road fragments are a few edges of many: the view answers from an index of
    # its own edges (issue 15: 200k homes failed the k-nearest certificate one by one).
    # Through the shared index or its own, the answer is shapely's nearest eligible edge.
    import geoaccess.snapping as snapping
    from geoaccess.snapping import SegmentIndex

    monkeypatch.setattr(snapping, "_SPARSE_SHARE", sparse_share)
    rng = np.random.default_rng(11)
    start = rng.uniform(0, 5000, (600, 2))
    geoms = shapely.linestrings(np.stack([start, start + rng.normal(0, 200, (600, 2))], axis=1))
    mask = np.zeros(600, dtype=bool)
    mask[rng.choice(600, 6, replace=False)] = True
    pts = rng.uniform(-1000, 6000, (2000, 2))
    view = SegmentIndex(geoms).view(mask)
    assert view.sparse == (sparse_share > 0.01)
    got = view.query(pts)
    d, cand = _brute_force_snap(geoms, mask, pts)
    best = d.min(axis=1)
    np.testing.assert_allclose(got.distance_m, best, rtol=1e-12, atol=1e-7)
    np.testing.assert_array_equal(got.edge, cand[d.argmin(axis=1)])
    on_edge = shapely.line_interpolate_point(geoms[got.edge], got.fraction, normalized=True)
    np.testing.assert_allclose(shapely.distance(on_edge, shapely.points(pts)), best, atol=1e-6)


def test_modes_with_private_roads_snap_through_the_one_index_of_the_roads(monaco):
    # Monaco's drive roads include destination-only ones, laid twice in the drive graph:
    # the graph snaps through the index of the roads it was compiled from (one for every
    # mode, issue 15), and lands where an index of its own eligible edges lands.
    from geoaccess.snapping import SegmentIndex, road_index

    walk, drive = compile_mode(monaco, "walk"), compile_mode(monaco, "drive")
    assert drive.network.n_edges > monaco.n_edges  # the copies and links
    assert walk.water_index() is drive.water_index() is not None  # Monaco's sea and harbour: one index
    shared = road_index(monaco)
    rng = np.random.default_rng(3)
    lo, hi = monaco.node_xy.min(axis=0), monaco.node_xy.max(axis=0)
    pts = rng.uniform(lo - 100, hi + 100, (3000, 2))
    for g in (walk, drive):
        index = g.snap_index()
        assert index is shared or index.base is shared
        got = index.query(pts)
        want = SegmentIndex(g.network.edges.geometry.to_numpy(), g.eligible).query(pts)
        np.testing.assert_array_equal(got.edge, want.edge)
        np.testing.assert_allclose(got.fraction, want.fraction, atol=1e-9)
        np.testing.assert_allclose(got.distance_m, want.distance_m, atol=1e-9)
        assert g.eligible[got.edge].all()


def test_views_snapped_together_land_where_each_alone_lands_and_on_the_brute_force_nearest(monkeypatch):
    # Issue 15: walk and drive on the same roads share one nearest-piece search. Small
    # k makes many points take the wider searches; one view of few roads has its own index.
    import geoaccess.snapping as snapping
    from geoaccess.snapping import SegmentIndex, query_views

    monkeypatch.setattr(snapping, "_K_FIRST", 2)
    monkeypatch.setattr(snapping, "_K_SECOND", 4)
    rng = np.random.default_rng(5)
    start = rng.uniform(0, 4000, (500, 2))
    geoms = shapely.linestrings(np.stack([start, start + rng.normal(0, 200, (500, 2))], axis=1))
    grid = [shapely.LineString([(x, -3000), (x, -2000)]) for x in (0.0, 1000.0)]  # equidistant ties
    geoms = np.r_[geoms, np.array(grid, dtype=object)]
    index = SegmentIndex(geoms)
    masks = [rng.random(len(geoms)) < 0.95, rng.random(len(geoms)) < 0.7, np.zeros(len(geoms), bool)]
    masks[2][:4] = True
    for m in masks:
        m[-2:] = True
    pts = np.r_[rng.uniform(-500, 4500, (1500, 2)), [[500.0, -2500.0]]]
    views = [index.view(m) for m in masks] + [index]
    together = query_views(views, pts)
    for view, mask, got in zip(views, masks + [np.ones(len(geoms), bool)], together):
        alone = view.query(pts)
        np.testing.assert_array_equal(got.edge, alone.edge)
        np.testing.assert_array_equal(got.fraction, alone.fraction)
        np.testing.assert_array_equal(got.distance_m, alone.distance_m)
        d, cand = _brute_force_snap(geoms, mask, pts)
        np.testing.assert_allclose(got.distance_m, d.min(axis=1), rtol=1e-12, atol=1e-7)
        np.testing.assert_array_equal(got.edge, cand[d.argmin(axis=1)])  # ties: the lowest edge
    assert together[0].edge[-1] == len(geoms) - 2


def test_a_run_snapping_its_modes_together_places_demand_as_mode_by_mode(monaco):
    from geoaccess.pipeline import _Engine

    rng = np.random.default_rng(8)
    lo, hi = monaco.node_xy.min(axis=0), monaco.node_xy.max(axis=0)
    demand, facilities = rng.uniform(lo, hi, (4000, 2)), rng.uniform(lo, hi, (5, 2))
    speeds = load_speeds()
    alone = _Engine(monaco, speeds, None, demand, facilities, 0.5)
    together = _Engine(monaco, speeds, None, demand, facilities, 0.5, demand_modes=("walk", "drive", "ambulance"))
    for mode in ("drive", "walk", "ambulance"):
        a, b = alone.demand(mode), together.demand(mode)
        for field in ("edge", "fraction", "distance_m", "access_s", "on_network"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert together._nearest == {}


def _grid_and_wiggles(rng):
    """A 100 m street grid and 60 wiggly roads (2 km square), 3,203 points (some on corners and
    mid-block), and a mask keeping ~70 % of the roads: ties and near-ties for snapping."""
    lines = [shapely.LineString([(x, 0), (x, 2000)]) for x in range(0, 2001, 100)]
    lines += [shapely.LineString([(0, y), (2000, y)]) for y in range(0, 2001, 100)]
    lines += [shapely.LineString(rng.uniform(0, 2000, 2) + np.cumsum(rng.normal(0, 200, (4, 2)), axis=0))
              for _ in range(60)]
    geoms = np.array(lines, dtype=object)
    pts = np.r_[rng.uniform(-100, 2100, (3000, 2)), [[50.0, 50.0], [150.0, 250.0], [1000.0, 1000.0]],
                np.column_stack([rng.integers(0, 20, 200) * 100 + 50, rng.integers(0, 20, 200) * 100 + 50])]
    return geoms, pts, rng.random(len(geoms)) > 0.3


def test_snapping_does_not_depend_on_the_kd_tree_shape():
    """The road index's unbalanced, uncompacted cKDTree (faster to build and query) gives the
    same answers, to the bit, as scipy's default balanced tree over the same piece centres,
    ties included (a grid of streets with points equidistant from several)."""
    from scipy.spatial import cKDTree

    from geoaccess.snapping import SegmentIndex

    rng = np.random.default_rng(3)
    geoms, pts, mask = _grid_and_wiggles(rng)
    fast = SegmentIndex(geoms)
    balanced = SegmentIndex(geoms)
    balanced.tree = cKDTree(fast.tree.data)  # scipy's defaults: balanced_tree=True, compact_nodes=True
    assert fast.tree.data.tobytes() == balanced.tree.data.tobytes()
    for m in (None, mask):
        a, b = fast.query(pts, mask=m), balanced.query(pts, mask=m)
        for field in ("edge", "fraction", "distance_m"):
            assert np.array_equal(getattr(a, field), getattr(b, field)), field


@pytest.mark.parametrize("workers", [1, 2, 3, -1])
def test_snapping_chunks_on_threads_answer_as_one_thread_and_brute_force(workers, monkeypatch):
    """The first search runs its chunks of points on ``workers`` threads: every answer equals
    the one-thread answer to the bit (ties on a street grid included), and the distance is
    shapely's to the nearest road."""
    import geoaccess.snapping as snapping
    from geoaccess.snapping import SegmentIndex

    monkeypatch.setattr(snapping, "_CHUNK", 256)  # 3,203 points: 13 chunks
    rng = np.random.default_rng(5)
    geoms, pts, mask = _grid_and_wiggles(rng)
    index = SegmentIndex(geoms)
    for m in (None, mask):
        one, many = index.query(pts, workers=1, mask=m), index.query(pts, workers=workers, mask=m)
        for field in ("edge", "fraction", "distance_m"):
            assert np.array_equal(getattr(one, field), getattr(many, field)), field
        d, _ = _brute_force_snap(geoms, np.ones(len(geoms), bool) if m is None else m, pts)
        np.testing.assert_allclose(many.distance_m, d.min(axis=1), rtol=1e-12, atol=1e-7)


def test_parallel_arcs_reduce_to_the_fastest_sorted_by_tail_and_head():
    # _dedup against pandas: the least seconds per (tail, head) of the open arcs, in (tail, head) order.
    from geoaccess.modegraph import _dedup

    rng = np.random.default_rng(7)
    tails, heads = rng.integers(0, 300, 5000), rng.integers(0, 300, 5000)
    seconds = rng.uniform(0, 20, 5000).round(1)
    seconds[rng.random(5000) < 0.1] = np.inf
    want = (pd.DataFrame({"t": tails, "h": heads, "s": seconds})[np.isfinite(seconds)]
            .groupby(["t", "h"], sort=True)["s"].min().reset_index())
    t, h, s = _dedup(tails, heads, seconds)
    assert np.array_equal(t, want["t"]) and np.array_equal(h, want["h"]) and np.array_equal(s, want["s"])
    # no arc open (every direction closed) and no arc at all: nothing kept, no IndexError
    for t0, h0 in ((np.array([1, 2]), np.array([2, 1])), (np.zeros(0, np.int64), np.zeros(0, np.int64))):
        assert [len(a) for a in _dedup(t0, h0, np.full(len(t0), np.inf))] == [0, 0, 0]


def test_each_modes_base_arcs_from_the_networks_one_sort_equal_a_groupby_min(monaco):
    # base_arcs reuses one (tail, head) sort of the network's arcs for every mode: each mode's
    # arcs must still be its own open arcs, the fastest of parallel ones, in (tail, head) order.
    from geoaccess.grids import kept

    graphs = [compile_mode(monaco, mode) for mode in ("walk", "drive", "ambulance")]
    assert len({len(g.road_arcs()[0]) for g in graphs}) > 1  # the modes close different directions
    for g in graphs:
        tails, heads, seconds = g.road_arcs()
        want = (pd.DataFrame({"t": tails, "h": heads, "s": seconds})
                .groupby(["t", "h"], sort=True)["s"].min().reset_index())
        assert len(want) < len(tails)  # Monaco has parallel arcs: the reduction is exercised
        t, h, s = g.base_arcs()
        assert np.array_equal(t, want["t"]) and np.array_equal(h, want["h"]) and np.array_equal(s, want["s"])
    for g in graphs:  # kept per network routed on (a mode laying private roads twice has its own)
        shared = kept(g.network, ("arcs by tail, head",), lambda: pytest.fail("the sort was not kept per network"))
        assert len(shared) == 2 * g.network.n_edges


def test_query_views_refuses_points_with_nan_or_infinite_coordinates():
    from geoaccess.errors import InputError
    from geoaccess.snapping import SegmentIndex, query_views

    geoms, pts, mask = _grid_and_wiggles(np.random.default_rng(8))
    index = SegmentIndex(geoms)
    pts[[4, 17]] = [np.nan, 5.0], [np.inf, np.inf]
    with pytest.raises(InputError, match=r"2 point\(s\) have NaN or infinite coordinates \(rows \[4, 17\]\)"):
        query_views([index, index.view(mask)], pts)
