"""Current vs planned (现状 vs 规划): what changes between two runs of the same county.

:func:`compare` reads two output folders (``summary.json``, ``demand_times.gpkg``), e.g. today's facilities and the plan with the proposed sites
added, and gives per target and per township the value before and after, the verdict
change, and the people newly covered and newly uncovered (matched demand point by demand
point), and the demand cells that changed (newly covered or uncovered, faster or slower).
:func:`write_comparison` writes ``compare.csv``, ``compare.html`` (the "现状 vs 规划" table
of a plan document, zh or en) and ``compare_map.html`` (the changed cells) as one output set.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd

from .comparemap import write_change_map
from .errors import InputError
from .io import csv_safe, write_atomic
from .outputset import OutputSet
from .results import check_lang, goal_text, target_name, value_text

COUNTY = "(whole area)"  # the ``unit`` of a target's county-wide row
# A cell is "faster"/"slower" when its time changed by at least this much (minutes, 6 s):
# below any planning meaning, above the rounding of two runs on the same roads.
MIN_CHANGE_MIN = 0.1
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
    ``notes``: targets or townships found in one run only. ``cells``: one row per target
    and demand cell that changed (``target``, ``demand_id``, ``unit``, ``pop``,
    ``minutes_before``/``minutes_after`` incl. dispatch delay, NaN = unreachable,
    ``change``: ``newly_covered``, ``newly_uncovered``, or, for a change of at least
    :data:`MIN_CHANGE_MIN` that crosses no threshold, ``faster``/``slower``), in EPSG:4326.
    ``targets``: each compared target as the runs' ``summary.json`` hold it
    (``{"before": …, "after": …}``); ``extent``:
    (west, south, east, north) of the demand, degrees."""

    run_a: Path
    run_b: Path
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    cells: gpd.GeoDataFrame = field(default_factory=lambda: gpd.GeoDataFrame(geometry=[], crs="EPSG:4326"))
    targets: dict[str, dict] = field(default_factory=dict)
    extent: tuple[float, float, float, float] = (-180.0, -60.0, 180.0, 70.0)


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
        demand = pyogrio.read_dataframe(path / "demand_times.gpkg", read_geometry=True)
    except pyogrio.errors.DataSourceError as exc:
        raise InputError(f"{label} {path / 'demand_times.gpkg'} cannot be read ({exc}); {again}") from None
    lacking = [c for c in ["demand_id", "pop", "unit"] + [f"{t['id']}_min" for t in targets
                                                          if t["metric"] != "per_1000"] if c not in demand]
    if lacking:
        raise InputError(f"{label} {path / 'demand_times.gpkg'} has no column(s) {', '.join(lacking)}; {again}")
    if demand.crs is not None:
        demand = demand.to_crs("EPSG:4326")
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
        The table, the notes and the demand cells that changed (see :class:`Comparison`).

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
    rows, cells = [], []
    for tid in [t for t in a_t if t in b_t]:
        ta, tb = a_t[tid], b_t[tid]
        if ta["metric"] == "per_1000":
            newly_in = newly_out = np.zeros(len(pop), dtype=bool)
        else:
            counted = {"all": np.ones(len(pop), dtype=bool), "urban": urban, "rural": ~urban}[ta.get("population", "all")]
            before, after = _minutes(a_dem, ta), _minutes(b_dem, tb)
            within_a = (before <= float(ta["threshold_min"])) & counted
            within_b = (after <= float(tb["threshold_min"])) & counted
            newly_in, newly_out = within_b & ~within_a, within_a & ~within_b
            with np.errstate(invalid="ignore"):  # inf - inf: both unreachable, no change
                delta = after - before
            change = np.select([newly_in, newly_out, counted & (delta <= -MIN_CHANGE_MIN),
                                counted & (delta >= MIN_CHANGE_MIN)],
                               ["newly_covered", "newly_uncovered", "faster", "slower"], "")
            moved = np.flatnonzero(change != "")
            cells.append(gpd.GeoDataFrame(
                {"target": tid, "demand_id": a_dem["demand_id"].to_numpy()[moved], "unit": unit[moved],
                 "pop": pop[moved], "minutes_before": np.where(np.isinf(before), np.nan, before)[moved],
                 "minutes_after": np.where(np.isinf(after), np.nan, after)[moved], "change": change[moved]},
                geometry=a_dem.geometry.to_numpy()[moved], crs="EPSG:4326"))
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
    cells = (pd.concat(cells, ignore_index=True) if cells
             else gpd.GeoDataFrame({"target": [], "change": []}, geometry=[], crs="EPSG:4326"))
    west, south, east, north = a_dem.total_bounds if len(a_dem) else (-180.0, -60.0, 180.0, 70.0)
    return Comparison(a_path, b_path, table, notes, cells,
                      {tid: {"before": a_t[tid], "after": b_t[tid]} for tid in a_t if tid in b_t},
                      (float(west), float(south), float(east), float(north)))


def _minutes(demand: pd.DataFrame, target: dict) -> np.ndarray:
    """Minutes of every demand point (dispatch delay included); inf = unreachable (NaN in the file)."""
    minutes = demand[f"{target['id']}_min"].to_numpy(float) + float(target.get("dispatch_delay_min") or 0.0)
    return np.nan_to_num(minutes, nan=np.inf)


def write_comparison(comparison: Comparison, out: str | Path, lang: str = "zh") -> dict[str, Path]:
    """Write ``compare.csv`` (UTF-8 with BOM, for Excel), ``compare.html`` (the "现状 vs 规划"
    section) and ``compare_map.html`` (the cells that changed) into ``out``, as one output set
    (see :class:`geoaccess.outputset.OutputSet`).

    Parameters
    ----------
    comparison
        From :func:`compare`.
    out
        The output folder.
    lang
        ``zh`` (default) or ``en``: the words of compare.html and compare_map.html.

    Returns
    -------
    dict
        ``{"compare": csv path, "compare_html": html path, "compare_map": map path}``.

    Raises
    ------
    InputError
        ``out`` cannot be written, holds files geoaccess did not write, or is one of the
        two runs or inside one (the next run there would refuse or delete it); ``lang`` is not
        zh or en.
    """
    check_lang(lang)
    target = Path(out).resolve()
    for label, run in (("RUN_A", comparison.run_a), ("RUN_B", comparison.run_b)):
        if target == run.resolve() or run.resolve() in target.parents:
            raise InputError(f"--out {out} is inside {label} {run}: a run replaces its whole folder, so the "
                             "comparison would be lost or block the next run there. Give --out a folder beside "
                             "the runs (the default is compare-<A>-vs-<B> next to RUN_B)")
    names = {tid: target_name(_text_target(t["after"]), lang) for tid, t in comparison.targets.items()
             if t["after"]["metric"] != "per_1000"}
    with OutputSet(out) as staged:
        with write_atomic(staged.dir / "compare.csv", encoding="utf-8-sig") as fh:
            csv_safe(comparison.table).to_csv(fh, index=False)
        (staged.dir / "compare.html").write_text(compare_html(comparison, lang), encoding="utf-8")
        write_change_map(comparison.cells, names, comparison.extent,
                         f"{comparison.run_a.name} → {comparison.run_b.name}", staged.dir / "compare_map.html", lang)
        staged.commit(f"{comparison.run_a.name} vs {comparison.run_b.name}")
    return {"compare": Path(out) / "compare.csv", "compare_html": Path(out) / "compare.html",
            "compare_map": Path(out) / "compare_map.html"}


def value_cell(value, metric: str) -> str:
    """A compared value as text: a share in %, minutes, or per 1,000."""
    if value is None or value != value:
        return "–"
    return f"{value:.1%}" if metric == "share_within" else f"{value:.1f} min" if metric == "mean_time" else f"{value:.2f}"


TEXT = {
    "zh": {"title": "现状 vs 规划", "target": "指标", "goal": "目标", "before": "现状", "after": "规划", "change": "变化",
           "verdict": "结论", "covered": "新增覆盖人口（人）", "uncovered": "不再覆盖人口（人）", "unit": "乡镇（街道）",
           "whole": "全县", "pp": "个百分点", "min": "分钟", "unchanged": "（不变）", "map": "变化格网地图",
           "notes": "说明", "by_unit": "各乡镇（街道）", "runs": "现状：{a}；规划：{b}"},
    "en": {"title": "Current vs planned", "target": "Target", "goal": "Goal", "before": "Current", "after": "Planned",
           "change": "Change", "verdict": "Verdict", "covered": "People newly covered",
           "uncovered": "People newly uncovered", "unit": "Township", "whole": "Whole county", "pp": "pp",
           "min": "min", "unchanged": " (unchanged)", "map": "Map of the cells that changed", "notes": "Notes",
           "by_unit": "by township", "runs": "current: {a}; planned: {b}"},
}


def _text_target(t: dict) -> SimpleNamespace:
    """What :mod:`geoaccess.results` reads of a target, from a ``summary.json`` entry."""
    return SimpleNamespace(id=t["id"], name_zh=t.get("name_zh", t["id"]), name_en=t.get("name_en", t["id"]),
                           metric=t["metric"], goal=float(t["goal"]), threshold_min=float(t.get("threshold_min") or 0))


def _change_text(change, metric: str, lang: str) -> str:
    if change is None or change != change:
        return "–"
    w = TEXT[lang]
    sign = "+" if change > 0 else "−" if change < 0 else "±"
    if metric == "share_within":
        return f"{sign}{abs(change) * 100:.1f} {w['pp']}"
    return f"{sign}{abs(change):.1f} {w['min']}" if metric == "mean_time" else f"{sign}{abs(change):.2f}"


def _verdict_text(a, b, lang: str) -> str:
    words = {True: "达标" if lang == "zh" else "PASS", False: "未达标" if lang == "zh" else "FAIL"}
    wa, wb = (words.get(bool(x), "–") if x is not None and x == x else "–" for x in (a, b))
    return f"{wa} → {wb}" if wa != wb else f"{wa}{TEXT[lang]['unchanged']}"


def _row(r, before_t, after_t, lang: str, first: str) -> str:
    """One table row; ``data-*`` attributes carry the raw keys (a test reads them back)."""
    people = r.metric != "per_1000"
    cls = {True: "pass", False: "fail"}.get(r.passed_after if isinstance(r.passed_after, bool) else None, "")
    return (f"<tr data-target='{html.escape(r.target)}' data-unit='{html.escape(str(r.unit))}'>{first}"
            f"<td>{html.escape(value_text(r.value_before, before_t, lang))}</td>"
            f"<td>{html.escape(value_text(r.value_after, after_t, lang))}</td>"
            f"<td>{html.escape(_change_text(r.change, r.metric, lang))}</td>"
            f"<td class='{cls}'>{html.escape(_verdict_text(r.passed_before, r.passed_after, lang))}</td>"
            f"<td>{f'{r.newly_covered:,.0f}' if people else '–'}</td>"
            f"<td>{f'{r.newly_uncovered:,.0f}' if people else '–'}</td></tr>")


def compare_html(c: Comparison, lang: str = "zh") -> str:
    """The "现状 vs 规划" section as a page: per target the county value now → planned, the
    verdict change and the people newly covered/uncovered, then per target the townships.

    Values are worded by :func:`geoaccess.results.value_text` (never on the wrong side of the
    goal), against each run's own goal; every name is HTML-escaped.

    Raises
    ------
    InputError
        ``lang`` is not ``zh`` or ``en``.
    """
    check_lang(lang)
    w = TEXT[lang]
    cols = (f"<th>{w['before']}</th><th>{w['after']}</th><th>{w['change']}</th><th>{w['verdict']}</th>"
            f"<th>{w['covered']}</th><th>{w['uncovered']}</th>")
    summary, sections = [], []
    for tid, rows in c.table.groupby("target", sort=False):
        before_t, after_t = (_text_target(c.targets[tid][k]) for k in ("before", "after"))
        name = html.escape(target_name(after_t, lang))
        goal = html.escape(goal_text(after_t, lang))
        units = []
        for r in rows.itertuples():
            if r.unit == COUNTY:
                summary.append(_row(r, before_t, after_t, lang, f"<td>{name}</td><td>{goal}</td>"))
            else:
                units.append(_row(r, before_t, after_t, lang, f"<td>{html.escape(str(r.unit))}</td>"))
        if units:
            sections.append(f"<h2>{name} · {w['by_unit']}</h2><table><tr><th>{w['unit']}</th>{cols}</tr>"
                            f"{''.join(units)}</table>")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in c.notes)
    notes = f"<h2>{w['notes']}</h2><ul>{notes}</ul>" if notes else ""
    runs = html.escape(w["runs"].format(a=c.run_a, b=c.run_b))
    return (f"<!doctype html><html lang='{'zh-CN' if lang == 'zh' else 'en'}'><head><meta charset='utf-8'>"
            f"<title>{w['title']}</title><style>"
            "body{font-family:'Noto Sans CJK SC','Microsoft YaHei',sans-serif;margin:2em}table{border-collapse:collapse;"
            "margin-bottom:1em}td,th{border:1px solid #999;padding:4px 8px;text-align:right}td:first-child,th{text-align:"
            "left}.summary td:nth-child(2){text-align:left}.pass{color:#1a7f3c;font-weight:bold}.fail{color:#c62828;"
            "font-weight:bold}@page{size:A4 landscape;margin:10mm}"
            f"</style></head><body><h1>{w['title']}</h1><p>{runs} · <a href='compare_map.html'>{w['map']}</a></p>"
            f"<table class='summary'><tr><th>{w['target']}</th><th>{w['goal']}</th>{cols}</tr>{''.join(summary)}"
            f"</table>{''.join(sections)}{notes}</body></html>")
