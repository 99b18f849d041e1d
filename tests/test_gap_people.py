"""Gap lists a leader can trust: the gaps of a target hold exactly its own uncovered people,
gap minutes never print on the covered side of the threshold, a FAIL next to a value that
meets its goal says why, and gaps.geojson's layer is the one the README names."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import Point

from geoaccess.cli import fail_reasons
from geoaccess.errors import InputError
from geoaccess.gaps import find_gaps, target_gaps, write_gaps, write_target_gaps
from geoaccess.report import _card, _gaps_table
from geoaccess.results import fail_reason, unreachable_note
from geoaccess.targets import Target, evaluate_target, minutes_beside

CRS = "EPSG:32650"

# Seven homes, 1 km apart (no two link into one gap), urban ones in 城北街道, rural ones in 柳寺镇:
#          urban  people  travel minutes
HOMES = [(True, 100.0, 40.0),     # urban, far
         (True, 50.0, np.inf),    # urban, unreachable
         (False, 30.0, 35.0),     # rural, far
         (False, 20.0, np.inf),   # rural, unreachable
         (False, 70.0, 10.0),     # rural, near
         (True, 10.0, 13.0),      # urban, near; 16 min with a 3-minute dispatch delay
         (False, 5.0, 11.0)]      # rural, near; 14 min with the delay


def _target(tid: str, population: str, metric: str, threshold: float, goal: float, delay: float = 0.0) -> Target:
    return Target(id=tid, name_zh=tid, name_en=tid, facility_types=("clinic",), mode="walk", direction="to_facility",
                  threshold_min=threshold, population=population, metric=metric, goal=goal,
                  dispatch_delay_min=delay)


def _demand(tid: str) -> gpd.GeoDataFrame:
    urban = np.array([h[0] for h in HOMES])
    return gpd.GeoDataFrame({
        "pop": [h[1] for h in HOMES], "urban": urban,
        "unit": np.where(urban, "城北街道", "柳寺镇").astype(object),
        f"{tid}_min": [h[2] for h in HOMES],
        f"{tid}_facility": pd.Series([None if math.isinf(h[2]) else "F1" for h in HOMES], dtype=object),
    }, geometry=[Point(500_000.0 + 1000.0 * i, 3_000_000.0) for i in range(len(HOMES))], crs=CRS)


FACILITIES = pd.DataFrame({"facility_id": ["F1"], "name": ["某卫生院"]})


@pytest.mark.parametrize("target, expected, units", [
    # rural only, 30 min: the rural far (30) and unreachable (20) homes; no urban home
    (_target("health_circle_30min", "rural", "share_within", 30, 0.9), 50.0, {"柳寺镇"}),
    # urban only, 15 min: the urban far (100) and unreachable (50) homes
    (_target("urban_15", "urban", "share_within", 15, 0.9), 150.0, {"城北街道"}),
    # mean time, everybody, 3 min dispatch delay, 15 min: 100 + 50 + 30 + 20 + 10 (13 + 3 = 16 min)
    (_target("ems_120", "all", "mean_time", 15, 15, delay=3.0), 210.0, {"城北街道", "柳寺镇"}),
    # mean time, rural only, with the delay: 30 + 20 (11 + 3 = 14 min is covered)
    (_target("ems_rural", "rural", "mean_time", 15, 15, delay=3.0), 50.0, {"柳寺镇"}),
])
def test_gap_people_are_the_targets_uncovered_people(target, expected, units):
    demand = _demand(target.id)
    gaps = target_gaps(target, demand, FACILITIES, by_unit=True)
    e = evaluate_target(target, demand[f"{target.id}_min"].to_numpy(), demand["pop"].to_numpy(),
                        demand["urban"].to_numpy(), demand["unit"].to_numpy())
    assert gaps["pop"].sum() == pytest.approx(expected)  # by hand (table above)
    assert gaps["pop"].sum() == pytest.approx(e.population_total - e.population_covered)
    unreachable = sum(p for u, p, m in HOMES if math.isinf(m) and target.population in ("all", "urban" if u else "rural"))
    assert gaps["pop_unreachable"].sum() == pytest.approx(unreachable) == pytest.approx(e.population_unreachable)
    assert set(gaps["admin"]) == units
    # a unit the target gives 0 people has no gap people either
    per_unit = e.units.set_index("name")
    for unit, people in gaps.groupby("admin")["pop"].sum().items():
        assert people <= per_unit.loc[unit, "population_total"] - per_unit.loc[unit, "population_covered"] + 1e-9


@pytest.mark.parametrize("value, shown", [(15.01, 15.01), (15.04, 15.04), (14.99, 15.0), (15.06, 15.1),
                                          (15.00001, 15.0001), (14.99999, 15.0), (47.0, 47.0)])
def test_minutes_never_on_the_wrong_side_of_the_threshold(value, shown):
    out = minutes_beside([value], 15.0)[0]
    assert out == pytest.approx(shown, abs=1e-12)
    assert (out > 15.0) == (value > 15.0)


def test_minutes_beside_per_row_thresholds_and_non_finite():
    out = minutes_beside([15.04, 30.04, np.inf, np.nan], [15.0, 30.0, 15.0, 15.0])
    assert out[:2].tolist() == [15.04, 30.04]
    assert np.isinf(out[2]) and np.isnan(out[3])


def _one_gap(minutes: float) -> gpd.GeoDataFrame:
    demand = gpd.GeoDataFrame({"pop": [10.0, 5.0]}, geometry=[Point(500_000, 3_000_000), Point(510_000, 3_000_000)],
                              crs=CRS)
    return find_gaps(demand, [minutes, 5.0], 15.0, nearest_facility=["F1", "F1"])


@pytest.mark.parametrize("minutes, shown", [(15.01, 15.01), (15.04, 15.04)])
def test_gap_files_and_report_show_uncovered_times_beyond_the_threshold(tmp_path, minutes, shown):
    gaps = _one_gap(minutes)
    csv_path, gj_path = write_gaps(gaps, tmp_path)
    table = pd.read_csv(csv_path, encoding="utf-8-sig")
    for col in ("mean_minutes", "max_minutes", "best_minutes"):
        assert table[col].iloc[0] == shown
        assert table[col].iloc[0] > 15.0
    props = json.loads(gj_path.read_text(encoding="utf-8"))["features"][0]["properties"]
    assert props["best_minutes"] == shown and props["mean_minutes"] == shown
    # the report's gap table, via the same rule
    target = _target("t15", "all", "share_within", 15, 0.9)
    e = evaluate_target(target, np.array([minutes, 5.0]), np.array([10.0, 5.0]), np.array([False, False]))
    result = type("R", (), {"gaps": {"t15": gaps}, "facilities": pd.DataFrame({"facility_id": ["F1"], "name": ["X"]}),
                            "demand": None})()
    html = _gaps_table(result, e, "en")
    assert f"{shown} min" in html and "15.0 min" not in html



@pytest.mark.parametrize("minutes, shown", [(15.01, "15.01"), (15.04, "15.04")])
def test_map_gap_popup_shows_minutes_on_their_side_of_the_threshold(minutes, shown):
    from geoaccess.maplayers import _Display
    from geoaccess.maps import _gap_features

    gaps = _one_gap(minutes)
    target = _target("t15", "all", "share_within", 15, 0.9)
    popup = _gap_features(gaps, target, "en", _Display(False), {"F1": "X"})[0]["properties"]["p"]
    assert f"{shown} min" in popup and "15.0 min" not in popup

def test_write_gaps_needs_a_threshold(tmp_path):
    gaps = _one_gap(20.0)
    gaps.attrs.clear()
    with pytest.raises(InputError, match="threshold_min"):
        write_gaps(gaps, tmp_path)
    write_gaps(gaps, tmp_path, threshold_min=15.0)  # told: fine


def test_gaps_geojson_layer_is_named_as_the_readme_says(tmp_path):
    """README: one layer holding every target's gaps, named `gaps`, or after the target when only
    one target has gaps (the tester found it named `gaps` where the README promised the target)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "one layer holding every target's gaps (its `target` column says whose), named `gaps`, or after the " \
           "target when only one target has gaps" in readme
    _, gj = write_target_gaps({"medical_point_15min": _one_gap(20.0), "ems_120": _one_gap(20.0).iloc[:0]}, tmp_path)
    assert [name for name, _ in pyogrio.list_layers(gj)] == ["medical_point_15min"]
    _, gj = write_target_gaps({"medical_point_15min": _one_gap(20.0), "ems_120": _one_gap(20.0)}, tmp_path)
    assert [name for name, _ in pyogrio.list_layers(gj)] == ["gaps"]
    assert sorted(pd.read_csv(tmp_path / "gaps.csv", encoding="utf-8-sig")["target"]) == ["ems_120", "medical_point_15min"]


def _failing(share_value: float, unreachable: float, rule: float = 0.01, n: int = 1000):
    target = dataclasses.replace(_target("medical_point_15min", "all", "share_within", 15, 0.9),
                                 max_unreachable_share=rule)
    # n people: `unreachable` of them unreachable, the rest at 5 or 20 minutes
    n_in = round(n * share_value)
    minutes = np.array([5.0] * n_in + [20.0] * (n - n_in - int(unreachable)) + [np.inf] * int(unreachable))
    return evaluate_target(target, minutes, np.ones(n), np.zeros(n, bool))


def test_fail_next_to_a_passing_value_says_why():
    e = _failing(0.985, 15)
    assert e.value == pytest.approx(0.985) and e.passed is False
    why = fail_reason(e)
    assert why == "meets the goal, but fails: 1.5% of the people cannot reach any facility (rule: at most 1%)"
    (line,) = fail_reasons([e])
    assert "medical_point_15min FAIL" in line and "1.5% of the people" in line
    assert "不可达人口 1.5% 超过上限 1%" in unreachable_note(e.value, e.passed, e.target, "zh",
                                                                      e.population_unreachable, e.population_total)
    card = _card(e, "en")
    assert "1.5% of the people cannot reach any facility (rule: at most 1%)" in card
    # a share just over the rule is not rounded onto it; a rule under 1 % is not shown as 0 %
    assert "1.1% of" in fail_reason(_failing(0.95, 11))
    assert "1.04% of" in fail_reason(_failing(0.95, 104, n=10_000))  # not "1.0%", the rule's own figure
    assert "(rule: at most 0.5%)" in fail_reason(_failing(0.95, 6, rule=0.005))


def test_no_reason_when_the_value_itself_explains_the_verdict():
    assert fail_reason(_failing(0.85, 15)) is None  # 85 % < 90 %: the value says it
    assert fail_reason(_failing(0.95, 5)) is None   # passes
    assert fail_reasons([_failing(0.95, 5)]) == []


def test_report_unit_gaps_count_the_dispatch_delay_and_the_targets_people():
    """Without gap clusters the report sums people beyond the threshold per township: with the
    dispatch delay (13 + 3 = 16 min is beyond 15) and among the target's own people only."""
    from geoaccess.report import largest_gaps

    target = _target("ems_rural", "rural", "mean_time", 15, 15, delay=3.0)
    demand = _demand(target.id)
    e = evaluate_target(target, demand[f"{target.id}_min"].to_numpy(), demand["pop"].to_numpy(),
                        demand["urban"].to_numpy(), demand["unit"].to_numpy())
    result = type("R", (), {"gaps": {}, "demand": demand})()
    df, clusters = largest_gaps(result, e)
    assert not clusters and df["unit"].tolist() == ["柳寺镇"]
    assert df["pop"].sum() == pytest.approx(50.0) == pytest.approx(e.population_total - e.population_covered)
    everybody = _target("ems_all", "all", "mean_time", 15, 15, delay=3.0)
    demand = _demand(everybody.id)
    e = evaluate_target(everybody, demand[f"{everybody.id}_min"].to_numpy(), demand["pop"].to_numpy(),
                        demand["urban"].to_numpy(), demand["unit"].to_numpy())
    df, _ = largest_gaps(type("R", (), {"gaps": {}, "demand": demand})(), e)
    assert df["pop"].sum() == pytest.approx(210.0) == pytest.approx(e.population_total - e.population_covered)
