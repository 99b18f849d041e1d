"""MCLP branch and bound for small budgets: against brute force on dense coverage with
fractional weights (where the LP bound is weak), its time-out, and the covering matrix
of a scenario grouped by coverage set against the ungrouped pairs."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
import scipy.sparse as sp

from geoaccess.siting import siting_problem, solve_mclp
from geoaccess.siting.branch import _mclp_branch_and_bound


def _dense_instance(seed, n=400, m=24, density=0.55):
    rng = np.random.default_rng(seed)
    cover = rng.random((n, m)) < density
    w = rng.gamma(2.0, 30.0, n)  # fractional persons, as raster cells hold
    return cover, w


def _brute(cover, w, p):
    best = max(itertools.combinations(range(cover.shape[1]), p),
               key=lambda s: (w[cover[:, list(s)].any(axis=1)].sum(), [-j for j in s]))
    return float(w[cover[:, list(best)].any(axis=1)].sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("p", [1, 2, 3, 4])
def test_branch_and_bound_equals_brute_force(seed, p):
    cover, w = _dense_instance(seed)
    Ac = sp.csc_matrix(cover.astype(float))
    # start from the worst incumbent, so the search itself must find the optimum
    cols, value, done = _mclp_branch_and_bound(Ac, w, p, [], 0.0, time.perf_counter() + 60, lambda _: 1e-9)
    assert done and len(cols) == p
    assert value == pytest.approx(_brute(cover, w, p), rel=1e-12)
    assert w[cover[:, cols].any(axis=1)].sum() == pytest.approx(value, rel=1e-12)


def test_branch_and_bound_reports_a_time_out():
    cover, w = _dense_instance(5, n=300, m=40)
    Ac = sp.csc_matrix(cover.astype(float))
    cols, value, done = _mclp_branch_and_bound(Ac, w, 4, [0, 1, 2, 3], float(w[cover[:, :4].any(axis=1)].sum()),
                                               time.perf_counter() - 1, lambda _: 1e-9)
    assert not done and cols == [0, 1, 2, 3]


@pytest.mark.parametrize("seed", [3, 4])
def test_solve_mclp_proves_dense_fractional_optimum(seed):
    cover, w = _dense_instance(seed, n=600, m=30)
    r, c = np.nonzero(cover)
    od = sp.csr_matrix((np.full(r.size, 5.0), (r, c)), shape=cover.shape)
    prob = siting_problem(od, w, [f"c{j}" for j in range(cover.shape[1])], cutoff_min=10)
    res = solve_mclp(prob, 10, 3)
    # proven to the float tolerance of 1e-9 x the people (fractional weights)
    assert res.status == "optimal" and res.mip_gap <= 2e-9
    assert res.objective == pytest.approx(_brute(cover, w, 3), rel=1e-12)


def test_covering_matrix_groups_equal_the_ungrouped_pairs(tmp_path):
    from geoaccess.pipeline import run_scenario
    from geoaccess.proposals import _candidates, siting_matrix
    from geoaccess.scenario import load_scenario
    from geoaccess.synthetic import generate_county
    from geoaccess.targets import population_mask

    county = generate_county(tmp_path, seed=3, area_km2=60, n_nodes=3000)
    res = run_scenario(load_scenario(county.scenario_toml), write=False)
    target = res.scenario.targets["health_circle_30min"]
    cands = _candidates(res, target, None, None, 1500.0)
    grouped, thr, _ = siting_matrix(res, target, cands, "mclp")
    # the p-median matrix keeps every (demand point, site) pair with its minutes, ungrouped
    pairs, _, _ = siting_matrix(res, target, cands, "pmedian")
    urban = res.demand["urban"].to_numpy(bool)
    counted = res.demand["pop"].to_numpy(float) * population_mask(target, urban)
    assert grouped.n_demand < pairs.n_demand
    assert grouped.total_pop == pytest.approx(counted.sum(), rel=1e-12) == pytest.approx(pairs.total_pop)
    for p in (1, 2, 3):
        a, b = solve_mclp(grouped, thr, p), solve_mclp(pairs, thr, p)
        assert a.status == b.status == "optimal"
        assert a.objective == pytest.approx(b.objective, rel=1e-9)


def test_dominated_candidates_of_the_covering_table_by_hand_sets(monkeypatch):
    from geoaccess.siting import dominance
    from geoaccess.siting.coverrows import dominated_candidates as _dominated_candidates

    rng = np.random.default_rng(7)
    within = (rng.random((130, 40)) < 0.3).astype(np.uint8)
    within[:, 5] = within[:, 2]  # equal to a lower index: dominated
    within[:, 9] = within[:, 11] & within[:, 12]  # a subset of column 11
    sets = [frozenset(np.flatnonzero(within[:, j])) for j in range(within.shape[1])]
    expect = [any((sets[j] < sets[k]) or (sets[j] == sets[k] and k < j) for k in range(len(sets)) if k != j)
              for j in range(len(sets))]
    got = _dominated_candidates(within)
    assert got.tolist() == expect and got[5] and got[9]
    monkeypatch.setattr(dominance, "_BITSET_WORK_LIMIT", 10)  # too costly: nothing dropped, still exact
    assert not _dominated_candidates(within).any()
