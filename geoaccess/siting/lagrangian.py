"""One projected-subgradient driver for the Lagrangian bounds of MCLP and p-median.

Both relaxations have the same shape: for multipliers ``lam`` the relaxed problem opens
the ``p`` columns with the best reduced values, its value ``L(lam)`` is a valid bound on
the optimum (weak duality) and ``dL/dlam`` is a subgradient. The MCLP bound is an
*upper* bound, minimised (``sense=-1``); the p-median bound is a *lower* bound,
maximised (``sense=+1``). The driver (:func:`subgradient`) owns what they share: Polyak
steps towards the incumbent, halving the step factor after a stall, bound and
multiplier tracking, the Lagrangian heuristic (the relaxed solution's columns are a
feasible choice) and the stopping rules. A relaxation supplies two callbacks
(:class:`Relaxation`).
"""

from __future__ import annotations

import time
from typing import NamedTuple, Protocol

import numpy as np


class Relaxation(Protocol):
    """The model-specific half of a Lagrangian bound."""

    def evaluate(self, lam: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """``(L(lam), reduced value per column, columns the relaxed problem opens,
        subgradient dL/dlam)``."""

    def primal(self, cols: np.ndarray) -> float:
        """Objective of opening ``cols`` in the original problem (no constant offset)."""


class Bound(NamedTuple):
    """Result of :func:`subgradient` (unpacks as a 4-tuple)."""

    bound: float                       # best L found (-inf / inf if none)
    lam: np.ndarray                    # its multipliers
    reduced: np.ndarray | None         # its reduced values per column (for variable fixing)
    heuristic: tuple[float, list[int]]  # best Lagrangian-heuristic value and its columns


def subgradient(relaxation: Relaxation, lam: np.ndarray, incumbent: float, deadline: float, *, sense: int,
                theta: float, stall_limit: int, theta_min: float, max_iter: int, tol: float,
                lower: float | np.ndarray | None = None, upper: float | np.ndarray | None = None) -> Bound:
    """Optimise a Lagrangian bound by projected subgradient with Polyak steps.

    Parameters
    ----------
    relaxation : Relaxation
        The model's callbacks.
    lam : ndarray
        Starting multipliers (not modified).
    incumbent : float
        Objective of the best known solution; improved by the Lagrangian heuristic and
        used as the Polyak step target.
    deadline : float
        ``time.perf_counter()`` value after which the loop stops (seconds).
    sense : {+1, -1}
        +1: ``L`` is a lower bound of a minimisation, maximised; -1: an upper bound of
        a maximisation, minimised.
    theta : float
        Initial step factor; halved after ``stall_limit`` iterations without a
        significant (1e-6 relative) improvement; the loop stops below ``theta_min``.
    stall_limit, theta_min, max_iter : int, float, int
        Step control and iteration cap.
    tol : float
        Stop when the bound is within ``tol`` (relative to ``max(1, |incumbent|)``) of
        the incumbent.
    lower, upper : float or ndarray, optional
        Box for the multipliers: the subgradient is projected at the bounds and the
        multipliers clipped after each step.

    Returns
    -------
    Bound
        ``(bound, its multipliers, its reduced values, (heuristic value, columns))``.
    """

    def past(a: float, b: float, eps: float) -> bool:  # a beyond b by more than eps in the bound's direction
        return a > b + eps if sense > 0 else a < b - eps

    best, best_lam, best_red = -sense * np.inf, lam, None
    heur: tuple[float, list[int]] = (sense * np.inf, [])
    lam = lam.copy()
    stall = 0
    for _ in range(max_iter):
        L, red, cols, g = relaxation.evaluate(lam)
        if past(L, best, 0.0):
            stall = 0 if past(L, best, 1e-6 * max(1.0, abs(best))) else stall + 1
            best, best_lam, best_red = L, lam.copy(), red
        else:
            stall += 1
        if sense * (incumbent - best) <= tol * max(1.0, abs(incumbent)) or time.perf_counter() > deadline:
            break
        if stall >= stall_limit:
            theta *= 0.5
            stall = 0
            if theta < theta_min:
                break
        if cols.size:
            val = relaxation.primal(cols)
            if past(heur[0], val, 0.0):
                heur = (val, sorted(int(j) for j in cols))
                incumbent = min(incumbent, val) if sense > 0 else max(incumbent, val)
        # project: no component moves out of the box
        if lower is not None:
            g[(lam <= lower) & (sense * g < 0)] = 0.0
        if upper is not None:
            g[(lam >= upper) & (sense * g > 0)] = 0.0
        nn = float(g @ g)
        if nn == 0:
            break
        lam = lam + sense * theta * max(sense * (incumbent - L), 1e-9 * max(1.0, abs(L))) / nn * g
        if lower is not None or upper is not None:
            lam = np.clip(lam, lower, upper)
    return Bound(best, best_lam, best_red, heur)


def _topp(s: np.ndarray, p: int) -> np.ndarray:
    """Indices of the ``p`` largest entries of ``s`` (any order)."""
    if p >= s.size:
        return np.arange(s.size)
    return np.argpartition(-s, p - 1)[:p] if p > 0 else np.zeros(0, dtype=np.int64)


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
