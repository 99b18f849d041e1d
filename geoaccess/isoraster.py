"""Isochrones on a grid (``method="raster"``): travel time sampled along the roads onto
square cells, places joining their road as homes do, bands as polygons in bulk.

Also the pieces shared with the exact method in :mod:`geoaccess.isochrones`: reachable
intervals of edge pieces (:func:`_intervals`) and edge vertices with their fractions
(:class:`_EdgeVertices`).
"""

from __future__ import annotations

import numpy as np
import shapely

from .errors import InputError, check_choice, check_positive
from .grids import cell_max_at, cell_min, half_spacing, kept, kept_soon, nearest_seed_time, nearest_seeds, \
    paint_nearest_at, raster_polygons, self_touching
from .routing import DIRECTIONS, ModeGraph, Placement, edge_piece_times


#: Default cell of the raster method (metres).
RASTER_CELL_M = 25.0


#: The raster method refuses grids larger than this many cells (pass a larger cell_m).
RASTER_MAX_CELLS = 60_000_000


#: ``access="nearest"`` takes the grid of all the roads (and its nearest-road transform, kept
#: for every target on them) when it holds at most this many times the target's own cells.
SHARED_GRID_MAX_RATIO = 2


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
        self.columns = (np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1]))
        self.key = edge_of * 2.0 + frac  # sorted: edges in order, fractions increasing
        self.cum_total = cum[end]  # planar length of each edge

    def at(self, edge: np.ndarray, f: np.ndarray) -> np.ndarray:
        """Coordinates of the points at fractions ``f`` along ``edge``."""
        j = np.searchsorted(self.key, edge * 2.0 + f, side="right") - 1
        start, end = self.start[edge], self.end[edge]
        # np.clip(j, start, max(end - 1, start)) in place: no temporaries of millions of samples
        np.maximum(j, start, out=j)
        np.minimum(j, np.maximum(end - 1, start, out=start), out=j)
        k = np.minimum(j + 1, end, out=end)
        fj = self.frac[j]
        df = self.frac[k] - fj
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.clip(np.where(df > 0, (f - fj) / df, 0.0), 0.0, 1.0)
        # Per coordinate from contiguous columns: the same arithmetic as on (n, 2) rows, and
        # 1-D gathers are several times faster than gathering rows.
        out = np.empty((len(j), 2))
        for c, column in enumerate(self.columns):
            a = column[j]
            out[:, c] = a + t * (column[k] - a)
        return out


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
                    bands_s: np.ndarray | None = None, extent: tuple[float, float, float, float] | None = None
                    ) -> tuple[np.ndarray, tuple[float, float, float]]:
    times = edge_piece_times(graph, facilities, direction, limit_min=limit_s / 60.0)
    geo = _edge_vertices(graph)
    r = int(np.floor(cap / cell))
    # "nearest": a margin of twice the cap, so every road nearer than the cap to a cell
    # that may be reached is on the grid (a nearer unreached road must block it).
    pad = (r + 1) * (2 if access == "nearest" else 1)
    box = None
    if access == "nearest":
        p_xy = None if points is None else np.asarray(points[0], dtype=float).reshape(-1, 2)
        edge, f, xy = _road_samples(graph, geo, cell)
        if extent is not None:
            # A cell's time depends on the roads within the cap of it and on the homes painting
            # it (within their paint window), whose own cells depend on the roads within the cap
            # of them: with that margin the extent's cells are those of the whole grid.
            paint = 0 if p_xy is None else int(np.ceil(np.floor(half_spacing(p_xy) / cell) * np.sqrt(2.0)))
            box = _box_grid(extent, cell, pad + paint + 2)
            near = _in_grid(xy, box, cell)
            edge, f, xy = edge[near], f[near], xy[near]
        t = _times_at(times, graph.arrive_edge[edge] if direction == "from_facility" else edge, f)
        t[t > limit_s] = np.inf
        lim = _bounds(xy, np.isfinite(t))
        if points is not None:
            p_s = np.asarray(points[1], dtype=float).reshape(-1) * 60.0
            lim = _bounds_union(lim, _bounds(p_xy, p_s <= limit_s))
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
        lim = _bounds(xy)
        if extent is not None:
            # A cell's time depends on the seeds within the cap; they must lie in the grid's core.
            box = _box_grid(extent, cell, 2 * pad + 1)
    if lim is None:
        return np.full((0, 0), np.inf, dtype=np.float32), (0.0, 0.0, cell)
    x0, y_top, nx, ny = _clip(_extent(lim, cell, pad), box, cell)
    shared = None
    if nx <= 0 or ny <= 0:
        return np.full((0, 0), np.inf, dtype=np.float32), (0.0, 0.0, cell)
    if access == "nearest":
        # Reaching most of the roads' grid: take that grid, whose nearest-road transform the
        # targets on these roads share (cells aligned alike). A reached cell lies within the
        # cap of a reached road or point, or within the paint reach of a point: with that
        # margin round them inside the roads' grid, both grids give the same reached cells.
        road_extent = kept(graph.network, ("road grid", graph.snap_key(), cell, pad, box),
                           lambda: _clip(_extent(_bounds(xy), cell, pad), box, cell))
        rx0, rtop, rnx, rny = road_extent

        def takes_roads_grid(margin: int) -> bool:
            ix0, itop, inx, iny = _clip(_extent(lim, cell, margin), box, cell)
            inside = (rx0 <= ix0 and rtop >= itop and rx0 + rnx * cell >= ix0 + inx * cell
                      and rtop - rny * cell <= itop - iny * cell)
            return inside and rnx * rny <= min(SHARED_GRID_MAX_RATIO * nx * ny, RASTER_MAX_CELLS)
        nearest_key = ("nearest road", graph.snap_key(), cell, pad, cap, box)
        if takes_roads_grid(r + 1):
            # Taken unless the homes' paint reach (their spacing, found next) is wider than the
            # cap: its nearest-road transform is started now, on a thread (scipy lets go of the
            # GIL) while the spacing's k-d tree and the road seeds are computed here.
            road = kept(graph.network, ("road cells", graph.snap_key(), cell, pad, box, road_extent),
                        lambda: _road_cells(xy, road_extent, cell, True))[2]
            kept_soon(graph.network, nearest_key, lambda: nearest_seeds(road, cell, cap))
        margin = max(r, int(np.ceil(half_spacing(p_xy) / cell)) if points is not None else 0) + 1
        if takes_roads_grid(margin):
            x0, y_top, nx, ny = road_extent
            shared = road_extent
    if nx * ny > RASTER_MAX_CELLS:
        raise InputError(f"the raster isochrone grid would hold {nx * ny:,} cells of {cell:g} m; pass a larger cell_m")
    # On the shared grid the samples' cells are the same for every target on these roads.
    grid = (x0, y_top, nx, ny)
    flat, on, road = _road_cells(xy, grid, cell, access == "nearest") if shared is None else kept(
        graph.network, ("road cells", graph.snap_key(), cell, pad, box, shared),
        lambda: _road_cells(xy, grid, cell, True))
    seeds = cell_min(flat, t[on].astype(np.float32), ny * nx, np.inf).reshape(ny, nx)
    v = graph.speeds.access_kmh / 3.6
    if access == "nearest":
        nearest = None if shared is None else kept_soon(
            graph.network, nearest_key, lambda: nearest_seeds(road, cell, cap)).result()
        out = nearest_seed_time(seeds, road, cell, cap, v, nearest)
        if points is not None and len(p_xy):
            pr, pc = _cell_of(p_xy, x0, y_top, cell)
            inside = (pc >= 0) & (pc < nx) & (pr >= 0) & (pr < ny)
            at, ps = pr[inside] * nx + pc[inside], p_s[inside].astype(np.float32)
            # Homes whose own band differs from the raster's at their cell paint their whole
            # cell (half their spacing around them) with their time, the worst of a cell's
            # homes (unreachable: inf); then every home's own cell gets its homes' worst time.
            bands_s = np.array([np.inf]) if bands_s is None else bands_s
            differ = np.searchsorted(bands_s, ps) != np.searchsorted(bands_s, out.reshape(-1)[at])
            paint_nearest_at(out, at[differ], ps[differ], half_spacing(p_xy) / cell)
            held, worst = cell_max_at(at, ps)
            out.reshape(-1)[held] = worst
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


def _road_cells(xy: np.ndarray, grid: tuple[float, float, int, int], cell: float, nearest: bool
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The flat cells of the road samples ``xy`` on ``grid`` (x0, y_top, nx, ny), which samples
    fall on it, and (``nearest``) the bool grid of the road cells."""
    x0, y_top, nx, ny = grid
    row, col = _cell_of(xy, x0, y_top, cell)
    on = (col >= 0) & (col < nx) & (row >= 0) & (row < ny)
    flat = row[on] * nx + col[on]
    road = None
    if nearest:
        road = np.zeros((ny, nx), dtype=bool)
        road.reshape(-1)[flat] = True
    return flat, on, road


def _bounds(xy: np.ndarray, keep: np.ndarray | None = None) -> tuple[float, float, float, float] | None:
    """``(xmin, ymin, xmax, ymax)`` of the points ``xy`` (those where ``keep``), None if none.
    Reduced in place (``where=``): no copy of the kept points, millions of road samples."""
    if not len(xy) or (keep is not None and not keep.any()):
        return None
    where = True if keep is None else keep
    lo = [np.min(xy[:, c], where=where, initial=np.inf) for c in (0, 1)]
    hi = [np.max(xy[:, c], where=where, initial=-np.inf) for c in (0, 1)]
    return lo[0], lo[1], hi[0], hi[1]


def _bounds_union(a: tuple[float, float, float, float] | None, b: tuple[float, float, float, float] | None
                  ) -> tuple[float, float, float, float] | None:
    if a is None or b is None:
        return a if b is None else b
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _extent(bounds: tuple[float, float, float, float], cell: float, pad: int) -> tuple[float, float, int, int]:
    """``(x0, y_top, nx, ny)`` of the grid of ``cell`` covering ``bounds`` (:func:`_bounds`) with
    ``pad`` cells around, its cell edges on multiples of ``cell``."""
    xmin, ymin, xmax, ymax = bounds
    x0 = (np.floor(xmin / cell) - pad) * cell
    y_top = (np.ceil(ymax / cell) + pad) * cell
    nx = int(np.floor((xmax - x0) / cell)) + pad + 1
    ny = int(np.floor((y_top - ymin) / cell)) + pad + 1
    return x0, y_top, nx, ny


def _cell_of(xy: np.ndarray, x0: float, y_top: float, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the cell holding each point (a point on a cell edge goes to the cell
    east and south of it). Taken from the point's own coordinates, not its offset from the
    grid's corner, whose rounding would move points on cell edges with the grid's extent."""
    row = np.floor(-xy[:, 1] / cell).astype(np.int64) + round(y_top / cell)
    col = np.floor(xy[:, 0] / cell).astype(np.int64) - round(x0 / cell)
    return row, col


def _box_grid(extent: tuple[float, float, float, float], cell: float, margin: int) -> tuple[float, float, int, int]:
    """``(x0, y_top, nx, ny)`` of the grid of ``cell`` covering ``extent`` (xmin, ymin, xmax,
    ymax; metres) with ``margin`` cells around, its cell edges on multiples of ``cell``."""
    i0, j0 = np.floor(extent[0] / cell) - margin, np.floor(extent[1] / cell) - margin
    i1, j1 = np.ceil(extent[2] / cell) + margin, np.ceil(extent[3] / cell) + margin
    return float(i0 * cell), float(j1 * cell), int(i1 - i0), int(j1 - j0)


def _clip(grid: tuple[float, float, int, int], box: tuple[float, float, int, int] | None, cell: float
          ) -> tuple[float, float, int, int]:
    """The part of ``grid`` inside ``box`` (both aligned on multiples of ``cell``, as
    :func:`_extent` and :func:`_box_grid` make them); ``nx`` or ``ny`` ≤ 0 when they miss."""
    if box is None:
        return grid
    (gi, gj, gnx, gny), (bi, bj, bnx, bny) = ((round(g[0] / cell), round(g[1] / cell), g[2], g[3]) for g in (grid, box))
    i0, i1 = max(gi, bi), min(gi + gnx, bi + bnx)
    top, bottom = min(gj, bj), max(gj - gny, bj - bny)
    return float(i0 * cell), float(top * cell), int(i1 - i0), int(top - bottom)


def _in_grid(xy: np.ndarray, grid: tuple[float, float, int, int], cell: float) -> np.ndarray:
    """Which points ``xy`` fall in a cell of ``grid``."""
    x0, y_top, nx, ny = grid
    return (xy[:, 0] >= x0) & (xy[:, 0] < x0 + nx * cell) & (xy[:, 1] <= y_top) & (xy[:, 1] > y_top - ny * cell)


def _times_at(times: dict[str, np.ndarray], edge: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Seconds at fractions ``f`` along ``edge``, from the pieces of :func:`edge_piece_times`."""
    order = np.lexsort((times["f0"], times["edge"]))
    # Most edges are one piece from f0 = 0: that piece, by a lookup. The others (split at a
    # facility) by a search of the pieces' keys, as the lookup gives for the single pieces.
    count = np.bincount(times["edge"], minlength=int(edge.max(initial=-1)) + 1)
    p = order[np.minimum(np.cumsum(count) - count, len(order) - 1)[edge]]
    f0 = times["f0"][p]
    other = np.flatnonzero((count[edge] != 1) | (f0 != 0.0))
    if len(other):
        key = times["edge"][order] * 2.0 + times["f0"][order]
        at = np.searchsorted(key, edge[other] * 2.0 + f[other], side="right") - 1
        p[other] = order[np.clip(at, 0, len(order) - 1)]
        f0[other] = times["f0"][p[other]]
    f1 = times["f1"][p]  # each piece's ends gathered once (millions of samples)
    with np.errstate(invalid="ignore"):
        ta = times["t0"][p] + np.where(f > f0, (f - f0) * times["s0"][p], 0.0)
        tb = times["t1"][p] + np.where(f < f1, (f1 - f) * times["s1"][p], 0.0)
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
                  cell: float, access: str = "any", points: tuple[np.ndarray, np.ndarray] | None = None,
                  extent: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """Band polygons of the raster method: cells classified by their time, polygonised
    (with ``extent``, on the cells of the whole grid within a margin of it)."""
    from affine import Affine

    bands = np.array([shapely.Polygon() for _ in limits], dtype=object)
    if not facilities.on_network.any():
        return bands
    seconds, (x0, y_top, cell) = _raster_seconds(graph, facilities, limits[-1] * 60.0, direction, cap, cell, access,
                                                 points, (limits * 60.0).astype(np.float32), extent)
    if seconds.size == 0:
        return bands
    reached = np.isfinite(seconds)
    rows, cols = np.flatnonzero(reached.any(axis=1)), np.flatnonzero(reached.any(axis=0))
    if not len(rows):
        return bands
    if all(float(v).is_integer() and abs(v) < 2 ** 52 for v in (cell, x0, y_top)):
        # Polygonise only the reached cells' box (GDAL's time goes with the cells): with whole
        # metres the corners' coordinates are exact either way, so the polygons are the same.
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        seconds, reached = seconds[box], reached[box]
        x0, y_top = x0 + cols[0] * cell, y_top - rows[0] * cell
    # t <= T_i: band i, i.e. the number of limits below t (as searchsorted(side="left"), a few
    # times faster on millions of cells; float64 limits, so float32 times compare exactly)
    klass = np.zeros(seconds.shape, dtype=np.int16)
    for limit_s in limits[:-1] * 60.0:
        klass += seconds > limit_s
    klass[~reached] = -1
    return _class_bands(klass, reached, Affine(cell, 0.0, x0, 0.0, -cell, y_top), len(limits))


def _class_bands(klass: np.ndarray, reached: np.ndarray, transform, n: int) -> np.ndarray:
    """Band ``i`` (of ``n``): the cells of ``klass == i`` under ``reached``, as one valid
    (Multi)Polygon (empty where none). The bands form a valid coverage: polygonised together,
    neighbours share their edges' coordinates exactly."""
    bands = np.array([shapely.Polygon() for _ in range(n)], dtype=object)
    found, value = raster_polygons(klass, reached, transform)
    for i in range(n):
        polys = found[value == i]
        if not len(polys):
            continue
        bad = self_touching(polys)
        bad[bad] = ~shapely.is_valid(polys[bad])
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
