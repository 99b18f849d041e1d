"""A static map image of one target for the printed report (matplotlib, no network).

Drawn from the same layers and colours as the web map (:mod:`geoaccess.maplayers`): the
demand cells coloured by travel-time class, township outlines coloured by the target's
verdict (with their names), the facilities the target counts (by kind), the largest gaps
numbered as in the report's gap table, and proposed sites. No basemap, so the image is the
same offline and printed; coordinates are the run's projected CRS (metres), with a scale bar.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

import numpy as np
import shapely
from matplotlib import font_manager, rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .demandraster import _cell_size
from .maplayers import (CLASS_COLOURS, GAP_COLOUR, KIND_COLOURS, SITE_COLOUR, UNREACHABLE_COLOUR, class_labels,
                        kind_label, minutes_class)
from .results import FAIL_COLOUR, NODATA_COLOUR, PASS_COLOUR, target_name
from .targets import select_facilities

if TYPE_CHECKING:
    from .results import RunResult

_CJK_FONTS = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei",
              "PingFang SC", "Heiti SC")
WORDS = {
    "zh": {"gaps": "服务缺口（编号同缺口表）", "sites": "建议新增点位", "pass": "乡镇达标", "fail": "乡镇未达标",
           "nodata": "无人口", "km": "公里", "minutes": "分钟"},
    "en": {"gaps": "gaps (numbered as in the gap table)", "sites": "proposed sites", "pass": "township passes",
           "fail": "township fails", "nodata": "no residents", "km": "km", "minutes": "min"},
}


def cjk_font() -> str | None:
    """The first installed font that has Chinese glyphs, or None."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in _CJK_FONTS if name in installed), None)


def static_map_png(result: "RunResult", target_id: str, lang: str = "zh", size_in: tuple[float, float] = (7.5, 4.6),
                   dpi: int = 150, n_gaps: int = 10) -> bytes:
    """Render one target's map as a PNG.

    Parameters
    ----------
    result
        A run (:class:`geoaccess.results.RunResult`), in its projected CRS.
    target_id
        The evaluated target to draw.
    lang
        ``"zh"`` or ``"en"`` labels. Without a Chinese font installed (e.g. fonts-wqy-microhei),
        Chinese labels would print as boxes: the legend is then written in English and a
        warning says so.
    size_in, dpi
        Image size in inches and resolution (7.5 × 4.6 in at 150 dpi ≈ 1,100 × 700 px).
    n_gaps
        How many of the largest gaps to draw and number (the report lists as many).

    Returns
    -------
    bytes
        The PNG file.

    Raises
    ------
    InputError
        ``target_id`` was not evaluated in this run.
    """
    e = result.evaluation(target_id)
    font = cjk_font()
    if lang == "zh" and font is None:
        note = ("no Chinese font installed (apt-get install fonts-wqy-microhei): the report's map image is "
                "labelled in English")
        if note not in result.warnings:
            result.warnings.append(note)
        lang = "en"
    w = WORDS[lang]
    family = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    with rc_context({"font.family": family}):
        return _render(result, e, lang, w, size_in, dpi, n_gaps)


class _Canvas(FigureCanvasAgg):
    """Agg, without the whole-figure draw ``GeoSeries.plot`` asks for after its lines
    (``draw_idle``): ``savefig`` draws the finished figure anyway, to the same pixels."""

    def draw_idle(self, *args, **kwargs) -> None:
        pass


def _render(result: "RunResult", e, lang: str, w: dict, size_in: tuple[float, float], dpi: int, n_gaps: int) -> bytes:
    target_id = e.target.id
    fig = Figure(figsize=size_in, dpi=dpi, layout="constrained")
    _Canvas(fig)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_aspect("equal")

    handles: list = []
    demand = result.demand
    column = f"{target_id}_min"
    if len(demand) and column in demand:
        _draw_cells(ax, demand, demand[column].to_numpy(float) + e.target.dispatch_delay_min, e.target)  # as the verdict
        labels = class_labels(e.target, lang)
        handles += [Patch(facecolor=c, label=f"{lab} {w['minutes']}" if i < len(CLASS_COLOURS) else lab)
                    for i, (c, lab) in enumerate(zip([*CLASS_COLOURS, UNREACHABLE_COLOUR], labels))]
    if result.units is not None and len(result.units):
        verdict = dict(zip(e.units["name"].astype(str), e.units["passed"]))
        units = result.units.to_crs(demand.crs) if result.units.crs != demand.crs else result.units
        colours = [_verdict_colour(verdict.get(str(n))) for n in units["unit"]]
        # failing outlines last, so a shared border shows red rather than the passing neighbour's green
        order = np.argsort([{PASS_COLOUR: 0, FAIL_COLOUR: 2}.get(c, 1) for c in colours], kind="stable")
        units.iloc[order].boundary.plot(ax=ax, color=[colours[i] for i in order], linewidth=1.2)
        if len(units) <= 60:  # names stay legible up to a few dozen townships
            pts = units.geometry.representative_point()
            for name, x, y in zip(units["unit"].astype(str), pts.x, pts.y):
                ax.text(x, y, name, fontsize=6.5, ha="center", va="center", color="#222",
                        bbox={"boxstyle": "round,pad=0.1", "fc": (1, 1, 1, 0.6), "ec": "none"})
        handles += [Line2D([], [], color=PASS_COLOUR, lw=1.5, label=w["pass"]),
                    Line2D([], [], color=FAIL_COLOUR, lw=1.5, label=w["fail"])]
    fac = result.facilities[select_facilities(e.target, result.facilities)]
    if len(fac):
        fac = fac.to_crs(demand.crs)
        kinds = fac["kind"].fillna("other").astype(str)
        for kind in sorted(kinds.unique()):
            sub = fac[(kinds == kind).to_numpy()]
            ax.scatter(sub.geometry.x, sub.geometry.y, s=22, c=KIND_COLOURS.get(kind, KIND_COLOURS["other"]),
                       edgecolors="white", linewidths=0.6, zorder=5, label=kind_label(kind, lang))
            handles.append(Line2D([], [], marker="o", ls="", markerfacecolor=KIND_COLOURS.get(kind, KIND_COLOURS["other"]),
                                  markeredgecolor="white", markersize=6, label=kind_label(kind, lang)))
    gaps = _gap_points(result, e, n_gaps)
    if gaps is not None and len(gaps):
        pop = gaps["pop"].to_numpy(float)
        size = 30 + 250 * np.sqrt(pop / max(pop.max(), 1e-9))
        ax.scatter(gaps.geometry.x, gaps.geometry.y, s=size, c=GAP_COLOUR, alpha=0.75, edgecolors="white",
                   linewidths=0.8, zorder=6)
        for i, (x, y) in enumerate(zip(gaps.geometry.x, gaps.geometry.y), 1):
            ax.text(x, y, str(i), fontsize=6.5, color="white", ha="center", va="center", zorder=7)
        handles.append(Line2D([], [], marker="o", ls="", markerfacecolor=GAP_COLOUR, markeredgecolor="white",
                              markersize=8, label=w["gaps"]))
    sites = (getattr(result, "sites", None) or {}).get(target_id)
    if sites is not None and len(sites) and "geometry" in sites:
        s = sites.to_crs(demand.crs) if sites.crs is not None else sites
        ax.scatter(s.geometry.x, s.geometry.y, s=120, marker="*", c=SITE_COLOUR, edgecolors="white",
                   linewidths=0.7, zorder=8)
        handles.append(Line2D([], [], marker="*", ls="", markerfacecolor=SITE_COLOUR, markeredgecolor="white",
                              markersize=10, label=w["sites"]))
    _scale_bar(ax, w["km"])
    ax.set_title(target_name(e.target, lang), fontsize=9, loc="left")
    fig.legend(handles=handles, loc="outside right center", fontsize=6.5, frameon=False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def top_gaps(gaps, n: int):
    """The ``n`` largest gaps holding people (a gap that rounds to 0 people is never listed), largest first.

    The report's gap table and the map image number gaps in this order.
    """
    keep = gaps[gaps["pop"].to_numpy(float) >= 0.5] if "pop" in gaps else gaps
    return keep.sort_values("pop", ascending=False, kind="stable").head(n) if "pop" in keep else keep.head(n)


def _gap_points(result: "RunResult", e, n: int):
    gaps = (getattr(result, "gaps", None) or {}).get(e.target.id)
    if gaps is None or not len(gaps) or "geometry" not in gaps:
        return None
    g = top_gaps(gaps, n)
    g = g.to_crs(result.demand.crs) if g.crs is not None and g.crs != result.demand.crs else g
    pts = g.geometry if (g.geom_type == "Point").all() else g.geometry.representative_point()
    return g.set_geometry(pts)


def _verdict_colour(passed) -> str:
    if passed is None or (isinstance(passed, float) and math.isnan(passed)):
        return NODATA_COLOUR
    return PASS_COLOUR if bool(passed) else FAIL_COLOUR


def _draw_cells(ax, demand, minutes: np.ndarray, target) -> None:
    """Demand cells as an image in the projected CRS, each cell in its time class (transparent elsewhere)."""
    points = demand.geometry.to_numpy()
    x, y = shapely.get_x(points), shapely.get_y(points)  # GeoSeries.x first checks 200k geometry types, twice
    cell = _cell_size(demand, np.column_stack([x, y]))
    while (np.ptp(x) / cell + 1) * (np.ptp(y) / cell + 1) > 4e6:  # bounded image, whatever the county
        cell *= 1.5
    x0, y1 = x.min() - cell / 2, y.max() + cell / 2
    ix, iy = ((x - x0) // cell).astype(int), ((y1 - y) // cell).astype(int)
    img = np.zeros((iy.max() + 1, ix.max() + 1), dtype=np.uint8)
    img[iy, ix] = minutes_class(minutes, target) + 1  # 0 = no demand: transparent
    cmap = ListedColormap([(0, 0, 0, 0), *[to_rgba(c) for c in CLASS_COLOURS], to_rgba(UNREACHABLE_COLOUR)])
    ax.imshow(img, cmap=cmap, vmin=0, vmax=len(CLASS_COLOURS) + 1, interpolation="nearest", alpha=0.8,
              extent=(x0, x0 + img.shape[1] * cell, y1 - img.shape[0] * cell, y1), zorder=1)


def _scale_bar(ax, km_word: str) -> None:
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    span = (x1 - x0) / 5
    nice = 10 ** math.floor(math.log10(span)) if span > 0 else 1
    length = max(n * nice for n in (1, 2, 5) if n * nice <= span) if span > 0 else 1
    bx, by = x0 + (x1 - x0) * 0.03, y0 + (y1 - y0) * 0.04
    ax.plot([bx, bx + length], [by, by], color="#222", lw=2, solid_capstyle="butt", zorder=9)
    label = f"{length / 1000:g} {km_word}" if length >= 1000 else f"{length:g} m"
    ax.text(bx + length / 2, by + (y1 - y0) * 0.015, label, ha="center", va="bottom", fontsize=6.5, zorder=9)
