"""Demand grouped by coverage: the rows of the covering models built from blocks of pairs.

MCLP and LSCP read only whether a site is within the threshold of a demand point, so
points with the same set of such sites (and the same "covered today" flag) are one row
with their people summed: exact for both models. Blocks of (point, candidate) pairs are
folded into one bitset per point as they come (32 candidates a word) and dropped, so the
pairs are never all held at once.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from . import dominance
from .problem import SitingProblem, _first_groups, siting_problem


def dominated_candidates(within: np.ndarray) -> np.ndarray:
    """Candidates (columns of a rows x candidates 0/1 table) whose rows are a subset of
    another's (equal: the later one); none when the subset tests would cost more than the
    bitset work limit of :mod:`.dominance` (nothing dropped: the models stay exact)."""
    n_rows, n_cands = within.shape
    words = (n_rows + 63) // 64
    if float(n_cands) * n_cands * words > dominance._BITSET_WORK_LIMIT:
        return np.zeros(n_cands, dtype=bool)
    packed = np.zeros((n_cands, words * 8), dtype=np.uint8)
    packed[:, :(n_rows + 7) // 8] = np.packbits(within.T, axis=1)
    return dominance.dominated_columns(packed.view(np.uint64))


class CoverageBits:
    """Per demand point, the set of candidates within the threshold, as bitsets.

    Parameters
    ----------
    n_points, n_cands : int
        Demand points (rows) and candidates.
    covered : ndarray of bool
        Per point: within the threshold of an existing facility today.
    """

    def __init__(self, n_points: int, n_cands: int, covered: np.ndarray):
        self.n_points, self.n_cands, self.words = n_points, n_cands, (n_cands + 31) // 32
        self.bits = np.zeros((n_points, self.words + 1), dtype=np.uint32)  # last word: covered today
        self.bits[:, self.words] = covered

    def add(self, points: np.ndarray, cands: np.ndarray) -> None:
        """Mark the pairs (``points[k]``, ``cands[k]``) within the threshold. The pairs of one
        call must be distinct: a word's bits are then summed to their OR (float64 sums of
        distinct powers of two below 2**32 are exact)."""
        if points.size == 0:
            return
        word = cands // 32
        w0 = int(word.min())
        n_w = int(word.max()) - w0 + 1
        sums = np.bincount(points.astype(np.int64) * n_w + (word - w0), weights=np.ldexp(1.0, cands % 32),
                           minlength=self.n_points * n_w)
        self.bits[:, w0:w0 + n_w] |= sums.reshape(self.n_points, n_w).astype(np.uint32)

    def problem(self, weights: np.ndarray, site_ids: np.ndarray, existing: str, threshold: float,
                demand_ids: np.ndarray) -> SitingProblem:
        """The covering problem: one row per group of points with equal sets, weights summed
        (called once: it releases the per-point bitsets).

        Column 0 is ``existing`` (fixed; the existing facilities), then the candidates in
        order (``site_ids`` holds both). A stored entry holds ``threshold`` itself, meaning
        "within"; ``demand_ids`` of a row is that of its group's first point. Candidates
        reaching a subset of another's groups keep their column without pairs (they never
        improve a covering optimum), and the groups are merged again on what is left.

        Parameters
        ----------
        weights : ndarray
            Persons per point.
        site_ids : ndarray
            ``existing`` then the candidates' ids.
        existing : str
            Id of the fixed column.
        threshold : float
            Travel threshold, minutes.
        demand_ids : ndarray
            Id of each point.

        Returns
        -------
        SitingProblem
        """
        group, first = _first_groups(self.bits)
        gbits, self.bits = self.bits[first], None  # the per-point bitsets are done with
        gw = np.bincount(group, weights=weights, minlength=first.size)
        within = np.unpackbits(gbits[:, :self.words].view(np.uint8), axis=1, bitorder="little")[:, :self.n_cands]
        within[:, dominated_candidates(within)] = 0
        table = np.column_stack([gbits[:, self.words] > 0, within]).astype(np.uint8)
        del within, gbits
        group2, first2 = _first_groups(np.packbits(table, axis=1))
        table, first = table[first2], first[first2]
        gw = np.bincount(group2, weights=gw, minlength=first.size)
        # row-major nonzeros give each row's columns sorted, as CSR wants
        indptr = np.r_[0, np.cumsum(table.sum(axis=1))]
        indices = np.flatnonzero(table.ravel()) % table.shape[1]
        od = sp.csr_matrix((np.full(indices.size, threshold, dtype=np.float32), indices.astype(np.int32), indptr),
                           shape=table.shape)
        return siting_problem(od, gw, site_ids, fixed=[existing], demand_ids=demand_ids[first], cutoff_min=threshold)
