"""HiGHS glue: building and running models with highspy, time limits, status and gaps.

Every model runs single-threaded with a fixed seed (deterministic results) and without
solver output; HiGHS's copyright banner, which it prints to the C-level stdout when the
first solver of a process is created (before any option can be set), is kept out of the
CLI's output as well.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

import numpy as np
import scipy.sparse as sp

_banner_lock = threading.Lock()
_banner_done = False
_REPORT: ContextVar[Callable[[str], None] | None] = ContextVar("siting_progress", default=None)
_REPORT_EVERY_S = 2.0


@contextmanager
def reporting(say: Callable[[str], None] | None) -> Iterator[None]:
    """Within the block, solvers report progress to ``say`` (one line each): the incumbent,
    the bound and the gap as they improve, and HiGHS's own every few seconds, with the time
    limit. ``None``: silent."""
    token = _REPORT.set(say)
    try:
        yield
    finally:
        _REPORT.reset(token)


def report(stage: str, incumbent: float, bound: float, deadline: float | None = None) -> None:
    """Say one progress line (when :func:`reporting` is on)."""
    say = _REPORT.get()
    if say is None:
        return
    left = f", {max(deadline - time.perf_counter(), 0):.0f} s left" if deadline is not None else ""
    say(f"{stage}: incumbent {incumbent:,.1f}, bound {bound:,.1f}, gap {_rel_gap(incumbent, bound):.3%}{left}")


def _watch(h, time_limit: float) -> None:
    """Report HiGHS's incumbent, bound and gap every few seconds while it runs."""
    say = _REPORT.get()
    if say is None:
        return
    last = [0.0]

    def tick(event) -> None:
        out = event.data_out
        if out.running_time - last[0] >= _REPORT_EVERY_S and np.isfinite(out.mip_primal_bound):
            last[0] = out.running_time
            say(f"HiGHS: incumbent {out.mip_primal_bound:,.1f}, bound {out.mip_dual_bound:,.1f}, gap "
                f"{out.mip_gap:.3%}, {out.running_time:.0f} s of {time_limit:.0f} s limit")

    h.cbMipInterrupt.subscribe(tick)


def _quiet_highs(highspy):
    """``highspy.Highs()`` with file descriptor 1 pointed at the null device meanwhile."""
    if sys.stdout is not None:
        sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no standard output (e.g. pythonw): nothing to protect
        return highspy.Highs()
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        h = highspy.Highs()
        if os.name == "posix":
            ctypes.CDLL(None).fflush(None)  # C stdio may still buffer the banner
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
    return h


def _new_highs(time_limit: float):
    """A quiet, deterministic ``highspy.Highs`` with the time limit set."""
    global _banner_done
    import highspy

    with _banner_lock:
        # the banner is printed during the first construction in a process only
        h = highspy.Highs() if _banner_done else _quiet_highs(highspy)
        _banner_done = True
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("threads", 1)
    return h


def _pass_model(h, cost, A, row_lo, row_hi, col_lo, col_hi, integer, maximize: bool, offset: float) -> None:
    A = sp.csc_matrix(A)
    A.sort_indices()
    ncol, nrow = A.shape[1], A.shape[0]
    h.passModel(int(ncol), int(nrow), int(A.nnz), 1, -1 if maximize else 1, float(offset),
                np.asarray(cost, dtype=np.float64), np.asarray(col_lo, dtype=np.float64),
                np.asarray(col_hi, dtype=np.float64), np.asarray(row_lo, dtype=np.float64),
                np.asarray(row_hi, dtype=np.float64), A.indptr.astype(np.int32), A.indices.astype(np.int32),
                A.data.astype(np.float64), np.asarray(integer, dtype=np.int32))


def _highs_solve(cost, A, row_lo, row_hi, col_lo, col_hi, integer, *, maximize, offset, time_limit,
                 rel_gap, start=None, abs_gap=None):
    """Solve a MILP with highspy. Returns (x or None, status, objective, dual_bound, seconds).

    ``status``: ``optimal``, ``time_limit``, ``infeasible`` or HiGHS's own wording."""
    h = _new_highs(time_limit)
    h.setOptionValue("mip_rel_gap", float(rel_gap))
    if abs_gap is not None:
        h.setOptionValue("mip_abs_gap", float(abs_gap))
    _pass_model(h, cost, A, row_lo, row_hi, col_lo, col_hi, integer, maximize, offset)
    ncol = A.shape[1]
    if start is not None:
        h.setSolution(int(ncol), np.arange(ncol, dtype=np.int32), np.asarray(start, dtype=np.float64))
    if np.any(integer):
        _watch(h, time_limit)
    t0 = time.perf_counter()
    h.run()
    secs = time.perf_counter() - t0
    name = h.modelStatusToString(h.getModelStatus()).lower()
    info = h.getInfo()
    status = {"optimal": "optimal", "time limit reached": "time_limit", "infeasible": "infeasible"}.get(name, name)
    x = None
    if info.primal_solution_status == 2:  # feasible solution available
        x = np.asarray(h.getSolution().col_value)
    obj = float(info.objective_function_value) if x is not None else float("nan")
    bound = float(info.mip_dual_bound) if np.any(integer) else obj
    return x, status, obj, bound, secs


def _highs_lp_ipm(cost, A, row_lo, row_hi, col_lo, col_hi, *, maximize, time_limit):
    """Solve an LP by interior point without crossover. Returns (x, row duals), or
    (None, None) unless HiGHS reports it optimal."""
    h = _new_highs(time_limit)
    h.setOptionValue("solver", "ipm")
    h.setOptionValue("run_crossover", "off")
    _pass_model(h, cost, A, row_lo, row_hi, col_lo, col_hi, np.zeros(A.shape[1]), maximize, 0.0)
    h.run()
    if h.modelStatusToString(h.getModelStatus()).lower() != "optimal":
        return None, None
    sol = h.getSolution()
    return np.asarray(sol.col_value), np.asarray(sol.row_dual)


def _rel_gap(obj: float, bound: float) -> float:
    if not np.isfinite(obj) or not np.isfinite(bound):
        return float("nan") if not (np.isfinite(obj) and obj == bound) else 0.0
    return abs(bound - obj) / max(abs(obj), 1e-9) if abs(bound - obj) > 1e-9 * max(1, abs(obj)) else 0.0


def _post_seconds(nnz: int) -> float:
    """Rough wall-clock reserve for canonicalising / ranking after the search."""
    return 0.5 + 1.5e-6 * nnz


def _capacity_model(gr: np.ndarray, gc: np.ndarray, gw: np.ndarray, cap: np.ndarray, fixed: np.ndarray,
                    budget: int):
    """Capacitated assignment constraints shared by capacitated MCLP and p-center.

    Columns: ``y`` for the candidate sites in the pairs, then one assignment fraction
    ``x_e`` per pair ``e = (gr, gc)``. Rows: per group ``sum_e x_e`` (bounds set by the
    caller: ``<= 1`` or ``= 1``), per finite-capacity site ``sum w x <= cap`` (fixed) or
    ``<= cap y`` (candidate), linking ``x_e <= y_j``, and ``sum y <= min(budget, K)``.
    Returns (site indices in the pairs, candidate site indices, A, row upper bounds)."""
    G, E = len(gw), gr.size
    n_sites = len(fixed)
    sites = np.unique(gc)
    cand = sites[~fixed[sites]]
    K = len(cand)
    ycol = np.full(n_sites, -1)
    ycol[cand] = np.arange(K)
    fin = sites[np.isfinite(cap[sites])]
    srow = np.full(n_sites, -1)
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
    row_hi = np.concatenate([np.ones(G), np.where(fixed[fin], cap[fin], 0.0), np.zeros(ce.size), [min(budget, K)]])
    return sites, cand, A, row_hi
