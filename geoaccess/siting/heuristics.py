"""Incumbent heuristics: lazy greedy (CELF), 1-swap for coverage, greedy add and vertex
substitution for p-median. All work on the reduced models (groups x local columns)
and are vectorised over the sparse pairs; they give the exact models their first
incumbents and warm starts.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .problem import _MedData


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


def _pmed_greedy(D: _MedData, p: int, start=()) -> list[int]:
    """Greedy add on the reduced model (ties: lowest column), from the columns ``start``."""
    chosen: list[int] = [int(j) for j in start][:p]
    d1 = D.state(chosen)[0] if chosen else D.gcap.copy()
    for _ in range(p - len(chosen)):
        gain = np.bincount(D.cc, weights=D.cw * np.maximum(d1[D.cr] - D.ct, 0.0), minlength=D.K)
        gain[chosen] = -1.0
        j = int(np.argmax(gain))
        if gain[j] <= 0:
            break
        chosen.append(j)
        k = D.idx([j])
        np.minimum.at(d1, D.cr[k], D.ct[k])
    return chosen


def _cover_greedy(gr: np.ndarray, lc: np.ndarray, gw: np.ndarray, K: int, p: int, start) -> list[int]:
    """Greedy max coverage from the columns ``start`` (a warm start: the previous
    solution of a smaller budget), adding the column covering most new weight."""
    chosen = [int(j) for j in start][:p]
    covered = np.zeros(len(gw), dtype=bool)
    covered[gr[np.isin(lc, chosen)]] = True
    for _ in range(p - len(chosen)):
        free = ~covered[gr]
        gain = np.bincount(lc[free], weights=gw[gr[free]], minlength=K)
        gain[chosen] = -1.0
        j = int(np.argmax(gain))
        if gain[j] <= 0:
            break
        chosen.append(j)
        covered[gr[lc == j]] = True
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
