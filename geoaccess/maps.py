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

``self_contained=True`` inlines Leaflet 1.9.4 (vendored under ``geoaccess/static``) and
nothing else is loaded, so the file opens on an offline intranet (only basemap tiles need
the network; choose "no basemap" there).
"""

from __future__ import annotations

import base64
import html
import json
import math
import struct
import zlib
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from folium.template import Template
from pyproj import Transformer
from scipy.spatial import cKDTree

from .coords import wgs84_to_gcj02
from .errors import InputError
from .io import write_with
from .results import (ATTRIBUTION, FAIL_COLOUR, NODATA_COLOUR, PASS_COLOUR, check_lang, goal_text, target_name, value_text,
                      verdict_colour, verdict_text)

if TYPE_CHECKING:
    from .results import RunResult
    from .targets import Evaluation, Target

OSM_ATTR = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
LEAFLET_VERSION = "1.9.4"
LEAFLET_CDN = f"https://cdn.jsdelivr.net/npm/leaflet@{LEAFLET_VERSION}/dist"
STATIC = Path(__file__).with_name("static") / "leaflet"
BASEMAPS = ("osm", "light", "tianditu", "amap", "none")

KIND_COLOURS = {
    "county_hospital": "#b2182b", "sub_centre": "#d6604d", "hospital": "#e7298a", "township_health_centre": "#7570b3",
    "community_health_centre": "#1b9e77", "community_health_station": "#66a61e", "village_clinic": "#e6ab02",
    "clinic": "#a6761d", "doctors": "#666666", "ems_station": "#e41a1c", "pharmacy": "#377eb8", "other": "#999999",
}
TIER_RADIUS = {1: 10, 2: 8, 3: 7, 4: 5, 5: 4}
# Travel-time classes: three within the threshold (greens), three beyond it (oranges to dark
# red), and unreachable. Breaks are fractions of the target's threshold.
CLASS_FRACTIONS = (1 / 3, 2 / 3, 1.0, 1.5, 2.0)
CLASS_COLOURS = ("#1a9850", "#91cf60", "#d9ef8b", "#fdae61", "#f46d43", "#a50026")
UNREACHABLE_COLOUR = "#3b3b3b"
GAP_COLOUR, SITE_COLOUR = "#7b3294", "#2166ac"

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
    },
}


# --------------------------------------------------------------------------- text helpers


def class_breaks(target: "Target") -> list[float]:
    """Upper limits (minutes) of the travel-time classes of ``target``."""
    return [round(target.threshold_min * f, 1) for f in CLASS_FRACTIONS]


def class_labels(target: "Target", lang: str) -> list[str]:
    b = class_breaks(target)
    lows = [0.0, *b]
    labels = [f"{lo:g}–{hi:g}" for lo, hi in zip(lows, b)] + [f"> {b[-1]:g}"]
    return labels + [TEXT[lang]["unreachable"]]


def minutes_class(minutes: np.ndarray, target: "Target") -> np.ndarray:
    """Class index per value: 0..5 for the time classes, 6 for unreachable (inf/NaN)."""
    m = np.asarray(minutes, dtype=float)
    cls = np.searchsorted(np.asarray(class_breaks(target)), m, side="left")
    cls = np.minimum(cls, len(CLASS_COLOURS) - 1)
    return np.where(np.isfinite(m), cls, len(CLASS_COLOURS)).astype(np.uint8)


@lru_cache(maxsize=1)
def _kinds() -> dict[str, dict]:
    from .facilities import load_facility_types

    return load_facility_types()


def kind_label(kind: str, lang: str) -> str:
    table = _kinds().get(str(kind))
    if table is None:
        return "其他" if lang == "zh" and str(kind) in ("other", "nan", "None", "") else str(kind)
    return table["name_zh"] if lang == "zh" else table["name_en"]


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _num(value: Any, digits: int = 0) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return _esc(value)
    if not math.isfinite(v):
        return "–"
    return f"{v:,.{digits}f}"


def _popup_table(title: str, rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<div class='ga-popup'><b>{_esc(title)}</b><table>{body}</table></div>"


# --------------------------------------------------------------------------- geometry helpers


class _Display:
    """Projects run geometry to the map's lon/lat: WGS84, or GCJ-02 on Amap tiles."""

    def __init__(self, gcj: bool):
        self.gcj = gcj

    def lonlat(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not self.gcj:
            return np.asarray(lon, float), np.asarray(lat, float)
        return wgs84_to_gcj02(np.asarray(lon, float), np.asarray(lat, float))

    def geoms(self, gdf: gpd.GeoDataFrame, simplify_m: float = 0.0) -> np.ndarray:
        """Geometries in display lon/lat, simplified (metres, in the source CRS) and rounded to ~1 m."""
        geoms = gdf.geometry
        if simplify_m and gdf.crs is not None and gdf.crs.is_projected:
            geoms = geoms.simplify(simplify_m, preserve_topology=True)
        geoms = geoms.to_crs("EPSG:4326") if gdf.crs is not None else geoms
        arr = np.asarray(geoms.values, dtype=object)
        if self.gcj:
            arr = shapely.transform(arr, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
        arr = shapely.set_precision(arr, 1e-5)
        return arr

    def points(self, gdf: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
        g = gdf.geometry.to_crs("EPSG:4326") if gdf.crs is not None else gdf.geometry
        g = g.representative_point() if not (g.geom_type == "Point").all() else g
        return self.lonlat(g.x.to_numpy(), g.y.to_numpy())


def _feature(geom: Any, props: dict) -> dict:
    return {"type": "Feature", "geometry": shapely.geometry.mapping(geom) if not isinstance(geom, dict) else geom,
            "properties": props}


def _point(lon: float, lat: float) -> dict:
    return {"type": "Point", "coordinates": [round(float(lon), 6), round(float(lat), 6)]}


def _js(value: Any) -> str:
    """JSON safe to place inside a <script> element."""
    # every "<" escaped: no "</script>" and no "<!--" (which changes how the script is parsed)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


# --------------------------------------------------------------------------- Leaflet layers


class GeoLayer(folium.map.Layer):
    """A GeoJSON layer drawn by a small Leaflet script: per-feature ``style`` and ``popup``.

    Points become circle markers (``style``) or SVG div-icons (``icon`` = HTML).
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.geoJSON({{ this.data }}, {
            pane: {{ this.pane|tojson }},
            interactive: {{ this.interactive|tojson }},
            style: function (f) { return f.properties.s || {}; },
            pointToLayer: function (f, ll) {
                var s = Object.assign({pane: {{ this.pane|tojson }}}, f.properties.s || {});
                if (f.properties.icon) {
                    return L.marker(ll, {pane: {{ this.pane|tojson }}, icon: L.divIcon({
                        html: f.properties.icon, className: "ga-icon", iconSize: [26, 26], iconAnchor: [13, 13],
                        popupAnchor: [0, -12]})});
                }
                return L.circleMarker(ll, s);
            },
            onEachFeature: function (f, layer) {
                if (f.properties.p) { layer.bindPopup(f.properties.p, {maxWidth: 380}); }
                if (f.properties.t) { layer.bindTooltip(f.properties.t, {sticky: true}); }
            }
        });
        {% endmacro %}
        """
    )

    def __init__(self, features: list[dict], name: str, pane: str, show: bool = True, interactive: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "GeoLayer"
        self.data = _js({"type": "FeatureCollection", "features": features})
        self.pane, self.interactive = pane, interactive
        self.n_features = len(features)


class PngOverlay(folium.map.Layer):
    """An ``L.imageOverlay`` of an embedded PNG (data URL) on lat/lon bounds, pixelated."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.imageOverlay({{ this.url|tojson }}, {{ this.bounds|tojson }}, {
            pane: {{ this.pane|tojson }}, opacity: {{ this.opacity|tojson }}, interactive: false,
            className: "ga-raster"});
        {% endmacro %}
        """
    )

    def __init__(self, png: bytes, bounds: list[list[float]], name: str, pane: str, show: bool = True,
                 opacity: float = 0.75):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "PngOverlay"
        self.url = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        self.bounds, self.pane, self.opacity = bounds, pane, opacity


class TileGroup(folium.map.Layer):
    """A base layer made of one or more tile layers (Tianditu: map + labels), or of none."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.layerGroup([
        {%- for t in this.tiles %}
            L.tileLayer({{ t.url|tojson }}, {{ t.options|tojson }}){{ "," if not loop.last }}
        {%- endfor %}
        ]);
        {% endmacro %}
        """
    )

    def __init__(self, name: str, tiles: list[dict], show: bool = False):
        super().__init__(name=name, overlay=False, control=True, show=show)
        self._name = "TileGroup"
        self.tiles = tiles


class _Panes(MacroElement):
    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {%- for name, z, events in this.panes %}
        {{ this._parent.get_name() }}.createPane({{ name|tojson }});
        {{ this._parent.get_name() }}.getPane({{ name|tojson }}).style.zIndex = {{ z }};
        {%- if not events %}
        {{ this._parent.get_name() }}.getPane({{ name|tojson }}).style.pointerEvents = "none";
        {%- endif %}
        {%- endfor %}
        {% endmacro %}
        """
    )

    # bottom to top; Leaflet's own: tiles 200, overlay 400, markers 600, tooltips 650, popups 700
    panes = (("ga-iso", 350, False), ("ga-demand", 360, False), ("ga-units", 400, True),
             ("ga-gaps", 605, True), ("ga-facilities", 610, True), ("ga-sites", 620, True))

    def __init__(self):
        super().__init__()
        self._name = "Panes"


class _Wiring(MacroElement):
    """Registers the layers on ``window.geoaccess`` and shows each legend with its layers."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            var layers = {
            {%- for name, var in this.layers %}
                {{ name|tojson }}: {{ var }}{{ "," if not loop.last }}
            {%- endfor %}
            };
            var legends = {{ this.legends|tojson }};
            function refresh() {
                Object.keys(legends).forEach(function (id) {
                    var on = legends[id].some(function (n) { return map.hasLayer(layers[n]); });
                    var el = document.getElementById(id);
                    if (el) { el.style.display = on ? "" : "none"; }
                });
            }
            map.on("overlayadd overlayremove", refresh);
            refresh();
            window.geoaccess = {map: map, layers: layers, lang: {{ this.lang|tojson }},
                                crs: {{ this.display_crs|tojson }}};
        })();
        {% endmacro %}
        """
    )

    def __init__(self, layers: list[tuple[str, str]], legends: dict[str, list[str]], lang: str, display_crs: str):
        super().__init__()
        self._name = "Wiring"
        self.layers, self.legends, self.lang, self.display_crs = layers, legends, lang, display_crs


# --------------------------------------------------------------------------- demand raster


def _png_palette(index: np.ndarray, palette: list[tuple[int, int, int, int]]) -> bytes:
    """A palette PNG (colour type 3, with transparency) of a 2-D uint8 index array."""
    h, w = index.shape
    raw = np.zeros((h, w + 1), dtype=np.uint8)  # filter byte 0 per row
    raw[:, 1:] = index

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0))
            + chunk(b"PLTE", bytes(c for p in palette for c in p[:3]))
            + chunk(b"tRNS", bytes(p[3] for p in palette))
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), 9)) + chunk(b"IEND", b""))


def _hex_rgba(colour: str, alpha: int = 255) -> tuple[int, int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16), alpha


_R = 6378137.0


def _merc(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _R * np.radians(lon), _R * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))


def _unmerc(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.degrees(x / _R), np.degrees(2 * np.arctan(np.exp(y / _R)) - np.pi / 2)


class DemandGrid:
    """Demand points resampled onto a Web-Mercator-aligned pixel grid (nearest point).

    A pixel takes the value of the nearest demand point within 0.75 cell sizes, so gridded
    demand (raster cells) renders as its cells and scattered demand (building points) as
    patches; elsewhere the pixel is transparent. One grid serves every target.
    """

    def __init__(self, demand: gpd.GeoDataFrame, display: _Display, max_pixels: int = 4_000_000):
        xy = np.column_stack([demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy()])
        self.cell_m = _cell_size(demand, xy)
        to_ll = Transformer.from_crs(demand.crs, "EPSG:4326", always_xy=True)
        lon, lat = display.lonlat(*to_ll.transform(xy[:, 0], xy[:, 1]))
        mx, my = _merc(lon, lat)
        scale = 1.0 / math.cos(math.radians(float(np.mean(lat)) if len(lat) else 0.0))  # ground m -> mercator m
        cell = self.cell_m * scale
        px = cell / 2.0  # two pixels per cell side keeps rotated grids crisp
        x0, x1 = mx.min() - cell, mx.max() + cell
        y0, y1 = my.min() - cell, my.max() + cell
        while (x1 - x0) / px * (y1 - y0) / px > max_pixels:
            px *= 1.25
        self.width, self.height = max(int(math.ceil((x1 - x0) / px)), 1), max(int(math.ceil((y1 - y0) / px)), 1)
        x1, y0 = x0 + self.width * px, y1 - self.height * px
        cx = x0 + (np.arange(self.width) + 0.5) * px
        cy = y1 - (np.arange(self.height) + 0.5) * px
        gx, gy = np.meshgrid(cx, cy)
        tree = cKDTree(np.column_stack([mx, my]))
        dist, idx = tree.query(np.column_stack([gx.ravel(), gy.ravel()]), distance_upper_bound=0.75 * cell)
        self.index = np.where(np.isfinite(dist), idx, -1).reshape(self.height, self.width)
        w, s = _unmerc(np.array([x0]), np.array([y0]))
        e, n = _unmerc(np.array([x1]), np.array([y1]))
        self.bounds = [[round(float(s[0]), 7), round(float(w[0]), 7)], [round(float(n[0]), 7), round(float(e[0]), 7)]]

    def png(self, minutes: np.ndarray, target: "Target") -> bytes:
        cls = minutes_class(minutes, target).astype(np.int16) + 1  # 0 = transparent
        img = np.where(self.index >= 0, cls[np.clip(self.index, 0, None)], 0).astype(np.uint8)
        palette = [(0, 0, 0, 0)] + [_hex_rgba(c) for c in CLASS_COLOURS] + [_hex_rgba(UNREACHABLE_COLOUR)]
        return _png_palette(img, palette)


def _cell_size(demand: gpd.GeoDataFrame, xy: np.ndarray) -> float:
    """Demand cell size in metres: from ``cell_area_m2`` when given, else the median neighbour spacing."""
    if "cell_area_m2" in demand and demand["cell_area_m2"].notna().any():
        size = math.sqrt(float(np.nanmedian(demand["cell_area_m2"].to_numpy(float))))
    elif len(xy) > 1:
        d, _ = cKDTree(xy).query(xy, k=2)
        size = float(np.median(d[:, 1]))
    else:
        size = 100.0
    return float(min(max(size, 10.0), 2000.0))


# --------------------------------------------------------------------------- the map


def _tiles(basemap: str, lang: str, key: str | None) -> list[dict]:
    if basemap == "osm":
        return [{"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                 "options": {"attribution": OSM_ATTR, "maxZoom": 19}}]
    if basemap == "light":
        return [{"url": "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png",
                 "options": {"attribution": OSM_ATTR + ' &copy; <a href="https://carto.com/attributions">CARTO</a>',
                             "subdomains": "abcd", "maxZoom": 20}}]
    if basemap == "tianditu":
        wmts = ("https://t{s}.tianditu.gov.cn/%s_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=%s"
                "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=" + str(key))
        labels = "cva" if lang == "zh" else "eva"
        opts = {"subdomains": "01234567", "maxZoom": 18,
                "attribution": '&copy; <a href="https://www.tianditu.gov.cn/">天地图</a>'}
        return [{"url": wmts % ("vec", "vec"), "options": opts},
                {"url": wmts % (labels, labels), "options": {**opts, "attribution": ""}}]
    if basemap == "amap":
        amap_lang = "zh_cn" if lang == "zh" else "en"
        return [{"url": "https://webrd0{s}.is.autonavi.com/appmaptile?lang=%s&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
                        % amap_lang,
                 "options": {"subdomains": "1234", "maxZoom": 18,
                             "attribution": '&copy; <a href="https://www.amap.com/">高德地图 AutoNavi</a>'}}]
    return []


def map_from_result(result: "RunResult", lang: str = "zh", basemap: str | None = None, self_contained: bool = False,
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
        Inline Leaflet (no CDN); the only network use left is basemap tiles.
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
        fmap.get_root().header.add_child(Element(_inline_leaflet()), name="leaflet_inline")
    fmap.get_root().header.add_child(Element(f"<style>{_CSS}</style>"), name="geoaccess_css")
    fmap.get_root().title = _esc(f"{result.scenario.name} · geoaccess")  # branca puts it in <title> raw
    fmap.fit_bounds([[south, west], [north, east]])
    fmap.add_child(_Panes())

    # basemaps (radio buttons); the chosen one is shown first
    offered = ["amap", "none"] if gcj else ["osm", "light"] + (["tianditu"] if key else []) + ["none"]
    for name in offered:
        TileGroup(t[name], _tiles(name, lang, key), show=name == basemap).add_to(fmap)

    registry: list[tuple[str, str]] = []
    legends: dict[str, list[str]] = {}
    first = result.evaluations[0].target.id if result.evaluations else None

    def add(layer: folium.map.Layer) -> folium.map.Layer:
        # Leaflet's layer control shows names as HTML: it gets them escaped; window.geoaccess the raw ones
        layer.raw_name, layer.layer_name = layer.layer_name, html.escape(layer.layer_name, quote=False)
        layer.add_to(fmap)
        registry.append((layer.raw_name, layer.get_name()))
        return layer

    # travel-time areas: isochrones (bottom) and demand raster, one per target
    isochrones = getattr(result, "isochrones", None) or {}
    grid = DemandGrid(demand, display) if len(demand) else None
    for e in result.evaluations:
        tid, tname = e.target.id, target_name(e.target, lang)
        legend_layers = legends.setdefault(f"ga-legend-{tid}", [])
        iso = isochrones.get(tid)
        if iso is not None and len(iso):
            layer = add(GeoLayer(_isochrone_features(iso, e.target, display), f"{t['isochrones']} · {tname}",
                                 "ga-iso", show=False, interactive=False))
            legend_layers.append(layer.raw_name)
        column = f"{tid}_min"
        if grid is not None and column in demand:
            layer = add(PngOverlay(grid.png(demand[column].to_numpy(float), e.target), grid.bounds,
                                   f"{t['travel_time']} · {tname}", "ga-demand", show=tid == first))
            legend_layers.append(layer.raw_name)

    # admin units
    if result.units is not None and len(result.units):
        add(GeoLayer(_unit_features(result, lang, display), t["units"], "ga-units", show=True))

    # gaps and sites per target
    gaps, sites = getattr(result, "gaps", None) or {}, getattr(result, "sites", None) or {}
    names = dict(zip(result.facilities["facility_id"].astype(str), result.facilities["name"].astype(str)))
    for e in result.evaluations:
        tid, tname = e.target.id, target_name(e.target, lang)
        g = gaps.get(tid)
        if g is not None and len(g):
            layer = add(GeoLayer(_gap_features(g, e.target, lang, display, names), f"{t['gaps']} · {tname}",
                                 "ga-gaps", show=tid == first))
            legends.setdefault("ga-legend-gaps", []).append(layer.raw_name)
        s = sites.get(tid)
        if s is not None and len(s):
            layer = add(GeoLayer(_site_features(s, e.target, lang, display, demand.crs),
                                 f"{t['sites']} · {tname}", "ga-sites", show=tid == first))
            legends.setdefault("ga-legend-sites", []).append(layer.raw_name)

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

    folium.LayerControl(collapsed=False, position="topright").add_to(fmap)
    fmap.get_root().html.add_child(Element(_title_panel(result, lang, gcj)))
    fmap.get_root().html.add_child(Element(_legend(result, lang, sorted(kinds.unique(), key=lambda k: (tiers[k], k)),
                                                    tiers, bool(gaps), bool(sites))))
    fmap.add_child(_Wiring(registry, legends, lang, "GCJ-02" if gcj else "WGS84"))
    return fmap


def _leaflet_links(self_contained: bool) -> tuple[list, list]:
    if self_contained:
        return [], []
    return ([("leaflet", f"{LEAFLET_CDN}/leaflet.js")], [("leaflet_css", f"{LEAFLET_CDN}/leaflet.css")])


@lru_cache(maxsize=1)
def _inline_leaflet() -> str:
    """Leaflet's CSS (images as data URLs) and JS, inline."""
    css = (STATIC / "leaflet.css").read_text(encoding="utf-8")
    for image in ("layers-2x.png", "layers.png", "marker-icon.png"):
        data = base64.b64encode((STATIC / "images" / image).read_bytes()).decode("ascii")
        css = css.replace(f"url(images/{image})", f"url(data:image/png;base64,{data})")
    js = (STATIC / "leaflet.js").read_text(encoding="utf-8")
    js = "\n".join(line for line in js.splitlines() if not line.startswith("//# sourceMappingURL"))
    return f"<style>{css}</style>\n<script>{js}</script>"


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
    return (f"<div id='geoaccess-title' class='ga-panel' lang='{lang}'>"
            f"<div class='ga-name'>{_esc(result.scenario.name)}</div><table>{''.join(rows)}</table>{note}"
            f"<div style='font-size:11px;color:#555'>{ATTRIBUTION}</div></div>")


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
    for (_, row), x, y in zip(fac.iterrows(), lon, lat):
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
    iso = iso[~(iso.geometry.isna() | iso.geometry.is_empty)]
    if not len(iso):
        return []
    geoms = display.geoms(iso, simplify_m=15.0)
    lo = iso["min_minutes"].to_numpy(float) if "min_minutes" in iso else np.zeros(len(iso))
    hi = iso["max_minutes"].to_numpy(float) if "max_minutes" in iso else lo
    cls = minutes_class((lo + hi) / 2, target)
    feats = []
    for g, c, band in zip(geoms, cls, iso["band"] if "band" in iso else [""] * len(iso)):
        if g is None or g.is_empty:
            continue
        colour = CLASS_COLOURS[c] if c < len(CLASS_COLOURS) else UNREACHABLE_COLOUR
        feats.append(_feature(g, {"s": {"color": colour, "weight": 0.6, "fillColor": colour, "fillOpacity": 0.35,
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
            f"&nbsp;{verdict_text(r.get('passed'), lang)}</td></tr>" for e, r in rows)
        pop = rows[0][1].get("population_total") if rows else None
        pop_line = f"<div>{t['population']}: {_num(pop)} {t['people']}</div>" if pop is not None else ""
        popup = f"<div class='ga-popup'><b>{_esc(name)}</b>{pop_line}<table>{body}</table></div>"
        feats.append(_feature(g, {"s": {"color": colour, "weight": 2.5, "opacity": 0.9, "fill": True,
                                        "fillColor": colour, "fillOpacity": 0.03}, "p": popup, "t": _esc(name)}))
    return feats


def _gap_features(gaps: gpd.GeoDataFrame, target: "Target", lang: str, display: _Display,
                  names: dict[str, str]) -> list[dict]:
    t = TEXT[lang]
    lon, lat = display.points(gaps)
    pop = gaps["pop"].to_numpy(float) if "pop" in gaps else np.ones(len(gaps))
    top = max(float(np.nanmax(pop)) if len(pop) else 1.0, 1e-9)
    feats = []
    for i, ((_, row), x, y) in enumerate(zip(gaps.iterrows(), lon, lat)):
        gid = row.get("gap_id", i + 1)
        rows = [(t["population"], f"{_num(row.get('pop'))} {t['people']}")]
        if "n_points" in row:
            rows.append((t["cells"], _num(row.get("n_points"))))
        for key, label in (("mean_minutes", "mean_time"), ("max_minutes", "max_time")):
            if key in row:
                v = row.get(key)
                rows.append((t[label], t["unreachable"] if v is None or not math.isfinite(float(v))
                             else f"{float(v):.1f} {t['min']}"))
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

    ``self_contained=None`` takes the scenario's ``[map] self_contained`` (default False).
    """
    if self_contained is None:
        self_contained = bool((getattr(result.scenario, "map", None) or {}).get("self_contained", False))
    fmap = map_from_result(result, lang=lang, basemap=basemap, self_contained=self_contained,
                           tianditu_key=tianditu_key)
    page = fmap.get_root().render()
    return write_with(path, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
