"""Issue 9: an off-network leg never crosses mapped water (coastline, natural=water,
waterway=riverbank), from .osm and .osm.pbf alike.

Hand-made networks near 117°E 33°N in UTM 50N metres (see test_osm_fidelity); right values
by hand from data/speeds.toml.
"""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
import shapely

from geoaccess._paths import data_path
from geoaccess.network import load_speeds, network_from_file
from geoaccess.routing import compile_mode, nearest_facility, place_points
from geoaccess.snapping import WaterIndex
from test_osm_fidelity import UTM, X0, Y0, write_osm

with open(data_path("speeds.toml"), "rb") as _fh:
    SPEEDS = tomllib.load(_fh)
WALK = SPEEDS["walk"]["kmh"]["residential"] * SPEEDS["walk"].get("congestion", {}).get("residential", 1.0) * 1000 / 60
LEG = SPEEDS["walk"]["access_kmh"] * 1000 / 60  # metres per minute


def walk_minutes(path, home, clinic, tolerance_m: float | None = None) -> float:
    net = network_from_file(path, crs=UTM)
    speeds = load_speeds({"walk": {"fragment_tolerance_m": tolerance_m}} if tolerance_m is not None else None)
    g = compile_mode(net, "walk", speeds)
    h = place_points(g, np.array([[X0 + home[0], Y0 + home[1]]]))
    c = place_points(g, np.array([[X0 + clinic[0], Y0 + clinic[1]]]))
    return float(nearest_facility(g, h, c).minutes[0])


def island(folder, with_coast: bool):
    """A 10 km mainland road on y = 0 under a coastline at y = 100 (sea to the north), and a
    300 m island road on y = 700 inside an island coastline (-100..400 × 550..850)."""
    nodes = {1: (-5000, 0), 2: (5000, 0), 11: (0, 700), 12: (100, 700), 13: (200, 700), 14: (300, 700),
             21: (5500, 100), 22: (-5500, 100), 31: (-100, 550), 32: (400, 550), 33: (400, 850), 34: (-100, 850)}
    ways = [([1, 2], {"highway": "residential"}), ([11, 12, 13, 14], {"highway": "residential"})]
    if with_coast:  # land on the left of a coastline's direction
        ways += [([21, 22], {"natural": "coastline"}), ([31, 32, 33, 34, 31], {"natural": "coastline"})]
    folder.mkdir(exist_ok=True)
    return write_osm(folder, nodes, ways)


def test_coastline_is_read_as_water(tmp_path):
    for path in island(tmp_path / "w", True):
        net = network_from_file(path, crs=UTM)
        assert net.report["water"] == {"areas": 0, "coastline_km": pytest.approx(11.0 + 1.6, rel=1e-3)}
        assert len(net.water) == 2
    for path in island(tmp_path / "d", False):
        assert len(network_from_file(path, crs=UTM).water) == 0


def test_a_home_on_the_island_stays_on_the_island(tmp_path):
    # Home 10 m south of the island road's middle, 690 m from the mainland road. Even when
    # fragments are joined only if 1 km nearer than the main network, the leg to the
    # mainland crosses both coastlines: the home is on the island.
    home = (150, 690)
    for path in island(tmp_path / "w", True):
        # Clinic 10 m beyond the island road's east end: 10 m leg + 150 m + 10 m leg.
        for tolerance in (None, 1000.0):
            assert walk_minutes(path, home, (310, 700), tolerance) == pytest.approx(150 / WALK + 20 / LEG, rel=1e-3)
            assert walk_minutes(path, home, (0, -10), tolerance) == np.inf  # no bridge or ferry to the mainland
    for path in island(tmp_path / "d", False):
        # Without the coastline the same rule sends the home over the sea to the mainland
        # road: 690 m leg + 0 m + 10 m leg to a clinic 10 m south of it.
        assert walk_minutes(path, home, (150, -10), 1000.0) == pytest.approx(700 / LEG, rel=1e-3)


def river(folder, with_river: bool, tags: dict[str, str]):
    """Road A on y = 0 (x -1000..1000), a river area over y 20..50, road B on y = 210, and a
    bridge from A's east end (1000, 0) to B's east end (1000, 210)."""
    nodes = {1: (-1000, 0), 2: (1000, 0), 3: (-1000, 210), 4: (1000, 210),
             5: (-2000, 20), 6: (2000, 20), 7: (2000, 50), 8: (-2000, 50)}
    ways = [([1, 2], {"highway": "residential"}), ([3, 4], {"highway": "residential"}),
            ([2, 4], {"highway": "residential", "bridge": "yes"})]
    if with_river:
        ways.append(([5, 6, 7, 8, 5], tags))
    folder.mkdir(exist_ok=True)
    return write_osm(folder, nodes, ways)


@pytest.mark.parametrize("tags", [{"natural": "water", "water": "river"}, {"waterway": "riverbank"},
                                  {"natural": "water"}])
def test_a_home_across_a_river_joins_its_own_bank(tmp_path, tags):
    # Home on the north bank, 60 m from road A across the river and 150 m from road B on
    # its own bank; the clinic is 10 m south of A's west end.
    home, clinic = (0, 60), (-1000, -10)
    for path in river(tmp_path / "w", True, tags):
        net = network_from_file(path, crs=UTM)
        assert net.report["water"]["areas"] == 1
        # 150 m leg, B east 1,000 m, the bridge 210 m, A west 2,000 m, 10 m leg.
        assert walk_minutes(path, home, clinic) == pytest.approx(3210 / WALK + 160 / LEG, rel=1e-3)
    for path in river(tmp_path / "d", False, tags):
        # No river mapped: the 60 m leg to A, then 1,000 m west.
        assert walk_minutes(path, home, clinic) == pytest.approx(1000 / WALK + 70 / LEG, rel=1e-3)


def test_legs_touching_a_shore_are_dry_and_legs_through_water_are_not():
    lake = shapely.box(0, 0, 100, 100)
    # A strait between two coasts at x = 200 and x = 300 (sea between them).
    coasts = [shapely.LineString([(200, -100), (200, 100)]), shapely.LineString([(300, 100), (300, -100)])]
    index = WaterIndex(np.array([lake, *coasts], dtype=object))
    start = np.array([[-50, 50], [-50, 50], [150, 0], [150, 0], [50, 50], [250, 0]], dtype=float)
    end = np.array([[0, 50], [150, 50], [190, 0], [350, 0], [50, 150], [190, 0]], dtype=float)
    # ends on the shore; through the lake; short of the coast; over the strait; from inside
    # the lake out; from the sea ashore (one crossing)
    assert index.crosses(start, end).tolist() == [False, True, False, True, False, False]


def test_a_river_mapped_as_a_multipolygon_relation(tmp_path):
    # The same river as above, its outline drawn as two untagged ways (south bank 5-6,
    # the rest 6-7-8-5) joined by a multipolygon relation tagged natural=water.
    import osmium
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    nodes = {1: (-1000, 0), 2: (1000, 0), 3: (-1000, 210), 4: (1000, 210),
             5: (-2000, 20), 6: (2000, 20), 7: (2000, 50), 8: (-2000, 50)}
    ways = {1: ([1, 2], {"highway": "residential"}), 2: ([3, 4], {"highway": "residential"}),
            3: ([2, 4], {"highway": "residential", "bridge": "yes"}), 4: ([5, 6], {}), 5: ([6, 7, 8, 5], {})}
    relation = {"type": "multipolygon", "natural": "water", "water": "river"}
    lonlat = {n: to_lonlat.transform(X0 + x, Y0 + y) for n, (x, y) in nodes.items()}
    xml = ["<?xml version='1.0' encoding='UTF-8'?>", "<osm version='0.6' generator='test'>"]
    xml += [f"<node id='{n}' version='1' lat='{lat:.9f}' lon='{lon:.9f}'/>" for n, (lon, lat) in lonlat.items()]
    for i, (refs, tags) in ways.items():
        xml += [f"<way id='{i}' version='1'>", *[f"<nd ref='{r}'/>" for r in refs],
                *[f"<tag k='{k}' v='{v}'/>" for k, v in tags.items()], "</way>"]
    xml += ["<relation id='1' version='1'>", "<member type='way' ref='4' role='outer'/>",
            "<member type='way' ref='5' role='outer'/>", *[f"<tag k='{k}' v='{v}'/>" for k, v in relation.items()],
            "</relation>", "</osm>"]
    osm, pbf = tmp_path / "river.osm", tmp_path / "river.osm.pbf"
    osm.write_text("\n".join(xml), encoding="utf-8")
    with osmium.SimpleWriter(str(pbf)) as writer:
        for n, (lon, lat) in lonlat.items():
            writer.add_node(osmium.osm.mutable.Node(id=n, version=1, location=(lon, lat)))
        for i, (refs, tags) in ways.items():
            writer.add_way(osmium.osm.mutable.Way(id=i, version=1, nodes=refs, tags=tags))
        writer.add_relation(osmium.osm.mutable.Relation(id=1, version=1, members=[("w", 4, "outer"), ("w", 5, "outer")],
                                                        tags=relation))
    for path in (osm, pbf):
        net = network_from_file(path, crs=UTM)
        assert net.report["water"]["areas"] == 1
        assert shapely.area(net.water[0]) == pytest.approx(4000 * 30, rel=1e-3)
        # as above: the home joins road B on its own bank
        assert walk_minutes(path, (0, 60), (-1000, -10)) == pytest.approx(3210 / WALK + 160 / LEG, rel=1e-3)


def test_a_run_says_water_not_infinite_metres(tmp_path):
    # A clinic on a rock 200 m offshore (inside a second, road-less islet's coastline) can
    # reach no road without crossing water: the run's warning says so instead of "inf m".
    from test_osm_fidelity import TO_LONLAT

    from geoaccess.pipeline import run_scenario
    from geoaccess.scenario import scenario_from_dict

    nodes = {1: (-5000, 0), 2: (5000, 0), 21: (5500, 100), 22: (-5500, 100),
             41: (-50, 250), 42: (50, 250), 43: (50, 350), 44: (-50, 350)}
    ways = [([1, 2], {"highway": "residential"}), ([21, 22], {"natural": "coastline"}),
            ([41, 42, 43, 44, 41], {"natural": "coastline"})]
    osm = write_osm(tmp_path, nodes, ways)[0]
    rock, shore = TO_LONLAT.transform(X0, Y0 + 300), TO_LONLAT.transform(X0 + 100, Y0 + 10)
    (tmp_path / "f.csv").write_text(f"lon,lat,type,name\n{rock[0]},{rock[1]},clinic,Rock clinic\n"
                                    f"{shore[0]},{shore[1]},clinic,Shore clinic\n", encoding="utf-8")
    (tmp_path / "p.csv").write_text(f"lon,lat,pop\n{shore[0]},{shore[1]},10\n", encoding="utf-8")
    sc = scenario_from_dict({"scenario": {"name": "rock"}, "network": {"source": str(osm)},
                             "facilities": {"path": "f.csv"}, "population": {"path": "p.csv"},
                             "targets": {"use": ["medical_point_15min"]}}, base_dir=tmp_path)
    result = run_scenario(sc, write=False)
    text = " ".join(result.warnings)
    assert "Rock clinic (only across water)" in text and "inf m" not in text
