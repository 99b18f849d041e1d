"""Roads files with their own vocabulary: class, one-way and speed-limit columns, the
built-in Chinese grades, [network.classes], and a run end to end from the CLI."""

import json
import tomllib

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geoaccess._paths import data_path
from geoaccess.cli import main
from geoaccess.errors import InputError
from geoaccess.network import edge_kmh, graph_from_lines, load_speeds, network_from_file, network_from_graph
from geoaccess.roadclasses import builtin_classes, design_speeds
from geoaccess.routing import compile_mode, nearest_facility, place_points
from geoaccess.scenario import scenario_from_dict
from geoaccess.speedlimits import RoadDataWarning

from graphs import FLAT

CRS = "EPSG:32650"  # UTM 50N: coordinates below are metres on the map (lengths are geodesic: 0.04 % more here)
X0, Y0 = 500_000.0, 3_700_000.0

with open(data_path("speeds.toml"), "rb") as _fh:
    SPEEDS = tomllib.load(_fh)


def _line(*xy):
    return shapely.LineString([(X0 + x, Y0 + y) for x, y in xy])


def _geodesic_m(*xy):
    """Geodesic metres (WGS84) along ``_line(*xy)``: its vertices taken to lon/lat by pyproj and
    measured with pyproj's Geod, apart from geoaccess (roads files have geodesic lengths in any CRS)."""
    from pyproj import Geod, Transformer

    x, y = np.array([(X0 + a, Y0 + b) for a, b in xy], dtype=float).T
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    return Geod(ellps="WGS84").line_length(lon, lat)


def _bureau_roads():
    """A 交通局-style layer: 等级 with administrative and technical grades, one unknown value."""
    return gpd.GeoDataFrame(
        {"名称": ["G205", "S312", "X001", "Y002", "村村通", "乡村道路", "乡村道路", "一级", "等外公路"],
         "等级": ["国道", " 省道 ", "县道", "乡道", "村道", "乡村道路", "乡村道路", "一级", "等外公路"],
         "单行": ["否", "双向", "单向", "反向", "", "否", "否", "否", "否"],
         "限速": [80, None, None, 40, None, None, None, None, None]},
        geometry=[_line((0, 0), (1000, 0)), _line((1000, 0), (2000, 0)), _line((2000, 0), (3000, 0)),
                  _line((3000, 0), (4000, 0)), _line((4000, 0), (5000, 0)),
                  _line((0, 0), (0, 1500)), _line((0, 1500), (0, 2500), (300, 2900)),  # 1500 m; 1000 + 500 m
                  _line((5000, 0), (6000, 0)), _line((6000, 0), (7000, 0))],
        crs=CRS)


def _classes_by_name(graph):
    return {d["name"]: d["highway"] for _, _, d in graph.edges(data=True)}


def _write(roads, folder, kind):
    if kind == "shp":
        path = folder / "roads.shp"
        roads.to_file(path, engine="pyogrio", encoding="gbk")
    elif kind == "shp-gbk-no-cpg":
        path = folder / "roads.shp"
        roads.to_file(path, engine="pyogrio", encoding="gbk")
        path.with_suffix(".cpg").unlink()  # Chinese GIS software often writes none
    else:
        path = folder / "roads.gpkg"
        roads.to_file(path, engine="pyogrio")
    return path


EXPECTED = {"G205": "trunk", "S312": "primary", "X001": "secondary", "Y002": "tertiary", "村村通": "unclassified",
            "乡村道路": "unclassified", "一级": "trunk", "等外公路": "track"}


@pytest.mark.parametrize("kind", ["shp", "shp-gbk-no-cpg", "gpkg"])
def test_bureau_file_classes_are_mapped_and_unknown_values_warned(tmp_path, kind):
    path = _write(_bureau_roads(), tmp_path, kind)
    with pytest.warns(RoadDataWarning) as record:
        net = network_from_file(path, class_column="等级", oneway_column="单行", maxspeed_column="限速")
    got = net.edges
    # every edge's class, by the road it came from (edges keep geometry; match by midpoint)
    source = _bureau_roads()
    mid = shapely.line_interpolate_point(got.geometry.to_numpy(), 0.5, normalized=True)
    which = source.sindex.nearest(mid, return_all=False)[1]
    assert got["highway"].tolist() == [EXPECTED[source["名称"][i]] for i in which]
    messages = [str(w.message) for w in record]
    unmapped = [m for m in messages if "not a known road class" in m]
    assert len(unmapped) == 1
    # by hand: 乡村道路 is two roads, 1500 m + (1000 m + 500 m) = 3.0 km, of 9 roads
    assert "'乡村道路': 2 roads, 3.0 km" in unmapped[0] and "2 of 9 roads (3.0 km)" in unmapped[0]
    assert "[network.classes]" in unmapped[0] and path.name in unmapped[0]
    # one-way in Chinese: 单向 keeps the digitised direction, 反向 the opposite
    one = got[got["oneway"]]
    assert len(one) == 2
    # 限速 80 on 国道, 40 on 乡道; others NaN
    limits = dict(zip([source["名称"][i] for i in which], got["maxspeed_kmh"]))
    assert limits["G205"] == 80 and limits["Y002"] == 40 and np.isnan(limits["S312"])


def test_reverse_one_way_is_open_against_the_digitised_direction():
    roads = _bureau_roads()
    with pytest.warns(RoadDataWarning):
        g = graph_from_lines(roads, class_column="等级", oneway_column="单行")
    by_x = {}
    for u, v, d in g.edges(data=True):
        by_x.setdefault(d["highway"], []).append(g.nodes[u]["x"] < g.nodes[v]["x"])
    # 县道 (单向, 2000→3000 m): only west→east; 乡道 (反向, 3000→4000 m): only east→west
    assert by_x["secondary"] == [True] and by_x["tertiary"] == [False]
    assert sorted(by_x["primary"]) == [False, True]  # 双向: both ways


def test_network_classes_table_maps_other_values(tmp_path):
    path = _write(_bureau_roads(), tmp_path, "gpkg")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RoadDataWarning)  # nothing left unmapped: no warning
        net = network_from_file(path, class_column="等级", classes={"乡村道路": "residential"})
    assert (net.edges["highway"] == "residential").sum() == 2


def test_no_class_column_warns_one_speed_and_names_the_text_columns():
    roads = _bureau_roads()
    with pytest.warns(RoadDataWarning, match="no road class column") as record:
        g = graph_from_lines(roads)
    assert {d["highway"] for _, _, d in g.edges(data=True)} == {"unclassified"}
    message = str(record[0].message)
    assert f"drive {SPEEDS['drive']['kmh']['unclassified']:g} km/h" in message
    assert '[network] class = "等级"' in message
    # the class column is recognisable from its values: 7 of 9 are known grades
    assert "等级 (78% known classes)" in message and "名称 (22% known classes)" in message  # 7 and 2 of 9


def test_named_column_missing_is_an_error_listing_the_columns():
    with pytest.raises(InputError, match=r"no column '道路等级'.*名称, 等级, 单行, 限速"):
        graph_from_lines(_bureau_roads(), class_column="道路等级")


def test_full_width_and_spaces_and_english_and_osm_values():
    values = ["Ｇ", "county road", "  National Road ", "motorway", "县 道", "ＧＢ", "Ｓ"]
    roads = gpd.GeoDataFrame({"cls": values},
                             geometry=[_line((i * 100, 0), (i * 100 + 100, 0)) for i in range(len(values))], crs=CRS)
    with pytest.warns(RoadDataWarning, match=r"1 of 7 roads \(0.1 km\).*'ＧＢ': 1 road, 0.1 km\. "):
        net = network_from_graph(graph_from_lines(roads, class_column="cls"), crs=CRS)
    got = net.edges.assign(x=net.edges.geometry.bounds["minx"]).sort_values("x")["highway"].tolist()
    assert got == ["trunk", "secondary", "trunk", "motorway", "secondary", "unclassified", "primary"]


def test_technical_grades_drive_within_their_design_speed():
    # JTG B01-2014 design speeds (km/h), written out here independently of the toml
    jtg = {"高速公路": (120, 100, 80), "一级公路": (100, 80, 60), "二级公路": (80, 60), "三级公路": (40, 30),
           "四级公路": (30, 20)}
    classes, design = builtin_classes(), design_speeds()
    for grade, speeds in jtg.items():
        assert design[grade] == speeds and design[grade[:2]] == speeds  # 一级 = 一级公路
        kmh = SPEEDS["drive"]["kmh"][classes[grade]]
        assert min(speeds) <= kmh <= max(speeds), grade
    assert "等外公路" not in design and "国道" not in design  # no design speed: class speed only
    for grade, cls in {"国道": "trunk", "省道": "primary", "县道": "secondary", "乡道": "tertiary", "村道": "unclassified",
                       "专用公路": "service", "g": "trunk", "x": "secondary", "y": "tertiary", "c": "unclassified",
                       "z": "service", "等外": "track", "expressway": "motorway", "village road": "unclassified"}.items():
        assert classes[grade] == cls, grade


def test_design_speed_option_fills_rows_without_a_limit():
    roads = gpd.GeoDataFrame({"等级": ["二级公路", "二级公路", "四级", "县道"], "限速": [70, None, None, None]},
                             geometry=[_line((i * 100, 0), (i * 100 + 100, 0)) for i in range(4)], crs=CRS)
    for choice, expected in (("lowest", [70, 60, 20]), ("highest", [70, 80, 30])):
        net = network_from_graph(graph_from_lines(roads, maxspeed_column="限速", class_column="等级",
                                                  design_speed=choice), crs=CRS)
        by_x = net.edges.sort_values("length_m").assign(x=net.edges.geometry.bounds["minx"]).sort_values("x")
        assert by_x["maxspeed_kmh"].tolist()[:3] == expected
        assert np.isnan(by_x["maxspeed_kmh"].iloc[3])  # 县道: administrative, no design speed
    net = network_from_graph(graph_from_lines(roads, class_column="等级"), crs=CRS)
    assert np.isnan(net.edges["maxspeed_kmh"]).all()  # default "none": class speeds


def test_mapped_class_changes_the_travel_time_computed_by_hand():
    # From A (0, 0) to B (4000, 0): a direct 4 km 村道, or a 7 km 国道 detour (1.5 + 4 + 1.5 km),
    # drawn where a map metre is a geodesic metre (tests/graphs.py's FLAT, its origin at X0, Y0)
    flat = FLAT.replace("+x_0=0 +y_0=0", f"+x_0={X0:.0f} +y_0={Y0:.0f}")
    roads = gpd.GeoDataFrame({"等级": ["村道", "国道"]},
                             geometry=[_line((0, 0), (4000, 0)), _line((0, 0), (0, 1500), (4000, 1500), (4000, 0))],
                             crs=flat)
    a, b = np.array([[X0, Y0]]), np.array([[X0 + 4000, Y0]])
    drive = SPEEDS["drive"]["kmh"]
    minutes = {}
    for label, kwargs in (("mapped", {"class_column": "等级"}), ("unmapped", {})):
        with pytest.warns(RoadDataWarning) if label == "unmapped" else _nothing():
            net = network_from_graph(graph_from_lines(roads, **kwargs), crs=flat)
        graph = compile_mode(net, "drive", load_speeds())
        minutes[label] = nearest_facility(graph, place_points(graph, a), place_points(graph, b)).minutes[0]
    # by hand: min(4 km at 村道 = unclassified speed, 7 km at 国道 = trunk speed), no congestion on either
    assert "trunk" not in SPEEDS["drive"]["congestion"] and "unclassified" not in SPEEDS["drive"]["congestion"]
    assert minutes["mapped"] == pytest.approx(min(4 / drive["unclassified"], 7 / drive["trunk"]) * 60)  # 5.25 min
    assert minutes["unmapped"] == pytest.approx(4 / drive["unclassified"] * 60)  # 8 min: both roads unclassified


class _nothing:
    def __enter__(self):
        import warnings

        self._c = warnings.catch_warnings()
        self._c.__enter__()
        warnings.simplefilter("error", RoadDataWarning)

    def __exit__(self, *exc):
        return self._c.__exit__(*exc)


def test_maxspeed_column_sets_the_edge_speed():
    roads = _bureau_roads()
    with pytest.warns(RoadDataWarning):
        net = network_from_graph(graph_from_lines(roads, class_column="等级", maxspeed_column="限速"), crs=CRS)
    kmh = edge_kmh(net, load_speeds()["drive"])
    limited = net.edges["maxspeed_kmh"].to_numpy() == 80
    assert limited.sum() == 1 and kmh[limited][0] == 80  # trunk: no congestion factor


BASE = {"scenario": {"name": "t"}, "network": {"source": "roads.gpkg"}, "facilities": {"path": "f.csv"},
        "population": {"path": "p.csv"}}


def _scenario(**network):
    raw = json.loads(json.dumps(BASE))
    raw["network"].update(network)
    return scenario_from_dict(raw)


def test_scenario_keys_are_checked_at_the_door():
    s = _scenario(**{"class": "等级", "oneway": "单行", "maxspeed": "限速", "classes": {"乡村道路": "unclassified"}})
    assert s.network["class"] == "等级" and s.network["classes"] == {"乡村道路": "unclassified"}
    assert _scenario().network["class"] is None and _scenario().network["design_speed"] == "none"
    with pytest.raises(InputError, match=r"\[network.classes\] maps '乡村道路' to 'dirt'.*unclassified"):
        _scenario(classes={"乡村道路": "dirt"})
    with pytest.raises(InputError, match=r"\[network\] class must be text"):
        _scenario(**{"class": 3})
    with pytest.raises(InputError, match="design_speed must be one of none, lowest, highest"):
        _scenario(design_speed="fast")
    with pytest.raises(InputError, match=r"\[network\] class name columns of a roads file.*roads.osm.pbf"):
        _scenario(source="roads.osm.pbf", **{"class": "等级"})
    # a class the scenario gives a speed is allowed
    s = _scenario(classes={"机耕路": "farm"}, speeds={"drive": {"kmh": {"farm": 12}}})
    assert s.network["classes"] == {"机耕路": "farm"}


def _case(folder, with_class: bool):
    """Two roads from the clinic at A: a direct 4 km 村道 and a 7 km 国道 detour to B, plus a
    0.5 km spur of an unknown class; 100 people at B; a 6-minute drive target."""
    roads = gpd.GeoDataFrame(
        {"等级": ["村道", "国道", "乡村道路"], "名称": ["a", "b", "c"]},
        geometry=[_line((0, 0), (4000, 0)), _line((0, 0), (0, 1500), (4000, 1500), (4000, 0)),
                  _line((4000, 0), (4000, -500))], crs=CRS)
    roads.to_file(folder / "roads.shp", engine="pyogrio", encoding="gbk")
    pd.DataFrame({"x": [X0], "y": [Y0], "type": ["clinic"], "name": ["卫生院"]}).to_csv(folder / "f.csv", index=False)
    pd.DataFrame({"x": [X0 + 4000], "y": [Y0], "pop": [100]}).to_csv(folder / "p.csv", index=False)
    text = f"""
[scenario]
name = "roads-{with_class}"
[network]
source = "roads.shp"
{'class = "等级"' if with_class else ''}
[facilities]
path = "f.csv"
x = "x"
y = "y"
crs = "{CRS}"
[population]
path = "p.csv"
x = "x"
y = "y"
crs = "{CRS}"
[targets]
use = []
[[targets.define]]
id = "clinic_6min_drive"
name_zh = "6分钟车程"
name_en = "Clinic within 6 min by car"
facility_types = ["clinic"]
mode = "drive"
direction = "to_facility"
threshold_min = 6
population = "all"
metric = "share_within"
goal = 0.9
"""
    (folder / f"s{with_class}.toml").write_text(text, encoding="utf-8")
    return folder / f"s{with_class}.toml"


def test_cli_run_with_a_class_column(tmp_path):
    drive = SPEEDS["drive"]["kmh"]
    results = {}
    for with_class in (True, False):
        scenario = _case(tmp_path, with_class)
        out = tmp_path / f"out{with_class}"
        assert main(["run", str(scenario), "--out", str(out)]) == 0
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        results[with_class] = summary
    mapped, plain = results[True], results[False]
    target = mapped["targets"][0]
    assert target["passed"] and target["value"] == 1.0
    km_trunk = _geodesic_m((0, 0), (0, 1500), (4000, 1500), (4000, 0)) / 1000  # 7 km on the map
    assert target["mean_minutes"] == pytest.approx(km_trunk / drive["trunk"] * 60)  # 5.25 min along the 国道
    assert any("'乡村道路': 1 road, 0.5 km" in w for w in mapped["warnings"])
    assert not plain["targets"][0]["passed"] and plain["targets"][0]["value"] == 0.0
    km_direct = _geodesic_m((0, 0), (4000, 0)) / 1000  # 4 km on the map
    assert plain["targets"][0]["mean_minutes"] == pytest.approx(km_direct / drive["unclassified"] * 60)  # 8 min
    assert any("no road class column" in w and "等级" in w for w in plain["warnings"])


def test_cli_refuses_a_class_key_for_an_osm_source(tmp_path, capsys):
    scenario = _case(tmp_path, True)
    scenario.write_text(scenario.read_text(encoding="utf-8").replace('source = "roads.shp"', 'source = "x.osm.pbf"'),
                        encoding="utf-8")
    assert main(["run", str(scenario), "--out", str(tmp_path / "o")]) == 2
    printed = " ".join(capsys.readouterr().out.split())
    assert "[network] class name columns of a roads file" in printed and "x.osm.pbf" in printed


def test_unknown_one_way_values_are_two_way_and_warned():
    roads = gpd.GeoDataFrame({"highway": ["primary"] * 3, "单行": ["是", "maybe", 1.0]},
                             geometry=[_line((i * 100, 0), (i * 100 + 100, 0)) for i in range(3)], crs=CRS)
    with pytest.warns(RoadDataWarning, match=r"1 road has a 单行 value .*'maybe' \(1\)"):
        net = network_from_graph(graph_from_lines(roads, oneway_column="单行"), crs=CRS)
    got = net.edges.assign(x=net.edges.geometry.bounds["minx"]).sort_values("x")["oneway"].tolist()
    assert got == [True, False, True]  # 是 and 1.0 one-way; unknown open both ways


@pytest.mark.parametrize("multi", [True, False])
def test_multi_part_roads_become_one_road_per_part(multi):
    # Lines are exploded only when some are multi-part (issue 15: most files have none): each
    # part is a road of its row's class, as if drawn as separate rows.
    from geoaccess.roadfiles import network_from_lines

    parts = [_line((0, 0), (1000, 0)), _line((1000, 0), (1000, 700))]
    geometry = [shapely.MultiLineString(parts) if multi else parts[0], _line((0, 0), (0, 400))]
    roads = gpd.GeoDataFrame({"highway": ["primary", "residential"]}, geometry=geometry, crs=CRS)
    net = network_from_lines(roads)
    by_class = net.edges.groupby("highway")["length_m"].sum()
    first = _geodesic_m((0, 0), (1000, 0))  # 1000 m on the map
    assert by_class["primary"] == pytest.approx(first + _geodesic_m((1000, 0), (1000, 700)) if multi else first,
                                                abs=1e-6)
    assert by_class["residential"] == pytest.approx(_geodesic_m((0, 0), (0, 400)), abs=1e-6)
    assert net.n_edges == (3 if multi else 2)


def test_motor_vehicle_cut_to_ten_characters_by_a_shapefile_is_still_read(tmp_path):
    # GDAL writes the field motor_vehicle as motor_vehi in a .shp: it was ignored, so roads closed
    # to cars (no / private) counted as open in the .shp and closed in the .gpkg of the same roads
    import warnings

    from geoaccess.osmtags import CLOSED, DESTINATION, OPEN

    roads = gpd.GeoDataFrame({"highway": ["residential"] * 3, "motor_vehicle": ["no", "private", None]},
                             geometry=[_line((0, 0), (500, 0)), _line((500, 0), (1000, 0)), _line((1000, 0), (1500, 0))],
                             crs=CRS)
    for suffix in ("gpkg", "shp"):
        path = tmp_path / f"roads.{suffix}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the .shp: "Normalized/laundered field name"
            roads.to_file(path, engine="pyogrio")
        assert ("motor_vehi" in gpd.read_file(path).columns) is (suffix == "shp")
        edges = network_from_file(path).edges
        start = np.minimum(shapely.get_x(shapely.get_point(edges.geometry.to_numpy(), 0)),
                           shapely.get_x(shapely.get_point(edges.geometry.to_numpy(), -1))) - X0
        assert dict(zip(np.round(start), edges["access_drive"])) == {0.0: CLOSED, 500.0: DESTINATION, 1000.0: OPEN}



def _check_case(folder, roads, classes=""):
    """A roads.gpkg beside a clinic and 100 people, and a scenario using it; returns the scenario."""
    roads.to_file(folder / "roads.gpkg", engine="pyogrio")
    pd.DataFrame({"x": [X0], "y": [Y0], "type": ["clinic"], "name": ["卫生院"]}).to_csv(folder / "f.csv", index=False)
    pd.DataFrame({"x": [X0 + 1000], "y": [Y0], "pop": [100]}).to_csv(folder / "p.csv", index=False)
    text = f"""[scenario]
name = "check"
[network]
source = "roads.gpkg"
class = "等级"
{classes}
[facilities]
path = "f.csv"
x = "x"
y = "y"
crs = "{CRS}"
[population]
path = "p.csv"
x = "x"
y = "y"
crs = "{CRS}"
[targets]
use = ["medical_point_15min"]
"""
    (folder / "s.toml").write_text(text, encoding="utf-8")
    return folder / "s.toml"


@pytest.mark.parametrize("suffix", ["gpkg", "shp"])
def test_rows_without_geometry_are_named_and_counted_not_warned_raw(tmp_path, suffix):
    # rows 1 (null) and 3 (empty line) were left out with geopandas' raw "GeoSeries.notna" warning
    # on stderr and no word in the dropped list
    import warnings

    roads = gpd.GeoDataFrame({"等级": ["县道", "县道", "县道", "县道"]},
                             geometry=[_line((0, 0), (500, 0)), None, _line((500, 0), (1000, 0)),
                                       shapely.LineString()], crs=CRS)
    path = tmp_path / f"roads.{suffix}"
    roads.to_file(path, engine="pyogrio")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        net = network_from_file(path, class_column="等级")
    said = [str(w.message) for w in record]
    assert [w.category for w in record] == [RoadDataWarning], said
    assert f"roads.{suffix}: 2 rows without a geometry" in said[0] and "rows in file order: 1, 3)" in said[0]
    assert net.report["dropped"] == {"no geometry (null or empty)": {"ways": 2, "km": 0.0}}
    assert net.n_edges == 2


def test_check_lists_rows_without_geometry(tmp_path, capsys):
    roads = gpd.GeoDataFrame({"等级": ["县道", "县道"]}, geometry=[_line((0, 0), (1000, 0)), None], crs=CRS)
    assert main(["check", str(_check_case(tmp_path, roads)), "--out", str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    printed = " ".join(captured.out.split())
    assert "not roads (dropped): no geometry (null or empty) 1 ways, 0.0 km" in printed
    assert "warning: roads.gpkg: 1 row without a geometry" in printed and "rows in file order: 1)" in printed
    assert "UserWarning" not in captured.err and "GeoSeries" not in captured.err


def test_a_class_mapped_to_construction_is_dropped_as_not_built(tmp_path, capsys):
    # 在建 (under construction) and 规划 (planned) lines of a bureau's file: not roads yet, as in OSM
    roads = gpd.GeoDataFrame({"等级": ["县道", "在建", "规划"]},
                             geometry=[_line((0, 0), (1000, 0)), _line((1000, 0), (2000, 0)),
                                       _line((1000, 0), (1000, 1500))], crs=CRS)
    classes = '[network.classes]\n"在建" = "construction"\n"规划" = "proposed"'
    assert main(["check", str(_check_case(tmp_path, roads, classes)), "--out", str(tmp_path / "o")]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    km = (_geodesic_m((1000, 0), (2000, 0)) + _geodesic_m((1000, 0), (1000, 1500))) / 1000
    assert f"not roads (dropped): not built or not for traffic 2 ways, {km:,.1f} km" in printed
    assert "road network: 2 nodes, 1 road segments" in printed
    assert "warning" not in printed  # mapped: not an unmapped class


def test_a_class_mapped_to_an_unknown_word_is_refused_with_the_choices(tmp_path, capsys):
    roads = gpd.GeoDataFrame({"等级": ["县道"]}, geometry=[_line((0, 0), (1000, 0))], crs=CRS)
    scenario = _check_case(tmp_path, roads, '[network.classes]\n"在建" = "under_construction"')
    assert main(["check", str(scenario), "--out", str(tmp_path / "o")]) == 2
    printed = " ".join(capsys.readouterr().out.split())
    assert "[network.classes] maps '在建' to 'under_construction'" in printed
    assert "construction" in printed.split("lines that are not roads in use, one of")[1]


def test_vertices_the_crs_cannot_place_are_refused_naming_the_rows():
    # eastings with the Gauss-Krüger zone number in front (39 500 000) under a "CM 117E" CRS, which
    # has none: no place on the earth (PROJ gives inf), refused rather than routed
    from geoaccess.network import network_from_lines

    roads = gpd.GeoDataFrame({"highway": ["primary"] * 3},
                             geometry=[shapely.LineString([(500_000, 3_700_000), (501_000, 3_700_000)]),
                                       shapely.LineString([(39_501_000, 3_700_000), (39_502_000, 3_700_000)]),
                                       shapely.LineString([(39_502_000, 3_700_000), (39_503_000, 3_700_000)])],
                             crs="EPSG:4548")
    with pytest.raises(InputError, match=r"roads.gpkg: 4 vertices of 2 rows \(0-based rows in file order: 1, 2; "
                                         r"first at x=39501000.00, y=3700000.00\) are no place on the earth") as err:
        network_from_lines(roads, name="roads.gpkg")
    assert "EPSG:4527" in str(err.value)
    # the same eastings under the zone's own CRS (with its number) are the roads near 117°E
    net = network_from_lines(roads.iloc[1:].set_crs("EPSG:4527", allow_override=True))
    assert net.crs.to_epsg() == 32650
