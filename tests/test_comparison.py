"""Current vs planned: two runs of the hand-made county of test_proposals whose differences
are known by hand (see that module's docstring for the county).

Run A: today (the county hospital at x = 0 reaches only the village at 0.5R: 30 of 330
rural people within 30 min). Run B, the plan: centres T1 (2R) and T3 (4R) become
sub-centres and the hospital's emergency role moves away (it no longer counts). T1 and T3
reach the villages at 1.5R, 2.5R, 3.5R and 4.5R (300 people); the village at 0.5R is 1.5R
from T1 (45 min) and falls out. 甲镇 (x < 2.75R: 30 + 50 + 100 people): 30 → 150 covered;
乙镇 (100 + 50): 0 → 150.
"""

import json

import pandas as pd
import pytest

from geoaccess.cli import main
from geoaccess.comparison import COUNTY, compare
from geoaccess.errors import InputError
from geoaccess.pipeline import run_scenario
from geoaccess.scenario import load_scenario
from test_proposals import _scenario


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("compare")
    (base / "a").mkdir(), (base / "b").mkdir()
    run_scenario(load_scenario(_scenario(base / "a")), out_dir=base / "run_a")
    scenario_b = _scenario(base / "b")
    fac = pd.read_csv(base / "b" / "facilities.csv")
    fac.loc[fac["id"].isin(["T1", "T3"]), "type"] = "sub_centre"
    fac.loc[fac["id"] == "H", "type"] = "village_clinic"
    fac.to_csv(base / "b" / "facilities.csv", index=False)
    run_scenario(load_scenario(scenario_b), out_dir=base / "run_b")
    return base


def test_compare_by_hand(runs):
    c = compare(runs / "run_a", runs / "run_b")
    t = c.table.set_index("unit")
    county = t.loc[COUNTY]
    assert county["value_before"] == pytest.approx(30 / 330) and county["value_after"] == pytest.approx(300 / 330)
    assert county["newly_covered"] == 300 and county["newly_uncovered"] == 30
    assert county["verdict"] == "FAIL → PASS" and county["change"] == pytest.approx(270 / 330)
    west, east = t.loc["甲镇"], t.loc["乙镇"]
    assert (west["newly_covered"], west["newly_uncovered"]) == (150, 30)
    assert west["value_after"] == pytest.approx(150 / 180) and west["verdict"] == "FAIL (unchanged)"
    assert (east["newly_covered"], east["newly_uncovered"]) == (150, 0)
    assert east["value_before"] == 0 and east["value_after"] == pytest.approx(1.0) and east["verdict"] == "FAIL → PASS"
    # the townships add up to the whole area
    assert t.loc[["甲镇", "乙镇"], "newly_covered"].sum() == county["newly_covered"]


def test_compare_command_writes_csv_and_html(runs, capsys):
    out = runs / "cmp"
    assert main(["compare", str(runs / "run_a"), str(runs / "run_b"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "FAIL → PASS" in printed and "9.1%" in printed and "90.9%" in printed
    table = pd.read_csv(out / "compare.csv", encoding="utf-8-sig")
    assert list(table["unit"]) == [COUNTY, "甲镇", "乙镇"] and list(table["newly_covered"]) == [300, 150, 150]
    assert "现状 vs 规划" in (out / "compare.html").read_text(encoding="utf-8")
    assert "compare.csv" in json.loads((out / "geoaccess-run.json").read_text(encoding="utf-8"))["files"]


def test_compare_refuses_what_it_cannot_compare(runs, tmp_path):
    with pytest.raises(InputError, match="not a geoaccess output folder.*summary.json"):
        compare(tmp_path, runs / "run_b")
    other = tmp_path / "other"
    (tmp_path / "src").mkdir()
    scenario = _scenario(tmp_path / "src")
    pop = pd.read_csv(tmp_path / "src" / "population.csv")
    pop.loc[0, "pop"] = 31
    pop.to_csv(tmp_path / "src" / "population.csv", index=False)
    run_scenario(load_scenario(scenario), out_dir=other)
    with pytest.raises(InputError, match="different population"):
        compare(runs / "run_a", other)


def test_public_api_has_compare():
    import geoaccess as ga

    assert ga.compare is compare and "compare" in ga.__all__
