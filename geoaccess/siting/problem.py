"""The siting problem: input, validation and model reduction.

A :class:`SitingProblem` holds a bounded OD matrix (CSR minutes, stored entries are the
pairs within the cutoff, explicit zeros included), demand weights, site ids, the fixed
(existing) sites and optional capacities. Everything here is shared by the models:
the stored ``(row, column, minutes)`` triples (:func:`_pairs`), merging demand rows with
identical pair sets, dropping dominated candidates, and the reduced coverage data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import InputError, check_positive
from .dominance import _dominated

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
    group, first = _first_groups(keys)  # numbered by their lowest row: numbering follows demand order
    return group, rows[first]


def _first_groups(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group the rows of a 2-D array by equal content: (group of each row, first row of
    each group), groups numbered by their first row."""
    key = np.ascontiguousarray(key)
    _, first, group = np.unique(key.view(np.dtype((np.void, key.itemsize * key.shape[1]))).ravel(),
                                return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    renumber = np.empty_like(order)
    renumber[order] = np.arange(order.size)
    return renumber[group.reshape(-1)], first[order]


def _merged_pairs(r: np.ndarray, c: np.ndarray, rows: np.ndarray, w: np.ndarray, n_demand: int, n_sites: int,
                  values: np.ndarray | None = None, extra: np.ndarray | None = None):
    """Merge the demand ``rows`` with identical pair sets (see :func:`_merge_rows`).

    Returns ``(gr, sel, gw, rep)``: the group of each kept pair, the mask of kept pairs
    (those of each group's representative row; index ``c``/``t`` with it), the summed
    weight per group and the representative row per group."""
    group, rep = _merge_rows(r, c, rows, n_sites, values=values, extra=extra)
    gw = np.bincount(group, weights=w[rows], minlength=len(rep))
    is_rep = np.zeros(n_demand, dtype=bool)
    is_rep[rep] = True
    sel = is_rep[r]
    return np.searchsorted(rep, r[sel]), sel, gw, rep


def _local_columns(problem: SitingProblem, cols: np.ndarray, site_ids) -> list[int]:
    """Local columns (positions in the kept candidates ``cols``) of the given site ids;
    ids not kept (dominated, or adding nothing) are skipped."""
    pos = {s: i for i, s in enumerate(problem.site_ids)}
    idx = np.array([pos[s] for s in site_ids if s in pos], dtype=np.int64)
    at = np.searchsorted(cols, idx)
    ok = (at < cols.size) & (cols[np.minimum(at, max(cols.size - 1, 0))] == idx) if cols.size else at < 0
    return at[ok].tolist()


def _col_positions(indptr: np.ndarray, cols) -> np.ndarray:
    """Positions in a compressed-column array of the entries of ``cols`` (slices concatenated)."""
    cols = np.asarray(cols, dtype=np.int64)
    if cols.size == 0:
        return np.zeros(0, dtype=np.int64)
    a, b = indptr[cols], indptr[cols + 1]
    ln = b - a
    return np.repeat(a - np.concatenate([[0], np.cumsum(ln)[:-1]]), ln) + np.arange(int(ln.sum()))


def _cover_mats(gr: np.ndarray, lc: np.ndarray, G: int, K: int):
    """(rows x cols) 0/1 incidence as CSC (column -> rows) and CSR (row -> columns)."""
    A = sp.csc_matrix((np.ones(gr.size), (gr, lc)), shape=(G, K))
    A.sum_duplicates()
    return A, A.tocsr()


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
        gr, sel, gw, rep = _merged_pairs(r, c, rows, w, n, problem.n_sites)
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
        return _col_positions(self.colptr, cols)

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
