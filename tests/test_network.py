"""Road network loaders (PBF, OSM XML, GraphML, roads files, online queries) and speeds."""

from pathlib import Path
from unittest import mock

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import pytest
import shapely

from geoaccess.errors import InputError
from geoaccess.network import (
    edge_seconds,
    graph_from_file,
    graph_from_lines,
    graph_from_place,
    load_speeds,
    network_from_file,
    network_from_graph,
    parse_maxspeed,
)
from geoaccess.synthetic import generate_county

from graphs import FLAT

MONACO = Path(__file__).resolve().parents[1] / "data" / "demo" / "monaco.osm.pbf"


def test_monaco_pbf_keeps_one_way_streets_and_every_road():
    net = network_from_file(MONACO)
    assert net.crs.to_epsg() == 32632  # UTM zone of Monaco
    # Independent reading with pyrosm (its own PBF parser and highway filter), lengths on
    # the WGS84 ellipsoid with pyproj: per class, the km we keep are pyrosm's segments less
    # the ways tagged access=no without foot=yes (closed to every mode: 10 segments of
    # service and steps; the bus lane tagged access=no + foot=yes stays, for walkers).
    from pyproj import Geod
    from pyrosm import OSM

    _, edges = OSM(str(MONACO)).get_network(network_type="all", nodes=True)
    geod = Geod(ellps="WGS84")
    km = np.array([geod.geometry_length(g) for g in edges.geometry]) / 1000
    open_ = (edges["access"].astype(str).to_numpy() != "no") | (edges["foot"].astype(str).to_numpy() == "yes")
    want = pd.Series(km[open_]).groupby(edges["highway"].to_numpy()[open_]).sum()
    got = net.edges.groupby("highway")["length_m"].sum() / 1000
    assert sorted(got.index) == sorted(want.index)
    np.testing.assert_allclose(got[want.index].to_numpy(), want.to_numpy(), rtol=1e-6)
    # One-way km: tagged yes/-1, or implied by junction=roundabout; walkers ignore it.
    ow = edges["oneway"].astype(str).str.lower().isin(["yes", "-1"]).to_numpy().copy()
    ow |= edges["junction"].astype(str).isin(["roundabout", "circular"]).to_numpy() & ~edges["oneway"].astype(
        str).str.lower().isin(["no"]).to_numpy()
    assert net.edges.loc[net.edges["oneway"], "length_m"].sum() / 1000 == pytest.approx(km[ow & open_].sum(), rel=1e-6)


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    return generate_county(tmp_path_factory.mktemp("c"), seed=5, area_km2=50, n_nodes=2500)


def test_osm_xml_graphml_and_gpkg_give_the_same_network(county, tmp_path):
    from_xml = network_from_file(county.roads_osm)
    ox.save_graphml(graph_from_file(county.roads_osm), tmp_path / "roads.graphml")
    from_graphml = network_from_file(tmp_path / "roads.graphml")
    from_gpkg = network_from_file(county.roads_gpkg)
    total = from_xml.edges["length_m"].sum()
    assert from_graphml.edges["length_m"].sum() == pytest.approx(total, rel=1e-9)
    assert from_gpkg.edges["length_m"].sum() == pytest.approx(total, rel=1e-6)
    assert from_gpkg.edges["oneway"].sum() == from_xml.edges["oneway"].sum() > 0
    # Travel time of the whole network by car agrees between the XML and GPKG readings.
    drive = load_speeds()["drive"]
    fx, _ = edge_seconds(from_xml, drive)
    fg, _ = edge_seconds(from_gpkg, drive)
    assert fg[np.isfinite(fg)].sum() == pytest.approx(fx[np.isfinite(fx)].sum(), rel=1e-6)


def test_roads_file_is_noded_at_shared_vertices_only():
    # A cross of two lines sharing the middle vertex, and a bridge crossing without one.
    lines = gpd.GeoDataFrame(
        {"highway": ["primary", "residential", "trunk"], "oneway": ["no", "yes", None]},
        geometry=[shapely.LineString([(0, 0), (100, 0), (200, 0)]),
                  shapely.LineString([(100, -100), (100, 0), (100, 100)]),
                  shapely.LineString([(50, -50), (50, 50)])],
        crs="EPSG:32650",
    )
    g = graph_from_lines(lines)
    # Nodes: 4 arm ends + the shared centre + 2 bridge ends; the bridge crosses the
    # primary road at (50, 0) without a junction.
    assert g.number_of_nodes() == 7
    und = nx.Graph(g)
    assert nx.number_connected_components(und) == 2
    # primary split into two two-way edges (4 arcs), residential one-way split (2 arcs), trunk two-way (2).
    assert g.number_of_edges() == 8
    net = network_from_graph(g, crs="EPSG:32650")
    assert net.n_edges == 5 and net.edges["oneway"].sum() == 2


def test_roads_file_edges_are_the_projected_vertices_in_travel_order():
    # Lon/lat lines: each edge's line is its vertices projected one by one with pyproj (the
    # analysis CRS given), drawn in the direction of travel; the line tagged oneway=-1 runs
    # from its last vertex to its first. Edge lengths are geodesic (pyproj Geod).
    from pyproj import Geod, Transformer

    from geoaccess.network import network_from_lines

    a = [(116.0, 30.0), (116.001, 30.0005), (116.002, 30.0)]
    b = [(116.001, 29.999), (116.001, 30.0005), (116.0015, 30.002), (116.001, 30.003)]
    lines = gpd.GeoDataFrame({"highway": ["primary", "residential"], "oneway": ["no", "-1"]},
                             geometry=[shapely.LineString(a), shapely.LineString(b)], crs="EPSG:4326")
    net = network_from_lines(lines, crs="EPSG:32650")
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True)
    pieces = {"primary": [a[:2], a[1:]], "residential": [b[1::-1], b[:0:-1]]}  # split at the shared vertex
    e = net.edges
    assert len(e) == 4 and e["oneway"].tolist() == [False, False, True, True]
    for i, want in enumerate(pieces["primary"] + pieces["residential"]):
        lon, lat = np.array(want).T
        assert e["highway"][i] == ("primary" if i < 2 else "residential")
        assert np.array_equal(shapely.get_coordinates(e.geometry[i]), np.column_stack(to_utm.transform(lon, lat)))
        assert e["length_m"][i] == pytest.approx(Geod(ellps="WGS84").line_length(lon, lat), rel=1e-12)
        x0, y0 = net.node_xy[e["u"][i]]
        assert (x0, y0) == tuple(shapely.get_coordinates(e.geometry[i])[0])


def test_roads_file_errors():
    with pytest.raises(InputError, match="no CRS"):
        graph_from_lines(gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (1, 1)])]))
    with pytest.raises(InputError, match="must hold lines"):
        graph_from_lines(gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)], crs="EPSG:4326"))


def test_missing_empty_and_unknown_files(tmp_path):
    with pytest.raises(InputError, match="road network not found"):
        network_from_file(tmp_path / "nope.osm.pbf")
    (tmp_path / "roads.txt").write_text("x")
    with pytest.raises(InputError, match="unknown file type: roads.txt"):
        network_from_file(tmp_path / "roads.txt")
    (tmp_path / "empty.osm").write_text("")
    with pytest.raises(InputError, match="empty"):
        network_from_file(tmp_path / "empty.osm")
    (tmp_path / "broken.osm").write_text("<osm><node id='1'")
    with pytest.raises(InputError, match="could not read road network broken.osm"):
        network_from_file(tmp_path / "broken.osm")


def test_geographic_analysis_crs_is_refused_and_degrees_are_projected():
    g = nx.MultiDiGraph(crs="EPSG:4326")
    g.add_node(1, x=117.0, y=33.0)
    g.add_node(2, x=117.01, y=33.0)
    g.add_edge(1, 2, highway="residential")
    with pytest.raises(InputError, match="must be projected"):
        network_from_graph(g, crs="EPSG:4326")
    net = network_from_graph(g)
    assert net.crs.to_epsg() == 32650
    # 0.01 degree of longitude at 33°N is about 933 m.
    assert net.edges["length_m"].iloc[0] == pytest.approx(933.6, rel=2e-3)


def test_online_place_query_is_passed_to_osmnx():
    fake = nx.MultiDiGraph(crs="EPSG:4326")
    with mock.patch("osmnx.graph_from_place", return_value=fake) as download:
        assert graph_from_place("泗县, 宿州市, 安徽省") is fake
    download.assert_called_once_with("泗县, 宿州市, 安徽省", network_type="all", retain_all=True)
    with mock.patch("osmnx.graph_from_place", side_effect=ConnectionError("no route to host")):
        with pytest.raises(InputError, match="Offline"):
            graph_from_place("泗县")


def test_maxspeed_parsing_and_speeds():
    assert parse_maxspeed("50") == 50
    assert parse_maxspeed("30 mph") == pytest.approx(48.28, rel=1e-3)
    assert parse_maxspeed("40;60") == 50
    assert parse_maxspeed(["50", "70"]) == 60
    assert np.isnan(parse_maxspeed("signals")) and np.isnan(parse_maxspeed(None))
    speeds = load_speeds({"drive": {"kmh": {"primary": 70}, "access_kmh": 10}})
    assert speeds["drive"].kmh["primary"] == 70 and speeds["drive"].access_kmh == 10
    assert speeds["drive"].kmh["secondary"] == 50  # untouched classes keep their defaults
    with pytest.raises(InputError, match="unknown speed setting drive.fast"):
        load_speeds({"drive": {"fast": 1}})
    with pytest.raises(InputError, match="walk.kmh.footway"):
        load_speeds({"walk": {"kmh": {"footway": -1}}})


def test_maxspeed_tag_overrides_the_class_speed_for_cars_only():
    g = nx.MultiDiGraph(crs=FLAT)  # map metres = geodesic metres (tests/graphs.py)
    g.add_node(1, x=0.0, y=0.0)
    g.add_node(2, x=1000.0, y=0.0)
    g.add_edge(1, 2, highway="primary", maxspeed="30")
    g.add_edge(2, 1, highway="primary", maxspeed="30")
    net = network_from_graph(g, crs=FLAT)
    speeds = load_speeds()
    drive_s, _ = edge_seconds(net, speeds["drive"])
    walk_s, _ = edge_seconds(net, speeds["walk"])
    assert drive_s[0] == pytest.approx(1000 / (30 * 0.85 / 3.6))  # maxspeed × primary congestion
    assert walk_s[0] == pytest.approx(720.0)


def test_roads_geopackage_read_with_arrow_is_the_plain_read(tmp_path):
    # The Arrow reader (roads GeoPackages) gives the frame the plain GDAL reader gives:
    # Chinese text, missing text, whole numbers with gaps, decimals.
    from geoaccess.io import read_vector

    lines = gpd.GeoDataFrame(
        {"等级": ["县道", None, "乡道"], "oneway": ["是", "否", None], "lanes": [2, None, 1],
         "maxspeed": [40.5, np.nan, 30.0], "osm_id": [1, 2, 3]},
        geometry=[shapely.LineString([(116, 30), (116.01, 30)]), shapely.LineString([(116, 30), (116, 30.01)]),
                  shapely.LineString([(116.01, 30), (116.01, 30.01)])], crs="EPSG:4326")
    lines.to_file(tmp_path / "roads.gpkg")
    plain = gpd.read_file(tmp_path / "roads.gpkg")
    pd.testing.assert_frame_equal(read_vector(tmp_path / "roads.gpkg", use_arrow=True), plain)
    pd.testing.assert_frame_equal(read_vector(tmp_path / "roads.gpkg"), plain)


def test_geodesic_steps_in_two_threads_are_pyprojs(monkeypatch):
    # Above 50,000 steps the geodesic lengths are computed in two halves on two threads;
    # each equals pyproj's own Geod.inv of the whole, to the bit, and so does the one-thread budget.
    from pyproj import CRS, Geod

    from geoaccess.roadnet import _step_lengths

    rng = np.random.default_rng(3)
    a = np.column_stack([rng.uniform(73, 135, 60_001), rng.uniform(18, 53, 60_001)])
    b = a + rng.normal(0, 0.01, a.shape)
    want = Geod(ellps="WGS84").inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])[2]
    assert np.array_equal(_step_lengths(a, b, CRS("EPSG:4326")), want)
    monkeypatch.setenv("GEOACCESS_KDTREE_WORKERS", "1")
    assert np.array_equal(_step_lengths(a, b, CRS("EPSG:4326")), want)


def test_road_vertices_projected_in_two_threads_are_pyprojs(monkeypatch):
    # Above 50,000 vertices the projection runs in two halves on two threads; the result equals
    # pyproj's transform of the whole array to the bit, and so does the one-thread budget.
    from pyproj import Transformer

    from geoaccess.roadnet import _project

    rng = np.random.default_rng(4)
    coords = np.column_stack([rng.uniform(114, 120, 60_001), rng.uniform(30, 36, 60_001)])
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True)
    want = np.column_stack(Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True).transform(*coords.T))
    assert _project(to_utm, coords).tobytes() == want.tobytes()
    monkeypatch.setenv("GEOACCESS_KDTREE_WORKERS", "1")
    assert _project(to_utm, coords).tobytes() == want.tobytes()
    assert _project(to_utm, coords[:10]).tobytes() == want[:10].tobytes()


def test_a_geopackage_of_several_layers_needs_its_layer_named(tmp_path):
    # the first layer was read silently (with pyogrio's warning on stderr); now the layers are
    # named and the fix given, and [network] layer picks one (refused for OSM files)
    from geoaccess.errors import InputError
    from geoaccess.network import network_from_file

    roads = gpd.GeoDataFrame({"highway": ["primary", "residential"]},
                             geometry=[shapely.LineString([(106.70, 26.50), (106.72, 26.50)]),
                                       shapely.LineString([(106.71, 26.49), (106.71, 26.51)])], crs="EPSG:4326")
    path = tmp_path / "two.gpkg"
    roads.iloc[:1].to_file(path, layer="aaa_track_only", driver="GPKG")  # listed first by GDAL
    roads.to_file(path, layer="roads", driver="GPKG")
    with pytest.raises(InputError, match=r"two.gpkg holds 2 layers \('aaa_track_only', 'roads'\): name the one to "
                                         r"read with layer = \"...\" in its section"):
        network_from_file(path)
    net = network_from_file(path, layer="roads")
    assert len(net.edges) == 2 and sorted(net.edges["highway"].unique()) == ["primary", "residential"]
    with pytest.raises(InputError, match=r"\[network\] layer applies to roads files"):
        network_from_file(Path(__file__).resolve().parents[1] / "data" / "demo" / "monaco.osm.pbf", layer="roads")


def test_geopackage_text_that_is_neither_utf8_nor_gbk_is_named_with_the_fix(tmp_path):
    import sqlite3

    from geoaccess.errors import InputError
    from geoaccess.network import network_from_file

    path = tmp_path / "bad_text.gpkg"
    gpd.GeoDataFrame({"highway": ["primary"]}, geometry=[shapely.LineString([(106.7, 26.5), (106.72, 26.5)])],
                     crs="EPSG:4326").to_file(path, layer="roads", driver="GPKG")
    with sqlite3.connect(path) as db:  # bytes no decoder reads: a GeoPackage's text must be UTF-8
        for fn in ("ST_IsEmpty", "ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY"):  # the R-tree triggers' (unchanged)
            db.create_function(fn, 1, lambda g: 0)
        db.execute("UPDATE roads SET highway = CAST(X'FFFE81' AS TEXT)")
    with pytest.raises(InputError, match=r"bad_text.gpkg: its text is neither UTF-8 nor GBK .*save it again with "
                                         r"UTF-8 text"):
        network_from_file(path)
