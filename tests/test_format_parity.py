"""Issue 9: the same roads give the same network and the same minutes in every format.

Each hand-made case is written as ``.osm`` XML, ``.osm.pbf`` (pyosmium), a ``.gpkg``
roads file (one LineString per way, the OSM tags as columns, read with the default
``[network]`` keys) and two ``.graphml`` files: osmnx's own reading of the XML
(``osmnx.graph_from_xml`` with the tags geoaccess reads) and our network's
``to_networkx()``, both saved with ``osmnx.save_graphml``. Every format must give the
identical edge set (ends, class, one-way, access per mode, bridge/tunnel, speed limit,
length) and the identical minutes, equal to the value worked out by hand from
``data/speeds.toml`` (comments give the arithmetic).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from unittest import mock

import geopandas as gpd
import numpy as np
import osmnx as ox
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from geoaccess._paths import data_path
from geoaccess.network import RoadNetwork, graph_from_place, network_from_file, network_from_graph, osmnx_settings
from geoaccess.routing import compile_mode, nearest_facility, place_points
from test_osm_fidelity import SQUARE, TO_LONLAT, UTM, X0, Y0, minutes, write_osm

FROM_LONLAT = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
with open(data_path("speeds.toml"), "rb") as _fh:
    SPEEDS = tomllib.load(_fh)


def m_per_min(mode: str, cls: str) -> float:
    """Metres per minute on a class: km/h × congestion (× 1000 / 60)."""
    spec = SPEEDS[mode]
    return spec["kmh"][cls] * spec.get("congestion", {}).get(cls, 1.0) * 1000 / 60


LEG = {mode: SPEEDS[mode]["access_kmh"] * 1000 / 60 for mode in ("walk", "drive", "ambulance")}  # m/min


def write_formats(folder: Path, nodes: dict[int, tuple[float, float]], ways: list[tuple[list[int], dict]]
                  ) -> dict[str, Path]:
    """The case as .osm, .osm.pbf, .gpkg and two .graphml files (see the module docstring).

    Node positions are first rounded to 1e-7 degrees, the precision OSM stores, so that
    every file holds the very same coordinates.
    """
    lonlat = {n: tuple(np.round(TO_LONLAT.transform(X0 + x, Y0 + y), 7)) for n, (x, y) in nodes.items()}
    xy = {n: FROM_LONLAT.transform(lon, lat) for n, (lon, lat) in lonlat.items()}
    osm, pbf = write_osm(folder, {n: (x - X0, y - Y0) for n, (x, y) in xy.items()}, ways)
    keys = sorted({k for _, tags in ways for k in tags})
    gpkg = folder / "roads.gpkg"
    gpd.GeoDataFrame({k: [tags.get(k) for _, tags in ways] for k in keys},
                     geometry=[shapely.LineString([lonlat[r] for r in refs]) for refs, _ in ways],
                     crs="EPSG:4326").to_file(gpkg, engine="pyogrio")
    with osmnx_settings():
        graph = ox.graph_from_xml(osm, retain_all=True)
    ox.save_graphml(graph, folder / "osmnx.graphml")
    ox.save_graphml(network_from_file(pbf).to_networkx(), folder / "ours.graphml")
    return {"osm": osm, "pbf": pbf, "gpkg": gpkg, "osmnx.graphml": folder / "osmnx.graphml",
            "ours.graphml": folder / "ours.graphml"}


def edge_set(path: Path | RoadNetwork) -> pd.DataFrame:
    """The network's edges, keyed by their end coordinates (cm) so node ids do not matter."""
    net = path if isinstance(path, RoadNetwork) else network_from_file(path, crs=UTM)
    e = net.edges
    xy = np.round(net.node_xy * 100).astype(np.int64)
    a, b = xy[e["u"].to_numpy()], xy[e["v"].to_numpy()]
    # A two-way edge is the same road drawn either way: order its ends.
    swap = ~e["oneway"].to_numpy() & (a[:, 0] * 10**12 + a[:, 1] > b[:, 0] * 10**12 + b[:, 1])
    a, b = np.where(swap[:, None], b, a), np.where(swap[:, None], a, b)
    out = pd.DataFrame({"ax": a[:, 0], "ay": a[:, 1], "bx": b[:, 0], "by": b[:, 1],
                        "length_cm": np.round(e["length_m"].to_numpy() * 100).astype(np.int64),
                        **{c: e[c].to_numpy() for c in ("highway", "oneway", "access_walk", "access_drive",
                                                        "access_ambulance", "bridge", "tunnel")},
                        "maxspeed": e["maxspeed_kmh"].fillna(-1).to_numpy()})
    return out.sort_values(list(out.columns)).reset_index(drop=True)


def check(folder: Path, nodes, ways, trips: list[tuple[str, tuple, tuple, str, float]]) -> None:
    """Every format: the edge set of the .osm.pbf and its minutes (to 1e-9), which equal the
    hand value (to 1e-3: the hand works in UTM metres, the files in lon/lat with lengths on
    the ellipsoid, 0.04 % longer here)."""
    files = write_formats(folder, nodes, ways)
    want = edge_set(files["pbf"])
    for mode, home, clinic, direction, expected in trips:
        assert minutes(files["pbf"], mode, home, clinic, direction) == pytest.approx(expected, rel=1e-3)
    for label, path in files.items():
        pd.testing.assert_frame_equal(edge_set(path), want, obj=f"edges from {label}")
        for mode, home, clinic, direction, _ in trips:
            assert minutes(path, mode, home, clinic, direction) == pytest.approx(
                minutes(files["pbf"], mode, home, clinic, direction), rel=1e-9), (label, mode, home, clinic)


# The detour case: a 1,000 m shortcut 1-2 and a 3,000 m legal detour 1-4-3-2; home and clinic
# 10 m beside the detour's legs, 100 m from the shortcut's ends: through 1,200 m, round 2,800 m.
HOME, CLINIC = (-10, 100), (1010, 100)


@pytest.mark.parametrize("closing", [{"access": "private"}, {"access": "no"}, {"motor_vehicle": "no"},
                                     {"access": "destination"}, {"vehicle": "no", "foot": "yes"}])
def test_closed_and_private_shortcuts(tmp_path, closing):
    ways = [([1, 2], {"highway": "residential", **closing}), ([1, 4, 3, 2], {"highway": "residential"})]
    walk_m = 1200 if closing.get("foot") == "yes" or "motor_vehicle" in closing else 2800
    check(tmp_path, SQUARE, ways, [
        ("drive", HOME, CLINIC, "to_facility", 2800 / m_per_min("drive", "residential") + 20 / LEG["drive"]),
        ("walk", HOME, CLINIC, "to_facility", walk_m / m_per_min("walk", "residential") + 20 / LEG["walk"]),
    ])


def test_private_road_at_a_trip_end_and_at_the_gate(tmp_path):
    # Gated compound 2-5 (private service road, 500 m south) off the public road 1-2.
    nodes = {1: (0, 0), 2: (1000, 0), 5: (1000, -500)}
    ways = [([1, 2], {"highway": "residential"}), ([2, 5], {"highway": "service", "access": "private"})]
    drive = 500 / m_per_min("drive", "service") + 1000 / m_per_min("drive", "residential") + 20 / LEG["drive"]
    amb = 500 / m_per_min("ambulance", "service") + 1000 / m_per_min("ambulance", "residential") + 20 / LEG["ambulance"]
    check(tmp_path, nodes, ways, [("drive", (1010, -500), (-10, 0), "to_facility", drive),
                                  ("ambulance", (1010, -500), (-10, 0), "from_facility", amb)])


def test_a_home_at_the_gate_of_a_private_shortcut(tmp_path):
    # The 8.08 min: home 10 m beyond one end of the private shortcut, clinic beyond the other.
    ways = [([1, 2], {"highway": "residential", "access": "private"}), ([1, 4, 3, 2], {"highway": "residential"})]
    check(tmp_path, SQUARE, ways, [
        ("drive", (-10, 0), (1010, 0), "to_facility", 3000 / m_per_min("drive", "residential") + 20 / LEG["drive"])])


def test_emergency_yes_opens_a_closed_road_to_ambulances(tmp_path):
    ways = [([1, 2], {"highway": "residential", "access": "no", "emergency": "yes"}),
            ([1, 4, 3, 2], {"highway": "residential"})]
    check(tmp_path, SQUARE, ways, [
        ("ambulance", HOME, CLINIC, "from_facility", 1200 / m_per_min("ambulance", "residential") + 20 / LEG["ambulance"]),
        ("drive", HOME, CLINIC, "to_facility", 2800 / m_per_min("drive", "residential") + 20 / LEG["drive"])])


def test_an_area_outline_is_not_driven_round(tmp_path):
    # A car park outline 1-5-2-6-1 (service, area=yes) spans the shortcut: not a road.
    nodes = {**SQUARE, 5: (500, 50), 6: (500, -50)}
    ways = [([1, 5, 2, 6, 1], {"highway": "service", "area": "yes"}), ([1, 4, 3, 2], {"highway": "residential"})]
    check(tmp_path, nodes, ways, [
        ("drive", HOME, CLINIC, "to_facility", 2800 / m_per_min("drive", "residential") + 20 / LEG["drive"])])


@pytest.mark.parametrize("kind", ["construction", "proposed"])
def test_a_road_not_built_is_not_a_road(tmp_path, kind):
    ways = [([1, 2], {"highway": kind}), ([1, 4, 3, 2], {"highway": "residential"})]
    check(tmp_path, SQUARE, ways, [
        ("drive", HOME, CLINIC, "to_facility", 2800 / m_per_min("drive", "residential") + 20 / LEG["drive"])])


def test_no_oneway_tag_anywhere(tmp_path):
    # 4 km of primary, two-way, both directions; 10 m legs.
    trip = 4000 / m_per_min("drive", "primary") + 20 / LEG["drive"]
    check(tmp_path, {1: (0, 0), 2: (4000, 0)}, [([1, 2], {"highway": "primary"})],
          [("drive", (-10, 0), (4010, 0), "to_facility", trip), ("drive", (4010, 0), (-10, 0), "to_facility", trip)])


def test_an_untagged_motorway_is_one_way(tmp_path):
    # Motorway 1 -> 2 (4 km, no oneway tag); a primary road back 2-5-6-1 (1 + 4 + 1 km).
    # Homes and clinics may not board the motorway: they join the primary's 1 km legs at
    # their middle (500 m from the junction), 10 m off.
    nodes = {1: (0, 0), 2: (4000, 0), 5: (4000, -1000), 6: (0, -1000)}
    ways = [([1, 2], {"highway": "motorway"}), ([2, 5, 6, 1], {"highway": "primary"})]
    legs = 20 / LEG["ambulance"]
    along = 1000 / m_per_min("ambulance", "primary") + 4000 / m_per_min("ambulance", "motorway") + legs
    against = 5000 / m_per_min("ambulance", "primary") + legs
    assert along < against
    check(tmp_path, nodes, ways, [("ambulance", (4010, -500), (-10, -500), "from_facility", along),
                                  ("ambulance", (-10, -500), (4010, -500), "from_facility", against)])


@pytest.mark.parametrize("junction", ["roundabout", "circular"])
def test_an_untagged_roundabout_is_one_way(tmp_path, junction):
    # A ring 1-2-3-4-1 (tertiary, drawn anticlockwise, no oneway tag) with an approach road
    # at node 1 (osmnx cuts an isolated ring at every node). Home 10 m east of the middle of
    # 2-3, clinic 10 m west of 4-1 at y = 200: anticlockwise 500 + 1000 + 800 m (clockwise,
    # on foot, 1,700 m).
    ways = [([1, 2, 3, 4, 1], {"highway": "tertiary", "junction": junction}), ([5, 1], {"highway": "tertiary"})]
    check(tmp_path, {**SQUARE, 5: (-500, -500)}, ways, [
        ("drive", (1010, 500), (-10, 200), "to_facility", 2300 / m_per_min("drive", "tertiary") + 20 / LEG["drive"]),
        ("walk", (1010, 500), (-10, 200), "to_facility", 1700 / m_per_min("walk", "tertiary") + 20 / LEG["walk"])])


def test_dual_carriageways_stay_two_roads(tmp_path):
    # Eastbound 1-3-2 and westbound 2-4-1, 20 m apart in the middle. A home 10 m north of
    # the eastbound carriageway drives east to 2 and back west to a clinic beyond node 1:
    # 500.1 m + 1,000.2 m (each half is sqrt(500² + 10²) m).
    nodes = {1: (0, 0), 2: (1000, 0), 3: (500, 10), 4: (500, -10)}
    ways = [([1, 3, 2], {"highway": "residential", "oneway": "yes"}),
            ([2, 4, 1], {"highway": "residential", "oneway": "yes"})]
    half = np.hypot(500, 10)
    check(tmp_path, nodes, ways, [
        ("drive", (500, 20), (-10, 0), "to_facility", 3 * half / m_per_min("drive", "residential") + 20 / LEG["drive"])])


def test_reverse_one_way(tmp_path):
    # oneway=-1 on 1 -> 2: cars go 2 -> 1 only; the other way round the 3 km detour.
    ways = [([1, 2], {"highway": "residential", "oneway": "-1"}), ([1, 4, 3, 2], {"highway": "residential"})]
    v = m_per_min("drive", "residential")
    check(tmp_path, SQUARE, ways, [("drive", CLINIC, HOME, "to_facility", 1200 / v + 20 / LEG["drive"]),
                                   ("drive", HOME, CLINIC, "to_facility", 2800 / v + 20 / LEG["drive"])])


def test_boarding_rules_motorway_bridge_and_maxspeed(tmp_path):
    # Residential 3-4 (maxspeed 20) at y = -170; an untagged (one-way) motorway at y = 30; a
    # residential bridge 4-9 running north from node 4 over the motorway. Home A (-500, 0) is
    # 30 m from the motorway and 170 m from the residential road; home B (10, 100) is 10 m
    # from the bridge deck and sqrt(10² + 270²) m from node 4. The clinic is 10 m from node 3.
    nodes = {1: (-2000, 30), 2: (2000, 30), 3: (-1000, -170), 4: (0, -170), 9: (0, 230)}
    ways = [([1, 2], {"highway": "motorway"}), ([3, 4], {"highway": "residential", "maxspeed": "20"}),
            ([4, 9], {"highway": "residential", "bridge": "yes"})]
    drive = SPEEDS["drive"]
    residential = (20 * drive.get("maxspeed_factor", 1.0) * drive.get("congestion", {}).get("residential", 1.0)
                   * 1000 / 60)
    clinic = (-1000, -180)
    check(tmp_path, nodes, ways, [
        ("drive", (-500, 0), clinic, "to_facility", 500 / residential + 180 / LEG["drive"]),
        ("drive", (10, 100), clinic, "to_facility", 1000 / residential + (np.hypot(10, 270) + 10) / LEG["drive"])])


def test_synthetic_county_roads_file_and_osm_give_the_same_edges(tmp_path):
    from geoaccess.synthetic import generate_county

    county = generate_county(tmp_path, seed=3, area_km2=30, n_nodes=1500)
    pd.testing.assert_frame_equal(edge_set(county.roads_gpkg), edge_set(county.roads_osm))


def test_an_osmnx_download_reads_like_the_files(tmp_path):
    """graph_from_place with osmnx's real code; only the geocoder and the Overpass server
    are mocked, the server answering with the ways of an .osm file (unfiltered, so the
    response also holds the area outline the server's filter would have left out)."""
    from osmnx import _osm_xml

    nodes = {**SQUARE, 5: (500, 50), 6: (500, -50), 7: (-500, 0), 8: (-1000, 0)}
    ways = [([1, 2], {"highway": "residential", "access": "private"}),     # destination only
            ([1, 5, 2, 6, 1], {"highway": "service", "area": "yes"}),       # not a road
            ([1, 4], {"highway": "residential"}),
            ([4, 3], {"highway": "residential", "motor_vehicle": "no", "emergency": "yes"}),
            ([3, 2], {"highway": "residential", "bridge": "yes", "maxspeed": "20"}),  # way ends at a bend
            ([1, 7], {"highway": "residential"}), ([7, 8], {"highway": "residential", "foot": "no"})]
    files = write_formats(tmp_path, nodes, ways)
    lon, lat = zip(*(TO_LONLAT.transform(X0 + x, Y0 + y) for x, y in nodes.values()))
    area = gpd.GeoDataFrame(geometry=[shapely.box(min(lon) - 0.01, min(lat) - 0.01, max(lon) + 0.01, max(lat) + 0.01)],
                            crs="EPSG:4326")
    queries = []

    def overpass(data, *args, **kwargs):
        queries.append(data["data"])
        return _osm_xml._overpass_json_from_xml(files["osm"], "utf-8")

    with mock.patch("osmnx.geocoder.geocode_to_gdf", return_value=area), \
            mock.patch("osmnx._overpass._overpass_request", side_effect=overpass):
        graph = graph_from_place("test town")
    assert len(queries) == 1 and '["access"!~"private"]' not in queries[0]  # private ways are downloaded
    net = network_from_graph(graph, crs=UTM)
    pd.testing.assert_frame_equal(edge_set(net), edge_set(files["pbf"]))
    # by hand: an ambulance from a station 10 m beyond node 3 to a home 10 m off 1-4 at
    # y = 100 takes 4-3 (motor_vehicle=no but emergency=yes) and 4-1: 1,900 m of residential;
    # not the bridge 3-2 (slower, maxspeed 20) then the private 2-1 (no through route).
    g = compile_mode(net, "ambulance")
    h = place_points(g, np.array([[X0 - 10, Y0 + 100]]))
    c = place_points(g, np.array([[X0 + 1010, Y0 + 1000]]))
    want = 1900 / m_per_min("ambulance", "residential") + 20 / LEG["ambulance"]
    assert nearest_facility(g, h, c, "from_facility").minutes[0] == pytest.approx(want, rel=1e-3)


def test_roads_file_flag_columns_as_gis_tables_write_them(tmp_path):
    # bridge as 1/0 with a gap (read back as floats 1.0/0.0/NaN), access in Chinese-style
    # yes/no words and OSM values; lines 100 m long side by side.
    x0, y0 = X0, Y0
    roads = gpd.GeoDataFrame(
        {"highway": ["residential"] * 5, "bridge": [1, 0, None, 0, 0], "access": [None, "否", "private", "是", "no"],
         "foot": [None, None, None, None, "是"]},
        geometry=[shapely.LineString([(x0 + 200 * i, y0), (x0 + 200 * i + 100, y0)]) for i in range(5)], crs=UTM)
    path = tmp_path / "roads.gpkg"
    roads.to_file(path, engine="pyogrio")
    net = network_from_file(path, crs=UTM)
    e = net.edges.sort_values("osm_way")
    # access=否 is access=no: closed to every mode, not a road (line 1)
    assert e["osm_way"].tolist() == [0, 2, 3, 4] and net.report["dropped"]["closed to every mode"]["ways"] == 1
    assert e["bridge"].tolist() == [True, False, False, False]
    from geoaccess.osmtags import CLOSED, DESTINATION, OPEN

    assert e["access_drive"].tolist() == [OPEN, DESTINATION, OPEN, CLOSED]
    assert e["access_walk"].tolist() == [OPEN, DESTINATION, OPEN, OPEN]  # foot=是 opens the last one
