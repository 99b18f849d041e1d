"""The siting package's shape (small modules, one subgradient driver) and the honesty of
its Lagrangian bounds against brute force computed here with dense numpy arrays."""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import geoaccess.siting as S
from geoaccess.siting import lagrangian, siting_problem, solve_mclp, solve_pmedian

PACKAGE = Path(S.__file__).parent
CUTOFF = 12.0


def _instance(seed: int, n: int = 45, m: int = 10):
    """Dense minutes (inf beyond the cutoff), weights, and the same data as a problem."""
    rng = np.random.default_rng(1000 + seed)
    dem = rng.uniform(0, 20, (n, 2))
    sit = rng.uniform(0, 20, (m, 2))
    t = np.hypot(*(dem[:, None, :] - sit[None, :, :]).transpose(2, 0, 1)) * 1.5  # minutes
    t[t > CUTOFF] = np.inf
    w = rng.integers(1, 100, n).astype(float)
    r, c = np.nonzero(np.isfinite(t))
    od = sp.csr_matrix((t[r, c], (r, c)), shape=(n, m))
    return t, w, siting_problem(od, w, [f"s{j}" for j in range(m)], cutoff_min=CUTOFF)


def _brute_mclp(t, w, thr, p):
    cover = t <= thr
    return max(w[cover[:, list(s)].any(axis=1)].sum() for s in itertools.combinations(range(t.shape[1]), p))


def _brute_pmedian(t, w, penalty, p):
    return min((w * np.minimum(penalty, t[:, list(s)].min(axis=1))).sum()
               for s in itertools.combinations(range(t.shape[1]), p))


def test_no_module_exceeds_500_lines():
    sizes = {f.name: len(f.read_text(encoding="utf-8").splitlines()) for f in PACKAGE.glob("*.py")}
    assert {"problem.py", "coverage.py", "median.py", "center.py", "lagrangian.py", "heuristics.py",
            "solver.py"} <= set(sizes)
    assert max(sizes.values()) <= 500, sizes
    assert not (PACKAGE.parent / "siting.py").exists()


def test_step_control_is_written_once():
    # the subgradient step control (assignments to the step factor and the stall counter)
    # lives in the driver only
    holders = set()
    for f in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                if isinstance(node, ast.AugAssign) else []
            if any(isinstance(x, ast.Name) and x.id in ("theta", "stall") for x in targets):
                holders.add(f.name)
    assert holders == {"lagrangian.py"}


def test_mclp_and_pmedian_both_use_the_one_driver(monkeypatch):
    calls = []
    real = lagrangian.subgradient

    def spy(*args, **kwargs):
        calls.append(kwargs["sense"])
        return real(*args, **kwargs)

    monkeypatch.setattr(lagrangian, "subgradient", spy)
    t, w, prob = _instance(0)
    r = solve_mclp(prob, 8.0, 3)
    assert calls and set(calls) == {-1}  # upper bound of a maximisation
    assert r.objective == pytest.approx(_brute_mclp(t, w, 8.0, 3))
    calls.clear()
    r = solve_pmedian(prob, 3)
    assert calls and set(calls) == {+1}  # lower bound of a minimisation
    assert r.objective == pytest.approx(_brute_pmedian(t, w, 2 * CUTOFF, 3))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("p", [1, 2, 4])
def test_lagrangian_bounds_bracket_the_brute_force_optimum(seed, p):
    t, w, prob = _instance(seed)
    rng = np.random.default_rng(seed)
    # MCLP (max): every bound the driver returns is >= the optimum, its heuristic <= it
    thr = 8.0
    opt = _brute_mclp(t, w, thr, p)
    prep = S._coverage_prep(prob, thr, True)
    assert prep.fixed_covered == 0
    Ac, Ar = S._cover_mats(prep.gr, np.searchsorted(prep.cols, prep.gc), prep.n_groups, len(prep.cols))
    for lam0 in (None, rng.uniform(0, 1, prep.gw.size) * prep.gw):
        for iters in (1, 5, 300):
            ub, lam, s, heur = S._mclp_lagrangian(Ac, Ar, prep.gw, p, 0.0, np.inf, lam=lam0, max_iter=iters)
            assert ub >= opt - 1e-9
            assert np.all((lam >= 0) & (lam <= prep.gw))  # the projection keeps lam in its box
            assert heur[0] <= opt + 1e-9
    # p-median (min): every bound is <= the optimum, its heuristic >= it
    pen = 2 * CUTOFF
    opt = _brute_pmedian(t, w, pen, p)
    D, cols, const = S._pmedian_data(prob, pen, True)
    for lam0 in (D.wcap.copy(), rng.uniform(0, 1.5, D.G) * D.wcap):
        for iters in (1, 5, 300):
            lb, lam, rho, heur = S._pmed_lagrangian(D, p, np.inf, lam0, np.inf, max_iter=iters)
            assert const + lb <= opt + 1e-6
            if heur[1]:
                assert const + heur[0] >= opt - 1e-6
    # and the public results: objective and proven gap bracket the optimum
    r = solve_mclp(prob, thr, p)
    o = _brute_mclp(t, w, thr, p)
    assert r.objective <= o + 1e-9 and r.objective * (1 + r.mip_gap) >= o - 1e-6
    r = solve_pmedian(prob, p)
    assert r.objective >= opt - 1e-6 and r.objective * (1 - r.mip_gap) <= opt + 1e-6


def test_solving_prints_nothing_to_stdout():
    # HiGHS prints a copyright banner to the C-level stdout when a process creates its
    # first solver; the CLI's output must not carry it (nor anything else from siting)
    code = ("import numpy as np, scipy.sparse as sp\n"
            "from geoaccess.siting import siting_problem, solve_mclp\n"
            "od = sp.csr_matrix(np.array([[1.0, 0, 2], [0, 1, 3], [4, 0, 1]]))\n"
            "r = solve_mclp(siting_problem(od, [5, 6, 7], ['a', 'b', 'c']), 2.5, 1)\n"
            "print('objective', r.objective)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=PACKAGE.parent.parent, check=True)
    assert out.stdout.splitlines() == ["objective 12.0"], out.stdout
