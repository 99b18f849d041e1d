"""Exact maximal covering for small budgets by combinatorial branch and bound.

The MCLP's LP bound is weak when coverage is dense (a 30-minute drive in a county: each
candidate reaches more than half of the demand groups), so HiGHS branches for a long
time even with three sites. Coverage is submodular and, with a few sites, the
enumeration tree is small once it is cut by the sum of the best marginal gains and the
last two sites are evaluated exactly in one matrix product.
"""

from __future__ import annotations

import time

import numpy as np

_BB_MAX_P = 6  # budgets up to which the exact MCLP tries the branch and bound first
_BB_MAX_CELLS = 5_000_000  # groups x candidates of its dense matrix (float64: 40 MB)


def _mclp_branch_and_bound(Ac, gw: np.ndarray, p: int, best, lb: float, deadline: float, slack):
    """Exact max coverage for a small budget: depth-first branch and bound on the dense
    0/1 matrix (groups x columns).

    A node holds the chosen columns S, the weight left uncovered per group and the
    columns still allowed (those after S's last in the node's order). Coverage is
    submodular, so ``f(S + T) - f(S) <= sum of the gains of T's columns given S``: a
    branch whose best ``r`` gains cannot beat the incumbent by more than the tolerance
    is cut, and so is any column whose gain plus the ``r - 1`` best others cannot. With
    two columns left the pairs are evaluated exactly at once (``f = g_j + g_k - both``,
    one matrix product); with one, the best gain. Weights in float64.

    Parameters
    ----------
    Ac : scipy.sparse.csc_matrix
        Groups x columns incidence.
    gw : ndarray
        Weight (persons) per group.
    p : int
        Number of columns to choose.
    best, lb : list of int, float
        The incumbent and its covered weight.
    deadline : float
        ``time.perf_counter()`` value at which the search gives up.
    slack : callable
        ``slack(incumbent)``: the tolerance (persons); a branch whose bound is within it
        of the incumbent is cut.

    Returns
    -------
    (list of int, float, bool)
        The best columns, their covered weight, and whether the search finished (then
        no choice covers more than the incumbent beyond the tolerance).
    """
    state = {"best": sorted(int(j) for j in best), "lb": float(lb), "done": True}

    def improve(value: float, cols) -> None:
        if value > state["lb"]:
            state["best"], state["lb"] = sorted(int(j) for j in cols), float(value)

    def beat() -> float:  # a bound must exceed this to be worth exploring
        return state["lb"] + slack(state["lb"])

    def node(chosen: list, M: np.ndarray, u: np.ndarray, value: float, cols: np.ndarray, r: int) -> None:
        """``M``: the rows still uncovered (weights ``u``) x the allowed columns ``cols``."""
        if time.perf_counter() > deadline:
            state["done"] = False
            return
        g = u @ M
        if cols.size > r:
            # a column can be part of a better completion only with the r - 1 best others
            top = np.sort(g)[::-1][:r]
            others = np.where(g >= top[-1], top.sum() - g, top[:-1].sum())
            keep = value + g + others > beat()
            M, cols, g = M[:, keep], cols[keep], g[keep]
        if cols.size <= r:  # coverage never falls when a column is added: take them all
            improve(value + float(u[M.sum(axis=1) > 0].sum()), chosen + cols.tolist())
            return
        if r == 1:
            j = int(np.argmax(g))
            improve(value + float(g[j]), chosen + [int(cols[j])])
            return
        if r == 2:
            pair = value + g[:, None] + g[None, :] - (M * u[:, None]).T @ M
            pair[np.tril_indices(cols.size)] = -np.inf
            a, b = np.unravel_index(int(np.argmax(pair)), pair.shape)
            improve(float(pair[a, b]), chosen + [int(cols[a]), int(cols[b])])
            return
        o = np.argsort(-g, kind="stable")
        M, cols, g = M[:, o], cols[o], g[o]
        for i in range(cols.size - r + 1):
            # gains sorted: no later branch has a better bound
            if value + float(g[i:i + r].sum()) <= beat():
                break
            left = M[:, i] == 0
            node(chosen + [int(cols[i])], np.asfortranarray(M[left, i + 1:]), u[left], value + float(g[i]),
                 cols[i + 1:], r - 1)
            if not state["done"]:
                return

    gw = np.asarray(gw, dtype=np.float64)
    node([], np.asfortranarray(Ac.toarray(), dtype=np.float64), gw, 0.0, np.arange(Ac.shape[1]), p)
    return state["best"], state["lb"], state["done"]
