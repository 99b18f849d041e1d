"""p-median: greedy + vertex substitution, Lagrangian bound, radius MILP.

See the package docstring for the formulation (chained radius model, penalty for
demand beyond the cutoff) and the measured behaviour at benchmark sizes.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import scipy.sparse as sp

from ..errors import InputError, check_positive
from . import lagrangian
from .benders import _pmed_benders
from .evaluate import _canonicalise, _drop_redundant, _MedianEval, _rank, _sites_frame, _Val
from .heuristics import _pmed_greedy, _pmed_swap
from .lagrangian import _reduced_cost_fix, _topp
from .problem import (_MedData, SitingProblem, SitingResult, _check_n_new, _check_problem, _check_solver,
                      _local_columns, _merged_pairs, _pairs)
from .solver import _highs_solve, _post_seconds, _rel_gap, report

_PMED_MILP_PAIRS = 40_000  # p-median pairs (after fixing) up to which the radius MILP is run
# pairs up to which Benders runs after a stalled Lagrangian bound (5000x500: 97k, 20000x1000:
# 349k; 200000x5000: 3.2M, where the first master LP alone would take the minute)
_BENDERS_MAX_PAIRS = 1_000_000


class _MedianRelaxation:
    """p-median with the assignment rows ``sum_j x_gj + u_g = 1`` relaxed (``u_g`` is the
    virtual option at the cap), multipliers ``lam_g`` free: ``L(lam) = sum_g lam_g +
    sum_g min(0, w_g cap_g - lam_g) + (sum of the p most negative rho_j)``, ``rho_j =
    sum_{g in col j} min(0, w_g t_gj - lam_g)``; a lower bound for every ``lam``.
    Callbacks for :func:`lagrangian.subgradient`."""

    def __init__(self, D: _MedData, p: int):
        self.D, self.p, self.starts = D, p, D.colptr[:-1]

    def evaluate(self, lam):
        D = self.D
        v = D.wt - lam[D.cr]
        np.minimum(v, 0.0, out=v)
        rho = np.add.reduceat(v, self.starts) if v.size else np.zeros(D.K)
        pen = np.minimum(D.wcap - lam, 0.0)
        top = _topp(-rho, self.p)
        top = top[rho[top] < 0]
        k = D.idx(top)
        cnt = np.bincount(D.cr[k][v[k] < 0], minlength=D.G) + (pen < 0)
        return float(lam.sum() + pen.sum() + rho[top].sum()), rho, top, 1.0 - cnt

    def primal(self, cols) -> float:
        return self.D.cost(cols)


def _pmed_lagrangian(D: _MedData, p: int, ub: float, lam: np.ndarray, deadline: float,
                     max_iter: int = 3000, tol: float = 1e-4, theta: float = 2.0):
    """Lagrangian lower bound for p-median (:class:`_MedianRelaxation`), maximised by the
    shared subgradient driver with Polyak steps towards the incumbent ``ub``; the relaxed
    solution's sites are tried as incumbents. Returns (best bound, its lam, its rho,
    (best heuristic cost, its columns)), without any constant offset."""
    return lagrangian.subgradient(_MedianRelaxation(D, p), lam, ub, deadline, sense=+1, theta=theta,
                                  stall_limit=20, theta_min=2e-3, max_iter=max_iter, tol=tol)


def _pmed_radius_milp(D: _MedData, keep: np.ndarray, force: np.ndarray, p: int, start_cols, time_limit: float,
                      rg: float, objective_bound: float | None = None):
    """The chained radius MILP on the columns ``keep`` (local indices; ``force`` of them
    have ``y = 1``). Returns (chosen local columns or None, status, cost, bound)."""
    k = D.idx(keep)
    K2 = keep.size
    loc = np.full(D.K, -1, dtype=np.int64)
    loc[keep] = np.arange(K2)
    gr, gt, lc = D.cr[k], D.ct[k], loc[D.cc[k]]
    gw, gcap = D.gw, D.gcap
    o = np.lexsort((lc, gt, gr))
    gr, gt, lc = gr[o], gt[o], lc[o]
    hasp = np.zeros(D.G, dtype=bool)
    hasp[gr] = True
    newlev = np.r_[True, (gr[1:] != gr[:-1]) | (gt[1:] != gt[:-1])]
    lev = np.cumsum(newlev) - 1
    L = int(lev[-1]) + 1
    lev_g, lev_t = gr[newlev], gt[newlev]
    first = np.r_[True, lev_g[1:] != lev_g[:-1]]
    last = np.r_[lev_g[1:] != lev_g[:-1], True]
    nxt = np.where(last, gcap[lev_g], np.r_[lev_t[1:], 0.0])
    zcost = gw[lev_g] * (nxt - lev_t)
    offset = float((gw[lev_g[first]] * lev_t[first]).sum() + D.wcap[~hasp].sum())
    li = np.arange(L)
    notfirst = li[~first]
    R = np.concatenate([li, notfirst, lev, np.full(K2, L)])
    C = np.concatenate([K2 + li, K2 + notfirst - 1, lc, np.arange(K2)])
    V = np.concatenate([np.ones(L), -np.ones(notfirst.size), np.ones(lc.size), np.ones(K2)])
    A = sp.csc_matrix((V, (R, C)), shape=(L + 1, K2 + L))
    rlo = np.concatenate([first.astype(float), [-np.inf]])
    rhi = np.concatenate([np.full(L, np.inf), [p]])
    ylo = np.zeros(K2)
    ylo[loc[force]] = 1.0
    start = None
    if start_cols is not None:
        y0 = np.zeros(K2)
        y0[loc[np.asarray(start_cols, dtype=np.int64)]] = 1
        best = np.full(D.G, np.inf)
        on = y0[lc] > 0
        np.minimum.at(best, gr[on], gt[on])
        start = np.concatenate([y0, (lev_t < best[lev_g]).astype(float)])
    x, status, obj, bound, _ = _highs_solve(
        np.concatenate([np.zeros(K2), zcost]), A, rlo, rhi, np.concatenate([ylo, np.zeros(L)]),
        np.concatenate([np.ones(K2), np.full(L, np.inf)]), np.concatenate([np.ones(K2), np.zeros(L)]),
        maximize=False, offset=offset, time_limit=time_limit, rel_gap=rg, start=start)
    if x is None:
        return None, status, np.inf, bound
    return sorted(int(j) for j in keep[x[:K2] > 0.5]), status, obj, bound


def _pmedian_core(D: _MedData, p: int, picks, deadline: float, rg: float, const: float, warm_start: bool = True):
    """Exact p-median on the reduced model: 1. incumbent: greedy ``picks`` + vertex
    substitution; 2. lower bound: Lagrangian (subgradient from the incumbent's costs);
    3. if the gap exceeds ``rg``: Lagrangian reduced-cost fixing, then the radius MILP on
    the remaining columns with HiGHS, warm-started, until ``deadline``. Costs include
    ``const``. Returns (chosen local columns, lower bound, status, notes)."""
    notes: list[str] = []
    tol_stop = lambda lb, ub: ub - lb <= max(rg * max(abs(ub), 1e-9), 1e-9 * max(1.0, abs(ub)))  # noqa: E731
    best, ub = _pmed_swap(D, picks, p, deadline)
    if p >= D.K:
        return list(range(D.K)), ub + const, "optimal", notes
    now = time.perf_counter()
    lam0 = D.gw * D.state(best)[0]
    lb, lam, rho, heur = _pmed_lagrangian(D, p, ub, lam0, now + 0.5 * max(deadline - now, 0.0),
                                          tol=max(rg, 1e-9) * (ub + const) / max(ub, 1e-9))
    if heur[1] and heur[0] < ub * (1 + 1e-2) and time.perf_counter() < deadline:
        cand, v = _pmed_swap(D, heur[1], p, deadline)
        if v < ub - 1e-10 * max(1.0, ub):
            best, ub = cand, v
    report("p-median bound (Lagrangian), person-minutes", ub + const, lb + const, deadline)
    if tol_stop(lb + const, ub + const) or rho is None:
        return best, max(lb, -np.inf) + const, "optimal" if rho is not None else "time_limit", notes
    f0, f1, alt = _reduced_cost_fix(-rho, p, -lb, -ub)
    fixed_bound = float((-alt[f0 | f1]).min()) if (f0 | f1).any() else np.inf
    keep = np.flatnonzero(~f0)
    notes.append(f"Lagrangian fixing: {int(f0.sum())} candidate(s) excluded, {int(f1.sum())} forced; "
                 f"MILP on {keep.size} candidates")
    remaining = deadline - time.perf_counter()
    inc = np.zeros(D.K, dtype=bool)
    inc[best] = True
    if remaining <= 0.05 or keep.size == 0:
        return best, lb + const, "time_limit" if remaining <= 0.05 else "optimal", notes
    npairs = int((D.colptr[keep + 1] - D.colptr[keep]).sum())
    # read through the package: ``geoaccess.siting._PMED_MILP_PAIRS`` is the knob callers set
    limit = sys.modules[__package__]._PMED_MILP_PAIRS
    if npairs > limit:
        # HiGHS does not finish the root LP of a radius MILP this large within a minute
        # (5000x500: 97k pairs, IPM LP alone ~60 s); spend the time on the bound instead.
        notes.append(f"radius MILP skipped ({npairs} pairs after fixing > {limit}); "
                     "Lagrangian bound continued")
        lb2, _, _, heur = _pmed_lagrangian(D, p, ub, lam, deadline, tol=max(rg, 1e-9) * (ub + const) / max(ub, 1e-9),
                                           theta=0.25)
        if heur[1] and heur[0] < ub * (1 + 1e-2) and time.perf_counter() < deadline:
            cand, v = _pmed_swap(D, heur[1], p, deadline)
            if v < ub - 1e-10 * max(1.0, ub):
                best, ub = cand, v
        lb = max(lb, lb2)
        if tol_stop(lb + const, ub + const):
            return best, lb + const, "optimal", notes
        if npairs <= _BENDERS_MAX_PAIRS and time.perf_counter() < deadline:
            # the bound stalls ~2 % below the optimum where the penalty makes the instance
            # covering-like (5000x500): Benders' master MILP branches on it
            notes.append("Benders decomposition after the Lagrangian bound")
            best, ub, lb3, status = _pmed_benders(D, p, ~f0, f1, best, ub, deadline, rg, const)
            lower = max(lb, min(lb3, fixed_bound, ub))
            return best, lower + const, ("optimal" if tol_stop(lower + const, ub + const) else status), notes
        if time.perf_counter() < deadline:
            # the subgradient stalled before the time limit and the model is too large for
            # Benders' master LP within a minute: more time would not close the gap
            notes.append(f"stopped before the time limit: the Lagrangian bound stalled with a proven gap of "
                         f"{100 * (ub - lb) / max(abs(ub + const), 1e-9):.2f} %; the incumbent may be optimal "
                         "but it is not proven (status 'gap_not_closed')")
            return best, lb + const, "gap_not_closed", notes
        return best, lb + const, "time_limit", notes
    start = best if (warm_start and not inc[f0].any() and inc[f1].all()) else None
    # HiGHS may overrun its limit while presolving / in the root LP: keep a margin
    cols, status, obj, bnd = _pmed_radius_milp(D, keep, np.flatnonzero(f1), p, start,
                                               max(0.75 * remaining, 0.05), rg)
    if cols is not None and obj < ub:
        best, ub = cols, D.cost(cols)
    bnd = bnd if np.isfinite(bnd) else -np.inf
    lower = max(lb, min(bnd, fixed_bound, ub))
    return best, lower + const, ("optimal" if tol_stop(lower + const, ub + const) else status), notes


def _pmedian_data(problem: SitingProblem, penalty: float, reduce: bool = True):
    """Reduced p-median model: (``_MedData``, candidate site index per local column,
    constant person-minutes of demand no candidate can improve)."""
    r, c, t = _pairs(problem)
    w, fixed, n = problem.weights, problem.fixed, problem.n_demand
    capv = np.full(n, penalty)
    fsel = fixed[c]
    np.minimum.at(capv, r[fsel], t[fsel])
    keep = (~fixed[c]) & (t < capv[r]) & (w[r] > 0)
    r, c, t = r[keep], c[keep], t[keep]
    rows = np.unique(r)
    const = float((w * capv).sum() - (w[rows] * capv[rows]).sum())  # rows that no candidate improves
    if reduce:
        gr, sel, gw, rep = _merged_pairs(r, c, rows, w, n, problem.n_sites, values=t, extra=capv[rows])
        gc, gt = c[sel], t[sel]
        gcap = capv[rep]
    else:
        gr, gc, gt, gw, gcap = np.searchsorted(rows, r), c, t, w[rows], capv[rows]
    cols = np.unique(gc)
    return _MedData(gr, np.searchsorted(cols, gc), gt, gw, gcap, len(cols)), cols, const


def solve_pmedian(problem: SitingProblem, n_new: int, *, unreachable_penalty_min: float | None = None,
                  time_limit_s: float = 60, mip_rel_gap: float = 1e-4, reduce: bool = True,
                  warm_start: bool = True, start_sites=None) -> SitingResult:
    """p-median: choose ``n_new`` sites minimising population-weighted time to the nearest
    open site. A demand point with no open site within the matrix costs
    ``unreachable_penalty_min`` (default ``cutoff + 1 × cutoff`` = 2 × cutoff).
    ``objective`` is person-minutes; values are population-weighted mean minutes;
    ``mip_gap`` is the proven gap ``(objective - lower bound) / objective``.

    Method (on the reduced model): greedy add, then vertex substitution with Whitaker's
    nearest / second-nearest bookkeeping (vectorised over the sparse pairs); Lagrangian
    lower bound (assignment rows relaxed, a virtual option at the cap per demand point)
    by subgradient; Lagrangian reduced-cost fixing of candidates that cannot be in a
    better solution; then the chained radius MILP on the remaining candidates with
    HiGHS, warm-started, or, when that model is too large, more subgradient and then
    Benders decomposition of the radius model (``benders.py``). ``time_limit_s`` bounds
    the whole call (a share is kept for canonicalising and ranking). ``status``:
    ``optimal`` (gap within ``mip_rel_gap``), ``time_limit`` (stopped by the time limit),
    or ``gap_not_closed`` (the model was too large for the radius MILP and for Benders,
    and the Lagrangian bound stalled before the time limit: the gap in ``mip_gap`` is
    proven, more time would not close it; a note says so).
    ``start_sites``: site ids of a known solution (e.g. the optimum for one site fewer),
    extended greedily to ``n_new`` and used as the incumbent when it beats greedy."""
    problem = _check_problem(problem)
    n_new = _check_n_new(problem, n_new)
    tl, rg = _check_solver(time_limit_s, mip_rel_gap)
    if unreachable_penalty_min is None:
        penalty = 2.0 * problem.cutoff_min
    else:
        penalty = check_positive("unreachable_penalty_min", unreachable_penalty_min)
        if penalty < problem.cutoff_min:
            raise InputError(f"unreachable_penalty_min={penalty} is below the matrix cutoff "
                             f"{problem.cutoff_min}; use a value >= the cutoff")
    t0 = time.perf_counter()
    deadline = t0 + tl - min(0.25 * tl, _post_seconds(_pairs(problem)[0].size))
    w, fixed, n = problem.weights, problem.fixed, problem.n_demand
    D, cols, const = _pmedian_data(problem, penalty, reduce)
    G, K = D.G, D.K
    ev = _MedianEval(problem, penalty)
    total = problem.total_pop
    notes: list[str] = []
    p = min(n_new, K)
    greedy: list[int] = []
    if p == 0 or G == 0:
        chosen, status, bound = [], "optimal", float("nan")
    else:
        picks = _pmed_greedy(D, p)
        greedy = sorted(int(cols[j]) for j in picks)
        if start_sites is not None and len(start_sites):
            warm = _pmed_greedy(D, p, _local_columns(problem, cols, start_sites))
            if D.cost(warm) < D.cost(picks):
                picks = warm
        loc, bound, status, info = _pmedian_core(D, p, picks, deadline, rg, const, warm_start=warm_start)
        notes.extend(info)
        chosen = sorted(int(cols[j]) for j in loc)
    if time.perf_counter() < t0 + tl:
        chosen = _canonicalise(ev, fixed, chosen, ~fixed)
    if chosen:
        chosen, k = _drop_redundant(ev, fixed, chosen)
        if k:
            notes.append(f"{k} chosen site(s) did not shorten any trip and were left out")
    mean = (lambda s: s / total) if total > 0 else (lambda s: 0.0)
    order, gains, cums = _rank(ev, fixed, chosen, _Val(mean, -1))
    open_ = fixed.copy()
    before = ev.score(open_)
    open_[chosen] = True
    after = ev.score(open_)
    gobj = None
    if (warm_start and greedy) or p == 0:
        go = fixed.copy()
        go[greedy] = True
        gobj = ev.score(go)
    if p == 0 or G == 0:
        gap = 0.0
    else:
        gap = _rel_gap(after, min(bound, after)) if np.isfinite(bound) else float("nan")
        if status != "optimal" and gap <= rg:
            status = "optimal"
    return SitingResult(model="pmedian", status=status, objective=after, mip_gap=gap,
                        solve_seconds=time.perf_counter() - t0, sites=_sites_frame(problem, order, gains, cums),
                        value_name="mean_minutes", value_before=mean(before), value_after=mean(after),
                        n_demand=n, n_sites=problem.n_sites, n_demand_reduced=G, n_sites_reduced=K,
                        uncoverable_pop=float(w[np.bincount(_pairs(problem)[0], minlength=n) == 0].sum()),
                        greedy_objective=gobj,
                        greedy_gap=((gobj - after) / after if (gobj is not None and after > 0) else None),
                        notes=notes)

