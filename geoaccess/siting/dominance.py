"""Dropping dominated candidates: a candidate whose set of covered demand groups is a
subset of another's can be left out of a covering model without changing its optimum."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

_DOMINANCE_WORK_LIMIT = 60_000_000  # sum of squared row degrees up to which A^T A is used
_BITSET_WORK_LIMIT = 2_000_000_000  # candidates² × 64-bit words of a coverage bitset, beyond which we stop


def _dominated(gr: np.ndarray, gc: np.ndarray, n_groups: int, cols: np.ndarray) -> tuple[np.ndarray, bool]:
    """Boolean over ``cols`` (sorted site indices): True if the column's set of groups is a
    strict subset of another's, or equal to a lower-index column's. Returns (mask, done).

    Sparse ``A^T A`` (intersection sizes) when rows are short; else, when the candidates
    are few enough, one bitset per column and a subset test against every larger column
    (dense coverage, e.g. a 30-minute drive with candidates every 500 m: 1,606 candidates
    × 21,942 groups in ~2 s); else not done."""
    if cols.size <= 1 or gr.size == 0:
        return np.zeros(cols.size, dtype=bool), True
    lc = np.searchsorted(cols, gc)
    deg = np.bincount(gr, minlength=n_groups).astype(np.float64)
    if float((deg * deg).sum()) > _DOMINANCE_WORK_LIMIT:
        return _dominated_bits(gr, lc, n_groups, cols.size)
    A = sp.csc_matrix((np.ones(gr.size, dtype=np.int32), (gr, lc)), shape=(n_groups, cols.size))
    C = (A.T @ A).tocoo()
    size = np.asarray(A.sum(axis=0)).ravel()
    j, k, v = C.row, C.col, C.data
    sub = (j != k) & (v == size[j]) & ((size[k] > size[j]) | (k < j))
    dom = np.zeros(cols.size, dtype=bool)
    dom[j[sub]] = True
    return dom, True


def _dominated_bits(gr: np.ndarray, lc: np.ndarray, n_groups: int, K: int) -> tuple[np.ndarray, bool]:
    """:func:`_dominated` with one bitset of covered groups per column."""
    words = (n_groups + 63) // 64
    if float(K) * K * words > _BITSET_WORK_LIMIT:
        return np.zeros(K, dtype=bool), False
    bits = np.zeros((K, words), dtype=np.uint64)
    np.bitwise_or.at(bits, (lc, gr // 64), np.left_shift(np.uint64(1), (gr % 64).astype(np.uint64)))
    return dominated_columns(bits), True


def dominated_columns(bits: np.ndarray) -> np.ndarray:
    """Columns whose set of rows is a strict subset of another column's, or equal to a
    lower-index column's.

    Parameters
    ----------
    bits : ndarray of unsigned integers, shape (columns, words)
        One bitset of covered rows per column (any word size, the same layout for all).

    Returns
    -------
    ndarray of bool
        True for the dominated columns; dropping them all leaves, for every dropped
        column, a kept one covering a superset of its rows.
    """
    K = bits.shape[0]
    size = np.unpackbits(bits.view(np.uint8), axis=1).sum(axis=1) if K else np.zeros(0, dtype=np.int64)
    index = np.arange(K)
    dom = np.zeros(K, dtype=bool)
    for j in range(K):
        # a dominated column's own dominator (up a chain to an undominated one) covers j too
        ks = np.flatnonzero(((size > size[j]) | ((size == size[j]) & (index < j))) & ~dom)
        if ks.size and not np.all(np.any(bits[j] & ~bits[ks], axis=1)):
            dom[j] = True
    return dom
