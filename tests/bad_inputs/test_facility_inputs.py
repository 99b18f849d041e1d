"""Facility lists and tables as they really come: unknown types, codes, Chinese names,
degrees-minutes-seconds, blank lines, spreadsheets, GCJ-02 in a dense town."""

import json
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geoaccess._paths import data_path
from geoaccess.cli import main
from geoaccess.coords import gcj02_to_wgs84, utm_crs_for, wgs84_to_gcj02
from geoaccess.errors import InputError
from geoaccess.facilities import classify_facilities, facilities_from_file, load_facility_types
from geoaccess.io import read_table_lines
from geoaccess.pipeline import _check_gcj02, candidates_from_file, run_scenario
from geoaccess.scenario import load_scenario

DEMO = pd.read_csv(data_path("demo", "facilities.csv"))


def _scenario(tmp_path: Path, facilities: pd.DataFrame, extra: str = "", name: str = "s") -> Path:
    """The demo scenario with its own facility file, written in tmp_path."""
    folder = tmp_path / name
    folder.mkdir()
    facilities.to_csv(folder / "facilities.csv", index=False)
    text = data_path("demo", "scenario.toml").read_text(encoding="utf-8")
    for f in ("monaco.osm.pbf", "population.tif"):
        text = text.replace(f'"{f}"', f'"{data_path("demo", f).as_posix()}"')
    text = text.replace('id = "facility_id"\n', 'id = "facility_id"\n' + extra)
    (folder / "scenario.toml").write_text(text, encoding="utf-8")
    return folder / "scenario.toml"


def _medical_share(path: Path) -> float:
    result = run_scenario(load_scenario(path), write=False)
    return next(e.value for e in result.evaluations if e.target.id == "medical_point_15min"), result.warnings


@pytest.fixture(scope="module")
def canonical(tmp_path_factory):
    """The demo as shipped, and the demo without its hospitals and doctors (computed independently)."""
    tmp = tmp_path_factory.mktemp("canonical")
    full = _medical_share(_scenario(tmp, DEMO, name="full"))
    medical = DEMO["type"].isin(["hospital", "doctors"])
    renamed = DEMO.copy()
    # Pharmacies count for no medical point: relabelled medical points are as good as gone.
    renamed.loc[medical & (DEMO["emergency"] == False), "type"] = "pharmacy"  # noqa: E712
    without = _medical_share(_scenario(tmp, renamed, name="without"))
    return {"full": full[0], "without": without[0], "full_warnings": full[1]}


# --- 1. types outside the vocabulary ------------------------------------------------

def test_unknown_types_are_listed_with_counts_and_targets_and_the_share_drops_as_if_they_were_absent(
        tmp_path, canonical, capsys):
    fac = DEMO.copy()
    medical = fac["type"].isin(["hospital", "doctors"]) & (fac["emergency"] == False)  # noqa: E712
    fac.loc[medical, "type"] = np.where(np.arange(medical.sum()) % 2 == 0, "Krankenhaus", "Arztpraxis")
    path = _scenario(tmp_path, fac)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--lang", "en"]) == 0
    printed = capsys.readouterr().out
    n_k, n_a = (np.arange(medical.sum()) % 2 == 0).sum(), (np.arange(medical.sum()) % 2 == 1).sum()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    warning = next(w for w in summary["warnings"] if "match no facility kind" in w)
    assert f"{n_k} rows typed 'Krankenhaus'" in warning and f"{n_a} rows typed 'Arztpraxis'" in warning
    assert "medical_point_15min counts county_hospital" in warning and "ems_120 counts hospital" in warning
    assert "[facilities.types]" in warning and "Krankenhaus" in printed
    value = next(t["value"] for t in summary["targets"] if t["id"] == "medical_point_15min")
    assert value == pytest.approx(canonical["without"], abs=1e-12)
    assert value < canonical["full"]


def test_a_mapping_gives_the_same_share_as_the_canonical_type(tmp_path, canonical):
    fac = DEMO.copy()
    fac.loc[fac["type"] == "hospital", "type"] = "村卫生所 (旧称)"
    fac.loc[fac["type"] == "doctors", "type"] = "Arztpraxis"
    value, warnings = _medical_share(_scenario(
        tmp_path, fac, '[facilities.types]\n"村卫生所 (旧称)" = "hospital"\n"ARZTPRAXIS" = "doctors"\n'))
    assert value == pytest.approx(canonical["full"], abs=1e-12)
    assert not any("match no facility kind" in w for w in warnings)
    inferred = next(w for w in warnings if "not given by an exact vocabulary name" in w)
    assert "7 by your [facilities.types] → hospital" in inferred and "2 by your [facilities.types] → doctors" in inferred


def test_the_shipped_demo_raises_no_type_warning(canonical):
    assert not any("facility kind" in w for w in canonical["full_warnings"])


def test_mapping_to_an_unknown_kind_exits_2_naming_the_key_and_the_kinds(tmp_path, capsys):
    path = _scenario(tmp_path, DEMO, '[facilities.types]\n"村卫生所" = "village_clinc"\n')
    assert main(["run", str(path), "--out", str(tmp_path / "o")]) == 2
    out = capsys.readouterr().out.replace("\n", "")
    assert "[facilities.types] '村卫生所' = 'village_clinc'" in out
    assert "village_clinic" in out and "township_health_centre" in out and "'other'" in out


def test_mapping_must_be_text(tmp_path):
    path = _scenario(tmp_path, DEMO, '[facilities.types]\n"卫生所" = 3\n')
    with pytest.raises(InputError, match=r"\[facilities.types\] '卫生所' = 3: not a facility kind; use one of county_hospital"):
        load_scenario(path)


def test_classify_names_must_be_true_or_false(tmp_path):
    path = _scenario(tmp_path, DEMO, 'classify_names = "yes"\n')
    with pytest.raises(InputError, match=r"\[facilities\] classify_names must be true/false"):
        load_scenario(path)


def test_precedence_mapping_alias_code_type_rule_name_rule():
    types = pd.Series(["hospital", "hospital", "A100", "和平镇中心卫生院", None, "Krankenhaus", "B12", "ＣＬＩＮＩＣ"])
    names = pd.Series(["", "", "某某诊所", "", "和平村卫生室", "泗县人民医院（东院区）", "", ""])
    got = classify_facilities(types, names, mapping={" HOSPITAL": "clinic"})  # matched normalised
    assert got["kind"].tolist() == ["clinic", "clinic", "hospital", "township_health_centre", "village_clinic",
                                    "county_hospital", "other", "clinic"]
    assert got["kind_rule"].tolist() == ["mapping", "mapping", "code A1", "type rule …中心卫生院",
                                         "name rule …村卫生室/村卫生所/卫生室", "name rule …县人民医院/县中医院",
                                         "unmatched", "alias"]


@pytest.mark.parametrize("value, kind", [
    ("城关镇卫生院", "township_health_centre"), ("XX街道社区卫生服务中心", "community_health_centre"),
    ("XX社区卫生服务站", "community_health_station"), ("县急救中心", "ems_station"), ("东区急救分站", "ems_station"),
    ("张村卫生所", "village_clinic"), ("第一中学医务室", "clinic"), ("李氏口腔诊所", "clinic"),
    ("市中西医结合医院", "hospital"), ("县妇幼保健院", "hospital"), ("泗县中医院", "county_hospital"),
    ("老百姓大药房", "pharmacy"), ("C22", "township_health_centre"), ("d2", "clinic")])
def test_name_rules_and_codes_on_the_type_column(value, kind):
    assert classify_facilities(pd.Series([value]))["kind"].iloc[0] == kind


def test_name_rules_on_the_name_can_be_turned_off_and_the_code_column_is_read(tmp_path):
    df = pd.DataFrame({"lon": [116.40, 116.41, 116.42], "lat": [39.90, 39.91, 39.92], "type": ["", "", "x"],
                       "name": ["和平村卫生室", "城关镇卫生院", "县医院"], "jglb": ["", "", "A100"]})
    df.to_csv(tmp_path / "f.csv", index=False)
    on = facilities_from_file(tmp_path / "f.csv", code="jglb")
    assert on["kind"].tolist() == ["village_clinic", "township_health_centre", "hospital"]
    assert on["kind_rule"].tolist()[2] == "code A1"
    off = facilities_from_file(tmp_path / "f.csv", classify_names=False)
    assert off["kind"].tolist() == ["other", "other", "other"]
    with pytest.raises(InputError, match=r"no column 'code_col'; set the 'code' parameter"):
        facilities_from_file(tmp_path / "f.csv", code="code_col")


def test_inferred_kinds_are_counted_per_rule_in_the_run_warnings(tmp_path):
    fac = DEMO.copy()
    fac.loc[fac["type"] == "doctors", "type"] = "XX诊所"
    _, warnings = _medical_share(_scenario(tmp_path, fac))
    inferred = next(w for w in warnings if "not given by an exact vocabulary name" in w)
    assert "2 by type rule …门诊部/诊所 → clinic" in inferred


# --- 3. file line numbers -------------------------------------------------------------

def test_blank_lines_do_not_shift_the_reported_line(tmp_path):
    text = "lon,lat,type,name\n\n7.41,43.73,hospital,A\n   \n\n7.42,,clinic,B\n7.43,43.74,clinic,\"C\nD\"\n7.44,abc,clinic,E\n"
    (tmp_path / "f.csv").write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        facilities_from_file(tmp_path / "f.csv")
    msg = str(err.value)
    # Independent count: line 6 holds the empty lat, line 9 (after a two-line quoted name) the 'abc'.
    assert "rows at file lines 6, 9 (line 1 = the header)" in msg
    assert "line 9 y 'abc'" in msg and "degrees-minutes-seconds" in msg and "f.csv" in msg


def test_xlsx_messages_give_the_sheet_row(tmp_path):
    df = pd.DataFrame({"lon": [7.41, None, 7.43, 7.44], "lat": [43.73, None, 43.74, 43.75],
                       "type": ["hospital", None, "clinic", "clinic"], "name": ["A", None, "C", "D"],
                       "beds": [10, None, "many", 5]})
    df.to_excel(tmp_path / "f.xlsx", index=False)  # row 3 of the sheet is empty
    with pytest.raises(InputError, match=r"rows at file line 3 \(line 1 = the header\)"):
        facilities_from_file(tmp_path / "f.xlsx")
    df.iloc[1] = [7.42, 43.735, "clinic", "B", 1]
    df.to_excel(tmp_path / "f.xlsx", index=False)
    with pytest.raises(InputError, match=r"capacity column 'beds', rows 2 \(0-based; file line 4\): 'many'; use non-negative"):
        facilities_from_file(tmp_path / "f.xlsx", capacity="beds")


def test_duplicate_and_empty_ids_name_their_lines(tmp_path):
    (tmp_path / "f.csv").write_text("lon,lat,type,id\n7.41,43.73,clinic,a\n\n7.42,43.74,clinic,a\n7.43,43.75,clinic,\n",
                                    encoding="utf-8")
    with pytest.raises(InputError, match=r"empty ids in column 'id', rows 2 \(0-based; file line 5\); fill them"):
        facilities_from_file(tmp_path / "f.csv", id="id", name=None)
    (tmp_path / "f.csv").write_text("lon,lat,type,id\n7.41,43.73,clinic,a\n\n7.42,43.74,clinic,a\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"duplicate ids in column 'id': 'a' \(rows 0, 1 \(0-based; file lines 2, 4\)\)"):
        facilities_from_file(tmp_path / "f.csv", id="id", name=None)


def test_candidate_sites_name_their_line(tmp_path):
    (tmp_path / "c.csv").write_text("lon,lat\n7.41,43.73\n\n\n7.42,north\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"candidate sites file c.csv has missing or non-numeric coordinates in rows "
                                         r"at file line 5 .*line 5 y 'north'"):
        candidates_from_file(tmp_path / "c.csv", "EPSG:32632")


def test_a_wrong_forced_encoding_names_the_encoding_and_the_fix(tmp_path):
    (tmp_path / "f.csv").write_bytes("lon,lat,type,name\n116.4,39.9,卫生院,城关镇卫生院\n".encode("gbk"))
    gdf = facilities_from_file(tmp_path / "f.csv")  # GBK found by itself
    assert gdf["kind"].iloc[0] == "township_health_centre" and gdf["name"].iloc[0] == "城关镇卫生院"
    with pytest.raises(InputError, match=r"could not decode facility file .*f.csv with encoding 'utf-8'.*drop the encoding"):
        facilities_from_file(tmp_path / "f.csv", encoding="utf-8")


# --- 4. degrees-minutes-seconds -------------------------------------------------------

def test_dms_coordinates_are_read_as_decimal_degrees(tmp_path):
    df = pd.DataFrame({"lon": ["116°48'30.5\"E", "东经116度48分30秒", "116 48 30.5", "７°２４′E", "W0°0'36\""],
                       "lat": ["N32°30′12″", "北纬32度30分", "32°30'12\"S", "43.73", "43 44"],
                       "type": "clinic", "name": list("abcde")})
    df.to_csv(tmp_path / "f.csv", index=False)
    gdf = facilities_from_file(tmp_path / "f.csv")
    # By hand: 116 + 48/60 + 30.5/3600 = 116.808472..., 32 + 30/60 + 12/3600 = 32.503333...
    np.testing.assert_allclose(gdf["lon"], [116 + 48 / 60 + 30.5 / 3600, 116 + 48 / 60 + 30 / 3600,
                                            116 + 48 / 60 + 30.5 / 3600, 7.4, -0.01], atol=1e-12)
    np.testing.assert_allclose(gdf["lat"], [32 + 30 / 60 + 12 / 3600, 32.5, -(32 + 30 / 60 + 12 / 3600), 43.73,
                                            43 + 44 / 60], atol=1e-12)


@pytest.mark.parametrize("lon, lat, shown", [
    ("116°75'E", "32.5", "x \"116°75'E\""),        # 75 minutes
    ("32°30'N", "116.8", "x \"32°30'N\""),          # N on the longitude: swapped columns
    ("-116°48'W", "32.5", "x \"-116°48'W\""),       # sign and hemisphere
    ("116.5°48'", "32.5", "x \"116.5°48'\""),       # decimal degrees with minutes
])
def test_unreadable_dms_is_refused_with_line_value_and_fix(tmp_path, lon, lat, shown):
    pd.DataFrame({"lon": ["116.1", lon], "lat": ["32.1", lat], "type": "clinic", "name": ["a", "b"]}).to_csv(
        tmp_path / "f.csv", index=False)
    with pytest.raises(InputError) as err:
        facilities_from_file(tmp_path / "f.csv")
    msg = str(err.value)
    assert "rows at file line 3" in msg and f"line 3 {shown}" in msg
    assert "N/S belong to latitude (y), E/W to longitude (x)" in msg


# --- 2. GCJ-02 in a dense town ----------------------------------------------------------

def _grid_network(lon0: float, lat0: float, spacing_m: float, size_m: float):
    crs = utm_crs_for(lon0, lat0)
    x0, y0 = gpd.GeoSeries(gpd.points_from_xy([lon0], [lat0]), crs=4326).to_crs(crs).iloc[0].coords[0]
    ticks = np.arange(-size_m / 2, size_m / 2 + 1, spacing_m)
    lines = [shapely.LineString([(x0 + t, y0 - size_m / 2), (x0 + t, y0 + size_m / 2)]) for t in ticks]
    lines += [shapely.LineString([(x0 - size_m / 2, y0 + t), (x0 + size_m / 2, y0 + t)]) for t in ticks]
    edges = gpd.GeoDataFrame(geometry=lines, crs=crs)
    return SimpleNamespace(edges=edges, crs=crs), (x0, y0)


def _facilities(xy, crs, as_gcj: bool):
    pts = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=crs).to_crs(4326)
    lon, lat = pts.x.to_numpy(), pts.y.to_numpy()
    if as_gcj:
        lon, lat = wgs84_to_gcj02(lon, lat)
    return gpd.GeoDataFrame({"name": [f"f{i}" for i in range(len(lon))]}, geometry=gpd.points_from_xy(lon, lat), crs=4326)


def test_gcj02_check_decides_on_a_sparse_network():
    net, (x0, y0) = _grid_network(116.40, 39.90, 2000.0, 20000.0)
    on_roads = np.column_stack([x0 + np.array([0, 2000, -4000, 6000, 0]), y0 + np.array([300, -700, 1100, 50, -3300])])
    assert _check_gcj02(net, _facilities(on_roads, net.crs, as_gcj=False)) == []
    flagged = _check_gcj02(net, _facilities(on_roads, net.crs, as_gcj=True))
    assert len(flagged) == 1 and "look like GCJ-02" in flagged[0] and 'crs = "GCJ-02"' in flagged[0]


def test_gcj02_check_says_when_dense_roads_leave_it_undecided():
    net, (x0, y0) = _grid_network(116.40, 39.90, 60.0, 6000.0)
    rng = np.random.default_rng(3)
    xy = np.column_stack([x0, y0]) + rng.uniform(-2000, 2000, size=(5, 2))
    for as_gcj in (False, True):
        warning = _check_gcj02(net, _facilities(xy, net.crs, as_gcj))
        assert len(warning) == 1 and "cannot tell whether the facility coordinates are WGS84" in warning[0]
        assert "Tianditu" in warning[0] and 'crs = \\"GCJ-02\\"' not in warning[0] and 'crs = "GCJ-02"' in warning[0]
    # Outside China no shift exists and nothing is said.
    net_eu, (xe, ye) = _grid_network(7.42, 43.73, 60.0, 6000.0)
    assert _check_gcj02(net_eu, _facilities(np.column_stack([xe, ye]) + rng.uniform(-2000, 2000, (5, 2)),
                                            net_eu.crs, False)) == []


# --- 1d. the vocabulary on the command line, 5. one table reader ------------------------------

def test_targets_command_lists_the_facility_kinds(capsys):
    assert main(["targets"]) == 0
    out = capsys.readouterr().out
    for kind, table in load_facility_types().items():
        assert kind in out and table["name_zh"] in out
    assert "村卫生所" in out and "[facilities.types]" in out


def test_population_points_and_facilities_share_the_io_reader(tmp_path):
    from geoaccess import demand, facilities, io

    assert demand.read_table_lines is io.read_table_lines and not hasattr(facilities, "read_table")
    (tmp_path / "p.csv").write_text("lon,lat,pop\n\n116.4,39.9,10\n116.5,39.8,5\n", encoding="utf-8-sig")
    df, lines = read_table_lines(tmp_path / "p.csv", "population points")
    assert lines.tolist() == [3, 4] and df["pop"].sum() == 15
    pts = demand.population_from_file(tmp_path / "p.csv")
    assert pts["pop"].sum() == 15
