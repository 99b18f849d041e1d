"""The building blocks of the web map: Leaflet layers, colours, classes.

* :class:`GeoLayer` (GeoJSON drawn by a small Leaflet script, per-feature style/popup),
  :class:`PngOverlay` (an embedded palette PNG) and :class:`TileGroup` (a basemap);
* (the demand raster, :class:`geoaccess.demandraster.DemandGrid`, has its own module);
* :class:`_Display`: run geometry to the map's lon/lat (WGS84, or GCJ-02 on Amap tiles);
* the colours of facility kinds and travel-time classes, shared with the static map
  (:mod:`geoaccess.staticmap`) so both images read the same.
"""

from __future__ import annotations

import base64
import html
import json
import math
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import folium
import geopandas as gpd
import numpy as np
import shapely
from branca.element import Element, MacroElement
from folium.elements import ElementAddToElement
from folium.template import Template

from .coords import wgs84_to_gcj02
from .results import WORDS

if TYPE_CHECKING:
    from .targets import Target

OSM_ATTR = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
LEAFLET_VERSION = "1.9.4"
LEAFLET_CDN = f"https://cdn.jsdelivr.net/npm/leaflet@{LEAFLET_VERSION}/dist"
STATIC = Path(__file__).with_name("static") / "leaflet"
BASEMAPS = ("osm", "light", "tianditu", "amap", "none")

# Every pair of these (and the gap and site colours) differs by CIE76 ΔE > 20, so 县级医院 /
# 120急救站 / 次中心 and gaps / 乡镇卫生院 are told apart at a glance (tests/test_deliverables.py).
KIND_COLOURS = {
    "county_hospital": "#7f0000", "sub_centre": "#ff7f00", "hospital": "#e7298a", "township_health_centre": "#1f78b4",
    "community_health_centre": "#1b9e77", "community_health_station": "#66a61e", "village_clinic": "#e6ab02",
    "clinic": "#a6761d", "doctors": "#666666", "ems_station": "#e41a1c", "pharmacy": "#8dd3c7", "other": "#bbbbbb",
}
TIER_RADIUS = {1: 10, 2: 8, 3: 7, 4: 5, 5: 4}
# Travel-time classes: three within the threshold (greens), three beyond it (oranges to dark
# red), and unreachable. Breaks are fractions of the target's threshold.
CLASS_FRACTIONS = (1 / 3, 2 / 3, 1.0, 1.5, 2.0)
CLASS_COLOURS = ("#1a9850", "#91cf60", "#d9ef8b", "#fdae61", "#f46d43", "#a50026")
UNREACHABLE_COLOUR = "#3b3b3b"
GAP_COLOUR, SITE_COLOUR = "#7b3294", "#08306b"

# --------------------------------------------------------------------------- text helpers


def class_breaks(target: "Target") -> list[float]:
    """Upper limits (minutes) of the travel-time classes of ``target``."""
    return [round(target.threshold_min * f, 1) for f in CLASS_FRACTIONS]


def class_labels(target: "Target", lang: str) -> list[str]:
    b = class_breaks(target)
    lows = [0.0, *b]
    labels = [f"{lo:g}–{hi:g}" for lo, hi in zip(lows, b)] + [f"> {b[-1]:g}"]
    return labels + [WORDS[lang]["unreachable"]]


def minutes_class(minutes: np.ndarray, target: "Target") -> np.ndarray:
    """Class index per value: 0..5 for the time classes, 6 for unreachable (inf/NaN)."""
    m = np.asarray(minutes, dtype=float)
    cls = np.searchsorted(np.asarray(class_breaks(target)), m, side="left")
    cls = np.minimum(cls, len(CLASS_COLOURS) - 1)
    return np.where(np.isfinite(m), cls, len(CLASS_COLOURS)).astype(np.uint8)


@lru_cache(maxsize=1)
def _kinds() -> dict[str, dict]:
    from .facilitytypes import load_facility_types

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
        gcj = self.gcj  # rounded by numpy: set_precision's noding costs 100× more, for nothing Leaflet shows
        data = np.asarray(geoms.values, dtype=object)
        project = None
        if gdf.crs is not None and not gdf.crs.equals("EPSG:4326") and not shapely.has_z(data).any():
            # to lon/lat in the same pass as the rounding (as to_crs transforms: the same numbers)
            from pyproj import Transformer

            project = Transformer.from_crs(gdf.crs, "EPSG:4326", always_xy=True).transform
        elif gdf.crs is not None:
            data = np.asarray(geoms.to_crs("EPSG:4326").values, dtype=object)

        def display(xy: np.ndarray) -> np.ndarray:
            if project is not None:
                xy = np.array(project(xy[:, 0], xy[:, 1])).T
            return np.round(np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])) if gcj else xy, 5)
        return shapely.transform(data, display)

    def points(self, gdf: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
        values = gdf.geometry.values
        if gdf.crs is not None and (shapely.get_type_id(values) == 0).all():
            # points: their coordinates transformed as arrays, as to_crs does, without building
            # 200k new Point objects first
            from pyproj import Transformer

            to_ll = Transformer.from_crs(gdf.crs, "EPSG:4326", always_xy=True)
            return self.lonlat(*to_ll.transform(shapely.get_x(values), shapely.get_y(values)))
        g = gdf.geometry.to_crs("EPSG:4326") if gdf.crs is not None else gdf.geometry
        g = g.representative_point() if not (g.geom_type == "Point").all() else g
        return self.lonlat(g.x.to_numpy(), g.y.to_numpy())


def _feature(geom: Any, props: dict) -> dict:
    """A GeoJSON feature of a shapely geometry, a GeoJSON dict or GeoJSON text (placed as is)."""
    if not isinstance(geom, (dict, str)):
        geom = shapely.geometry.mapping(geom)
    return {"type": "Feature", "geometry": geom, "properties": props}


def _collection_js(features: list[dict]) -> str:
    """A FeatureCollection as JSON safe inside a <script> (see :func:`_js`); geometries
    already GeoJSON text are placed as they are (numbers and brackets: nothing to escape)."""
    parts = [f'{{"type":"Feature","geometry":{f["geometry"]},"properties":{_js(f["properties"])}}}'
             if isinstance(f["geometry"], str) else _js(f) for f in features]
    return '{"type":"FeatureCollection","features":[' + ",".join(parts) + "]}"


def _point(lon: float, lat: float) -> dict:
    return {"type": "Point", "coordinates": [round(float(lon), 6), round(float(lat), 6)]}


def _js(value: Any) -> str:
    """JSON safe to place inside a <script> element."""
    # every "<" escaped: no "</script>" and no "<!--" (which changes how the script is parsed)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


# --------------------------------------------------------------------------- Leaflet layers


class RawHtml(Element):
    """HTML placed as it is, not compiled as a Jinja template: fast, and braces stay text."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def render(self, **kwargs) -> str:
        return self.text


def _render_raw(element: MacroElement, kwargs: dict) -> None:
    """MacroElement.render, but the rendered script goes in raw: branca would compile it again as a
    Jinja template, so a "{{" or "{%" in a name (layer, target) would be read as Jinja."""
    script = element._template.module.__dict__["script"]
    element.get_root().script.add_child(RawHtml(script(element, kwargs)), name=element.get_name())
    for child in element._children.values():
        child.render(**kwargs)


class LayerControl(folium.LayerControl):
    """folium's layer control with its script placed raw (layer names are text, never Jinja)."""

    def render(self, **kwargs):
        self.reset()
        for item in self._parent._children.values():
            if isinstance(item, folium.map.Layer) and item.control:
                (self.overlays if item.overlay else self.base_layers)[item.layer_name] = item.get_name()
        _render_raw(self, kwargs)


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
                // "l": the title is a permanent label (township names), shown where it fits (see _Wiring)
                if (f.properties.t) { layer.bindTooltip(f.properties.t, f.properties.l ? {permanent: true,
                    direction: "center", className: "ga-label", interactive: false} : {sticky: true}); }
            }
        });
        {% endmacro %}
        """
    )

    def __init__(self, features: list[dict], name: str, pane: str, show: bool = True, interactive: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "GeoLayer"
        self.data = _collection_js(features)
        self.pane, self.interactive = pane, interactive
        self.n_features = len(features)

    def render(self, **kwargs):
        # folium's Layer.render, but the script goes in raw: branca compiles what a macro renders
        # as a template (slow on megabytes of GeoJSON; "{{" or "{#" in a name is read as Jinja).
        if self.show:
            self.add_child(ElementAddToElement(element_name=self.get_name(), element_parent_name=self._parent.get_name()),
                           name=self.get_name() + "_add")
        _render_raw(self, kwargs)


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
            L.tileLayer({{ t.url|tojson }}, {{ t.options|tojson }}).on("tileerror", function () {
                // no tiles (offline intranet, blocked server): say so on the map; data layers are unaffected
                var n = document.getElementById("geoaccess-offline"); if (n) { n.style.display = "block"; }
            }).on("tileload", function () {
                var n = document.getElementById("geoaccess-offline"); if (n) { n.style.display = "none"; }
            }){{ "," if not loop.last }}
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
            // township names: a label only where the unit is wide enough on screen for it
            var labelled = {{ this.labelled|tojson }};
            function labels() {
                labelled.forEach(function (n) {
                    var group = layers[n];
                    if (!map.hasLayer(group)) { return; }
                    group.eachLayer(function (l) {
                        if (!l.getBounds || !l.getTooltip()) { return; }
                        var b = l.getBounds(), a = map.latLngToContainerPoint(b.getNorthWest()),
                            c = map.latLngToContainerPoint(b.getSouthEast());
                        var room = (c.x - a.x) > 9 * l.getTooltip().getContent().length + 16 && (c.y - a.y) > 28;
                        if (room) { l.openTooltip(); } else { l.closeTooltip(); }
                    });
                });
            }
            // proposed sites close together: spread their stars around the point so none hides another
            var spread = {{ this.spread|tojson }};
            function declutter() {
                spread.forEach(function (n) {
                    var group = layers[n];
                    if (!map.hasLayer(group)) { return; }
                    var ms = group.getLayers(), pts = ms.map(function (m) { return map.latLngToContainerPoint(m.getLatLng()); });
                    var done = ms.map(function () { return false; });
                    ms.forEach(function (m, i) {
                        if (done[i]) { return; }
                        var near = [i];
                        for (var j = i + 1; j < ms.length; j++) {
                            if (!done[j] && pts[i].distanceTo(pts[j]) < 26) { near.push(j); done[j] = true; }
                        }
                        near.forEach(function (k, q) {
                            var r = near.length > 1 ? 15 + 2 * near.length : 0, ang = 2 * Math.PI * q / near.length;
                            var dx = r * Math.sin(ang), dy = -r * Math.cos(ang), opt = ms[k].options.icon.options;
                            ms[k].setIcon(L.divIcon({html: opt.html, className: opt.className, iconSize: opt.iconSize,
                                                     popupAnchor: opt.popupAnchor, iconAnchor: [13 - dx, 13 - dy]}));
                        });
                    });
                });
            }
            map.on("zoomend overlayadd", function () { labels(); declutter(); });
            map.whenReady(function () { labels(); declutter(); });
            window.geoaccess = {map: map, layers: layers, lang: {{ this.lang|tojson }},
                                crs: {{ this.display_crs|tojson }}};
        })();
        {% endmacro %}
        """
    )

    def __init__(self, layers: list[tuple[str, str]], legends: dict[str, list[str]], lang: str, display_crs: str,
                 labelled: list[str] = (), spread: list[str] = ()):
        super().__init__()
        self._name = "Wiring"
        self.layers, self.legends, self.lang, self.display_crs = layers, legends, lang, display_crs
        self.labelled, self.spread = list(labelled), list(spread)

    def render(self, **kwargs):
        _render_raw(self, kwargs)


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


