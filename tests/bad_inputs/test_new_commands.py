"""Bad inputs to the commands new this session: ``compare``, ``site --candidates-from /
--curve`` and ``run-region``.

Each case was tried as an adversarial planner would; the ones that failed (a traceback, a
silently wrong number, a file written outside the output folder) are pinned here. Numbers
are checked against the hand-made county of tests/test_proposals.py, whose people and
minutes are known by hand.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the hand-made county and region

from geoaccess.cli import main  # noqa: E402
from geoaccess.comparison import COUNTY, compare, write_comparison  # noqa: E402
from geoaccess.errors import InputError  # noqa: E402
from geoaccess.pipeline import run_scenario  # noqa: E402
from geoaccess.scenario import load_scenario  # noqa: E402
from test_proposals import _scenario  # noqa: E402

# --------------------------------------------------------------------------- compare


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run A today, run B with T1 and T3 upgraded (as tests/test_comparison.py), the two
    townships renamed to what a spreadsheet would take for formulas and markup."""
    base = tmp_path_factory.mktemp("compare_bad")
    for side in ("a", "b"):
        (base / side).mkdir()
        _scenario(base / side)
        towns = gpd.read_file(base / side / "townships.gpkg")
        towns["name"] = ["=甲镇", "<script>alert(1)</script>乙镇"]
        towns.to_file(base / side / "townships.gpkg")
    fac = pd.read_csv(base / "b" / "facilities.csv")
    fac.loc[fac["id"].isin(["T1", "T3"]), "type"] = "sub_centre"
    fac.loc[fac["id"] == "H", "type"] = "village_clinic"
    fac.to_csv(base / "b" / "facilities.csv", index=False)
    for side in ("a", "b"):
        run_scenario(load_scenario(base / side / "scenario.toml"), out_dir=base / f"run_{side}")
    return base


def test_formula_like_township_names_keep_their_numbers(runs, tmp_path):
    # units.csv neutralises "=甲镇" to "'=甲镇"; the people per township must still be found.
    # By hand (test_comparison): 甲镇 30 → 150 covered (+150, -30), 乙镇 0 → 150 (+150).
    c = compare(runs / "run_a", runs / "run_b")
    t = c.table.set_index("unit")
    assert list(t.index) == [COUNTY, "=甲镇", "<script>alert(1)</script>乙镇"]
    assert (t.loc["=甲镇", "newly_covered"], t.loc["=甲镇", "newly_uncovered"]) == (150, 30)
    assert t.loc["<script>alert(1)</script>乙镇", "newly_covered"] == 150
    files = write_comparison(c, tmp_path / "cmp")
    csv_units = pd.read_csv(files["compare"], encoding="utf-8-sig")["unit"].tolist()
    assert csv_units[1] == "'=甲镇"  # Excel shows it as text
    page = files["compare_html"].read_text(encoding="utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;乙镇" in page


def test_a_run_compared_with_itself_is_refused(runs):
    assert main(["compare", str(runs / "run_a"), str(runs / "run_a" / "."), "--out", str(runs / "self")]) == 2
    assert not (runs / "self").exists()
    with pytest.raises(InputError, match="same folder.*planned"):
        compare(runs / "run_a", runs / "run_a")


def test_an_output_folder_inside_a_run_is_refused(runs, capsys):
    for inner in (runs / "run_b" / "cmp", runs / "run_a"):
        assert main(["compare", str(runs / "run_a"), str(runs / "run_b"), "--out", str(inner)]) == 2
        assert "--out" in capsys.readouterr().out
    assert not (runs / "run_b" / "cmp").exists()
    written = json.loads((runs / "run_a" / "geoaccess-run.json").read_text(encoding="utf-8"))["files"]
    assert sorted(p.name for p in (runs / "run_a").iterdir()) == sorted([*written, "geoaccess-run.json"])


def _broken_copy(runs: Path, tmp_path: Path, name: str, content: bytes) -> Path:
    copy = tmp_path / f"broken_{name.replace('.', '_')}"
    shutil.copytree(runs / "run_b", copy)
    (copy / name).write_bytes(content)
    return copy


@pytest.mark.parametrize("name, content, said", [
    ("summary.json", b"{}", "summary.json.*no targets"),
    ("summary.json", b"[1, 2]", "summary.json.*no targets"),
    ("summary.json", b'{"targets": [{"id": "x"}]}', "summary.json.*target x.*metric"),
    ("demand_times.gpkg", b"not a geopackage", "demand_times.gpkg.*cannot be read"),
])
def test_a_corrupt_run_file_is_named_with_the_fix(runs, tmp_path, capsys, name, content, said):
    broken = _broken_copy(runs, tmp_path, name, content)
    assert main(["compare", str(runs / "run_a"), str(broken), "--out", str(tmp_path / "out")]) == 2
    message = " ".join(capsys.readouterr().out.split())
    import re

    assert re.search(said, message) and "run the scenario again" in message
    assert not (tmp_path / "out").exists()


def test_demand_times_without_the_target_column_is_named(runs, tmp_path):
    broken = tmp_path / "no_col"
    shutil.copytree(runs / "run_b", broken)
    dem = gpd.read_file(broken / "demand_times.gpkg").drop(columns=["health_circle_30min_min"])
    (broken / "demand_times.gpkg").unlink()
    dem.to_file(broken / "demand_times.gpkg", layer="demand_times", driver="GPKG")
    with pytest.raises(InputError, match="demand_times.gpkg.*health_circle_30min_min.*run the scenario again"):
        compare(runs / "run_a", broken)


def _run_b_with(runs: Path, changed: Path, **target: object) -> Path:
    """A copy of run B whose first target's summary entries are replaced by ``target``."""
    shutil.copytree(runs / "run_b", changed)
    summary = json.loads((changed / "summary.json").read_text(encoding="utf-8"))
    summary["targets"][0].update(target)
    (changed / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return changed


def test_the_same_target_id_with_another_threshold_is_refused(runs, tmp_path):
    # With a 60-minute threshold in run B, "newly covered" would count people moved by the
    # definition, not by the plan.
    changed = _run_b_with(runs, tmp_path / "threshold60", threshold_min=60.0)
    with pytest.raises(InputError, match="health_circle_30min.*threshold_min.*30.*60"):
        compare(runs / "run_a", changed)


def test_another_goal_is_compared_with_a_note(runs, tmp_path):
    changed = _run_b_with(runs, tmp_path / "goal95", goal=0.95)
    c = compare(runs / "run_a", changed)
    assert any("goal" in n and "0.9" in n and "0.95" in n for n in c.notes)


# --------------------------------------------------------------------------- run-region


def _region(folder: Path, ids: list[str] | None = None) -> Path:
    from region_data import write_region

    toml = write_region(folder)
    if ids is not None:
        counties = gpd.read_file(folder / "counties.geojson")
        counties["code"] = ids
        (folder / "counties.geojson").unlink()
        counties.to_file(folder / "counties.geojson", driver="GeoJSON")
    return toml


def test_county_ids_that_would_leave_the_output_folder_are_refused(tmp_path, capsys):
    # ids become folder names (slices/<id>/, counties/<id>/, status/<id>.json): "../../x"
    # wrote a county's files two levels above the output folder.
    toml = _region(tmp_path / "in", ["../../escaped", "a/b", "C", ".."])
    assert main(["run-region", str(toml), "--out", str(tmp_path / "out" / "prov"), "--workers", "1"]) == 2
    message = " ".join(capsys.readouterr().out.split())
    assert "'../../escaped' (row 1)" in message and "'a/b' (row 2)" in message and "'..' (row 4)" in message
    assert "[region] id" in message and "folder" in message
    assert not any(p.name.startswith("escaped") for p in tmp_path.rglob("*"))
    assert not (tmp_path / "out").exists()


def test_an_empty_county_file_says_it_has_no_counties(tmp_path):
    from geoaccess.region.run import run_region

    toml = _region(tmp_path)
    (tmp_path / "counties.geojson").write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    with pytest.raises(InputError, match="counties.geojson has no counties"):
        run_region(toml, tmp_path / "out", workers=1)


@pytest.mark.parametrize("address, said", [
    ("tcp://127.0.0.1:1", "cannot reach the Dask scheduler at tcp://127.0.0.1:1"),
    ("nonsense", "--scheduler nonsense is not a scheduler address"),
])
def test_an_unreachable_scheduler_fails_fast_before_anything_is_written(tmp_path, capsys, address, said):
    import time

    toml = _region(tmp_path / "in")
    t0 = time.perf_counter()
    assert main(["run-region", str(toml), "--out", str(tmp_path / "out"), "--scheduler", address]) == 2
    assert time.perf_counter() - t0 < 10  # was 20 s of retries, after partitioning
    message = " ".join(capsys.readouterr().out.split())
    assert said in message and "dask scheduler" in message and "tcp://host:8786" in message
    assert not (tmp_path / "out").exists()


def test_a_rerun_after_deleting_a_county_folder_runs_that_county_again(tmp_path):
    # The status file said "ok", so the county was skipped and the province map linked to
    # a folder that no longer existed.
    from geoaccess.region.run import run_region

    toml = _region(tmp_path / "in")
    out = tmp_path / "out"
    first = run_region(toml, out, workers=1, counties=["A", "B"])
    assert sorted(first.ran) == ["A", "B"]
    shutil.rmtree(out / "counties" / "B")
    again = run_region(toml, out, workers=1, counties=["A", "B"])
    assert again.skipped == ["A"] and again.ran == ["B"]
    assert (out / "counties" / "B" / "summary.json").is_file()
    assert again.records["B"]["targets"][0]["value"] == first.records["B"]["targets"][0]["value"]


# --------------------------------------------------------------------------- site --curve


def test_a_huge_curve_stops_where_more_sites_cannot_help_and_says_so(tmp_path, capsys):
    # By hand (test_proposals): the best 1, 2, 3 upgrades cover 230, 330, 330 of 330; a third
    # adds nobody, so no budget can do better. --curve 1000000 used to be cut to the 4
    # candidates without a word (and, with thousands of road-node candidates, meant
    # thousands of solves).
    scenario = _scenario(tmp_path)
    out = tmp_path / "out"
    assert main(["site", str(scenario), "--target", "health_circle_30min", "--curve", "1000000",
                 "--candidates-from", "township_health_centre", "--out", str(out)]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "only 4 candidate site(s) for --curve 1000000" in printed
    assert "the curve stops at 3 new site(s): the 3rd site adds nobody within 30 min" in printed
    curve = pd.read_csv(out / "curve_health_circle_30min.csv", encoding="utf-8-sig")
    assert list(curve["n_sites"]) == [0, 1, 2, 3] and list(curve["covered"]) == pytest.approx([30, 230, 330, 330])


# --------------------------------------------------------------------------- site --candidates


def test_candidate_rows_far_off_the_roads_are_named_and_left_out(tmp_path, capsys):
    # A failed geocode at (0, 0) could only "add nobody"; it used to be solved for silently.
    from test_proposals import LONLAT, R, X0, Y0

    scenario = _scenario(tmp_path)
    lon, lat = LONLAT.transform(X0 + 3.0 * R, Y0)  # where T2 stands: 230 of 330 within 30 min (by hand)
    pd.DataFrame({"lon": [0.0, lon], "lat": [0.0, lat], "id": ["G0", "S1"], "name": ["geocode failed", "site"]}
                 ).to_csv(tmp_path / "cands.csv", index=False)
    out = tmp_path / "out"
    assert main(["site", str(scenario), "--target", "health_circle_30min", "--add", "1", "--candidates", "cands.csv",
                 "--out", str(out)]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "cands.csv" in printed and "row 1 (id G0)" in printed and "left out" in printed
    sites = pd.read_csv(out / "sites.csv", encoding="utf-8-sig")
    assert list(sites["site_id"]) == ["S1"] and sites["cumulative"].iloc[0] == pytest.approx(230)
    pd.DataFrame({"lon": [0.0], "lat": [0.0], "id": ["G0"]}).to_csv(tmp_path / "far.csv", index=False)
    assert main(["site", str(scenario), "--target", "health_circle_30min", "--add", "1", "--candidates", "far.csv",
                 "--out", str(tmp_path / "out2")]) == 2
    printed = " ".join(capsys.readouterr().out.split())
    assert "far.csv" in printed and "no candidate" in printed and not (tmp_path / "out2").exists()


def test_townships_drawn_differently_are_refused(runs, tmp_path):
    # Same names, other boundaries: each run's township values would describe other people.
    moved = tmp_path / "moved"
    shutil.copytree(runs / "run_b", moved)
    dem = gpd.read_file(moved / "demand_times.gpkg")
    dem.loc[0, "unit"] = "<script>alert(1)</script>乙镇"  # the village at 0.5R (30 people) moved east
    (moved / "demand_times.gpkg").unlink()
    dem.to_file(moved / "demand_times.gpkg", layer="demand_times", driver="GPKG")
    with pytest.raises(InputError, match=r"townships.*30 people.*\[admin\]"):
        compare(runs / "run_a", moved)


@pytest.mark.parametrize("flag,value", [("--time-limit", "0"), ("--time-limit", "-5"), ("--time-limit", "nan"),
                                        ("--spacing", "0"), ("--spacing", "inf")])
def test_solver_limits_are_checked_at_the_door(tmp_path, capsys, monkeypatch, flag, value):
    # Refused before any routing, naming the flag (not the function's parameter) and its unit.
    scenario = _scenario(tmp_path)
    monkeypatch.setattr("geoaccess.pipeline.run_scenario", lambda *a, **k: pytest.fail("routed before checking"))
    assert main(["site", str(scenario), "--target", "health_circle_30min", "--add", "1", flag, value]) == 2
    said = capsys.readouterr()
    assert f"{flag} must be a positive number of" in " ".join((said.out + said.err).split())


@pytest.mark.parametrize("value", ["", " ", ","])
def test_an_empty_candidates_from_is_refused_not_taken_as_road_nodes(tmp_path, capsys, value):
    # `--candidates-from ""` used to fall back to road-node candidates and exit 0
    scenario = _scenario(tmp_path)
    assert main(["site", str(scenario), "--target", "health_circle_30min", "--add", "1",
                 "--candidates-from", value, "--out", str(tmp_path / "out")]) == 2
    said = capsys.readouterr()
    assert "--candidates-from needs one or more facility kinds" in " ".join((said.out + said.err).split())
    assert not (tmp_path / "out" / "sites.csv").exists()


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_bad_kdtree_thread_count_is_named_by_check_and_run_before_routing(tmp_path, capsys, monkeypatch, command):
    # `check` used to pass it and `run` to fail only after loading the roads
    monkeypatch.setenv("GEOACCESS_KDTREE_WORKERS", "abc")
    monkeypatch.setattr("geoaccess.pipeline.load_network", lambda *a, **k: pytest.fail("read the roads before checking"))
    assert main([command, str(_scenario(tmp_path)), "--out", str(tmp_path / "out")]) == 2
    said = capsys.readouterr()
    assert "GEOACCESS_KDTREE_WORKERS='abc' must be a positive number of threads" in " ".join((said.out + said.err).split())
