"""Siting on a scenario: candidates, the optimum against brute force with the exact engine,
the re-evaluated target, and the `geoaccess site` command."""

import json

import numpy as np
import pandas as pd
import pytest

from geoaccess.cli import main
from geoaccess.errors import InputError
from geoaccess.pipeline import _evaluate_with_sites, candidate_sites, run_scenario, site_target
from geoaccess.scenario import load_scenario
from geoaccess.synthetic import generate_county
from geoaccess.targets import select_facilities


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    return generate_county(tmp_path_factory.mktemp("county"), seed=3, area_km2=60, n_nodes=3000)


@pytest.fixture(scope="module")
def result(county):
    return run_scenario(load_scenario(county.scenario_toml), write=False)


def test_candidates_are_thinned_road_nodes_near_the_gaps(result):
    target = result.scenario.targets["medical_point_15min"]
    cands = candidate_sites(result, target, spacing_m=400)
    assert len(cands) > 0 and cands["site_id"].is_unique
    cell = np.floor(np.column_stack([cands.geometry.x, cands.geometry.y]) / 400).astype(int)
    assert len(np.unique(cell, axis=0)) == len(cands)  # one per grid square
    nodes = result.network.node_xy[cands["node"].to_numpy()]
    np.testing.assert_allclose(nodes, np.column_stack([cands.geometry.x, cands.geometry.y]))
    # Every candidate lies in or near a gap area.
    gaps = result.gaps["medical_point_15min"]
    area = gaps.set_geometry("area_geometry").buffer(400).union_all()
    assert cands.within(area.buffer(1)).all()


def test_mclp_picks_the_best_single_site_by_brute_force_with_the_engine(result):
    target = result.scenario.targets["medical_point_15min"]
    cands = candidate_sites(result, target, spacing_m=1500).head(12).reset_index(drop=True)
    sites = site_target(result, "medical_point_15min", n_new=1, candidates=cands)
    chosen = select_facilities(target, result.facilities)
    exact = [_evaluate_with_sites(result, target, chosen, cands.iloc[[i]]).value for i in range(len(cands))]
    info = result.siting["medical_point_15min"]
    assert info["value_after"] == pytest.approx(max(exact), abs=1e-12)
    assert sites["site_id"].iloc[0] == cands["site_id"].iloc[int(np.argmax(exact))] or \
        exact[list(cands["site_id"]).index(sites["site_id"].iloc[0])] == pytest.approx(max(exact))
    assert info["value_after"] >= info["value_before"]
    # The solver's covered population (from the OD matrix) equals the engine's re-evaluation.
    covered = sites["cumulative"].iloc[-1]
    total = result.demand["pop"].sum()
    assert covered / total == pytest.approx(info["value_after"], rel=1e-9)


def test_lscp_reaches_the_share_asked_for(result):
    sites = site_target(result, "medical_point_15min", cover_share=0.99, spacing_m=800)
    info = result.siting["medical_point_15min"]
    assert info["model"] == "lscp" and len(sites) >= 1
    assert info["value_after"] >= 0.99 - 1e-9 or info["notes"]


def test_pmedian_lowers_the_mean_ambulance_time(result):
    site_target(result, "ems_120", n_new=1, spacing_m=1500)
    info = result.siting["ems_120"]
    assert info["model"] == "pmedian"
    assert info["value_after"] <= info["value_before"] + 1e-9


def test_siting_parameters_are_checked(result):
    with pytest.raises(InputError, match="not a target of this scenario"):
        site_target(result, "nope", n_new=1)
    with pytest.raises(InputError, match="needs the number of new sites"):
        site_target(result, "medical_point_15min", model="mclp")
    with pytest.raises(InputError, match="model must be one of"):
        site_target(result, "medical_point_15min", n_new=1, model="kmeans")


def test_site_command_writes_sites_csv_and_summary(county, result, tmp_path):
    gaps = result.gaps["medical_point_15min"].to_crs("EPSG:4326")
    cands = tmp_path / "cands.csv"
    pd.DataFrame({"id": ["A", "B", "C"], "name": ["甲", "乙", "丙"], "lon": gaps.geometry.x.iloc[:3],
                  "lat": gaps.geometry.y.iloc[:3]}).to_csv(cands, index=False)
    out = tmp_path / "out"
    code = main(["site", str(county.scenario_toml), "--target", "medical_point_15min", "--add", "1",
                 "--candidates", str(cands), "--out", str(out)])
    assert code == 0
    sites = pd.read_csv(out / "sites.csv")
    assert len(sites) == 1 and sites["site_id"].iloc[0] in {"A", "B", "C"}
    assert {"lon", "lat", "rank", "gain", "target", "name"} <= set(sites.columns)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["siting"]["medical_point_15min"]["n_new"] == 1
    assert main(["site", str(county.scenario_toml), "--target", "health_circle_30min", "--cover", "1.5"]) == 2
    (tmp_path / "bad.csv").write_text("x,y\n1,2\n")
    assert main(["site", str(county.scenario_toml), "--target", "medical_point_15min", "--add", "1",
                 "--candidates", str(tmp_path / "bad.csv"), "--out", str(out)]) == 2
