"""The leaders' report: a headline, a card per target, a map image, then each target in detail.

:func:`write_report` writes one self-standing HTML page (inline CSS, the map as an embedded
PNG drawn by :mod:`geoaccess.staticmap`, bar charts in CSS, no JavaScript, no CDN) that
prints on at most two A4 landscape pages: page 1 the verdicts and the map, page 2 the
townships, the largest gaps and proposed sites per target, and the method. On screen the
interactive ``map.html`` is linked and embedded below. Labels in Chinese or English; every
number is worded by :mod:`geoaccess.results`, so none contradicts its verdict.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .io import write_with
from .outputset import safe_folder_name
from .results import (ATTRIBUTION, FAIL_COLOUR, NODATA_COLOUR, PASS_COLOUR, check_lang, goal_text, roads_from_osm,
                      target_name, unreachable_note, value_text, verdict_text)
from .staticmap import static_map_png, top_gaps
from .targets import minutes_beside

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
        "goal_line": "目标线", "share": "覆盖率", "print_map": "交互地图文件：",
        "ranking_mean": "各乡镇（街道）平均时间排名（由长到短）", "ranking_beds": "各乡镇（街道）每千人床位数排名（由低到高）",
        "within": "{t}分钟内", "p90": "90% 的居民在", "p90_after": "以内", "beds": "床位", "beds_unit": "张",
        "residents": "常住人口", "per_1000": "每千人床位", "e2sfca": "30分钟服务范围内（E2SFCA）每千人",
        "units_fail": "未达标乡镇（街道）", "whole_area": "全县", "figure": "地图", "headline_all": "{p}/{n} 项指标全县达标",
        "streets": "{k} 个街道", "towns": "{k} 个乡镇", "fail_target": "未达到“{name}”", "and": "、",
        "details": "各指标详情", "curve": "新增点位数与指标值（虚线为规划目标）", "map_caption": "{name}：人口格网按出行时间着色，乡镇边界绿色为达标、红色为未达标，"
        "紫色圆点为服务缺口（编号同缺口表）。交互地图：",
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
        "goal_line": "goal", "share": "Share covered", "print_map": "Interactive map file: ",
        "ranking_mean": "Townships ranked by mean time (longest first)",
        "ranking_beds": "Townships ranked by beds per 1,000 (lowest first)",
        "within": "within {t} min", "p90": "90% of residents within", "p90_after": "", "beds": "Beds", "beds_unit": "",
        "residents": "residents", "per_1000": "beds per 1,000", "e2sfca": "within a 30-min catchment (E2SFCA), per 1,000",
        "units_fail": "Townships failing", "whole_area": "whole area", "figure": "Map", "headline_all": "{p}/{n} targets met county-wide",
        "streets": "{k} urban streets (街道)", "towns": "{k} townships", "fail_target": "fail “{name}”", "and": " and ",
        "details": "Targets in detail", "curve": "Value against the number of new sites (dashed: the goal)",
        "map_caption": "{name}: demand cells coloured by travel time, township "
        "outlines green (pass) or red (fail), purple dots the gaps (numbered as in the gap tables). Interactive map: ",
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
.headline{font-size:17px;font-weight:bold;margin:4px 0}
.sub{color:#666;font-size:12px;margin-bottom:10px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:12px}
.card{border:1px solid #ccc;border-radius:6px;padding:8px 12px;break-inside:avoid;page-break-inside:avoid}
.card .name{font-weight:bold;font-size:15px}
.verdict{display:inline-block;font-size:22px;font-weight:bold;color:#fff;border-radius:5px;padding:1px 12px;margin:4px 0}
.verdict.pass{background:#1a7f3c}.verdict.fail{background:#c62828}.verdict.nodata{background:#777}
.big{font-size:20px;font-weight:bold}.goal{color:#555}
.kv{font-size:12px;color:#444}
figure{margin:10px 0}figure img{display:block;max-width:100%;height:auto;margin:0 auto}
figcaption{font-size:11px;color:#555}
figure.curve img{max-height:260px;margin:0}
.details{display:grid;grid-template-columns:repeat(var(--n),minmax(0,1fr));gap:14px}
.detail{break-inside:avoid;page-break-inside:avoid;min-width:0}
.detail .name{font-weight:bold;border-bottom:1px solid #999}
.bars{font-size:11px;margin-top:4px}
.bar{display:grid;grid-template-columns:6.5em 1fr 4.2em;align-items:center;gap:4px;height:15px;break-inside:avoid}
.bar.beside{grid-template-columns:6.5em 1fr 4.2em 3.6em}
.bar .lab{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.bar .track{position:relative;background:#eee;height:10px}
.bar .fill{height:10px}
.bar .goalmark{position:absolute;top:-2px;bottom:-2px;border-left:2px dashed #333}
.bar .num{text-align:right;white-space:nowrap}.bar .also{text-align:right;color:#666;white-space:nowrap}
table.t{border-collapse:collapse;width:100%;font-size:11px;margin-top:2px}
table.t th,table.t td{border-bottom:1px solid #ddd;padding:2px 4px;text-align:left}
table.t td.n,table.t th.n{text-align:right;white-space:nowrap}
.mapbox iframe{width:100%;height:520px;border:1px solid #ccc}
.method{font-size:12px;color:#333;max-width:70em}
.foot{font-size:11px;color:#666;margin-top:12px}
.print-only{display:none}
@page{size:A4 landscape;margin:8mm}
@media print{
 body{padding:0;font-size:10px}h1{font-size:17px}.headline{font-size:13px}.sub{margin-bottom:4px}
 .cards{gap:6px}.card{padding:4px 8px}.card .name{font-size:12px}.verdict{font-size:15px;margin:2px 0}
 .big{font-size:15px}.kv{font-size:9.5px}
 figure{margin:4px 0}figure img{max-height:118mm;width:auto}figure.curve img{max-height:42mm}
 .page2{break-before:page;page-break-before:always}
 .details{gap:8px}h2{margin:4px 0 3px;font-size:13px}h3{margin:5px 0 2px;font-size:10px}
 .bars{font-size:8px}.bars[data-many]{columns:2;column-gap:8px}.bar{height:11px}.bar .track,.bar .fill{height:7px}
 table.t{font-size:8px}table.t th,table.t td{padding:1px 2px}
 .mapbox{display:none}.print-only{display:block}.method{font-size:8.5px;max-width:none}.foot{margin-top:4px;font-size:8px}
 a{color:#222;text-decoration:none}
 .verdict,.bar .fill{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _num(value: Any) -> str:
    """People and counts: whole numbers with thousands separators; "—" when missing."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—"
    return f"{v:,.0f}" if math.isfinite(v) else "—"


def _minutes(value: Any, lang: str, threshold_min: float | None = None) -> str:
    """Minutes to 0.1 min; with ``threshold_min``, more decimals where 0.1 min would show a
    time on the other side of it (:func:`~geoaccess.targets.minutes_beside`: 15.04 → 15.04)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "—"
    if math.isnan(v):
        return "—"
    if not math.isfinite(v):
        return "不可达" if lang == "zh" else "unreachable"
    if threshold_min is not None:
        shown = np.format_float_positional(minutes_beside([v], threshold_min)[0], unique=True, min_digits=1)
        return f"{shown} {TEXT[lang]['min']}"
    return f"{v:.1f} {TEXT[lang]['min']}"


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _verdict_class(passed: Any) -> str:
    return "nodata" if _missing(passed) else ("pass" if passed else "fail")


def headline(result: "RunResult", lang: str) -> str:
    """One sentence that tells the truth: targets met county-wide, and townships failing each target.

    e.g. "3/3 项指标全县达标；2 个街道未达到“15分钟到达最近医疗点”".
    """
    t = TEXT[lang]
    n, p = len(result.evaluations), sum(1 for e in result.evaluations if e.passed)
    parts = [t["headline_all"].format(p=p, n=n)]
    if result.units is not None and len(result.units):
        for e in result.evaluations:
            failing = e.units[e.units["passed"].map(lambda v: v is False or v is np.False_)]
            if not len(failing):
                continue
            urban = failing["urban"].map(lambda v: v is True or v is np.True_) if "urban" in failing else False
            k_urban = int(np.sum(urban))
            counts = [t["streets"].format(k=k_urban)] if k_urban else []
            counts += [t["towns"].format(k=len(failing) - k_urban)] if len(failing) - k_urban else []
            parts.append(f"{t['and'].join(counts)}{'' if lang == 'zh' else ' '}"
                         f"{t['fail_target'].format(name=target_name(e.target, lang))}")
    return ("；" if lang == "zh" else "; ").join(parts)


def _bar(name: str, fraction: float, colour: str, goal: float | None, label: str, also: str | None) -> str:
    mark = f"<div class='goalmark' style='left:{min(max(goal, 0), 1) * 100:.1f}%'></div>" if goal is not None else ""
    extra = f"<span class='also'>{_esc(also)}</span>" if also is not None else ""
    return (f"<div class='bar{' beside' if also is not None else ''}' data-unit='{_esc(name)}'>"
            f"<span class='lab' title='{_esc(name)}'>{_esc(name)}</span><span class='track'><div class='fill' "
            f"style='width:{max(min(fraction, 1), 0) * 100:.1f}%;background:{colour}'></div>{mark}</span>"
            f"<span class='num'>{_esc(label)}</span>{extra}</div>")


def _ranking(e: "Evaluation", lang: str, whole_area: bool = False) -> str:
    """CSS bars of the units on the verdict's own metric, worst first.

    Shares: share within the threshold, lowest first. Mean times: mean minutes, longest
    first, with the share within the threshold beside. Per 1,000: the unit's value, lowest first.
    ``whole_area``: no admin units, the one row is the whole area (labelled so, not "all").
    """
    t = TEXT[lang]
    units = e.units.copy()
    metric = e.target.metric
    col = "share_within" if metric == "share_within" and "share_within" in units else "value"
    units = units[units[col].notna() & (units["population_total"] > 0 if "population_total" in units else True)]
    if not len(units):
        return ""
    worst_first = metric != "mean_time"
    units = units.sort_values([col, "name"], ascending=[worst_first, True], kind="stable")
    values = units[col].to_numpy(float)
    finite = values[np.isfinite(values)]
    top = 1.0 if metric == "share_within" else max(float(finite.max()) if len(finite) else 0.0, float(e.target.goal),
                                                 1e-9) * 1.05
    rows, note = [], ""
    for row, v in zip(units.to_dict(orient="records"), values):
        colour = {"pass": PASS_COLOUR, "fail": FAIL_COLOUR}.get(_verdict_class(row.get("passed")), NODATA_COLOUR)
        also = None
        if metric == "mean_time":
            share = row.get("share_within")
            also = "—" if _missing(share) else f"{float(share):.0%}"
        why = unreachable_note(row.get("value"), row.get("passed"), e.target, lang,
                               row.get("population_unreachable"), row.get("population_total"))
        note = note or why
        label = t["whole_area"] if whole_area else str(row["name"])
        rows.append(_bar(label, v / top if math.isfinite(v) else 1.0, colour, e.target.goal / top,
                         value_text(v, e.target, lang) + (" *" if why else ""), also))
    title = {"share_within": t["ranking"], "mean_time": t["ranking_mean"]}.get(metric, t["ranking_beds"])
    if metric == "mean_time":
        title += f"（{t['within'].format(t=f'{e.target.threshold_min:g}')}的比例列于右侧）" if lang == "zh" else \
            f" (share {t['within'].format(t=f'{e.target.threshold_min:g}')} on the right)"
    many = "data-many " if len(rows) > 16 else ""  # two columns in print, so many townships fit a page
    note = f"<div class='kv'>* {_esc(note)}</div>" if note else ""
    return f"<h3>{title}</h3>{note}<div {many}class='bars'>{''.join(rows)}</div>"


def largest_gaps(result: "RunResult", e: "Evaluation", n: int = 10) -> tuple[pd.DataFrame, bool]:
    """The ``n`` largest gaps of a target and whether they are clusters (True) or per-unit sums.

    Uses ``result.gaps[target id]`` when present; otherwise sums the people beyond the
    threshold (or unreachable) per admin unit from the demand table. A gap that rounds to
    0 people is never listed.
    """
    gaps = (getattr(result, "gaps", None) or {}).get(e.target.id)
    if gaps is not None and len(gaps):
        df = pd.DataFrame(gaps.drop(columns=["geometry", "area_geometry"], errors="ignore"))
        return top_gaps(df, n).reset_index(drop=True), True
    col = f"{e.target.id}_min"
    demand = result.demand
    empty = pd.DataFrame(columns=["unit", "pop", "n_points", "mean_minutes", "max_minutes"])
    if col not in demand:
        return empty, False
    minutes = demand[col].to_numpy(float) + e.target.dispatch_delay_min  # as the verdict counts them
    beyond = ~(minutes <= e.target.threshold_min)
    if e.target.population != "all" and "urban" in demand:
        urban = demand["urban"].to_numpy(bool)
        beyond &= urban if e.target.population == "urban" else ~urban
    sub = demand.loc[beyond, ["unit", "pop"]].assign(minutes=minutes[beyond])
    if not len(sub):
        return empty, False
    fin = np.isfinite(sub["minutes"])
    sub = sub.assign(wm=np.where(fin, sub["minutes"] * sub["pop"], 0.0), wp=np.where(fin, sub["pop"], 0.0))
    g = sub.groupby("unit", sort=False)
    df = pd.DataFrame({"pop": g["pop"].sum(), "n_points": g.size(), "wm": g["wm"].sum(), "wp": g["wp"].sum(),
                       "max_minutes": g["minutes"].max()}).reset_index()
    df["mean_minutes"] = np.where(df["wp"] > 0, df["wm"] / df["wp"].where(df["wp"] > 0, 1), np.inf)
    return top_gaps(df.drop(columns=["wm", "wp"]), n).reset_index(drop=True), False


def _gaps_table(result: "RunResult", e: "Evaluation", lang: str) -> str:
    t = TEXT[lang]
    if e.target.metric == "per_1000":
        return ""  # a ratio target has no travel-time gaps
    df, clusters = largest_gaps(result, e)
    if not len(df):
        return f"<h3>{t['gaps']}</h3><div class='kv'>{t['no_gaps']}</div>"
    names = dict(zip(result.facilities["facility_id"].astype(str), result.facilities["name"].astype(str)))
    if clusters:
        head = (f"<tr><th>{t['rank']}</th><th class='n'>{t['population']}</th><th class='n'>{t['mean']}</th>"
                f"<th>{t['nearest']}</th><th>{t['unit']}</th></tr>")
        body = []
        for i, r in enumerate(df.to_dict(orient="records"), 1):
            units = r.get("units") if not _missing(r.get("units")) and r.get("units") != "" else r.get("admin", "")
            units = "、".join(map(str, units)) if isinstance(units, (list, tuple, np.ndarray)) else units
            fid = "" if _missing(r.get("nearest_facility")) else str(r.get("nearest_facility"))
            nearest = names.get(fid) or fid or "—"
            body.append(f"<tr><td>{i}</td><td class='n'>{_num(r.get('pop'))}</td>"
                        f"<td class='n'>{_minutes(r.get('mean_minutes'), lang, e.target.threshold_min)}</td>"
                        f"<td>{_esc(nearest)}</td><td>{_esc('—' if _missing(units) or units == '' else units)}</td></tr>")
        title = t["gaps"]
    else:
        thr = e.target.threshold_min
        head = (f"<tr><th>{t['rank']}</th><th>{t['unit']}</th><th class='n'>{t['beyond']}</th>"
                f"<th class='n'>{t['mean']}</th><th class='n'>{t['max']}</th></tr>")
        body = [f"<tr><td>{i}</td><td>{_esc('—' if _missing(r['unit']) else r['unit'])}</td>"
                f"<td class='n'>{_num(r['pop'])}</td><td class='n'>{_minutes(r['mean_minutes'], lang, thr)}</td>"
                f"<td class='n'>{_minutes(r['max_minutes'], lang, thr)}</td></tr>"
                for i, r in enumerate(df.to_dict(orient="records"), 1)]
        title = t["gaps_units"]
    return f"<h3>{title}</h3><table class='t gaps'>{head}{''.join(body)}</table>"


def _sites_table(result: "RunResult", e: "Evaluation", lang: str) -> str:
    t = TEXT[lang]
    sites = (getattr(result, "sites", None) or {}).get(e.target.id)
    if sites is None or not len(sites):
        return ""
    df = sites.sort_values("rank", kind="stable") if "rank" in sites else sites
    lonlat = None
    if "geometry" in df and hasattr(df, "to_crs"):
        g = df.geometry if df.crs is not None else df.geometry.set_crs(result.demand.crs)
        g = g.to_crs("EPSG:4326")
        lonlat = list(zip(g.x, g.y))
    total, covered = e.population_total, e.population_covered
    body = []
    # p-median / p-center: minutes ("mean minutes…", "worst-case minutes…"); not "people within 15 min"
    minutes = "minutes" in str(df["measure"].iloc[0]) if "measure" in df else False
    for i, r in enumerate(df.to_dict(orient="records")):
        gain = float(r.get("gain", 0) or 0)
        covered += gain
        if minutes:  # the proposal's own exact value after this site (dispatch delay included)
            after = f"{float(r['cumulative']):.1f} {t['min']}"
        else:
            after = value_text(covered / total, e.target, lang) if total > 0 and e.target.metric == "share_within" else "—"
        where = f"{lonlat[i][0]:.5f}, {lonlat[i][1]:.5f}" if lonlat else "—"
        label = " · ".join(str(x) for x in (r.get("site_id", ""), r.get("name"), r.get("township"))
                           if not _missing(x) and x != "")
        body.append(f"<tr><td>{_esc(r.get('rank', i + 1))}</td><td>{_esc(label)}</td>"
                    f"<td class='n'>{'−' if minutes else '+'}{_num(gain) if not minutes else f'{gain:.1f}'}</td>"
                    f"<td class='n'>{after}</td><td>{where}</td></tr>")
    gain_head = (f"{t['min']} ↓" if minutes else t['gain'])
    after_head = (t["max"] if "worst" in str(df["measure"].iloc[0]) else t["mean"]) if minutes else t["after"]
    head = (f"<tr><th>{t['rank']}</th><th>{t['site']}</th><th class='n'>{gain_head}</th>"
            f"<th class='n'>{after_head}</th><th>{t['location']}</th></tr>")
    return f"<h3>{t['sites']}</h3><table class='t sites'>{head}{''.join(body)}</table>"


def _facts(e: "Evaluation", lang: str) -> str:
    """The card's line of numbers, on the target's own metric."""
    t = TEXT[lang]
    if e.target.metric == "per_1000":
        beds = e.extra.get("capacity_total")
        catch = e.extra.get("e2sfca_per_1000")
        catch_text = "—" if _missing(catch) else f"{float(catch):.2f}"
        return (f"{t['beds']} {_num(beds)}{t['beds_unit']} / {t['residents']} {_num(e.population_total)}"
                f"{t['people'] if lang == 'zh' else ''} · {t['e2sfca']} {catch_text}")
    unreachable = f"{t['unreachable']}: {_num(e.population_unreachable)} {t['people']}"
    if e.target.metric == "mean_time":
        share = "—" if _missing(e.share_within) else f"{e.share_within:.1%}"
        p90 = _minutes(e.p90_minutes, lang)
        within = t["within"].format(t=f"{e.target.threshold_min:g}")
        return f"{within} {share} · {t['p90']} {p90}{t['p90_after']} · {unreachable}"
    return f"{t['covered']}: {_num(e.population_covered)} / {_num(e.population_total)} {t['people']} · {unreachable}"


def _card(e: "Evaluation", lang: str) -> str:
    t = TEXT[lang]
    cls = _verdict_class(e.passed)
    known = e.units[e.units["passed"].notna()] if "passed" in e.units and len(e.units) > 1 else e.units.iloc[:0]
    fails = int((known["passed"] == False).sum()) if len(known) else 0  # noqa: E712 (object column of bools)
    units_line = f"<div class='kv'>{t['units_fail']}: {fails} / {len(known)}</div>" if len(known) else ""
    why = unreachable_note(e.value, e.passed, e.target, lang, e.population_unreachable, e.population_total)
    why = f"<div class='kv'>{_esc(why)}</div>" if why else ""
    return (
        f"<section class='card' data-target='{_esc(e.target.id)}' data-passed='{cls}'>"
        f"<div class='name'>{_esc(target_name(e.target, lang))}</div>"
        f"<div class='verdict {cls}'>{verdict_text(e.passed, lang)}</div>"
        f"<div><span class='big'>{_esc(value_text(e.value, e.target, lang))}</span> "
        f"<span class='goal'>{t['goal']} {_esc(goal_text(e.target, lang))}</span></div>"
        f"<div class='kv'>{_facts(e, lang)}</div>{units_line}{why}</section>")


def _curve(e: "Evaluation", png: bytes | None, lang: str) -> str:
    """The "how many sites are enough" plot of ``site --curve`` (with its goal line), embedded."""
    if not png:
        return ""
    data = base64.b64encode(png).decode("ascii")
    return (f"<figure class='curve' data-target='{_esc(e.target.id)}'><img src='data:image/png;base64,{data}' "
            f"alt='{_esc(TEXT[lang]['curve'])}'><figcaption>{_esc(TEXT[lang]['curve'])}</figcaption></figure>")


def _detail(result: "RunResult", e: "Evaluation", lang: str, curve: bytes | None = None) -> str:
    return (f"<section class='detail' data-target='{_esc(e.target.id)}'>"
            f"<div class='name'>{_esc(target_name(e.target, lang))}</div>"
            f"{_ranking(e, lang, whole_area=result.units is None)}{_gaps_table(result, e, lang)}{_sites_table(result, e, lang)}"
            f"{_curve(e, curve, lang)}</section>")


def map_target(result: "RunResult") -> str | None:
    """The target the report's map image shows: the one just sited, else the first failing, else the first."""
    ids = [e.target.id for e in result.evaluations]
    sited = [tid for tid in (getattr(result, "sites", None) or {}) if tid in ids]
    if sited:
        return sited[-1]
    failing = [e.target.id for e in result.evaluations if e.passed is False and e.target.metric != "per_1000"]
    timed = [e.target.id for e in result.evaluations if e.target.metric != "per_1000"]
    return (failing or timed or ids or [None])[0]


def _figure(result: "RunResult", lang: str, map_href: str | None) -> str:
    tid = map_target(result)
    if tid is None or not len(result.demand):
        return ""
    t = TEXT[lang]
    png = base64.b64encode(static_map_png(result, tid, lang)).decode("ascii")
    e = result.evaluation(tid)
    link = f"<a href='{_esc(map_href)}'>{_esc(map_href)}</a>" if map_href else "map.html"
    return (f"<figure data-target='{_esc(tid)}'><img src='data:image/png;base64,{png}' alt='{t['figure']}: "
            f"{_esc(target_name(e.target, lang))}'><figcaption>"
            f"{_esc(t['map_caption'].format(name=target_name(e.target, lang)))}{link}</figcaption></figure>")


def report_html(result: "RunResult", lang: str = "zh", map_href: str | None = None,
                curves: dict[str, bytes] | None = None) -> str:
    """The report page as a string; ``map_href`` (relative URL of map.html) is linked and embedded;
    ``curves`` (target id → PNG bytes of ``curve_<target>.png``) are shown with their target."""
    check_lang(lang)
    t = TEXT[lang]
    curves = curves or {}
    cards = "".join(_card(e, lang) for e in result.evaluations)
    details = "".join(_detail(result, e, lang, curves.get(e.target.id)) for e in result.evaluations)
    mapbox = ""
    if map_href:
        href = _esc(map_href)
        mapbox = (f"<div class='mapbox'><h2>{t['map']}</h2><p><a href='{href}' target='_blank'>{t['open_map']}"
                  f" ({href})</a></p><iframe src='{href}' title='{t['map']}' loading='lazy'></iframe></div>"
                  f"<p class='print-only'>{t['print_map']}{href}</p>")
    today = _dt.date.today().isoformat()
    credit = f"<div class='foot'>{ATTRIBUTION} (ODbL)</div>" if roads_from_osm(result.scenario) else ""
    return (
        f"<!DOCTYPE html><html lang='{'zh-CN' if lang == 'zh' else 'en'}'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_esc(result.scenario.name)} · {t['title']}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_esc(result.scenario.name)} · {t['title']}</h1>"
        f"<div class='headline'>{_esc(headline(result, lang))}</div>"
        f"<div class='sub'>{t['generated']} {today} · geoaccess</div>"
        f"<div class='cards'>{cards}</div>{_figure(result, lang, map_href)}"
        f"<div class='page2'><h2>{t['details']}</h2>"
        f"<div class='details' style='--n:{max(min(len(result.evaluations), 4), 1)}'>{details}</div>"
        f"<h2>{t['method']}</h2><p class='method'>{_esc(t['method_text'])}</p>{credit}</div>{mapbox}"
        f"</body></html>")


def write_report(result: "RunResult", path: str | Path, lang: str = "zh", map_path: str | Path | None = None) -> Path:
    """Write the HTML report to ``path``, atomically.

    ``map_path`` is linked and embedded (an iframe, by a path relative to the report);
    by default ``map.html`` beside the report when it exists. A ``curve_<target>.png``
    beside the report (``site --curve``) is embedded with its target (base64: the report
    stays one file).

    Raises
    ------
    InputError
        ``lang`` is not ``zh`` or ``en``.
    """
    check_lang(lang)
    target = Path(path)
    if map_path is None and (target.parent / "map.html").exists():
        map_path = target.parent / "map.html"
    href = None
    if map_path is not None:
        href = Path(os.path.relpath(Path(map_path).resolve(), target.parent.resolve())).as_posix()
    curves = {e.target.id: path.read_bytes() for e in result.evaluations
              if (path := target.parent / f"curve_{safe_folder_name(e.target.id)}.png").is_file()}
    page = report_html(result, lang=lang, map_href=href, curves=curves)
    # write_with (not write_atomic): the new file gets the usual permissions, as map.html does
    return write_with(target, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
