"""Coverage models: MCLP (exact and greedy), capacitated MCLP, LSCP.

See the package docstring for the formulations. The exact MCLP works on the reduced
model (demand groups x kept candidates): greedy + 1-swap incumbent, the Lagrangian
upper bound (coverage rows relaxed; the shared subgradient driver), the LP relaxation
by interior point when small enough, Lagrangian reduced-cost fixing, then HiGHS.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from ..errors import InputError, check_positive
from . import lagrangian
from .evaluate import _canonicalise, _CoverEval, _drop_redundant, _empty_result, _rank, _sites_frame, _Val
from .branch import _BB_MAX_CELLS, _BB_MAX_P, _mclp_branch_and_bound
from .heuristics import _celf, _cover_greedy, _mclp_swap
from .lagrangian import _reduced_cost_fix, _topp
from .problem import (_HASH_SEED, SitingProblem, SitingResult, _check_n_new, _check_problem, _check_solver,
                      _col_positions, _cover_mats, _coverage_prep, _CovPrep, _local_columns, _merged_pairs,
                      _pairs)
from .solver import _capacity_model, _highs_lp_ipm, _highs_solve, _post_seconds, _rel_gap, report

_LP_NNZ_LIMIT = 400_000  # reduced coverage pairs up to which the LP relaxation is solved (IPM)
_MCLP_EXACT_RG = 1e-4  # MCLP with whole-person weights and mip_rel_gap <= this: prove the optimum
_MCLP_ROUNDINGS = 40  # randomised roundings of the MCLP LP solution tried as incumbents


def greedy_mclp(problem: SitingProblem, threshold_min: float, n_new: int) -> SitingResult:
    """Lazy-greedy (CELF) maximal covering on the full candidate set, vectorised.

    Ties go to the lowest site index. Runs in seconds on 200,000 × 5,000; use it when the
    exact model is too large, or to judge the exact model's gain over a heuristic.
    """
    problem = _check_problem(problem)
    thr = check_positive("threshold_min", threshold_min)
    n_new = _check_n_new(problem, n_new)
    t0 = time.perf_counter()
    prep = _coverage_prep(problem, thr, reduce=False)
    lc = np.searchsorted(prep.cols, prep.gc)
    picks, _ = _celf(prep.gr, lc, prep.gw, len(prep.cols), n_new)
    chosen = sorted(int(prep.cols[j]) for j in picks)
    secs = time.perf_counter() - t0
    ev = _CoverEval(problem, thr)
    return _finish_cover(problem, ev, "mclp-greedy", "heuristic", chosen, float("nan"), secs,
                         problem.n_demand, problem.n_sites, prep, [], canonical=False)


def _finish_cover(problem, ev, model, status, chosen, gap, secs, nd, ns, prep, notes, canonical=True,
                  drop=True, greedy_obj=None):
    fixed = problem.fixed
    cand = ~fixed
    if canonical:
        chosen = _canonicalise(ev, fixed, chosen, cand)
    if drop and chosen and ev.required is None:
        chosen, k = _drop_redundant(ev, fixed, chosen)
        if k:
            notes.append(f"{k} chosen site(s) added no coverage and were left out")
    total = problem.total_pop
    val = _Val(lambda s: -s, +1) if ev.required is None else None
    open_ = fixed.copy()
    before = ev.covered_weight(open_)
    open_[chosen] = True
    after = ev.covered_weight(open_)
    if ev.required is None:
        order, gains, cums = _rank(ev, fixed, chosen, val)
    else:
        cov_ev = _CoverEval.__new__(_CoverEval)
        cov_ev.__dict__.update(ev.__dict__)
        cov_ev.required = None
        order, gains, cums = _rank(cov_ev, fixed, chosen, _Val(lambda s: -s, +1))
    objective = after if model.startswith("mclp") else float(len(chosen))
    share = (lambda x: x / total) if total > 0 else (lambda x: 0.0)
    ggap = None
    if greedy_obj is not None and model == "mclp":
        ggap = (after - greedy_obj) / after if after > 0 else 0.0
    return SitingResult(model=model, status=status, objective=objective, mip_gap=gap, solve_seconds=secs,
                        sites=_sites_frame(problem, order, gains, cums), value_name="share_covered",
                        value_before=share(before), value_after=share(after), n_demand=problem.n_demand,
                        n_sites=problem.n_sites, n_demand_reduced=nd, n_sites_reduced=ns,
                        uncoverable_pop=prep.uncoverable, greedy_objective=greedy_obj, greedy_gap=ggap,
                        notes=notes)


def solve_mclp(problem: SitingProblem, threshold_min: float, n_new: int, *, time_limit_s: float = 60,
               mip_rel_gap: float = 1e-4, reduce: bool = True, warm_start: bool = True,
               start_sites=None) -> SitingResult:
    """Maximal covering: choose ``n_new`` new sites maximising population within
    ``threshold_min`` minutes of an open (fixed or new) site. With ``problem.capacity``
    the capacitated formulation is used (see module docstring). ``objective`` is the
    covered population (persons); ``mip_gap`` is the proven relative gap. With whole-person
    weights and ``mip_rel_gap <= 1e-4`` (the default) the search does not stop at the
    relative gap: it goes on to a proven optimum (bound - incumbent < 1 person; HiGHS with
    ``mip_rel_gap=0``, ``mip_abs_gap<1``) while time remains, and on a time-out reports
    status ``optimal`` only if the proven gap is within ``mip_rel_gap``. Larger
    ``mip_rel_gap`` values stop the search at that gap. Incumbents: greedy + 1-swap, the
    Lagrangian relaxed solutions, the LP's top-p sites and seeded randomised roundings of
    the LP solution, each improved by 1-swap. ``start_sites``: site ids of a known
    solution (e.g. the optimum for one site fewer), extended greedily to ``n_new`` and used
    as the incumbent when it beats greedy."""
    problem = _check_problem(problem)
    thr = check_positive("threshold_min", threshold_min)
    n_new = _check_n_new(problem, n_new)
    tl, rg = _check_solver(time_limit_s, mip_rel_gap)
    if problem.capacity is not None:
        return _solve_mclp_capacity(problem, thr, n_new, tl, rg, reduce)
    t0 = time.perf_counter()
    prep = _coverage_prep(problem, thr, reduce)
    notes = [] if prep.dominance_done else ["dominated-candidate reduction skipped (instance too large)"]
    ev = _CoverEval(problem, thr)
    G, K = prep.n_groups, len(prep.cols)
    lc = np.searchsorted(prep.cols, prep.gc)
    p = min(n_new, K)
    # the whole call honours time_limit_s: keep a share for canonicalising and ranking
    deadline = t0 + tl - min(0.25 * tl, _post_seconds(ev.r.size))
    if p == 0 or G == 0:
        return _finish_cover(problem, ev, "mclp", "optimal", [], 0.0, time.perf_counter() - t0, G, K, prep, notes)
    picks, ggains = _celf(prep.gr, lc, prep.gw, K, p)
    greedy_obj = prep.fixed_covered + float(np.sum(ggains))
    if start_sites is not None and len(start_sites):
        warm = _cover_greedy(prep.gr, lc, prep.gw, K, p, _local_columns(problem, prep.cols, start_sites))
        covered = np.zeros(G, dtype=bool)
        covered[prep.gr[np.isin(lc, warm)]] = True
        if prep.fixed_covered + float(prep.gw[covered].sum()) > greedy_obj:
            picks = warm
    cols_local, bound, status, info = _mclp_core(prep.gr, lc, prep.gw, G, K, p, picks, deadline, rg,
                                                  warm_start=warm_start)
    notes.extend(info)
    chosen = sorted(int(prep.cols[j]) for j in cols_local)
    bound += prep.fixed_covered
    res = _finish_cover(problem, ev, "mclp", status, chosen, 0.0, time.perf_counter() - t0, G, K, prep, notes,
                        greedy_obj=greedy_obj)
    res.mip_gap = _rel_gap(res.objective, max(bound, res.objective)) if np.isfinite(bound) else float("nan")
    if status == "time_limit" and res.mip_gap <= rg:
        res.status = "optimal"
    return res



class _CoverRelaxation:
    """MCLP with the coverage rows relaxed, multipliers ``0 <= lam_g <= w_g``:
    ``L(lam) = sum_g (w_g - lam_g) + (sum of the p largest positive column sums of lam)``,
    an upper bound for every such ``lam``. Callbacks for :func:`lagrangian.subgradient`."""

    def __init__(self, Ac, gw: np.ndarray, p: int):
        self.Ac, self.AT, self.gw, self.p = Ac, Ac.T.tocsr(), gw, p

    def _count(self, cols) -> np.ndarray:
        """Per group: how many of ``cols`` cover it."""
        rows = self.Ac.indices[_col_positions(self.Ac.indptr, cols)]
        return np.bincount(rows, minlength=self.gw.size).astype(float)

    def evaluate(self, lam):
        s = self.AT @ lam
        top = _topp(s, self.p)
        top = top[s[top] > 0]
        return float((self.gw - lam).sum() + s[top].sum()), s, top, self._count(top) - 1.0

    def primal(self, cols) -> float:
        return float(self.gw[self._count(cols) > 0].sum())


def _mclp_lagrangian(Ac, Ar, gw: np.ndarray, p: int, lb: float, deadline: float, lam=None,
                     max_iter: int = 3000, tol: float = 1e-4):
    """Lagrangian upper bound for max coverage (:class:`_CoverRelaxation`), minimised by
    the shared subgradient driver with Polyak steps towards the incumbent ``lb``; the
    relaxed solution's p sites are tried as incumbents. ``Ar`` is unused (kept for the
    callers' uniform signature). Returns (best bound, its multipliers, its column sums,
    (best heuristic value, its columns)), values without any constant offset."""
    lam = (0.5 * gw).copy() if lam is None else lam
    return lagrangian.subgradient(_CoverRelaxation(Ac, gw, p), lam, lb, deadline, sense=-1, theta=1.0,
                                  stall_limit=15, theta_min=1e-4, max_iter=max_iter, tol=tol, lower=0.0, upper=gw)


def _mclp_core(gr, lc, gw, G, K, p, picks, deadline, rg, warm_start=True):
    """Exact max coverage over groups (rows ``gr``, columns ``lc``, weights ``gw``).

    1. incumbent: greedy ``picks`` + 1-swap; 2. upper bound: Lagrangian (subgradient,
    with the relaxed solution's sites as extra incumbents); for a small budget the branch
    and bound (:mod:`.branch`) then proves the optimum; else, or if it runs out of its
    time, and if small enough, the LP
    relaxation by interior point (its duals are optimal multipliers, its top-p sites a
    rounding); 3. if the gap exceeds ``rg``: Lagrangian reduced-cost fixing, then the
    MILP on the remaining columns with HiGHS, warm-started, until ``deadline``.
    Returns (chosen local columns, bound on covered weight, status, notes)."""
    notes: list[str] = []
    Ac, Ar = _cover_mats(gr, lc, G, K)
    total = float(gw.sum())
    whole = bool(np.all(gw == np.round(gw)))  # integral weights: bounds round down, gaps < 1 close
    # whole persons and a tight requested gap: search on to a proven optimum (gap < 1 person)
    exact = whole and rg <= _MCLP_EXACT_RG
    slack = lambda lb: max(0.0 if exact else rg * max(lb, 1e-9),  # noqa: E731
                           1e-9 * max(1.0, total), (1.0 - 1e-6) if whole else 0.0)
    tol_stop = lambda lb, ub: ub - lb <= slack(lb)  # noqa: E731
    best, lb = _mclp_swap(Ac, Ar, gw, picks, deadline)
    if p >= K:
        return list(range(K)), total, "optimal", notes
    now = time.perf_counter()
    use_lp = gr.size <= _LP_NNZ_LIMIT  # the LP gives the best multipliers: few subgradient steps then
    use_bb = p <= _BB_MAX_P and G * K <= _BB_MAX_CELLS  # the branch and bound closes it: a short bound first
    ub, lam, s, heur = _mclp_lagrangian(Ac, Ar, gw, p, lb, now + (0.1 if use_bb else 0.4) * max(deadline - now, 0.0),
                                        tol=max(rg, 1e-6), max_iter=100 if use_lp or use_bb else 3000)
    if heur[0] > lb * (1 - 1e-3) and heur[1]:
        cand, v = _mclp_swap(Ac, Ar, gw, heur[1], deadline)
        if v > lb:
            best, lb = cand, v
    # cheap enough to prove the optimum itself (to float rounding), whatever gap was asked
    tight = max(1e-9 * max(1.0, total), (1.0 - 1e-6) if whole else 0.0)
    if use_bb and ub - lb > tight:
        now = time.perf_counter()
        cols, value, done = _mclp_branch_and_bound(Ac, gw, p, best, lb, now + 0.5 * max(deadline - now, 0.0),
                                                   lambda _: tight)
        if value > lb:
            best, lb = cols, value
        report("MCLP branch and bound", lb, lb + tight if done else ub, deadline)
        if done:
            return best, min(ub, lb if whole else lb + tight), "optimal", notes
        notes.append("branch and bound stopped at half the time left; bound from the Lagrangian / MILP")
    if not tol_stop(lb, ub) and use_lp and time.perf_counter() < deadline:
        y_lp, lam_lp = _mclp_lp(Ac, gw, p, max(0.5 * (deadline - time.perf_counter()), 0.05))
        if lam_lp is not None:
            lam_lp = np.clip(lam_lp, 0.0, gw)
            s2 = Ac.T @ lam_lp
            top = _topp(s2, p)
            top = top[s2[top] > 0]
            L2 = float((gw - lam_lp).sum() + s2[top].sum())
            if L2 < ub:
                ub, s = L2, s2
        if y_lp is not None:
            cand, v = _mclp_swap(Ac, Ar, gw, _topp(y_lp, p), deadline)
            if v > lb:
                best, lb = cand, v
            if not tol_stop(lb, ub):  # randomised rounding of the LP (seeded) + 1-swap
                rng = np.random.default_rng(_HASH_SEED)
                pr = np.clip(y_lp, 0.0, 1.0) + 1e-6
                pr /= pr.sum()
                stop = time.perf_counter() + 0.1 * max(deadline - time.perf_counter(), 0.0)
                for _ in range(_MCLP_ROUNDINGS):
                    if time.perf_counter() > stop or tol_stop(lb, ub):
                        break
                    cand, v = _mclp_swap(Ac, Ar, gw, rng.choice(K, p, replace=False, p=pr), stop)
                    if v > lb:
                        best, lb = cand, v
    report("MCLP bound (Lagrangian)", lb, ub, deadline)
    if tol_stop(lb, ub):
        return best, (max(np.floor(ub + 1e-6), lb) if whole else ub), "optimal", notes
    # reduced-cost fixing: columns that cannot be in a solution better than the incumbent
    # with whole persons a better solution covers at least lb + 1
    f0, f1, alt = _reduced_cost_fix(s, p, ub, lb + (1.0 - 1e-6) if whole else lb)
    fixed_bound = float(alt[f0 | f1].max()) if (f0 | f1).any() else -np.inf
    free = np.flatnonzero(~f0 & ~f1)
    one = np.flatnonzero(f1)
    covered1 = np.zeros(G, dtype=bool)
    covered1[Ac.indices[_col_positions(Ac.indptr, one)]] = True
    sub = Ar[:, free].tocsc()[~covered1].tocsr()
    grow = np.flatnonzero(~covered1)
    has = np.diff(sub.indptr) > 0
    sub, grow = sub[has], grow[has]
    const = float(gw[covered1].sum())
    Gs, Ks, pk = sub.shape[0], free.size, p - one.size
    notes.append(f"Lagrangian fixing: {int(f0.sum())} candidate(s) excluded, {one.size} forced; "
                 f"MILP on {Gs} x {Ks}")
    remaining = deadline - time.perf_counter()
    if remaining <= 0.05 or Ks == 0 or pk <= 0:
        return best, max(ub if np.isfinite(ub) else total, lb), "time_limit" if remaining <= 0.05 else "optimal", notes
    A = _mclp_matrix(sub)
    start = None
    if warm_start:
        inc = np.zeros(K, dtype=bool)
        inc[best] = True
        if not inc[f0].any() and inc[f1].all():
            y0 = inc[free].astype(float)
            start = np.concatenate([y0, (sub @ y0 > 0).astype(float)])
    x, status, obj, bnd, _ = _highs_solve(
        np.concatenate([np.zeros(Ks), gw[grow]]), A, np.full(Gs + 1, -np.inf), np.concatenate([np.zeros(Gs), [pk]]),
        np.zeros(Ks + Gs), np.ones(Ks + Gs), np.concatenate([np.ones(Ks), np.zeros(Gs)]), maximize=True,
        offset=const, time_limit=max(remaining, 0.05), rel_gap=0.0 if exact else rg, start=start,
        abs_gap=(1.0 - 1e-6) if exact else None)
    if x is not None and obj > lb:
        best, lb = sorted(one.tolist() + free[x[:Ks] > 0.5].tolist()), obj
    bound = min(ub, max(bnd if np.isfinite(bnd) else np.inf, fixed_bound, lb))
    if whole:
        bound = max(np.floor(bound + 1e-6), lb)
    return best, bound, ("optimal" if tol_stop(lb, bound) else status), notes


def _mclp_matrix(cover) -> sp.csr_matrix:
    """MCLP rows ``z_g - sum_{j covers g} y_j <= 0`` and the budget row ``sum y <= p``;
    columns ``y`` (K) then ``z`` (G). ``cover`` is the (G x K) incidence."""
    G, K = cover.shape
    return sp.vstack([sp.hstack([-cover, sp.identity(G, format="csr")]),
                      sp.csr_matrix((np.ones(K), (np.zeros(K, dtype=np.int64), np.arange(K))), shape=(1, K + G))])


def _mclp_lp(Ac, gw, p, time_limit):
    """LP relaxation by HiGHS interior point without crossover: (y values, row duals)."""
    G, K = Ac.shape
    x, duals = _highs_lp_ipm(np.concatenate([np.zeros(K), gw]), _mclp_matrix(Ac), np.full(G + 1, -np.inf),
                             np.concatenate([np.zeros(G), [p]]), np.zeros(K + G), np.ones(K + G), maximize=True,
                             time_limit=time_limit)
    if x is None:
        return None, None
    return x[:K], np.abs(duals[:G])


def _solve_mclp_capacity(problem, thr, n_new, tl, rg, reduce, with_before=True):
    t0 = time.perf_counter()
    r, c, t = _pairs(problem)
    w, cap, fixed = problem.weights, problem.capacity, problem.fixed
    m = (t <= thr) & (cap[c] > 0) & (w[r] > 0)
    r, c = r[m], c[m]
    rows = np.unique(r)
    if reduce:
        gr, sel, gw, _ = _merged_pairs(r, c, rows, w, problem.n_demand, problem.n_sites)
        gc = c[sel]
    else:
        gr, gc, gw = np.searchsorted(rows, r), c, w[rows]
    G, E = len(gw), gr.size
    sites, cand_sites, A, row_hi = _capacity_model(gr, gc, gw, cap, fixed, n_new)
    K = len(cand_sites)
    x, status, obj, bound, secs = _highs_solve(
        np.concatenate([np.zeros(K), gw[gr]]), A, np.full(A.shape[0], -np.inf), row_hi, np.zeros(K + E),
        np.ones(K + E), np.concatenate([np.ones(K), np.zeros(E)]), maximize=True, offset=0.0, time_limit=tl,
        rel_gap=rg)
    notes = ["capacitated: ranking gain = persons assigned to the site in the optimal assignment"]
    if x is None:
        return _empty_result(problem, "mclp-capacity", status, "share_covered", G, K, notes)
    y = x[:K] > 0.5
    chosen = cand_sites[y]
    served = np.bincount(gc, weights=x[K:] * gw[gr], minlength=problem.n_sites)
    fixed_served = float(served[fixed].sum())
    order = sorted(chosen.tolist(), key=lambda j: (-round(served[j], 9), j))
    gains = [float(served[j]) for j in order]
    cums = list(fixed_served + np.cumsum(gains)) if gains else []
    total = problem.total_pop
    # value before: capacitated coverage by fixed sites alone
    before = 0.0
    if with_before and fixed.any():
        before = _solve_mclp_capacity(problem, thr, 0, tl, rg, reduce, with_before=False).objective
    after = float(obj)
    res = SitingResult(model="mclp-capacity", status=status, objective=after, mip_gap=_rel_gap(after, bound),
                       solve_seconds=time.perf_counter() - t0, sites=_sites_frame(problem, order, gains, cums),
                       value_name="share_covered", value_before=before / total if total else 0.0,
                       value_after=after / total if total else 0.0, n_demand=problem.n_demand,
                       n_sites=problem.n_sites, n_demand_reduced=G, n_sites_reduced=len(sites),
                       uncoverable_pop=float(w[(w > 0)].sum() - w[np.unique(r)].sum()), notes=notes)
    return res


# --------------------------------------------------------------------------- LSCP


def _set_cover_mip(prep: _CovPrep, required: float | None, budget: int | None, tl: float, rg: float):
    """min sum y over prep's groups; required=None: cover every group. Returns
    (chosen site indices | None, status, objective, bound)."""
    G, K = prep.n_groups, len(prep.cols)
    lc = np.searchsorted(prep.cols, prep.gc)
    if required is None:  # greedy on group count: every group must be covered
        picks, _ = _celf(prep.gr, lc, np.ones(G), K, K)
    else:
        picks, _ = _celf(prep.gr, lc, prep.gw, K, K, stop_weight=required)
    if budget is not None and len(picks) <= budget:
        return sorted(int(prep.cols[j]) for j in picks), "optimal", float(len(picks)), 0.0
    y0 = np.zeros(K)
    y0[picks] = 1
    if required is None:
        A = sp.csc_matrix((np.ones(lc.size), (prep.gr, lc)), shape=(G, K))
        rlo, rhi = np.ones(G), np.full(G, np.inf)
        ncol, integ, start = K, np.ones(K), y0
        cost = np.ones(K)
    else:
        rows = np.concatenate([prep.gr, np.arange(G), np.full(G, G)])
        cols = np.concatenate([lc, K + np.arange(G), K + np.arange(G)])
        vals = np.concatenate([-np.ones(lc.size), np.ones(G), prep.gw])
        A = sp.csc_matrix((vals, (rows, cols)), shape=(G + 1, K + G))
        rlo = np.concatenate([np.full(G, -np.inf), [required]])
        rhi = np.concatenate([np.zeros(G), [np.inf]])
        ncol, integ = K + G, np.concatenate([np.ones(K), np.zeros(G)])
        cov = np.bincount(prep.gr, weights=y0[lc], minlength=G) > 0
        start = np.concatenate([y0, cov.astype(float)])
        cost = np.concatenate([np.ones(K), np.zeros(G)])
    if budget is not None:
        brow = sp.csc_matrix((np.ones(K), (np.zeros(K, dtype=int), np.arange(K))), shape=(1, ncol))
        A = sp.vstack([A, brow]).tocsc()
        rlo, rhi = np.concatenate([rlo, [-np.inf]]), np.concatenate([rhi, [budget]])
        start = None
    x, status, obj, bound, _ = _highs_solve(cost, A, rlo, rhi, np.zeros(ncol), np.ones(ncol), integ,
                                             maximize=False, offset=0.0, time_limit=tl, rel_gap=rg, start=start)
    if x is None:
        return None, status, float("nan"), bound
    return sorted(int(i) for i in prep.cols[x[:K] > 0.5]), status, float(round(obj)), bound


def solve_lscp(problem: SitingProblem, threshold_min: float, *, cover_share: float = 1.0,
               time_limit_s: float = 60, mip_rel_gap: float = 1e-4, reduce: bool = True) -> SitingResult:
    """Location set covering: fewest new sites so that ``cover_share`` of the *coverable*
    population (some site, fixed or candidate, within the threshold) is within
    ``threshold_min``. ``uncoverable_pop`` reports the rest. ``objective`` = new sites."""
    problem = _check_problem(problem)
    thr = check_positive("threshold_min", threshold_min)
    tl, rg = _check_solver(time_limit_s, mip_rel_gap)
    try:
        share = float(cover_share)
    except (TypeError, ValueError):
        raise InputError(f"cover_share must be a number in (0, 1], got {cover_share!r}") from None
    if not (0 < share <= 1):
        raise InputError(f"cover_share must be in (0, 1], got {cover_share!r}")
    t0 = time.perf_counter()
    prep = _coverage_prep(problem, thr, reduce)
    notes = [] if prep.dominance_done else ["dominated-candidate reduction skipped (instance too large)"]
    if prep.uncoverable > 0:
        notes.append(f"{prep.uncoverable:.0f} persons have no site within {thr:g} min and cannot be covered")
    G, K = prep.n_groups, len(prep.cols)
    required_total = share * prep.coverable  # persons that must be covered, fixed sites included
    need = required_total - prep.fixed_covered
    ev = _CoverEval(problem, thr, required=required_total)
    if need <= 1e-9 * max(1.0, required_total) or G == 0:
        res = _finish_cover(problem, ev, "lscp", "optimal", [], 0.0, time.perf_counter() - t0, G, K, prep, notes)
        return res
    chosen, status, obj, bound = _set_cover_mip(prep, None if share >= 1 else need, None, tl, rg)
    if chosen is None:
        r = _empty_result(problem, "lscp", status, "share_covered", G, K, notes)
        r.uncoverable_pop = prep.uncoverable
        return r
    res = _finish_cover(problem, ev, "lscp", status, chosen, 0.0, time.perf_counter() - t0, G, K, prep, notes)
    res.mip_gap = _rel_gap(res.objective, min(bound, res.objective)) if np.isfinite(bound) else float("nan")
    return res

