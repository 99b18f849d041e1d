"""Isochrones of a region county drawn only where its map needs them (issue 12).

The bands computed on a grid cut to an extent are checked against the bands of the whole
grid cut to the same extent (the full computation, as before), on a generated province's
county slice and on hand-made roads; and the k-d tree thread budget against scipy's own
``workers`` argument as received.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

from geoaccess.errors import InputError
from geoaccess.isochrones import isochrones
from geoaccess.pipeline import run_scenario
from geoaccess.region import load_region, partition, read_units
from geoaccess.region.partition import MAP_MARGIN_M, clip_bands, map_box
from geoaccess.routing import compile_mode, nearest_facility, place_points
from geoaccess.scenario import load_scenario
from geoaccess.synthetic import generate_region

from test_isochrones import grid_network

GUIYANG = Path(__file__).with_name("data") / "guiyang_districts_gcj02.geojson"


def _same(a: shapely.Geometry, b: shapely.Geometry) -> bool:
    return shapely.symmetric_difference(a, b).area <= 1e-6 * max(a.area, b.area, 1.0)


def _cut(bands, box):
    return [shapely.intersection(g, shapely.box(*box)) for g in bands.geometry]


@pytest.fixture(scope="module")
def county_slice(tmp_path_factory):
    """Scenario of 云岩区's slice of the generated Guiyang province (its 50 km buffer) and its outline."""
    base = tmp_path_factory.mktemp("regioniso")
    made = generate_region(base / "in", GUIYANG, id_column="adcode", name_column="district", crs="GCJ-02",
                           nodes_per_km2=6, cell_size_m=250)
    region = load_region(made.region_toml)
    units = read_units(region)
    infos = partition(region, units, base / "out", ["520103"])
    outline = units.loc[units["id"] == "520103"].geometry.iloc[0]
    return load_scenario(Path(infos["520103"]["dir"]) / "scenario.toml"), outline


@pytest.mark.parametrize("margin_m", [MAP_MARGIN_M, 300.0])
def test_a_county_s_bands_are_the_whole_slice_s_bands_cut_to_its_map(county_slice, margin_m):
    scenario, outline = county_slice
    full = run_scenario(scenario, write=False)
    boxes = []
    cut = run_scenario(scenario, write=False, map_extent=lambda crs: boxes.append(map_box(outline, crs, margin_m))
                       or boxes[-1])
    assert len(boxes) == 1
    # every figure is the same; only the drawn bands differ
    assert full.summary.equals(cut.summary)
    assert list(full.isochrones) == list(cut.isochrones) and len(full.isochrones) >= 2
    for target, bands in full.isochrones.items():
        mine = cut.isochrones[target]
        assert list(mine["band"]) == list(bands["band"])
        # inside the box: the same bands, simplified as one coverage each
        assert all(_same(a, b) for a, b in zip(_cut(bands, boxes[0]), _cut(mine, boxes[0])))
        assert all(_same(a, b) for a, b in zip(clip_bands(bands, outline, margin_m).geometry,
                                                clip_bands(mine, outline, margin_m).geometry))
        # and the grid stopped a few kilometres beyond it, while the slice's bands reach farther
        grown = shapely.box(*boxes[0]).buffer(6_000, join_style="mitre")
        assert all(grown.contains(g) for g in mine.geometry if not g.is_empty)
    assert any(not grown.contains(g) for bands in full.isochrones.values() for g in bands.geometry)


@pytest.mark.parametrize("access", ["any", "nearest"])
def test_raster_bands_inside_an_extent_equal_the_whole_grid_s(access):
    g = compile_mode(grid_network(n=9, step=300.0), "drive", min_component_nodes=1)
    clinic = place_points(g, np.array([[20.0, 10.0], [2300.0, 1900.0]]))
    limits = [2, 4, 6]
    points = None
    if access == "nearest":
        xy = np.stack(np.meshgrid(np.arange(-100.0, 2500, 130), np.arange(-100.0, 2500, 130)), -1).reshape(-1, 2)
        points = (xy, nearest_facility(g, place_points(g, xy), clinic, "to_facility").minutes)
    kw = dict(buffer_cap_m=120, method="raster", cell_m=10, access=access, points=points)
    whole = isochrones(g, clinic, limits, **kw)
    assert all(not b.is_empty for b in whole.geometry)
    for box in [(500.0, 400.0, 1100.0, 900.0), (-3.0, 1234.5, 777.7, 2600.0), (1800.0, -500.0, 3000.0, 600.0)]:
        part = isochrones(g, clinic, limits, extent=box, **kw)
        assert sum(a.area for a in _cut(whole, box)) > 0.2 * shapely.box(*box).area  # not a vacuous check
        assert all(_same(a, b) for a, b in zip(_cut(whole, box), _cut(part, box)))
        assert shapely.union_all(part.geometry).area < shapely.union_all(whole.geometry).area
    far = isochrones(g, clinic, limits, extent=(50_000.0, 50_000.0, 51_000.0, 51_000.0), **kw)
    assert all(b.is_empty for b in far.geometry)


def test_a_bad_extent_or_an_extent_of_the_exact_method_is_refused():
    g = compile_mode(grid_network(n=3), "drive", min_component_nodes=1)
    clinic = place_points(g, np.array([[0.0, 0.0]]))
    with pytest.raises(InputError, match="xmin < xmax"):
        isochrones(g, clinic, [1], method="raster", extent=(10.0, 0.0, 5.0, 20.0))
    with pytest.raises(InputError, match="extent"):
        isochrones(g, clinic, [1], method="raster", extent=(0.0, 0.0, np.nan, 1.0))
    with pytest.raises(InputError, match="raster"):
        isochrones(g, clinic, [1], extent=(0.0, 0.0, 5.0, 20.0))


def test_the_k_d_tree_queries_take_the_thread_budget(monkeypatch):
    import scipy.spatial

    from geoaccess import snapping
    from geoaccess.grids import KDTREE_WORKERS_VAR, kdtree_workers

    seen: list[int] = []
    real = scipy.spatial.cKDTree.query

    class Tree(scipy.spatial.cKDTree):
        def query(self, *args, **kwargs):
            seen.append(kwargs.get("workers"))
            return real(self, *args, **kwargs)

    monkeypatch.setattr(snapping, "cKDTree", Tree)
    g = compile_mode(grid_network(n=3), "drive", min_component_nodes=1)
    monkeypatch.delenv(KDTREE_WORKERS_VAR, raising=False)
    assert kdtree_workers() == -1
    place_points(g, np.array([[10.0, 10.0]]))
    assert seen and set(seen) == {-1}  # plain runs: every core, as before
    seen.clear()
    monkeypatch.setenv(KDTREE_WORKERS_VAR, "3")
    place_points(compile_mode(grid_network(n=4), "drive", min_component_nodes=1), np.array([[10.0, 10.0]]))
    assert seen and set(seen) == {3}
    for bad in ("0", "-2", "four"):
        monkeypatch.setenv(KDTREE_WORKERS_VAR, bad)
        with pytest.raises(InputError, match=KDTREE_WORKERS_VAR):
            kdtree_workers()


def test_the_local_cluster_gives_its_workers_the_budget(monkeypatch):
    from geoaccess.region import run as region_run
    from geoaccess.grids import KDTREE_WORKERS_VAR

    got = {}

    class Cluster:
        def __init__(self, **kwargs):
            got.update(kwargs)

    import dask.distributed

    monkeypatch.setattr(dask.distributed, "LocalCluster", Cluster)
    monkeypatch.setattr(dask.distributed, "Client", lambda cluster: cluster)
    region_run._client(2, None, None)
    assert got["env"][KDTREE_WORKERS_VAR] == str(region_run.task_threads(2)) == got["env"]["OMP_NUM_THREADS"]
