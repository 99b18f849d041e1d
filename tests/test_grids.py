"""Grid helpers of the raster isochrones (issue 15's faster paths) against brute force."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from geoaccess.grids import KDTREE_WORKERS_VAR, Soon, cell_max_at, median_spacing, nearest_seed_time, nearest_seeds, \
    paint_nearest, paint_nearest_at


def brute_paint(out, worst, reach):
    """Every cell: its Euclidean-nearest held cell (ties: the larger value, then one within
    reach), if that one is within ``reach`` cells Chebyshev; by distances to all held cells."""
    out = out.copy()
    hy, hx = np.nonzero(worst != -np.inf)
    r = int(np.floor(reach))
    for y in range(out.shape[0]):
        for x in range(out.shape[1]):
            d2 = (hy - y) ** 2 + (hx - x) ** 2
            best = np.flatnonzero(d2 == d2.min())
            best = best[worst[hy[best], hx[best]] == worst[hy[best], hx[best]].max()]
            j = best[np.argmin(np.maximum(abs(hy[best] - y), abs(hx[best] - x)))]
            if max(abs(hy[j] - y), abs(hx[j] - x)) <= r:
                out[y, x] = worst[hy[j], hx[j]]
    return out


def ties(worst, shape):
    """Cells with two or more nearest held cells."""
    hy, hx = np.nonzero(worst != -np.inf)
    gy, gx = np.indices(shape)
    d2 = (gy[..., None] - hy) ** 2 + (gx[..., None] - hx) ** 2
    nearest = d2 == d2.min(axis=-1, keepdims=True)
    return nearest.sum(axis=-1) > 1


@pytest.mark.parametrize("reach", [0.4, 1.0, 1.99, 2.5, 3.2, 4.0])
def test_paint_nearest_from_few_held_cells_equals_brute_force(reach):
    rng = np.random.default_rng(int(reach * 10))
    out = rng.uniform(0, 600, (80, 100)).astype(np.float32)
    worst = np.full(out.shape, -np.inf, dtype=np.float32)
    held = rng.random(out.shape) < 0.002
    held[0, 0] = held[79, 99] = held[40, 50] = held[40, 52] = True  # corners; a tie between two
    window = 2 * int(np.ceil(np.floor(reach) * np.sqrt(2))) + 1
    assert held.sum() * window ** 2 <= out.size  # few: painted from their neighbourhoods
    worst[held] = rng.choice([60.0, 300.0, 900.0, np.inf], held.sum())
    want = brute_paint(out, worst, reach)
    got = out.copy()
    paint_nearest(got, worst, reach)
    np.testing.assert_array_equal(got, want)
    assert (got != out).sum() > (held.sum() if reach >= 1 else 0)  # it painted around the held cells


@pytest.mark.parametrize("share", [0.002, 0.5])
def test_paint_nearest_at_points_equals_painting_their_grid(share):
    """The homes' paint from their cells and times (several homes to a cell: the worst) equals
    paint_nearest of the grid holding each cell's worst time, few or many held cells."""
    rng = np.random.default_rng(int(share * 1000))
    out = rng.uniform(0, 600, (60, 70)).astype(np.float32)
    n = int(share * out.size * 1.5)
    cell = rng.integers(0, out.size, n)
    value = rng.choice([60.0, 300.0, 900.0, np.inf], n).astype(np.float32)
    worst = np.full(out.size, -np.inf, dtype=np.float32)
    np.maximum.at(worst, cell, value)
    want, got = out.copy(), out.copy()
    paint_nearest(want, worst.reshape(out.shape), 2.5)
    paint_nearest_at(got, cell, value, 2.5)
    np.testing.assert_array_equal(got, want)
    assert (got != out).sum() > len(np.unique(cell))


def test_paint_nearest_from_many_held_cells_takes_the_transform_and_agrees_off_ties():
    rng = np.random.default_rng(7)
    out = rng.uniform(0, 600, (25, 30)).astype(np.float32)
    worst = np.full(out.shape, -np.inf, dtype=np.float32)
    held = rng.random(out.shape) < 0.5  # 375 held cells × 25 window cells > 750 cells: the transform
    worst[held] = rng.choice([60.0, 300.0, 900.0], held.sum())
    want = brute_paint(out, worst, 1.5)
    got = out.copy()
    paint_nearest(got, worst, 1.5)
    clear = ~ties(worst, out.shape)
    assert clear.sum() > 0.5 * out.size
    np.testing.assert_array_equal(got[clear], want[clear])


def test_cell_max_at_gives_each_cells_largest_value_as_a_pandas_groupby():
    import pandas as pd

    rng = np.random.default_rng(3)
    cell = rng.integers(0, 500, 3000)
    value = rng.choice(np.array([1.0, 2.5, 7.0, np.inf], dtype=np.float32), 3000)
    value[:50] = rng.random(50).astype(np.float32)
    held, worst = cell_max_at(cell, value)
    expected = pd.Series(value).groupby(cell).max()
    assert np.array_equal(held, expected.index.to_numpy())
    assert worst.dtype == np.float32 and np.array_equal(worst, expected.to_numpy())
    empty = cell_max_at(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
    assert len(empty[0]) == 0 and len(empty[1]) == 0


def test_nearest_seeds_and_seed_time_equal_brute_force():
    rng = np.random.default_rng(3)
    seeded = rng.random((40, 50)) < 0.02
    seeds = np.where(seeded, rng.uniform(0, 300, seeded.shape), np.inf).astype(np.float32)
    cell, cap, v = 25.0, 160.0, 4.0
    near, metres = nearest_seeds(seeded, cell, cap)
    sy, sx = np.nonzero(seeded)
    gy, gx = np.indices(seeded.shape)
    d = np.hypot(gy[..., None] - sy, gx[..., None] - sx).min(axis=-1).ravel() * cell
    np.testing.assert_allclose(np.where(d > cap, np.inf, d), metres, rtol=1e-6)
    assert seeded.reshape(-1)[near].all()
    time = nearest_seed_time(seeds, seeded, cell, cap, v)
    own = nearest_seed_time(seeds, seeded, cell, cap, v, (near, metres))
    np.testing.assert_array_equal(time, own)
    finite = np.isfinite(time.reshape(-1))
    assert 0 < finite.sum() < time.size
    np.testing.assert_allclose(time.reshape(-1)[finite],
                               seeds.reshape(-1)[near[finite]] + d[finite] / v, rtol=1e-5)


def test_median_spacing_is_kept_by_content_and_equals_a_fresh_tree():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 1000, (500, 2))
    d = cKDTree(xy).query(xy, k=2)[0][:, 1]
    assert median_spacing(xy) == pytest.approx(np.median(d))
    assert median_spacing(xy.copy()) == median_spacing(xy)
    moved = xy.copy()
    moved[:, 0] *= 2.0  # other content: computed anew, not the kept value
    d2 = cKDTree(moved).query(moved, k=2)[0][:, 1]
    assert median_spacing(moved) == pytest.approx(np.median(d2)) != median_spacing(xy)
    assert median_spacing(np.r_[xy[:1], xy[:1]]) == 0.0 and median_spacing(xy[:1]) == 0.0


def test_self_touching_flags_every_polygon_geos_finds_invalid():
    """Polygons whose ring passes one corner twice are flagged (GEOS: self-intersection); a
    hole touching its shell at one point is valid and not flagged; every invalid polygon
    of random rasters is flagged (checked by shapely.is_valid, polygon by polygon)."""
    import shapely
    from affine import Affine

    from geoaccess.grids import raster_polygons, self_touching

    inverted_hole = shapely.from_wkt("POLYGON ((0 0, 4 0, 4 4, 2 4, 2 3, 3 3, 3 1, 1 1, 1 3, 2 3, 2 4, 0 4, 0 0))")
    touching_hole = shapely.from_wkt("POLYGON ((0 0, 4 0, 4 4, 0 4, 0 0), (2 0, 3 1, 1 1, 2 0))")
    square = shapely.box(0, 0, 1, 1)
    polys = np.array([square, inverted_hole, touching_hole, square])
    assert list(shapely.is_valid(polys)) == [True, False, True, True]
    assert list(self_touching(polys)) == [False, True, False, False]
    assert len(self_touching(np.empty(0, dtype=object))) == 0
    rng = np.random.default_rng(3)
    for _ in range(50):
        values = rng.integers(0, 3, size=(25, 25)).astype(np.int16)
        found, _ = raster_polygons(values, rng.random((25, 25)) < 0.8, Affine(25.0, 0, 0, 0, -25.0, 625.0))
        assert not (~shapely.is_valid(found) & ~self_touching(found)).any()


def test_times_at_picks_each_samples_piece_as_a_search_of_all_pieces():
    """Single-piece edges are looked up, split edges searched: each sample's time from the
    piece of its edge with the largest start at or before it (brute force, one by one)."""
    from geoaccess.isoraster import _times_at

    rng = np.random.default_rng(5)
    splits = {2: [0.3], 5: [0.25, 0.6], 9: [0.5]}
    edge, f0, f1 = [], [], []
    for e in range(12):
        cuts = [0.0, *splits.get(e, []), 1.0]
        edge += [e] * (len(cuts) - 1)
        f0 += cuts[:-1]
        f1 += cuts[1:]
    n = len(edge)
    perm = rng.permutation(n)  # pieces in no particular order, as edge_piece_times lists them
    times = {"edge": np.array(edge)[perm], "f0": np.array(f0)[perm], "f1": np.array(f1)[perm],
             "t0": rng.uniform(0, 600, n), "t1": rng.uniform(0, 600, n),
             "s0": np.where(rng.random(n) < 0.2, np.inf, rng.uniform(10, 300, n)),
             "s1": np.where(rng.random(n) < 0.2, np.inf, rng.uniform(10, 300, n))}
    times["t0"][0] = np.inf
    e = np.r_[rng.integers(0, 12, 300), 2, 5, 5, 9, 0, 11]
    f = np.r_[rng.random(300), 0.3, 0.25, 0.6, 0.5, 0.0, 1.0]
    got = _times_at(times, e, f)
    for k in range(len(e)):
        mine = np.flatnonzero((times["edge"] == e[k]) & (times["f0"] <= f[k]))
        p = mine[np.argmax(times["f0"][mine])]
        ta = times["t0"][p] + ((f[k] - times["f0"][p]) * times["s0"][p] if f[k] > times["f0"][p] else 0.0)
        tb = times["t1"][p] + ((times["f1"][p] - f[k]) * times["s1"][p] if f[k] < times["f1"][p] else 0.0)
        assert got[k] == min(ta, tb), k


def test_edge_points_lie_where_shapely_interpolates_them():
    from types import SimpleNamespace

    import geopandas as gpd
    import shapely

    from geoaccess.isoraster import _EdgeVertices

    rng = np.random.default_rng(2)
    lines = [shapely.LineString(np.cumsum(rng.uniform(-50, 80, (k, 2)), axis=0)) for k in (2, 3, 7, 12)]
    lines.append(shapely.LineString([(5, 5), (5, 5), (40, 5)]))  # a repeated vertex
    graph = SimpleNamespace(network=SimpleNamespace(edges=gpd.GeoDataFrame(geometry=lines)))
    geo = _EdgeVertices(graph)
    edge = np.r_[rng.integers(0, len(lines), 400), np.arange(len(lines)), np.arange(len(lines))]
    f = np.r_[rng.random(400), np.zeros(len(lines)), np.ones(len(lines))]
    got = geo.at(edge, f)
    want = shapely.get_coordinates(shapely.line_interpolate_point(np.array(lines)[edge], f, normalized=True))
    np.testing.assert_allclose(got, want, atol=1e-9)


def test_polygons_of_the_reached_box_equal_those_of_the_whole_grid_in_whole_metres():
    """What _raster_bands relies on to polygonise only the reached cells' box: with a whole-metre
    cell and corner, the cropped grid's polygons are the whole grid's, byte for byte."""
    import shapely
    from affine import Affine

    from geoaccess.grids import raster_polygons

    rng = np.random.default_rng(11)
    for _ in range(20):
        values = rng.integers(0, 3, size=(60, 70)).astype(np.int16)
        mask = np.zeros(values.shape, dtype=bool)
        r0, c0 = rng.integers(1, 20, 2)
        mask[r0:r0 + 30, c0:c0 + 35] = rng.random((30, 35)) < 0.85
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        x0, y_top = 547_700.0, 3_723_975.0
        whole, v1 = raster_polygons(values, mask, Affine(25.0, 0, x0, 0, -25.0, y_top))
        part, v2 = raster_polygons(values[box], mask[box],
                                   Affine(25.0, 0, x0 + cols[0] * 25.0, 0, -25.0, y_top - rows[0] * 25.0))
        assert list(v1) == list(v2) and list(shapely.to_wkb(whole)) == list(shapely.to_wkb(part))


@pytest.mark.parametrize("workers", ["1", "2"])
def test_soon_gives_the_value_or_raises_its_error_where_asked_for(workers, monkeypatch):
    """On a thread (two or more) or, on a one-thread budget, only when asked for: the same value,
    and an error raised by result(), not where the work was started."""
    import os
    import threading

    monkeypatch.setenv(KDTREE_WORKERS_VAR, workers)
    ran = []
    soon = Soon(lambda: ran.append(threading.current_thread().name) or np.arange(5) * 2)
    if workers == "1":
        assert ran == []  # nothing runs before the value is asked for
    np.testing.assert_array_equal(soon.result(), np.arange(5) * 2)
    np.testing.assert_array_equal(soon.result(), np.arange(5) * 2)
    threaded = workers != "1" and (os.cpu_count() or 1) > 1
    assert ran == ["geoaccess-soon" if threaded else threading.current_thread().name]

    def fails():
        raise MemoryError("no room")
    failing = Soon(fails)  # nothing raised here
    with pytest.raises(MemoryError, match="no room"):
        failing.result()
