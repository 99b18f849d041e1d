"""Facility siting: MCLP, LSCP, p-median and p-center, solved exactly with HiGHS.

Input is a *bounded* OD matrix: a ``scipy.sparse.csr_matrix`` of shape
``(n_demand, n_sites)`` holding minutes for pairs whose time is within the travel-time
engine's cutoff. An absent entry means "not within the cutoff"; a stored explicit
``0.0`` is a real pair (a site at the demand point). This module never derives pair
structure from arithmetic on the matrix: it reads the stored ``(row, column, minutes)``
triples once (:func:`_pairs`) and works on those arrays and on boolean masks, so an
explicit zero survives every step. Stored ``inf`` entries are treated as absent.

Conventions: minutes are floats, weights are persons, shares are fractions 0-1.

Formulations (all MILPs are solved with HiGHS through ``highspy``; binary ``y_j`` opens
candidate ``j``; existing ``fixed`` sites are always open and not counted in the budget):

* **MCLP** ``max sum_i w_i z_i  s.t.  z_i <= sum_{j in N_i} y_j,  sum_j y_j <= n_new,
  0 <= z_i <= 1`` with ``N_i`` the candidates within the threshold of demand ``i``
  (``z`` may be continuous: with integral ``y`` an optimal ``z`` is integral).
* **Capacitated MCLP** (site capacities in persons): continuous assignment fractions
  ``x_ij`` for pairs within the threshold, ``sum_j x_ij <= 1``,
  ``sum_i w_i x_ij <= cap_j y_j``, ``x_ij <= y_j``; objective ``max sum w_i x_ij``. A
  demand point's population may be split between sites (cells are aggregates of people).
  Fixed sites have ``y_j = 1`` and their capacity counts too.
* **LSCP** ``min sum_j y_j  s.t.  sum_{j in N_i} y_j >= 1`` for every coverable demand
  point not already covered by a fixed site; with ``cover_share < 1``:
  ``z_i <= sum y``, ``sum w_i z_i >= cover_share * coverable_pop - fixed_covered_pop``.
  Population with no site (fixed or candidate) within the threshold is *uncoverable*;
  it is reported in :attr:`SitingResult.uncoverable_pop`, never silently dropped.
* **p-median**, chained radius formulation (García, Labbé & Marín 2011): for demand
  ``i`` let ``c_i = min(penalty, time to the nearest fixed site)`` and
  ``D_i1 < ... < D_iK`` the distinct candidate times below ``c_i``; then
  ``cost_i = D_i1 + sum_k (D_i,k+1 - D_ik) z_ik`` (``D_i,K+1 = c_i``) with
  ``z_i1 + sum_{j: t_ij = D_i1} y_j >= 1`` and ``z_ik - z_i,k-1 + sum_{j: t_ij = D_ik} y_j
  >= 0``. It has the LP bound of the classic assignment model with ~``nnz`` rows of ~3
  nonzeros. Pairs beyond the cutoff cost ``unreachable_penalty_min`` (default
  ``2 × cutoff``, i.e. the cutoff plus one more cutoff). Solved as: greedy add + vertex
  substitution (Whitaker's nearest / second-nearest bookkeeping, vectorised); Lagrangian
  lower bound (assignment rows relaxed, a virtual "cap" option per demand point;
  subgradient with Polyak steps started from the incumbent's costs); Lagrangian
  reduced-cost fixing; the radius MILP with HiGHS on the remaining candidates only when
  it has <= ``_PMED_MILP_PAIRS`` pairs (HiGHS does not finish the root LP of larger ones
  in a minute: 5000x500, 97k pairs, IPM LP ~60 s), otherwise more subgradient.
  ``mip_gap`` is the proven gap to the Lagrangian / MILP bound. Measured (bench, p=20):
  the LP/Lagrangian bound itself is ~2 % below the best known solution at 5000x500, so
  without branching the reported gap there stays ~2.5 % (status ``gap_not_closed`` when
  the bound stalls before the time limit; HiGHS on the 97k-pair radius MILP only reaches
  2.1 % in 90 s, so it is not run); ~0.4 % at 20000x1000.
* **p-center**: binary search on the sorted distinct times; each step asks whether
  ``n_new`` sites can bring every demand point within ``T`` (a set-cover MILP, tried
  first with greedy). Capacitated: each step is a feasibility MILP with
  ``sum_j x_ij = 1``, ``sum_i w_i x_ij <= cap_j y_j``, ``x_ij <= y_j``, ``sum y <= n_new``.
  Demand with no site at all in the matrix (or zero population) is not part of the max.

Model reduction (reported in ``n_demand_reduced`` / ``n_sites_reduced``): demand already
covered by fixed sites and uncoverable demand are dropped (MCLP/LSCP); demand rows with
identical coverage sets (for p-median: identical (site, minutes) rows and fixed-site
cap) are merged, weights summed (128-bit hash of the row's column set); candidates whose
coverage set is a subset of another candidate's are dropped (equal sets keep the lowest
index) for MCLP/LSCP/p-center; candidates that can never help are dropped; the MILP is
warm-started from greedy.

Determinism and ties: HiGHS runs with a fixed seed. After solving, the chosen set is
*canonicalised*: repeatedly, for chosen sites in descending index order, the lowest-index
unchosen candidate whose swap keeps the objective at least as good (1e-9 relative) takes
its place, until no swap applies. Swaps strictly lower the index sum, so this ends; ties
between optimal sets are therefore broken towards low site indices. MCLP / p-median sites
that add nothing (removing them does not change the objective) are dropped with a note.
Capacitated models are not canonicalised (their ranking reports served population).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .errors import InputError, check_positive

__all__ = [
    "SitingProblem",
    "SitingResult",
    "siting_problem",
    "siting_problem_from_cost_matrix",
    "solve_mclp",
    "solve_lscp",
    "solve_pmedian",
    "solve_pcenter",
    "greedy_mclp",
    "evaluate_sites",
]

_DOMINANCE_WORK_LIMIT = 60_000_000  # sum of squared row degrees above which A^T A is skipped
_HASH_SEED = 20240611


# --------------------------------------------------------------------------- problem


@dataclass
class SitingProblem:
    """A siting instance: bounded OD minutes, demand weights, site ids, fixed sites.

    ``od`` is CSR ``(n_demand, n_sites)`` minutes; stored entries (explicit zeros
    included) are pairs within ``cutoff_min``. ``fixed`` is a boolean mask of existing
    open sites; ``capacity`` is persons per site (``inf`` = unlimited) or ``None``.
    """

    od: sp.csr_matrix
    weights: np.ndarray
    site_ids: np.ndarray
    demand_ids: np.ndarray
    fixed: np.ndarray
    capacity: np.ndarray | None
    cutoff_min: float
    _pairs_cache: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def n_demand(self) -> int:
        return self.od.shape[0]

    @property
    def n_sites(self) -> int:
        return self.od.shape[1]

    @property
    def candidates(self) -> np.ndarray:
        """Indices of candidate (not fixed) sites."""
        return np.flatnonzero(~self.fixed)

    @property
    def total_pop(self) -> float:
        return float(self.weights.sum())


def _ids_array(ids: Any, n: int, name: str) -> np.ndarray:
    arr = np.asarray(list(ids), dtype=object)
    if arr.shape != (n,):
        raise InputError(f"{name} must have {n} entries, got {arr.shape[0] if arr.ndim else 0}")
    if len(pd.unique(arr)) != n:
        raise InputError(f"{name} contains duplicate ids")
    return arr


def _check_weights(weights: Any, n: int) -> np.ndarray:
    try:
        w = np.asarray(weights, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise InputError("weights must be numbers (persons per demand point)") from None
    if w.shape[0] != n:
        raise InputError(f"weights has {w.shape[0]} entries but the OD matrix has {n} demand rows")
    if not np.isfinite(w).all():
        raise InputError("weights contain NaN or infinite values")
    if (w < 0).any():
        raise InputError(f"weights must be >= 0; {int((w < 0).sum())} are negative")
    return w


def siting_problem(od: Any, weights: Any, site_ids: Any, *, fixed: Any = None, demand_ids: Any = None,
                   capacity: Any = None, cutoff_min: float | None = None) -> SitingProblem:
    """Build a :class:`SitingProblem` from a bounded OD matrix (CSR minutes).

    ``fixed``: ids of existing open sites (always open, outside the budget).
    ``capacity``: per-site persons, an array aligned with ``site_ids`` or a dict/Series by
    site id (sites not listed are unlimited). ``cutoff_min``: the matrix's time cutoff
    (default: the largest stored time).
    """
    if not sp.issparse(od) or od.ndim != 2:
        raise InputError("od must be a 2-D scipy.sparse matrix (demand × sites) of minutes")
    od = sp.csr_matrix(od, dtype=float, copy=True)
    if not od.has_canonical_format:
        od.sort_indices()
        rows = np.repeat(np.arange(od.shape[0]), np.diff(od.indptr))
        key = rows.astype(np.int64) * od.shape[1] + od.indices
        if (np.diff(key) == 0).any():
            raise InputError("od has duplicate (demand, site) entries; keep one time per pair")
        od.has_canonical_format = True
    if np.isnan(od.data).any():
        raise InputError("od contains NaN minutes")
    if (od.data < 0).any():
        raise InputError("od contains negative minutes")
    n, m = od.shape
    sites = _ids_array(site_ids, m, "site_ids")
    dem = np.arange(n, dtype=object) if demand_ids is None else _ids_array(demand_ids, n, "demand_ids")
    w = _check_weights(weights, n)
    fixed_mask = np.zeros(m, dtype=bool)
    if fixed is not None:
        if isinstance(fixed, (str, bytes)):
            fixed = [fixed]
        pos = {s: i for i, s in enumerate(sites)}
        unknown = [f for f in fixed if f not in pos]
        if unknown:
            raise InputError(f"fixed contains unknown site ids: {unknown[:5]!r}")
        fixed_mask[[pos[f] for f in fixed]] = True
    cap = None
    if capacity is not None:
        if isinstance(capacity, (dict, pd.Series)):
            items = dict(capacity)
            pos = {s: i for i, s in enumerate(sites)}
            unknown = [k for k in items if k not in pos]
            if unknown:
                raise InputError(f"capacity has unknown site ids: {unknown[:5]!r}")
            cap = np.full(m, np.inf)
            for k, v in items.items():
                cap[pos[k]] = float(v)
        else:
            cap = np.asarray(capacity, dtype=float).reshape(-1)
            if cap.shape[0] != m:
                raise InputError(f"capacity has {cap.shape[0]} entries but there are {m} sites")
        if np.isnan(cap).any() or (cap < 0).any():
            raise InputError("capacity must be >= 0 persons (inf for unlimited)")
    finite = od.data[np.isfinite(od.data)]
    if cutoff_min is None:
        cutoff = float(finite.max()) if finite.size else 1.0
    else:
        cutoff = check_positive("cutoff_min", cutoff_min)
        if finite.size and finite.max() > cutoff * (1 + 1e-9):
            raise InputError(f"cutoff_min={cutoff} is below the largest stored time {finite.max():.3f}")
    if cutoff <= 0:
        cutoff = 1.0
    return SitingProblem(od=od, weights=w, site_ids=sites, demand_ids=dem, fixed=fixed_mask,
                         capacity=cap, cutoff_min=cutoff)


def siting_problem_from_cost_matrix(df: pd.DataFrame, demand_col: str, site_col: str, minutes_col: str,
                                    weights: Any, fixed: Any = (), *, capacity: Any = None,
                                    cutoff_min: float | None = None) -> SitingProblem:
    """Build a problem from a long table of (demand, site, minutes) rows.

    ``weights`` (Series or dict: demand id -> persons) defines the demand points and their
    order. Sites are the distinct ``site_col`` values, sorted (so a shuffled table gives
    the same problem), plus any ``fixed`` id without rows. Rows with infinite minutes are
    ignored; pairs absent from the table are "beyond the cutoff".
    """
    for col in (demand_col, site_col, minutes_col):
        if col not in df.columns:
            raise InputError(f"column {col!r} not in the cost table (columns: {list(df.columns)})")
    if isinstance(weights, dict):
        weights = pd.Series(weights, dtype=float)
    if not isinstance(weights, pd.Series):
        raise InputError("weights must be a pandas Series or dict mapping demand id -> persons")
    if weights.index.has_duplicates:
        raise InputError("weights has duplicate demand ids")
    fixed = [fixed] if isinstance(fixed, (str, bytes)) else list(fixed)
    site_vals = pd.unique(pd.concat([df[site_col], pd.Series(fixed, dtype=object)], ignore_index=True))
    try:
        site_vals = np.array(sorted(site_vals), dtype=object)
    except TypeError:
        site_vals = np.asarray(site_vals, dtype=object)
    minutes = pd.to_numeric(df[minutes_col], errors="coerce").to_numpy(dtype=float)
    if np.isnan(minutes).any():
        raise InputError(f"column {minutes_col!r} has missing or non-numeric minutes")
    dpos = pd.Index(weights.index).get_indexer(df[demand_col])
    if (dpos < 0).any():
        bad = df[demand_col].to_numpy()[dpos < 0][:5]
        raise InputError(f"{demand_col!r} has ids missing from weights: {list(bad)!r}")
    spos = pd.Index(site_vals).get_indexer(df[site_col])
    keep = np.isfinite(minutes)
    od = sp.coo_matrix((minutes[keep], (dpos[keep], spos[keep])), shape=(len(weights), len(site_vals)))
    # coo -> csr would *sum* duplicates; refuse them instead.
    key = dpos[keep].astype(np.int64) * len(site_vals) + spos[keep]
    if len(np.unique(key)) != len(key):
        raise InputError("the cost table has duplicate (demand, site) rows")
    order = np.argsort(key, kind="stable")
    r, c, t = dpos[keep][order], spos[keep][order], minutes[keep][order]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=len(weights)))])
    csr = sp.csr_matrix((t, c, indptr), shape=od.shape)
    return siting_problem(csr, weights.to_numpy(dtype=float), site_vals, fixed=fixed,
                          demand_ids=weights.index.to_numpy(), capacity=capacity, cutoff_min=cutoff_min)


def _pairs(problem: SitingProblem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stored (row, col, minutes) triples, sorted by row then column; inf entries removed."""
    if problem._pairs_cache is None:
        od = problem.od
        r = np.repeat(np.arange(od.shape[0], dtype=np.int64), np.diff(od.indptr))
        c = od.indices.astype(np.int64)
        t = od.data.astype(float)
        ok = np.isfinite(t)
        problem._pairs_cache = (r[ok], c[ok], t[ok])
    return problem._pairs_cache


# --------------------------------------------------------------------------- result


@dataclass
class SitingResult:
    """Outcome of a siting model.

    ``sites``: DataFrame (rank, site_id, site_index, gain, cumulative) of the chosen new
    sites, ranked by marginal gain given the fixed sites and the higher-ranked ones
    (persons for MCLP/LSCP, minutes of mean time for p-median, minutes of max time for
    p-center; capacitated models: persons assigned). ``cumulative`` is the value after
    adding the site (persons covered / mean minutes / max minutes).
    ``value_before``/``value_after``: share covered (MCLP, LSCP), population-weighted mean
    minutes with the penalty for beyond-cutoff pairs (p-median), max minutes (p-center).
    """

    model: str
    status: str
    objective: float
    mip_gap: float
    solve_seconds: float
    sites: pd.DataFrame
    value_name: str
    value_before: float
    value_after: float
    n_demand: int
    n_sites: int
    n_demand_reduced: int
    n_sites_reduced: int
    uncoverable_pop: float = 0.0
    greedy_objective: float | None = None
    greedy_gap: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def site_ids(self) -> list:
        return list(self.sites["site_id"])


# --------------------------------------------------------------------------- checks


def _check_n_new(problem: SitingProblem, n_new: Any) -> int:
    if isinstance(n_new, bool) or not isinstance(n_new, (int, np.integer)):
        if isinstance(n_new, float) and n_new.is_integer():
            n_new = int(n_new)
        else:
            raise InputError(f"n_new must be a whole number, got {n_new!r}")
    n_new = int(n_new)
    n_cand = int((~problem.fixed).sum())
    if n_new < 0:
        raise InputError(f"n_new must be >= 0, got {n_new}")
    if n_new > n_cand:
        raise InputError(f"n_new={n_new} exceeds the {n_cand} candidate (non-fixed) sites")
    return n_new


def _check_solver(time_limit_s: Any, mip_rel_gap: Any) -> tuple[float, float]:
    tl = check_positive("time_limit_s", time_limit_s)
    try:
        g = float(mip_rel_gap)
    except (TypeError, ValueError):
        raise InputError(f"mip_rel_gap must be a number, got {mip_rel_gap!r}") from None
    if not (0 <= g < 1):
        raise InputError(f"mip_rel_gap must be in [0, 1), got {mip_rel_gap!r}")
    return tl, g


def _check_problem(problem: Any) -> SitingProblem:
    if not isinstance(problem, SitingProblem):
        raise InputError("problem must be a SitingProblem (use siting_problem(...))")
    return problem


# --------------------------------------------------------------------------- utilities


def _segment_starts(r: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.r_[True, r[1:] != r[:-1]]) if r.size else np.zeros(0, dtype=np.int64)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised (uint64 arithmetic wraps)."""
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def _merge_rows(r: np.ndarray, c: np.ndarray, rows: np.ndarray, n_sites: int,
                values: np.ndarray | None = None, extra: np.ndarray | None = None):
    """Group ``rows`` (sorted demand indices) by identical sets of (column[, value]).

    ``r``/``c`` are pairs restricted to ``rows`` and sorted by r. Returns
    ``(group_of_row (len(rows)), rep_rows (one per group, the lowest row))``. The key is
    two independent 64-bit sums of hashed entries plus the row length.
    """
    n = len(rows)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(_HASH_SEED)
    base = rng.integers(1, 2**63 - 1, size=(2, n_sites), dtype=np.int64).astype(np.uint64)
    local = np.searchsorted(rows, r)
    keys = np.zeros((n, 3), dtype=np.uint64)
    keys[:, 2] = np.bincount(local, minlength=n).astype(np.uint64)
    starts = _segment_starts(local)
    seg_rows = local[starts]
    for k in range(2):
        e = base[k][c]
        if values is not None:
            with np.errstate(over="ignore"):
                e = _mix64(e ^ (values.astype(np.float64).view(np.uint64) * np.uint64(0x9E3779B97F4A7C15 + k)))
        if starts.size:
            with np.errstate(over="ignore"):
                keys[seg_rows, k] = np.add.reduceat(e, starts)
    if extra is not None:
        with np.errstate(over="ignore"):
            keys[:, 0] ^= _mix64(np.asarray(extra, dtype=np.float64).view(np.uint64))
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    # renumber groups by their lowest row so numbering follows demand order
    order = np.argsort(first, kind="stable")
    remap = np.empty_like(order)
    remap[order] = np.arange(len(order))
    return remap[inverse], rows[np.sort(first)]


def _dominated(gr: np.ndarray, gc: np.ndarray, n_groups: int, cols: np.ndarray) -> tuple[np.ndarray, bool]:
    """Boolean over ``cols`` (sorted site indices): True if the column's set of groups is a
    strict subset of another's, or equal to a lower-index column's. Returns (mask, done)."""
    if cols.size <= 1 or gr.size == 0:
        return np.zeros(cols.size, dtype=bool), True
    deg = np.bincount(gr, minlength=n_groups).astype(np.float64)
    if float((deg * deg).sum()) > _DOMINANCE_WORK_LIMIT:
        return np.zeros(cols.size, dtype=bool), False
    lc = np.searchsorted(cols, gc)
    A = sp.csc_matrix((np.ones(gr.size, dtype=np.int32), (gr, lc)), shape=(n_groups, cols.size))
    C = (A.T @ A).tocoo()
    size = np.asarray(A.sum(axis=0)).ravel()
    j, k, v = C.row, C.col, C.data
    sub = (j != k) & (v == size[j]) & ((size[k] > size[j]) | (k < j))
    dom = np.zeros(cols.size, dtype=bool)
    dom[j[sub]] = True
    return dom, True


def _highs_solve(cost, A, row_lo, row_hi, col_lo, col_hi, integer, *, maximize, offset, time_limit,
                 rel_gap, start=None, abs_gap=None):
    """Solve a MILP with highspy. Returns (x or None, status, objective, dual_bound, seconds)."""
    import highspy

    A = sp.csc_matrix(A)
    A.sort_indices()
    ncol, nrow = A.shape[1], A.shape[0]
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("mip_rel_gap", float(rel_gap))
    if abs_gap is not None:
        h.setOptionValue("mip_abs_gap", float(abs_gap))
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("threads", 1)
    h.passModel(int(ncol), int(nrow), int(A.nnz), 1, -1 if maximize else 1, float(offset),
                np.asarray(cost, dtype=np.float64), np.asarray(col_lo, dtype=np.float64),
                np.asarray(col_hi, dtype=np.float64), np.asarray(row_lo, dtype=np.float64),
                np.asarray(row_hi, dtype=np.float64), A.indptr.astype(np.int32), A.indices.astype(np.int32),
                A.data.astype(np.float64), np.asarray(integer, dtype=np.int32))
    if start is not None:
        idx = np.arange(ncol, dtype=np.int32)
        h.setSolution(int(ncol), idx, np.asarray(start, dtype=np.float64))
    t0 = time.perf_counter()
    h.run()
    secs = time.perf_counter() - t0
    ms = h.getModelStatus()
    name = h.modelStatusToString(ms).lower()
    info = h.getInfo()
    status = {"optimal": "optimal", "time limit reached": "time_limit", "infeasible": "infeasible"}.get(name, name)
    x = None
    if info.primal_solution_status == 2:  # feasible solution available
        x = np.asarray(h.getSolution().col_value)
    obj = float(info.objective_function_value) if x is not None else float("nan")
    bound = float(info.mip_dual_bound) if np.any(integer) else obj
    return x, status, obj, bound, secs


def _rel_gap(obj: float, bound: float) -> float:
    if not np.isfinite(obj) or not np.isfinite(bound):
        return float("nan") if not (np.isfinite(obj) and obj == bound) else 0.0
    return abs(bound - obj) / max(abs(obj), 1e-9) if abs(bound - obj) > 1e-9 * max(1, abs(obj)) else 0.0


# --------------------------------------------------------------------------- evaluators
# Each evaluator scores an open-site mask in *minimisation* form and can score "open +
# one more candidate" for every candidate at once (one pass over the pairs).


class _CoverEval:
    def __init__(self, problem: SitingProblem, thr: float, required: float | None = None):
        r, c, t = _pairs(problem)
        m = t <= thr
        self.r, self.c = r[m], c[m]
        self.w = problem.weights
        self.n, self.m = problem.n_demand, problem.n_sites
        self.required = required  # LSCP: feasibility threshold on covered weight

    def covered(self, open_: np.ndarray) -> np.ndarray:
        return np.bincount(self.r[open_[self.c]], minlength=self.n) > 0

    def covered_weight(self, open_: np.ndarray) -> float:
        return float(self.w[self.covered(open_)].sum())

    def added_weight(self, open_: np.ndarray) -> np.ndarray:
        unc = ~self.covered(open_)
        return np.bincount(self.c, weights=(self.w * unc)[self.r], minlength=self.m)

    def score(self, open_):
        if self.required is None:
            return -self.covered_weight(open_)
        return float(open_.sum()) if self.covered_weight(open_) >= self.required - 1e-9 * max(1, self.required) else np.inf

    def scores_if_added(self, open_, target=None):
        if self.required is None:
            return -(self.covered_weight(open_) + self.added_weight(open_))
        ok = self.covered_weight(open_) + self.added_weight(open_) >= self.required - 1e-9 * max(1, self.required)
        return np.where(ok, float(open_.sum()) + 1, np.inf)


class _MedianEval:
    def __init__(self, problem: SitingProblem, penalty: float):
        self.r, self.c, self.t = _pairs(problem)
        self.w = problem.weights
        self.n, self.m = problem.n_demand, problem.n_sites
        self.penalty = penalty

    def times(self, open_):
        cur = np.full(self.n, self.penalty)
        sel = open_[self.c]
        np.minimum.at(cur, self.r[sel], self.t[sel])
        return cur

    def score(self, open_):
        return float((self.w * self.times(open_)).sum())

    def scores_if_added(self, open_, target=None):
        cur = self.times(open_)
        imp = self.w[self.r] * np.maximum(0.0, cur[self.r] - self.t)
        return float((self.w * cur).sum()) - np.bincount(self.c, weights=imp, minlength=self.m)


class _CenterEval:
    def __init__(self, problem: SitingProblem):
        self.r, self.c, self.t = _pairs(problem)
        self.n, self.m = problem.n_demand, problem.n_sites
        has = np.zeros(self.n, dtype=bool)
        has[self.r] = True
        self.considered = has & (problem.weights > 0)

    def times(self, open_):
        cur = np.full(self.n, np.inf)
        sel = open_[self.c]
        np.minimum.at(cur, self.r[sel], self.t[sel])
        return cur

    def score(self, open_):
        cur = self.times(open_)[self.considered]
        return float(cur.max()) if cur.size else 0.0

    def scores_if_added(self, open_, target=None):
        """``target`` if adding the candidate brings the max to <= target, else inf."""
        cur = self.times(open_)
        v = float(target)
        bad = self.considered & (cur > v)
        need = int(bad.sum())
        hit = np.bincount(self.c[bad[self.r] & (self.t <= v)], minlength=self.m)
        return np.where(hit >= need, v, np.inf)


def _canonicalise(ev, fixed: np.ndarray, chosen: list[int], cand: np.ndarray, max_swaps: int = 10_000) -> list[int]:
    open_ = fixed.copy()
    open_[chosen] = True
    cur = ev.score(open_)
    idx = np.arange(len(fixed))
    for _ in range(max_swaps):
        changed = False
        for s in sorted(np.flatnonzero(open_ & cand), reverse=True):
            base = open_.copy()
            base[s] = False
            vals = ev.scores_if_added(base, cur)
            tol = 1e-9 * max(1.0, abs(cur)) if np.isfinite(cur) else 0.0
            ok = cand & ~base & (idx < s) & (vals <= cur + tol)
            if ok.any():
                j = int(np.flatnonzero(ok)[0])
                base[j] = True
                open_ = base
                cur = ev.score(open_)
                changed = True
                break
        if not changed:
            break
    return sorted(int(i) for i in np.flatnonzero(open_ & cand))


def _drop_redundant(ev, fixed: np.ndarray, chosen: list[int]) -> tuple[list[int], int]:
    open_ = fixed.copy()
    open_[chosen] = True
    cur = ev.score(open_)
    dropped = 0
    for s in sorted(chosen, reverse=True):
        open_[s] = False
        v = ev.score(open_)
        if v <= cur + 1e-9 * max(1.0, abs(cur)):
            dropped += 1
            cur = v
        else:
            open_[s] = True
    return sorted(int(i) for i in np.flatnonzero(open_ & ~fixed)), dropped


def _restrict(ev, cols: np.ndarray):
    """Copy of a pair-based evaluator keeping only pairs of the given columns (fast ranking)."""
    import copy

    keep = np.zeros(ev.m, dtype=bool)
    keep[cols] = True
    sub = copy.copy(ev)
    sel = keep[ev.c]
    sub.r, sub.c = ev.r[sel], ev.c[sel]
    if hasattr(ev, "t"):
        sub.t = ev.t[sel]
    return sub


def _rank(ev, fixed: np.ndarray, chosen: list[int], to_value) -> tuple[list[int], list[float], list[float]]:
    """Greedy order of ``chosen`` by marginal improvement (ties: lowest index)."""
    chosen = sorted(chosen)
    sub = _restrict(ev, np.flatnonzero(fixed | np.isin(np.arange(len(fixed)), chosen)))
    open_ = fixed.copy()
    prev = to_value(sub.score(open_), open_)
    order, gains, cums = [], [], []
    left = list(chosen)
    while left:
        vals = sub.scores_if_added(open_) if not isinstance(sub, _CenterEval) else None
        best, best_v = None, None
        for j in left:
            if vals is not None:
                v = to_value(vals[j], None)
            else:
                o = open_.copy()
                o[j] = True
                v = to_value(sub.score(o), o)
            if best is None or _better(v, best_v, to_value.sense):
                best, best_v = j, v
        open_[best] = True
        left.remove(best)
        order.append(best)
        gain = (best_v - prev) if to_value.sense > 0 else (prev - best_v)
        if not np.isfinite(prev) and np.isfinite(best_v):
            gain = np.inf
        elif not np.isfinite(prev) and not np.isfinite(best_v):
            gain = 0.0
        gains.append(float(gain))
        cums.append(float(best_v))
        prev = best_v
    return order, gains, cums


def _better(v, best, sense) -> bool:
    """Strictly better beyond a 1e-9 relative tolerance (so exact ties keep the lower index)."""
    if not np.isfinite(best) or not np.isfinite(v):
        return v > best if sense > 0 else v < best
    tol = 1e-9 * max(1.0, abs(best))
    return v > best + tol if sense > 0 else v < best - tol


class _Val:
    """Map an evaluator score to the natural value (persons, mean minutes, max minutes)."""

    def __init__(self, fn, sense):
        self.fn, self.sense = fn, sense

    def __call__(self, score, open_):
        return self.fn(score)


def _sites_frame(problem: SitingProblem, order, gains, cums) -> pd.DataFrame:
    return pd.DataFrame({
        "rank": np.arange(1, len(order) + 1, dtype=int),
        "site_id": pd.Series(problem.site_ids[order] if order else [], dtype=object),
        "site_index": np.asarray(order, dtype=int),
        "gain": np.asarray(gains, dtype=float),
        "cumulative": np.asarray(cums, dtype=float),
    })


# --------------------------------------------------------------------------- greedy


def _celf(gr: np.ndarray, gc: np.ndarray, gw: np.ndarray, n_cols: int, p: int,
          stop_weight: float | None = None) -> tuple[list[int], list[float]]:
    """Lazy greedy max coverage (CELF): columns 0..n_cols-1, rows are groups with weight gw.

    Stale upper bounds in an array; the argmax (lowest index among equals) is recomputed
    until the argmax is fresh. Stops after ``p`` picks, when nothing adds weight, or when
    covered weight reaches ``stop_weight``.
    """
    order = np.lexsort((gr, gc))
    rows = gr[order]
    colptr = np.concatenate([[0], np.cumsum(np.bincount(gc, minlength=n_cols))])
    wv = gw.astype(float).copy()
    bound = np.bincount(gc, weights=wv[gr], minlength=n_cols).astype(float)
    stamp = np.full(n_cols, -1)
    chosen, gains = [], []
    covered = 0.0
    for it in range(p):
        if stop_weight is not None and covered >= stop_weight - 1e-9 * max(1.0, stop_weight):
            break
        while True:
            j = int(np.argmax(bound))
            if bound[j] <= 0:
                return chosen, gains
            if stamp[j] == it:
                break
            rs = rows[colptr[j]:colptr[j + 1]]
            bound[j] = float(wv[rs].sum())
            stamp[j] = it
        g = bound[j]
        if g <= 0:
            break
        chosen.append(j)
        gains.append(g)
        covered += g
        wv[rows[colptr[j]:colptr[j + 1]]] = 0.0
        bound[j] = -1.0
    return chosen, gains


def _greedy_generic(ev, fixed: np.ndarray, cand: np.ndarray, p: int) -> list[int]:
    open_ = fixed.copy()
    cur = ev.score(open_)
    chosen = []
    for _ in range(p):
        vals = np.where(cand & ~open_, ev.scores_if_added(open_), np.inf)
        j = int(np.argmin(vals))
        if not vals[j] < cur - 1e-12 * max(1.0, abs(cur)):
            break
        open_[j] = True
        chosen.append(j)
        cur = vals[j]
    return chosen


# --------------------------------------------------------------------------- MCLP bounds


def _cover_mats(gr: np.ndarray, lc: np.ndarray, G: int, K: int):
    """(rows x cols) 0/1 incidence as CSC (column -> rows) and CSR (row -> columns)."""
    A = sp.csc_matrix((np.ones(gr.size), (gr, lc)), shape=(G, K))
    A.sum_duplicates()
    return A, A.tocsr()


def _mclp_swap(Ac, Ar, gw: np.ndarray, picks, deadline: float, max_iter: int = 10_000):
    """Best-improvement 1-swap local search for max coverage (columns of ``Ac``).

    ``Ac``/``Ar``: CSC/CSR incidence (groups x columns). Returns (chosen columns, covered
    weight). Each pass: the gain of adding every column (one sparse product), and for
    every chosen column the loss of dropping it net of what each other column would
    re-cover (a product over the rows only it covers). Ties keep the current set."""
    K = Ac.shape[1]
    y = np.zeros(K, dtype=bool)
    y[list(picks)] = True
    cnt = np.asarray(Ar @ y.astype(float)).ravel()
    obj = float(gw[cnt > 0].sum())
    for _ in range(max_iter):
        if time.perf_counter() > deadline:
            break
        gain = Ac.T @ (gw * (cnt == 0))
        best = (1e-9 * max(1.0, obj), -1, -1)
        for j in np.flatnonzero(y):
            rj = Ac.indices[Ac.indptr[j]:Ac.indptr[j + 1]]
            u = rj[cnt[rj] == 1]
            loss = float(gw[u].sum())
            if u.size:
                back = Ar[u].T @ gw[u]
                d = gain + back - loss
            else:
                d = gain - loss
            d[y] = -np.inf
            k = int(np.argmax(d))
            if d[k] > best[0]:
                best = (float(d[k]), j, k)
        if best[1] < 0:
            break
        _, j, k = best
        y[j], y[k] = False, True
        cnt[Ac.indices[Ac.indptr[j]:Ac.indptr[j + 1]]] -= 1
        cnt[Ac.indices[Ac.indptr[k]:Ac.indptr[k + 1]]] += 1
        obj = float(gw[cnt > 0].sum())
    return [int(j) for j in np.flatnonzero(y)], obj


def _topp(s: np.ndarray, p: int) -> np.ndarray:
    if p >= s.size:
        return np.arange(s.size)
    return np.argpartition(-s, p - 1)[:p] if p > 0 else np.zeros(0, dtype=np.int64)


def _mclp_lagrangian(Ac, Ar, gw: np.ndarray, p: int, lb: float, deadline: float, lam=None,
                     max_iter: int = 3000, tol: float = 1e-4):
    """Lagrangian upper bound for max coverage, coverage rows relaxed with multipliers
    ``0 <= lam_i <= w_i``: ``L(lam) = sum_i (w_i - lam_i) + (sum of the p largest positive
    column sums of lam)``. Every ``L`` is a valid upper bound (weak duality); minimised by
    projected subgradient with Polyak steps towards ``lb``. The relaxed solution's p
    sites are a feasible choice at every step (Lagrangian heuristic). Returns (best bound,
    its multipliers, its column sums, (best heuristic value, its columns)), values without
    any constant offset."""
    G, K = Ac.shape
    lam = (0.5 * gw).copy() if lam is None else lam.copy()
    best, best_lam, best_s = np.inf, lam, None
    theta, stall = 1.0, 0
    heur = (-np.inf, [])
    AT = Ac.T.tocsr()
    for _ in range(max_iter):
        s = AT @ lam
        top = _topp(s, p)
        top = top[s[top] > 0]
        L = float((gw - lam).sum() + s[top].sum())
        if L < best:
            stall = 0 if L < best - 1e-6 * max(1.0, abs(best)) else stall + 1
            best, best_lam, best_s = L, lam.copy(), s
        else:
            stall += 1
        if best - lb <= tol * max(1.0, abs(lb)) or time.perf_counter() > deadline:
            break
        if stall >= 15:
            theta *= 0.5
            stall = 0
            if theta < 1e-4:
                break
        cov = np.zeros(G)
        for j in top:
            cov[Ac.indices[Ac.indptr[j]:Ac.indptr[j + 1]]] += 1.0
        val = float(gw[cov > 0].sum())  # Lagrangian heuristic: the relaxed solution's sites
        if val > heur[0]:
            heur = (val, [int(j) for j in top])
            lb = max(lb, val)
        g = cov - 1.0  # dL/dlam
        g[(lam <= 0) & (g > 0)] = 0.0
        g[(lam >= gw) & (g < 0)] = 0.0
        nn = float(g @ g)
        if nn == 0:
            break
        lam = np.clip(lam - theta * max(L - lb, 1e-9 * max(1.0, L)) / nn * g, 0.0, gw)
    return best, best_lam, best_s, heur


def _reduced_cost_fix(s: np.ndarray, p: int, bound: float, threshold: float):
    """Lagrangian variable fixing for "choose up to p columns with the largest positive
    s". Forcing column j in (out) gives bound ``L - s_(p) + s_j`` (``L - s_j + s_(p+1)``);
    below ``threshold`` no solution with that choice beats the threshold. Returns
    (fix0 mask, fix1 mask, bound of each forced alternative)."""
    K = s.size
    sp_ = np.maximum(s, 0.0)
    if p >= K:
        return np.zeros(K, bool), sp_ > 0, np.full(K, -np.inf)
    order = np.argsort(-sp_, kind="stable")
    top = np.zeros(K, dtype=bool)
    top[order[:p]] = True
    sp_p, sp_p1 = sp_[order[p - 1]] if p > 0 else 0.0, sp_[order[p]]
    alt = np.where(top, bound - sp_ + sp_p1, bound - sp_p + sp_)
    return (~top) & (alt < threshold), top & (alt < threshold), alt


# --------------------------------------------------------------------------- coverage prep


@dataclass
class _CovPrep:
    gr: np.ndarray        # group index per pair
    gc: np.ndarray        # candidate (original site index) per pair
    gw: np.ndarray        # weight per group
    n_groups: int
    cols: np.ndarray      # kept candidate site indices (sorted)
    fixed_covered: float
    uncoverable: float
    coverable: float
    dominance_done: bool


def _coverage_prep(problem: SitingProblem, thr: float, reduce: bool = True,
                   rows_mask: np.ndarray | None = None) -> _CovPrep:
    r, c, t = _pairs(problem)
    m = t <= thr
    r, c = r[m], c[m]
    w = problem.weights
    n = problem.n_demand
    fixed = problem.fixed
    active = (w > 0) if rows_mask is None else (rows_mask & (w > 0))
    fcov = np.zeros(n, dtype=bool)
    fcov[r[fixed[c]]] = True
    coverable = np.zeros(n, dtype=bool)
    coverable[r] = True
    keep_row = active & coverable & ~fcov
    kp = keep_row[r] & ~fixed[c]
    r, c = r[kp], c[kp]
    rows = np.flatnonzero(keep_row)
    if reduce:
        group, rep = _merge_rows(r, c, rows, problem.n_sites)
        gw = np.bincount(group, weights=w[rows], minlength=len(rep))
        is_rep = np.zeros(n, dtype=bool)
        is_rep[rep] = True
        sel = is_rep[r]
        gr = np.searchsorted(rep, r[sel])
        gc = c[sel]
        n_groups = len(rep)
    else:
        gr = np.searchsorted(rows, r)
        gc = c
        gw = w[rows]
        n_groups = len(rows)
    cols = np.unique(gc)
    done = True
    if reduce and cols.size:
        dom, done = _dominated(gr, gc, n_groups, cols)
        if dom.any():
            cols = cols[~dom]
            keepc = np.zeros(problem.n_sites, dtype=bool)
            keepc[cols] = True
            sel = keepc[gc]
            gr, gc = gr[sel], gc[sel]
    return _CovPrep(gr, gc, gw, n_groups, cols, float(w[active & fcov].sum()),
                    float(w[active & ~coverable].sum()), float(w[active & coverable].sum()), done)


# --------------------------------------------------------------------------- MCLP


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
               mip_rel_gap: float = 1e-4, reduce: bool = True, warm_start: bool = True) -> SitingResult:
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
    the LP solution, each improved by 1-swap."""
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


_LP_NNZ_LIMIT = 400_000
_MCLP_EXACT_RG = 1e-4  # MCLP with whole-person weights and mip_rel_gap <= this: prove the optimum
_MCLP_ROUNDINGS = 40  # randomised roundings of the MCLP LP solution tried as incumbents
_PMED_MILP_PAIRS = 40_000  # p-median pairs (after fixing) up to which the radius MILP is run  # reduced coverage pairs up to which the LP relaxation is solved (IPM)


def _post_seconds(nnz: int) -> float:
    """Rough wall-clock reserve for canonicalising / ranking after the search."""
    return 0.5 + 1.5e-6 * nnz


def _mclp_core(gr, lc, gw, G, K, p, picks, deadline, rg, warm_start=True):
    """Exact max coverage over groups (rows ``gr``, columns ``lc``, weights ``gw``).

    1. incumbent: greedy ``picks`` + 1-swap; 2. upper bound: Lagrangian (subgradient,
    with the relaxed solution's sites as extra incumbents) and, if small enough, the LP
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
    tol_stop = lambda lb, ub: ub - lb <= max(0.0 if exact else rg * max(lb, 1e-9),  # noqa: E731
                                             1e-9 * max(1.0, total), (1.0 - 1e-6) if whole else 0.0)
    best, lb = _mclp_swap(Ac, Ar, gw, picks, deadline)
    if p >= K:
        return list(range(K)), total, "optimal", notes
    now = time.perf_counter()
    use_lp = gr.size <= _LP_NNZ_LIMIT  # the LP gives the best multipliers: few subgradient steps then
    ub, lam, s, heur = _mclp_lagrangian(Ac, Ar, gw, p, lb, now + 0.4 * max(deadline - now, 0.0),
                                        tol=max(rg, 1e-6), max_iter=100 if use_lp else 3000)
    if heur[0] > lb * (1 - 1e-3) and heur[1]:
        cand, v = _mclp_swap(Ac, Ar, gw, heur[1], deadline)
        if v > lb:
            best, lb = cand, v
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
    if tol_stop(lb, ub):
        return best, (max(np.floor(ub + 1e-6), lb) if whole else ub), "optimal", notes
    # reduced-cost fixing: columns that cannot be in a solution better than the incumbent
    # with whole persons a better solution covers at least lb + 1
    f0, f1, alt = _reduced_cost_fix(s, p, ub, lb + (1.0 - 1e-6) if whole else lb)
    fixed_bound = float(alt[f0 | f1].max()) if (f0 | f1).any() else -np.inf
    free = np.flatnonzero(~f0 & ~f1)
    one = np.flatnonzero(f1)
    covered1 = np.zeros(G, dtype=bool)
    for j in one:
        covered1[Ac.indices[Ac.indptr[j]:Ac.indptr[j + 1]]] = True
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
    A = sp.vstack([sp.hstack([-sub, sp.identity(Gs, format="csr")]),
                   sp.csr_matrix((np.ones(Ks), (np.zeros(Ks, dtype=np.int64), np.arange(Ks))), shape=(1, Ks + Gs))])
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


def _mclp_lp(Ac, gw, p, time_limit):
    """LP relaxation by HiGHS interior point without crossover: (y values, row duals)."""
    import highspy

    G, K = Ac.shape
    A = sp.vstack([sp.hstack([-Ac, sp.identity(G, format="csc")]),
                   sp.csr_matrix((np.ones(K), (np.zeros(K, dtype=np.int64), np.arange(K))), shape=(1, K + G))]).tocsc()
    A.sort_indices()
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("solver", "ipm")
    h.setOptionValue("run_crossover", "off")
    h.passModel(K + G, G + 1, int(A.nnz), 1, -1, 0.0, np.concatenate([np.zeros(K), gw]), np.zeros(K + G),
                np.ones(K + G), np.full(G + 1, -np.inf), np.concatenate([np.zeros(G), [p]]),
                A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data.astype(np.float64),
                np.zeros(K + G, dtype=np.int32))
    h.run()
    if h.modelStatusToString(h.getModelStatus()).lower() != "optimal":
        return None, None
    sol = h.getSolution()
    return np.asarray(sol.col_value)[:K], np.abs(np.asarray(sol.row_dual)[:G])


def _solve_mclp_capacity(problem, thr, n_new, tl, rg, reduce, with_before=True):
    t0 = time.perf_counter()
    r, c, t = _pairs(problem)
    w, cap, fixed = problem.weights, problem.capacity, problem.fixed
    m = (t <= thr) & (cap[c] > 0) & (w[r] > 0)
    r, c = r[m], c[m]
    rows = np.unique(r)
    if reduce:
        group, rep = _merge_rows(r, c, rows, problem.n_sites)
        gw = np.bincount(group, weights=w[rows], minlength=len(rep))
        is_rep = np.zeros(problem.n_demand, dtype=bool)
        is_rep[rep] = True
        sel = is_rep[r]
        gr, gc = np.searchsorted(rep, r[sel]), c[sel]
    else:
        gr, gc, gw = np.searchsorted(rows, r), c, w[rows]
    G = len(gw)
    sites = np.unique(gc)
    cand_sites = sites[~fixed[sites]]
    K = len(cand_sites)
    E = gr.size
    p = min(n_new, K)
    # columns: y (K) then x (E)
    ycol = np.full(problem.n_sites, -1)
    ycol[cand_sites] = np.arange(K)
    srow = np.full(problem.n_sites, -1)
    fin = sites[np.isfinite(cap[sites])]
    srow[fin] = np.arange(len(fin))
    e = np.arange(E)
    is_c = ycol[gc] >= 0
    ce = e[is_c]
    ncap, nlink = len(fin), ce.size
    # demand rows: sum x <= 1
    R = [gr]
    C = [K + e]
    V = [np.ones(E)]
    # capacity rows
    hasc = srow[gc] >= 0
    R.append(G + srow[gc[hasc]]); C.append(K + e[hasc]); V.append(gw[gr[hasc]])
    capc = fin[~fixed[fin]]
    R.append(G + srow[capc]); C.append(ycol[capc]); V.append(-cap[capc])
    # linking x_e - y_j <= 0
    base = G + ncap
    R.append(base + np.arange(nlink)); C.append(K + ce); V.append(np.ones(nlink))
    R.append(base + np.arange(nlink)); C.append(ycol[gc[ce]]); V.append(-np.ones(nlink))
    # budget
    R.append(np.full(K, base + nlink)); C.append(np.arange(K)); V.append(np.ones(K))
    nrow = base + nlink + 1
    A = sp.csc_matrix((np.concatenate(V), (np.concatenate(R), np.concatenate(C))), shape=(nrow, K + E))
    row_hi = np.concatenate([np.ones(G), np.where(fixed[fin], cap[fin], 0.0), np.zeros(nlink), [p]])
    cost = np.concatenate([np.zeros(K), gw[gr]])
    x, status, obj, bound, secs = _highs_solve(
        cost, A, np.full(nrow, -np.inf), row_hi, np.zeros(K + E), np.ones(K + E),
        np.concatenate([np.ones(K), np.zeros(E)]), maximize=True, offset=0.0, time_limit=tl, rel_gap=rg)
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


def _empty_result(problem, model, status, value_name, nd, ns, notes):
    return SitingResult(model=model, status=status, objective=float("nan"), mip_gap=float("nan"),
                        solve_seconds=0.0, sites=_sites_frame(problem, [], [], []), value_name=value_name,
                        value_before=float("nan"), value_after=float("nan"), n_demand=problem.n_demand,
                        n_sites=problem.n_sites, n_demand_reduced=nd, n_sites_reduced=ns, notes=notes)


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


# --------------------------------------------------------------------------- p-median


class _MedData:
    """Reduced p-median data: pairs (group, local column, minutes) with minutes below the
    group's cap, stored in column order (``colptr``), plus group weights ``gw`` and caps
    ``gcap`` (min of the penalty and the nearest fixed site). A group's cost is
    ``gw * min(gcap, min over open columns of t)``."""

    def __init__(self, gr, lc, gt, gw, gcap, K):
        o = np.lexsort((gr, lc))
        self.cr, self.cc, self.ct = gr[o], lc[o], gt[o]
        self.cw = gw[self.cr]
        self.wt = self.cw * self.ct
        self.colptr = np.concatenate([[0], np.cumsum(np.bincount(lc, minlength=K))]).astype(np.int64)
        self.gw, self.gcap, self.G, self.K = gw, gcap, len(gw), K
        self.wcap = gw * gcap

    def idx(self, cols) -> np.ndarray:
        """Pair positions of the given columns (slices of the column order)."""
        cols = np.asarray(cols, dtype=np.int64)
        if cols.size == 0:
            return np.zeros(0, dtype=np.int64)
        a, b = self.colptr[cols], self.colptr[cols + 1]
        ln = b - a
        return np.repeat(a - np.concatenate([[0], np.cumsum(ln)[:-1]]), ln) + np.arange(int(ln.sum()))

    def state(self, cols):
        """Per group: nearest open time ``d1`` (cap if none), second nearest ``d2``, and the
        column giving ``d1`` (-1: the cap)."""
        k = self.idx(cols)
        r, t, c = self.cr[k], self.ct[k], self.cc[k]
        o = np.lexsort((c, t, r))
        r, t, c = r[o], t[o], c[o]
        first = np.r_[True, r[1:] != r[:-1]] if r.size else np.zeros(0, dtype=bool)
        second = ~first & np.r_[False, first[:-1]] if r.size else first
        d1, d2 = self.gcap.copy(), self.gcap.copy()
        asg = np.full(self.G, -1, dtype=np.int64)
        d1[r[first]], asg[r[first]] = t[first], c[first]
        d2[r[second]] = t[second]
        return d1, d2, asg

    def cost(self, cols) -> float:
        return float(self.gw @ self.state(cols)[0])


def _pmed_greedy(D: _MedData, p: int) -> list[int]:
    """Greedy add on the reduced model (ties: lowest column)."""
    d1 = D.gcap.copy()
    chosen: list[int] = []
    for _ in range(p):
        gain = np.bincount(D.cc, weights=D.cw * np.maximum(d1[D.cr] - D.ct, 0.0), minlength=D.K)
        gain[chosen] = -1.0
        j = int(np.argmax(gain))
        if gain[j] <= 0:
            break
        chosen.append(j)
        k = D.idx([j])
        np.minimum.at(d1, D.cr[k], D.ct[k])
    return chosen


def _pmed_swap(D: _MedData, picks, p: int, deadline: float, max_iter: int = 10_000):
    """Best-improvement vertex substitution (Teitz-Bart) with Whitaker's bookkeeping: per
    group the nearest (``d1``, its column) and second-nearest (``d2``) open time. The
    change of swapping open ``s`` for closed ``j`` is ``loss_s - gain_j - extra_js``:
    ``gain_j`` = saving of adding ``j``, ``loss_s`` = cost of dropping ``s`` (its groups
    fall back to ``d2``), ``extra_js`` = saving ``j`` gives those groups beyond ``gain_j``
    (``w (d2 - max(t, d1))`` for ``t < d2``). All three come from one pass over the pairs;
    ``extra`` is a dense K x p array. Also adds a column while fewer than ``p`` are open.
    Returns (columns, cost)."""
    S = [int(j) for j in picks]
    K = D.K
    cur = D.cost(S)
    for _ in range(max_iter):
        if time.perf_counter() > deadline:
            break
        d1, d2, asg = D.state(S)
        cur = float(D.gw @ d1)
        tol = 1e-10 * max(1.0, abs(cur))
        d1r = d1[D.cr]
        gain = np.bincount(D.cc, weights=D.cw * np.maximum(d1r - D.ct, 0.0), minlength=K)
        gain[S] = -np.inf
        if len(S) < p:
            j = int(np.argmax(gain))
            if gain[j] > tol:
                S.append(j)
                continue
            break
        if not S:
            break
        n = len(S)
        pos = np.full(K, -1, dtype=np.int64)
        pos[S] = np.arange(n)
        has = asg >= 0
        ap = np.where(has, pos[np.maximum(asg, 0)], -1)
        loss = np.bincount(ap[has], weights=(D.gw * (d2 - d1))[has], minlength=n)
        apr = ap[D.cr]
        d2r = d2[D.cr]
        m = (apr >= 0) & (D.ct < d2r)
        ex = np.bincount(D.cc[m] * n + apr[m], weights=D.cw[m] * (d2r[m] - np.maximum(D.ct[m], d1r[m])),
                         minlength=K * n).reshape(K, n)
        delta = loss[None, :] - gain[:, None] - ex
        k = int(np.argmin(delta))
        j, s = divmod(k, n)
        if not delta[j, s] < -tol:
            break
        S[s] = j
    S = sorted(S)
    return S, D.cost(S)


def _pmed_lagrangian(D: _MedData, p: int, ub: float, lam: np.ndarray, deadline: float,
                     max_iter: int = 3000, tol: float = 1e-4, theta: float = 2.0):
    """Lagrangian lower bound for p-median, assignment rows ``sum_j x_gj + u_g = 1``
    relaxed with multipliers ``lam_g`` (``u_g`` is the virtual option at the cap):
    ``L(lam) = sum_g lam_g + sum_g min(0, w_g cap_g - lam_g) + (sum of the p most negative
    rho_j)``, ``rho_j = sum_{g in col j} min(0, w_g t_gj - lam_g)``. Any ``lam`` gives a
    valid bound; maximised by subgradient with Polyak steps towards ``ub``; the relaxed
    solution's sites are tried as incumbents. Returns (best bound, its lam, its rho,
    (best heuristic cost, its columns)), without any constant offset."""
    starts = D.colptr[:-1]
    best, best_lam, best_rho = -np.inf, lam, None
    stall = 0
    heur = (np.inf, [])
    lam = lam.copy()
    for _ in range(max_iter):
        v = D.wt - lam[D.cr]
        np.minimum(v, 0.0, out=v)
        rho = np.add.reduceat(v, starts) if v.size else np.zeros(D.K)
        pen = np.minimum(D.wcap - lam, 0.0)
        top = _topp(-rho, p)
        top = top[rho[top] < 0]
        L = float(lam.sum() + pen.sum() + rho[top].sum())
        if L > best:
            stall = 0 if L > best + 1e-6 * max(1.0, abs(best)) else stall + 1
            best, best_lam, best_rho = L, lam.copy(), rho
        else:
            stall += 1
        if ub - best <= tol * max(1.0, abs(ub)) or time.perf_counter() > deadline:
            break
        if stall >= 20:
            theta *= 0.5
            stall = 0
            if theta < 2e-3:
                break
        k = D.idx(top)
        sel = v[k] < 0
        cnt = np.bincount(D.cr[k][sel], minlength=D.G) + (pen < 0)
        if top.size:
            val = D.cost(top)
            if val < heur[0]:
                heur = (val, sorted(int(j) for j in top))
                ub = min(ub, val)
        g = 1.0 - cnt
        nn = float(g @ g)
        if nn == 0:
            break
        lam = lam + theta * max(ub - L, 1e-9 * max(1.0, abs(L))) / nn * g
    return best, best_lam, best_rho, heur


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
    if npairs > _PMED_MILP_PAIRS:
        # HiGHS does not finish the root LP of a radius MILP this large within a minute
        # (5000x500: 97k pairs, IPM LP alone ~60 s); spend the time on the bound instead.
        notes.append(f"radius MILP skipped ({npairs} pairs after fixing > {_PMED_MILP_PAIRS}); "
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
        if time.perf_counter() < deadline:
            # the subgradient stalled before the time limit: more time would not close the
            # gap (the LP bound itself is below the incumbent; closing it needs branching)
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
        group, rep = _merge_rows(r, c, rows, problem.n_sites, values=t, extra=capv[rows])
        gw = np.bincount(group, weights=w[rows], minlength=len(rep))
        is_rep = np.zeros(n, dtype=bool)
        is_rep[rep] = True
        sel = is_rep[r]
        gr, gc, gt = np.searchsorted(rep, r[sel]), c[sel], t[sel]
        gcap = capv[rep]
    else:
        gr, gc, gt, gw, gcap = np.searchsorted(rows, r), c, t, w[rows], capv[rows]
    cols = np.unique(gc)
    return _MedData(gr, np.searchsorted(cols, gc), gt, gw, gcap, len(cols)), cols, const


def solve_pmedian(problem: SitingProblem, n_new: int, *, unreachable_penalty_min: float | None = None,
                  time_limit_s: float = 60, mip_rel_gap: float = 1e-4, reduce: bool = True,
                  warm_start: bool = True) -> SitingResult:
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
    HiGHS, warm-started. ``time_limit_s`` bounds the whole call (a share is kept for
    canonicalising and ranking). ``status``: ``optimal`` (gap within ``mip_rel_gap``),
    ``time_limit`` (stopped by the time limit), or ``gap_not_closed`` (the model was too
    large for the radius MILP and the Lagrangian bound stalled before the time limit: the
    gap in ``mip_gap`` is proven, more time would not close it; a note says so)."""
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


# --------------------------------------------------------------------------- p-center


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
    group, rep = _merge_rows(r, c, rows, problem.n_sites)
    gw = np.bincount(group, weights=w[rows], minlength=len(rep))
    is_rep = np.zeros(problem.n_demand, dtype=bool)
    is_rep[rep] = True
    sel = is_rep[r]
    gr, gc = np.searchsorted(rep, r[sel]), c[sel]
    G = len(gw)
    sites = np.unique(gc)
    cand = sites[~fixed[sites]]
    K, E = len(cand), gr.size
    stats["nd"], stats["ns"] = G, len(sites)
    ycol = np.full(problem.n_sites, -1)
    ycol[cand] = np.arange(K)
    fin = sites[np.isfinite(cap[sites])]
    srow = np.full(problem.n_sites, -1)
    srow[fin] = np.arange(len(fin))
    e = np.arange(E)
    ce = e[ycol[gc] >= 0]
    hasc = srow[gc] >= 0
    capc = fin[~fixed[fin]]
    base = G + len(fin)
    R = [gr, G + srow[gc[hasc]], G + srow[capc], base + np.arange(ce.size), base + np.arange(ce.size),
         np.full(K, base + ce.size)]
    C = [K + e, K + e[hasc], ycol[capc], K + ce, ycol[gc[ce]], np.arange(K)]
    V = [np.ones(E), gw[gr[hasc]], -cap[capc], np.ones(ce.size), -np.ones(ce.size), np.ones(K)]
    nrow = base + ce.size + 1
    A = sp.csc_matrix((np.concatenate(V), (np.concatenate(R), np.concatenate(C))), shape=(nrow, K + E))
    rlo = np.concatenate([np.ones(G), np.full(nrow - G, -np.inf)])
    rhi = np.concatenate([np.ones(G), np.where(fixed[fin], cap[fin], 0.0), np.zeros(ce.size), [n_new]])
    x, status, obj, bound, _ = _highs_solve(np.concatenate([np.ones(K), np.zeros(E)]), A, rlo, rhi,
                                             np.zeros(K + E), np.ones(K + E),
                                             np.concatenate([np.ones(K), np.zeros(E)]), maximize=False,
                                             offset=0.0, time_limit=tl, rel_gap=rg)
    if x is None:
        return None, status
    return sorted(int(i) for i in cand[x[:K] > 0.5]), status


# --------------------------------------------------------------------------- evaluation


def evaluate_sites(problem: SitingProblem, model: str, new_site_ids: Any, *, threshold_min: float | None = None,
                   unreachable_penalty_min: float | None = None) -> float:
    """Objective of opening ``new_site_ids`` (plus the fixed sites), uncapacitated:
    ``"mclp"``/``"lscp"`` covered persons within ``threshold_min``; ``"pmedian"``
    person-minutes with the penalty; ``"pcenter"`` max minutes. For brute-force checks."""
    from .errors import check_choice

    check_choice("model", model, ("mclp", "lscp", "pmedian", "pcenter"))
    pos = {s: i for i, s in enumerate(problem.site_ids)}
    unknown = [s for s in new_site_ids if s not in pos]
    if unknown:
        raise InputError(f"new_site_ids has unknown ids: {unknown[:5]!r}")
    open_ = problem.fixed.copy()
    open_[[pos[s] for s in new_site_ids]] = True
    if model in ("mclp", "lscp"):
        return _CoverEval(problem, check_positive("threshold_min", threshold_min)).covered_weight(open_)
    if model == "pmedian":
        pen = 2.0 * problem.cutoff_min if unreachable_penalty_min is None else float(unreachable_penalty_min)
        return _MedianEval(problem, pen).score(open_)
    return _CenterEval(problem).score(open_)
