"""The answer is a function of where the roads lie on the earth, not of the CRS their file was
saved in: the same roads, facilities and people written in EPSG:4326, a CGCS2000 Gauss-Krüger
zone, UTM and Web Mercator give the same verdicts, shares and minutes (to coordinate round-off)."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod, Transformer

import geoaccess as ga
from geoaccess.network import network_from_file, network_from_lines
from geoaccess.synthetic import generate_county

from county_people import people_points

# CGCS2000 3° GK zones CM 114E (3.9° from the county: what a neighbouring bureau ships) and
# CM 117E (the county's own zone), the county's UTM zone, Web Mercator (scale 1.2 at 33.5°N).
CHINA_CRSS = ("EPSG:4547", "EPSG:4548", "EPSG:32650", "EPSG:3857")
SCENARIO = """[scenario]
name = "crs-{tag}"
[network]
source = "roads.gpkg"
[facilities]
path = "facilities.csv"
x = "x"
y = "y"
type = "type"
name = "name"
capacity = "beds"
crs = "{crs}"
[population]
path = "population.gpkg"
pop = "pop"
[targets]
use = ["medical_point_15min", "health_circle_30min", "ems_120"]
"""


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    """A small synthetic county in Anhui (117.87°E, 33.48°N), roads only as a GeoPackage;
    people as points at the raster's cell centres (a raster cannot change CRS without resampling)."""
    folder = tmp_path_factory.mktemp("county")
    generate_county(folder, seed=4, area_km2=40, n_nodes=2500, write_osm=False)
    people = people_points(folder)
    return {"roads": gpd.read_file(folder / "roads.gpkg"), "facilities": pd.read_csv(folder / "facilities.csv"),
            "people": people}


def _write(data, folder, crs):
    """The county's roads, facilities (x/y columns) and people written in ``crs``."""
    folder.mkdir()
    data["roads"].to_crs(crs).to_file(folder / "roads.gpkg", layer="roads")
    data["people"].to_crs(crs).to_file(folder / "population.gpkg", layer="people")
    fac = data["facilities"].copy()
    fac["x"], fac["y"] = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(fac["lon"], fac["lat"])
    fac.drop(columns=["lon", "lat"]).to_csv(folder / "facilities.csv", index=False)
    path = folder / "scenario.toml"
    path.write_text(SCENARIO.format(tag=crs.replace(":", ""), crs=crs), encoding="utf-8")
    return path


def _assert_same(a, b, targets):
    """Same verdicts, values, people and per-home minutes, nearest facility and urban flag."""
    sa, sb = a.summary, b.summary
    assert sa["passed"].tolist() == sb["passed"].tolist()
    for col in ("value", "population", "covered", "unreachable", "mean_minutes"):
        np.testing.assert_allclose(sb[col].to_numpy(float), sa[col].to_numpy(float), rtol=1e-6, atol=1e-9)
    assert a.demand["urban"].tolist() == b.demand["urban"].tolist()  # the density grid laid alike
    for t in targets:
        ma, mb = a.demand[f"{t}_min"].to_numpy(float), b.demand[f"{t}_min"].to_numpy(float)
        assert np.array_equal(np.isinf(ma), np.isinf(mb))
        np.testing.assert_allclose(mb[np.isfinite(mb)], ma[np.isfinite(ma)], rtol=1e-6)
        assert a.demand[f"{t}_facility"].tolist() == b.demand[f"{t}_facility"].tolist()
        ga_, gb = a.gaps[t], b.gaps[t]
        assert len(ga_) == len(gb)
        np.testing.assert_allclose(np.sort(gb["pop"].to_numpy(float)), np.sort(ga_["pop"].to_numpy(float)), rtol=1e-6)
        iso_a, iso_b = a.isochrones[t], b.isochrones[t]  # bands laid on the same grid
        np.testing.assert_allclose(shapely.area(iso_b.geometry.to_numpy()), shapely.area(iso_a.geometry.to_numpy()),
                                   rtol=1e-6)


def test_the_same_county_in_five_crss_gives_the_same_answer(county, tmp_path):
    targets = ["medical_point_15min", "health_circle_30min", "ems_120"]
    ref = ga.run(_write(county, tmp_path / "4326", "EPSG:4326"))
    assert ref.network.crs.to_epsg() == 32650  # the county's UTM zone
    assert ref.demand["urban"].any() and not ref.demand["urban"].all()  # both sides of the density grid
    assert 0 < ref.summary["covered"].min() and (ref.summary["covered"] < ref.summary["population"]).any()
    for crs in CHINA_CRSS:
        got = ga.run(_write(county, tmp_path / crs.replace(":", ""), crs))
        assert got.network.crs == ref.network.crs, crs
        assert got.network.n_edges == ref.network.n_edges
        np.testing.assert_allclose(np.sort(got.network.edges["length_m"]), np.sort(ref.network.edges["length_m"]),
                                   rtol=1e-9)
        _assert_same(ref, got, targets)


def test_a_scenario_crs_lays_the_grids_but_lengths_stay_geodesic(county, tmp_path):
    # [scenario] crs = the GK zone: everything is laid in it whatever the roads file's CRS, and
    # the roads' lengths are the geodesic ones of the UTM run
    targets = ["medical_point_15min", "health_circle_30min", "ems_120"]
    utm = ga.run(_write(county, tmp_path / "utm", "EPSG:4326"))
    runs = []
    for crs in ("EPSG:4326", "EPSG:3857"):
        path = _write(county, tmp_path / crs.replace(":", ""), crs)
        path.write_text(path.read_text(encoding="utf-8").replace("[scenario]\n", '[scenario]\ncrs = "EPSG:4548"\n'),
                        encoding="utf-8")
        runs.append(ga.run(path))
        assert runs[-1].network.crs.to_epsg() == 4548
        np.testing.assert_allclose(np.sort(runs[-1].network.edges["length_m"]),
                                   np.sort(utm.network.edges["length_m"]), rtol=1e-9)
    _assert_same(*runs, targets)


def test_lengths_are_geodesic_in_every_crs(county):
    # each edge's length against pyproj's Geod along the same vertices in lon/lat, computed here;
    # Web Mercator's planar length would be 1.2 times that at 33.5°N, the GK zone's 1.0002
    roads = county["roads"]
    geod = Geod(ellps="WGS84")
    for crs in ("EPSG:4326", *CHINA_CRSS):
        net = network_from_lines(roads.to_crs(crs))
        to_lonlat = Transformer.from_crs(net.crs, "EPSG:4326", always_xy=True)
        geoms = net.edges.geometry.to_numpy()[:300]
        want = [geod.line_length(*to_lonlat.transform(*np.asarray(g.coords).T)) for g in geoms]
        np.testing.assert_allclose(net.edges["length_m"].to_numpy()[:300], want, rtol=1e-9)
        assert net.crs.to_epsg() == 32650


def test_monaco_in_a_chinese_gauss_kruger_zone_gives_the_lon_lat_answer(tmp_path):
    # The demo's Monaco roads as a roads file, saved in lon/lat and in CGCS2000 / 3-degree GK
    # CM 114E, 107° from that zone's meridian (lengths stretched 38 % there if measured on the
    # map: 95.1 % instead of 98.4 % walked within 15 min before): the same answer in both
    import osmnx as ox

    from geoaccess._paths import data_path

    demo = data_path("demo")
    graph = network_from_file(demo / "monaco.osm.pbf").to_networkx()
    arcs = ox.graph_to_gdfs(graph, nodes=False).reset_index(drop=True)
    lines = arcs.loc[~arcs["reversed"].astype(bool),
                     ["highway", "oneway", "maxspeed", "foot", "motorcar", "emergency", "bridge", "tunnel", "geometry"]]
    lines["oneway"] = np.where(lines["oneway"].astype(bool), "yes", "no")
    results = {}
    for crs in ("EPSG:4326", "EPSG:4547"):
        folder = tmp_path / crs.replace(":", "")
        folder.mkdir()
        lines.to_crs(crs).to_file(folder / "roads.gpkg")
        text = (demo / "scenario.toml").read_text(encoding="utf-8").replace('"monaco.osm.pbf"', '"roads.gpkg"')
        for name in ("facilities.csv", "population.tif"):
            text = text.replace(f'path = "{name}"', f'path = "{(demo / name).as_posix()}"')
        (folder / "scenario.toml").write_text(text, encoding="utf-8")
        results[crs] = ga.run(folder / "scenario.toml")
    a, b = results["EPSG:4326"], results["EPSG:4547"]
    assert a.network.crs.to_epsg() == b.network.crs.to_epsg() == 32632
    assert a.summary.loc["medical_point_15min", "value"] > 0.95
    _assert_same(a, b, list(a.summary.index))


def test_graph_from_lines_keeps_the_files_crs_with_geodesic_lengths():
    # Web Mercator at 33.5°N stretches lengths by 1.2: the graph's coordinates are the file's,
    # its lengths the geodesic ones (Geod along the line's lon/lat vertices, computed here)
    from geoaccess.network import graph_from_lines

    lon, lat = np.array([117.80, 117.81, 117.81]), np.array([33.48, 33.48, 33.49])
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True).transform(lon, lat)
    roads = gpd.GeoDataFrame({"highway": ["primary"]}, geometry=[shapely.LineString(np.column_stack([x, y]))],
                             crs="EPSG:3857")
    graph = graph_from_lines(roads)
    assert graph.graph["crs"] == "EPSG:3857"
    nodes = sorted((d["x"], d["y"]) for _, d in graph.nodes(data=True))
    np.testing.assert_allclose(nodes, sorted([(x[0], y[0]), (x[-1], y[-1])]), atol=1e-6)
    (length,) = {d["length"] for _, _, d in graph.edges(data=True)}
    assert length == pytest.approx(Geod(ellps="WGS84").line_length(lon, lat), rel=1e-9)
    assert roads.length[0] / length == pytest.approx(1 / np.cos(np.radians(33.485)), rel=2e-3)  # the 1.2 avoided
