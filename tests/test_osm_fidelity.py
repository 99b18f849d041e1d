"""Issue 9: the same roads give the same minutes from .osm XML, .osm.pbf and a roads file.

Hand-made networks near 117°E 33°N, built in UTM 50N metres; right values by hand from
data/speeds.toml (drive residential 25 km/h × congestion 0.9 = 22.5 km/h = 375 m/min;
access legs at 15 km/h = 250 m/min).
"""

from pathlib import Path

import numpy as np
import osmium
import pytest
from pyproj import Transformer

from geoaccess.network import network_from_file
from geoaccess.routing import compile_mode, nearest_facility, place_points

UTM = "EPSG:32650"
X0, Y0 = 500_000.0, 3_650_000.0
TO_LONLAT = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
MONACO = Path(__file__).resolve().parents[1] / "data" / "demo" / "monaco.osm.pbf"


def write_osm(folder: Path, nodes: dict[int, tuple[float, float]], ways: list[tuple[list[int], dict]]) -> list[Path]:
    """The same nodes (metres from X0, Y0) and ways as .osm XML and .osm.pbf."""
    lonlat = {n: TO_LONLAT.transform(X0 + x, Y0 + y) for n, (x, y) in nodes.items()}
    xml = ["<?xml version='1.0' encoding='UTF-8'?>", "<osm version='0.6' generator='test'>"]
    xml += [f"<node id='{n}' version='1' lat='{lat:.9f}' lon='{lon:.9f}'/>" for n, (lon, lat) in lonlat.items()]
    for i, (refs, tags) in enumerate(ways, start=1):
        xml.append(f"<way id='{i}' version='1'>")
        xml += [f"<nd ref='{r}'/>" for r in refs]
        xml += [f"<tag k='{k}' v='{v}'/>" for k, v in tags.items()]
        xml.append("</way>")
    xml.append("</osm>")
    osm = folder / "roads.osm"
    osm.write_text("\n".join(xml), encoding="utf-8")
    pbf = folder / "roads.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for n, (lon, lat) in lonlat.items():
            writer.add_node(osmium.osm.mutable.Node(id=n, version=1, location=(lon, lat)))
        for i, (refs, tags) in enumerate(ways, start=1):
            writer.add_way(osmium.osm.mutable.Way(id=i, version=1, nodes=refs, tags=tags))
    return [osm, pbf]


def minutes(path: Path, mode: str, home: tuple[float, float], clinic: tuple[float, float],
            direction: str = "to_facility") -> float:
    net = network_from_file(path, crs=UTM)
    g = compile_mode(net, mode)
    h = place_points(g, np.array([[X0 + home[0], Y0 + home[1]]]))
    c = place_points(g, np.array([[X0 + clinic[0], Y0 + clinic[1]]]))
    return float(nearest_facility(g, h, c, direction).minutes[0])


SQUARE = {1: (0, 0), 2: (1000, 0), 3: (1000, 1000), 4: (0, 1000)}


@pytest.mark.parametrize("closing", [{"access": "private"}, {"access": "no"}, {"motor_vehicle": "no"},
                                     {"access": "destination"}])
def test_a_closed_or_private_shortcut_is_not_driven_through(tmp_path, closing):
    # Shortcut 1-2 (1,000 m) closed or private; legal detour 1-4-3-2 (3,000 m).
    ways = [([1, 2], {"highway": "residential", **closing}),
            ([1, 4, 3, 2], {"highway": "residential"})]
    # Home and clinic 10 m beside the detour's legs, 100 m from the shortcut's ends: through
    # the shortcut 1,200 m, round the top 2,800 m.
    for path in write_osm(tmp_path, SQUARE, ways):
        got = minutes(path, "drive", home=(-10, 100), clinic=(1010, 100))
        assert got == pytest.approx(2800 / 375 + 20 / 250, rel=1e-3)  # 7.55 min
        # Walking: access=private/no close it to walkers too; motor_vehicle=no does not.
        walk = minutes(path, "walk", home=(-10, 100), clinic=(1010, 100))
        walk_m = 1200 if "motor_vehicle" in closing else 2800
        assert walk == pytest.approx((walk_m + 20) / (5000 / 60), rel=1e-3)


def test_a_home_at_the_gate_is_on_the_public_road(tmp_path):
    # The case: home 10 m beyond one end of a private 1 km shortcut, clinic 10 m
    # beyond the other, 3 km legal detour; the home is as near the shortcut as the detour.
    ways = [([1, 2], {"highway": "residential", "access": "private"}),
            ([1, 4, 3, 2], {"highway": "residential"})]
    for path in write_osm(tmp_path, SQUARE, ways):
        assert minutes(path, "drive", home=(-10, 0), clinic=(1010, 0)) == pytest.approx(
            3000 / 375 + 20 / 250, rel=1e-3)  # 8.08 min


def test_a_private_road_is_used_at_the_start_and_end_of_a_trip(tmp_path):
    # A gated compound road 2-5 (private, 500 m north of node 2) off the public road 1-2.
    nodes = {1: (0, 0), 2: (1000, 0), 5: (1000, -500)}
    ways = [([1, 2], {"highway": "residential"}), ([2, 5], {"highway": "service", "access": "private"})]
    for path in write_osm(tmp_path, nodes, ways):
        # Home inside the compound, clinic on the public road: 500 m service (15 km/h = 250 m/min)
        # + 1,000 m residential; legs of 10 m each at 15 km/h.
        want = 500 / (15 * 1000 / 60) + 1000 / 375 + 20 / 250
        assert minutes(path, "drive", home=(1010, -500), clinic=(-10, 0)) == pytest.approx(want, rel=1e-3)
        # The ambulance drives from the public road into the compound (from_facility).
        assert minutes(path, "ambulance", home=(1010, -500), clinic=(-10, 0), direction="from_facility") < np.inf


def test_lanes_behind_a_private_entrance_belong_to_the_compound(tmp_path):
    # Public road 1-2 (1,000 m); entrance 2-5 tagged private (200 m south); the compound's
    # inner lane 5-6 untagged (300 m east): OSM's usual way of mapping a gated compound.
    nodes = {1: (0, 0), 2: (1000, 0), 5: (1000, -200), 6: (1300, -200)}
    ways = [([1, 2], {"highway": "residential"}), ([2, 5], {"highway": "service", "access": "private"}),
            ([5, 6], {"highway": "service"})]
    for path in write_osm(tmp_path, nodes, ways):
        # Ambulance from the public road to a home 10 m off the inner lane's end:
        # 1 km at 30 km/h + 500 m of service at 20 km/h + two 10 m legs at 15 km/h.
        amb = minutes(path, "ambulance", home=(1300, -210), clinic=(-10, 0), direction="from_facility")
        assert amb == pytest.approx(2.0 + 1.5 + 20 / 250, rel=1e-3)
        # Driving out: 500 m of service at 15 km/h + 1 km at 22.5 km/h + legs.
        out = minutes(path, "drive", home=(1300, -210), clinic=(-10, 0))
        assert out == pytest.approx(2.0 + 1000 / 375 + 20 / 250, rel=1e-3)


def test_an_emergency_yes_road_is_open_to_ambulances_only(tmp_path):
    ways = [([1, 2], {"highway": "residential", "access": "no", "emergency": "yes"}),
            ([1, 4, 3, 2], {"highway": "residential"})]
    for path in write_osm(tmp_path, SQUARE, ways):
        amb = 60.0 / (30 * 1.0)  # ambulance residential 30 km/h, no congestion: minutes per km
        assert minutes(path, "ambulance", (-10, 100), (1010, 100), "from_facility") == pytest.approx(
            1.2 * amb + 20 / 250, rel=1e-3)
        assert minutes(path, "drive", (-10, 100), (1010, 100)) == pytest.approx(2800 / 375 + 20 / 250, rel=1e-3)


def test_a_pbf_without_any_oneway_tag_loads_and_an_untagged_motorway_is_one_way(tmp_path):
    nodes = {1: (0, 0), 2: (4000, 0)}
    files = write_osm(tmp_path, nodes, [([1, 2], {"highway": "primary"})])
    for path in files:  # 4 km of primary at 60 km/h × congestion 0.85 + two 10 m legs
        assert minutes(path, "drive", (-10, 0), (4010, 0)) == pytest.approx(4 / 51 * 60 + 20 / 250, rel=1e-3)
    (tmp_path / "m").mkdir()
    # A motorway drawn 1 -> 2 with a trunk back 2 -> 1 along a 1 km longer way.
    nodes = {1: (0, 0), 2: (4000, 0), 3: (2000, 500)}
    ways = [([1, 2], {"highway": "motorway"}), ([2, 3, 1], {"highway": "primary"})]
    for path in write_osm(tmp_path / "m", nodes, ways):
        along = minutes(path, "drive", home=(4000, 600), clinic=(0, 600), direction="from_facility")  # 1 -> 2
        against = minutes(path, "drive", home=(0, 600), clinic=(4000, 600), direction="from_facility")  # 2 -> 1
        assert along < against  # the untagged motorway runs 1 -> 2 only: 2 -> 1 takes the primary road


def test_dual_carriageways_stay_two_roads(tmp_path):
    # Two one-way carriageways between the same junctions, 20 m apart, same length.
    nodes = {1: (0, 0), 2: (1000, 0), 3: (500, 10), 4: (500, -10)}
    ways = [([1, 3, 2], {"highway": "residential", "oneway": "yes"}),
            ([2, 4, 1], {"highway": "residential", "oneway": "yes"})]
    for path in write_osm(tmp_path, nodes, ways):
        net = network_from_file(path, crs=UTM)
        assert net.n_edges == 2 and net.edges["oneway"].all()


def test_homes_do_not_board_motorways(tmp_path):
    # A home 30 m from a motorway and 170 m from a local road that leads to the clinic.
    nodes = {1: (-2000, 30), 2: (2000, 30), 3: (-1000, -170), 4: (0, -170)}
    ways = [([1, 2], {"highway": "motorway"}), ([3, 4], {"highway": "residential"})]
    for path in write_osm(tmp_path, nodes, ways):
        got = minutes(path, "drive", home=(0, 0), clinic=(-1000, -180))
        # 170 m leg + 1,000 m residential + 10 m leg.
        assert got == pytest.approx(180 / 250 + 1000 / 375, rel=1e-3)


def test_monaco_xml_and_pbf_give_the_same_network(tmp_path):
    xml = tmp_path / "monaco.osm"
    with osmium.SimpleWriter(str(xml)) as writer:
        for obj in osmium.FileProcessor(str(MONACO)):
            if obj.is_node():
                writer.add_node(obj)
            elif obj.is_way():
                writer.add_way(obj)
            else:
                writer.add_relation(obj)
    a, b = network_from_file(MONACO), network_from_file(xml)
    assert a.report["dropped"] == b.report["dropped"] and a.n_edges == b.n_edges
    np.testing.assert_array_equal(a.edges["highway"].to_numpy(), b.edges["highway"].to_numpy())
    np.testing.assert_allclose(a.edges["length_m"].to_numpy(), b.edges["length_m"].to_numpy(), rtol=1e-6)
    assert a.report["dropped"]["area"]["ways"] > 0  # area outlines of the extract are not roads


def test_edge_lengths_are_the_geodesic_length_of_their_nodes(tmp_path):
    # Lengths come from the one geodesic pass over the ways' nodes (issue 15): per edge, the
    # WGS84 geodesic along its own nodes, split at the junction, one-way=-1 turned round.
    from pyproj import Geod

    nodes = {1: (0, 0), 2: (300, 40), 3: (700, 0), 4: (700, 500), 5: (1200, 600), 6: (700, -400)}
    ways = [([1, 2, 3, 4, 5], {"highway": "residential"}), ([6, 3], {"highway": "tertiary", "oneway": "-1"}),
            ([9, 8], {"highway": "construction"})]
    nodes.update({8: (0, 900), 9: (100, 900)})
    geod = Geod(ellps="WGS84")

    def geodesic(ids):
        lon, lat = TO_LONLAT.transform([X0 + nodes[i][0] for i in ids], [Y0 + nodes[i][1] for i in ids])
        return geod.line_length(np.round(lon, 7), np.round(lat, 7))  # osmium keeps 1e-7 degrees

    want = sorted([geodesic([1, 2, 3]), geodesic([3, 4, 5]), geodesic([6, 3])])
    for path in write_osm(tmp_path, nodes, ways):
        net = network_from_file(path, crs=UTM)
        assert net.n_edges == 3
        np.testing.assert_allclose(np.sort(net.edges["length_m"].to_numpy()), want, rtol=1e-12)
        assert net.report["dropped"]["not built or not for traffic"]["km"] == pytest.approx(geodesic([9, 8]) / 1000,
                                                                                           abs=1e-3)
