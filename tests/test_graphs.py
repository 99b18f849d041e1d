"""The hand-made test graphs (tests/graphs.py) lie where a map metre is a geodesic metre: their
hand-computed times take each road's length as drawn, while the network measures it on the
WGS84 ellipsoid."""

import numpy as np
import shapely
from pyproj import Geod, Transformer

from graphs import FLAT, line_network, make_graph, one_way_square

GEOD = Geod(ellps="WGS84")
TO_LONLAT = Transformer.from_crs(FLAT, "EPSG:4326", always_xy=True)


def _geodesic(line):
    """The line's length on the ellipsoid along its vertices in lon/lat (pyproj Geod)."""
    return GEOD.line_length(*TO_LONLAT.transform(*np.asarray(line.coords).T))


def test_every_fixture_edge_is_as_long_on_the_ellipsoid_as_on_the_map():
    for net in (line_network(), one_way_square()):
        assert net.crs.equals(FLAT)
        geoms = net.edges.geometry.to_numpy()
        planar = shapely.length(geoms)
        np.testing.assert_allclose([_geodesic(g) for g in geoms], planar, rtol=1e-6)
        np.testing.assert_allclose(net.edges["length_m"], planar, rtol=1e-6)  # what the times are built on
        np.testing.assert_allclose(planar, 1000.0, rtol=1e-12)  # every fixture edge is drawn 1 km long


def test_any_road_drawn_where_the_tests_draw_is_as_long_on_the_ellipsoid():
    # the tests' graphs span x in [-1, 4] km, y in [-1, 50] km (grids, zigzags, a river, an island
    # 50 km north): roads of 100 m to 2 km in every direction anywhere in a wider box
    rng = np.random.default_rng(0)
    start = np.column_stack([rng.uniform(-5_000, 5_000, 2_000), rng.uniform(-2_000, 52_000, 2_000)])
    angle, length = rng.uniform(0, 2 * np.pi, 2_000), rng.uniform(100, 2_000, 2_000)
    end = start + np.column_stack([np.cos(angle), np.sin(angle)]) * length[:, None]
    a, b = np.column_stack(TO_LONLAT.transform(*start.T)), np.column_stack(TO_LONLAT.transform(*end.T))
    geodesic = GEOD.inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])[2]
    np.testing.assert_allclose(geodesic, length, rtol=1e-6)
    # and through the network reader: a zigzag of the isochrone tests, 400 m east and 600 m north per leg
    pts = {i: (i * 400.0, 0.0 if i % 2 == 0 else 600.0) for i in range(7)}
    net = make_graph(pts, [(i, i + 1, "residential", False) for i in range(6)])
    np.testing.assert_allclose(net.edges["length_m"], np.hypot(400, 600), rtol=1e-6)
