"""Issue 14: ``geoaccess run --with-sites`` evaluates the plan a ``site`` run proposed, so that
``geoaccess compare today plan`` shows the change.

On the hand-made county of tests/test_proposals.py (villages of 30, 50, 100, 100, 50 people at
0.5R..4.5R along one road, the county hospital at 0; 30 minutes reach R): by hand, upgrading
T1 (2R) and T3 (4R), or new sites at 2R and 4R, bring every village within 30 minutes, so the
plan's value is 330/330 and the 300 people of the villages at 1.5R..4.5R are newly covered.
"""

import json

import pandas as pd
import pytest

from geoaccess.candidates import facilities_with_sites, read_sites, site_kind
from geoaccess.cli import main
from geoaccess.comparison import COUNTY, compare
from geoaccess.errors import InputError
from geoaccess.targets import load_targets

from test_proposals import LONLAT, R, X0, Y0, _scenario

TARGET = "health_circle_30min"


def _plan(tmp_path, site_args):
    """site → run --with-sites → compare; returns the site run's summary, the plan's
    facilities.csv and the comparison's whole-area row."""
    scenario = _scenario(tmp_path)
    assert main(["run", str(scenario), "--out", str(tmp_path / "today")]) == 0
    assert main(["site", str(scenario), "--target", TARGET, *site_args, "--out", str(tmp_path / "site")]) == 0
    sites = tmp_path / "site" / f"sites_{TARGET}.csv"
    assert main(["run", str(scenario), "--with-sites", str(sites), "--out", str(tmp_path / "plan")]) == 0
    siting = json.loads((tmp_path / "site" / "summary.json").read_text(encoding="utf-8"))["siting"][TARGET]
    table = compare(tmp_path / "today", tmp_path / "plan").table
    row = table[(table["target"] == TARGET) & (table["unit"] == COUNTY)].iloc[0]
    return siting, pd.read_csv(sites), pd.read_csv(tmp_path / "plan" / "facilities.csv", dtype=str), row


def test_upgrades_from_site_are_evaluated_and_compared(tmp_path, capsys):
    siting, sites, facilities, row = _plan(tmp_path, ["--add", "2", "--candidates-from", "township_health_centre"])
    assert set(sites["site_id"]) == {"T1", "T3"}
    printed = " ".join(capsys.readouterr().out.split())  # log lines wrap at the terminal's width
    assert "upgraded 2 facilities for health_circle_30min to sub_centre" in printed and "东岗乡卫生院" in printed
    assert len(facilities) == 6  # upgraded in place: no facility added
    kinds = facilities.set_index("facility_id")["kind"]
    assert kinds["T1"] == kinds["T3"] == "sub_centre" and kinds["T2"] == kinds["T4"] == "township_health_centre"
    assert row["value_after"] == pytest.approx(siting["value_after"]) == pytest.approx(330 / 330)  # by hand
    assert row["value_before"] == pytest.approx(30 / 330)
    assert row["newly_covered"] == pytest.approx(sites["gain"].sum()) == 300 and row["newly_uncovered"] == 0


def test_new_sites_from_a_candidates_file_are_added(tmp_path, capsys):
    cands = pd.DataFrame({"id": ["P2", "P4", "P6"], "name": ["二号点", "四号点", "六号点"],
                          "lon": [LONLAT.transform(X0 + x * R, Y0)[0] for x in (2.0, 4.0, 6.0)],
                          "lat": [LONLAT.transform(X0 + x * R, Y0)[1] for x in (2.0, 4.0, 6.0)]})
    cands.to_csv(tmp_path / "cands.csv", index=False)
    siting, sites, facilities, row = _plan(tmp_path, ["--add", "2", "--candidates", str(tmp_path / "cands.csv")])
    assert set(sites["site_id"]) == {"P2", "P4"}
    assert "added 2 proposed site(s) for health_circle_30min as sub_centre: 二号点, 四号点" in \
        " ".join(capsys.readouterr().out.split())
    added = facilities[facilities["facility_id"].isin(["P2", "P4"])]
    assert len(facilities) == 8 and set(added["kind"]) == {"sub_centre"} and set(added["name"]) == {"二号点", "四号点"}
    assert row["value_after"] == pytest.approx(siting["value_after"]) == pytest.approx(1.0)
    assert row["newly_covered"] == pytest.approx(sites["gain"].sum()) == 300


def _sites_csv(path, rows, header="target,site_id,name,kind,lon,lat"):
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_bad_sites_files_stop_before_routing_naming_file_line_and_fix(tmp_path, capsys, monkeypatch):
    import geoaccess.pipeline

    def no_run(*a, **k):
        raise AssertionError("routing started before the sites file was checked")

    monkeypatch.setattr(geoaccess.pipeline, "run_scenario", no_run)
    scenario = _scenario(tmp_path)
    lon, lat = LONLAT.transform(X0 + 2 * R, Y0)
    cases = {
        "nocol.csv": (["health_circle_30min,P1,a,,1"], "target,site_id,name,kind,lon", ["'lat'", "line 1"]),
        "badlon.csv": ([f"health_circle_30min,P1,a,,{lon},{lat}", f"health_circle_30min,P2,b,,east,{lat}"], None,
                       ["line 3", "east"]),
        "target.csv": ([f"health_circle_30min,P1,a,,{lon},{lat}", f"ems_120,P2,b,,{lon},{lat}"], None,
                       ["line 3", "'ems_120'", "not a target of this run", "health_circle_30min"]),
        "noid.csv": ([f"health_circle_30min,,a,,{lon},{lat}"], None, ["line 2", "'site_id'", "fill it in"]),
    }
    for name, (rows, header, expected) in cases.items():
        path = _sites_csv(tmp_path / name, rows, *([header] if header else []))
        code = main(["run", str(scenario), "--with-sites", str(path), "--out", str(tmp_path / "o")])
        printed = " ".join(capsys.readouterr().out.split())
        assert code == 2 and name in printed and all(e in printed for e in expected), (name, printed)


def test_an_upgrade_of_a_facility_the_file_lacks_is_refused(tmp_path):
    from geoaccess.pipeline import load_inputs
    from geoaccess.scenario import load_scenario

    scenario = load_scenario(_scenario(tmp_path))
    inputs = load_inputs(scenario)
    lon, lat = LONLAT.transform(X0 + 2 * R, Y0)
    path = _sites_csv(tmp_path / "s.csv", [f"health_circle_30min,T1,东岗乡卫生院,township_health_centre,{lon},{lat}",
                                           f"health_circle_30min,T9,无名,township_health_centre,{lon},{lat}"])
    with pytest.raises(InputError, match=r"s\.csv, line 3: upgrade of facility 'T9'"):
        facilities_with_sites(inputs.facilities, read_sites(path, list(scenario.targets)), scenario.targets,
                              inputs.units)


def test_a_site_given_in_two_files_is_added_once_and_said(tmp_path):
    from geoaccess.pipeline import load_inputs
    from geoaccess.scenario import load_scenario

    scenario = load_scenario(_scenario(tmp_path))
    inputs = load_inputs(scenario)
    lon, lat = LONLAT.transform(X0 + 2 * R, Y0)
    rows = [f"health_circle_30min,C7,,,{lon},{lat}"]
    both = pd.concat([read_sites(_sites_csv(tmp_path / n, rows), list(scenario.targets)) for n in ("a.csv", "b.csv")],
                     ignore_index=True)
    fac, said = facilities_with_sites(inputs.facilities, both, scenario.targets, inputs.units)
    assert len(fac) == len(inputs.facilities) + 1 and "given twice" in said[0] and "C7" in said[0]
    new = fac.iloc[-1]
    assert (new["facility_id"], new["name"], new["kind"], new["unit"]) == ("C7", "C7", "sub_centre", "甲镇")
    assert new.geometry.distance(inputs.facilities.set_index("facility_id").geometry["T1"]) < 0.01  # T1 is at 2R


def test_a_site_gets_the_kind_that_counts_for_its_target_and_no_other():
    targets = load_targets()
    kinds = {tid: site_kind(targets[tid], targets) for tid in ("medical_point_15min", "health_circle_30min", "ems_120")}
    assert kinds == {"medical_point_15min": "doctors", "health_circle_30min": "sub_centre", "ems_120": "ems_station"}
    # by hand from data/targets.toml: a new medical point counts for that target alone (not for the
    # health circle nor beds); a sub-centre, like a county hospital, is also a medical point and has beds
    counted = {tid: sorted(t.id for t in targets.values() if kind in t.facility_types) for tid, kind in kinds.items()}
    assert counted == {"medical_point_15min": ["medical_point_15min"], "ems_120": ["ems_120"],
                       "health_circle_30min": ["beds_per_1000", "health_circle_30min", "medical_point_15min"]}


def test_python_run_with_sites_equals_the_command(tmp_path):
    # ga.run(..., with_sites=[...]) evaluates the same plan as `geoaccess run --with-sites`.
    import geoaccess as ga

    _plan(tmp_path, ["--add", "2", "--candidates-from", "township_health_centre"])
    sites = tmp_path / "site" / f"sites_{TARGET}.csv"
    plan = ga.run(_scenario(tmp_path), with_sites=[sites])
    written = json.loads((tmp_path / "plan" / "summary.json").read_text(encoding="utf-8"))
    value = {t["id"]: t["value"] for t in written["targets"]}[TARGET]
    assert plan.summary.loc[TARGET, "value"] == pytest.approx(value) == pytest.approx(330 / 330)  # by hand
