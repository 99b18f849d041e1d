"""Issue 14: siting that answers the planners' questions — upgrading existing centres, the
proposal as a user reads it, and how many sites are enough.

The hand-made county: one straight primary road (drive 60 km/h × congestion 0.85 =
850 m/min, so 30 minutes reach R = 25.5 km along it) in UTM 50N. The county hospital
stands at x = 0; rural villages at 0.5R (30 people), 1.5R (50), 2.5R (100), 3.5R (100) and
4.5R (50); township health centres T1..T4 at 2R, 3R, 4R and 6R. Every village lies at
least 0.5R from the edge of any 30-minute reach, so the access legs (metres) cannot flip
a village in or out. By hand: T1 reaches the villages at 1.5R and 2.5R (150 people), T2
2.5R and 3.5R (200), T3 3.5R and 4.5R (150), T4 nobody. The best single upgrade is T2
(30 + 200 = 230 of 330 within 30 min); the best pair is T1 + T3 (all 330), which greedy
(T2 first, then +50) misses; a third upgrade adds nobody.
"""

import json
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from geoaccess.cli import main
from geoaccess.curve import site_curve
from geoaccess.errors import InputError
from geoaccess.pipeline import run_scenario
from geoaccess.proposals import _evaluate_with_sites, site_target
from geoaccess.candidates import upgrade_candidates
from geoaccess.scenario import load_scenario
from geoaccess.siting import greedy_mclp, solve_mclp
from geoaccess.targets import select_facilities

UTM = "EPSG:32650"
X0, Y0 = 500_000.0, 3_650_000.0
R = 30 * 850.0  # metres driven in 30 minutes on the primary road
LONLAT = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
VILLAGES = {0.5: 30, 1.5: 50, 2.5: 100, 3.5: 100, 4.5: 50}
CENTRES = {"T1": (2.0, "东岗乡卫生院"), "T2": (3.0, "中和乡卫生院"), "T3": (4.0, "西河乡卫生院"), "T4": (6.0, "远山乡卫生院")}


def _scenario(folder: Path, extra: str = "") -> Path:
    xs = sorted({0.0, *VILLAGES, *(x for x, _ in CENTRES.values()), 6.5})
    lonlat = [LONLAT.transform(X0 + x * R, Y0) for x in xs]
    xml = ["<?xml version='1.0' encoding='UTF-8'?>", "<osm version='0.6' generator='test'>"]
    xml += [f"<node id='{i + 1}' version='1' lat='{lat:.9f}' lon='{lon:.9f}'/>" for i, (lon, lat) in enumerate(lonlat)]
    xml += ["<way id='1' version='1'>", *[f"<nd ref='{i + 1}'/>" for i in range(len(xs))],
            "<tag k='highway' v='primary'/>", "</way>", "</osm>"]
    (folder / "roads.osm").write_text("\n".join(xml), encoding="utf-8")

    def lon_lat(x):
        return LONLAT.transform(X0 + x * R, Y0)

    fac = [("H", "县人民医院", "county_hospital", 0.0)] + [(k, n, "township_health_centre", x) for k, (x, n) in CENTRES.items()]
    fac.append(("V", "村卫生室", "village_clinic", 1.5))
    pd.DataFrame({"id": [f[0] for f in fac], "name": [f[1] for f in fac], "type": [f[2] for f in fac],
                  "lon": [lon_lat(f[3])[0] for f in fac], "lat": [lon_lat(f[3])[1] for f in fac]}
                 ).to_csv(folder / "facilities.csv", index=False)
    pd.DataFrame({"lon": [lon_lat(x)[0] for x in VILLAGES], "lat": [lon_lat(x)[1] for x in VILLAGES],
                  "pop": list(VILLAGES.values())}).to_csv(folder / "population.csv", index=False)
    west = shapely.box(X0 - 5000, Y0 - 5000, X0 + 2.75 * R, Y0 + 5000)
    east = shapely.box(X0 + 2.75 * R, Y0 - 5000, X0 + 7 * R, Y0 + 5000)
    gpd.GeoDataFrame({"name": ["甲镇", "乙镇"]}, geometry=[west, east], crs=UTM).to_file(folder / "townships.gpkg")
    (folder / "scenario.toml").write_text(f"""
[scenario]
name = "hand-county"
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
[admin]
path = "townships.gpkg"
name = "name"
[targets]
use = ["health_circle_30min"]
{extra}
""", encoding="utf-8")
    return folder / "scenario.toml"


@pytest.fixture(scope="module")
def hand(tmp_path_factory):
    return _scenario(tmp_path_factory.mktemp("hand"))


@pytest.fixture()
def result(hand):
    return run_scenario(load_scenario(hand), write=False)


def test_the_hand_county_is_as_designed(result):
    e = result.evaluation("health_circle_30min")
    assert e.population_total == 330 and e.population_covered == 30  # only the hospital's village


def test_upgrade_picks_the_centres_brute_force_finds(result):
    target = result.scenario.targets["health_circle_30min"]
    cands = upgrade_candidates(result, target, "township_health_centre")
    assert sorted(cands["site_id"]) == ["T1", "T2", "T3", "T4"]  # the village clinic is not a candidate
    chosen = select_facilities(target, result.facilities)
    for k, expect_ids, expect_covered in ((1, {"T2"}, 230), (2, {"T1", "T3"}, 330)):
        # brute force: every subset of k centres re-evaluated with the exact engine
        covered = {ids: _evaluate_with_sites(result, target, chosen, cands[cands["site_id"].isin(ids)]).population_covered
                   for ids in combinations(sorted(cands["site_id"]), k)}
        best = max(covered.values())
        assert best == expect_covered and [set(i) for i, v in covered.items() if v == best] == [expect_ids]
        sites = site_target(result, "health_circle_30min", n_new=k, candidates_from="township_health_centre")
        assert set(sites["site_id"]) == expect_ids
    # listed by name and township, re-evaluated as the target's kind
    assert list(sites.sort_values("site_id")["name"]) == ["东岗乡卫生院", "西河乡卫生院"]
    assert list(sites.sort_values("site_id")["township"]) == ["甲镇", "乙镇"]
    assert set(sites["kind"]) == {"township_health_centre"}
    info = result.siting["health_circle_30min"]
    assert info["value_after"] == pytest.approx(1.0) and info["passed_after"] and info["candidates_from"]
    # the table agrees with the line: people, summed in rank order, end at the covered total
    assert sites["gain"].sum() + 30 == pytest.approx(330) and sites["cumulative"].iloc[-1] == pytest.approx(330)
    assert sites["measure"].iloc[0] == "people within 30 min"


def test_greedy_misses_the_pair_so_the_exact_model_matters(result):
    from geoaccess.proposals import siting_matrix

    target = result.scenario.targets["health_circle_30min"]
    cands = upgrade_candidates(result, target, "township_health_centre")
    problem, thr, _ = siting_matrix(result, target, cands, "mclp")
    assert greedy_mclp(problem, thr, 2).objective == pytest.approx(280)  # 30 + T2 (200) + 50
    assert solve_mclp(problem, thr, 2).objective == pytest.approx(330)


def test_fewer_sites_than_asked_say_why(result):
    sites = site_target(result, "health_circle_30min", n_new=4, candidates_from="township_health_centre")
    info = result.siting["health_circle_30min"]
    assert len(sites) == 2 and info["n_asked"] == 4
    assert "the 3rd site would add nobody within 30 min" in info["messages"]


def test_goal_already_met_is_said(tmp_path):
    scenario = _scenario(tmp_path, "[targets.override.health_circle_30min]\ngoal = 0.05\n")
    res = run_scenario(load_scenario(scenario), write=False)
    site_target(res, "health_circle_30min", n_new=1, candidates_from="township_health_centre")
    assert "goal already met: 9.1% ≥ 5%" in res.siting["health_circle_30min"]["messages"]  # 30 / 330
    sites = site_target(res, "health_circle_30min", cover_share=0.05, candidates_from="township_health_centre")
    assert len(sites) == 0 and any("no new site needed" in m for m in res.siting["health_circle_30min"]["messages"])


def test_upgrade_kinds_are_checked(result):
    with pytest.raises(InputError, match="no facility to upgrade.*township_health_centre \\(4\\)"):
        site_target(result, "health_circle_30min", n_new=1, candidates_from="sub_centre")
    with pytest.raises(InputError, match="not both"):
        site_target(result, "health_circle_30min", n_new=1, candidates_from="township_health_centre",
                    candidates=upgrade_candidates(result, result.scenario.targets["health_circle_30min"],
                                                  "township_health_centre"))


def test_curve_by_hand_and_equal_to_independent_solves(result):
    curve = site_curve(result, "health_circle_30min", 3, candidates_from="township_health_centre")
    assert list(curve["n_sites"]) == [0, 1, 2, 3]
    assert list(curve["covered"]) == pytest.approx([30, 230, 330, 330])
    assert list(curve["passed"]) == [False, False, True, True]
    for n in (1, 2, 3):
        site_target(result, "health_circle_30min", n_new=n, candidates_from="township_health_centre")
        assert result.siting["health_circle_30min"]["value_after"] == pytest.approx(curve["value"].iloc[n])


def test_curve_on_a_generated_county_equals_independent_solves(tmp_path):
    from geoaccess.synthetic import generate_county

    county = generate_county(tmp_path, seed=3, area_km2=60, n_nodes=3000)
    res = run_scenario(load_scenario(county.scenario_toml), write=False)
    for tid in ("medical_point_15min", "ems_120"):  # mclp and p-median (warm-started)
        curve = site_curve(res, tid, 3, spacing_m=1500)
        for n in (1, 2, 3):
            site_target(res, tid, n_new=n, spacing_m=1500)
            assert res.siting[tid]["value_after"] == pytest.approx(curve["value"].iloc[n], rel=1e-9), (tid, n)


def test_pmedian_table_includes_the_dispatch_delay_and_pcenter_the_worst_time(tmp_path):
    from geoaccess.synthetic import generate_county

    county = generate_county(tmp_path, seed=3, area_km2=60, n_nodes=3000)
    res = run_scenario(load_scenario(county.scenario_toml), write=False)
    sites = site_target(res, "ems_120", n_new=2, spacing_m=1500)
    info = res.siting["ems_120"]
    assert sites["cumulative"].iloc[-1] == pytest.approx(info["value_after"])  # the line's number, delay included
    assert info["value_before"] - sites["gain"].sum() == pytest.approx(info["value_after"])
    assert "incl. 3 min dispatch" in sites["measure"].iloc[0]
    # independent: the mean of the engine's minutes of the reachable people, plus the delay, by hand
    minutes = res.demand["ems_120_min"].to_numpy(float)
    reach = np.isfinite(minutes) & (res.demand["pop"].to_numpy() > 0)
    assert info["value_before"] == pytest.approx(np.average(minutes[reach] + 3, weights=res.demand["pop"][reach]))
    site_target(res, "ems_120", n_new=1, model="pcenter", spacing_m=1500)
    info = res.siting["ems_120"]
    assert info["worst_minutes_before"] == pytest.approx(minutes[reach].max() + 3)
    assert info["worst_minutes_after"] <= info["worst_minutes_before"]


def test_site_command_accumulates_proposals_and_reads_candidates_beside_the_scenario(tmp_path, capsys, monkeypatch):
    scenario = _scenario(tmp_path, """
[[targets.define]]
id = "clinic_10min"
name_zh = "10分钟到村卫生室"
name_en = "Village clinic within 10 min by car"
facility_types = ["village_clinic"]
mode = "drive"
direction = "to_facility"
threshold_min = 10
population = "all"
metric = "share_within"
goal = 0.9
""")
    out = tmp_path / "out"
    assert main(["site", str(scenario), "--target", "health_circle_30min", "--add", "2",
                 "--candidates-from", "township_health_centre", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "东岗乡卫生院" in printed and "甲镇" in printed and "9.1% now → 100.0%" in printed
    first = pd.read_csv(out / "sites_health_circle_30min.csv")
    assert set(first["site_id"]) == {"T1", "T3"} and {"township", "gain", "cumulative", "measure", "lon", "lat"} <= set(first)
    # a candidates file named relative to the scenario's folder, run from elsewhere
    lon, lat = LONLAT.transform(X0 + 3.5 * R, Y0)
    pd.DataFrame({"id": ["P"], "name": ["新点"], "lon": [lon], "lat": [lat]}).to_csv(tmp_path / "cands.csv", index=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["site", str(scenario), "--target", "clinic_10min", "--add", "1", "--candidates", "cands.csv",
                 "--out", str(out)]) == 0
    assert "kept the earlier proposal for health_circle_30min" in capsys.readouterr().out
    both = pd.read_csv(out / "sites.csv")
    assert sorted(both["target"].unique()) == ["clinic_10min", "health_circle_30min"]
    assert set(pd.read_csv(out / "sites_health_circle_30min.csv")["site_id"]) == {"T1", "T3"}
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert set(summary["siting"]) == {"clinic_10min", "health_circle_30min"}
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "东岗乡卫生院" in report and "新点" in report  # both proposals in the report


def test_site_command_checks_the_candidates_file_before_computing(hand, tmp_path, capsys, monkeypatch):
    import geoaccess.pipeline

    def no_run(*a, **k):
        raise AssertionError("routing started before the candidates file was checked")

    monkeypatch.setattr(geoaccess.pipeline, "run_scenario", no_run)
    (tmp_path / "bad.csv").write_text("x,y\n1,2\n")
    monkeypatch.chdir(tmp_path)
    code = main(["site", str(hand), "--target", "health_circle_30min", "--add", "1", "--candidates", "bad.csv",
                 "--out", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert code == 2 and "relative paths are read from the scenario's folder" in out
    code = main(["site", str(hand), "--target", "health_circle_30min", "--add", "1", "--candidates",
                 str(tmp_path / "bad.csv"), "--out", str(tmp_path / "o")])
    assert code == 2 and "lon" in capsys.readouterr().out


def test_site_help_shows_the_defaults_and_the_curve_command_writes_csv_and_png(hand, tmp_path):
    helped = subprocess.run([sys.executable, "-m", "geoaccess.cli", "site", "--help"], capture_output=True, text=True)
    assert "(default: 500)" in helped.stdout and "(default: 60)" in helped.stdout
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "geoaccess.cli", "site", str(hand), "--target", "health_circle_30min",
                          "--curve", "3", "--candidates-from", "township_health_centre", "--out", str(out)],
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 0, run.stdout + run.stderr
    assert "goal met with 2 new site(s)" in run.stdout
    assert "HiGHS" not in run.stdout + run.stderr and "Copyright" not in run.stdout + run.stderr
    curve = pd.read_csv(out / "curve_health_circle_30min.csv")
    assert list(curve["covered"]) == pytest.approx([30, 230, 330, 330])
    assert (out / "curve_health_circle_30min.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("seed", range(5))
def test_bitset_dominance_equals_the_intersection_matrix(seed):
    from geoaccess.siting.dominance import _dominated, _dominated_bits

    rng = np.random.default_rng(seed)
    G, K = 300, 40
    base = rng.random((G, K)) < 0.2
    base[:, 5] = base[:, 3] | base[:, 7]  # supersets and equal columns, so some are dominated
    base[:, 9] = base[:, 3]
    gr, lc = np.nonzero(base)
    order = np.argsort(gr, kind="stable")
    gr, lc = gr[order], lc[order]
    cols = np.arange(K)
    by_matrix, done = _dominated(gr, lc, G, cols)
    by_bits, done_bits = _dominated_bits(gr, lc, G, K)
    assert done and done_bits and by_bits.tolist() == by_matrix.tolist()
    # by hand: 3 ⊆ 5 and 9 = 3 (9 is the higher index), 7 ⊆ 5
    assert by_bits[3] and by_bits[7] and by_bits[9] and not by_bits[5]


def test_progress_lines_during_a_solve(result, monkeypatch):
    import highspy

    from geoaccess.siting import solver

    said = []
    site_target(result, "health_circle_30min", n_new=2, candidates_from="township_health_centre", progress=said.append)
    assert said[0].startswith("solving mclp for 2 site(s): 4 candidates") and "time limit 60 s" in said[0]
    # HiGHS's own progress (incumbent, bound, gap, time limit) reaches the same function
    monkeypatch.setattr(solver, "_REPORT_EVERY_S", 0.0)
    lines = []
    rng = np.random.default_rng(1)  # a multi-knapsack HiGHS needs branching for
    A = rng.integers(1, 30, size=(30, 60)).astype(float)
    with solver.reporting(lines.append):
        x, status, obj, bound, _ = solver._highs_solve(rng.integers(1, 40, size=60).astype(float), A,
                                                      np.full(30, -np.inf), A.sum(1) / 3, np.zeros(60), np.ones(60),
                                                      np.ones(60), maximize=True, offset=0.0, time_limit=10, rel_gap=0)
    assert status == "optimal" and highspy
    assert lines and all(line.startswith("HiGHS: incumbent") and "10 s limit" in line for line in lines)
    assert "inf" not in lines[-1]


def test_pcenter_says_when_a_site_changes_nothing_and_who_it_cannot_reach(result):
    # Generated candidates on the one-road county are its two junctions: x = 0 (the hospital's
    # node) and x = 6.5R. The villages at 2.5R-4.5R (250 people) are over 60 min (the p-center
    # matrix cutoff, 2 × 30) from both and from the hospital; the worst case is the village at
    # 4.5R: 4.5 × 30 = 135 min from the hospital, which no candidate lowers.
    sites = site_target(result, "health_circle_30min", n_new=1, model="pcenter")
    info = result.siting["health_circle_30min"]
    assert info["worst_minutes_before"] == pytest.approx(135, abs=0.1) == info["worst_minutes_after"]
    assert len(sites) == 1 and "the 1st site does not lower the worst-case time (exact re-check)" in info["messages"]
    assert any(m.startswith("250 people are farther than 60 min") for m in info["messages"])


def test_pcenter_says_who_its_worst_case_leaves_out(tmp_path):
    # 40 people 3 km north of the road (beyond the 1,000 m access cap): unreachable, so the
    # exact worst case (135 min, the village at 4.5R) leaves them out, and the note says so
    scenario = _scenario(tmp_path)
    pop = pd.read_csv(tmp_path / "population.csv")
    lon, lat = LONLAT.transform(X0 + 1.0 * R, Y0 + 3000)
    pd.concat([pop, pd.DataFrame({"lon": [lon], "lat": [lat], "pop": [40]})]).to_csv(tmp_path / "population.csv",
                                                                                   index=False)
    res = run_scenario(load_scenario(scenario), write=False)
    site_target(res, "health_circle_30min", n_new=1, model="pcenter")
    info = res.siting["health_circle_30min"]
    assert info["worst_minutes_after"] == pytest.approx(135, abs=0.1)
    assert any(m.startswith("250 people are farther than 60 min") and "counts them" in m for m in info["messages"])
    assert any(m.startswith("40 people reach no facility of the target by road") and "leaves them out" in m
               for m in info["messages"]), info["messages"]


def test_unknown_upgrade_kind_is_refused_before_routing(tmp_path, capsys, monkeypatch):
    import geoaccess.pipeline

    scenario = _scenario(tmp_path)
    fac = pd.read_csv(tmp_path / "facilities.csv")
    fac.loc[fac["id"] == "T2", "type"] = "乡镇卫生院"  # a raw type value: the run classifies it by its name rule
    fac.to_csv(tmp_path / "facilities.csv", index=False)

    def no_routing(*a, **k):
        raise AssertionError("routing started before --candidates-from was checked")

    real = geoaccess.pipeline._Engine
    monkeypatch.setattr(geoaccess.pipeline, "_Engine", no_routing)
    code = main(["site", str(scenario), "--target", "health_circle_30min", "--add", "1",
                 "--candidates-from", "township_health_centre,township_centre", "--out", str(tmp_path / "o")])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 2
    assert "--candidates-from" in out and "'township_centre'" in out and "'township_health_centre'" not in out
    assert "township_health_centre (4)" in out and "county_hospital (1)" in out
    # a raw type value of the facility file is a kind too: accepted, so the run goes on to route
    monkeypatch.setattr(geoaccess.pipeline, "_Engine", real)
    assert main(["site", str(scenario), "--target", "health_circle_30min", "--add", "1",
                 "--candidates-from", "乡镇卫生院", "--out", str(tmp_path / "o")]) == 0
    sites = pd.read_csv(tmp_path / "o" / "sites_health_circle_30min.csv")
    assert list(sites["site_id"]) == ["T2"]  # the best single upgrade, by hand (module docstring)
