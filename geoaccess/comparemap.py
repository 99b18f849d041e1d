"""The demand cells that changed between two runs, on a Leaflet map (``compare_map.html``).

:func:`change_map` draws, per target, the cells whose people came within the target's
threshold (newly covered), fell beyond it (newly uncovered), or got faster or slower
without crossing it, as circle markers coloured by the change, with a popup of the
minutes before and after. It uses the run map's machinery (:mod:`geoaccess.maplayers`):
Leaflet inline (opens offline), the same basemaps, panes and ``window.geoaccess`` wiring.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import folium
import geopandas as gpd

from .io import write_with
from .maplayers import GeoLayer, LayerControl, RawHtml, TileGroup, _Display, _esc, _inline_leaflet, _leaflet_links, \
    _num, _Panes, _popup_table, _tiles, _Wiring
from .maps import TEXT as MAP_TEXT
from .results import FAIL_COLOUR, PASS_COLOUR, check_lang

CHANGES = ("newly_covered", "faster", "slower", "newly_uncovered")  # the ``change`` values, legend order
CHANGE_COLOURS = {"newly_covered": PASS_COLOUR, "faster": "#4393c3", "slower": "#f4a582", "newly_uncovered": FAIL_COLOUR}
TEXT = {
    "zh": {"newly_covered": "新增覆盖", "faster": "更快（覆盖不变）", "slower": "更慢（覆盖不变）",
           "newly_uncovered": "不再覆盖", "layer": "变化的人口格网", "unit": "所在乡镇", "people": "人口", "ppl": "人",
           "before": "现状", "after": "规划", "min": "分钟", "unreachable": "不可达", "cells": "格网",
           "none": "两次运行之间没有格网发生变化。", "osm": "OpenStreetMap", "light": "浅色底图（CARTO）",
           "no_basemap": "无底图", "title": "现状 vs 规划：变化的人口格网"},
    "en": {"newly_covered": "newly covered", "faster": "faster (coverage unchanged)",
           "slower": "slower (coverage unchanged)", "newly_uncovered": "newly uncovered", "layer": "Cells that changed",
           "unit": "Township", "people": "People", "ppl": "people", "before": "current", "after": "planned", "min": "min",
           "unreachable": "unreachable", "cells": "cells", "none": "No demand cell changed between the two runs.",
           "osm": "OpenStreetMap", "light": "Light (CARTO)", "no_basemap": "No basemap",
           "title": "Current vs planned: cells that changed"},
}
_CSS = """
.ga-panel{background:rgba(255,255,255,.94);padding:8px 12px;border-radius:6px;box-shadow:0 1px 5px rgba(0,0,0,.4);
 font:13px/1.35 "Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;color:#222}
#geoaccess-title{position:absolute;top:10px;left:54px;z-index:1000;max-width:calc(100% - 360px)}
#geoaccess-title td{padding:1px 8px 1px 0}
.ga-sw{display:inline-block;width:12px;height:12px;border-radius:50%;margin-right:5px;vertical-align:-2px}
.ga-popup table{border-collapse:collapse;margin-top:3px}.ga-popup th{text-align:left;padding:1px 8px 1px 0;
 font-weight:normal;color:#555}
#geoaccess-offline{display:none;position:absolute;bottom:24px;right:10px;z-index:1000;max-width:340px;font-size:12px;
 background:#fff3cd;border:1px solid #e0b000}
"""


def _minutes(value: float, lang: str) -> str:
    t = TEXT[lang]
    return t["unreachable"] if not math.isfinite(value) else f"{value:.1f} {t['min']}"


def change_features(cells: gpd.GeoDataFrame, lang: str = "zh") -> list[dict]:
    """GeoJSON point features of changed cells, one per row of ``cells``.

    Parameters
    ----------
    cells
        Rows of :attr:`geoaccess.comparison.Comparison.cells` (one target): ``demand_id``,
        ``unit``, ``pop`` (people), ``minutes_before``/``minutes_after`` (minutes incl.
        dispatch delay; NaN = unreachable), ``change`` (one of :data:`CHANGES`), point geometry.
    lang
        ``zh`` or ``en``: the popup's words.

    Returns
    -------
    list of dict
        Features with properties ``demand_id``, ``change``, ``s`` (marker style), ``p`` (popup HTML).
    """
    t = TEXT[lang]
    if not len(cells):
        return []
    lon, lat = _Display(False).points(cells)
    feats = []
    # one feature per changed cell: a short loop over the (few) changed cells, not the demand table
    for (did, unit, pop, before, after, change), x, y in zip(
            cells[["demand_id", "unit", "pop", "minutes_before", "minutes_after", "change"]].itertuples(index=False),
            lon, lat):
        colour = CHANGE_COLOURS[change]
        popup = _popup_table(t[change], [(t["unit"], _esc(unit)), (t["people"], _num(pop)),
                                         (t["before"], _minutes(float(before), lang)),
                                         (t["after"], _minutes(float(after), lang))])
        feats.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(float(x), 6),
                                                                                          round(float(y), 6)]},
                      "properties": {"demand_id": str(did), "change": change, "p": popup,
                                     "s": {"radius": 5, "color": "#fff", "weight": 1, "fillColor": colour,
                                           "fillOpacity": 0.9}}})
    return feats


def change_map(cells: gpd.GeoDataFrame, names: dict[str, str], extent: tuple[float, float, float, float],
               title: str, lang: str = "zh", self_contained: bool = True) -> folium.Map:
    """A Leaflet map of the cells that changed: one layer per target, coloured by the change.

    Parameters
    ----------
    cells
        :attr:`geoaccess.comparison.Comparison.cells` (a ``target`` column and the columns
        :func:`change_features` reads), in any CRS.
    names
        Target id → the name shown (layers in this order; the first is shown on opening).
    extent
        ``(west, south, east, north)`` of the whole demand, degrees: the map's view.
    title
        The title panel's first line (e.g. the two run folders).
    lang
        ``zh`` or ``en``.
    self_contained
        Inline Leaflet (default: the file opens offline; only basemap tiles need the network).

    Returns
    -------
    folium.Map

    Raises
    ------
    InputError
        ``lang`` is not ``zh`` or ``en``.
    """
    check_lang(lang)
    t = TEXT[lang]
    west, south, east, north = extent
    fmap = folium.Map(location=[(south + north) / 2, (west + east) / 2], zoom_start=12, tiles=None,
                      control_scale=True)
    fmap.default_js, fmap.default_css = _leaflet_links(self_contained)
    if self_contained:
        fmap.get_root().header.add_child(RawHtml(_inline_leaflet()), name="leaflet_inline")
    fmap.get_root().header.add_child(RawHtml(f"<style>{_CSS}</style>"), name="geoaccess_css")
    fmap.get_root().title = _esc(title)
    fmap.fit_bounds([[south, west], [north, east]])
    fmap.add_child(_Panes())
    for key, name in (("osm", "osm"), ("light", "light"), ("none", "no_basemap")):
        TileGroup(t[name], _tiles(key, lang, None), show=key == "osm").add_to(fmap)
    registry, rows = [], []
    by_target = dict(tuple(cells.groupby("target", sort=False))) if len(cells) else {}
    for i, (tid, tname) in enumerate(names.items()):
        mine = by_target.get(tid, cells.iloc[:0])
        layer = GeoLayer(change_features(mine, lang), f"{t['layer']} · {tname}", "ga-gaps", show=i == 0)
        layer.raw_name, layer.layer_name = layer.layer_name, html.escape(layer.layer_name, quote=False)
        layer.add_to(fmap)
        registry.append((layer.raw_name, layer.get_name()))
        counts = "".join(f"<td><span class='ga-sw' style='background:{CHANGE_COLOURS[c]}'></span>{t[c]}: "
                         f"{_num(mine.loc[mine['change'] == c, 'pop'].sum())} {t['ppl']}</td>" for c in CHANGES)
        rows.append(f"<tr data-target='{_esc(tid)}'><td><b>{_esc(tname)}</b></td>{counts}</tr>")
    LayerControl(collapsed=False, position="topright").add_to(fmap)
    none = "" if len(cells) else f"<div>{t['none']}</div>"
    fmap.get_root().html.add_child(RawHtml(
        f"<div id='geoaccess-title' class='ga-panel' lang='{lang}'><div><b>{_esc(t['title'])}</b></div>"
        f"<div>{_esc(title)}</div><table>{''.join(rows)}</table>{none}</div>"
        f"<div id='geoaccess-offline' class='ga-panel' role='status'>{MAP_TEXT[lang]['offline']}</div>"))
    fmap.add_child(_Wiring(registry, {}, lang, "WGS84"))
    return fmap


def write_change_map(cells: gpd.GeoDataFrame, names: dict[str, str], extent: tuple[float, float, float, float],
                     title: str, path: str | Path, lang: str = "zh") -> Path:
    """Write :func:`change_map` to ``path`` (HTML, UTF-8, Leaflet inline), atomically."""
    page = change_map(cells, names, extent, title, lang=lang).get_root().render()
    return write_with(Path(path), lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
