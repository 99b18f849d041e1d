"""Interactive Leaflet web maps of a run (built with Folium, no CDN plugins).

Layers, each switchable in the layer control (names in Chinese or English):

* demand coloured by travel time, one layer per target — rendered as one palette PNG
  (an ``L.imageOverlay`` on a Web-Mercator-aligned grid), so a county of 200k demand
  cells costs a few hundred kB instead of 200k markers;
* isochrone bands per target (``result.isochrones``, when present), simplified;
* gap clusters and proposed sites per target (``result.gaps`` / ``result.sites``);
* admin units with a popup of every target's result, outlined green (all pass) or red;
* facilities, one layer per kind, coloured by kind and sized by tier.

A title panel gives each target's value against its goal and the verdict, a legend the
travel-time classes in minutes. Basemaps: OpenStreetMap, a light basemap (CARTO
Positron), Tianditu (天地图, with a key; CGCS2000 ≈ WGS84) and none. ``basemap="amap"``
draws on Gaode/Amap tiles, which are in GCJ-02: every overlay is then shifted to GCJ-02
with :func:`geoaccess.coords.wgs84_to_gcj02` and the WGS84 basemaps are not offered.

By default (``self_contained=True``) Leaflet 1.9.4 (vendored under ``geoaccess/static``)
is inlined and nothing else is loaded, so the file opens on an offline intranet; only
basemap tiles need the network, and when none load the map says so and the data layers
still show. ``self_contained=False`` (CLI ``--cdn``) links Leaflet from a CDN instead.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import folium
import shapely
import geopandas as gpd
import numpy as np
import pandas as pd

from .errors import InputError
from .io import write_with
from .demandraster import DemandGrid, _png_palette  # noqa: F401  (_png_palette: tests)
from .isochrones import ISOCHRONE_SIMPLIFY_M
from .maplayers import (BASEMAPS, CLASS_COLOURS, GAP_COLOUR, KIND_COLOURS,  # noqa: F401
                        SITE_COLOUR, TIER_RADIUS, UNREACHABLE_COLOUR, GeoLayer, LayerControl, PngOverlay, RawHtml,
                        TileGroup, _Display, _esc, _feature, _inline_leaflet, _kinds, _leaflet_links, _num, _Panes, _point,
                        _popup_table, _tiles, _Wiring, class_labels, kind_label, minutes_class)
from .targets import minutes_beside
from .results import (ATTRIBUTION, FAIL_COLOUR, NODATA_COLOUR, PASS_COLOUR, check_lang, goal_text, roads_from_osm,
                      target_name, unreachable_note, value_text, verdict_colour, verdict_text)

if TYPE_CHECKING:
    from .results import RunResult
    from .targets import Evaluation, Target



TEXT = {
    "zh": {
        "facilities": "医疗机构", "minutes": "分钟", "min": "分钟", "passed": "达标", "failed": "未达标",
        "nodata": "无数据", "goal": "目标", "value": "现状", "unreachable": "不可达", "time_to": "到达时间",
        "travel_time": "出行时间", "isochrones": "等时圈", "gaps": "服务缺口", "sites": "建议新增点位",
        "units": "行政区划（乡镇/街道）", "osm": "OpenStreetMap", "light": "浅色底图（CARTO）",
        "tianditu": "天地图", "amap": "高德地图", "none": "无底图", "type": "类型", "capacity": "规模（床位）",
        "served": "服务人口", "people": "人", "population": "人口", "gap": "缺口", "cells": "人口格网数",
        "mean_time": "平均时间", "max_time": "最长时间", "nearest": "最近机构", "unit": "所在乡镇",
        "rank": "排名", "gain": "新增覆盖人口", "site": "建议点位", "target": "指标", "result": "结论",
        "legend": "图例", "all_pass": "全部达标", "some_fail": "有指标未达标", "within": "以内",
        "gcj_note": "为匹配高德底图，图层坐标已转换为 GCJ-02。", "per_1000": "每千人",
        "covered": "覆盖人口", "scenario": "方案", "raster_note": "人口格网按出行时间着色",
        "offline": "底图无法加载（无网络或底图服务不可达）；数据图层照常显示。可在右上角选择“无底图”。",
    },
    "en": {
        "facilities": "Facilities", "minutes": "minutes", "min": "min", "passed": "PASS", "failed": "FAIL",
        "nodata": "no data", "goal": "goal", "value": "value", "unreachable": "unreachable", "time_to": "Time",
        "travel_time": "Travel time", "isochrones": "Isochrones", "gaps": "Coverage gaps",
        "sites": "Proposed new sites", "units": "Admin units (townships)", "osm": "OpenStreetMap",
        "light": "Light (CARTO)", "tianditu": "Tianditu", "amap": "Amap (Gaode)", "none": "No basemap",
        "type": "Type", "capacity": "Capacity (beds)", "served": "Population served", "people": "people",
        "population": "Population", "gap": "Gap", "cells": "demand cells", "mean_time": "Mean time",
        "max_time": "Max time", "nearest": "Nearest facility", "unit": "Township", "rank": "Rank",
        "gain": "People newly covered", "site": "Proposed site", "target": "Target", "result": "Result",
        "legend": "Legend", "all_pass": "all targets pass", "some_fail": "a target fails", "within": "within",
        "gcj_note": "Overlays shifted to GCJ-02 to match the Amap basemap.", "per_1000": "per 1,000",
        "covered": "Covered", "scenario": "Scenario", "raster_note": "demand cells coloured by travel time",
        "offline": "Basemap tiles cannot be loaded (no internet, or the tile server is unreachable); the data "
                   "layers show as usual. Choose “No basemap” at the top right.",
    },
}



def map_from_result(result: "RunResult", lang: str = "zh", basemap: str | None = None, self_contained: bool = True,
                    tianditu_key: str | None = None) -> folium.Map:
    """A Leaflet map of a run: travel times, isochrones, gaps, sites, admin units, facilities.

    Parameters
    ----------
    result
        A :class:`geoaccess.pipeline.RunResult`. ``isochrones``, ``gaps`` and ``sites``
        (dicts keyed by target id) are drawn when the result carries them.
    lang
        ``"zh"`` (default) or ``"en"``: every label, legend and popup.
    basemap
        The basemap shown first: ``osm``, ``light``, ``tianditu`` (needs a key), ``amap``
        (overlays shifted to GCJ-02; only Amap and "none" are then offered) or ``none``.
        Default: the scenario's ``[map] basemap``.
    self_contained
        Inline Leaflet (default; no CDN): the only network use left is basemap tiles.
        False links Leaflet from a CDN (a smaller file that is blank without internet).
    tianditu_key
        A 天地图 key; offers the Tianditu basemap. Default: the scenario's ``[map] tianditu_key``.
    """
    check_lang(lang)
    t = TEXT[lang]
    settings = getattr(result.scenario, "map", None) or {}
    basemap = (basemap or settings.get("basemap") or "osm").lower()
    if basemap not in BASEMAPS:
        raise InputError(f"unknown basemap {basemap!r}; choose one of {', '.join(BASEMAPS)}")
    key = tianditu_key if tianditu_key is not None else settings.get("tianditu_key")
    if basemap == "tianditu" and not key:
        raise InputError("the Tianditu (天地图) basemap needs a key: set [map] tianditu_key in the scenario "
                         "(free from https://console.tianditu.gov.cn/)")
    gcj = basemap == "amap"
    display = _Display(gcj)

    demand = result.demand
    lon, lat = display.points(demand)
    if len(lon):
        south, west, north, east = float(lat.min()), float(lon.min()), float(lat.max()), float(lon.max())
    else:
        south, west, north, east = -60.0, -170.0, 70.0, 170.0
    fmap = folium.Map(location=[(south + north) / 2, (west + east) / 2], zoom_start=12, tiles=None,
                      control_scale=True, prefer_canvas=False)
    fmap.default_js, fmap.default_css = _leaflet_links(self_contained)
    if self_contained:
        fmap.get_root().header.add_child(RawHtml(_inline_leaflet()), name="leaflet_inline")
    fmap.get_root().header.add_child(RawHtml(f"<style>{_CSS}</style>"), name="geoaccess_css")
    fmap.get_root().title = _esc(f"{result.scenario.name} · geoaccess")  # branca puts it in <title> raw
    fmap.fit_bounds([[south, west], [north, east]])
    fmap.add_child(_Panes())

    # basemaps (radio buttons); the chosen one is shown first
    offered = ["amap", "none"] if gcj else ["osm", "light"] + (["tianditu"] if key else []) + ["none"]
    for name in offered:
        TileGroup(t[name], _tiles(name, lang, key), show=name == basemap).add_to(fmap)

    registry: list[tuple[str, str]] = []
    labelled: list[str] = []
    spread: list[str] = []
    legends: dict[str, list[str]] = {}
    # open on the target just sited (a proposal or a curve; its sites shown), else on the last
    # target with sites, else on the first target
    ids = [e.target.id for e in result.evaluations]
    sited = [tid for tid in (getattr(result, "sites", None) or {}) if tid in ids]
    focus = getattr(result, "focus", None)
    first = focus if focus in ids else sited[-1] if sited else (ids[0] if ids else None)

    def add(layer: folium.map.Layer) -> folium.map.Layer:
        # Leaflet's layer control shows names as HTML: it gets them escaped; window.geoaccess the raw ones
        layer.raw_name, layer.layer_name = layer.layer_name, html.escape(layer.layer_name, quote=False)
        layer.add_to(fmap)
        registry.append((layer.raw_name, layer.get_name()))
        return layer

    # travel-time areas: isochrones (bottom) and demand raster, one per target
    isochrones = getattr(result, "isochrones", None) or {}
    grid = DemandGrid(demand, display, lonlat=(lon, lat)) if len(demand) else None
    for e in result.evaluations:
        tid, tname = e.target.id, target_name(e.target, lang)
        legend_layers = legends.setdefault(f"ga-legend-{tid}", [])
        iso = isochrones.get(tid)
        if iso is not None and len(iso):
            layer = add(GeoLayer(_isochrone_features(iso, e.target, display), f"{t['isochrones']} · {tname}",
                                 "ga-iso", show=False, interactive=False))
            legend_layers.append(layer.raw_name)
        column = f"{tid}_min"  # travel only: the 120 dispatch delay is added, as the verdict does
        if grid is not None and column in demand:
            layer = add(PngOverlay(grid.png(demand[column].to_numpy(float) + e.target.dispatch_delay_min, e.target), grid.bounds,
                                   f"{t['travel_time']} · {tname}", "ga-demand", show=tid == first))
            legend_layers.append(layer.raw_name)

    # admin units
    if result.units is not None and len(result.units):
        labelled.append(add(GeoLayer(_unit_features(result, lang, display), t["units"], "ga-units", show=True)).raw_name)

    # gaps and sites per target
    gaps, sites = getattr(result, "gaps", None) or {}, getattr(result, "sites", None) or {}
    names = dict(zip(result.facilities["facility_id"].astype(str), result.facilities["name"].astype(str)))
    for e in result.evaluations:
        tid, tname = e.target.id, target_name(e.target, lang)
        g = gaps.get(tid)
        g = g[g["pop"].to_numpy(float) >= 0.5] if g is not None and "pop" in g else g  # no gap of 0 people
        if g is not None and len(g):
            layer = add(GeoLayer(_gap_features(g, e.target, lang, display, names), f"{t['gaps']} · {tname}",
                                 "ga-gaps", show=tid == first))
            legends.setdefault("ga-legend-gaps", []).append(layer.raw_name)
        s = sites.get(tid)
        if s is not None and len(s):
            layer = add(GeoLayer(_site_features(s, e.target, lang, display, demand.crs),
                                 f"{t['sites']} · {tname}", "ga-sites", show=tid == first))
            legends.setdefault("ga-legend-sites", []).append(layer.raw_name)
            spread.append(layer.raw_name)

    # facilities by kind, highest tier first
    facilities = result.facilities
    served = _served(result)
    kinds = facilities["kind"].fillna("other").astype(str) if "kind" in facilities else pd.Series(
        "other", index=facilities.index)
    tiers = {k: int(_kinds().get(k, {}).get("tier", 9)) for k in kinds.unique()}
    fac_lon, fac_lat = display.points(facilities) if len(facilities) else (np.array([]), np.array([]))
    for kind in sorted(kinds.unique(), key=lambda k: (tiers[k], k)):
        mask = (kinds == kind).to_numpy()
        feats = _facility_features(facilities[mask], fac_lon[mask], fac_lat[mask], kind, tiers[kind], lang, served,
                                   result.evaluations)
        layer = add(GeoLayer(feats, f"{t['facilities']} · {kind_label(kind, lang)} ({int(mask.sum())})",
                             "ga-facilities", show=True))
        legends.setdefault(f"ga-legend-kind-{kind}", []).append(layer.raw_name)

    LayerControl(collapsed=False, position="topright").add_to(fmap)
    fmap.get_root().html.add_child(RawHtml(_title_panel(result, lang, gcj)))
    fmap.get_root().html.add_child(RawHtml(f"<div id='geoaccess-offline' class='ga-panel' role='status'>{t['offline']}</div>"))
    fmap.get_root().html.add_child(RawHtml(_legend(result, lang, sorted(kinds.unique(), key=lambda k: (tiers[k], k)),
                                                    tiers, bool(gaps), bool(sites))))
    fmap.add_child(_Wiring(registry, legends, lang, "GCJ-02" if gcj else "WGS84", labelled, spread))
    return fmap



_CSS = """
.ga-panel{background:rgba(255,255,255,.94);padding:8px 12px;border-radius:6px;box-shadow:0 1px 5px rgba(0,0,0,.4);
 font:13px/1.35 "Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;color:#222}
#geoaccess-title{position:absolute;top:10px;left:54px;z-index:1000;max-width:calc(100% - 360px)}
#geoaccess-title .ga-name{font-size:16px;font-weight:bold;margin-bottom:4px}
#geoaccess-title table{border-collapse:collapse}
#geoaccess-title td{padding:1px 6px 1px 0;vertical-align:top}
.ga-pass{color:#1a7f3c;font-weight:bold}.ga-fail{color:#c62828;font-weight:bold}.ga-nodata{color:#666}
#geoaccess-legend{position:absolute;bottom:48px;left:10px;z-index:1000;max-height:calc(100% - 220px);overflow:auto;font-size:12px}
#geoaccess-legend .ga-h{font-weight:bold;margin:4px 0 2px}
.ga-bar{display:flex;margin:2px 0}.ga-bar span{flex:0 0 auto;text-align:center;font-size:11px;padding:1px 4px;min-width:30px;white-space:nowrap}
.ga-sw{display:inline-block;width:12px;height:12px;border-radius:50%;margin-right:5px;vertical-align:-2px;
 border:1px solid #fff;box-shadow:0 0 0 1px #999}
.ga-box{display:inline-block;width:14px;height:10px;margin-right:5px;border:2px solid;vertical-align:-1px}
.ga-popup table{border-collapse:collapse;margin-top:3px}.ga-popup th{text-align:left;padding:1px 8px 1px 0;
 font-weight:normal;color:#555}.ga-popup td{padding:1px 0}
.ga-raster{image-rendering:pixelated;image-rendering:crisp-edges}
.ga-icon{background:none;border:none}
.leaflet-control-layers{font-size:12px;max-height:70vh;overflow:auto}
#geoaccess-offline{display:none;position:absolute;bottom:24px;right:10px;z-index:1000;max-width:340px;font-size:12px;
 background:#fff3cd;border:1px solid #e0b000}
.ga-label{background:none;border:none;box-shadow:none;font:bold 12px sans-serif;color:#333;
 text-shadow:0 0 3px #fff,0 0 3px #fff,0 0 2px #fff}.ga-label:before{display:none}
@media print{.leaflet-control-layers{display:none}}
"""


def _title_panel(result: "RunResult", lang: str, gcj: bool) -> str:
    t = TEXT[lang]
    rows = []
    for e in result.evaluations:
        cls = "ga-nodata" if e.passed is None else ("ga-pass" if e.passed else "ga-fail")
        rows.append(f"<tr data-target='{_esc(e.target.id)}'><td>{_esc(target_name(e.target, lang))}</td>"
                    f"<td><b>{_esc(value_text(e.value, e.target, lang))}</b></td>"
                    f"<td>{t['goal']} {_esc(goal_text(e.target, lang))}</td>"
                    f"<td class='{cls}'>{verdict_text(e.passed, lang)}</td></tr>")
    note = f"<div style='font-size:11px;color:#555'>{t['gcj_note']}</div>" if gcj else ""
    # the roads' ODbL credit only when the roads are OSM data (basemap tiles credit themselves)
    credit = f"<div style='font-size:11px;color:#555'>{ATTRIBUTION}</div>" if roads_from_osm(result.scenario) else ""
    return (f"<div id='geoaccess-title' class='ga-panel' lang='{lang}'>"
            f"<div class='ga-name'>{_esc(result.scenario.name)}</div><table>{''.join(rows)}</table>{note}"
            f"{credit}</div>")


def _legend(result: "RunResult", lang: str, kinds: list[str], tiers: dict[str, int], has_gaps: bool,
            has_sites: bool) -> str:
    t = TEXT[lang]
    parts = [f"<div id='geoaccess-legend' class='ga-panel' lang='{lang}'>"]
    for e in result.evaluations:
        colours = [*CLASS_COLOURS, UNREACHABLE_COLOUR]
        cells = "".join(
            f"<span style='background:{c};color:{'#fff' if i in (0, 5, 6) else '#222'}'>{_esc(label)}</span>"
            for i, (c, label) in enumerate(zip(colours, class_labels(e.target, lang))))
        parts.append(f"<div id='ga-legend-{_esc(e.target.id)}'><div class='ga-h'>{t['travel_time']} · "
                     f"{_esc(target_name(e.target, lang))}（{t['minutes']}）</div><div class='ga-bar'>{cells}</div></div>"
                     if lang == "zh" else
                     f"<div id='ga-legend-{_esc(e.target.id)}'><div class='ga-h'>{t['travel_time']} · "
                     f"{_esc(target_name(e.target, lang))} ({t['minutes']})</div><div class='ga-bar'>{cells}</div></div>")
    parts.append(f"<div class='ga-h'>{t['facilities']}</div>")
    for k in kinds:
        r = TIER_RADIUS.get(tiers.get(k, 9), 4)
        parts.append(f"<div id='ga-legend-kind-{_esc(k)}'><span class='ga-sw' style='background:"
                     f"{KIND_COLOURS.get(k, KIND_COLOURS['other'])};width:{r + 4}px;height:{r + 4}px'></span>"
                     f"{_esc(kind_label(k, lang))}</div>")
    if result.units is not None and len(result.units):
        parts.append(f"<div class='ga-h'>{t['units']}</div>"
                     f"<div><span class='ga-box' style='border-color:{PASS_COLOUR}'></span>{t['all_pass']} "
                     f"<span class='ga-box' style='border-color:{FAIL_COLOUR};margin-left:8px'></span>{t['some_fail']}</div>")
    if has_gaps:
        parts.append(f"<div id='ga-legend-gaps'><span class='ga-sw' style='background:{GAP_COLOUR}'></span>{t['gaps']}</div>")
    if has_sites:
        parts.append(f"<div id='ga-legend-sites'>{_site_icon('1')} {t['sites']}</div>")
    parts.append("</div>")
    return "".join(parts)


def _served(result: "RunResult") -> dict[str, dict[str, float]]:
    """Per target id: population whose nearest counted facility is each facility_id."""
    out: dict[str, dict[str, float]] = {}
    for e in result.evaluations:
        col = f"{e.target.id}_facility"
        if col in result.demand:
            sums = result.demand.groupby(result.demand[col].astype(str))["pop"].sum()
            out[e.target.id] = {k: float(v) for k, v in sums.items() if k}
    return out


def _facility_features(fac: gpd.GeoDataFrame, lon: np.ndarray, lat: np.ndarray, kind: str, tier: int, lang: str,
                       served: dict[str, dict[str, float]], evaluations: list["Evaluation"]) -> list[dict]:
    t = TEXT[lang]
    colour = KIND_COLOURS.get(kind, KIND_COLOURS["other"])
    style = {"radius": TIER_RADIUS.get(tier, 4), "color": "#ffffff", "weight": 1.5, "fillColor": colour,
             "fillOpacity": 1.0}
    feats = []
    for row, x, y in zip(fac.to_dict(orient="records"), lon, lat):  # dicts: iterrows builds a Series per row
        fid = str(row.get("facility_id", ""))
        raw_type = row.get("type", "")
        type_text = kind_label(kind, lang)
        if raw_type is not None and str(raw_type) not in ("", "nan", kind):
            type_text += f" ({raw_type})"  # escaped once, below
        rows = [(t["type"], _esc(type_text))]
        cap = row.get("capacity")
        if cap is not None and not (isinstance(cap, float) and math.isnan(cap)):
            rows.append((t["capacity"], _num(cap)))
        for i, e in enumerate(evaluations):
            pop = served.get(e.target.id, {}).get(fid, 0.0)
            if i == 0 or pop > 0:
                label = f"{t['served']} · {target_name(e.target, lang)}"
                rows.append((label, f"{_num(pop)} {t['people']}"))
        name = str(row.get("name", "") or fid)
        feats.append(_feature(_point(x, y), {"s": style, "p": _popup_table(name, rows), "t": _esc(name)}))
    return feats


def _isochrone_features(iso: gpd.GeoDataFrame, target: "Target", display: _Display) -> list[dict]:
    # Bands the run simplified as one coverage already are not simplified again.
    done = float(iso.attrs.get("simplified_m") or 0.0) >= ISOCHRONE_SIMPLIFY_M
    iso = iso[~(iso.geometry.isna() | iso.geometry.is_empty)]
    if not len(iso):
        return []
    geoms = display.geoms(iso, simplify_m=0.0 if done else ISOCHRONE_SIMPLIFY_M)
    texts = shapely.to_geojson(geoms)  # one call for every band
    lo = iso["min_minutes"].to_numpy(float) if "min_minutes" in iso else np.zeros(len(iso))
    hi = iso["max_minutes"].to_numpy(float) if "max_minutes" in iso else lo
    cls = minutes_class((lo + hi) / 2, target)
    feats = []
    for g, text, c, band in zip(geoms, texts, cls, iso["band"] if "band" in iso else [""] * len(iso)):
        if g is None or g.is_empty:
            continue
        colour = CLASS_COLOURS[c] if c < len(CLASS_COLOURS) else UNREACHABLE_COLOUR
        feats.append(_feature(text, {"s": {"color": colour, "weight": 0.6, "fillColor": colour, "fillOpacity": 0.35,
                                        "opacity": 0.8}, "band": str(band)}))
    return feats


def _unit_features(result: "RunResult", lang: str, display: _Display) -> list[dict]:
    t = TEXT[lang]
    units = result.units
    per_unit: dict[str, list[tuple["Evaluation", dict]]] = {}
    for e in result.evaluations:
        for row in e.units.to_dict(orient="records"):
            per_unit.setdefault(str(row.get("name")), []).append((e, row))
    geoms = display.geoms(units, simplify_m=10.0)
    feats = []
    for (_, u), g in zip(units.iterrows(), geoms):
        if g is None or g.is_empty:
            continue
        name = str(u.get("unit", ""))
        rows = per_unit.get(name, [])
        verdicts = [r.get("passed") for _, r in rows]
        known = [v for v in verdicts if v is not None and not (isinstance(v, float) and math.isnan(v))]
        colour = NODATA_COLOUR if not known else (PASS_COLOUR if all(bool(v) for v in known) else FAIL_COLOUR)
        body = "".join(
            f"<tr><th>{_esc(target_name(e.target, lang))}</th><td>{_esc(value_text(r.get('value'), e.target, lang))}"
            f"</td><td style='color:{verdict_colour(r.get('passed'))};font-weight:bold'>"
            f"&nbsp;{verdict_text(r.get('passed'), lang)}</td></tr>"
            + (f"<tr><td colspan='3' style='font-size:11px;color:#555'>{_esc(why)}</td></tr>"
               if (why := unreachable_note(r.get('value'), r.get('passed'), e.target, lang,
                                           r.get('population_unreachable'), r.get('population_total'))) else "")
            for e, r in rows)
        pop = rows[0][1].get("population_total") if rows else None
        pop_line = f"<div>{t['population']}: {_num(pop)} {t['people']}</div>" if pop is not None else ""
        popup = f"<div class='ga-popup'><b>{_esc(name)}</b>{pop_line}<table>{body}</table></div>"
        feats.append(_feature(g, {"s": {"color": colour, "weight": 2.5, "opacity": 0.9, "fill": True,
                                        "fillColor": colour, "fillOpacity": 0.03}, "p": popup, "t": _esc(name), "l": 1}))
    # Neighbours share borders and a later outline paints over an earlier one: failing units
    # go last, so a failing unit is red all round, never hidden by its passing neighbours' green.
    rank = {PASS_COLOUR: 0, NODATA_COLOUR: 1, FAIL_COLOUR: 2}
    return sorted(feats, key=lambda f: rank.get(f["properties"]["s"]["color"], 1))


def _minutes(v: float, threshold_min: float) -> str:
    return np.format_float_positional(minutes_beside([v], threshold_min)[0], unique=True, min_digits=1)


def _gap_features(gaps: gpd.GeoDataFrame, target: "Target", lang: str, display: _Display,
                  names: dict[str, str]) -> list[dict]:
    t = TEXT[lang]
    lon, lat = display.points(gaps)
    pop = gaps["pop"].to_numpy(float) if "pop" in gaps else np.ones(len(gaps))
    top = max(float(np.nanmax(pop)) if len(pop) else 1.0, 1e-9)
    # Minutes are never rounded onto the other side of the threshold (15.04 stays 15.04), as in gaps.csv.
    threshold = float(gaps.attrs.get("threshold_min", target.threshold_min))
    feats = []
    for i, (row, x, y) in enumerate(zip(gaps.to_dict(orient="records"), lon, lat)):
        gid = row.get("gap_id", i + 1)
        rows = [(t["population"], f"{_num(row.get('pop'))} {t['people']}")]
        if "n_points" in row:
            rows.append((t["cells"], _num(row.get("n_points"))))
        for key, label in (("mean_minutes", "mean_time"), ("max_minutes", "max_time")):
            if key in row:
                v = row.get(key)
                rows.append((t[label], t["unreachable"] if v is None or not math.isfinite(float(v))
                             else f"{_minutes(float(v), threshold)} {t['min']}"))
        if "nearest_facility" in row and row.get("nearest_facility") not in (None, ""):
            fid = str(row.get("nearest_facility"))
            rows.append((t["nearest"], _esc(names.get(fid, fid))))
        units = next((row.get(k) for k in ("units", "admin") if k in row and row.get(k) not in (None, "")), None)
        if units is not None:
            rows.append((t["unit"], _esc("、".join(units) if isinstance(units, (list, tuple)) else units)))
        radius = 5 + 15 * math.sqrt(max(float(pop[i]), 0.0) / top)
        style = {"radius": radius, "color": "#ffffff", "weight": 1.5, "fillColor": GAP_COLOUR, "fillOpacity": 0.75}
        title = f"{t['gap']} {gid} · {target_name(target, lang)}"
        feats.append(_feature(_point(x, y), {"s": style, "p": _popup_table(title, rows),
                                             "t": f"{_esc(title)}: {_num(row.get('pop'))} {t['people']}"}))
    return feats


def _site_icon(label: str) -> str:
    return ("<svg xmlns='http://www.w3.org/2000/svg' width='26' height='26' viewBox='0 0 26 26'>"
            f"<polygon points='13,1 16.5,9 25,9.5 18.5,15 20.5,24 13,19.5 5.5,24 7.5,15 1,9.5 9.5,9' fill='{SITE_COLOUR}'"
            " stroke='#fff' stroke-width='1.5'/>"
            f"<text x='13' y='16.5' font-size='8' font-weight='bold' text-anchor='middle' fill='#fff'"
            f" font-family='sans-serif'>{_esc(label)}</text></svg>")


def _site_features(sites: pd.DataFrame, target: "Target", lang: str, display: _Display, crs: Any) -> list[dict]:
    t = TEXT[lang]
    if not isinstance(sites, gpd.GeoDataFrame):
        if "geometry" in sites:
            sites = gpd.GeoDataFrame(sites, geometry="geometry", crs=crs)
        elif {"lon", "lat"} <= set(sites.columns):
            sites = gpd.GeoDataFrame(sites, geometry=gpd.points_from_xy(sites["lon"], sites["lat"]), crs="EPSG:4326")
        else:
            return []
    if sites.crs is None:
        sites = sites.set_crs(crs)
    lon, lat = display.points(sites)
    feats = []
    for i, ((_, row), x, y) in enumerate(zip(sites.iterrows(), lon, lat)):
        rank = row.get("rank", i + 1)
        rows = [(t["rank"], _esc(rank))]
        if "gain" in row:  # people, or minutes saved (p-median / p-center: "measure" says minutes)
            rows.append((t["gain"], f"−{float(row['gain']):.1f} {t['min']}" if "min" in str(row.get("measure", "")) else f"{_num(row.get('gain'))} {t['people']}"))
        if "site_id" in row:
            rows.append(("ID", _esc(row.get("site_id"))))
        title = f"{t['site']} {rank} · {target_name(target, lang)}"
        feats.append(_feature(_point(x, y), {"icon": _site_icon(str(rank)), "p": _popup_table(title, rows),
                                             "t": _esc(title)}))
    return feats


def write_map(result: "RunResult", path: str | Path, lang: str = "zh", self_contained: bool | None = None,
              basemap: str | None = None, tianditu_key: str | None = None) -> Path:
    """Write the run's map to ``path`` (HTML, UTF-8), atomically.

    ``self_contained=None`` takes the scenario's ``[map] self_contained`` (default True:
    Leaflet inline, the page opens offline).
    """
    if self_contained is None:
        self_contained = bool((getattr(result.scenario, "map", None) or {}).get("self_contained", True))
    fmap = map_from_result(result, lang=lang, basemap=basemap, self_contained=self_contained,
                           tianditu_key=tianditu_key)
    page = fmap.get_root().render()
    return write_with(path, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
