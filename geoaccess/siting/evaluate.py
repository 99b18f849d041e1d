"""Scoring a set of open sites: evaluators, canonical tie-breaking, ranking, results.

Each evaluator scores an open-site mask in *minimisation* form and can score "open +
one more candidate" for every candidate at once (one pass over the pairs). The models
use them after solving, to canonicalise the chosen set (ties towards low site indices),
drop sites that add nothing, and rank the chosen sites by marginal gain.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError, check_choice, check_positive
from .problem import SitingProblem, SitingResult, _pairs



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


class _CenterEval(_MedianEval):
    """Max over the considered demand of the nearest open time (inf where none is open)."""

    def __init__(self, problem: SitingProblem):
        super().__init__(problem, np.inf)
        has = np.zeros(self.n, dtype=bool)
        has[self.r] = True
        self.considered = has & (problem.weights > 0)

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



def _empty_result(problem, model, status, value_name, nd, ns, notes):
    return SitingResult(model=model, status=status, objective=float("nan"), mip_gap=float("nan"),
                        solve_seconds=0.0, sites=_sites_frame(problem, [], [], []), value_name=value_name,
                        value_before=float("nan"), value_after=float("nan"), n_demand=problem.n_demand,
                        n_sites=problem.n_sites, n_demand_reduced=nd, n_sites_reduced=ns, notes=notes)


def evaluate_sites(problem: SitingProblem, model: str, new_site_ids: Any, *, threshold_min: float | None = None,
                   unreachable_penalty_min: float | None = None) -> float:
    """Objective of opening ``new_site_ids`` (plus the fixed sites), uncapacitated:
    ``"mclp"``/``"lscp"`` covered persons within ``threshold_min``; ``"pmedian"``
    person-minutes with the penalty; ``"pcenter"`` max minutes. For brute-force checks."""
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
