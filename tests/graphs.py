"""Hand-made road networks whose travel times are known, shared by the engine and isochrone tests."""

import networkx as nx
import shapely

from geoaccess.network import network_from_graph

# The hand-made graphs' CRS, also their analysis CRS: a transverse Mercator of scale 1 whose
# meridian and origin lie at the graphs (112.51°E on the equator, where EPSG:32650's (0, 0) is).
# Road lengths are geodesic, so a map's metres must be the ellipsoid's for the hand-computed
# times to hold: here they agree to ~1e-8 over the graphs' few km (UTM's easting 0 made them
# 0.27 % longer); tests/test_graphs.py checks every fixture edge against pyproj's Geod.
FLAT = "+proj=tmerc +lat_0=0 +lon_0=112.5112561156128 +k=1 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"


def make_graph(nodes, edges):
    """nodes: {id: (x, y)} metres in :data:`FLAT`; edges: [(u, v, highway, oneway)] — two-way edges get both arcs."""
    g = nx.MultiDiGraph(crs=FLAT)
    for n, (x, y) in nodes.items():
        g.add_node(n, x=float(x), y=float(y))
    for u, v, highway, oneway in edges:
        geom = shapely.LineString([nodes[u], nodes[v]])
        g.add_edge(u, v, highway=highway, oneway=oneway, geometry=geom)
        if not oneway:
            g.add_edge(v, u, highway=highway, oneway=False, geometry=shapely.reverse(geom))
    return network_from_graph(g, crs=FLAT)


def line_network():
    # A(0,0) — B(1000,0) — C(2000,0), residential, plus an island D—E far away.
    return make_graph(
        {"A": (0, 0), "B": (1000, 0), "C": (2000, 0), "D": (0, 50_000), "E": (1000, 50_000)},
        [("A", "B", "residential", False), ("B", "C", "residential", False), ("D", "E", "residential", False)],
    )


def one_way_square():
    # A(0,0) -> B(1000,0) one-way; B-C-D-A two-way detour around a 1 km square.
    return make_graph(
        {"A": (0, 0), "B": (1000, 0), "C": (1000, 1000), "D": (0, 1000)},
        [("A", "B", "residential", True), ("B", "C", "residential", False),
         ("C", "D", "residential", False), ("D", "A", "residential", False)],
    )
