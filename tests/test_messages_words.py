"""Messages about road files that a county planner reads: counts that agree with their nouns,
the encoding of an OSM file named with its fix, advice for class values that say "not built",
and the rows `geoaccess check` drops named as rows without a geometry are."""

import bz2
import gzip
import warnings

import geopandas as gpd
import numpy as np
import pytest

from test_roadclasses import CRS, _check_case, _line  # noqa: E402  (tests/ is on sys.path under pytest)

from geoaccess.cli import main
from geoaccess.errors import InputError, counted
from geoaccess.network import graph_from_lines, network_from_file, network_from_graph
from geoaccess.osm import network_from_osm
from geoaccess.roadclasses import check_classes, not_built_class, road_attributes
from geoaccess.speedlimits import RoadDataWarning


def _osm(nodes, ways, declaration=True):
    """OSM XML text: nodes as (id, lon, lat), ways as (id, [node ids], {tags})."""
    xml = ["<?xml version='1.0' encoding='UTF-8'?>"] if declaration else []
    xml.append("<osm version='0.6' generator='test'>")
    xml += [f"  <node id='{i}' lat='{lat}' lon='{lon}'/>" for i, lon, lat in nodes]
    for wid, refs, tags in ways:
        xml.append(f"  <way id='{wid}'>" + "".join(f"<nd ref='{r}'/>" for r in refs))
        xml += [f"    <tag k='{k}' v='{v}'/>" for k, v in tags.items()]
        xml.append("  </way>")
    xml.append("</osm>")
    return "\n".join(xml) + "\n"


def test_counted_agrees_with_its_number():
    assert [counted(n, "road") for n in (0, 1, 2, 1200)] == ["0 roads", "1 road", "2 roads", "1,200 roads"]
    assert counted(1, "facility", "facilities") + "; " + counted(3, "facility", "facilities") == "1 facility; 3 facilities"


# The name sits at a known line; padding puts it past the first 1 MiB chunk read (line counted across chunks).
@pytest.mark.parametrize("declaration, padding, packed", [(False, 0, False), (True, 0, False), (False, 25_000, False),
                                                           (False, 0, True)])
def test_gbk_osm_xml_without_its_encoding_declared_gets_the_iconv_fix(tmp_path, declaration, padding, packed):
    nodes = [(i + 1, 117.0 + i * 1e-4, 33.0) for i in range(padding + 3)]
    text = _osm(nodes, [(1, [1, 2, 3], {"highway": "residential", "name": "淮河路"})], declaration)
    line = next(i for i, t in enumerate(text.split("\n"), 1) if "淮河路" in t)  # counted apart from geoaccess
    name = "roads.osm.gz" if packed else "roads.osm"
    data = text.encode("gbk")
    (tmp_path / name).write_bytes(gzip.compress(data) if packed else data)
    assert padding == 0 or data.index("淮河路".encode("gbk")) > 2**20
    with pytest.raises(InputError) as err:
        network_from_osm(tmp_path / name)
    message = str(err.value)
    assert f"could not read {name}: its text is not UTF-8 at line {line:,}, which reads as GBK" in message
    assert "淮河路" in message and f"iconv -f GBK -t UTF-8 {name} > roads_utf8.osm" in message
    # the fix works: the same text in UTF-8 reads
    (tmp_path / "roads_utf8.osm").write_text(text, encoding="utf-8")
    assert network_from_osm(tmp_path / "roads_utf8.osm").n_edges == 1


@pytest.mark.parametrize("name, pack", [("roads.osm.gz", gzip.compress), ("roads.osm.bz2", bz2.compress)])
def test_compressed_xml_named_so_reads_without_a_rename_warning(tmp_path, name, pack):
    text = _osm([(1, 117, 33), (2, 117.001, 33)], [(1, [1, 2], {"highway": "primary"})])
    (tmp_path / name).write_bytes(pack(text.encode()))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RoadDataWarning)
        assert network_from_osm(tmp_path / name).n_edges == 1


def test_osm_xml_that_is_not_well_formed_in_utf8_keeps_its_line_fix(tmp_path):
    (tmp_path / "roads.osm").write_text(_osm([(1, 117, 33), (2, 117.001, 33)], [(1, [1, 2], {"highway": "primary"})])
                                        .replace("<way id='1'>", "<way id='1' <"), encoding="utf-8")
    with pytest.raises(InputError, match="not well-formed OSM XML there: correct that line"):
        network_from_osm(tmp_path / "roads.osm")


def test_an_html_page_is_named_in_one_clean_sentence(tmp_path):
    (tmp_path / "roads.osm.pbf").write_text("<!DOCTYPE html><html><body>429 Too Many Requests</body></html>")
    with pytest.raises(InputError) as err:
        network_from_osm(tmp_path / "roads.osm.pbf")
    assert ",," not in str(err.value)
    assert "roads.osm.pbf is a web page (HTML), often the error page of a failed download, not OpenStreetMap" \
        in str(err.value)


def test_an_empty_file_is_named_by_its_name_with_the_fix(tmp_path):
    (tmp_path / "empty.osm").write_bytes(b"")
    with pytest.raises(InputError) as err:
        network_from_osm(tmp_path / "empty.osm")
    assert str(err.value).startswith("road network empty.osm is empty (0 bytes)")
    assert str(tmp_path) not in str(err.value) and "download or copy it again" in str(err.value)
    with pytest.raises(InputError) as err:  # through the CLI: the file check before any reader
        network_from_file(tmp_path / "empty.osm")
    assert str(err.value).startswith("road network empty.osm is empty (0 bytes)")
    assert str(tmp_path) not in str(err.value) and "download or copy it again" in str(err.value)


@pytest.mark.parametrize("n", [1, 2])
def test_roads_cut_at_the_extract_edge_are_counted_in_agreeing_words(tmp_path, n):
    # n roads each lack one middle node (cut), and n roads keep only one node (left out)
    nodes, ways = [], []
    for k in range(n):
        base = 10 * k
        nodes += [(base + i, 117 + k * 0.01 + i * 1e-3, 33) for i in (1, 2, 4, 5, 7)]
        ways.append((100 + k, [base + 1, base + 2, base + 3, base + 4, base + 5], {"highway": "residential"}))  # base+3 absent
        ways.append((200 + k, [base + 7, base + 8], {"highway": "residential"}))  # only base+7 present
    (tmp_path / "holes.osm").write_text(_osm(nodes, ways), encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        network_from_osm(tmp_path / "holes.osm")
    said = " ".join(str(w.message) for w in caught if issubclass(w.category, RoadDataWarning))
    if n == 1:
        assert "1 road lacks 1 node (it runs out of the extract): it is cut where" in said
        assert "1 road has fewer than two of its nodes in the file and is left out" in said
    else:
        assert "2 roads lack 2 nodes (they run out of the extract): each is cut where" in said
        assert "2 roads have fewer than two of their nodes in the file and are left out" in said


def test_one_negative_id_node_is_one_node(tmp_path):
    text = _osm([(-1, 117, 33), (2, 117.001, 33)], [(1, [-1, 2], {"highway": "primary"})])
    (tmp_path / "josm.osm").write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=r"1 node of its roads has a negative id \(node -1 …\), .* cannot place it\. "
                                         r"Give it a positive id first"):
        network_from_osm(tmp_path / "josm.osm")


@pytest.mark.parametrize("value, cls", [("在建", "construction"), ("县道(在建)", "construction"), ("施工", "construction"),
                                        ("规划道路", "proposed"), ("拟建", "proposed"), ("废弃", "abandoned"),
                                        ("封闭", "disused"), ("Under Construction", "construction"), ("县道", None),
                                        ("乡村道路", None)])
def test_values_that_say_not_built_are_advised_a_class_dropped_as_not_built(value, cls):
    assert not_built_class(value) == cls
    if cls:
        assert check_classes({value: cls}) == {value.lower(): cls}  # the advice is a mapping the scenario accepts


def test_the_unmapped_class_warning_advises_construction_not_tertiary_for_在建():
    lines = gpd.GeoDataFrame({"等级": ["在建", "在建", "规划", "乡村道路"]}, geometry=[_line((0, 0), (1, 0))] * 4, crs=CRS)
    with pytest.warns(RoadDataWarning) as caught:
        road_attributes(lines, np.full(4, 1000.0), class_column="等级")
    said = str(caught[0].message)
    assert '"在建" = "construction", "规划" = "proposed"' in said
    assert '"乡村道路" = "tertiary"' in said and '"在建" = "tertiary"' not in said
    assert "4 of 4 roads (4.0 km) have a 等级 value" in said
    only = gpd.GeoDataFrame({"等级": ["在建"]}, geometry=[_line((0, 0), (1, 0))], crs=CRS)
    with pytest.warns(RoadDataWarning) as caught:
        road_attributes(only, np.array([1000.0]), class_column="等级")
    said = str(caught[0].message)
    assert "1 of 1 road (1.0 km) has a 等级 value" in said and "is driven as" in said
    assert '"在建" = "construction"' in said and "tertiary" not in said.split("classes:")[0]


def test_check_names_the_rows_a_class_mapping_drops(tmp_path, capsys):
    values = ["县道"] * 14
    dropped_rows = [1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]  # 12 rows: ten shown, "and 2 more"
    for r in dropped_rows:
        values[r] = "在建" if r % 2 else "规划"
    roads = gpd.GeoDataFrame({"等级": values}, geometry=[_line((i * 1000, 0), (i * 1000 + 1000, 0)) for i in range(14)],
                             crs=CRS)
    scenario = _check_case(tmp_path, roads, '[network.classes]\n"在建" = "construction"\n"规划" = "proposed"')
    assert main(["check", str(scenario), "--out", str(tmp_path / "o")]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    shown = ", ".join(map(str, dropped_rows[:10]))
    assert f"not built or not for traffic 12 ways, 12.0 km (0-based rows in file order: {shown} and 2 more)" in printed
    # the network kept exactly the other rows (independently: their lines' ends)
    kept = network_from_graph(graph_from_lines(roads.assign(等级=["县道" if v == "县道" else "construction"
                                                                  for v in values]), class_column="等级"), crs=CRS)
    assert kept.n_edges == 2
