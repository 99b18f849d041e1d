"""Tests for geoaccess.synthetic: a small county (60 km², 3,000 nodes) checked end to end."""

from __future__ import annotations

import csv
import hashlib
import tomllib
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Geod

from geoaccess._paths import data_path
from geoaccess.errors import InputError
from geoaccess.synthetic import SyntheticCounty, generate_county

SMALL = dict(seed=3, area_km2=60.0, n_nodes=3000, n_townships=6)
FILES = ("roads.osm", "roads.gpkg", "facilities.csv", "population.tif", "townships.gpkg", "scenario.toml")


def _digest(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in FILES}


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> SyntheticCounty:
    return generate_county(tmp_path_factory.mktemp("county"), **SMALL)


@pytest.fixture(scope="module")
def graph(county):
    ox = pytest.importorskip("osmnx")
    return ox.graph_from_xml(county.roads_osm, bidirectional=False, simplify=False, retain_all=True)


@pytest.fixture(scope="module")
def roads(county) -> gpd.GeoDataFrame:
    return gpd.read_file(county.roads_gpkg, layer="roads")


@pytest.fixture(scope="module")
def facilities(county) -> list[dict[str, str]]:
    with open(county.facilities_csv, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------- files & determinism

def test_files_and_scenario(county):
    for name in FILES:
        assert (county.directory / name).is_file(), name
    sc = tomllib.loads(county.scenario_toml.read_text(encoding="utf-8"))
    assert sc["scenario"]["name"] == "synthetic-county"
    assert sc["network"]["source"] == "roads.osm"
    assert sc["facilities"] == {"path": "facilities.csv", "x": "lon", "y": "lat", "type": "type", "name": "name",
                                "capacity": "beds", "crs": "EPSG:4326"}
    assert sc["population"]["path"] == "population.tif"
    assert sc["admin"] == {"path": "townships.gpkg", "name": "name", "urban": "urban"}
    assert sc["targets"]["use"] == ["medical_point_15min", "health_circle_30min", "ems_120"]
    for section in ("facilities", "population", "admin"):
        assert (county.directory / sc[section]["path"]).is_file()


def test_same_seed_same_bytes_other_seed_differs(county, tmp_path):
    again = generate_county(tmp_path / "again", **SMALL)
    assert _digest(again.directory) == _digest(county.directory)
    assert again.n_nodes == county.n_nodes and again.population == county.population
    other = generate_county(tmp_path / "other", **{**SMALL, "seed": 4})
    a, b = _digest(county.directory), _digest(other.directory)
    for name in ("roads.osm", "roads.gpkg", "facilities.csv", "population.tif", "townships.gpkg"):
        assert a[name] != b[name], name


def test_without_osm_points_scenario_at_gpkg(tmp_path):
    c = generate_county(tmp_path, seed=1, area_km2=20, n_nodes=1000, write_osm=False)
    assert c.roads_osm is None and not (tmp_path / "roads.osm").exists()
    assert tomllib.loads(c.scenario_toml.read_text(encoding="utf-8"))["network"]["source"] == "roads.gpkg"


# --------------------------------------------------------------------------- road network

def test_osm_xml_header_and_counts(county):
    root = ET.parse(county.roads_osm).getroot()
    assert root.tag == "osm" and root.get("version") == "0.6" and root.get("generator") == "geoaccess.synthetic"
    assert root.find("bounds") is not None
    nodes = root.findall("node")
    assert len(nodes) == county.n_nodes
    assert all(n.get("version") == "1" and n.get("visible") == "true" for n in nodes[:50])
    assert len(nodes[0].get("lat").split(".")[1]) == 7
    ways = root.findall("way")
    assert len(ways) == county.n_ways
    referenced = {nd.get("ref") for w in ways for nd in w.findall("nd")}
    assert referenced == {n.get("id") for n in nodes}  # no orphan nodes, no dangling refs
    assert 0.8 * SMALL["n_nodes"] <= county.n_nodes <= 1.2 * SMALL["n_nodes"]


def test_osmnx_loads_with_expected_classes(county, graph):
    assert graph.number_of_nodes() == county.n_nodes
    assert graph.number_of_edges() == county.n_edges
    classes = Counter(d["highway"] for _, _, d in graph.edges(data=True))
    for hw in ("motorway", "motorway_link", "trunk", "primary", "secondary", "tertiary", "unclassified",
               "track", "residential", "service"):
        assert classes[hw] > 0, hw
    speeds = {d["highway"]: d.get("maxspeed") for _, _, d in graph.edges(data=True) if d.get("maxspeed")}
    assert speeds["motorway"] == "120" and speeds["trunk"] == "80"


def test_one_way_streets_are_single_directed_edges(graph, roads):
    one = [(u, v) for u, v, d in graph.edges(data=True) if d["oneway"]]
    assert one, "no one-way edges"
    assert all(not graph.has_edge(v, u) for u, v in one)
    ow = roads[roads["oneway"] == "yes"]
    assert len(one) == int(sum(len(g.coords) - 1 for g in ow.geometry))
    assert set(ow["highway"]) <= {"residential"}
    # both orientations: some one-way streets run (roughly) east or north, others west or south
    heading = [np.sign(np.subtract(*np.asarray(g.coords)[[-1, 0]]) @ [1.0, 1.0]) for g in ow.geometry]
    assert {1.0, -1.0} <= set(heading)
    two = [(u, v) for u, v, d in graph.edges(data=True) if not d["oneway"]]
    assert all(graph.has_edge(v, u) for u, v in two[:500])


def test_network_is_connected(graph):
    assert nx.number_weakly_connected_components(graph) == 1
    assert nx.number_strongly_connected_components(graph) == 1


def test_expressway_meets_network_only_at_interchanges(county):
    root = ET.parse(county.roads_osm).getroot()
    member: dict[str, set[str]] = {}
    for w in root.iter("way"):
        hw = next(t.get("v") for t in w.iter("tag") if t.get("k") == "highway")
        for nd in w.iter("nd"):
            member.setdefault(nd.get("ref"), set()).add(hw)
    mw_nodes = [ref for ref, classes in member.items() if "motorway" in classes]
    shared = [ref for ref in mw_nodes if member[ref] != {"motorway"}]
    assert all(member[ref] == {"motorway", "motorway_link"} for ref in shared)
    assert 1 <= len(shared) <= 3


def test_local_crossings_are_shared_nodes(roads):
    local = roads[roads["highway"] != "motorway"].to_crs(roads.estimate_utm_crs())
    parts = [np.asarray(g.coords) for g in local.geometry]
    segs = shapely.linestrings(np.concatenate([np.stack([c[:-1], c[1:]], 1) for c in parts]))
    i, j = shapely.STRtree(segs).query(segs, predicate="crosses")
    assert int((i < j).sum()) == 0
    mw = roads[roads["highway"] == "motorway"].to_crs(local.crs).geometry.iloc[0]
    assert int(shapely.crosses(segs, mw).sum()) > 0  # the expressway passes over local roads


def test_gpkg_length_matches_osm(roads, graph):
    assert roads.crs.to_epsg() == 4326
    geod = Geod(ellps="WGS84")
    gpkg_m = sum(geod.geometry_length(g) for g in roads.geometry)
    osm_m = sum(d["length"] * (1.0 if d["oneway"] else 0.5) for _, _, d in graph.edges(data=True))
    assert osm_m == pytest.approx(gpkg_m, rel=2e-3)
    assert set(roads.columns) >= {"osm_id", "highway", "name", "ref", "oneway", "maxspeed", "geometry"}


# --------------------------------------------------------------------------- townships & population

def test_townships_partition_the_county(county):
    t = gpd.read_file(county.townships_gpkg, layer="townships")
    assert t.crs.to_epsg() == 4326
    u = t.to_crs(t.estimate_utm_crs())
    assert u.union_all().area / 1e6 == pytest.approx(SMALL["area_km2"], rel=0.01)
    assert u.area.sum() / 1e6 == pytest.approx(SMALL["area_km2"], rel=0.01)  # no overlaps
    assert t["urban"].any() and (~t["urban"]).any()
    assert len(t) == SMALL["n_townships"] + int(t["urban"].sum())
    assert all(n.endswith("街道") for n in t.loc[t["urban"], "name"])
    assert all(n.endswith(("镇", "乡")) for n in t.loc[~t["urban"], "name"])
    assert t["name"].is_unique and t["code"].is_unique
    assert all(len(c) == 12 and c.isdigit() for c in t["code"])


def test_population_raster(county):
    t = gpd.read_file(county.townships_gpkg, layer="townships")
    with rasterio.open(county.population_tif) as src:
        assert src.crs.to_epsg() == 4326
        assert src.dtypes[0] == "float32" and src.nodata is not None
        a = src.read(1)
        res_x, res_y = src.res
        transform = src.transform
    total = float(a.astype(np.float64).sum())
    assert total == pytest.approx(county.population, rel=1e-9)
    assert 350 <= total / SMALL["area_km2"] <= 500
    # cell ≈ 100 m at this latitude
    lat = np.radians(33.48)
    assert res_x * 111320 * np.cos(lat) == pytest.approx(100, rel=0.01)
    assert res_y * 110950 == pytest.approx(100, rel=0.01)
    assert (a >= 0).all()
    # zero outside the county, clustered inside
    rows, cols = np.nonzero(a > 0)
    xs, ys = rasterio.transform.xy(transform, rows, cols)
    county_poly = t.union_all().buffer(res_x)
    assert shapely.contains_xy(county_poly, np.asarray(xs), np.asarray(ys)).all()
    assert a[0].sum() == 0 and a[-1].sum() == 0
    pos = a[a > 0]
    assert pos.max() > 20 * np.median(pos)
    top = np.sort(pos)[::-1]
    assert top[: len(top) // 10].sum() > 0.4 * total  # a tenth of cells hold > 40% of people


# --------------------------------------------------------------------------- facilities

def test_facility_table(county, facilities):
    assert list(facilities[0].keys()) == ["lon", "lat", "type", "name", "beds", "doctors", "nurses"]
    vocab = set(tomllib.loads(data_path("facility_types.toml").read_text(encoding="utf-8")))
    counts = Counter(r["type"] for r in facilities)
    assert set(counts) <= vocab
    assert dict(counts) == dict(county.facility_counts)
    n_t = SMALL["n_townships"]
    t = gpd.read_file(county.townships_gpkg, layer="townships")
    assert 1 <= counts["county_hospital"] <= 2
    assert 2 <= counts["sub_centre"] <= 4
    assert counts["township_health_centre"] == n_t
    assert counts["community_health_centre"] == int(t["urban"].sum())
    assert 0.5 * county.n_villages <= counts["village_clinic"] < county.n_villages  # gaps on purpose
    assert 4 <= counts["ems_station"] <= 8
    assert counts["pharmacy"] >= 3
    by = {k: [r for r in facilities if r["type"] == k] for k in counts}
    assert by["county_hospital"][0]["name"].endswith("人民医院")
    assert all(300 <= int(r["beds"]) <= 800 for r in by["county_hospital"])
    assert all(r["name"].endswith("卫生院") for r in by["township_health_centre"])
    assert all(r["name"].endswith("村卫生室") for r in by["village_clinic"])
    assert any(r["name"].endswith("120急救中心") for r in by["ems_station"])
    assert all("120" in r["name"] for r in by["ems_station"])


def test_facilities_lie_near_roads(facilities, roads):
    utm = roads.estimate_utm_crs()
    lines = roads.to_crs(utm).geometry.values
    pts = gpd.GeoSeries(gpd.points_from_xy([float(r["lon"]) for r in facilities],
                                           [float(r["lat"]) for r in facilities]), crs=4326).to_crs(utm)
    tree = shapely.STRtree(lines)
    _, dist = tree.query_nearest(pts.values, return_distance=True, all_matches=False)
    assert dist.max() <= 100.0


def test_county_hospital_sits_in_the_densest_area(county, facilities):
    ch = next(r for r in facilities if r["type"] == "county_hospital")
    with rasterio.open(county.population_tif) as src:
        val = next(src.sample([(float(ch["lon"]), float(ch["lat"]))]))[0]
        a = src.read(1)
    assert val > np.percentile(a[a > 0], 95)


# --------------------------------------------------------------------------- sizes & validation

@pytest.mark.parametrize("area, nodes", [(20.0, 1000), (200.0, 8000)])
def test_node_count_tracks_target(tmp_path, area, nodes):
    c = generate_county(tmp_path, seed=11, area_km2=area, n_nodes=nodes, write_osm=False)
    assert 0.8 * nodes <= c.n_nodes <= 1.2 * nodes
    assert 350 <= c.population / area <= 500


@pytest.mark.parametrize("kwargs, name", [
    ({"area_km2": -5}, "area_km2"),
    ({"area_km2": "big"}, "area_km2"),
    ({"n_nodes": 10}, "n_nodes"),
    ({"n_nodes": 5000.5}, "n_nodes"),
    ({"seed": -1}, "seed"),
    ({"seed": 1.5}, "seed"),
    ({"n_townships": 1}, "n_townships"),
    ({"cell_size_m": 0}, "cell_size_m"),
    ({"center_lonlat": (200.0, 33.0)}, "center_lonlat"),
    ({"center_lonlat": "here"}, "center_lonlat"),
    ({"write_osm": "yes"}, "write_osm"),
    ({"county_name": ""}, "county_name"),
])
def test_bad_parameters_raise_input_error(tmp_path, kwargs, name):
    target = tmp_path / "never"
    with pytest.raises(InputError, match=name):
        generate_county(target, **kwargs)
    assert not target.exists()


def test_too_many_townships_for_area(tmp_path):
    with pytest.raises(InputError, match="n_townships"):
        generate_county(tmp_path, area_km2=10, n_nodes=1000, n_townships=80)
