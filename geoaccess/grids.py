"""Grid helpers of the raster isochrones and the gap areas: least value per cell, the time
from the nearest marked cell (``scipy.ndimage.distance_transform_edt`` with indices),
regions to polygons in bulk, a per-network cache, and the thread budget of the k-d tree queries."""

from __future__ import annotations

import hashlib
import os
import threading
import weakref
from itertools import chain
from typing import Any, Callable

import numpy as np
import shapely

from .errors import InputError

__all__ = ["KDTREE_WORKERS_VAR", "Soon", "cell_max_at", "cell_min", "half_spacing", "kdtree_workers", "kept", "kept_soon",
           "median_spacing",
           "nearest_seed_time", "nearest_seeds", "paint_nearest", "paint_nearest_at", "raster_polygons", "self_touching"]

_KEPT: dict[tuple, tuple] = {}

#: Environment variable capping the threads of the k-d tree queries (a positive integer);
#: unset: every core (``workers=-1``). ``geoaccess run-region`` sets it to each county task's budget.
KDTREE_WORKERS_VAR = "GEOACCESS_KDTREE_WORKERS"


def kdtree_workers() -> int:
    """Threads of the snapping k-d tree queries (scipy's ``workers``): the positive integer in
    :data:`KDTREE_WORKERS_VAR`, else ``-1`` (every core).

    Raises
    ------
    InputError
        The variable is set but not a positive integer.
    """
    value = os.environ.get(KDTREE_WORKERS_VAR, "").strip()
    if not value:
        return -1
    if not value.isdigit() or int(value) < 1:
        raise InputError(f"environment variable {KDTREE_WORKERS_VAR}={value!r} must be a positive number of threads, "
                         f"e.g. {KDTREE_WORKERS_VAR}=4; unset it to use every core")
    return int(value)


# median_spacing by the points' bytes: the targets of a run query the same demand points.
_SPACINGS: dict[bytes, float] = {}
_SPACINGS_KEPT = 8


def kept(owner: Any, key: tuple, build: Callable[[], Any]) -> Any:
    """``build()``, kept per ``owner`` (e.g. a road network; dropped with it) and ``key``:
    what several targets on the same roads share. Owners that take no weak reference
    are not kept."""
    full = (id(owner), *key)
    hit = _KEPT.get(full)
    if hit is None or hit[0]() is not owner:
        try:
            ref = weakref.ref(owner)
        except TypeError:
            return build()
        hit = _KEPT[full] = (ref, build())
        weakref.finalize(owner, _KEPT.pop, full, None)
    return hit[1]


class Soon:
    """``build()`` started on a thread, for work that lets go of the GIL; on a one-thread budget
    (:data:`KDTREE_WORKERS_VAR` = 1, or one core) run only when :meth:`result` is asked for,
    as a plain call would be. Its value, or its error, comes from :meth:`result`."""

    def __init__(self, build: Callable[[], Any]):
        self._build, self._value, self._error, self._thread = build, None, None, None
        if kdtree_workers() != 1 and (os.cpu_count() or 1) > 1:
            self._thread = threading.Thread(target=self._run, daemon=True, name="geoaccess-soon")
            self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._build()
        except BaseException as error:  # raised where the value is asked for, as a plain call would
            self._error = error
        self._build = None

    def result(self) -> Any:
        """The value of ``build()`` (waiting for the thread), or its error raised here."""
        if self._thread is not None:
            self._thread.join()
        elif self._build is not None:
            self._run()
        if self._error is not None:
            raise self._error
        return self._value


def kept_soon(owner: Any, key: tuple, build: Callable[[], Any]) -> Soon:
    """:func:`kept` of a :class:`Soon`: ``build()`` started (on a thread) the first time ``key`` is
    asked for, its result shared by later askers with ``.result()``."""
    return kept(owner, key, lambda: Soon(build))


def cell_min(cell: np.ndarray, value: np.ndarray, size: int, fill: float) -> np.ndarray:
    """Per cell of a flat grid of ``size``, the least of its values (``fill`` where none)."""
    out = np.full(size, fill, dtype=value.dtype)
    np.minimum.at(out, cell, value)
    return out


def cell_max_at(cell: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct cells of ``cell`` (flat indices, ascending) and the largest ``value`` of each.

    From the points sorted by cell (``numpy.maximum.reduceat`` over each cell's run), not a
    grid-wide ``-cell_min(cell, -value)``: on the county's 5.3M-cell grid it skips a grid of
    temporaries and two masks over it, with the same values (a maximum is exact).
    """
    if not len(cell):
        return cell[:0], value[:0]
    order = np.argsort(cell)
    cell = cell[order]
    start = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
    return cell[start], np.maximum.reduceat(value[order], start)


def nearest_seeds(seeded: np.ndarray, cell: float, cap: float) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's nearest ``seeded`` cell and the distance to it.

    Parameters
    ----------
    seeded : numpy.ndarray
        2-D bool grid, True at the seed cells (at least one).
    cell, cap : float
        Cell side and largest distance (metres).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Flat index of the nearest seed cell (``scipy.ndimage.distance_transform_edt``
        with indices) and the distance to it in metres (float32, ``inf`` beyond ``cap``),
        both flat over the grid. Depends on the seeds only: the targets on one road set
        share it (:func:`nearest_seed_time` is one gather on it).
    """
    from scipy.ndimage import distance_transform_edt

    ny, nx = seeded.shape
    iy, ix = distance_transform_edt(~seeded, return_distances=False, return_indices=True)
    # Offsets by broadcasting against the row and column numbers: no full index grids. Cast
    # to float32 before subtracting (exact: fewer than 2**24 cells a side), in place after.
    dy = np.subtract(np.arange(ny, dtype=np.int32)[:, None], iy, dtype=np.float32)
    dx = np.subtract(np.arange(nx, dtype=np.int32)[None, :], ix, dtype=np.float32)
    metres = np.hypot(dy, dx, out=dy)
    metres *= np.float32(cell)
    metres[metres > cap * (1 + 1e-9)] = np.inf
    near = iy * np.int32(nx) if ny * nx < 2 ** 31 else iy * np.int64(nx)  # same-type product: no casting loop
    near += ix
    return near.reshape(-1), metres.reshape(-1)


def nearest_seed_time(seeds: np.ndarray, seeded: np.ndarray, cell: float, cap: float, v: float,
                      nearest: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Each cell's time (seconds) from its nearest ``seeded`` cell (whatever that cell's own
    time in ``seeds``, ``inf`` included) plus the distance to it (cells of ``cell`` metres)
    at ``v`` m/s; ``inf`` farther than ``cap`` metres. ``nearest``: :func:`nearest_seeds`
    of ``seeded`` when already at hand."""
    if not seeded.any():
        return np.full(seeds.shape, np.inf, dtype=np.float32)
    near, metres = nearest_seeds(seeded, cell, cap) if nearest is None else nearest
    return (seeds.reshape(-1)[near] + metres / np.float32(v)).reshape(seeds.shape)


def paint_nearest(out: np.ndarray, worst: np.ndarray, reach: float) -> None:
    """In place: cells within ``reach`` cells (Chebyshev: a square) of a cell whose ``worst``
    is not ``-inf`` take the ``worst`` of the nearest such cell (the points' own cells for
    gridded demand: homes' cells drawn whole by their own times, not speckled). Between
    equally near cells the worse (larger) value wins, then one within ``reach``.

    Few held cells (the usual case: the homes whose band differs from the roads') are
    painted from their own neighbourhoods; many, by one distance transform of the grid.
    Both give every cell its Euclidean-nearest held cell.
    """
    cells = np.flatnonzero(worst != -np.inf)
    _paint(out, cells, worst.reshape(-1)[cells], reach)


def paint_nearest_at(out: np.ndarray, cell: np.ndarray, value: np.ndarray, reach: float) -> None:
    """:func:`paint_nearest` of the grid holding ``value`` at the flat cells ``cell`` (the largest
    where a cell comes twice) and ``-inf`` elsewhere, without building that grid: a few held
    cells are painted from their own neighbourhoods."""
    cells, worst = cell_max_at(cell, value)
    _paint(out, cells, worst, reach)


def _paint(out: np.ndarray, cells: np.ndarray, values: np.ndarray, reach: float) -> None:
    """:func:`paint_nearest` from the held cells (flat, ascending) and their values."""
    if not len(cells):
        return
    ny, nx = out.shape
    r = max(int(np.floor(reach)), 0)
    # A held cell within r (Chebyshev) is within r·√2 (Euclidean): any nearer one lies in
    # the window of that half-width, so looking no farther is exact.
    w = int(np.ceil(r * np.sqrt(2.0)))
    hy, hx = np.divmod(cells, nx)
    if len(hy) * (2 * w + 1) ** 2 > out.size:
        from scipy.ndimage import distance_transform_edt

        held = np.zeros(out.shape, dtype=bool)
        held.reshape(-1)[cells] = True
        worst = np.full(out.shape, -np.inf, dtype=values.dtype)
        worst.reshape(-1)[cells] = values
        iy, ix = distance_transform_edt(~held, return_distances=False, return_indices=True)
        near = np.maximum(np.abs(np.arange(ny, dtype=np.int32)[:, None] - iy),
                          np.abs(np.arange(nx, dtype=np.int32)[None, :] - ix)) <= r
        out[near] = worst[iy[near], ix[near]]
        return
    oy, ox = (o.ravel() for o in np.mgrid[-w:w + 1, -w:w + 1])
    cy, cx = (hy[:, None] + oy).ravel(), (hx[:, None] + ox).ravel()
    src = np.repeat(np.arange(len(hy)), len(oy))
    d2 = np.tile(oy * oy + ox * ox, len(hy))
    cheb = np.tile(np.maximum(np.abs(oy), np.abs(ox)), len(hy))
    on = (cy >= 0) & (cy < ny) & (cx >= 0) & (cx < nx)
    cell, src, d2, cheb = cy[on] * nx + cx[on], src[on], d2[on], cheb[on]
    value = values[src]
    order = np.lexsort((cheb > r, -value, d2, cell))  # per cell: the nearest; ties the worst, then within r
    first = order[np.r_[True, cell[order][1:] != cell[order][:-1]]]
    first = first[cheb[first] <= r]
    out.reshape(-1)[cell[first]] = value[first]


def median_spacing(xy: np.ndarray) -> float:
    """The median distance (metres) from each point to its nearest other point, counting
    only points with a neighbour at a positive distance (0.0 when none has one).

    Kept by the points' content (a digest of their coordinates), so the several targets
    of a run, which ask for the same demand points, build the k-d tree once.
    """
    from scipy.spatial import cKDTree

    xy = np.ascontiguousarray(xy, dtype=float).reshape(-1, 2)
    if len(xy) < 2:
        return 0.0
    key = hashlib.blake2b(xy.tobytes(), digest_size=16).digest()
    if key not in _SPACINGS:
        # Unbalanced, uncompacted: a faster build, the same distances; the query on the run's threads.
        tree = cKDTree(xy, balanced_tree=False, compact_nodes=False)
        d = tree.query(xy, k=2, workers=kdtree_workers())[0][:, 1]
        if len(_SPACINGS) >= _SPACINGS_KEPT:
            _SPACINGS.pop(next(iter(_SPACINGS)))
        _SPACINGS[key] = float(np.median(d[d > 0])) if (d > 0).any() else 0.0
    return _SPACINGS[key]


def half_spacing(xy: np.ndarray) -> float:
    """Half the median distance between neighbouring points (metres; 0 for fewer than two)."""
    return median_spacing(xy) / 2.0


def raster_polygons(values: np.ndarray, mask: np.ndarray, transform) -> tuple[np.ndarray, np.ndarray]:
    """The 4-connected regions of equal ``values`` under ``mask`` as polygons.

    Parameters
    ----------
    values : numpy.ndarray
        2-D integer array (rasterio dtypes: int16, int32, uint8, …).
    mask : numpy.ndarray
        2-D bool array, True where cells count.
    transform : affine.Affine
        Cell → map coordinates (metres).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The polygons (``rasterio.features.shapes``, holes kept) and the value of each.
        Built from the rings' coordinates in bulk (``shapely.linearrings``/``polygons``
        with indices), not one ``shapely.geometry.shape`` per polygon: several times faster.
    """
    from rasterio.features import shapes

    found = list(shapes(values, mask=mask, connectivity=4, transform=transform))
    if not found:
        return np.empty(0, dtype=object), np.empty(0, dtype=values.dtype)
    rings = [ring for geom, _ in found for ring in geom["coordinates"]]
    per_ring = np.fromiter(map(len, rings), dtype=np.int64, count=len(rings))
    per_poly = np.fromiter((len(geom["coordinates"]) for geom, _ in found), dtype=np.int64, count=len(found))
    xy = np.fromiter(chain.from_iterable(chain.from_iterable(rings)), dtype=float, count=2 * int(per_ring.sum()))
    xy = xy.reshape(-1, 2)
    lines = shapely.linearrings(xy, indices=np.repeat(np.arange(len(rings)), per_ring))
    polys = shapely.polygons(lines, indices=np.repeat(np.arange(len(found)), per_poly))
    return polys, np.array([v for _, v in found]).astype(values.dtype)


def self_touching(polys: np.ndarray) -> np.ndarray:
    """Which polygons have a ring through one vertex twice (bool per polygon).

    Of the polygons of :func:`raster_polygons` (closed, axis-parallel rings of one
    4-connected region, whose interior is connected) only these may be invalid: a ring
    touching itself at a cell corner, where two cells of the region meet diagonally. The
    others need no ``shapely.is_valid`` (a GEOS pass over every ring, much slower than
    this sort of the vertices).
    """
    out = np.zeros(len(polys), dtype=bool)
    if not len(polys):
        return out
    rings, poly_of = shapely.get_rings(polys, return_index=True)
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    closing = np.r_[ring_of[1:] != ring_of[:-1], True]  # each ring's last vertex repeats its first
    xy, ring_of = xy[~closing], ring_of[~closing]
    order = np.lexsort((xy[:, 1], xy[:, 0], ring_of))
    xy, ring_of = xy[order], ring_of[order]
    twice = (ring_of[1:] == ring_of[:-1]) & (xy[1:] == xy[:-1]).all(axis=1)
    out[poly_of[ring_of[1:][twice]]] = True
    return out
