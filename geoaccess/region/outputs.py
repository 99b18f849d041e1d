"""Province outputs of a region run: counties.csv, region_summary.json, the province map and report.

Built from the counties' status records (:func:`geoaccess.region.partition.run_county`), so they can
be rewritten after every finished county and again at the end.
"""

from __future__ import annotations

import html
import json
import math
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..io import csv_safe, write_atomic, write_json, write_with
from ..results import FAIL_COLOUR, NODATA_COLOUR, PASS_COLOUR, goal_text, value_text
from ..targets import Target

#: counties.csv columns, in order.
COLUMNS = ("county_id", "county_name", "status", "target", "value", "goal", "passed", "population",
           "population_covered", "population_unreachable", "mean_minutes", "seconds", "warnings", "note")

_TEXT = {
    "zh": {"title": "全省医疗卫生服务可及性评估", "county": "区县", "passing": "达标区县", "province": "全省",
           "value": "现状", "goal": "目标", "result": "结论", "pass": "达标", "fail": "未达标", "none": "无结论",
           "population": "人口", "map": "区县地图", "report": "区县报告", "status": "状态", "note": "说明",
           "open_map": "打开全省地图", "generated": "生成于", "ok": "完成", "no_roads": "无道路",
           "no_people": "无人口", "no_facilities": "无医疗机构", "failed": "失败", "pending": "未完成"},
    "en": {"title": "Province health-facility accessibility", "county": "County", "passing": "Counties passing",
           "province": "Province", "value": "Value", "goal": "Goal", "result": "Result", "pass": "PASS",
           "fail": "FAIL", "none": "no verdict", "population": "Population", "map": "county map",
           "report": "county report", "status": "Status", "note": "Note", "open_map": "Open the province map",
           "generated": "Generated", "ok": "done", "no_roads": "no roads", "no_people": "no people",
           "no_facilities": "no facilities", "failed": "failed", "pending": "not run"},
}


def county_rows(records: dict[str, dict], units: gpd.GeoDataFrame, targets: dict[str, Target]) -> pd.DataFrame:
    """One row per county × target (:data:`COLUMNS`); a county without results gets one row
    per target saying why (status ``no_roads``, ``no_people``, ``no_facilities`` (verdict FAIL:
    nobody is covered), ``failed`` or ``pending``)."""
    rows = []
    for cid, name in zip(units["id"], units["name"]):
        rec = records.get(cid, {"status": "pending", "note": "not run yet"})
        by_id = {t["id"]: t for t in rec.get("targets") or []}
        for tid, target in targets.items():
            t = by_id.get(tid)
            row = {"county_id": cid, "county_name": name, "status": rec["status"], "target": tid,
                   "goal": target.goal, "seconds": rec.get("seconds"), "note": rec.get("note", ""),
                   # how many warnings the county's run gave (listed in counties/<id>/summary.json)
                   "warnings": len(rec.get("warnings") or [])}
            if t is not None:
                row.update(value=t["value"], passed=t["passed"], population=t["population_total"],
                           population_covered=t["population_covered"],
                           population_unreachable=t["population_unreachable"], mean_minutes=t["mean_minutes"])
            elif rec["status"] == "no_people":
                row.update(population=0.0)
            elif rec["status"] in ("no_roads", "no_facilities") and (rec.get("population") or 0) > 0:
                # nobody can reach a facility: every resident is unreachable, the verdict is FAIL. Which
                # residents are urban or rural is not known without a run, so only "all" targets get people.
                people = rec["population"] if target.population == "all" else math.nan
                row.update(passed=False, population=people, population_covered=0.0 * people,
                           population_unreachable=people, value=0.0 if target.metric == "share_within" else math.inf)
            rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def province_values(rows: pd.DataFrame, targets: dict[str, Target]) -> dict[str, dict[str, Any]]:
    """Population-weighted province value per target from the county rows.

    share_within: people covered / people; mean_time: the counties' means weighted by
    their reachable people (as each county's mean is over its reachable people); the
    verdict also needs the unreachable share within the target's ``max_unreachable_share``.
    People of counties without roads or facilities count as unreachable (for targets of
    all residents; for an urban/rural target such a county is listed in
    ``counties_not_in_value``).
    """
    out = {}
    for tid, target in targets.items():
        r = rows[(rows["target"] == tid) & rows["status"].isin(["ok", "no_roads", "no_facilities"])]
        left_out = r.loc[r["population"].isna() & r["passed"].notna(), "county_id"].tolist()
        r = r[r["population"].notna()]
        total = float(r["population"].sum())
        covered = float(r["population_covered"].sum())
        unreach = float(r["population_unreachable"].sum())
        reach = (r["population"] - r["population_unreachable"]).to_numpy(float)
        vals = r["value"].to_numpy(float)
        ok = np.isfinite(vals) & (reach > 0)
        if target.metric == "share_within":
            value = covered / total if total > 0 else math.nan
            passed = None if total <= 0 else bool(value >= target.goal and unreach / total <= target.max_unreachable_share)
        else:
            value = float((vals[ok] * reach[ok]).sum() / reach[ok].sum()) if ok.any() else math.nan
            passed = None if total <= 0 or not ok.any() else bool(
                value <= target.goal and unreach / total <= target.max_unreachable_share)
        verdicts = r["passed"]
        out[tid] = {"id": tid, "name_zh": target.name_zh, "name_en": target.name_en, "metric": target.metric,
                    "value": value, "goal": target.goal, "passed": passed, "population_total": total,
                    "population_covered": covered, "population_unreachable": unreach,
                    "counties_evaluated": int(verdicts.notna().sum()),
                    "counties_passing": int((verdicts == True).sum()),  # noqa: E712 (object column with None)
                    "counties_failing": r.loc[verdicts == False, "county_id"].tolist(),  # noqa: E712
                    # counties without roads or facilities whose people of this target's subset are unknown
                    "counties_not_in_value": left_out}
    return out


def write_tables(root: Path, region_name: str, rows: pd.DataFrame, targets: dict[str, Target],
                 extra: dict[str, Any]) -> dict[str, Path]:
    """Write ``counties.csv`` (UTF-8 with BOM, formula-safe) and ``region_summary.json``, atomically."""
    with write_atomic(root / "counties.csv", "w", encoding="utf-8-sig") as fh:
        csv_safe(rows).to_csv(fh, index=False, lineterminator="\n")
    status = rows.drop_duplicates("county_id")["status"].value_counts().to_dict()
    write_json(root / "region_summary.json", {
        "region": region_name, "counties": int(rows["county_id"].nunique()),
        "counties_by_status": {k: int(v) for k, v in status.items()},
        "targets": list(province_values(rows, targets).values()), **extra})
    return {"counties_csv": root / "counties.csv", "region_summary": root / "region_summary.json"}


def _esc(v: Any) -> str:
    # HTML text; the map's scripts go in raw (maplayers.RawHtml), so braces need no escape from Jinja
    return html.escape(str(v), quote=True)


def _href(cid: Any, page: str) -> str:
    """The link to a county's page: its id %-encoded (a "#" or "%" in an id would break the URL)."""
    return html.escape(f"counties/{quote(str(cid))}/{page}", quote=True)


def _verdict(passed: Any, lang: str) -> tuple[str, str]:
    t = _TEXT[lang]
    if passed is None or (isinstance(passed, float) and math.isnan(passed)):
        return t["none"], NODATA_COLOUR
    return (t["pass"], PASS_COLOUR) if bool(passed) else (t["fail"], FAIL_COLOUR)


def write_map(root: Path, region_name: str, units: gpd.GeoDataFrame, rows: pd.DataFrame,
              targets: dict[str, Target], lang: str = "zh", self_contained: bool = False) -> Path:
    """The province map ``map.html``: one layer per target, counties coloured pass / fail /
    no verdict, popups with the value, goal and people and links to the county's map and report."""
    from ..maplayers import GeoLayer, LayerControl, RawHtml, _inline_leaflet, _leaflet_links

    t = _TEXT[lang]
    w, s, e, n = units.total_bounds
    fmap = folium.Map(location=[(s + n) / 2, (w + e) / 2], zoom_start=8, tiles=None, control_scale=True)
    # targets are the radio buttons (one at a time); the basemap is a checkbox beneath them
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap", overlay=True, control=True).add_to(fmap)
    fmap.default_js, fmap.default_css = _leaflet_links(self_contained)
    if self_contained:
        fmap.get_root().header.add_child(RawHtml(_inline_leaflet()), name="leaflet_inline")
    fmap.get_root().title = _esc(f"{region_name} · geoaccess")  # branca puts it in <title> raw
    fmap.fit_bounds([[s, w], [n, e]])
    shapes = shapely.simplify(units.geometry.to_numpy(), 0.0005)  # ~50 m: the map shows counties, not parcels
    geometries = [shapely.geometry.mapping(g) for g in shapes]
    for k, (tid, target) in enumerate(targets.items()):
        r = rows[rows["target"] == tid].set_index("county_id")
        features = []
        for cid, name, geom in zip(units["id"], units["name"], geometries):
            row = r.loc[cid]
            verdict, colour = _verdict(row["passed"] if pd.notna(row["passed"]) else None, lang)
            value = value_text(row["value"], target, lang) if row["status"] == "ok" else t[row["status"]]
            pop = f"{row['population']:,.0f}" if pd.notna(row["population"]) else "–"
            popup = (f"<b>{_esc(name)}</b> ({_esc(cid)})<br>{_esc(target.name_zh if lang == 'zh' else target.name_en)}"
                     f"<br>{t['value']}: {_esc(value)} · {t['goal']}: {_esc(goal_text(target, lang))}"
                     f"<br>{t['result']}: <b>{_esc(verdict)}</b> · {t['population']}: {pop}")
            if row["status"] == "ok":
                popup += (f"<br><a href=\"{_href(cid, 'map.html')}\" target=\"_blank\">{t['map']}</a> · "
                          f"<a href=\"{_href(cid, 'report.html')}\" target=\"_blank\">{t['report']}</a>")
            elif row["note"]:
                popup += f"<br>{_esc(row['note'])}"
            features.append({"type": "Feature", "geometry": geom, "properties": {
                "s": {"fillColor": colour, "color": "#333", "weight": 1, "fillOpacity": 0.55}, "p": popup}})
        # the layer control shows names as HTML: escaped here; the layer's script is placed raw
        layer = GeoLayer(features, name=_esc(target.name_zh if lang == "zh" else target.name_en),
                         pane="overlayPane", show=k == 0)
        layer.overlay = False  # a radio button: one target at a time
        # the data as ASCII JSON (names \u-escaped, as the province map has always carried them);
        # every "<" escaped, so no "</script>" or "<!--" inside the script
        layer.data = json.dumps({"type": "FeatureCollection", "features": features},
                                separators=(",", ":")).replace("<", "\\u003c")
        layer.add_to(fmap)
    LayerControl(collapsed=False).add_to(fmap)
    page = fmap.get_root().render()
    return write_with(root / "map.html", lambda p: Path(p).write_text(page, encoding="utf-8"))


def write_report(root: Path, region_name: str, units: gpd.GeoDataFrame, rows: pd.DataFrame,
                 targets: dict[str, Target], lang: str = "zh") -> Path:
    """The province report ``report.html``: province verdict per target, then every county."""
    t = _TEXT[lang]
    prov = province_values(rows, targets)
    name = (lambda x: x.name_zh) if lang == "zh" else (lambda x: x.name_en)
    head = "".join(f"<tr><td>{_esc(name(tg))}</td><td>{_esc(value_text(prov[tid]['value'], tg, lang))}</td>"
                   f"<td>{_esc(goal_text(tg, lang))}</td><td style='color:{_verdict(prov[tid]['passed'], lang)[1]}'>"
                   f"<b>{_esc(_verdict(prov[tid]['passed'], lang)[0])}</b></td>"
                   f"<td>{prov[tid]['counties_passing']} / {prov[tid]['counties_evaluated']}</td></tr>"
                   for tid, tg in targets.items())
    body = []
    for cid, cname in zip(units["id"], units["name"]):
        r = rows[rows["county_id"] == cid].set_index("target")
        status = r["status"].iloc[0]
        cells = []
        for tid, tg in targets.items():
            if status == "ok":
                verdict, colour = _verdict(r.loc[tid, "passed"], lang)
                cells.append(f"<td style='color:{colour}'>{_esc(value_text(r.loc[tid, 'value'], tg, lang))} "
                             f"<b>{_esc(verdict)}</b></td>")
            else:
                cells.append(f"<td>{_esc(t[status])}</td>")
        link = (f"<a href='{_href(cid, 'report.html')}'>{_esc(cname)}</a>" if status == "ok" else _esc(cname))
        pop = r["population"].iloc[0]
        note = r["note"].iloc[0] if status != "ok" else ""
        body.append(f"<tr><td>{link}</td><td>{_esc(cid)}</td><td>{'' if pd.isna(pop) else f'{pop:,.0f}'}</td>"
                    f"{''.join(cells)}<td>{_esc(note or '')}</td></tr>")
    cols = "".join(f"<th>{_esc(name(tg))}</th>" for tg in targets.values())
    page = f"""<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">
<title>{_esc(region_name)} · {t['title']}</title>
<style>body{{font:14px/1.4 "Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}
th{{background:#f3f3f3}}</style></head><body>
<h1>{_esc(region_name)} · {t['title']}</h1>
<table><tr><th>{t['province']}</th><th>{t['value']}</th><th>{t['goal']}</th><th>{t['result']}</th>
<th>{t['passing']}</th></tr>{head}</table>
<p><a href="map.html">{t['open_map']}</a></p>
<table><tr><th>{t['county']}</th><th>id</th><th>{t['population']}</th>{cols}<th>{t['note']}</th></tr>
{''.join(body)}</table>
<p style="color:#777">{t['generated']} {time.strftime('%Y-%m-%d %H:%M')} · geoaccess</p></body></html>
"""
    with write_atomic(root / "report.html") as fh:
        fh.write(page)
    return root / "report.html"
