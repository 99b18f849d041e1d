"""Target definitions and metrics on hand-made numbers whose answers are known."""

import math

import numpy as np
import pytest
import scipy.sparse as sp

from geoaccess.errors import InputError
from geoaccess.targets import (
    e2sfca,
    evaluate_ratio,
    evaluate_target,
    load_targets,
    select_facilities,
    target_from_dict,
    weighted_quantile,
)

BASE = dict(name_zh="测试", name_en="test", facility_types=["clinic"], mode="walk", direction="to_facility",
            threshold_min=15, population="all", metric="share_within", goal=0.9)


def make(**kw):
    return target_from_dict("t", {**BASE, **kw})


def test_builtin_targets_are_defined_as_the_plans_say():
    t = load_targets()
    assert {"medical_point_15min", "health_circle_30min", "ems_120"} <= set(t)
    mp, hc, ems = t["medical_point_15min"], t["health_circle_30min"], t["ems_120"]
    assert (mp.threshold_min, mp.goal, mp.metric) == (15, 0.9, "share_within")
    assert "pharmacy" not in mp.facility_types and "village_clinic" in mp.facility_types
    assert (mp.mode_for(True), mp.mode_for(False)) == ("walk", "drive")
    assert hc.population == "rural" and hc.threshold_min == 30 and set(hc.facility_types) == {"county_hospital", "sub_centre"}
    assert ems.direction == "from_facility" and ems.mode == "ambulance" and ems.dispatch_delay_min == 3
    assert ems.metric == "mean_time" and ems.goal == 15


def test_share_within_counts_the_threshold_itself_and_unreachable_people():
    pop = np.array([10.0, 20, 30, 40, 100])
    minutes = np.array([5.0, 14.9, 15.0, 16.0, np.inf])
    e = evaluate_target(make(max_unreachable_share=1.0), minutes, pop, np.ones(5, bool))
    assert e.value == pytest.approx(60 / 200)
    assert e.population_covered == 60 and e.population_unreachable == 100 and e.population_total == 200
    assert e.mean_minutes == pytest.approx((50 + 298 + 450 + 640) / 100)
    assert not e.passed


def test_rural_population_only_and_urban_rural_modes():
    pop = np.array([100.0, 100, 100])
    urban = np.array([True, False, False])
    minutes = np.array([60.0, 10.0, 40.0])
    e = evaluate_target(make(population="rural", threshold_min=30, goal=0.5), minutes, pop, urban)
    assert e.population_total == 200 and e.value == pytest.approx(0.5) and e.passed
    assert make(mode_rural="drive").modes == ("walk", "drive")


def test_mean_time_adds_the_dispatch_delay_and_reports_p90():
    t = make(metric="mean_time", goal=15, dispatch_delay_min=3, mode="ambulance", direction="from_facility")
    pop = np.array([1.0, 1.0, 2.0])
    e = evaluate_target(t, np.array([5.0, 10.0, 14.0]), pop, np.ones(3, bool))
    assert e.value == pytest.approx((8 + 13 + 2 * 17) / 4)
    assert e.passed  # 13.75 <= 15
    assert e.p90_minutes == 17.0
    assert e.share_within == pytest.approx(0.5)  # 8 and 13 are within 15; 17 is not


def test_too_many_unreachable_people_fail_a_mean_time_target():
    t = make(metric="mean_time", goal=15)
    e = evaluate_target(t, np.array([5.0, np.inf]), np.array([98.0, 2.0]), np.ones(2, bool))
    assert e.value == pytest.approx(5.0) and e.population_unreachable == 2
    assert not e.passed  # 2% unreachable > 1% allowed
    assert evaluate_target(make(metric="mean_time", goal=15, max_unreachable_share=0.05),
                           np.array([5.0, np.inf]), np.array([98.0, 2.0]), np.ones(2, bool)).passed


def test_a_unit_fails_while_the_county_passes():
    pop = np.array([100.0] * 10)
    minutes = np.array([1.0] * 9 + [30.0])
    unit = np.array(["甲镇"] * 5 + ["乙乡"] * 5)
    e = evaluate_target(make(goal=0.85), minutes, pop, np.zeros(10, bool), unit)
    assert e.passed and e.value == pytest.approx(0.9)
    rows = e.units.set_index("name")
    assert rows.loc["甲镇", "passed"] and rows.loc["甲镇", "value"] == 1.0
    assert not rows.loc["乙乡", "passed"] and rows.loc["乙乡", "value"] == pytest.approx(0.8)
    d = e.to_dict()
    assert [u["name"] for u in d["units"]] == ["甲镇", "乙乡"]


def test_weighted_quantile():
    assert weighted_quantile(np.array([3.0, 1.0, 2.0]), np.array([1.0, 8.0, 1.0]), 0.9) == 2.0
    assert weighted_quantile(np.array([1.0, np.inf]), np.array([1.0, 1.0]), 0.9) == math.inf


def test_e2sfca_by_hand():
    # Two facilities (S = 10, 20), three demand points (P = 100, 200, 300), threshold 30:
    # sub-zones 0-10 (w 1), 10-20 (w .68), 20-30 (w .22).
    od = sp.csr_matrix(np.array([[5.0, 0], [15.0, 25.0], [0, 5.0]]))
    od = sp.csr_matrix((od.data, od.indices, od.indptr), shape=(3, 2))
    pop = np.array([100.0, 200, 300])
    cap = np.array([10.0, 20.0])
    r1 = 10 / (100 * 1 + 200 * 0.68)
    r2 = 20 / (200 * 0.22 + 300 * 1)
    expected = np.array([r1, 0.68 * r1 + 0.22 * r2, r2])
    np.testing.assert_allclose(e2sfca(od, pop, cap, 30.0), expected)


def test_per_1000_by_admin_totals_and_by_catchment():
    t = make(metric="per_1000", goal=6.9, capacity="beds", mode="drive", threshold_min=30)
    pop = np.array([1000.0, 1000.0])
    unit = np.array(["A", "B"])
    od = sp.csr_matrix(([1.0, 1.0], ([0, 1], [0, 0])), shape=(2, 1))  # one hospital in A serving both
    e = evaluate_ratio(t, pop, np.ones(2, bool), unit, np.array([20.0]), np.array(["A"]), od)
    assert e.value == pytest.approx(10.0) and e.passed
    rows = e.units.set_index("name")
    assert rows.loc["A", "value"] == pytest.approx(20.0) and rows.loc["B", "value"] == 0.0
    assert not rows.loc["B", "passed"]
    # The catchment view credits B with the hospital next door: 10 beds per 1,000 each.
    assert rows.loc["B", "e2sfca_per_1000"] == pytest.approx(10.0) and rows.loc["B", "e2sfca_passed"]


def test_select_facilities_by_kind_raw_type_and_where():
    import pandas as pd

    fac = pd.DataFrame({"kind": ["clinic", "hospital", "other", "hospital"],
                        "type": ["诊所", "医院", "急救站X", "医院"], "emergency": [False, True, False, "no"]})
    assert select_facilities(make(facility_types=["clinic", "急救站X"]), fac).tolist() == [True, False, True, False]
    t = make(facility_types=["hospital"], facility_where={"emergency": True})
    assert select_facilities(t, fac).tolist() == [False, True, False, False]
    with pytest.raises(InputError, match="facility_where names column 'beds'"):
        select_facilities(make(facility_where={"beds": 3}), fac)


@pytest.mark.parametrize("change, message", [
    ({"colour": "red"}, "unknown field"),
    ({"mode": "bike"}, "mode must be one of"),
    ({"direction": "up"}, "direction must be one of"),
    ({"population": "elderly"}, "population must be one of"),
    ({"goal": 90}, "share between 0 and 1"),
    ({"threshold_min": -1}, "threshold_min"),
    ({"metric": "per_1000"}, "needs capacity"),
    ({"facility_types": []}, "facility_types must be a non-empty list"),
])
def test_bad_target_definitions_are_refused(change, message):
    with pytest.raises(InputError, match=message):
        make(**change)


def test_unit_rows_equal_a_groupby_of_the_points_in_file_order():
    # The points are grouped once (issue 15); each unit's row is the same numbers as a
    # pandas groupby of its points: people, covered share, mean of the reachable, urban flag.
    import pandas as pd

    from geoaccess.targets import evaluate_target, load_targets

    rng = np.random.default_rng(4)
    n = 5000
    names = np.array(rng.choice(["甲镇", "乙街道", "丙乡", None], n), dtype=object)
    minutes = rng.exponential(12, n)
    minutes[rng.random(n) < 0.05] = np.inf
    pop = rng.random(n) * 10
    urban = np.where(names == "乙街道", rng.random(n) < 0.9, rng.random(n) < 0.1)
    target = load_targets()["medical_point_15min"]
    units = evaluate_target(target, minutes, pop, urban, names, ["丙乡", "甲镇", "戊镇", "乙街道"]).units
    assert units["name"].tolist()[:4] == ["丙乡", "甲镇", "戊镇", "乙街道"] and pd.isna(units["name"].iloc[4])
    frame = pd.DataFrame({"name": names, "m": minutes, "p": pop, "u": urban})
    for name, rows in frame[frame["name"].notna()].groupby("name"):
        got = units.set_index("name").loc[name]
        reach = np.isfinite(rows["m"])
        assert got["population_total"] == pytest.approx(rows["p"].sum(), rel=1e-12)
        assert got["share_within"] == pytest.approx(rows.loc[rows["m"] <= 15, "p"].sum() / rows["p"].sum(), rel=1e-12)
        assert got["mean_minutes"] == pytest.approx(np.average(rows["m"][reach], weights=rows["p"][reach]), rel=1e-12)
        assert got["urban"] == (rows.loc[rows["u"], "p"].sum() / rows["p"].sum() >= 0.5)
    assert units.set_index("name").loc["乙街道", "urban"] and not units.set_index("name").loc["甲镇", "urban"]
    empty = units[units["name"] == "戊镇"].iloc[0]
    assert empty["population_total"] == 0 and empty["passed"] is None and empty["urban"] is None
    nobody = units.iloc[4]
    assert nobody["population_total"] == pytest.approx(pop[names == None].sum(), rel=1e-12)  # noqa: E711


_TEXT = [["乙镇", None, "甲镇", "乙镇", None], ["a", "b"], [None, None], []]


@pytest.mark.parametrize("values, dtype", [*((v, "str") for v in _TEXT), *((v, object) for v in _TEXT),
                                           ([3, 1, 3], None), ([np.nan, 1.5, 1.5], None), ([2, None, "x"], object)])
def test_as_objects_gives_the_values_to_numpy_gives(values, dtype):
    # The run's unit names from their distinct values: every row the same value (and type,
    # missing ones as the column holds them) as Series.to_numpy(object) gives.
    import pandas as pd

    from geoaccess.targets import as_objects

    series = pd.Series(values, dtype=dtype)
    want, got = series.to_numpy(object), as_objects(series)
    assert got.dtype == object and len(got) == len(want)
    assert [type(v) for v in got] == [type(v) for v in want]
    assert [("missing" if pd.isna(v) else v) for v in got] == [("missing" if pd.isna(v) else v) for v in want]


@pytest.mark.parametrize("labels", [np.array(["h1", "h2", "诊所3"], dtype=object), np.array([], dtype=object),
                                    np.array([7, 8], dtype=object)])
def test_labels_at_makes_the_column_numpy_where_makes(labels):
    # The nearest facility's id per demand point ("" where none is reached): the same column,
    # dtype and values as assigning numpy.where's object array, the way _evaluate did.
    import pandas as pd

    from geoaccess.targets import labels_at

    rng = np.random.default_rng(3)
    index = rng.integers(-1, len(labels), 1000) if len(labels) else np.full(1000, -1)
    want, got = pd.DataFrame(index=range(1000)), pd.DataFrame(index=range(1000))
    want["f"] = np.where(index >= 0, labels[np.clip(index, 0, None)] if len(labels) else "", "")
    got["f"] = labels_at(labels, index)
    assert got["f"].dtype == want["f"].dtype
    assert got["f"].equals(want["f"])
