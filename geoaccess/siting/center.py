"""p-center and capacitated p-center: binary search over the distinct times, each step a
set-cover (or capacitated assignment) feasibility MILP.
"""

from __future__ import annotations

import time

import numpy as np

from .coverage import _set_cover_mip, solve_mclp
from .evaluate import _canonicalise, _CenterEval, _rank, _sites_frame, _Val
from .problem import (SitingProblem, SitingResult, _check_n_new, _check_problem, _check_solver, _coverage_prep,
                      _merged_pairs, _pairs)
from .solver import _capacity_model, _highs_solve, _rel_gap


def solve_pcenter(problem: SitingProblem, n_new: int, *, time_limit_s: float = 60, mip_rel_gap: float = 1e-4,
                  reduce: bool = True) -> SitingResult:
    """p-center: choose ``n_new`` sites minimising the worst time to the nearest open site
    over demand points with population > 0 and at least one site in the matrix. Exact by
    binary search over the distinct times (each step a set-cover MILP, capacitated if the
    problem has capacities). ``objective`` = max minutes (inf if the sites cannot reach
    every such point within the cutoff)."""
    problem = _check_problem(problem)
    n_new = _check_n_new(problem, n_new)
    tl, rg = _check_solver(time_limit_s, mip_rel_gap)
    t0 = time.perf_counter()
    deadline = t0 + tl
    r, c, t = _pairs(problem)
    n, fixed, w = problem.n_demand, problem.fixed, problem.weights
    ev = _CenterEval(problem)
    cons = ev.considered
    capv = np.full(n, np.inf)
    fsel = fixed[c]
    np.minimum.at(capv, r[fsel], t[fsel])
    best_any = np.full(n, np.inf)
    np.minimum.at(best_any, r, t)
    notes: list[str] = []
    capacitated = problem.capacity is not None
    if not cons.any():
        return SitingResult("pcenter", "optimal", 0.0, 0.0, 0.0, _sites_frame(problem, [], [], []), "max_minutes",
                            0.0, 0.0, n, problem.n_sites, 0, 0, notes=["no demand with population and a site"])
    lb = float(best_any[cons].max())
    vals = np.unique(np.concatenate([t[cons[r]], capv[cons & np.isfinite(capv)]]))
    vals = vals[vals >= lb]
    status = "optimal"
    stats = {"nd": 0, "ns": 0}

    def feasible(T):
        remaining = max(deadline - time.perf_counter(), 0.01)
        if capacitated:
            return _pcenter_cap_feasible(problem, T, n_new, remaining, rg, cons, stats)
        need_rows = cons & (capv > T)
        if not need_rows.any():
            return [], "optimal"
        prep = _coverage_prep(problem, T, reduce, rows_mask=need_rows)
        stats["nd"], stats["ns"] = prep.n_groups, len(prep.cols)
        if prep.uncoverable > 0:  # a needed point has no site at all within T
            return None, "optimal"
        chosen, st, obj, bound = _set_cover_mip(prep, None, n_new, remaining, rg)
        if chosen is None:
            return None, st
        return (chosen if len(chosen) <= n_new else None), st

    sol_hi, st = feasible(vals[-1])
    if sol_hi is None:
        if st == "time_limit":
            status = "time_limit"
        notes.append("the new sites cannot bring every demand point within the matrix cutoff; "
                     "max time is inf — sites chosen to maximise population within the cutoff")
        mc = solve_mclp(problem, problem.cutoff_min, n_new, time_limit_s=max(deadline - time.perf_counter(), 1),
                        mip_rel_gap=rg) if not capacitated else None
        chosen = mc.sites["site_index"].tolist() if mc is not None else []
        lo_i = hi_i = len(vals) - 1
        lo_bound = np.inf
    else:
        lo_i, hi_i = 0, len(vals) - 1
        chosen = sol_hi
        while lo_i < hi_i:
            mid = (lo_i + hi_i) // 2
            sol, st = feasible(vals[mid])
            if st == "time_limit":
                status = "time_limit"
            if sol is not None:
                hi_i, chosen = mid, sol
            else:
                if st == "time_limit":
                    break  # unknown: stop, report the gap to vals[lo_i]
                lo_i = mid + 1
        lo_bound = vals[lo_i]
    if not capacitated and sol_hi is not None:
        chosen = _canonicalise(ev, fixed, chosen, ~fixed)
    open_ = fixed.copy()
    before = ev.score(open_) if not capacitated else float(capv[cons].max())
    open_[chosen] = True
    after = ev.score(open_) if not capacitated else (float(vals[hi_i]) if sol_hi is not None else np.inf)
    if capacitated:
        order = sorted(chosen)
        gains = [0.0] * len(order)
        cums = [after] * len(order)
        notes.append("capacitated: sites listed by index; the max time is a joint property of the set")
    else:
        order, gains, cums = _rank(ev, fixed, chosen, _Val(lambda s: s, -1))
    gap = 0.0 if status == "optimal" else (_rel_gap(after, lo_bound) if np.isfinite(after) else float("nan"))
    return SitingResult(model="pcenter-capacity" if capacitated else "pcenter", status=status, objective=after,
                        mip_gap=gap, solve_seconds=time.perf_counter() - t0,
                        sites=_sites_frame(problem, order, gains, cums), value_name="max_minutes",
                        value_before=before, value_after=after, n_demand=n, n_sites=problem.n_sites,
                        n_demand_reduced=stats["nd"], n_sites_reduced=stats["ns"],
                        uncoverable_pop=float(w[(w > 0) & ~np.isfinite(best_any)].sum()), notes=notes)


def _pcenter_cap_feasible(problem, T, n_new, tl, rg, cons, stats):
    r, c, t = _pairs(problem)
    w, cap, fixed = problem.weights, problem.capacity, problem.fixed
    m = (t <= T) & cons[r] & (cap[c] > 0)
    r, c = r[m], c[m]
    rows = np.flatnonzero(cons)
    if np.setdiff1d(rows, r).size:
        return None, "optimal"
    gr, sel, gw, _ = _merged_pairs(r, c, rows, w, problem.n_demand, problem.n_sites)
    gc = c[sel]
    G, E = len(gw), gr.size
    sites, cand, A, rhi = _capacity_model(gr, gc, gw, cap, fixed, n_new)
    K = len(cand)
    stats["nd"], stats["ns"] = G, len(sites)
    rlo = np.concatenate([np.ones(G), np.full(A.shape[0] - G, -np.inf)])
    x, status, obj, bound, _ = _highs_solve(np.concatenate([np.ones(K), np.zeros(E)]), A, rlo, rhi,
                                             np.zeros(K + E), np.ones(K + E),
                                             np.concatenate([np.ones(K), np.zeros(E)]), maximize=False,
                                             offset=0.0, time_limit=tl, rel_gap=rg)
    if x is None:
        return None, status
    return sorted(int(i) for i in cand[x[:K] > 0.5]), status
