"""p-median by Benders decomposition of the radius formulation (Duran-Mateluna, Ales &
Elloumi 2023, "An efficient Benders decomposition for the p-median problem", EJOR).

Master: ``min sum_g w_g theta_g`` over ``y`` (one per column, ``sum y = p``) and
``theta_g`` (a group's minutes, between its nearest candidate's time and its cap). For
any level ``L`` the cut ``theta_g >= L - sum_j (L - t_gj)^+ y_j`` holds for every 0/1
``y``: if an open column is nearer than ``L`` the sum is at least ``L`` minus the
nearest time, otherwise the cut says ``theta_g >= L - 0``, at most the true time. For a
given ``y`` the strongest level is where the cumulative ``y`` of the columns sorted by
time reaches 1 (closed form: no subproblem LP). Any subset of cuts gives a relaxation,
so every master optimum (LP or HiGHS's MILP dual bound) is a proven lower bound.

1. LP phase (Kelley): master LP, cuts for the violated groups, re-solved warm by dual
   simplex until no cut is violated: the radius LP bound in seconds (HiGHS IPM on the
   full radius LP: minutes).
2. Incumbent: the LP's ``y`` rounded (the ``p`` largest, then seeded random roundings
   weighted by ``y``), each improved by vertex substitution.
3. MILP phase: the master with the LP's binding cuts as a MILP (HiGHS, warm-started from
   the incumbent); its solution's violated cuts are added and it is re-solved until its
   bound is within the gap of the incumbent, no cut is violated, or the deadline.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from .heuristics import _pmed_swap
from .problem import _MedData
from .solver import _highs_solve, _new_highs, report

_N_ROUNDINGS = 12  # random roundings of the LP solution tried as incumbents
_LP_ROUNDS = 200  # cap on Kelley rounds (measured: 7 at 5000x500)


class _Cuts:
    """Cut generation on pairs sorted by (group, minutes)."""

    def __init__(self, D: _MedData):
        o = np.lexsort((D.ct, D.cr))
        self.r, self.c, self.t = D.cr[o], D.cc[o], D.ct[o]
        self.start = np.searchsorted(self.r, np.arange(D.G + 1))
        self.D = D

    def separate(self, y: np.ndarray, theta: np.ndarray, tol: float = 1e-7):
        """Strongest cut per group for ``y``; those violated by ``theta`` by more than
        ``tol`` (relative) as (groups, levels, CSR row pointer, columns, coefficients)
        of the rows ``theta_g + sum_j (L - t_gj) y_j >= L``."""
        D, r, c, t = self.D, self.r, self.c, self.t
        yv = y[c]
        cs = np.cumsum(yv)
        cum = cs - np.r_[0.0, cs][self.start[:-1]][r]  # cumulative y within the group
        hit = np.flatnonzero(cum >= 1.0 - 1e-9)
        first = np.full(D.G, -1, dtype=np.int64)
        g_hit, at = np.unique(r[hit], return_index=True)
        first[g_hit] = hit[at]
        lev = np.where(first >= 0, t[np.maximum(first, 0)], D.gcap)
        below = t < lev[r]
        val = lev - np.bincount(r[below], weights=(lev[r[below]] - t[below]) * yv[below], minlength=D.G)
        viol = np.flatnonzero(val > theta + tol * np.maximum(1.0, val))
        on = np.zeros(D.G, dtype=bool)
        on[viol] = True
        m = below & on[r]
        # rows in group order; pairs are already grouped by group, so the CSR is direct
        cnt = np.bincount(r[m], minlength=D.G)[viol]
        ptr = np.r_[0, np.cumsum(cnt + 1)]
        cols = np.empty(ptr[-1], dtype=np.int64)
        coef = np.empty(ptr[-1])
        cols[ptr[:-1]], coef[ptr[:-1]] = D.K + viol, 1.0  # theta_g first
        slot = np.ones(ptr[-1], dtype=bool)
        slot[ptr[:-1]] = False
        cols[slot], coef[slot] = c[m], lev[r[m]] - t[m]
        return viol, lev[viol], ptr, cols, coef


def _round(D: _MedData, y: np.ndarray, p: int, deadline: float, seed: int = 0):
    """Incumbent from a fractional ``y``: its ``p`` largest entries, then random
    roundings drawn with probability ``y``, each improved by vertex substitution.
    Returns (columns, cost) of the best and the list of every local optimum found."""
    rng = np.random.default_rng(seed)
    best, cost = _pmed_swap(D, list(np.argsort(-y, kind="stable")[:p]), p, deadline)
    found = [best]
    w = np.maximum(y, 0.0) + 1e-9
    for _ in range(_N_ROUNDINGS):
        if time.perf_counter() > deadline:
            break
        pick = rng.choice(D.K, size=p, replace=False, p=w / w.sum())
        cand, v = _pmed_swap(D, list(pick), p, deadline)
        found.append(cand)
        if v < cost - 1e-10 * max(1.0, cost):
            best, cost = cand, v
    return best, cost, found


def _pmed_benders(D: _MedData, p: int, allow: np.ndarray, force: np.ndarray, best, ub: float, deadline: float,
                  rg: float, const: float):
    """Benders decomposition of the p-median on the reduced model (module docstring).

    Parameters
    ----------
    D : _MedData
        Reduced model (groups x local columns, minutes, weights in persons).
    p : int
        Number of columns to open (``p < D.K``).
    allow, force : ndarray of bool
        Per column: may be opened / must be opened (from Lagrangian fixing; the bound
        returned holds for the solutions that respect them).
    best, ub : list of int, float
        Incumbent columns and their cost (person-minutes, without ``const``).
    deadline : float
        ``time.perf_counter()`` value at which the search stops (seconds).
    rg : float
        Relative gap (on ``cost + const``) at which the search stops.
    const : float
        Person-minutes added to every solution's cost (for the relative gap).

    Returns
    -------
    (list of int, float, float, str)
        Best columns, their cost, a proven lower bound on the cost of every solution
        respecting ``allow``/``force`` (``-inf`` if none was proven), and ``optimal``
        (gap within ``rg``) or ``time_limit``.
    """
    G, K = D.G, D.K
    closed = lambda lb: ub - lb <= rg * max(abs(ub + const), 1e-9)  # noqa: E731
    fixed_bound = np.inf  # bound on the solutions cut off by reduced-cost fixing
    cuts = _Cuts(D)
    tmin = np.full(G, np.inf)
    np.minimum.at(tmin, D.cr, D.ct)
    tmin = np.minimum(tmin, D.gcap)
    ylo, yhi = force.astype(float), allow.astype(float)
    col_lo, col_hi = np.r_[ylo, tmin], np.r_[yhi, D.gcap]
    cost = np.r_[np.zeros(K), D.gw]
    h = _new_highs(max(deadline - time.perf_counter(), 0.01))
    h.addVars(K + G, col_lo, col_hi)
    h.changeColsCost(K + G, np.arange(K + G, dtype=np.int32), cost)
    h.addRow(float(p), float(p), K, np.arange(K, dtype=np.int32), np.ones(K))
    store: list[tuple] = []  # (levels, ptr, cols, coef) of every cut added

    def add(sep) -> int:
        viol, lev, ptr, cols, coef = sep
        if viol.size:
            h.addRows(viol.size, lev, np.full(viol.size, np.inf), ptr[-1], ptr[:-1].astype(np.int32),
                      cols.astype(np.int32), coef)
            store.append((lev, ptr, cols, coef))
        return viol.size

    y0 = np.zeros(K)
    y0[best] = 1.0
    add(cuts.separate(y0, tmin))
    lb, y = -np.inf, None
    for _ in range(_LP_ROUNDS):
        left = deadline - time.perf_counter()
        if left <= 0.05:
            break
        h.setOptionValue("time_limit", float(left))
        h.run()
        if h.modelStatusToString(h.getModelStatus()).lower() != "optimal":
            break
        sol = h.getSolution()
        x = np.asarray(sol.col_value)
        y = x[:K]
        # duals of this LP (rows added after it have none): for fixing and the MILP's rows
        rc, dual = np.asarray(sol.col_dual)[:K].copy(), np.abs(np.asarray(sol.row_dual))[1:].copy()
        lp = float(h.getInfo().objective_function_value)
        lb = max(lb, lp)  # any cut subset gives a relaxation
        report("p-median bound (Benders LP), person-minutes", ub + const, lb + const, deadline)
        if closed(lb) or not add(cuts.separate(y, x[K:])):
            break
    if y is None:
        return best, ub, lb, "time_limit"
    cand, v, optima = _round(D, y, p, deadline)
    if v < ub - 1e-10 * max(1.0, ub):
        best, ub = cand, v
    if closed(lb):
        return best, ub, lb, "optimal"
    # reduced-cost fixing on the last master LP (a relaxation): opening (closing) column j
    # costs at least lp + |rc_j|; past the incumbent it cannot lead to a better solution
    if time.perf_counter() > deadline - 0.05:
        return best, ub, lb, "time_limit"
    alt = lp + np.abs(rc)
    off = allow & ~force & (rc > 0) & (alt > ub)
    on = allow & ~force & (rc < 0) & (alt > ub)
    if on.sum() + force.sum() <= p:
        col_hi[:K][off], col_lo[:K][on] = 0.0, 1.0
        fixed_bound = float(alt[off | on].min()) if (off | on).any() else np.inf
    else:
        fixed_bound = np.inf
    # MILP phase on the cuts binding at the LP optimum (the others rarely matter and
    # slow every node down); violated cuts of the MILP's solutions are added back
    dual = np.r_[dual, np.ones(sum(c[0].size for c in store) - dual.size)]  # newer cuts: kept
    rows, lo = [], []
    i0 = 0
    for lev, ptr, cols, coef in store:
        n = lev.size
        A = sp.csr_matrix((coef, cols, ptr), shape=(n, K + G))
        sel = dual[i0:i0 + n] > 1e-9
        rows.append(A[sel])
        lo.append(lev[sel])
        i0 += n
    A = sp.vstack([sp.csr_matrix((np.ones(K), np.arange(K), [0, K]), shape=(1, K + G))] + rows).tocsr()
    lo = np.r_[float(p), np.concatenate(lo)]
    # the exact cuts of the good local optima where these rows undervalue them: the
    # master then values the incumbent's neighbourhood right instead of proposing
    # solutions there that each cost a re-solve (measured at 5000x500)
    grp = A[1:, K:].tocsr()
    for sol_cols in [best] + optima:
        yi = np.zeros(K)
        yi[sol_cols] = 1.0
        val = lo[1:] - A[1:, :K] @ yi
        under = np.full(G, -np.inf)
        np.maximum.at(under, grp.indices, val)
        viol, lev, ptr, cc, coef = cuts.separate(yi, np.maximum(under, tmin))
        if viol.size:
            A = sp.vstack([A, sp.csr_matrix((coef, cc, ptr), shape=(viol.size, K + G))]).tocsr()
            lo = np.r_[lo, lev]
            grp = A[1:, K:].tocsr()
    hi = np.r_[float(p), np.full(lo.size - 1, np.inf)]
    done = False
    while True:
        left = deadline - time.perf_counter()
        if left <= 0.05:
            break
        start = None
        yi = np.zeros(K, dtype=bool)
        yi[best] = True
        if len(best) == p and not (yi & (col_hi[:K] < 0.5)).any() and not ((col_lo[:K] > 0.5) & ~yi).any():
            start = np.r_[yi.astype(float), D.state(best)[0]]  # true times satisfy every cut
        x, st, _, bnd, _ = _highs_solve(cost, A, lo, hi, col_lo, col_hi, np.r_[np.ones(K), np.zeros(G)],
                                        maximize=False, offset=const, time_limit=left, rel_gap=rg, start=start)
        if np.isfinite(bnd):
            lb = max(lb, min(bnd - const, fixed_bound))
        if x is None:
            break
        yb = (x[:K] > 0.5).astype(float)
        cols = sorted(int(j) for j in np.flatnonzero(yb))
        v = D.cost(cols)
        if v < ub - 1e-10 * max(1.0, ub):
            best, ub = cols, v
        report("p-median bound (Benders MILP), person-minutes", ub + const, lb + const, deadline)
        if closed(lb):
            break
        viol, lev, ptr, cc, coef = cuts.separate(yb, x[K:])
        if not viol.size:
            # the master's solution costs what the master says: HiGHS's verdict is final
            done = st == "optimal"
            break
        A = sp.vstack([A, sp.csr_matrix((coef, cc, ptr), shape=(viol.size, K + G))]).tocsr()
        lo, hi = np.r_[lo, lev], np.r_[hi, np.full(viol.size, np.inf)]
    return best, ub, lb, "optimal" if (done or closed(lb)) else "time_limit"
