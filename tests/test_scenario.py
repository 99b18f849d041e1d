"""Scenario files: every key checked, paths resolved against the file, targets composed."""

from pathlib import Path

import pytest

from geoaccess.errors import InputError
from geoaccess.scenario import TEMPLATE, load_scenario, scenario_from_dict

BASE = {
    "scenario": {"name": "x"},
    "network": {"source": "roads.osm"},
    "facilities": {"path": "f.csv"},
    "population": {"path": "p.tif"},
}


def with_(**sections):
    raw = {k: dict(v) for k, v in BASE.items()}
    for name, table in sections.items():
        raw[name] = {**raw.get(name, {}), **table}
    return raw


def test_relative_paths_resolve_against_the_scenario_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "s.toml").write_text(
        '[scenario]\nname = "x"\n[network]\nsource = "../roads.osm"\n[facilities]\npath = "f.csv"\n'
        '[population]\npath = "/abs/p.tif"\n', encoding="utf-8")
    s = load_scenario(tmp_path / "sub" / "s.toml")
    assert s.network["source"] == str(tmp_path / "roads.osm")
    assert s.facilities["path"] == str(tmp_path / "sub" / "f.csv")
    assert s.population["path"] == "/abs/p.tif"
    assert s.facilities["x"] == "lon" and s.facilities["crs"] == "EPSG:4326"  # defaults


@pytest.mark.parametrize("raw, message", [
    (with_(extra={"a": 1}), r"unknown scenario section\(s\) \[extra\]; allowed: \[scenario\]"),
    (with_(facilities={"colour": "red"}), r"unknown key\(s\) in \[facilities\]: colour; allowed: path, x, y"),
    (with_(facilities={"x": 3}), r"\[facilities\] x must be text, got int 3"),
    (with_(network={"min_component_nodes": "many"}), r"min_component_nodes must be an integer"),
    (with_(map={"self_contained": "yes"}), r"self_contained must be true/false"),
    (with_(map={"lang": "fr"}), r"lang must be 'zh' or 'en'"),
    (with_(network={"place": "泗县"}), r"exactly one of source .* got source, place"),
    (with_(network={"source": None, "bbox": [1, 2, 3]}), r"bbox must be \[west, south, east, north\]"),
    ({k: v for k, v in BASE.items() if k != "population"}, r"lacks section\(s\) \[population\]"),
    (with_(facilities={"path": None}), r"\[facilities\] lacks the required key 'path'"),
    (with_(targets={"use": ["nope"]}), r"unknown target\(s\) nope; known: medical_point_15min"),
    (with_(targets={"override": {"nope": {"goal": 0.5}}}), r"names unknown target 'nope'"),
    (with_(targets={"override": {"ems_120": {"goal": -1}}}), r"goal must be a positive"),
    (with_(targets={"define": [{"name_en": "no id"}]}), r"needs an id"),
])
def test_bad_scenarios_are_refused_with_the_key_and_what_is_allowed(raw, message):
    raw = {k: {kk: vv for kk, vv in v.items() if vv is not None} for k, v in raw.items()}
    with pytest.raises(InputError, match=message):
        scenario_from_dict(raw)


def test_targets_default_override_and_define():
    s = scenario_from_dict(BASE)
    assert list(s.targets) == ["medical_point_15min", "health_circle_30min", "ems_120"]
    s = scenario_from_dict(with_(targets={
        "use": ["ems_120"],
        "override": {"ems_120": {"dispatch_delay_min": 5, "facility_types": ["hospital"]}},
        "define": [{"id": "mine", "name_zh": "我的", "name_en": "mine", "facility_types": ["clinic"], "mode": "drive",
                    "direction": "to_facility", "threshold_min": 5, "population": "all",
                    "metric": "share_within", "goal": 0.5}],
    }))
    assert list(s.targets) == ["ems_120", "mine"]
    ems = s.targets["ems_120"]
    assert ems.dispatch_delay_min == 5 and ems.facility_types == ("hospital",) and ems.goal == 15  # rest kept
    assert s.targets["mine"].threshold_min == 5


def test_template_is_a_valid_scenario(tmp_path):
    (tmp_path / "s.toml").write_text(TEMPLATE, encoding="utf-8")
    s = load_scenario(tmp_path / "s.toml")
    assert s.name == "my-county" and s.map["lang"] == "zh"


def test_unreadable_scenarios(tmp_path):
    with pytest.raises(InputError, match="scenario file not found"):
        load_scenario(tmp_path / "none.toml")
    (tmp_path / "bad.toml").write_text("[scenario\nname=", encoding="utf-8")
    with pytest.raises(InputError, match="not valid TOML"):
        load_scenario(tmp_path / "bad.toml")
    (tmp_path / "gbk.toml").write_bytes('[scenario]\nname = "泗县"\n'.encode("gbk"))
    with pytest.raises(InputError, match="UTF-8"):
        load_scenario(tmp_path / "gbk.toml")


@pytest.mark.parametrize("population, key", [
    ({"path": "people.tif", "crs": "EPSG:4547"}, "crs"),   # a raster is placed by its own CRS
    ({"path": "people.tiff", "x": "lon", "y": "lat"}, "x, y"),
    ({"path": "people.csv", "band": 2}, "band"),            # only rasters have bands
])
def test_population_keys_the_file_kind_never_reads_are_refused(population, key):
    raw = {"scenario": {"name": "x"}, "network": {"source": "roads.gpkg"}, "facilities": {"path": "f.csv"},
           "population": population, "targets": {"use": ["medical_point_15min"]}}
    with pytest.raises(InputError, match=rf"\[population\] {key} would be ignored: people\.\w+ is "):
        scenario_from_dict(raw)


def test_population_keys_the_file_kind_reads_pass():
    base = {"scenario": {"name": "x"}, "network": {"source": "roads.gpkg"}, "facilities": {"path": "f.csv"},
            "targets": {"use": ["medical_point_15min"]}}
    for population in ({"path": "p.tif", "band": 2, "pop": "pop"}, {"path": "p.csv", "crs": "EPSG:4547", "x": "e"}):
        assert Path(scenario_from_dict({**base, "population": population}).population["path"]).name in ("p.tif", "p.csv")
