"""Isochrone bands and service areas built from the travel-time engine.

:func:`isochrones` draws, for each travel-time threshold, the area reachable from (or
able to reach) the nearest facility within that many minutes, and returns disjoint bands
(``0–5``, ``5–10``, …). The polygons follow the roads, not the hull of the reached nodes:

1. **Times on edges.** The facilities are spliced into their edges exactly as the engine
   does (:func:`geoaccess.routing.edge_piece_times`) and one multi-source
   Dijkstra, bounded by the largest threshold, prices every road node and every facility
   position. Each physical edge is a *piece* between two consecutive nodes (its ends, or
   a facility position on it). Along a piece the time is ``min`` of two linear functions
   of the fraction ``f``: from its ``a`` end ``t_a + (f - f0)·s_a`` and from its ``b`` end
   ``t_b + (f1 - f)·s_b``. For ``from_facility`` (an ambulance leaving its station)
   ``s_a`` is the forward (u→v) time and ``s_b`` the backward time; for ``to_facility``
   (a resident walking to the clinic) the point *leaves* towards ``a`` against the edge,
   so ``s_a`` is the backward time and ``s_b`` the forward time. Closed directions
   (``inf``) reach nowhere, so one-way streets are only walked their open way.
2. **Exact cuts.** For a threshold ``T`` each piece gives at most two reachable intervals,
   ``[f0, f0 + (T - t_a)/s_a]`` and ``[f1 - (T - t_b)/s_b, f1]`` (clipped to the piece),
   cut at the exact point where the time runs out.
3. **Variable buffer.** Off the road the remaining time ``T - t(f)`` is walked at the
   mode's access speed, capped at ``access_max_m`` (or ``buffer_cap_m``). The radius is
   thus linear along an interval up to the cap. Each interval is turned into its vertices
   (cut ends, the edge's own interior vertices, and the kink where the radius reaches the
   cap), computed with numpy arithmetic on ``shapely.get_coordinates``. The run at the cap
   is one linestring buffered by the cap (``shapely.buffer`` on an array). Every other
   segment is the *exact* union of the discs swept along it: the convex hull of its two
   end discs (discs of linearly varying radius along a segment are convex combinations of
   the end discs), built for all segments at once with ``shapely.convex_hull`` on
   linestrings (a cheap carrier for the points). Where the radius falls at least as fast
   as the segment runs (walking: road and access speed are equal) the hull is just the
   upstream disc, already drawn, and the segment is skipped — for walking this leaves
   little more than the capped runs and the facility discs to union.
   Discs are 32-gons drawn *around* the circle (and capped runs are buffered by
   ``cap / cos(pi/32)``), so a polygon contains the exact reach — every road point within
   the time is inside — and exceeds it by at most 0.48 % of the local buffer radius.
4. **Dissolve and bands.** All parts of one threshold are merged with
   ``shapely.union_all``; band ``(10, 15]`` is ``reach(15) − reach(10)``.

No Python loop runs over edges or segments; loops run over thresholds only.

**Raster method** (``method="raster"``, cell ``cell_m``, default 25 m). Steps 1–2 are
shared; then the reachable intervals (for the largest threshold) are sampled every
``cell/2`` along the road, both cut ends and the facility positions included, each sample
with its exact time, and each cell keeps the minimum time of its samples
(``np.minimum.at``). The off-road leg is a grey erosion by a cone within the cap:
``t(c) = min over seed cells s with |c − s| ≤ cap of t(s) + |c − s| / v`` (one vectorised
``numpy.minimum`` per offset of the disc: ~200 offsets for cap/cell = 8, faster than
``scipy.ndimage.grey_erosion``; cost grows as (cap/cell)²). Cells are classified into bands
by their time and polygonised with ``rasterio.features.shapes`` (4-connected regions: one
valid MultiPolygon per band, bands disjoint by construction, a clean coverage for
``simplify_m``). Cell edges lie on multiples of ``cell_m``. A cell-centre time is off by at
most the snapping of a road point to its cell centre (cell/√2) plus half the sample spacing,
so cell centres agree with the exact polygons except within one cell diagonal of their
boundaries (tested). Polygons still follow the roads at cell resolution — never hulls.

**Nearest road** (``access="nearest"``, raster only; what the map uses). The reach above
lets a place join *any* reached road within the cap, so a home across a river from a
clinic's road is painted in the clinic's first band although the engine, which joins
every point to its *nearest* usable road, prices it 50 minutes away. With ``"nearest"``
every eligible road (reached or not) is sampled, and each cell takes the time of its
nearest road cell (``scipy.ndimage.distance_transform_edt`` with indices) plus the
off-road leg: the engine's rule, at cell resolution. ``points`` (coordinates and their
computed minutes, e.g. the demand layer): a point whose band differs from the raster's
at its cell paints the cells within half the points' spacing (its population cell) with
its time, and every point's own cell takes the worst time of its points: a home's cell
is never drawn in a band other than its own time's, and the raster stays unspeckled. Road samples and edge vertices are kept per road set and cell size, so targets
sharing a mode's roads (drive and ambulance) build them once.

The exact method spends ~85 % in ``shapely.union_all`` of ~100k overlapping buffers per
threshold (3.9 M vertices): on a 100k-node county ~20-60 s per target against 2-4 s for the
raster, so the map uses the raster method and the exact one stays for analysis and checks
(whole-run figures: ``benchmarks/bench_run.py``).

:func:`service_areas` (in :mod:`geoaccess.service`) partitions demand by its nearest facility.
"""

from __future__ import annotations

from typing import Sequence

import geopandas as gpd
import numpy as np
import shapely

from .errors import InputError, check_choice, check_positive
from .grids import cell_min, half_spacing, kept, nearest_seed_time, paint_nearest, raster_polygons
from .routing import DIRECTIONS, ModeGraph, Placement, edge_piece_times
from .service import service_areas  # noqa: F401  (its home until issue 15)

#: Vertices of the polygon drawn for a circle (shapely.buffer's default, quad_segs=8).
CIRCLE_VERTICES = 32
#: Circles are drawn circumscribed, so that polygons contain the exact reach: they exceed
#: it by at most 1/cos(pi/32) - 1 = 0.48 % of the local buffer radius.
CIRCLE_SCALE = 1.0 / np.cos(np.pi / CIRCLE_VERTICES)

BAND_COLUMNS = ["band", "min_minutes", "max_minutes"]

METHODS = ("exact", "raster")
ACCESS = ("any", "nearest")
#: Default cell of the raster method (metres).
RASTER_CELL_M = 25.0
#: The raster method refuses grids larger than this many cells (pass a larger cell_m).
RASTER_MAX_CELLS = 60_000_000

# A segment whose radius falls by its length (within this, metres) is its upstream disc.
DOMINATED_TOL_M = 1e-6


# --------------------------------------------------------------------------- isochrones


def isochrones(graph: ModeGraph, facilities: Placement, thresholds_min: Sequence[float],
               direction: str = "to_facility", *, buffer_cap_m: float | None = None,
               simplify_m: float | None = None, method: str = "exact", cell_m: float = RASTER_CELL_M,
               access: str = "any", points: tuple[np.ndarray, np.ndarray] | None = None) -> gpd.GeoDataFrame:
    """Disjoint travel-time bands around the nearest facility.

    Parameters
    ----------
    graph
        The road network compiled for the travel mode.
    facilities
        Facilities placed on ``graph`` with :func:`geoaccess.routing.place_points`;
        those off the network are left out (as in the engine).
    thresholds_min
        Band limits in minutes, e.g. ``[5, 10, 15]`` → bands ``0–5``, ``5–10``, ``10–15``.
        Sorted; duplicates dropped.
    direction
        ``"to_facility"`` (people travel to the facility) or ``"from_facility"``
        (an ambulance drives from the station).
    buffer_cap_m
        Largest off-road distance covered around a road (metres); default the mode's
        ``access_max_m`` — the distance beyond which the engine calls a point off network.
    simplify_m
        Optional tolerance (metres) to simplify the bands as one coverage
        (``shapely.coverage_simplify``: shared band boundaries stay shared, no gaps or
        overlaps appear). Default: no simplification.
    method
        ``"exact"`` (default): polygons cut and buffered exactly (module notes 1–4).
        ``"raster"``: the same reach on a grid of ``cell_m`` cells (module notes, *Raster
        method*) — within about one cell of the exact polygons and many times faster on
        large networks; what the map uses.
    cell_m
        Cell size of the raster method (metres); ignored by the exact method.
    access
        ``"any"`` (default): a place is reached from any reached road within the cap.
        ``"nearest"`` (raster only): from its nearest usable road, as the engine joins
        demand to the roads (module notes, *Nearest road*).
    points
        With ``access="nearest"``: ``(xy, minutes)``, ``(n, 2)`` metres in the network CRS
        and each point's computed minutes in this mode (``inf`` = unreachable); the cell of a
        point is drawn by the worst time of its points, so no point lies in a band other than
        its own time's.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per band, from the nearest: ``band`` (label, e.g. ``"5–10"``),
        ``min_minutes``, ``max_minutes`` and a (Multi)Polygon ``geometry`` in the network
        CRS (empty where nothing is reached in the band).
    """
    check_choice("direction", direction, DIRECTIONS)
    limits = _thresholds(thresholds_min)
    cap = graph.speeds.access_max_m if buffer_cap_m is None else check_positive("buffer_cap_m", buffer_cap_m)
    if simplify_m is not None:
        simplify_m = check_positive("simplify_m", simplify_m)
    check_choice("method", method, METHODS)
    check_choice("access", access, ACCESS)
    if method == "raster":
        cell = check_positive("cell_m", cell_m)
        bands = _raster_bands(graph, facilities, limits, direction, cap, cell, access, points)
    elif access != "any" or points is not None:
        raise InputError("access='nearest' and points need method='raster'")
    else:
        reaches = reach_polygons(graph, facilities, limits, direction, buffer_cap_m=cap)
        bands = np.empty(len(limits), dtype=object)
        bands[0] = reaches[0]
        if len(limits) > 1:
            bands[1:] = shapely.difference(reaches[1:], reaches[:-1])
        bands = np.array([_polygonal(g) for g in bands], dtype=object)
    if simplify_m is not None:
        bands = _simplify_bands(bands, simplify_m)
    lows = np.r_[0.0, limits[:-1]]
    return gpd.GeoDataFrame(
        {"band": [f"{lo:g}–{hi:g}" for lo, hi in zip(lows, limits)], "min_minutes": lows, "max_minutes": limits},
        geometry=list(bands), crs=graph.network.crs)


def reach_polygons(graph: ModeGraph, facilities: Placement, thresholds_min: Sequence[float],
                   direction: str = "to_facility", *, buffer_cap_m: float | None = None) -> np.ndarray:
    """The cumulative reach (all points within ``T`` minutes) for each threshold ``T``.

    Same method as :func:`isochrones` without the band differences; returns an array of
    polygonal geometries in the network CRS, in the order of the sorted thresholds.
    """
    check_choice("direction", direction, DIRECTIONS)
    limits = _thresholds(thresholds_min)
    cap = graph.speeds.access_max_m if buffer_cap_m is None else check_positive("buffer_cap_m", buffer_cap_m)
    times = edge_piece_times(graph, facilities, direction, limit_min=limits[-1])
    out = np.empty(len(limits), dtype=object)
    for i, limit in enumerate(limits):
        parts = _reach_parts(graph, times, limit * 60.0, cap)
        out[i] = _polygonal(shapely.union_all(parts)) if len(parts) else shapely.Polygon()
    return out


def reach_lines(graph: ModeGraph, facilities: Placement, threshold_min: float,
                direction: str = "to_facility") -> gpd.GeoDataFrame:
    """The reachable parts of the roads within ``threshold_min``, cut where time runs out.

    One LineString per reachable interval (an edge piece gives at most two), with
    ``edge``, ``f_start``/``f_end`` (fractions along the edge from its ``u`` end) and the
    minutes at both ends. Handy for maps and for checking the polygons.
    """
    check_choice("direction", direction, DIRECTIONS)
    limit_s = check_positive("threshold_min", threshold_min) * 60.0
    times = edge_piece_times(graph, facilities, direction, limit_min=threshold_min)
    iv = _intervals(times, limit_s)
    geo = _edge_vertices(graph)
    k, f, xy = _interval_points(geo, iv, np.zeros((len(iv["edge"]), 0)))
    lines = shapely.linestrings(xy, indices=k) if len(k) else np.empty(0, dtype=object)
    t_start = (iv["t0"] + (iv["fa"] - iv["fref"]) * iv["slope"]) / 60.0
    t_end = (iv["t0"] + (iv["fb"] - iv["fref"]) * iv["slope"]) / 60.0
    return gpd.GeoDataFrame({"edge": iv["edge"], "f_start": iv["fa"], "f_end": iv["fb"],
                             "minutes_start": t_start, "minutes_end": t_end},
                            geometry=list(lines), crs=graph.network.crs)


def _thresholds(thresholds_min: Sequence[float]) -> np.ndarray:
    values = np.atleast_1d(np.asarray(thresholds_min, dtype=object)).ravel()
    if len(values) == 0:
        raise InputError("thresholds_min must hold at least one threshold in minutes, e.g. [5, 10, 15]")
    return np.unique([check_positive("thresholds_min (minutes)", value) for value in values])


def _intervals(times: dict[str, np.ndarray], limit_s: float) -> dict[str, np.ndarray]:
    """Reachable intervals of every piece within ``limit_s``: at most two per piece.

    Time along an interval is ``t0 + (f - fref)·slope`` (``slope`` < 0 for intervals
    reached from the piece's ``f1`` end).
    """
    f0, f1, t0, t1, s0, s1 = (times[k] for k in ("f0", "f1", "t0", "t1", "s0", "s1"))
    span = f1 - f0
    with np.errstate(divide="ignore", invalid="ignore"):
        reach0 = np.clip(np.where(s0 > 0, (limit_s - t0) / s0, np.where(limit_s >= t0, np.inf, 0.0)), 0.0, span)
        reach1 = np.clip(np.where(s1 > 0, (limit_s - t1) / s1, np.where(limit_s >= t1, np.inf, 0.0)), 0.0, span)
    reach0 = np.where(np.isfinite(t0) & (t0 <= limit_s), np.nan_to_num(reach0, nan=0.0), 0.0)
    reach1 = np.where(np.isfinite(t1) & (t1 <= limit_s), np.nan_to_num(reach1, nan=0.0), 0.0)
    a, b = reach0 > 0, reach1 > 0
    # Where both ends reach the whole piece one interval is not enough: each gives its
    # own radius profile and the union keeps the larger; keep both.
    edge = np.r_[times["edge"][a], times["edge"][b]]
    fa = np.r_[f0[a], f1[b] - reach1[b]]
    fb = np.r_[f0[a] + reach0[a], f1[b]]
    fref = np.r_[f0[a], f1[b]]
    tref = np.r_[t0[a], t1[b]]
    slope = np.r_[s0[a], -s1[b]]
    slope = np.where(np.isfinite(slope), slope, 0.0)  # only zero-length reaches have inf; dropped above
    return {"edge": edge, "fa": fa, "fb": np.maximum(fb, fa), "fref": fref, "t0": tref, "slope": slope}


class _EdgeVertices:
    """Every edge vertex with its fraction along the edge, for cuts by numpy arithmetic."""

    def __init__(self, graph: ModeGraph):
        geoms = graph.network.edges.geometry.to_numpy()
        xy, edge_of = shapely.get_coordinates(geoms, return_index=True)
        n_edges = len(geoms)
        start = np.searchsorted(edge_of, np.arange(n_edges))
        end = np.r_[start[1:], len(edge_of)] - 1
        step = np.r_[0.0, np.hypot(*(xy[1:] - xy[:-1]).T)]
        step[start] = 0.0
        cum = np.cumsum(step)
        cum -= cum[start][edge_of]
        total = cum[end][edge_of]
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(total > 0, cum / total, 0.0)
        frac[end] = np.where(total[end] > 0, 1.0, frac[end])
        self.xy, self.edge_of, self.frac, self.start, self.end = xy, edge_of, frac, start, end
        self.key = edge_of * 2.0 + frac  # sorted: edges in order, fractions increasing
        self.cum_total = cum[end]  # planar length of each edge

    def at(self, edge: np.ndarray, f: np.ndarray) -> np.ndarray:
        """Coordinates of the points at fractions ``f`` along ``edge``."""
        j = np.searchsorted(self.key, edge * 2.0 + f, side="right") - 1
        j = np.clip(j, self.start[edge], np.maximum(self.end[edge] - 1, self.start[edge]))
        k = np.minimum(j + 1, self.end[edge])
        df = self.frac[k] - self.frac[j]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.clip(np.where(df > 0, (f - self.frac[j]) / df, 0.0), 0.0, 1.0)
        return self.xy[j] + t[:, None] * (self.xy[k] - self.xy[j])


def _interval_points(geo: _EdgeVertices, iv: dict[str, np.ndarray], extra_f: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The vertices of every interval: its cut ends, the edge's interior vertices between
    them and ``extra_f`` (per interval, NaN = none), sorted along each interval.

    Returns interval index, fraction and coordinates of every vertex.
    """
    edge, fa, fb = iv["edge"], iv["fa"], iv["fb"]
    n = len(edge)
    lo = np.searchsorted(geo.key, edge * 2.0 + fa, side="right")
    hi = np.searchsorted(geo.key, edge * 2.0 + fb, side="left")
    count = np.maximum(hi - lo, 0)
    inner_k = np.repeat(np.arange(n), count)
    inner_j = np.repeat(lo, count) + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))
    extra_k, extra_col = np.nonzero(np.isfinite(extra_f))
    extra = extra_f[extra_k, extra_col]
    cut_k = np.r_[np.arange(n), np.arange(n), extra_k]
    cut_f = np.r_[fa, fb, extra]
    cut_xy = geo.at(edge[cut_k], cut_f)
    k = np.r_[cut_k, inner_k]
    f = np.r_[cut_f, geo.frac[inner_j]]
    xy = np.r_[cut_xy, geo.xy[inner_j]] if len(k) else np.zeros((0, 2))
    order = np.lexsort((f, k))
    return k[order], f[order], xy[order]


def _reach_parts(graph: ModeGraph, times: dict[str, np.ndarray], limit_s: float, cap: float) -> np.ndarray:
    """Polygons whose union is the reach within ``limit_s`` (see the module notes)."""
    iv = _intervals(times, limit_s)
    v = graph.speeds.access_kmh / 3.6  # m/s off the road
    # Radius along an interval: min(cap, c0 + c1·f), metres.
    c1 = -iv["slope"] * v
    c0 = (limit_s - iv["t0"] + iv["fref"] * iv["slope"]) * v
    with np.errstate(divide="ignore", invalid="ignore"):
        kink = np.where(c1 != 0, (cap - c0) / c1, np.nan)
    kink = np.where((kink > iv["fa"]) & (kink < iv["fb"]), kink, np.nan)
    geo = _edge_vertices(graph)
    k, f, xy = _interval_points(geo, iv, kink[:, None])
    radius = np.clip(np.minimum(cap, c0[k] + c1[k] * f), 0.0, None)
    parts = []
    # Runs at the cap: one linestring per interval, buffered by the cap.
    at_cap = radius >= cap * (1 - 1e-12)
    kc = k[at_cap]
    if len(kc):
        n_cap = np.bincount(kc, minlength=len(iv["edge"]))
        keep = n_cap[kc] >= 2
        if keep.any():
            _, line_of = np.unique(kc[keep], return_inverse=True)
            lines = shapely.linestrings(xy[at_cap][keep], indices=line_of)
            # Runs meeting end to end become one line: fewer, longer buffers to union.
            # (Unioned first: the runs from both ends of a piece overlap, and line_merge
            # of overlapping lines drops parts of them.)
            lines = shapely.get_parts(shapely.line_merge(shapely.union_all(lines)))
            parts.append(shapely.buffer(lines, cap * CIRCLE_SCALE, quad_segs=CIRCLE_VERTICES // 4))
    # Every other segment: the hull of its two end discs. Where the radius falls at least
    # as fast as the segment runs (the road is no faster than the access leg, as for
    # walking) that hull is the disc at its upstream end, which the upstream segment, the
    # capped run or the facility disc already holds: such segments are left out.
    same = k[1:] == k[:-1]
    r0, r1 = radius[:-1][same], radius[1:][same]
    p0, p1 = xy[:-1][same], xy[1:][same]
    seg_len = np.hypot(*(p1 - p0).T)
    taper = ((np.minimum(r0, r1) < cap * (1 - 1e-12)) & (np.maximum(r0, r1) > 0)
             & (np.abs(r0 - r1) + DOMINATED_TOL_M < seg_len))
    if taper.any():
        parts.append(_tapered(p0[taper], p1[taper], r0[taper], r1[taper]))
    # Facility positions: a disc with the facility's own remaining time.
    fac_t = times["fac_t"]
    ok = fac_t <= limit_s
    if ok.any():
        centres = geo.at(times["fac_edge"][ok], times["fac_frac"][ok])
        r = np.minimum(cap, (limit_s - fac_t[ok]) * v)
        parts.append(_discs(centres[r > 0], r[r > 0]))
    return np.concatenate(parts) if parts else np.empty(0, dtype=object)


def _unit_circle() -> np.ndarray:
    """A 32-gon *around* the unit circle (it contains the circle, its sides touch it), turned
    so that sides face the axis directions: no polygon vertex sticks out along them."""
    angle = (np.arange(CIRCLE_VERTICES) + 0.5) * (2 * np.pi / CIRCLE_VERTICES)
    return np.c_[np.cos(angle), np.sin(angle)] * CIRCLE_SCALE


def _discs(centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    ring = centres[:, None, :] + radii[:, None, None] * _unit_circle()[None]
    ring = np.concatenate([ring, ring[:, :1]], axis=1)
    return shapely.polygons(shapely.linearrings(ring.reshape(-1, 2), indices=np.repeat(np.arange(len(centres)),
                                                                                       CIRCLE_VERTICES + 1)))


def _tapered(p0: np.ndarray, p1: np.ndarray, r0: np.ndarray, r1: np.ndarray, chunk: int = 100_000) -> np.ndarray:
    """Union of the discs swept along each segment with linearly varying radius: the convex
    hull of its end discs (32-gons) and its end points (for zero radii)."""
    unit = _unit_circle()
    out = []
    for start in range(0, len(p0), chunk):
        sl = slice(start, start + chunk)
        a, b = p0[sl], p1[sl]
        ring_a = a[:, None, :] + r0[sl, None, None] * unit[None]
        ring_b = b[:, None, :] + r1[sl, None, None] * unit[None]
        pts = np.concatenate([ring_a, ring_b, a[:, None, :], b[:, None, :]], axis=1)
        m = pts.shape[1]
        # A linestring through all the points is a cheap carrier for their convex hull.
        carrier = shapely.linestrings(pts.reshape(-1, 2), indices=np.repeat(np.arange(len(a)), m))
        out.append(shapely.convex_hull(carrier))
    hulls = np.concatenate(out)
    return hulls[shapely.get_type_id(hulls) == 3]


# ------------------------------------------------------------------------ raster method


def raster_times(graph: ModeGraph, facilities: Placement, limit_min: float, direction: str = "to_facility", *,
                 buffer_cap_m: float | None = None, cell_m: float = RASTER_CELL_M
                 ) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Minutes to (or from) the nearest facility at the centre of every grid cell, within
    ``limit_min`` (``inf`` beyond), by the raster method of the module notes.

    Returns ``(minutes, (x0, y_top, cell_m))``: a float32 array whose row 0 is the top;
    cell ``(row, col)`` spans ``x0 + col·cell … x0 + (col+1)·cell`` and ``y_top − (row+1)·cell
    … y_top − row·cell``. Cell edges lie on multiples of ``cell_m`` in the network CRS.
    """
    check_choice("direction", direction, DIRECTIONS)
    limit_s = check_positive("limit_min", limit_min) * 60.0
    cap = graph.speeds.access_max_m if buffer_cap_m is None else check_positive("buffer_cap_m", buffer_cap_m)
    cell = check_positive("cell_m", cell_m)
    grid, origin = _raster_seconds(graph, facilities, limit_s, direction, cap, cell)
    return grid / np.float32(60.0), origin


def _raster_seconds(graph: ModeGraph, facilities: Placement, limit_s: float, direction: str, cap: float,
                    cell: float, access: str = "any", points: tuple[np.ndarray, np.ndarray] | None = None,
                    bands_s: np.ndarray | None = None) -> tuple[np.ndarray, tuple[float, float, float]]:
    times = edge_piece_times(graph, facilities, direction, limit_min=limit_s / 60.0)
    geo = _edge_vertices(graph)
    if access == "nearest":
        edge, f, xy = _road_samples(graph, geo, cell)
        t = _times_at(times, graph.arrive_edge[edge] if direction == "from_facility" else edge, f)
        t[t > limit_s] = np.inf
        lim_xy = xy[np.isfinite(t)]
        if points is not None:
            p_xy = np.asarray(points[0], dtype=float).reshape(-1, 2)
            p_s = np.asarray(points[1], dtype=float).reshape(-1) * 60.0
            lim_xy = np.r_[lim_xy, p_xy[p_s <= limit_s]]
    else:
        iv = _intervals(times, limit_s)
        # Road samples at most cell/2 apart along every reachable interval, both ends included.
        length = geo.cum_total[iv["edge"]] * (iv["fb"] - iv["fa"])
        count = np.ceil(length / (cell / 2.0)).astype(np.int64) + 1
        k = np.repeat(np.arange(len(count)), count)
        step = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        f = iv["fa"][k] + (iv["fb"] - iv["fa"])[k] * (step / np.maximum(count[k] - 1, 1))
        t = iv["t0"][k] + (f - iv["fref"][k]) * iv["slope"][k]
        xy = geo.at(iv["edge"][k], f)
        fac_ok = times["fac_t"] <= limit_s
        if fac_ok.any():
            xy = np.r_[xy, geo.at(times["fac_edge"][fac_ok], times["fac_frac"][fac_ok])]
            t = np.r_[t, times["fac_t"][fac_ok]]
        lim_xy = xy
    if len(lim_xy) == 0:
        return np.full((0, 0), np.inf, dtype=np.float32), (0.0, 0.0, cell)
    r = int(np.floor(cap / cell))
    # "nearest": a margin of twice the cap, so every road nearer than the cap to a cell
    # that may be reached is on the grid (a nearer unreached road must block it).
    pad = (r + 1) * (2 if access == "nearest" else 1)
    x0 = (np.floor(lim_xy[:, 0].min() / cell) - pad) * cell
    y_top = (np.ceil(lim_xy[:, 1].max() / cell) + pad) * cell
    nx = int(np.floor((lim_xy[:, 0].max() - x0) / cell)) + pad + 1
    ny = int(np.floor((y_top - lim_xy[:, 1].min()) / cell)) + pad + 1
    if nx * ny > RASTER_MAX_CELLS:
        raise InputError(f"the raster isochrone grid would hold {nx * ny:,} cells of {cell:g} m; pass a larger cell_m")
    col = np.floor((xy[:, 0] - x0) / cell).astype(np.int64)
    row = np.floor((y_top - xy[:, 1]) / cell).astype(np.int64)
    on = (col >= 0) & (col < nx) & (row >= 0) & (row < ny)
    seeds = cell_min(row[on] * nx + col[on], t[on].astype(np.float32), ny * nx, np.inf).reshape(ny, nx)
    v = graph.speeds.access_kmh / 3.6
    if access == "nearest":
        road = np.zeros(seeds.shape, dtype=bool)
        road[row[on], col[on]] = True
        out = nearest_seed_time(seeds, road, cell, cap, v)
        if points is not None and len(p_xy):
            pc = np.floor((p_xy[:, 0] - x0) / cell).astype(np.int64)
            pr = np.floor((y_top - p_xy[:, 1]) / cell).astype(np.int64)
            inside = (pc >= 0) & (pc < nx) & (pr >= 0) & (pr < ny)
            at, ps = pr[inside] * nx + pc[inside], p_s[inside].astype(np.float32)
            # Homes whose own band differs from the raster's at their cell paint their whole
            # cell (half their spacing around them) with their time, the worst of a cell's
            # homes (unreachable: inf); then every home's own cell gets its homes' worst time.
            bands_s = np.array([np.inf]) if bands_s is None else bands_s
            differ = np.searchsorted(bands_s, ps) != np.searchsorted(bands_s, out.reshape(-1)[at])
            worst = -cell_min(at[differ], -ps[differ], ny * nx, np.inf)
            paint_nearest(out, worst.reshape(ny, nx), half_spacing(p_xy) / cell)
            worst = -cell_min(at, -ps, ny * nx, np.inf)
            out.reshape(-1)[worst != -np.inf] = worst[worst != -np.inf]
        out[out > limit_s] = np.inf
        return out, (float(x0), float(y_top), cell)
    # Off-road leg: t(c) = min over seed cells s within the cap of t(s) + |c - s| / v, a
    # grey erosion by a cone, done as one vectorised minimum per offset of the disc.
    dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
    dist = np.hypot(dx, dy) * cell
    keep = dist <= cap * (1 + 1e-9)
    out = seeds.copy()
    tmp = np.empty_like(seeds)
    core = (slice(pad, ny - pad), slice(pad, nx - pad))  # seeds lie here; offsets stay in the grid
    for oy, ox, cost in zip(dy[keep], dx[keep], (dist[keep] / v).astype(np.float32)):
        if oy == 0 and ox == 0:
            continue
        src = seeds[pad:ny - pad, pad:nx - pad]
        dst = out[pad + oy:ny - pad + oy, pad + ox:nx - pad + ox]
        np.add(src, cost, out=tmp[core])
        np.minimum(dst, tmp[core], out=dst)
    out[out > limit_s] = np.inf
    return out, (float(x0), float(y_top), cell)


def _times_at(times: dict[str, np.ndarray], edge: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Seconds at fractions ``f`` along ``edge``, from the pieces of :func:`edge_piece_times`."""
    order = np.lexsort((times["f0"], times["edge"]))
    key = times["edge"][order] * 2.0 + times["f0"][order]
    p = order[np.clip(np.searchsorted(key, edge * 2.0 + f, side="right") - 1, 0, len(order) - 1)]
    with np.errstate(invalid="ignore"):
        ta = times["t0"][p] + np.where(f > times["f0"][p], (f - times["f0"][p]) * times["s0"][p], 0.0)
        tb = times["t1"][p] + np.where(f < times["f1"][p], (times["f1"][p] - f) * times["s1"][p], 0.0)
    return np.fmin(ta, tb)


def _edge_vertices(graph: ModeGraph) -> "_EdgeVertices":
    return kept(graph.network, ("vertices",), lambda: _EdgeVertices(graph))


def _road_samples(graph: ModeGraph, geo: "_EdgeVertices", cell: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points at most ``cell/2`` apart along every edge the mode's points may join (both ends
    included): edge, fraction and coordinates, kept per road set and cell."""
    def build():
        edges = np.flatnonzero(graph.eligible | graph.fragment)
        count = np.ceil(geo.cum_total[edges] / (cell / 2.0)).astype(np.int64) + 1
        edge = np.repeat(edges, count)
        step = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        f = step / np.repeat(np.maximum(count - 1, 1), count)
        return edge, f, geo.at(edge, f)
    return kept(graph.network, ("samples", graph.snap_key(), cell), build)


def _raster_bands(graph: ModeGraph, facilities: Placement, limits: np.ndarray, direction: str, cap: float,
                  cell: float, access: str = "any", points: tuple[np.ndarray, np.ndarray] | None = None
                  ) -> np.ndarray:
    """Band polygons of the raster method: cells classified by their time, polygonised."""
    from affine import Affine

    bands = np.array([shapely.Polygon() for _ in limits], dtype=object)
    if not facilities.on_network.any():
        return bands
    seconds, (x0, y_top, cell) = _raster_seconds(graph, facilities, limits[-1] * 60.0, direction, cap, cell, access,
                                                 points, (limits * 60.0).astype(np.float32))
    if seconds.size == 0:
        return bands
    reached = np.isfinite(seconds)
    klass = np.searchsorted(limits * 60.0, seconds, side="left").astype(np.int16)  # t <= T_i: band i
    klass[~reached] = -1
    found, value = raster_polygons(klass, reached, Affine(cell, 0.0, x0, 0.0, -cell, y_top))
    for i in range(len(limits)):
        polys = found[value == i]
        if not len(polys):
            continue
        bad = ~shapely.is_valid(polys)
        if bad.any():
            polys[bad] = [_polygonal(shapely.make_valid(p)) for p in polys[bad]]
            polys = shapely.get_parts(polys)
        # 4-connected regions of one class touch at most at corners: a valid MultiPolygon.
        bands[i] = polys[0] if len(polys) == 1 else shapely.MultiPolygon(list(polys))
    return bands


def _polygonal(geom) -> shapely.Geometry:
    """Keep the polygonal parts of ``geom`` (set operations can leave slivers of lines)."""
    if geom is None or geom.is_empty:
        return shapely.Polygon()
    if shapely.get_type_id(geom) in (3, 6):
        return geom
    parts = shapely.get_parts(geom)
    polys = parts[np.isin(shapely.get_type_id(parts), [3, 6])]
    if len(polys) == 0:
        return shapely.Polygon()
    return shapely.union_all(polys)


def _simplify_bands(bands: np.ndarray, tolerance: float) -> np.ndarray:
    present = np.flatnonzero([not g.is_empty for g in bands])
    out = bands.copy()
    if len(present) == 0:
        return out
    try:
        simplified = shapely.coverage_simplify(bands[present], tolerance)
    except shapely.errors.GEOSException:
        simplified = shapely.simplify(bands[present], tolerance, preserve_topology=True)
    out[present] = [_polygonal(shapely.make_valid(g)) for g in simplified]
    return out
