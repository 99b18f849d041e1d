"""Snapping points (homes, facilities) to the nearest point on a road edge.

Points snap to the nearest position *on an edge*, not to the nearest node: a house in
the middle of a long rural road is reached along that road, not from whichever junction
happens to be closest.

How: every eligible edge is cut into straight pieces no longer than ``PIECE_M``; a
``scipy.spatial.cKDTree`` over the piece centres gives each point its ``k`` nearest
pieces, onto which it is projected exactly (numpy). The answer is *certified* exact: any
piece not examined has its centre at least as far as the ``k``-th one, so it is at least
``d_k - h`` away (``h`` = half the longest piece); a point is accepted when
``d_k > best + h``. Points that fail (few: far from the network, or in a dense knot of
roads) are searched again with a larger ``k``, then with a ball query of radius
``best + h``, which is exact by the same argument. Of equally near pieces the one of the
lowest edge index (then nearest that edge's start) wins.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import shapely
from scipy.spatial import cKDTree

from .errors import InputError
from .grids import kdtree_workers, kept
from .water import WaterIndex  # noqa: F401  (moved there; avoid_water and callers use it)

PIECE_M = 25.0  # longest straight piece in the index, metres (short: a tight certificate in dense towns)
_K_FIRST, _K_SECOND = 16, 128
_CHUNK = 32_768  # points projected at a time (bounded temporaries)
_SPARSE_SHARE = 0.5  # a view over fewer of the pieces than this queries an index of its own edges


@dataclass(frozen=True)
class Snapped:
    """Where each point meets the road network.

    Attributes
    ----------
    edge : numpy.ndarray
        Index of the physical edge each point snaps to (into ``RoadNetwork.edges``).
    fraction : numpy.ndarray
        Position along that edge from its ``u`` end (0) to its ``v`` end (1).
    distance_m : numpy.ndarray
        Straight-line distance from the point to its snapped position, metres.
    """

    edge: np.ndarray
    fraction: np.ndarray
    distance_m: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)


class SegmentIndex:
    """Nearest-position-on-edge index over the eligible edges (build once, query often).

    Parameters
    ----------
    edge_geoms
        LineStrings of the physical edges, in a projected CRS (metres).
    eligible
        Boolean mask over edges that points may snap to; default all.
    piece_m
        Edges are cut into straight pieces no longer than this.
    origin
        Coordinates are held relative to this point (default: the mean vertex).
    background
        Build the k-d tree on a background thread (cKDTree lets go of the GIL): the constructor
        returns once the pieces are cut; the first use of :attr:`tree` waits. The same tree.
    """

    def __init__(self, edge_geoms: np.ndarray, eligible: np.ndarray | None = None, piece_m: float = PIECE_M,
                 origin: np.ndarray | None = None, background: bool = False):
        edge_geoms = np.asarray(edge_geoms, dtype=object)
        n_edges = len(edge_geoms)
        self.eligible = (np.ones(n_edges, dtype=bool) if eligible is None
                         else np.asarray(eligible, dtype=bool).copy())
        candidates = np.flatnonzero(self.eligible)
        if len(candidates) == 0:
            raise InputError("no road of this travel mode to snap to: the network has no usable edges for it")
        geoms = edge_geoms[candidates]
        types = shapely.get_type_id(geoms)
        if not np.isin(types, (1, 2)).all():  # LineString / LinearRing only
            raise InputError("edge geometries must be LineStrings")
        coords, which = shapely.get_coordinates(geoms, return_index=True)
        if origin is None:
            origin = coords.mean(axis=0) if len(coords) else np.zeros(2)
        self.origin = np.asarray(origin, dtype=float)
        # One coordinate at a time: 1-D gathers are several times faster than gathering (n, 2)
        # rows, with the same arithmetic (the same bits).
        x, y = coords[:, 0] - self.origin[0], coords[:, 1] - self.origin[1]  # better-conditioned projections
        same = which[1:] == which[:-1]
        ax, bx, ay, by = x[:-1][same], x[1:][same], y[:-1][same], y[1:][same]
        seg_edge = candidates[which[:-1][same]]
        seg_len = np.hypot(bx - ax, by - ay)
        # Length along the edge at each segment's start.
        step = np.zeros(len(coords) - 1 if len(coords) else 0)
        step[same] = seg_len
        cum = np.r_[0.0, np.cumsum(step)]
        first = np.r_[0, np.flatnonzero(~same) + 1]
        start_of = np.repeat(cum[first], np.diff(np.r_[first, len(coords)]))
        seg_s0 = (cum - start_of)[:-1][same]
        self.edge_len = np.bincount(seg_edge, weights=seg_len, minlength=n_edges)
        # Cut segments into pieces of at most piece_m.
        n_pieces = np.maximum(1, np.ceil(seg_len / float(piece_m)).astype(np.int64))
        seg = np.repeat(np.arange(len(ax)), n_pieces)
        n_of = n_pieces[seg]
        k = np.arange(len(seg)) - np.repeat(np.cumsum(n_pieces) - n_pieces, n_pieces)
        t0 = k / n_of
        t1 = (k + 1) / n_of
        last = k + 1 == n_of
        ends, centres = [], []
        for a, b in ((ax, bx), (ay, by)):
            a_s, b_s = a[seg], b[seg]
            d = b_s - a_s
            pa = a_s + t0 * d
            pb = np.where(last, b_s, a_s + t1 * d)
            ends.append((pa, pb - pa))
            centres.append((pa + pb) / 2.0)
        (self.ax, self.dx), (self.ay, self.dy) = ends
        l2 = self.dx ** 2 + self.dy ** 2
        with np.errstate(divide="ignore"):
            self.inv_l2 = np.where(l2 > 0, 1.0 / l2, 0.0)
        self.piece_len = np.sqrt(l2)
        self.piece_s0 = seg_s0[seg] + t0 * seg_len[seg]
        self.piece_edge = seg_edge[seg]
        # The last piece of each edge: its far end is the edge's v end (fraction exactly 1).
        self.piece_last = np.r_[self.piece_edge[1:] != self.piece_edge[:-1], True] if len(seg) else np.zeros(0, bool)
        self.half = float(self.piece_len.max()) / 2.0 if len(seg) else 0.0
        # Unbalanced, uncompacted: builds ~2x and queries ~25 % faster here; answers do not depend
        # on the tree's shape (ties go to the lowest piece, certified below).
        centres = np.column_stack(centres)
        build = lambda: cKDTree(centres, balanced_tree=False, compact_nodes=False)  # noqa: E731
        self._tree, self._tree_soon = (None, _soon(1, [(build,)])[0]) if background else (build(), None)
        self.n_pieces = len(seg)
        self._geoms, self._subsets = edge_geoms, {}
        self._searching: tuple | None = None  # see search_soon

    @property
    def tree(self) -> cKDTree:
        """The k-d tree over the piece centres (waited for when built on a background thread)."""
        self._tree = self._tree if self._tree is not None else self._tree_soon.result()
        return self._tree

    @tree.setter
    def tree(self, tree: cKDTree) -> None:
        self._tree = tree

    def matches(self, eligible: np.ndarray | None) -> bool:
        """Whether this index was built for the same eligible edges."""
        want = np.ones(len(self.eligible), dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
        return want.shape == self.eligible.shape and bool(np.array_equal(want, self.eligible))

    # ------------------------------------------------------------------ queries

    def view(self, mask: np.ndarray | None) -> "SegmentIndex | _MaskedIndex":
        """This index restricted to the edges of ``mask`` (one index per road set, shared by
        every travel mode: each mode queries its own eligible edges through a view)."""
        if self.matches(mask):
            return self
        return _MaskedIndex(self, np.asarray(mask, dtype=bool) & self.eligible)

    def _subset(self, mask: np.ndarray) -> "SegmentIndex":
        """An index of only the ``mask`` edges, for the rare points none of whose nearest
        pieces is eligible (kept per mask)."""
        key = np.packbits(mask).tobytes()
        if key not in self._subsets:
            # The same origin: the same pieces to the last bit, so the same answers as a view.
            self._subsets[key] = SegmentIndex(self._geoms, mask, origin=self.origin)
        return self._subsets[key]

    def _project(self, px: np.ndarray, py: np.ndarray, idx: np.ndarray, mask: np.ndarray | None = None):
        """Best of the pieces ``idx`` (``(n, k)``) for each point: squared distance, piece, t."""
        return self._best(*self._distances(px, py, idx), idx, mask)

    def _distances(self, px: np.ndarray, py: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Squared distance from each point to each of its pieces ``idx`` (``(n, k)``), and where on it (t)."""
        apx = px[:, None] - self.ax[idx]
        apy = py[:, None] - self.ay[idx]
        dx, dy = self.dx[idx], self.dy[idx]
        t = (apx * dx + apy * dy) * self.inv_l2[idx]
        np.clip(t, 0.0, 1.0, out=t)
        apx -= t * dx
        apy -= t * dy
        return apx * apx + apy * apy, t

    def _best(self, d2: np.ndarray, t: np.ndarray, idx: np.ndarray, mask: np.ndarray | None):
        if mask is not None:  # pieces of other edges are no answer (but still bound the rest)
            d2 = np.where(mask[self.piece_edge[idx]], d2, np.inf)
        best = d2.min(axis=1)
        # Ties: the lowest piece index (lowest edge, then nearest its start).
        j = np.argmin(np.where(d2 == best[:, None], idx, np.iinfo(np.int64).max), axis=1)
        rows = np.arange(len(idx))
        return best, idx[rows, j], t[rows, j]

    def _nearest(self, px, py, k, workers):
        """The ``k`` nearest pieces of each point ``(n, k)`` and the k-th centre's distance."""
        dist_k, idx = self.tree.query(np.c_[px, py], k=min(k, self.n_pieces), workers=workers)
        return (dist_k, idx[:, None]) if idx.ndim == 1 else (dist_k[:, -1], idx)

    def _search(self, px, py, k, workers):
        """:meth:`_nearest`, and the squared distance and t on each piece (what every mask shares)."""
        kth, idx = self._nearest(px, py, k, workers)
        return (kth, idx, *self._distances(px, py, idx))

    def _judge(self, found, masks=(None,)):
        """Per mask: best squared distance, piece, t, and whether the certificate holds."""
        kth, idx, d2, t = found
        exhaustive = idx.shape[1] >= self.n_pieces
        out = []
        for mask in masks:
            best, piece, tt = self._best(d2, t, idx, mask)
            # Certificate: every piece not examined is at least dist_k - half away.
            ok = np.full(len(kth), True) if exhaustive else kth > np.sqrt(best) + self.half + 1e-6
            out.append((best, piece, tt, ok))
        return out

    def _query_k(self, px, py, k, workers, masks=(None,)):
        return self._judge(self._search(px, py, k, workers), masks)

    def search_soon(self, points_xy: np.ndarray, workers: int = -1) -> None:
        """Start the first nearest-piece search of ``(n, 2)`` points (metres) on background
        threads while the caller goes on (the k-d tree lets go of the GIL). The next
        :meth:`query_masks` of equal points (a run's demand, snapped once the travel modes are
        compiled) takes its result instead of searching: the same answers. Nothing is started
        on a one-thread budget (``workers`` 1) or for points not all finite (refused when queried).
        """
        points_xy = np.asarray(points_xy, dtype=float).reshape(-1, 2)
        chunks = _chunks(len(points_xy))
        if _threads(2, workers) < 2 or not chunks or not np.isfinite(points_xy).all():
            return
        px = points_xy[:, 0] - self.origin[0]
        py = points_xy[:, 1] - self.origin[1]
        # Filled in place: kept until the snapping in this thread's memory, not in the threads' arenas.
        kth, idx = np.empty(len(px)), np.empty((len(px), min(_K_FIRST, self.n_pieces)), dtype=np.int64)

        def fill(sl: slice) -> None:
            kth[sl], idx[sl] = self._nearest(px[sl], py[sl], _K_FIRST, 1)
        # One thread of the budget is the caller's (working on); query_masks takes back chunks not yet started.
        self._searching = (points_xy.copy(), kth, idx, fill,
                           _soon(max(1, _threads(len(chunks), workers) - 1), [(fill, sl) for sl in chunks]))

    def _searched(self, points_xy: np.ndarray) -> tuple | None:
        """:meth:`search_soon`'s k-th distances, pieces, filler and futures for these points, once; else None."""
        xy, *found = self._searching or (None,)
        if xy is None or xy.shape != points_xy.shape or not np.array_equal(xy, points_xy):
            return None
        self._searching = None
        return tuple(found)

    def query(self, points_xy: np.ndarray, workers: int = 1, mask: np.ndarray | None = None) -> Snapped:
        """Snap ``(n, 2)`` points (same CRS as the edges) to their nearest edge positions
        (only edges of ``mask`` when given: see :meth:`view`)."""
        return self.query_masks(points_xy, [mask], workers)[0]

    def query_masks(self, points_xy: np.ndarray, masks: list[np.ndarray | None], workers: int = 1) -> list[Snapped]:
        """:meth:`query` for each of ``masks`` (None: every indexed edge), the nearest pieces
        searched once for all: what travel modes on the same roads share."""
        points_xy = np.asarray(points_xy, dtype=float).reshape(-1, 2)
        n = len(points_xy)
        px = points_xy[:, 0] - self.origin[0]
        py = points_xy[:, 1] - self.origin[1]
        first = [(np.empty(n), np.empty(n, dtype=np.int64), np.empty(n), []) for _ in masks]
        chunks = _chunks(n)
        threads = _threads(len(chunks), workers)
        searched = self._searched(points_xy)
        # The chunks on the threads (numpy and the tree let go of the GIL), each query on one: same answers.
        with ThreadPoolExecutor(threads) as pool:
            if searched is not None:  # started by search_soon: the same chunks
                kth, idx, fill, futures = searched
                found = list(pool.map(lambda sl, f: (fill(sl) if f.cancel() else f.result()) or self._judge(
                    (kth[sl], idx[sl], *self._distances(px[sl], py[sl], idx[sl])), masks), chunks, futures))
            else:
                found = list(pool.map(lambda sl: self._query_k(px[sl], py[sl], _K_FIRST,
                                                               1 if threads > 1 else workers, masks), chunks))
        for sl, per_mask in zip(chunks, found):
            for (best, piece, t, todo), (b, p, tt, ok) in zip(first, per_mask):
                best[sl], piece[sl], t[sl] = b, p, tt
                todo.append(np.flatnonzero(~ok) + sl.start)
        return [self._finish(points_xy, px, py, best, piece, t, np.concatenate(todo) if todo else
                             np.zeros(0, dtype=np.int64), workers, mask)
                for (best, piece, t, todo), mask in zip(first, masks)]

    def _finish(self, points_xy, px, py, best, piece, t, todo, workers, mask) -> Snapped:
        """The points the first search left uncertified (``todo``) searched wider, then the answer."""
        left = []
        for s in range(0, len(todo), _CHUNK // 8):
            part = todo[s:s + _CHUNK // 8]
            [(b, p, tt, ok)] = self._query_k(px[part], py[part], _K_SECOND, workers, [mask])
            best[part], piece[part], t[part] = b, p, tt
            left.append(part[~ok])
        todo = np.concatenate(left) if left else todo
        none = todo[~np.isfinite(best[todo])]
        todo = todo[np.isfinite(best[todo])]
        for i in todo:  # exact: every piece whose centre lies within best + half
            radius = np.sqrt(best[i]) + self.half + 1e-6
            near = np.asarray(self.tree.query_ball_point([px[i], py[i]], radius), dtype=np.int64)
            if len(near):
                b, p, tt = self._project(px[i:i + 1], py[i:i + 1], np.sort(near)[None, :], mask)
                if b[0] <= best[i]:  # <=: the ball holds every tie, and picks the lowest
                    best[i], piece[i], t[i] = b[0], p[0], tt[0]
        edge = self.piece_edge[piece]
        along = self.piece_s0[piece] + t * self.piece_len[piece]
        length = self.edge_len[edge]
        with np.errstate(divide="ignore", invalid="ignore"):
            fraction = np.where(length > 0, along / length, 0.0)
        fraction = np.clip(np.nan_to_num(fraction, nan=0.0), 0.0, 1.0)
        # Exactly at the v end (not 1 - 1e-16, which on a one-way street is a detour).
        at_end = self.piece_last[piece] & ((t >= 1.0) | (self.piece_len[piece] == 0)) & (length > 0)
        fraction[at_end] = 1.0
        distance = np.sqrt(best)
        if len(none):  # no eligible piece among the nearest 128: the eligible edges' own index
            sub = self._subset(mask).query(points_xy[none], workers)
            edge[none], fraction[none], distance[none] = sub.edge, sub.fraction, sub.distance_m
        return Snapped(edge=edge, fraction=fraction, distance_m=distance)


class _MaskedIndex:
    """A :class:`SegmentIndex` seen through a mask of eligible edges (see :meth:`SegmentIndex.view`)."""

    def __init__(self, base: SegmentIndex, mask: np.ndarray):
        if not mask.any():
            raise InputError("no road of this travel mode to snap to: the network has no usable edges for it")
        self.base, self.eligible = base, mask
        # A mask of few pieces (a mode's road fragments) fails the k-nearest certificate at
        # nearly every point: an index of its own edges answers in one pass.
        self.sparse = bool(mask[base.piece_edge].sum() < _SPARSE_SHARE * base.n_pieces)

    def matches(self, eligible: np.ndarray | None) -> bool:
        """Whether this view is of the same eligible edges."""
        return SegmentIndex.matches(self, eligible)  # type: ignore[arg-type]

    def query(self, points_xy: np.ndarray, workers: int = 1) -> Snapped:
        """Snap points to their nearest positions on the view's edges (as :meth:`SegmentIndex.query`)."""
        if self.sparse:
            return self.base._subset(self.eligible).query(points_xy, workers)
        return self.base.query(points_xy, workers, mask=self.eligible)


def query_views(views: list, points_xy: np.ndarray, workers: int = 1) -> list[Snapped]:
    """:meth:`SegmentIndex.query` of ``(n, 2)`` points (metres) on each of ``views``
    (indexes or their views), in order. Views of one index (travel modes on the same roads)
    share its nearest-piece search and the projections; only which pieces count differs.
    Raises :class:`InputError` for NaN or infinite coordinates (see :func:`check_points`)."""
    points_xy = check_points(points_xy)
    out: list[Snapped | None] = [None] * len(views)
    groups: dict[int, tuple[SegmentIndex, list]] = {}
    for i, view in enumerate(views):
        if isinstance(view, _MaskedIndex) and not view.sparse:
            groups.setdefault(id(view.base), (view.base, []))[1].append((i, view.eligible))
        elif isinstance(view, SegmentIndex):
            groups.setdefault(id(view), (view, []))[1].append((i, None))
        else:  # a view of few roads has an index of its own
            out[i] = view.query(points_xy, workers)
    for base, items in groups.values():
        for (i, _), found in zip(items, base.query_masks(points_xy, [mask for _, mask in items], workers)):
            out[i] = found
    return out  # type: ignore[return-value]


def road_index(network) -> SegmentIndex:
    """The nearest-edge index over every edge of ``network`` (a
    :class:`~geoaccess.network.RoadNetwork`), built once per network and kept while it
    lives; travel modes query their own edges through :meth:`SegmentIndex.view`."""
    return kept(network, ("road_index",), lambda: SegmentIndex(network.edges.geometry.to_numpy()))


def road_index_soon(network, workers: int = -1) -> SegmentIndex | None:
    """:func:`road_index`, its k-d tree built on a background thread while the caller reads
    other inputs (``background`` of :class:`SegmentIndex`). None, starting nothing, on a
    one-thread budget (``workers`` 1) or when the index cannot be built: :func:`road_index`
    raises that :class:`InputError` where the index is first needed, as before."""
    if _threads(2, workers) < 2:
        return None
    try:
        return kept(network, ("road_index",), lambda: SegmentIndex(network.edges.geometry.to_numpy(), background=True))
    except InputError:
        return None


def _chunks(n: int) -> list[slice]:  # of _CHUNK points: the same in a search started early and one asked for
    return [slice(s, min(s + _CHUNK, n)) for s in range(0, n, _CHUNK)]


def _threads(tasks: int, workers: int) -> int:
    """Threads for ``tasks`` on a budget of ``workers`` (-1: every core)."""
    return max(1, min(tasks, (os.cpu_count() or 1) if workers == -1 else workers))


def _soon(threads: int, calls: list[tuple]) -> list[Future]:
    """``calls`` (function, *args) started on ``threads`` background threads, which end when done."""
    pool = ThreadPoolExecutor(threads)
    futures = [pool.submit(*call) for call in calls]
    pool.shutdown(wait=False)
    return futures


def check_points(points_xy: np.ndarray) -> np.ndarray:
    """``points_xy`` as an ``(n, 2)`` float array (metres).

    Raises
    ------
    InputError
        A point with a NaN or infinite coordinate (its rows are named).
    """
    points_xy = np.asarray(points_xy, dtype=float).reshape(-1, 2)
    if not np.isfinite(points_xy).all():
        bad = np.flatnonzero(~np.isfinite(points_xy).all(axis=1))
        raise InputError(f"{len(bad)} point(s) have NaN or infinite coordinates (rows {bad[:10].tolist()}); "
                         "drop or fix them before snapping")
    return points_xy


def snap_points(edge_geoms: np.ndarray, points_xy: np.ndarray, eligible: np.ndarray | None = None,
                index: SegmentIndex | None = None) -> Snapped:
    """Snap points to the nearest position on the eligible edges.

    Parameters
    ----------
    edge_geoms
        LineStrings of the physical edges, in a projected CRS (metres).
    points_xy
        ``(n, 2)`` point coordinates in the same CRS.
    eligible
        Boolean mask over edges that points may snap to (e.g. roads the travel mode
        can use, in the main connected parts of the network); default all.
    index
        A :class:`SegmentIndex` already built on ``edge_geoms`` and ``eligible`` (a
        :class:`~geoaccess.routing.ModeGraph` keeps one); built here when omitted.

    Returns
    -------
    Snapped
        Edge index, fraction along it and distance in metres for every point.
    """
    points_xy = check_points(points_xy)
    if index is None or not index.matches(eligible):
        candidates = np.ones(len(edge_geoms), dtype=bool) if eligible is None else eligible
        if not np.any(candidates):
            raise InputError("no road of this travel mode to snap to: the network has no usable edges for it")
        index = SegmentIndex(edge_geoms, eligible)
    return index.query(points_xy, workers=kdtree_workers())


def avoid_water(edge_geoms: np.ndarray, points_xy: np.ndarray, snapped: Snapped, eligible: np.ndarray,
                water: WaterIndex, max_m: float) -> Snapped:
    """Move points whose leg to their snapped position crosses water to the nearest eligible
    edge reachable without crossing it.

    Parameters
    ----------
    edge_geoms
        LineStrings of the physical edges (metres).
    points_xy
        ``(n, 2)`` points, in the edges' CRS.
    snapped
        Their nearest positions on the eligible edges.
    eligible
        Edges the points may snap to.
    water
        The mapped water.
    max_m
        Longest leg considered (metres): edges farther than this are not candidates.

    Returns
    -------
    Snapped
        The same where the leg is dry; else the nearest position (on an edge within
        ``max_m``) whose leg is dry, or ``distance_m = inf`` when there is none (the point
        is then off the network). Candidates are the nearest position of each edge within
        ``max_m``; equally near, the lowest edge index wins.
    """
    points_xy = np.asarray(points_xy, dtype=float).reshape(-1, 2)
    at = shapely.get_coordinates(shapely.line_interpolate_point(edge_geoms[snapped.edge], snapped.fraction,
                                                                normalized=True))
    wet = np.flatnonzero(water.crosses(points_xy, at) & (snapped.distance_m <= max_m))
    if len(wet) == 0:
        return snapped
    edge, fraction, distance = snapped.edge.copy(), snapped.fraction.copy(), snapped.distance_m.copy()
    distance[wet] = np.inf
    candidates = np.flatnonzero(eligible)
    points = shapely.points(points_xy[wet])
    which, e = shapely.STRtree(edge_geoms[candidates]).query(points, predicate="dwithin", distance=max_m)
    e = candidates[e]
    frac = shapely.line_locate_point(edge_geoms[e], points[which], normalized=True)
    xy = shapely.get_coordinates(shapely.line_interpolate_point(edge_geoms[e], frac, normalized=True))
    dist = np.hypot(*(xy - points_xy[wet][which]).T)
    dry = ~water.crosses(points_xy[wet][which], xy)
    which, e, frac, dist = which[dry], e[dry], frac[dry], dist[dry]
    order = np.lexsort((e, dist, which))  # per point: nearest, then lowest edge
    first = order[np.r_[True, which[order][1:] != which[order][:-1]]] if len(order) else order
    rows = wet[which[first]]
    edge[rows], fraction[rows], distance[rows] = e[first], frac[first], dist[first]
    return Snapped(edge, fraction, distance)
