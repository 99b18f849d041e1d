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
sharing a mode's roads (drive and ambulance) build them once; a target that reaches most of
the roads takes the grid of all of them, whose nearest-road transform and road-sample cells
are kept too (one ``distance_transform_edt`` per road set, not per target, started on a
thread while the homes' spacing is found; the same cells either way). Bands are polygonised on the reached cells' box when cell and grid corner are
whole metres (the corners' coordinates are then exact: the same polygons).

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
from .routing import DIRECTIONS, ModeGraph, Placement, edge_piece_times
from .service import service_areas  # noqa: F401  (its home until issue 15)
from .isoraster import (RASTER_CELL_M, _EdgeVertices, _edge_vertices, _intervals, _polygonal, _raster_bands,
                        raster_times)  # noqa: F401  (raster_times: public here too)


#: Vertices of the polygon drawn for a circle (shapely.buffer's default, quad_segs=8).
CIRCLE_VERTICES = 32


#: Circles are drawn circumscribed, so that polygons contain the exact reach: they exceed
#: it by at most 1/cos(pi/32) - 1 = 0.48 % of the local buffer radius.
CIRCLE_SCALE = 1.0 / np.cos(np.pi / CIRCLE_VERTICES)


BAND_COLUMNS = ["band", "min_minutes", "max_minutes"]


#: Tolerance (metres) of the isochrone outlines on the web map: the run simplifies its map
#: bands by it once, as one coverage (:func:`geoaccess.pipeline.target_isochrones`), and the
#: map draws them as they are. Just above √(25²/2) ≈ 17.7 m, so Visvalingam–Whyatt drops the
#: stair steps of the 25 m cells (triangles of 312 m²) while neighbouring bands keep sharing
#: their borders.
ISOCHRONE_SIMPLIFY_M = 18.0


METHODS = ("exact", "raster")


ACCESS = ("any", "nearest")


# A segment whose radius falls by its length (within this, metres) is its upstream disc.
DOMINATED_TOL_M = 1e-6


def isochrones(graph: ModeGraph, facilities: Placement, thresholds_min: Sequence[float],
               direction: str = "to_facility", *, buffer_cap_m: float | None = None,
               simplify_m: float | None = None, method: str = "exact", cell_m: float = RASTER_CELL_M,
               access: str = "any", points: tuple[np.ndarray, np.ndarray] | None = None,
               extent: tuple[float, float, float, float] | None = None) -> gpd.GeoDataFrame:
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
    extent
        ``(xmin, ymin, xmax, ymax)`` in metres of the network CRS (raster only): the bands are
        needed only there, e.g. on a map of one county of a larger network. The grid is cut to
        the extent plus a margin of a few caps (and the homes' paint reach), so that every cell
        inside the extent gets the time it gets on the whole grid: the bands cut to the extent
        are the same, at a fraction of the cost when the facilities reach far beyond it.
        Outside the extent, up to the margin, bands are drawn but may stop at the grid's edge.
        Default None: everywhere the facilities reach. Travel times are computed on the whole
        network either way.

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
    if extent is not None:
        extent = _check_extent(extent)
    if method == "raster":
        cell = check_positive("cell_m", cell_m)
        bands = _raster_bands(graph, facilities, limits, direction, cap, cell, access, points, extent)
    elif access != "any" or points is not None or extent is not None:
        raise InputError("access='nearest', points and extent need method='raster'")
    else:
        reaches = reach_polygons(graph, facilities, limits, direction, buffer_cap_m=cap)
        bands = np.empty(len(limits), dtype=object)
        bands[0] = reaches[0]
        if len(limits) > 1:
            bands[1:] = shapely.difference(reaches[1:], reaches[:-1])
        bands = np.array([_polygonal(g) for g in bands], dtype=object)
    if simplify_m is not None:
        bands = _simplify_bands(bands, simplify_m, from_raster=method == "raster")
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


def _check_extent(extent: Sequence[float]) -> tuple[float, float, float, float]:
    try:
        box = tuple(float(v) for v in extent)
    except (TypeError, ValueError):
        box = ()
    if len(box) != 4 or not np.all(np.isfinite(box)) or box[0] >= box[2] or box[1] >= box[3]:
        raise InputError(f"extent must be (xmin, ymin, xmax, ymax) in metres of the network CRS with xmin < xmax "
                         f"and ymin < ymax, got {extent!r}")
    return box


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


def _simplify_bands(bands: np.ndarray, tolerance: float, from_raster: bool = False) -> np.ndarray:
    """The bands simplified as one coverage. ``from_raster``: the bands are valid polygons
    polygonised together from one raster; their simplification is then valid as it comes, and
    ``make_valid``'s validity pass (on the county nearly as long as the simplification) is
    skipped. GEOS removes a corner only when no vertex of any ring lies in its triangle (its
    sides included), so no ring comes to cross or touch another (property-tested on hostile
    rasters). The exact method's bands come from overlays: they are made valid."""
    present = np.flatnonzero([not g.is_empty for g in bands])
    out = bands.copy()
    if len(present) == 0:
        return out
    try:
        simplified = shapely.coverage_simplify(bands[present], tolerance)
    except shapely.errors.GEOSException:
        simplified, from_raster = shapely.simplify(bands[present], tolerance, preserve_topology=True), False
    out[present] = list(simplified) if from_raster else [_polygonal(shapely.make_valid(g)) for g in simplified]
    return out
