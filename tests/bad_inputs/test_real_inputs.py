"""Real-world inputs that used to stop a run without a useful word or give a silent answer:
OSM files (overlong tags, a file whose name lies about its format, only nodes, ways
running off the extract), scenario files (typo'd keys, Windows paths, a BOM), and
what the outputs say about homes no facility reaches.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from pyproj import Transformer

from geoaccess.cli import main
from geoaccess.errors import InputError

UTM = "EPSG:32650"
X0, Y0 = 500_000.0, 3_650_000.0
LONLAT = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)


def _osm_xml(ways: list[tuple[int, list[tuple[float, float]], dict[str, str]]]) -> str:
    """OSM XML of ``ways``: (way id, [(x, y) metres in UTM 50N], tags); node ids numbered in order."""
    nodes, lines = [], []
    for way_id, xy, tags in ways:
        refs = []
        for x, y in xy:
            nodes.append(LONLAT.transform(X0 + x, Y0 + y))
            refs.append(len(nodes))
        lines += [f"<way id='{way_id}' version='1'>", *[f"<nd ref='{r}'/>" for r in refs],
                  *[f"<tag k='{k}' v='{v}'/>" for k, v in tags.items()], "</way>"]
    head = [f"<node id='{i + 1}' version='1' lat='{lat:.9f}' lon='{lon:.9f}'/>" for i, (lon, lat) in enumerate(nodes)]
    return "\n".join(["<?xml version='1.0' encoding='UTF-8'?>", "<osm version='0.6' generator='test'>",
                      *head, *lines, "</osm>"])


def _hand_county(folder: Path) -> Path:
    """Two roads 20 km apart and not joined: the county hospital on the first, one village on
    each. The second village is unreachable by construction."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "roads.osm").write_text(_osm_xml([(1, [(0, 0), (3000, 0)], {"highway": "primary"}),
                                                (2, [(0, 20_000), (3000, 20_000)], {"highway": "primary"})]),
                                      encoding="utf-8")
    lon, lat = LONLAT.transform(X0 + 1000, Y0)
    pd.DataFrame({"id": ["T1"], "name": ["县人民医院"], "type": ["county_hospital"], "lon": [lon], "lat": [lat]}
                 ).to_csv(folder / "facilities.csv", index=False)
    homes = [LONLAT.transform(X0 + 500, Y0 + 50), LONLAT.transform(X0 + 1500, Y0 + 20_050)]
    pd.DataFrame({"lon": [h[0] for h in homes], "lat": [h[1] for h in homes], "pop": [10, 20]}
                 ).to_csv(folder / "population.csv", index=False)
    (folder / "scenario.toml").write_text(f"""
[scenario]
name = "hand"
crs = "{UTM}"
[network]
source = "roads.osm"
[facilities]
path = "facilities.csv"
x = "lon"
y = "lat"
type = "type"
name = "name"
id = "id"
crs = "EPSG:4326"
[population]
path = "population.csv"
x = "lon"
y = "lat"
pop = "pop"
crs = "EPSG:4326"
[targets]
use = ["health_circle_30min"]
""", encoding="utf-8")
    return folder / "scenario.toml"


def test_an_unreachable_home_is_null_in_minutes_facility_and_name_in_every_output(tmp_path):
    scenario = _hand_county(tmp_path / "in")
    assert main(["run", str(scenario), "--out", str(tmp_path / "out")]) == 0
    times = gpd.read_file(tmp_path / "out" / "demand_times.gpkg").sort_values("pop")
    cols = ["health_circle_30min_min", "health_circle_30min_facility", "health_circle_30min_facility_name"]
    near, far = times.iloc[0], times.iloc[1]
    assert near["pop"] == 10 and far["pop"] == 20
    # by hand: 500 m along a primary road at 60 km/h × 0.85 plus the legs: under a minute
    assert 0 < near[cols[0]] < 2 and near[cols[1]] == "T1" and near[cols[2]] == "县人民医院"
    assert times[cols].iloc[1].isna().all(), far[cols].tolist()  # all three null: IS NULL finds it in each
    import sqlite3

    with sqlite3.connect(tmp_path / "out" / "demand_times.gpkg") as db:
        assert db.execute(f"SELECT count(*) FROM demand_times WHERE {cols[1]} IS NULL AND {cols[2]} IS NULL "
                          f"AND {cols[0]} IS NULL").fetchone() == (1,)
        assert db.execute(f"SELECT count(*) FROM demand_times WHERE {cols[1]} = ''").fetchone() == (0,)
    # gaps.csv / gaps.geojson: the unreachable village's gap names no facility either
    with open(tmp_path / "out" / "gaps.csv", encoding="utf-8-sig", newline="") as fh:
        gaps = list(csv.DictReader(fh))
    assert [(g["pop"], g["nearest_facility"], g["nearest_facility_name"]) for g in gaps] == [("20", "", "")]
    feature = json.loads((tmp_path / "out" / "gaps.geojson").read_text(encoding="utf-8"))["features"][0]
    assert feature["properties"]["nearest_facility"] is None and feature["properties"]["nearest_facility_name"] is None


def _pb_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _pb(number: int, value: "int | bytes") -> bytes:
    """One protobuf field: a varint, or length-delimited bytes."""
    if isinstance(value, int):
        return _pb_varint(number << 3) + _pb_varint(value)
    return _pb_varint(number << 3 | 2) + _pb_varint(len(value)) + value


def _zigzag(v: int) -> int:
    return (v << 1) ^ (v >> 63)


def _pbf(path: Path, nodes: list[tuple[int, float, float]], ways: list[tuple[int, list[int], dict[str, str]]],
         dense: bool = True, node_tags: dict[int, dict[str, str]] | None = None) -> Path:
    """An OSM PBF file written from the format's specification (wiki.openstreetmap.org/wiki/PBF_Format),
    not with libosmium, which refuses to write tags longer than it reads."""
    import zlib

    strings = [b""]

    def sid(text: str) -> int:
        strings.append(text.encode())
        return len(strings) - 1

    node_tags = node_tags or {}
    groups = b""
    if dense:
        ids = lats = lons = kv = b""
        prev = (0, 0, 0)
        for nid, lon, lat in nodes:
            cur = (nid, round(lat * 1e7), round(lon * 1e7))
            ids, lats, lons = (ids + _pb_varint(_zigzag(cur[0] - prev[0])), lats + _pb_varint(_zigzag(cur[1] - prev[1])),
                               lons + _pb_varint(_zigzag(cur[2] - prev[2])))
            prev = cur
            for k, v in node_tags.get(nid, {}).items():
                kv += _pb_varint(sid(k)) + _pb_varint(sid(v))
            kv += _pb_varint(0)
        groups += _pb(2, _pb(2, _pb(1, ids) + _pb(8, lats) + _pb(9, lons) + _pb(10, kv)))
    else:
        body = b""
        for nid, lon, lat in nodes:
            tags = node_tags.get(nid, {})
            keys = b"".join(_pb_varint(sid(k)) for k in tags)
            vals = b"".join(_pb_varint(sid(v)) for v in tags.values())
            body += _pb(1, _pb(1, _zigzag(nid)) + _pb(2, keys) + _pb(3, vals) + _pb(8, _zigzag(round(lat * 1e7)))
                        + _pb(9, _zigzag(round(lon * 1e7))))
        groups += _pb(2, body)
    if ways:
        body = b""
        for wid, refs, tags in ways:
            keys = b"".join(_pb_varint(sid(k)) for k in tags)
            vals = b"".join(_pb_varint(sid(v)) for v in tags.values())
            deltas = b"".join(_pb_varint(_zigzag(r - p)) for r, p in zip(refs, [0, *refs[:-1]]))
            body += _pb(3, _pb(1, wid) + _pb(2, keys) + _pb(3, vals) + _pb(8, deltas))
        groups += _pb(2, body)
    block = _pb(1, b"".join(_pb(1, s) for s in strings)) + groups
    header = _pb(4, b"OsmSchema-V0.6") + _pb(4, b"DenseNodes")
    out = b""
    for kind, data in ((b"OSMHeader", header), (b"OSMData", block)):
        blob = _pb(2, len(data)) + _pb(3, zlib.compress(data))
        head = _pb(1, kind) + _pb(3, len(blob))
        out += len(head).to_bytes(4, "big") + head + blob
    path.write_bytes(out)
    return path


def _road_scenario(folder: Path, source: str) -> Path:
    """The hand county's scenario with another [network] source."""
    scenario = _hand_county(folder)
    scenario.write_text(scenario.read_text(encoding="utf-8").replace('source = "roads.osm"', f'source = "{source}"'),
                        encoding="utf-8")
    return scenario


NODES = [(1, *LONLAT.transform(X0, Y0)), (2, *LONLAT.transform(X0 + 1500, Y0)), (3, *LONLAT.transform(X0 + 3000, Y0))]


@pytest.mark.parametrize("dense", [True, False])
def test_an_overlong_tag_names_the_way_the_key_and_the_fix(tmp_path, capsys, dense):
    """libosmium refuses keys and values over 1,024 bytes (OSM: 255 characters) without naming
    the object; the message names it, in a PBF (dense or plain nodes) and in XML."""
    (tmp_path / "in").mkdir()
    _pbf(tmp_path / "in" / "roads.osm.pbf", NODES,
         [(77, [1, 2, 3], {"highway": "primary", "note": "路" * 400}), (78, [1, 2], {"highway": "service"})],
         dense=dense, node_tags={2: {"name": "ok"}})
    scenario = _road_scenario(tmp_path / "in", "roads.osm.pbf")
    assert main(["check", str(scenario)]) == 2
    err = " ".join(capsys.readouterr().out.split())
    assert "roads.osm.pbf" in err and "way 77: note=路路路" in err and "1,200 bytes" in err, err  # 400 × 3 bytes
    assert "way 78" not in err and "Shorten or delete these tags" in err and "Traceback" not in err
    # the same way in XML, value with an entity: its length is counted unescaped, as libosmium does
    xml = _osm_xml([(5, [(0, 0), (3000, 0)], {"highway": "primary", "description": "&amp;" * 1025})])
    scenario = _road_scenario(tmp_path / "in", "long.osm")
    (tmp_path / "in" / "long.osm").write_text(xml, encoding="utf-8")
    assert main(["check", str(scenario)]) == 2
    err = " ".join(capsys.readouterr().out.split())
    assert "way 5: description=&&&" in err and "1,025 bytes" in err, err


def _copy_as(src: Path, dest: Path, transform=lambda b: b) -> Path:
    dest.write_bytes(transform(src.read_bytes()))
    return dest


def test_a_file_whose_name_lies_about_its_format_is_read_by_its_content_with_a_warning(tmp_path, capsys):
    import bz2
    import gzip

    _hand_county(tmp_path / "in")
    xml = tmp_path / "in" / "roads.osm"
    _pbf(tmp_path / "in" / "real.osm.pbf", NODES, [(1, [1, 2, 3], {"highway": "primary"})])
    reference = {}
    for src in (xml, tmp_path / "in" / "real.osm.pbf"):
        assert main(["check", str(_road_scenario(tmp_path / f"ref-{src.name}", f"../in/{src.name}"))]) == 0
        reference[src] = next(" ".join(line.split()) for line in capsys.readouterr().out.splitlines()
                              if line.startswith("road network:"))
    cases = {"pbf_named.osm": (tmp_path / "in" / "real.osm.pbf", lambda b: b, "is OSM PBF, not OSM XML",
                               "rename it to pbf_named.osm.pbf"),
             "xml_named.pbf": (xml, lambda b: b, "is OSM XML, not OSM PBF", "rename it to xml_named.osm"),
             "gz.osm": (xml, gzip.compress, "is gzip-compressed OSM XML", "gzip -dc gz.osm > gz_unpacked.osm"),
             "bz.osm": (xml, bz2.compress, "is bzip2-compressed OSM XML", "bzip2 -dc bz.osm > bz_unpacked.osm"),
             "bom.osm": (xml, lambda b: b"\xef\xbb\xbf" + b, None, None)}
    for name, (src, transform, what, fix) in cases.items():
        _copy_as(src, tmp_path / "in" / name, transform)
        scenario = _road_scenario(tmp_path / name, f"../in/{name}")
        assert main(["check", str(scenario)]) == 0, name
        out = " ".join(capsys.readouterr().out.split())
        assert reference[src] in out, (name, out)  # the same network as the true file gives
        if what:
            assert what in out and fix in out, (name, out)
        else:
            assert "as its name says" not in out


@pytest.mark.parametrize("content, what, fix", [
    (b"<html><head><title>504 Gateway Timeout</title></head></html>", "a web page (HTML)", "open it in a browser"),
    (b'{"version": 0.6, "generator": "Overpass API", "elements": []}', "Overpass JSON", "[out:xml];"),
    (b"<?xml version='1.0'?>\n<!-- x -->\n<osmChange version='0.6'><create/></osmChange>", "an OSM change file",
     "download an extract"),
    (b"<?xml version='1.0'?><graphml xmlns='http://graphml.graphdrawing.org/xmlns'></graphml>", "a GraphML graph",
     "rename it to roads.graphml"),
    (b"PK\x03\x04rest of a zip", "a zip archive", "unzip it"),
    (__import__("gzip").compress(b"\x00\x00\x00\x0d\x0a\x09OSMHeader"), "gzip-compressed data: an OSM PBF file",
     "decompress it"),
    (b"\x00\x01\x02garbage", "a file of another kind", "give an OpenStreetMap extract"),
    ("<?xml version='1.0' encoding='GBK'?><osm version='0.6'><node id='1' lat='1' lon='1'><tag k='name' v='人民路'/>"
     "</node></osm>".encode("gbk"), "XML in the GBK encoding; libosmium reads OSM PBF and OSM XML in UTF-8",
     "iconv -f GBK -t UTF-8 roads.osm > roads_utf8.osm"),
    ("<?xml version='1.0'?><osm version='0.6'></osm>".encode("utf-16"), "text in UTF-16",
     "iconv -f UTF-16 -t UTF-8 roads.osm"),
])
def test_a_file_that_is_no_osm_data_says_what_it_is_and_the_fix(tmp_path, capsys, content, what, fix):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "roads.osm").write_bytes(content)
    scenario = _road_scenario(tmp_path / "s", "../in/roads.osm")
    assert main(["check", str(scenario)]) == 2
    err = " ".join(capsys.readouterr().out.split())
    assert "roads.osm" in err and what in err and fix in err and "XML parsing error" not in err, err


def test_a_scenario_saved_with_a_bom_reads_and_a_windows_path_says_how_to_write_it(tmp_path, capsys):
    scenario = _hand_county(tmp_path / "in")
    text = scenario.read_text(encoding="utf-8")
    scenario.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))  # Windows Notepad's UTF-8
    assert main(["check", str(scenario)]) == 0
    assert "road network: 4 nodes, 2 road segments, 6.0 km" in " ".join(capsys.readouterr().out.split())
    scenario.write_text(text.replace('source = "roads.osm"', 'source = "C:\\data\\roads.osm"'), encoding="utf-8")
    assert main(["check", str(scenario)]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert "scenario.toml is not valid TOML" in out and "line 6" in out, out
    assert "('C:\\data\\roads.osm')" in out and '"C:/data/roads.osm"' in out, out
    # written either way, it is a path (not found here: named as such, not a TOML error)
    scenario.write_text(text.replace('source = "roads.osm"', "source = 'C:\\data\\roads.osm'"), encoding="utf-8")
    assert main(["check", str(scenario)]) == 2
    assert "road network not found" in capsys.readouterr().out


def test_a_region_file_with_a_bom_is_read_like_one_without(tmp_path):
    from geoaccess.region.config import load_region

    (tmp_path / "r.toml").write_bytes(b"\xef\xbb\xbf[scenario]\nname = 'x'\n")
    with pytest.raises(InputError, match=r"has no \[region\] section"):  # past the TOML: the BOM was read
        load_region(tmp_path / "r.toml")
    (tmp_path / "r.toml").write_text("[region]\nunits = \"D:\\counties.geojson\"\n", encoding="utf-8")
    with pytest.raises(InputError, match="region file r.toml is not valid TOML.*forward slashes"):
        load_region(tmp_path / "r.toml")


def test_a_road_running_out_of_the_extract_is_cut_at_the_gap_not_joined_across_it(tmp_path, capsys):
    """Way 5 runs 1 → 9 → 2 → 3 → 8 with nodes 9 and 8 not in the file (a "simple" bbox
    extract): the road between 1 and 2 is unknown, so only 2 → 3 is a road (was: a straight
    1 → 2 → 3 road across the gap). Way 6 has one node in the file: left out. Both are said."""
    from pyproj import Geod

    from geoaccess.network import network_from_file
    from geoaccess.osm import _read_osm

    path = _pbf(tmp_path / "cut.osm.pbf", NODES, [(5, [1, 9, 2, 3, 8], {"highway": "primary"}),
                                                   (6, [3, 7], {"highway": "service"})])
    *_, missing = _read_osm(path)
    assert missing["after_gap"].tolist() == [False, True, False] and missing["ways_cut"] == 1
    assert missing["nodes_missing"] == 2 and missing["ways_lost"] == 1
    with pytest.warns(UserWarning, match=r"1 road lacks 2 nodes .* cut where nodes are missing.*"
                                         r"1 road has fewer than two of its nodes in the file"):
        net = network_from_file(path)
    edges = net.edges
    (lon2, lat2), (lon3, lat3) = ([round(v * 1e7) / 1e7 for v in n[1:]] for n in NODES[1:])  # as the PBF stores them
    by_hand = Geod(ellps="WGS84").inv(lon2, lat2, lon3, lat3)[2]  # node 2 → node 3, metres
    assert len(edges) == 1 and edges["osm_way"].tolist() == [5]
    assert edges["length_m"].iloc[0] == pytest.approx(by_hand, rel=1e-9)
    # a file of highway ways without their nodes: said so, with the fix
    (tmp_path / "in").mkdir()
    _pbf(tmp_path / "in" / "bare.osm.pbf", [(1, *NODES[0][1:])],
         [(5, [8, 9], {"highway": "primary"})])
    scenario = _road_scenario(tmp_path / "in", "bare.osm.pbf")
    assert main(["check", str(scenario)]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert "bare.osm.pbf holds 1 way with a highway tag but not its nodes" in out and "complete_ways" in out, out


@pytest.mark.parametrize("name, damage, said", [
    ("cut.osm.pbf", lambda b: b[:-20], "it ends early (PBF error: unexpected EOF)"),
    ("cut.osm", lambda b: b[: len(b) // 2], "it ends early, as an interrupted download does"),
    ("bad.osm", lambda b: b.replace(b"<tag k='highway'", b"<tag k='highway' k='x'"),
     "duplicate attribute; the file is not well-formed OSM XML there: correct that line"),
])
def test_a_cut_short_or_malformed_file_says_so_with_the_fix(tmp_path, capsys, name, damage, said):
    scenario = _road_scenario(tmp_path / "in", name)
    source = (_pbf(tmp_path / "whole.osm.pbf", NODES, [(1, [1, 2, 3], {"highway": "primary"})]).read_bytes()
              if name.endswith(".pbf") else (tmp_path / "in" / "roads.osm").read_bytes())
    (tmp_path / "in" / name).write_bytes(damage(source))
    assert main(["check", str(scenario)]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert f"could not read {name}: " in out and said in out and "RuntimeError" not in out, out


def test_nodes_the_file_holds_but_libosmium_cannot_place_are_not_taken_for_an_extracts_edge(tmp_path, capsys):
    """Nodes after the ways (an unsorted file) and negative ids (drawn in JOSM, not uploaded)
    are in the file: the roads must not be cut or dropped as if they ran off the extract."""
    scenario = _road_scenario(tmp_path / "in", "edited.osm")
    lines = (tmp_path / "in" / "roads.osm").read_text(encoding="utf-8").split("\n")
    nodes = [line for line in lines if line.startswith("<node")]
    others = [line for line in lines if not line.startswith("<node")]
    (tmp_path / "in" / "edited.osm").write_text("\n".join(others[:-1] + nodes + others[-1:]), encoding="utf-8")
    assert main(["check", str(scenario)]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert "could not read edited.osm: 4 nodes its roads use come after those roads" in out
    assert "osmium sort edited.osm" in out, out
    text = "\n".join(lines).replace("id='4'", "id='-4'").replace("ref='4'", "ref='-4'")  # a road's end node
    (tmp_path / "in" / "edited.osm").write_text(text, encoding="utf-8")
    assert main(["check", str(scenario)]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert "1 node of its roads has a negative id (node -4 …)" in out and "osmium renumber edited.osm" in out, out


@pytest.mark.parametrize("edit, said", [
    (("[targets]\nuse = [\"health_circle_30min\"]", "[targets]\nuse = []"), "[targets] use is empty"),
    (('crs = "EPSG:32650"', 'crs = "EPSG:99999"'), "[scenario] crs 'EPSG:99999' is no coordinate system pyproj knows"),
    (('crs = "EPSG:32650"', 'crs = "EPSG:4326"'), "[scenario] crs must be projected (metres); 'EPSG:4326' is in degrees"),
])
def test_scenario_keys_that_used_to_fail_late_are_named_at_load(tmp_path, capsys, edit, said):
    """An empty target list gave a traceback (max() of nothing); an unknown or geographic
    [scenario] crs was reported as the road network's fault."""
    scenario = _hand_county(tmp_path / "in")
    scenario.write_text(scenario.read_text(encoding="utf-8").replace(*edit), encoding="utf-8")
    assert main(["check", str(scenario)]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert said in out and "road network" not in out and "Traceback" not in out, out


@pytest.mark.parametrize("ways, said", [
    ([], "holds no roads (no ways with a highway tag)"),
    ([(5, [1, 2], {"building": "yes"})], "holds no roads (no ways with a highway tag)"),
    ([(5, [], {"highway": "primary"})], "holds 1 way with a highway tag but not its nodes"),
])
def test_a_file_without_usable_road_ways_says_which_case(tmp_path, capsys, ways, said):
    (tmp_path / "in").mkdir()
    _pbf(tmp_path / "in" / "few.osm.pbf", NODES, ways)  # nodes only, or ways that are no roads / have no nodes
    assert main(["check", str(_road_scenario(tmp_path / "in", "few.osm.pbf"))]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert f"few.osm.pbf {said}" in out and "Traceback" not in out, out
