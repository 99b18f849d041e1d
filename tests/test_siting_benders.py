"""Benders decomposition for the p-median (geoaccess/siting/benders.py), checked against
brute force over all subsets and an independent MILP (scipy.optimize.milp on the classic
assignment formulation)."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.spatial import cKDTree

import geoaccess.siting as S
from geoaccess.siting import evaluate_sites, siting_problem, solve_pmedian
from geoaccess.siting.benders import _Cuts, _pmed_benders
from geoaccess.siting.median import _pmedian_data
from geoaccess.siting.problem import _pairs


def _instance(seed, n=60, m=11, radius=6.0, fixed=None):
    rng = np.random.default_rng(seed)
    dem = rng.uniform(0, 20, (n, 2))
    sit = rng.uniform(0, 20, (m, 2))
    d = cKDTree(dem).sparse_distance_matrix(cKDTree(sit), radius, output_type="coo_matrix")
    od = sp.csr_matrix((d.data + 1e-3, (d.row, d.col)), shape=(n, m))
    return siting_problem(od, rng.integers(1, 100, n).astype(float), np.arange(m), fixed=fixed, cutoff_min=radius + 1)


def _dense_cost(prob, penalty):
    """Demand x site minutes, the penalty where no pair is stored (the model's rule)."""
    n, m = prob.n_demand, prob.n_sites
    T = np.full((n, m), penalty)
    r, c, t = _pairs(prob)
    T[r, c] = np.minimum(t, penalty)
    return T


def _brute(prob, p, penalty, must=(), never=()):
    T = _dense_cost(prob, penalty)
    base = np.full(prob.n_demand, penalty)
    if prob.fixed.any():
        base = np.minimum(base, T[:, prob.fixed].min(axis=1))
    free = [j for j in np.flatnonzero(~prob.fixed) if j not in never]
    best = np.inf
    for s in itertools.combinations(free, p):
        if not set(must) <= set(s):
            continue
        best = min(best, float(prob.weights @ np.minimum(base, T[:, list(s)].min(axis=1))))
    return best


def _scipy_milp(prob, p, penalty):
    """Classic formulation: x_ij assignment (plus a virtual option at the penalty), y_j."""
    T = _dense_cost(prob, penalty)
    n, m = T.shape
    w = prob.weights
    opts = np.c_[T, np.full(n, penalty)]  # column m: unserved at the penalty
    fixed = prob.fixed
    nx = n * (m + 1)
    c = np.r_[(w[:, None] * opts).ravel(), np.zeros(m)]
    rows = [sp.hstack([sp.kron(sp.eye(n), np.ones((1, m + 1))), sp.csr_matrix((n, m))])]
    lo, hi = [np.ones(n)], [np.ones(n)]
    # x_ij <= y_j for the sites (not the virtual option)
    sel = np.zeros((n, m + 1), dtype=bool)
    sel[:, :m] = True
    idx = np.flatnonzero(sel.ravel())
    link = sp.csr_matrix((np.ones(idx.size), (np.arange(idx.size), idx)), shape=(idx.size, nx))
    ylink = sp.csr_matrix((-np.ones(idx.size), (np.arange(idx.size), idx % (m + 1))), shape=(idx.size, m))
    rows.append(sp.hstack([link, ylink]))
    lo.append(np.full(idx.size, -np.inf))
    hi.append(np.zeros(idx.size))
    rows.append(sp.hstack([sp.csr_matrix((1, nx)), sp.csr_matrix((~fixed).astype(float)[None, :])]))
    lo.append([p])
    hi.append([p])
    A = sp.vstack(rows).tocsr()
    ylo = fixed.astype(float)
    res = milp(c, constraints=LinearConstraint(A, np.concatenate(lo), np.concatenate(hi)),
               integrality=np.r_[np.zeros(nx), np.ones(m)],
               bounds=Bounds(np.r_[np.zeros(nx), ylo], np.r_[np.ones(nx), np.ones(m)]),
               options={"mip_rel_gap": 1e-9})
    assert res.success
    return float(res.fun)


def _model(prob, penalty):
    D, cols, const = _pmedian_data(prob, penalty)
    return D, cols, const


@pytest.mark.parametrize("seed", range(4))
def test_cut_at_an_integer_point_is_the_true_cost(seed):
    prob = _instance(seed)
    D, _, _ = _model(prob, 12.0)
    rng = np.random.default_rng(seed)
    cuts = _Cuts(D)
    for _ in range(5):
        cols = sorted(rng.choice(D.K, 3, replace=False).tolist())
        y = np.zeros(D.K)
        y[cols] = 1.0
        viol, lev, ptr, cc, coef = cuts.separate(y, np.full(D.G, -1.0))
        assert viol.size == D.G  # every group's cut is violated by theta = -1
        # at an integer point the strongest cut gives exactly the nearest open time
        A = sp.csr_matrix((coef, cc, ptr), shape=(D.G, D.K + D.G))[:, :D.K]
        rhs = lev - A @ y
        dense = np.full((D.G, D.K), np.inf)
        dense[D.cr, D.cc] = D.ct
        truth = np.minimum(D.gcap, dense[:, cols].min(axis=1))
        np.testing.assert_allclose(rhs, truth)
        # and the same cut is valid (never above the true cost) at every other 0/1 point
        for other in itertools.islice(itertools.combinations(range(D.K), 3), 40):
            y2 = np.zeros(D.K)
            y2[list(other)] = 1.0
            t2 = np.minimum(D.gcap, dense[:, list(other)].min(axis=1))
            assert np.all(lev - A @ y2 <= t2 + 1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_benders_matches_brute_force_with_fixing(seed):
    penalty = 12.0
    prob = _instance(seed)
    D, cols, const = _model(prob, penalty)
    p = 3
    rng = np.random.default_rng(seed)
    never = {int(rng.integers(D.K))}
    must = {int(j) for j in rng.choice([j for j in range(D.K) if j not in never], 1)}
    allow = np.ones(D.K, dtype=bool)
    allow[list(never)] = False
    force = np.zeros(D.K, dtype=bool)
    force[list(must)] = True
    bad = [j for j in range(D.K) if j not in must][:p]  # a poor incumbent
    best, ub, lb, status = _pmed_benders(D, p, allow, force, bad, D.cost(bad), time.perf_counter() + 30, 0.0,
                                         const)
    whole = _brute(prob, p, penalty)
    restricted = _brute(prob, p, penalty, must=[int(cols[j]) for j in must], never=[int(cols[j]) for j in never])
    assert status == "optimal"
    # the incumbent is any p-subset (global optimum at best); the bound holds for the restricted set
    assert ub + const == pytest.approx(evaluate_sites(prob, "pmedian", [int(cols[j]) for j in best], unreachable_penalty_min=penalty))
    assert ub + const >= whole - 1e-6
    assert lb + const <= restricted + 1e-6
    assert lb + const >= min(restricted, ub + const) - 1e-6 * restricted


@pytest.mark.parametrize("seed", range(3))
def test_solve_pmedian_on_the_benders_path_matches_scipy_milp(monkeypatch, seed):
    monkeypatch.setattr(S, "_PMED_MILP_PAIRS", 0)  # large-model path on a small instance
    prob = _instance(seed, n=150, m=20, fixed=[0, 1])
    r = solve_pmedian(prob, 4, time_limit_s=30, mip_rel_gap=1e-6, unreachable_penalty_min=12.0)
    ref = _scipy_milp(prob, 4, 12.0)
    assert r.status == "optimal"
    assert r.objective == pytest.approx(ref, rel=1e-6)
    assert r.objective * (1 - r.mip_gap) <= ref * (1 + 1e-9)
    assert r.objective == pytest.approx(evaluate_sites(prob, "pmedian", r.site_ids, unreachable_penalty_min=12.0))


def test_benders_gap_is_proven_under_a_tight_time_limit(monkeypatch):
    monkeypatch.setattr(S, "_PMED_MILP_PAIRS", 0)
    prob = _instance(7, n=400, m=40, fixed=[3])
    ref = _scipy_milp(prob, 5, 12.0)
    for tl in (0.2, 1.0, 20.0):
        r = solve_pmedian(prob, 5, time_limit_s=tl, unreachable_penalty_min=12.0)
        assert r.objective >= ref - 1e-6 * ref
        assert r.objective * (1 - r.mip_gap) <= ref * (1 + 1e-9)
        assert r.status in ("optimal", "time_limit")


@pytest.mark.parametrize("seed", range(3))
def test_benders_on_a_model_with_existing_sites_matches_scipy_milp(seed):
    prob = _instance(seed, n=150, m=20, fixed=[0, 1])
    D, cols, const = _model(prob, 12.0)  # existing sites lower each group's cap
    ref = _scipy_milp(prob, 4, 12.0)
    start = list(range(4))
    best, ub, lb, status = _pmed_benders(D, 4, np.ones(D.K, bool), np.zeros(D.K, bool), start, D.cost(start),
                                         time.perf_counter() + 30, 1e-9, const)
    assert status == "optimal"
    assert ub + const == pytest.approx(ref, rel=1e-9)
    assert lb + const <= ref * (1 + 1e-9)
    assert lb + const >= ref * (1 - 1e-6)


def test_benders_stopped_at_any_point_keeps_a_valid_bound():
    prob = _instance(11, n=600, m=60, fixed=[5])
    D, cols, const = _model(prob, 12.0)
    ref = _scipy_milp(prob, 6, 12.0)
    start = list(range(6))
    for secs in (0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8):
        best, ub, lb, status = _pmed_benders(D, 6, np.ones(D.K, bool), np.zeros(D.K, bool), start, D.cost(start),
                                             time.perf_counter() + secs, 1e-9, const)
        assert ub == pytest.approx(D.cost(best))
        assert ub + const >= ref * (1 - 1e-9)
        assert lb + const <= ref * (1 + 1e-9)
        assert status in ("optimal", "time_limit")
        if status == "optimal":
            assert ub + const == pytest.approx(ref, rel=1e-8)
