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
  (``z`` may be continuous: with integral ``y`` an optimal ``z`` is integral). With up to
  6 new sites and a reduced model of <= 5M groups x candidates, a combinatorial branch and
  bound (``branch``: cut by the sum of the best marginal gains, the last two sites
  evaluated exactly in one matrix product) proves the optimum first, within half the time
  limit; otherwise, or if it runs out of that time, the Lagrangian bound and HiGHS.
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
  in a minute: 5000x500, 97k pairs, IPM LP ~60 s), otherwise more subgradient and then,
  up to 1M pairs, Benders decomposition (``siting/benders.py``: closed-form cuts of the
  radius model, Kelley LP phase re-solved warm, LP-rounding incumbents, the master with
  the binding cuts as a HiGHS MILP, re-solved with the cuts its solutions violate).
  ``mip_gap`` is the proven gap to the Lagrangian / MILP / Benders bound. Measured (bench,
  p=20): at 5000x500 greedy + substitution stopped 2 % above the optimum and the
  Lagrangian bound 2.5 % below it; Benders' LP rounding finds 4,372,812.8 and the master
  MILP proves it within 0.1 % (status ``gap_not_closed`` remains for models too large for
  Benders whose Lagrangian bound stalls before the time limit).
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

Modules: ``problem`` (input, validation, reduction), ``coverage`` (LSCP, MCLP, capacitated
MCLP), ``median`` (p-median), ``center`` (p-center, capacitated p-center),
``lagrangian`` (the one subgradient driver behind the MCLP and p-median bounds),
``heuristics`` (CELF, 1-swap, vertex substitution), ``branch`` (MCLP branch and bound
for small budgets), ``coverrows`` (covering rows grouped by coverage bitsets, built from
blocks of pairs), ``solver`` (HiGHS glue) and
``evaluate`` (scoring, canonical tie-breaking, ranking).
"""

from .center import solve_pcenter
from .coverage import (_mclp_lagrangian, greedy_mclp, solve_lscp,  # noqa: F401  (private: used by tests)
                       solve_mclp)
from .evaluate import evaluate_sites
from .heuristics import _mclp_swap, _pmed_greedy, _pmed_swap  # noqa: F401
from .lagrangian import _reduced_cost_fix, _topp  # noqa: F401
from .median import (_PMED_MILP_PAIRS, _pmed_lagrangian, _pmedian_data,  # noqa: F401
                     solve_pmedian)
from .problem import (SitingProblem, SitingResult, _cover_mats, _coverage_prep,  # noqa: F401
                      siting_problem, siting_problem_from_cost_matrix)

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
