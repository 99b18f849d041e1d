"""Current vs planned (现状 vs 规划): what changes between two runs of the same county.

:func:`compare` reads two output folders (``summary.json``, ``demand_times.gpkg``), e.g. today's facilities and the plan with the proposed sites
added, and gives per target and per township the value before and after, the verdict
change, and the people newly covered and newly uncovered (matched demand point by demand
point). :func:`write_comparison` writes ``compare.csv`` and ``compare.html`` as one output set.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError
from .io import csv_safe, write_atomic
from .outputset import OutputSet

COUNTY = "(whole area)"  # the ``unit`` of a target's county-wide row
_NEEDED = ("summary.json", "demand_times.gpkg")
_TARGET_KEYS = ("id", "metric", "value", "goal", "passed", "threshold_min")
#: Keys of a target's definition that must agree between the runs (else "newly covered" would
#: count people moved by the definition, not by the plan).
_SAME = ("metric", "threshold_min", "population", "direction", "modes", "dispatch_delay_min")


@dataclass
class Comparison:
    """Two runs compared. ``table``: one row per target and unit (``unit`` = :data:`COUNTY`
    for the whole area first, then the townships): ``value_before``/``value_after``
    (share 0-1, or minutes for mean-time targets), ``change``, ``passed_before``/
    ``passed_after``, ``verdict`` (e.g. ``FAIL → PASS``), ``newly_covered`` and
    ``newly_uncovered`` (people who came within / fell beyond the target's threshold).
    ``notes``: targets or townships found in one run only."""

    run_a: Path
    run_b: Path
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _read_run(folder: str | Path, label: str) -> tuple[Path, dict, pd.DataFrame, pd.DataFrame]:
    path = Path(folder)
    missing = [n for n in _NEEDED if not (path / n).is_file()]
    if not path.is_dir() or missing:
        raise InputError(f"{label} {path} is not a geoaccess output folder (missing {', '.join(missing) or 'the folder'}):"
                         " give the folder a `geoaccess run` or `geoaccess site` wrote (it holds summary.json)")
    again = "run the scenario again into this folder"
    try:
        summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{label} {path / 'summary.json'} is not valid JSON ({exc}); {again}") from None
    targets = summary.get("targets") if isinstance(summary, dict) else None
    if not isinstance(targets, list) or not targets or not all(isinstance(t, dict) for t in targets):
        raise InputError(f"{label} {path / 'summary.json'} lists no targets: it is not a summary geoaccess wrote "
                         f"or was cut short; {again}")
    for t in targets:
        lacking = [k for k in _TARGET_KEYS if k not in t]
        if lacking:
            raise InputError(f"{label} {path / 'summary.json'}: target {t.get('id', '?')} has no "
                             f"{', '.join(lacking)}; {again}")
    # Townships from summary.json, not units.csv: the CSV neutralises names such as "=甲镇"
    # for Excel, which would no longer match the demand points' townships.
    units = pd.DataFrame([{"target": t["id"], "name": u.get("name"), "value": u.get("value"),
                           "passed": u.get("passed")} for t in targets for u in (t.get("units") or [])],
                         columns=["target", "name", "value", "passed"])
    import pyogrio

    try:
        demand = pyogrio.read_dataframe(path / "demand_times.gpkg", read_geometry=False)
    except pyogrio.errors.DataSourceError as exc:
        raise InputError(f"{label} {path / 'demand_times.gpkg'} cannot be read ({exc}); {again}") from None
    lacking = [c for c in ["demand_id", "pop", "unit"] + [f"{t['id']}_min" for t in targets
                                                          if t["metric"] != "per_1000"] if c not in demand]
    if lacking:
        raise InputError(f"{label} {path / 'demand_times.gpkg'} has no column(s) {', '.join(lacking)}; {again}")
    return path, summary, units, demand


def _verdict(a, b) -> str:
    word = {True: "PASS", False: "FAIL"}

    def w(x):
        return word.get(bool(x), "–") if x is not None and x == x else "–"
    return f"{w(a)} → {w(b)}" if w(a) != w(b) else f"{w(a)} (unchanged)"


def compare(run_a: str | Path, run_b: str | Path) -> Comparison:
    """Compare two output folders of the same county (current ``run_a``, planned ``run_b``).

    Parameters
    ----------
    run_a, run_b
        Output folders written by ``geoaccess run`` / ``site`` (``summary.json``,
        ``demand_times.gpkg``). A target whose goal differs between them is compared,
        with a note (each verdict uses its own run's goal).

    Returns
    -------
    Comparison
        The table and notes (see :class:`Comparison`).

    Raises
    ------
    InputError
        A folder that is not an output folder or whose files are unreadable, the same
        folder twice, two runs on different population or townships (the demand points
        must be the same to count people newly covered), or a target defined differently
        in the two runs (threshold, metric, population, modes, direction, dispatch delay).
    """
    if Path(run_a).resolve() == Path(run_b).resolve():
        raise InputError(f"RUN_A and RUN_B are the same folder ({Path(run_a).resolve()}): give the current run "
                         "first and the planned run (e.g. after `geoaccess site`, written with --out) second")
    a_path, a_sum, a_units, a_dem = _read_run(run_a, "RUN_A")
    b_path, b_sum, b_units, b_dem = _read_run(run_b, "RUN_B")
    if len(a_dem) != len(b_dem) or not np.array_equal(a_dem["demand_id"].to_numpy(), b_dem["demand_id"].to_numpy()) \
            or not np.allclose(a_dem["pop"].to_numpy(float), b_dem["pop"].to_numpy(float)):
        raise InputError(f"{a_path} and {b_path} were computed on different population ({len(a_dem):,} vs "
                         f"{len(b_dem):,} demand points, or other people counts): compare two runs of the same "
                         "county with the same population file")
    moved = (a_dem["unit"].fillna("").astype(str) != b_dem["unit"].fillna("").astype(str)).to_numpy()
    if moved.any():
        raise InputError(f"{a_path} and {b_path} put {a_dem['pop'].to_numpy(float)[moved].sum():,.0f} people "
                         f"({int(moved.sum()):,} demand points) in different townships: compare two runs with "
                         "the same [admin] file")
    a_t = {t["id"]: t for t in a_sum.get("targets", [])}
    b_t = {t["id"]: t for t in b_sum.get("targets", [])}
    notes = [f"target {tid} is only in {'RUN_A' if tid in a_t else 'RUN_B'}; not compared"
             for tid in sorted(set(a_t) ^ set(b_t))]
    for tid in [t for t in a_t if t in b_t]:
        differ = [k for k in _SAME if a_t[tid].get(k) != b_t[tid].get(k)]
        if differ:
            raise InputError(f"target {tid} is defined differently in the two runs: "
                             + "; ".join(f"{k} {a_t[tid].get(k)!r} in RUN_A, {b_t[tid].get(k)!r} in RUN_B"
                                         for k in differ)
                             + ". Run both with the same [targets] definition (or give it another id in one)")
        if a_t[tid]["goal"] != b_t[tid]["goal"]:
            notes.append(f"target {tid}: goal {a_t[tid]['goal']:g} in RUN_A, {b_t[tid]['goal']:g} in RUN_B; each "
                         "verdict uses its own run's goal")
    pop = a_dem["pop"].to_numpy(float)
    unit = a_dem["unit"].astype(object).where(a_dem["unit"].notna(), "").to_numpy()
    urban = a_dem["urban"].to_numpy(bool) if "urban" in a_dem else np.zeros(len(a_dem), dtype=bool)
    rows = []
    for tid in [t for t in a_t if t in b_t]:
        ta, tb = a_t[tid], b_t[tid]
        if ta["metric"] == "per_1000":
            newly_in = newly_out = np.zeros(len(pop), dtype=bool)
        else:
            counted = {"all": np.ones(len(pop), dtype=bool), "urban": urban, "rural": ~urban}[ta.get("population", "all")]
            within_a = _within(a_dem, ta) & counted
            within_b = _within(b_dem, tb) & counted
            newly_in, newly_out = within_b & ~within_a, within_a & ~within_b
        rows.append({"target": tid, "metric": ta["metric"], "unit": COUNTY, "value_before": ta["value"],
                     "value_after": tb["value"], "passed_before": ta["passed"], "passed_after": tb["passed"],
                     "newly_covered": float(pop[newly_in].sum()), "newly_uncovered": float(pop[newly_out].sum())})
        ua = a_units[a_units["target"] == tid].set_index("name")
        ub = b_units[b_units["target"] == tid].set_index("name")
        only = sorted(set(ua.index) ^ set(ub.index))
        if only:
            notes.append(f"target {tid}: township(s) in one run only: {', '.join(map(str, only[:8]))}")
        for name in [n for n in ua.index if n in ub.index]:
            here = unit == name
            rows.append({"target": tid, "metric": ta["metric"], "unit": name,
                         "value_before": ua.at[name, "value"], "value_after": ub.at[name, "value"],
                         "passed_before": ua.at[name, "passed"], "passed_after": ub.at[name, "passed"],
                         "newly_covered": float(pop[newly_in & here].sum()),
                         "newly_uncovered": float(pop[newly_out & here].sum())})
    table = pd.DataFrame(rows, columns=["target", "metric", "unit", "value_before", "value_after", "passed_before",
                                        "passed_after", "newly_covered", "newly_uncovered"])
    table.insert(5, "change", pd.to_numeric(table["value_after"]) - pd.to_numeric(table["value_before"]))
    table["verdict"] = [_verdict(a, b) for a, b in zip(table["passed_before"], table["passed_after"])]
    return Comparison(a_path, b_path, table, notes)


def _within(demand: pd.DataFrame, target: dict) -> np.ndarray:
    """Demand points within the target's threshold (dispatch delay included); NaN = unreachable."""
    minutes = demand[f"{target['id']}_min"].to_numpy(float) + float(target.get("dispatch_delay_min") or 0.0)
    return np.nan_to_num(minutes, nan=np.inf) <= float(target["threshold_min"])


def write_comparison(comparison: Comparison, out: str | Path) -> dict[str, Path]:
    """Write ``compare.csv`` (UTF-8 with BOM, for Excel) and ``compare.html`` into ``out``,
    as one output set (see :class:`geoaccess.outputset.OutputSet`).

    Returns
    -------
    dict
        ``{"compare": csv path, "compare_html": html path}``.

    Raises
    ------
    InputError
        ``out`` cannot be written, holds files geoaccess did not write, or is one of the
        two runs or inside one (the next run there would refuse or delete it).
    """
    target = Path(out).resolve()
    for label, run in (("RUN_A", comparison.run_a), ("RUN_B", comparison.run_b)):
        if target == run.resolve() or run.resolve() in target.parents:
            raise InputError(f"--out {out} is inside {label} {run}: a run replaces its whole folder, so the "
                             "comparison would be lost or block the next run there. Give --out a folder beside "
                             "the runs (the default is compare-<A>-vs-<B> next to RUN_B)")
    with OutputSet(out) as staged:
        with write_atomic(staged.dir / "compare.csv", encoding="utf-8-sig") as fh:
            csv_safe(comparison.table).to_csv(fh, index=False)
        (staged.dir / "compare.html").write_text(_html(comparison), encoding="utf-8")
        staged.commit(f"{comparison.run_a.name} vs {comparison.run_b.name}")
    return {"compare": Path(out) / "compare.csv", "compare_html": Path(out) / "compare.html"}


def value_cell(value, metric: str) -> str:
    """A compared value as text: a share in %, minutes, or per 1,000."""
    if value is None or value != value:
        return "–"
    return f"{value:.1%}" if metric == "share_within" else f"{value:.1f} min" if metric == "mean_time" else f"{value:.2f}"


def _html(c: Comparison) -> str:
    head = ("<tr><th>target</th><th>township</th><th>现状 current</th><th>规划 planned</th><th>verdict</th>"
            "<th>people newly covered</th><th>people newly uncovered</th></tr>")
    body = "".join(
        f"<tr{' class=county' if r.unit == COUNTY else ''}><td>{html.escape(r.target)}</td>"
        f"<td>{html.escape(str(r.unit))}</td><td>{value_cell(r.value_before, r.metric)}</td>"
        f"<td>{value_cell(r.value_after, r.metric)}</td><td>{html.escape(r.verdict)}</td>"
        f"<td>{r.newly_covered:,.0f}</td><td>{r.newly_uncovered:,.0f}</td></tr>" for r in c.table.itertuples())
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in c.notes)
    return ("<!doctype html><html lang='zh'><head><meta charset='utf-8'><title>现状 vs 规划</title><style>"
            "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
            "padding:4px 8px;text-align:right}td:nth-child(-n+2),th{text-align:left}.county{font-weight:bold}"
            f"</style></head><body><h1>现状 vs 规划 · current vs planned</h1><p>{html.escape(str(c.run_a))} → "
            f"{html.escape(str(c.run_b))}</p><table>{head}{body}</table><ul>{notes}</ul></body></html>")
