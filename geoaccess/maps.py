"""Interactive Folium web maps of a run.

Layers: demand coloured by travel time (one layer per target), facilities by kind, and a
title panel with every target's value against its goal. Labels in Chinese or English.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import TYPE_CHECKING

import branca.colormap as cm
import folium

from .io import write_with

if TYPE_CHECKING:
    from .pipeline import RunResult

ATTRIBUTION = "© OpenStreetMap contributors"
KIND_COLOURS = {
    "county_hospital": "#b2182b", "sub_centre": "#d6604d", "hospital": "#e7298a", "township_health_centre": "#7570b3",
    "community_health_centre": "#1b9e77", "community_health_station": "#66a61e", "village_clinic": "#e6ab02",
    "clinic": "#a6761d", "doctors": "#666666", "ems_station": "#e41a1c", "pharmacy": "#377eb8", "other": "#999999",
}
TEXT = {
    "zh": {"facilities": "医疗机构", "minutes": "分钟", "passed": "达标", "failed": "未达标", "goal": "目标",
           "unreachable": "不可达", "time_to": "到达时间"},
    "en": {"facilities": "Facilities", "minutes": "min", "passed": "PASS", "failed": "FAIL", "goal": "goal",
           "unreachable": "unreachable", "time_to": "Time"},
}


def map_from_result(result: "RunResult", lang: str = "zh") -> folium.Map:
    """A Folium map of a run's demand times, facilities and target verdicts."""
    t = TEXT[lang]
    demand = result.demand.to_crs("EPSG:4326")
    facilities = result.facilities.to_crs("EPSG:4326")
    bounds = demand.total_bounds
    fmap = folium.Map(location=[(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2], zoom_start=14,
                      tiles=None, control_scale=True)
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap", attr=ATTRIBUTION).add_to(fmap)
    fmap.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    for i, e in enumerate(result.evaluations):
        column = f"{e.target.id}_min"
        if column not in demand:
            continue
        limit = max(e.target.threshold_min * 2, 1.0)
        colours = cm.LinearColormap(["#1a9850", "#fee08b", "#d73027"], vmin=0, vmax=limit,
                                    caption=f"{_name(e.target, lang)} ({t['minutes']})")
        layer = folium.FeatureGroup(name=f"{_name(e.target, lang)}", show=i == 0)
        minutes = demand[column].to_numpy(float)
        for lon, lat, m, pop in zip(demand.geometry.x, demand.geometry.y, minutes, demand["pop"]):
            label = t["unreachable"] if not math.isfinite(m) else f"{m:.1f} {t['minutes']}"
            folium.CircleMarker([lat, lon], radius=4, stroke=False, fill=True, fill_opacity=0.7,
                                fill_color=colours(min(m, limit)) if math.isfinite(m) else "#000000",
                                tooltip=f"{label} · {pop:.0f}").add_to(layer)
        layer.add_to(fmap)
        if i == 0:
            colours.add_to(fmap)
    fac_layer = folium.FeatureGroup(name=t["facilities"])
    for _, row in facilities.iterrows():
        colour = KIND_COLOURS.get(str(row.get("kind")), KIND_COLOURS["other"])
        folium.CircleMarker([row.geometry.y, row.geometry.x], radius=7, color="#ffffff", weight=2, fill=True,
                            fill_color=colour, fill_opacity=1.0,
                            popup=folium.Popup(html.escape(f"{row.get('name', '')} ({row.get('type', '')})"))
                            ).add_to(fac_layer)
    fac_layer.add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.get_root().html.add_child(folium.Element(_title_panel(result, lang)))
    return fmap


def _name(target, lang: str) -> str:
    return target.name_zh if lang == "zh" else target.name_en


def _title_panel(result: "RunResult", lang: str) -> str:
    from .pipeline import fmt_goal, fmt_value

    t = TEXT[lang]
    rows = "".join(
        f"<tr><td>{html.escape(_name(e.target, lang))}</td><td><b>{fmt_value(e)}</b></td>"
        f"<td>{t['goal']} {html.escape(fmt_goal(e.target))}</td>"
        f"<td style='color:{'#1a9850' if e.passed else '#d73027'}'><b>{t['passed'] if e.passed else t['failed']}</b></td></tr>"
        for e in result.evaluations
    )
    return (
        "<div id='geoaccess-title' style='position:fixed;top:10px;left:50px;z-index:9999;background:white;"
        "padding:8px 12px;border-radius:6px;box-shadow:0 1px 5px rgba(0,0,0,.4);font:13px sans-serif'>"
        f"<div style='font-size:16px;font-weight:bold'>{html.escape(result.scenario.name)}</div>"
        f"<table>{rows}</table><div style='font-size:11px;color:#555'>{ATTRIBUTION}</div></div>"
    )


def write_map(result: "RunResult", path: str | Path, lang: str = "zh") -> Path:
    """Write the run's map to ``path`` (HTML), atomically."""
    fmap = map_from_result(result, lang)
    return write_with(path, lambda tmp: fmap.save(str(tmp)))
