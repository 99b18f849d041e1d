"""The leaders' one-page report: verdict per target, townships ranked, gaps, proposed sites, map.

:func:`write_report` writes one self-standing HTML page (inline CSS, bar charts drawn with
CSS, no JavaScript, no CDN) that prints on A4 landscape. Labels in Chinese or English.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .io import write_with
from .results import (ATTRIBUTION, FAIL_COLOUR, NODATA_COLOUR, PASS_COLOUR, check_lang, goal_text, target_name,
                      value_text, verdict_text)

if TYPE_CHECKING:
    from .results import RunResult
    from .targets import Evaluation

TEXT = {
    "zh": {
        "title": "医疗卫生服务可及性评估", "targets": "规划指标", "value": "现状", "goal": "目标",
        "covered": "覆盖人口", "unreachable": "不可达人口", "people": "人", "ranking": "各乡镇（街道）覆盖率排名（由低到高）",
        "ranking_value": "各乡镇（街道）指标值排名", "gaps": "最大的 10 处服务缺口", "gaps_units": "最大的 10 处服务缺口（按乡镇汇总超出时限人口）",
        "rank": "序号", "population": "人口", "mean": "平均时间", "max": "最长时间", "nearest": "最近机构",
        "unit": "乡镇（街道）", "sites": "建议新增点位", "gain": "新增覆盖人口", "after": "新增后覆盖率",
        "site": "点位", "location": "位置（经度, 纬度）", "map": "交互地图", "open_map": "在新窗口打开地图",
        "method": "方法说明", "no_gaps": "时限内已全部覆盖，没有服务缺口。", "nodata": "无人口",
        "cells": "格网数", "min": "分钟", "generated": "生成于", "beyond": "超出时限人口",
        "goal_line": "目标线", "share": "覆盖率", "print_map": "地图文件：",
        "method_text": (
            "出行时间沿 OpenStreetMap 道路网计算：从居住点按步行速度走到最近的道路，再沿道路按各类道路的限速"
            "（步行、驾车或救护车）到达最近的医疗机构（120 急救为从急救站出发到达居民，并计入出车准备时间）。"
            "人口来自人口格网（或建筑物估算），每个格网点取到达最近一处符合条件机构的时间，按人口加权汇总为"
            "时限内覆盖率或平均时间，并与规划目标比较，得出全县及各乡镇是否达标。"
            "服务缺口为超出时限的人口聚集区，建议新增点位按新增覆盖人口排序，均为规划参考，需结合实地情况核实。"),
    },
    "en": {
        "title": "Health-facility accessibility assessment", "targets": "Planning targets", "value": "Value",
        "goal": "Goal", "covered": "Covered", "unreachable": "Unreachable", "people": "people",
        "ranking": "Townships ranked by share covered (lowest first)", "ranking_value": "Townships ranked by value",
        "gaps": "The 10 largest coverage gaps",
        "gaps_units": "The 10 largest coverage gaps (people beyond the threshold, by township)",
        "rank": "#", "population": "Population", "mean": "Mean time", "max": "Max time", "nearest": "Nearest facility",
        "unit": "Township", "sites": "Proposed new sites", "gain": "People newly covered", "after": "Coverage after",
        "site": "Site", "location": "Location (lon, lat)", "map": "Interactive map", "open_map": "open the map",
        "method": "Method", "no_gaps": "Everybody is within the threshold: no gaps.", "nodata": "no population",
        "cells": "cells", "min": "min", "generated": "Generated", "beyond": "People beyond threshold",
        "goal_line": "goal", "share": "Share covered", "print_map": "Map file: ",
        "method_text": (
            "Travel times follow the OpenStreetMap road network: a walk from home to the nearest road, then the "
            "roads at per-class speeds for the target's mode (walking, driving or ambulance) to the nearest counted "
            "facility (for 120 emergency care, from the station to the resident, plus the dispatch delay). "
            "Population comes from a population grid (or buildings); each cell takes its time to the nearest "
            "facility and the population-weighted share within the threshold, or the mean time, is compared with "
            "the plan's goal for the county and for every township. "
            "Gaps are clusters of people beyond the threshold and proposed sites are ranked by the people they add; "
            "both are planning guidance to be checked on the ground."),
    },
}

_CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 "Noto Sans CJK SC","Microsoft YaHei","PingFang SC","Helvetica Neue",Arial,sans-serif;color:#222;
 margin:0;padding:18px 24px;background:#fff}
h1{font-size:22px;margin:0 0 2px}h2{font-size:16px;margin:18px 0 8px;border-bottom:2px solid #333;padding-bottom:2px}
h3{font-size:13px;margin:10px 0 4px;color:#444}
.sub{color:#666;font-size:12px;margin-bottom:10px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:14px}
.card{border:1px solid #ccc;border-radius:6px;padding:10px 12px;break-inside:avoid;page-break-inside:avoid}
.card .name{font-weight:bold;font-size:15px}
.verdict{display:inline-block;font-size:26px;font-weight:bold;color:#fff;border-radius:5px;padding:2px 14px;margin:6px 0}
.verdict.pass{background:#1a7f3c}.verdict.fail{background:#c62828}.verdict.nodata{background:#777}
.big{font-size:22px;font-weight:bold}.goal{color:#555}
.kv{font-size:12px;color:#444}
.bars{font-size:11px;margin-top:4px}
.bar{display:grid;grid-template-columns:7em 1fr 3.6em;align-items:center;gap:4px;height:15px}
.bar .lab{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.bar .track{position:relative;background:#eee;height:11px}
.bar .fill{height:11px}
.bar .goalmark{position:absolute;top:-2px;bottom:-2px;border-left:2px dashed #333}
.bar .num{text-align:right}
table.t{border-collapse:collapse;width:100%;font-size:11px;margin-top:2px}
table.t th,table.t td{border-bottom:1px solid #ddd;padding:2px 4px;text-align:left}
table.t td.n,table.t th.n{text-align:right}
.mapbox iframe{width:100%;height:520px;border:1px solid #ccc}
.method{font-size:12px;color:#333;max-width:70em}
.foot{font-size:11px;color:#666;margin-top:12px}
.print-only{display:none}
@page{size:A4 landscape;margin:9mm}
@media print{
 body{padding:0;font-size:11px}.cards{gap:8px}.card{padding:6px 8px}.verdict{font-size:20px}
 .mapbox iframe{display:none}.print-only{display:block}
 h2{margin:10px 0 4px}a{color:#222;text-decoration:none}
 .verdict,.bar .fill{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _num(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return _esc(value)
    return f"{v:,.0f}" if math.isfinite(v) else "–"


def _minutes(value: Any, lang: str) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "–"
    if not math.isfinite(v):
        return "不可达" if lang == "zh" else "unreachable"
    return f"{v:.1f} {TEXT[lang]['min']}"


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _verdict_class(passed: Any) -> str:
    return "nodata" if _missing(passed) else ("pass" if passed else "fail")


def _ranking(e: "Evaluation", lang: str) -> str:
    """CSS bar chart of the units, lowest share covered first (value for per_1000 targets)."""
    t = TEXT[lang]
    units = e.units.copy()
    share = e.target.metric != "per_1000"
    col = "share_within" if share and "share_within" in units else "value"
    units = units[units[col].notna() & (units["population_total"] > 0 if "population_total" in units else True)]
    if not len(units):
        return ""
    units = units.sort_values([col, "name"], ascending=[True, True], kind="stable")
    top = 1.0 if share else max(float(units[col].max()), float(e.target.goal), 1e-9) * 1.05
    goal = e.target.goal if e.target.metric == "share_within" else (e.target.goal if not share else None)
    rows = []
    for row in units.to_dict(orient="records"):
        v = float(row[col])
        colour = {"pass": PASS_COLOUR, "fail": FAIL_COLOUR}.get(_verdict_class(row.get("passed")), NODATA_COLOUR)
        mark = f"<div class='goalmark' style='left:{min(goal / top, 1) * 100:.1f}%'></div>" if goal is not None else ""
        label = f"{v:.1%}" if share else f"{v:.2f}"
        rows.append(f"<div class='bar' data-unit='{_esc(row['name'])}'><span class='lab' title='{_esc(row['name'])}'>"
                    f"{_esc(row['name'])}</span><span class='track'><div class='fill' style='width:"
                    f"{max(min(v / top, 1), 0) * 100:.1f}%;background:{colour}'></div>{mark}</span>"
                    f"<span class='num'>{label}</span></div>")
    title = t["ranking"] if share else t["ranking_value"]
    if e.target.metric == "mean_time":
        title += f"（{e.target.threshold_min:g}{t['min']}）" if lang == "zh" else f" (within {e.target.threshold_min:g} min)"
    return f"<h3>{title}</h3><div class='bars'>{''.join(rows)}</div>"


def largest_gaps(result: "RunResult", e: "Evaluation", n: int = 10) -> tuple[pd.DataFrame, bool]:
    """The ``n`` largest gaps of a target and whether they are clusters (True) or per-unit sums.

    Uses ``result.gaps[target id]`` when present; otherwise sums the people beyond the
    threshold (or unreachable) per admin unit from the demand table.
    """
    gaps = (getattr(result, "gaps", None) or {}).get(e.target.id)
    if gaps is not None and len(gaps):
        df = pd.DataFrame(gaps.drop(columns="geometry", errors="ignore"))
        return df.sort_values("pop", ascending=False, kind="stable").head(n).reset_index(drop=True), True
    col = f"{e.target.id}_min"
    demand = result.demand
    if col not in demand:
        return pd.DataFrame(columns=["unit", "pop", "n_points", "mean_minutes", "max_minutes"]), False
    minutes = demand[col].to_numpy(float)
    beyond = ~(minutes <= e.target.threshold_min)
    if e.target.population != "all" and "urban" in demand:
        urban = demand["urban"].to_numpy(bool)
        beyond &= urban if e.target.population == "urban" else ~urban
    sub = demand.loc[beyond, ["unit", "pop"]].assign(minutes=minutes[beyond])
    if not len(sub):
        return pd.DataFrame(columns=["unit", "pop", "n_points", "mean_minutes", "max_minutes"]), False
    fin = np.isfinite(sub["minutes"])
    sub = sub.assign(wm=np.where(fin, sub["minutes"] * sub["pop"], 0.0), wp=np.where(fin, sub["pop"], 0.0))
    g = sub.groupby("unit", sort=False)
    df = pd.DataFrame({"pop": g["pop"].sum(), "n_points": g.size(), "wm": g["wm"].sum(), "wp": g["wp"].sum(),
                       "max_minutes": g["minutes"].max()}).reset_index()
    df["mean_minutes"] = np.where(df["wp"] > 0, df["wm"] / df["wp"].where(df["wp"] > 0, 1), np.inf)
    df = df.drop(columns=["wm", "wp"]).sort_values("pop", ascending=False, kind="stable").head(n)
    return df.reset_index(drop=True), False


def _gaps_table(result: "RunResult", e: "Evaluation", lang: str) -> str:
    t = TEXT[lang]
    df, clusters = largest_gaps(result, e)
    if not len(df):
        return f"<h3>{t['gaps']}</h3><div class='kv'>{t['no_gaps']}</div>"
    names = dict(zip(result.facilities["facility_id"].astype(str), result.facilities["name"].astype(str)))
    if clusters:
        head = (f"<tr><th>{t['rank']}</th><th class='n'>{t['population']}</th><th class='n'>{t['mean']}</th>"
                f"<th class='n'>{t['max']}</th><th>{t['nearest']}</th><th>{t['unit']}</th></tr>")
        body = []
        for i, r in enumerate(df.to_dict(orient="records"), 1):
            units = r.get("units") if r.get("units") not in (None, "") else r.get("admin", "")
            units = "、".join(map(str, units)) if isinstance(units, (list, tuple, np.ndarray)) else units
            fid = str(r.get("nearest_facility", "") or "")
            body.append(f"<tr><td>{i}</td><td class='n'>{_num(r.get('pop'))}</td>"
                        f"<td class='n'>{_minutes(r.get('mean_minutes'), lang)}</td>"
                        f"<td class='n'>{_minutes(r.get('max_minutes'), lang)}</td>"
                        f"<td>{_esc(names.get(fid, fid))}</td><td>{_esc('' if _missing(units) else units)}</td></tr>")
        title = t["gaps"]
    else:
        head = (f"<tr><th>{t['rank']}</th><th>{t['unit']}</th><th class='n'>{t['beyond']}</th>"
                f"<th class='n'>{t['cells']}</th><th class='n'>{t['mean']}</th><th class='n'>{t['max']}</th></tr>")
        body = [f"<tr><td>{i}</td><td>{_esc(r['unit'])}</td><td class='n'>{_num(r['pop'])}</td>"
                f"<td class='n'>{_num(r['n_points'])}</td><td class='n'>{_minutes(r['mean_minutes'], lang)}</td>"
                f"<td class='n'>{_minutes(r['max_minutes'], lang)}</td></tr>"
                for i, r in enumerate(df.to_dict(orient="records"), 1)]
        title = t["gaps_units"]
    return f"<h3>{title}</h3><table class='t gaps'>{head}{''.join(body)}</table>"


def _sites_table(result: "RunResult", e: "Evaluation", lang: str) -> str:
    t = TEXT[lang]
    sites = (getattr(result, "sites", None) or {}).get(e.target.id)
    if sites is None or not len(sites):
        return ""
    df = sites.copy()
    if "rank" in df:
        df = df.sort_values("rank", kind="stable")
    lonlat = None
    if "geometry" in df and hasattr(df, "to_crs"):
        g = df.geometry if df.crs is not None else df.geometry.set_crs(result.demand.crs)
        g = g.to_crs("EPSG:4326")
        lonlat = list(zip(g.x, g.y))
    total = e.population_total
    covered = e.population_covered
    body = []
    minutes = "min" in str(df["measure"].iloc[0]) if "measure" in df else False  # p-median / p-center: minutes
    for i, r in enumerate(df.to_dict(orient="records")):
        gain = float(r.get("gain", 0) or 0)
        covered += gain
        if minutes:  # the proposal's own exact value after this site (dispatch delay included)
            after = f"{float(r['cumulative']):.1f} {t['min']}"
        else:
            after = f"{covered / total:.1%}" if total > 0 and e.target.metric == "share_within" else "–"
        where = f"{lonlat[i][0]:.5f}, {lonlat[i][1]:.5f}" if lonlat else ""
        label = " · ".join(str(x) for x in (r.get("site_id", ""), r.get("name"), r.get("township")) if x and x == x)
        body.append(f"<tr><td>{_esc(r.get('rank', i + 1))}</td><td>{_esc(label)}</td>"
                    f"<td class='n'>{'−' if minutes else '+'}{_num(gain) if not minutes else f'{gain:.1f}'}</td>"
                    f"<td class='n'>{after}</td><td>{where}</td></tr>")
    gain_head = (f"{t['min']} ↓" if minutes else t['gain'])
    after_head = (t["max"] if "worst" in str(df["measure"].iloc[0]) else t["mean"]) if minutes else t["after"]
    head = (f"<tr><th>{t['rank']}</th><th>{t['site']}</th><th class='n'>{gain_head}</th>"
            f"<th class='n'>{after_head}</th><th>{t['location']}</th></tr>")
    return f"<h3>{t['sites']}</h3><table class='t sites'>{head}{''.join(body)}</table>"


def _card(result: "RunResult", e: "Evaluation", lang: str) -> str:
    t = TEXT[lang]
    cls = _verdict_class(e.passed)
    share = (f"{e.population_covered / e.population_total:.1%}" if e.population_total > 0 else "–")
    return (
        f"<section class='card' data-target='{_esc(e.target.id)}' data-passed='{cls}'>"
        f"<div class='name'>{_esc(target_name(e.target, lang))}</div>"
        f"<div class='verdict {cls}'>{verdict_text(e.passed, lang)}</div>"
        f"<div><span class='big'>{_esc(value_text(e.value, e.target, lang))}</span> "
        f"<span class='goal'>{t['goal']} {_esc(goal_text(e.target, lang))}</span></div>"
        f"<div class='kv'>{t['covered']}: {_num(e.population_covered)} / {_num(e.population_total)} {t['people']}"
        f" ({share}) · {t['unreachable']}: {_num(e.population_unreachable)}</div>"
        f"{_ranking(e, lang)}{_gaps_table(result, e, lang)}{_sites_table(result, e, lang)}</section>")


def report_html(result: "RunResult", lang: str = "zh", map_href: str | None = None) -> str:
    """The report page as a string; ``map_href`` (relative URL of map.html) embeds the map."""
    check_lang(lang)
    t = TEXT[lang]
    cards = "".join(_card(result, e, lang) for e in result.evaluations)
    passed = sum(1 for e in result.evaluations if e.passed)
    summary = (f"{passed} / {len(result.evaluations)} 项指标达标" if lang == "zh"
               else f"{passed} of {len(result.evaluations)} targets pass")
    mapbox = ""
    if map_href:
        href = _esc(map_href)
        mapbox = (f"<h2>{t['map']}</h2><div class='mapbox'><p><a href='{href}' target='_blank'>{t['open_map']}"
                  f" ({href})</a></p><iframe src='{href}' title='{t['map']}' loading='lazy'></iframe>"
                  f"<p class='print-only'>{t['print_map']}{href}</p></div>")
    today = _dt.date.today().isoformat()
    return (
        f"<!DOCTYPE html><html lang='{'zh-CN' if lang == 'zh' else 'en'}'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_esc(result.scenario.name)} · {t['title']}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_esc(result.scenario.name)} · {t['title']}</h1>"
        f"<div class='sub'>{summary} · {t['generated']} {today} · geoaccess</div>"
        f"<h2>{t['targets']}</h2><div class='cards'>{cards}</div>{mapbox}"
        f"<h2>{t['method']}</h2><p class='method'>{_esc(t['method_text'])}</p>"
        f"<div class='foot'>{ATTRIBUTION} (ODbL)</div></body></html>")


def write_report(result: "RunResult", path: str | Path, lang: str = "zh", map_path: str | Path | None = None) -> Path:
    """Write the one-page HTML report to ``path``, atomically.

    ``map_path`` is linked and embedded (an iframe, by a path relative to the report);
    by default ``map.html`` beside the report when it exists.
    """
    target = Path(path)
    if map_path is None and (target.parent / "map.html").exists():
        map_path = target.parent / "map.html"
    href = None
    if map_path is not None:
        href = Path(os.path.relpath(Path(map_path).resolve(), target.parent.resolve())).as_posix()
    page = report_html(result, lang=lang, map_href=href)
    # write_with (not write_atomic): the new file gets the usual permissions, as map.html does
    return write_with(target, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
