"""How many sites are enough: the best solution for 1..N new sites, and its plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from .errors import InputError
from .io import csv_safe, write_atomic
from .proposals import _adds_nothing, _candidates, _exact, _file_key, _ordinal, _request, _solve, siting_matrix
from .results import RunResult
from .targets import Evaluation, Target, select_facilities


def site_curve(result: RunResult, target_id: str, n_max: int, *, model: str | None = None,
               candidates: gpd.GeoDataFrame | None = None, candidates_from: str | Sequence[str] | None = None,
               spacing_m: float = 500.0, time_limit_s: float = 60.0, progress: Any = False) -> pd.DataFrame:
    """The best solution for 0, 1, ..., ``n_max`` new sites: how many are enough.

    The travel-time matrix is built once; each budget is solved exactly, warm-started from
    the solution for one site fewer, and its value re-checked with the exact engine.

    Parameters
    ----------
    result, target_id, candidates, candidates_from, spacing_m
        As for :func:`site_target`.
    n_max
        Largest number of new sites (≥ 1); capped at the number of candidates. With mclp
        or pmedian the curve stops early at the first budget that improves nothing (a
        larger one cannot do better). Both are said in
        ``result.siting[target_id]["curve_messages"]``.
    model
        mclp (default for share targets), pmedian (default for mean-time targets) or pcenter.
    time_limit_s
        Solver time limit per budget, seconds.

    Returns
    -------
    pandas.DataFrame
        One row per budget: ``n_sites``, ``value`` (the target's value: share 0-1 or
        minutes incl. dispatch delay), ``covered`` (people), ``mean_minutes``,
        ``worst_minutes``, ``passed``, ``goal``, ``objective``, ``status``, ``mip_gap``,
        ``sites`` (chosen site ids, ``;``-separated). Also stored as
        ``result.siting[target_id]["curve"]``.

    Raises
    ------
    InputError
        As :func:`site_target`; lscp (it has no budget); ``n_max`` < 1.
    """
    if isinstance(n_max, bool) or not isinstance(n_max, (int, np.integer)) or n_max < 1:
        raise InputError(f"--curve N needs a whole number of sites ≥ 1, got {n_max!r}")
    if model == "lscp":
        raise InputError("--curve needs a model with a number of sites (mclp, pmedian or pcenter); lscp finds "
                         "its own number: use --cover SHARE for it")
    target, model = _request(result, target_id, int(n_max), None, model)
    cands = _candidates(result, target, candidates, candidates_from, spacing_m)
    chosen = select_facilities(target, result.facilities)
    problem, threshold, _ = siting_matrix(result, target, cands, model, progress)
    rows, ids, messages = [], [], list(cands.attrs.get("messages", []))
    if n_max > len(cands):
        messages.append(f"only {len(cands)} candidate site(s) for --curve {n_max}: the curve stops at {len(cands)}")
    e, worst = _exact(result, target, chosen, cands.iloc[:0])
    rows.append(_curve_row(0, e, worst, target, float("nan"), "current", 0.0, []))
    for n in range(1, min(int(n_max), len(cands)) + 1):
        solved = _solve(problem, model, n, None, threshold, time_limit_s, start=ids, progress=progress)
        ids = solved.sites["site_id"].astype(str).tolist()
        e, worst = _exact(result, target, chosen, cands.set_index(cands["site_id"].astype(str)).loc[ids])
        rows.append(_curve_row(n, e, worst, target, solved.objective, solved.status, solved.mip_gap, ids))
        # When the best n sites do no better than the best n - 1, every candidate is already
        # useful to nobody (covering and p-median objectives saturate), so larger budgets
        # would repeat this row: a huge N must not mean thousands of solves.
        if n < min(int(n_max), len(cands)) and _no_better(rows[-2], rows[-1], model):
            messages.append(f"the curve stops at {n} new site(s): the {_ordinal(n)} site "
                            f"{_adds_nothing(target, model, False)}, so more sites cannot improve the value")
            break
    curve = pd.DataFrame(rows)
    result.siting.setdefault(target_id, {})["curve"] = curve.to_dict(orient="records")
    result.siting[target_id]["curve_model"] = model
    result.siting[target_id]["curve_messages"] = messages
    result.focus = target_id
    return curve


def _no_better(before: dict, after: dict, model: str) -> bool:
    """True when one more site improved nothing (covering: people; p-median: minutes);
    p-center is never cut short (its worst case can stay flat, then drop)."""
    if model == "mclp":
        return not after["covered"] > before["covered"] + 1e-6
    if model == "pmedian":
        return not after["value"] < before["value"] - 1e-9
    return False


def _curve_row(n: int, e: Evaluation, worst: float, target: Target, objective: float, status: str, gap: float,
               ids: list[str]) -> dict:
    return {"n_sites": n, "value": float(e.value), "covered": float(e.population_covered),
            "mean_minutes": float(e.mean_minutes), "worst_minutes": worst, "passed": bool(e.passed),
            "goal": target.goal, "objective": objective, "status": status, "mip_gap": gap, "sites": ";".join(ids)}


_WORDS = {
    "en": {"goal": "goal {g}", "met": "goal met with {n} new site(s)", "x": "new sites",
           "share": "people within {t:g} min (%)", "mean": "mean minutes", "min": " min"},
    "zh": {"goal": "目标 {g}", "met": "新增 {n} 处即达标", "x": "新增点位数", "share": "{t:g}分钟内覆盖人口比例（%）",
           "mean": "平均时间（分钟）", "min": " 分钟"},
}


def plot_curve(curve: pd.DataFrame, target: Target, path: str | Path, lang: str = "en") -> Path:
    """Draw a curve of :func:`site_curve` as a PNG: the target's value against the number
    of new sites, the goal line, and the first budget that meets the goal.

    ``lang`` ``zh`` labels in Chinese when a Chinese font is installed (else in English).

    Returns
    -------
    pathlib.Path
        ``path``, written atomically.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import rc_context
    from matplotlib.figure import Figure

    from .staticmap import cjk_font

    font = cjk_font()
    lang = lang if lang == "en" or font else "en"
    w = _WORDS[lang]
    share = target.metric == "share_within"
    y = curve["value"].to_numpy(float) * (100 if share else 1)
    goal = target.goal * (100 if share else 1)
    with rc_context({"font.family": [font, "DejaVu Sans"] if font else ["DejaVu Sans"]}):
        fig = Figure(figsize=(6, 3.6), dpi=120)
        ax = fig.add_subplot()
        ax.plot(curve["n_sites"], y, marker="o", color="#2166ac", label=target.id if lang == "en" else target.name_zh)
        ax.axhline(goal, color="#d73027", linestyle="--", label=w["goal"].format(g=f"{goal:g}{' %' if share else w['min']}"))
        met = curve.index[curve["passed"].astype(bool)]
        if len(met):
            first = curve.loc[met[0]]
            ax.annotate(w["met"].format(n=int(first["n_sites"])), (first["n_sites"], y[met[0]]),
                        xytext=(10, -25 if share else 15), textcoords="offset points", arrowprops={"arrowstyle": "->"})
        ax.set_xlabel(w["x"])
        ax.set_ylabel(w["share"].format(t=target.threshold_min) if share else w["mean"])
        ax.set_xticks(curve["n_sites"])
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
        fig.tight_layout()
        from .io import write_with

        return write_with(Path(path), lambda tmp: fig.savefig(tmp, format="png"))


def write_curves(result: RunResult, out: Path, lang: str = "zh") -> dict[str, Path]:
    """``curve_<target>.csv`` and ``curve_<target>.png`` (labels in ``lang``) for every target with a curve."""
    from .staticmap import cjk_font

    files = {}
    note = "no Chinese font installed (apt-get install fonts-wqy-microhei): the curve plots are labelled in English"
    if lang == "zh" and any(info.get("curve") for info in result.siting.values()) and cjk_font() is None \
            and note not in result.warnings:
        result.warnings.append(note)
    for tid, info in result.siting.items():
        if not info.get("curve"):
            continue
        curve = pd.DataFrame(info["curve"])
        path = Path(out) / f"curve_{_file_key(tid)}.csv"
        with write_atomic(path, encoding="utf-8-sig") as fh:
            csv_safe(curve).to_csv(fh, index=False)
        files[f"curve_{tid}"] = path
        files[f"curve_{tid}_png"] = plot_curve(curve, result.scenario.targets[tid], path.with_suffix(".png"), lang)
    return files
