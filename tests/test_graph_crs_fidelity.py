"""A road GRAPH's answer does not depend on its CRS either: the same osmnx-style graph in lon/lat,
a UTM zone, a CGCS2000 Gauss-Krüger zone and Web Mercator — handed in (``[network] place`` /
``bbox``, ``network_from_graph``) or saved as GraphML — gives the same verdicts, shares and
minutes, as the same roads file does in any CRS (tests/test_crs_fidelity.py)."""

from unittest import mock

import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import pytest
import shapely
from pyproj import Geod, Transformer

import geoaccess as ga
from geoaccess.errors import InputError
from geoaccess.network import network_from_file, network_from_graph, osmnx_settings
from geoaccess.synthetic import generate_county

from county_people import people_points

# The county's UTM zone, CGCS2000 / 3° GK CM 114E (3.9° from the county: planar metres 0.23 % long
# there), Web Mercator (scale 1.2 at 33.5°N).
PROJECTED = ("EPSG:32650", "EPSG:4547", "EPSG:3857")
TARGETS = ["medical_point_15min", "health_circle_30min", "ems_120"]
SCENARIO = """[scenario]
name = "graph-{tag}"
[network]
{network}
[facilities]
path = "facilities.csv"
x = "lon"
y = "lat"
type = "type"
name = "name"
capacity = "beds"
[population]
path = "population.gpkg"
pop = "pop"
[targets]
use = ["medical_point_15min", "health_circle_30min", "ems_120"]
"""


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    """A small synthetic county in Anhui (117.87°E, 33.48°N): its roads as an osmnx-style lon/lat
    graph, facilities and people (points at the raster's cell centres) in one folder."""
    folder = tmp_path_factory.mktemp("county")
    generate_county(folder, seed=4, area_km2=40, n_nodes=2500, write_osm=False)
    people_points(folder).to_file(folder / "population.gpkg", layer="people")
    return {"folder": folder, "graph": network_from_file(folder / "roads.gpkg").to_networkx()}


def _scenario(folder, tag, network):
    path = folder / f"scenario_{tag}.toml"
    path.write_text(SCENARIO.format(tag=tag, network=network), encoding="utf-8")
    return path


def _graphml(county, crs):
    """The county's graph projected by osmnx to ``crs`` (lon/lat: as it is), saved as GraphML."""
    graph = county["graph"] if crs == "EPSG:4326" else ox.project_graph(county["graph"], to_crs=crs)
    path = county["folder"] / f"roads_{crs.replace(':', '')}.graphml"
    ox.save_graphml(graph, path)
    return _scenario(county["folder"], f"file-{crs.replace(':', '')}", f'source = "{path.name}"')


def _in_memory(county, crs):
    """A run on the county's graph projected to ``crs``, handed in as an osmnx download is."""
    graph = ox.project_graph(county["graph"], to_crs=crs)
    path = _scenario(county["folder"], f"mem-{crs.replace(':', '')}", 'place = "测试县"')
    with mock.patch("geoaccess.pipeline.graph_from_place", return_value=graph) as download:
        result = ga.run(path)
    download.assert_called_once()
    return result


def _assert_same(a, b):
    """Same network, verdicts, values, people, per-home minutes, nearest facility and urban flag."""
    assert b.network.crs == a.network.crs and b.network.n_edges == a.network.n_edges
    np.testing.assert_allclose(np.sort(b.network.edges["length_m"]), np.sort(a.network.edges["length_m"]), rtol=1e-9)
    sa, sb = a.summary, b.summary
    assert sa["passed"].tolist() == sb["passed"].tolist()
    for col in ("value", "population", "covered", "unreachable", "mean_minutes"):
        np.testing.assert_allclose(sb[col].to_numpy(float), sa[col].to_numpy(float), rtol=1e-6, atol=1e-9)
    assert a.demand["urban"].tolist() == b.demand["urban"].tolist()  # the density grid laid alike
    for t in TARGETS:
        ma, mb = a.demand[f"{t}_min"].to_numpy(float), b.demand[f"{t}_min"].to_numpy(float)
        assert np.array_equal(np.isinf(ma), np.isinf(mb))
        np.testing.assert_allclose(mb[np.isfinite(mb)], ma[np.isfinite(ma)], rtol=1e-6)
        assert a.demand[f"{t}_facility"].tolist() == b.demand[f"{t}_facility"].tolist()


def test_the_same_graph_in_four_crss_in_memory_and_as_graphml_gives_the_same_answer(county):
    ref = ga.run(_graphml(county, "EPSG:4326"))
    assert ref.network.crs.to_epsg() == 32650  # the county's UTM zone
    assert ref.demand["urban"].any() and not ref.demand["urban"].all()  # both sides of the density grid
    assert 0 < ref.summary["covered"].min() and (ref.summary["covered"] < ref.summary["population"]).any()
    for crs in PROJECTED:
        _assert_same(ref, ga.run(_graphml(county, crs)))
        _assert_same(ref, _in_memory(county, crs))


def test_a_projected_graphs_lengths_are_geodesic_and_its_length_attribute_is_not_read(county):
    # each edge's length against pyproj's Geod along the same vertices in lon/lat, computed here
    # (Web Mercator's planar length would be 1.2 times that, the GK zone's 1.0023); the arcs'
    # `length` attribute set to nonsense changes nothing
    geod = Geod(ellps="WGS84")
    for crs in ("EPSG:4326", *PROJECTED):
        graph = county["graph"] if crs == "EPSG:4326" else ox.project_graph(county["graph"], to_crs=crs)
        graph = graph.copy()
        nx.set_edge_attributes(graph, 1.0, "length")
        net = network_from_graph(graph)
        assert net.crs.to_epsg() == 32650
        to_lonlat = Transformer.from_crs(net.crs, "EPSG:4326", always_xy=True)
        geoms = net.edges.geometry.to_numpy()[:300]
        want = [geod.line_length(*to_lonlat.transform(*np.asarray(g.coords).T)) for g in geoms]
        np.testing.assert_allclose(net.edges["length_m"].to_numpy()[:300], want, rtol=1e-9)
        assert net.edges["length_m"].min() > 1.0


def test_dropped_km_are_measured_on_the_line_not_read_from_the_length_attribute():
    # a parking area (area=yes: not a road) 0.01° of latitude long at 33.5°N, in Web Mercator,
    # its `length` attribute wrong: geoaccess check counts the geodesic km of its line
    lon, lat = np.array([117.80, 117.80, 117.81]), np.array([33.48, 33.49, 33.49])
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True).transform(lon, lat)
    g = nx.MultiDiGraph(crs="EPSG:3857")
    for n in range(3):
        g.add_node(n, x=x[n], y=y[n])
    g.add_edge(0, 1, highway="service", area="yes", length=5.0)
    g.add_edge(1, 2, highway="residential", length=5.0)
    net = network_from_graph(g)
    geod = Geod(ellps="WGS84")
    assert net.report["dropped"]["area"]["km"] == pytest.approx(geod.line_length(lon[:2], lat[:2]) / 1000, abs=1e-3)
    assert net.edges["length_m"].iloc[0] == pytest.approx(geod.line_length(lon[1:], lat[1:]), rel=1e-9)


def test_a_given_crs_lays_the_network_but_lengths_stay_geodesic(county):
    utm = network_from_graph(county["graph"])
    for crs in ("EPSG:4326", "EPSG:3857"):
        graph = county["graph"] if crs == "EPSG:4326" else ox.project_graph(county["graph"], to_crs=crs)
        net = network_from_graph(graph, crs="EPSG:4548")
        assert net.crs.to_epsg() == 4548 and net.n_edges == utm.n_edges
        np.testing.assert_allclose(np.sort(net.edges["length_m"]), np.sort(utm.edges["length_m"]), rtol=1e-9)


def test_a_graph_analysed_in_its_own_crs_keeps_its_coordinates(county):
    # no lon/lat round trip: nodes and lines are the graph's own numbers
    graph = ox.project_graph(county["graph"], to_crs="EPSG:32650")
    net = network_from_graph(graph, crs="EPSG:32650")
    xy = np.array([(graph.nodes[n]["x"], graph.nodes[n]["y"]) for n in net.node_ids])
    assert np.array_equal(net.node_xy, xy)
    arcs = {}  # (u, v) -> the arcs' lines (parallel roads: several)
    for a, b, d in graph.edges(data=True):
        arcs.setdefault((a, b), []).append(d["geometry"])
    u, v = net.node_ids[net.edges["u"].to_numpy()], net.node_ids[net.edges["v"].to_numpy()]
    assert all(any(shapely.equals_exact(net.edges.geometry.iloc[i], g, 0) for g in arcs[(u[i], v[i])])
               for i in range(len(u)))


def test_a_graph_whose_crs_cannot_place_its_nodes_is_refused_naming_the_arcs():
    # an 8-digit GK easting (zone number 39 in front) in a "CM 117E" CRS: PROJ gives inf
    g = nx.MultiDiGraph(crs="EPSG:4548")
    g.add_node("a", x=39_500_000.0, y=3_700_000.0)
    g.add_node("b", x=39_501_000.0, y=3_700_000.0)
    g.add_edge("a", "b", highway="residential")
    with pytest.raises(InputError, match=r"1 arcs \(first arcs: a->b; first at x=39500000.00, y=3700000.00\) are no "
                                         r"place on the earth in the graph's CRS .*graph.graph\['crs'\]"):
        network_from_graph(g)


def _monaco_graph(tmp_path):
    """Monaco as osmnx reads it (graph_from_xml on an .osm written from the demo's PBF)."""
    import osmium

    from geoaccess._paths import data_path

    osm = tmp_path / "monaco.osm"
    with osmium.SimpleWriter(str(osm)) as writer:
        for obj in osmium.FileProcessor(str(data_path("demo") / "monaco.osm.pbf")):
            writer.add(obj)
    with osmnx_settings():
        return ox.graph_from_xml(osm, retain_all=True)


def test_monaco_graphml_projected_gives_the_lon_lat_answer(tmp_path):
    # The demo run on osmnx's Monaco graph saved as GraphML in lon/lat and as an analyst saves
    # ox.project_graph(G) (UTM 32N): the same network, verdicts and minutes (before, the projected
    # graph's planar lengths changed every home's minutes)
    from geoaccess._paths import data_path

    graph = _monaco_graph(tmp_path)
    demo = data_path("demo")
    text = (demo / "scenario.toml").read_text(encoding="utf-8")
    for name in ("facilities.csv", "population.tif"):
        text = text.replace(f'"{name}"', f'"{(demo / name).as_posix()}"')
    runs, files = {}, {}
    for crs in ("EPSG:4326", "UTM", "EPSG:4547"):
        g = graph if crs == "EPSG:4326" else ox.project_graph(graph, to_crs=None if crs == "UTM" else crs)
        tag = crs.replace(":", "")
        files[crs] = tmp_path / f"monaco_{tag}.graphml"
        ox.save_graphml(g, files[crs])
        if crs != "EPSG:4547":
            path = tmp_path / f"scenario_{tag}.toml"
            path.write_text(text.replace('"monaco.osm.pbf"', f'"{files[crs].name}"'), encoding="utf-8")
            runs[crs] = ga.run(path)
    ref, got = runs["EPSG:4326"], runs["UTM"]
    assert ref.network.crs.to_epsg() == 32632 and ox.load_graphml(files["UTM"]).graph["crs"] != graph.graph["crs"]
    # osmnx's own lengths (on a sphere) agree with ours: the same roads were read
    osmnx_km = sum(d["length"] for _, _, d in graph.edges(data=True) if not d.get("reversed", False)) / 1000
    assert ref.network.edges["length_m"].sum() / 1000 == pytest.approx(osmnx_km, rel=0.05)
    assert got.network.crs == ref.network.crs and got.network.n_edges == ref.network.n_edges
    # to 1e-9, or a micrometre on the shortest edges (measured after the lon/lat round trip)
    np.testing.assert_allclose(np.sort(got.network.edges["length_m"]), np.sort(ref.network.edges["length_m"]),
                               rtol=1e-9, atol=1e-6)
    assert got.summary["passed"].tolist() == ref.summary["passed"].tolist()
    for col in ("value", "covered", "unreachable", "mean_minutes"):
        np.testing.assert_allclose(got.summary[col].to_numpy(float), ref.summary[col].to_numpy(float),
                                   rtol=1e-6, atol=1e-9)
    for t in ref.summary.index:
        ma, mb = ref.demand[f"{t}_min"].to_numpy(float), got.demand[f"{t}_min"].to_numpy(float)
        assert np.array_equal(np.isinf(ma), np.isinf(mb))
        np.testing.assert_allclose(mb[np.isfinite(mb)], ma[np.isfinite(ma)], rtol=1e-6)
    # CGCS2000 GK CM 114E, 107° from its meridian (planar metres 38 % long there): the same
    # network, node for node to a micrometre (the lon/lat round trip), length for length
    gk = network_from_file(files["EPSG:4547"])
    assert gk.crs == ref.network.crs and gk.n_edges == ref.network.n_edges
    np.testing.assert_allclose(np.sort(gk.edges["length_m"]), np.sort(ref.network.edges["length_m"]),
                               rtol=1e-9, atol=1e-6)
    order = pd.Index(gk.node_ids).get_indexer(ref.network.node_ids)
    assert (order >= 0).all()
    np.testing.assert_allclose(gk.node_xy[order], ref.network.node_xy, rtol=0, atol=1e-6)
