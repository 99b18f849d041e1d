"""The web map and the leaders' report, without a browser: labels, layers, offline export, size.

The browser checks (Leaflet really draws it, no JavaScript errors) are in test_browser.py.
"""

from __future__ import annotations

import dataclasses
import json
import re
import struct
import time
import zlib

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geoaccess._paths import data_path
from geoaccess.coords import wgs84_to_gcj02
from geoaccess.errors import InputError
from geoaccess.maps import (CLASS_COLOURS, DemandGrid, GeoLayer, PngOverlay, _Display, _png_palette, map_from_result,
                            minutes_class, write_map)
from geoaccess.pipeline import run_scenario
from geoaccess.report import largest_gaps, write_report
from geoaccess.scenario import load_scenario
from geoaccess.synthetic import generate_county
from geoaccess.targets import select_facilities


def add_extras(result):
    """Give a result isochrones, gaps and sites for its first target (as the pipeline will)."""
    e = result.evaluations[0]
    tid = e.target.id
    fac = result.facilities[select_facilities(e.target, result.facilities)]
    rows, prev = [], None
    for lo, hi in ((0, 5), (5, 10), (10, 15)):
        reach = shapely.union_all(fac.geometry.buffer(hi * 70).to_numpy())
        rows.append({"band": f"{lo}–{hi}", "min_minutes": float(lo), "max_minutes": float(hi),
                     "geometry": reach if prev is None else reach.difference(prev)})
        prev = reach
    crs = result.demand.crs
    result.isochrones = {tid: gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)}
    far = result.demand.sort_values(f"{tid}_min", ascending=False).head(6)
    result.gaps = {tid: gpd.GeoDataFrame({
        "gap_id": range(1, len(far) + 1), "pop": far["pop"].to_numpy() * 10, "n_points": 10,
        "mean_minutes": far[f"{tid}_min"].to_numpy(), "max_minutes": far[f"{tid}_min"].to_numpy() + 1,
        "nearest_facility": far[f"{tid}_facility"].to_numpy(), "units": far["unit"].to_numpy()},
        geometry=far.geometry.to_numpy(), crs=crs)}
    result.sites = {tid: gpd.GeoDataFrame({"rank": [1, 2, 3], "site_id": ["S1", "S2", "S3"],
                                           "gain": far["pop"].to_numpy()[:3] * 10},
                                          geometry=far.geometry.to_numpy()[:3], crs=crs)}
    return result


@pytest.fixture(scope="module")
def demo():
    return add_extras(run_scenario(load_scenario(data_path("demo", "scenario.toml")), write=False))


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    folder = tmp_path_factory.mktemp("county10k")
    generate_county(folder, seed=1, area_km2=200, n_nodes=10000)
    return run_scenario(load_scenario(folder / "scenario.toml"), write=False)


def _layers(fmap):
    return {child.layer_name: child for child in fmap._children.values() if hasattr(child, "layer_name")}


def _features(layer):
    return json.loads(layer.data)["features"]


def test_layer_names_in_both_languages(demo):
    zh = _layers(map_from_result(demo, lang="zh"))
    en = _layers(map_from_result(demo, lang="en"))
    zh_names, en_names = set(zh), set(en)
    for name in ("OpenStreetMap", "浅色底图（CARTO）", "无底图", "出行时间 · 15分钟到达最近医疗点",
                 "出行时间 · 120急救平均响应时间", "等时圈 · 15分钟到达最近医疗点", "服务缺口 · 15分钟到达最近医疗点",
                 "建议新增点位 · 15分钟到达最近医疗点", "医疗机构 · 医院 (7)", "医疗机构 · 药店 (11)"):
        assert name in zh_names, (name, zh_names)
    for name in ("OpenStreetMap", "Light (CARTO)", "No basemap", "Travel time · Nearest medical point within 15 minutes",
                 "Isochrones · Nearest medical point within 15 minutes", "Coverage gaps · Nearest medical point within 15 minutes",
                 "Proposed new sites · Nearest medical point within 15 minutes", "Facilities · Hospital (7)",
                 "Facilities · Pharmacy (11)"):
        assert name in en_names, (name, en_names)
    assert not any(re.search(r"[\u4e00-\u9fff]", n) for n in en_names)
    assert len(zh) == len(en)
    # only the first target's travel time is on at start; basemaps are radio buttons
    assert zh["出行时间 · 15分钟到达最近医疗点"].show and not zh["出行时间 · 120急救平均响应时间"].show
    assert [n for n, layer in zh.items() if not layer.overlay] == ["OpenStreetMap", "浅色底图（CARTO）", "无底图"]
    html_zh = map_from_result(demo, lang="zh").get_root().render()
    assert "天地图" not in html_zh and "高德" not in html_zh  # no key: no Tianditu; WGS84 overlays: no Amap


def test_title_legend_and_popups_in_both_languages(demo):
    zh = map_from_result(demo, lang="zh").get_root().render()
    en = map_from_result(demo, lang="en").get_root().render()
    for text in ("id='geoaccess-title'", "© OpenStreetMap contributors", "id='geoaccess-legend'"):
        assert text in zh and text in en
    # title: value vs goal and verdict per target
    assert "98.4%" in zh and "≥ 90%（15分钟内）" in zh and "达标" in zh and "≤ 15 分钟" in zh
    assert "98.4%" in en and "≥ 90% within 15 min" in en and "PASS" in en and "≤ 15 min" in en
    # legend in minutes, with an unreachable class
    assert "出行时间 · 15分钟到达最近医疗点（分钟）" in zh and "不可达" in zh and "10–15" in zh
    assert "Travel time · Nearest medical point within 15 minutes (minutes)" in en and "unreachable" in en
    # popups (JSON inside the page)
    for text in ("服务人口 · 15分钟到达最近医疗点", "类型", "缺口 1", "新增覆盖人口", "平均时间"):
        assert text in zh, text
    for text in ("Population served · Nearest medical point within 15 minutes", "Type", "Gap 1",
                 "People newly covered", "Mean time"):
        assert text in en, text
    assert "Population served" not in zh and "服务人口" not in en and "达标" not in en


def test_facility_popup_gives_population_served_by_the_first_target(demo):
    layers = _layers(map_from_result(demo, lang="en"))
    hospitals = _features(layers["Facilities · Hospital (7)"])
    tid = demo.evaluations[0].target.id
    served = demo.demand.groupby(f"{tid}_facility")["pop"].sum()
    top = served.idxmax()
    name = demo.facilities.set_index("facility_id").loc[top, "name"]
    popup = next(f["properties"]["p"] for layer in layers.values() if isinstance(layer, GeoLayer)
                 for f in _features(layer) if f["properties"].get("t") == name.replace("'", "&#x27;"))
    assert f"{served[top]:,.0f} people" in popup
    assert len(hospitals) == 7 and all(f["geometry"]["type"] == "Point" for f in hospitals)


def test_self_contained_map_loads_nothing_from_a_cdn(demo, tmp_path):
    path = write_map(demo, tmp_path / "map.html", lang="zh", self_contained=True)
    page = path.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert not re.search(r"<link[^>]+href\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert not re.search(r"url\(\s*[\"']?(https?:)?//", page, re.I)  # CSS images are data URLs
    for lib in ("jquery", "bootstrap", "font-awesome", "fontawesome", "awesome-markers", "d3.min.js"):
        assert lib not in page.lower(), lib
    assert "Leaflet 1.9.4" in page and "L.imageOverlay" in page
    assert not list(tmp_path.glob(".*"))  # atomic write left nothing behind
    # the CDN flavour links Leaflet only
    cdn = write_map(demo, tmp_path / "cdn.html", lang="zh", self_contained=False).read_text(encoding="utf-8")
    srcs = re.findall(r"<(?:script|link)[^>]+(?:src|href)=\"?([^\"> ]+)", cdn)
    assert srcs and all("leaflet@1.9.4" in s for s in srcs), srcs


def test_scenario_self_contained_setting_is_the_default(demo, tmp_path):
    demo.scenario.map["self_contained"] = True
    try:
        page = write_map(demo, tmp_path / "m.html").read_text(encoding="utf-8")
    finally:
        demo.scenario.map["self_contained"] = False
    assert "Leaflet 1.9.4" in page and "cdn.jsdelivr" not in page


def test_basemaps_tianditu_with_key_and_amap_in_gcj02(demo):
    with pytest.raises(InputError, match="tianditu_key"):
        map_from_result(demo, basemap="tianditu")
    with pytest.raises(InputError, match="unknown basemap"):
        map_from_result(demo, basemap="google")
    page = map_from_result(demo, lang="zh", basemap="tianditu", tianditu_key="KEY123").get_root().render()
    assert "tianditu.gov.cn/vec_w/wmts" in page and "tianditu.gov.cn/cva_w/wmts" in page and "tk=KEY123" in page
    en = map_from_result(demo, lang="en", tianditu_key="KEY123").get_root().render()
    assert "tianditu.gov.cn/eva_w/wmts" in en  # English labels
    # Amap: overlays move to GCJ-02 with the tiles, and WGS84 basemaps are not offered
    wgs = _layers(map_from_result(demo, lang="en"))
    gcj_map = map_from_result(demo, lang="en", basemap="amap")
    gcj = _layers(gcj_map)
    assert [n for n, layer in gcj.items() if not layer.overlay] == ["Amap (Gaode)", "No basemap"]
    assert "tile.openstreetmap.org" not in gcj_map.get_root().render()
    a = np.array([f["geometry"]["coordinates"] for f in _features(wgs["Facilities · Hospital (7)"])])
    b = np.array([f["geometry"]["coordinates"] for f in _features(gcj["Facilities · Hospital (7)"])])
    # Monaco lies outside China, where GCJ-02 is the identity: check the transform on a shifted copy
    assert np.allclose(a, b, atol=1e-6)
    lon, lat = wgs84_to_gcj02(np.array([116.39]), np.array([39.9]))
    d = _Display(gcj=True)
    assert np.allclose(d.lonlat(np.array([116.39]), np.array([39.9])), (lon, lat))


def test_amap_shifts_every_overlay_in_china(county):
    wgs = _layers(map_from_result(county, lang="zh"))
    gcj = _layers(map_from_result(county, lang="zh", basemap="amap"))
    name = next(n for n in wgs if n.startswith("医疗机构 · 县级医院"))
    a = np.array([f["geometry"]["coordinates"] for f in _features(wgs[name])])
    b = np.array([f["geometry"]["coordinates"] for f in _features(gcj[name])])
    exp = np.column_stack(wgs84_to_gcj02(a[:, 0], a[:, 1]))
    assert np.allclose(b, exp, atol=2e-6) and np.abs(b - a).max() > 1e-3  # a few hundred metres
    raster = next(layer for layer in gcj.values() if isinstance(layer, PngOverlay))
    raster_wgs = next(layer for layer in wgs.values() if isinstance(layer, PngOverlay))
    (s1, w1), _ = raster_wgs.bounds
    (s2, w2), _ = raster.bounds
    ew, ns = wgs84_to_gcj02(np.array([w1]), np.array([s1]))
    assert abs(w2 - ew[0]) < 0.002 and abs(s2 - ns[0]) < 0.002
    units = _features(gcj["行政区划（乡镇/街道）"])
    assert len(units) == len(county.units)


def _decode_png(png: bytes) -> np.ndarray:
    """Palette index of each pixel of an 8-bit, filter-0 palette PNG (as _png_palette writes)."""
    w, h = struct.unpack(">II", png[16:24])
    pos, idat = 8, b""
    while pos < len(png):
        n = struct.unpack(">I", png[pos:pos + 4])[0]
        if png[pos + 4:pos + 8] == b"IDAT":
            idat += png[pos + 8:pos + 8 + n]
        pos += 12 + n
    return np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, w + 1)[:, 1:]


def test_demand_raster_shows_each_cell_in_its_time_class(county):
    e = county.evaluations[0]
    grid = DemandGrid(county.demand, _Display(False))
    minutes = county.demand[f"{e.target.id}_min"].to_numpy(float)
    img = _decode_png(grid.png(minutes, e.target))
    assert img.shape == grid.index.shape
    # every demand point is drawn, in its own pixel, with its own class
    (s, w), (n, east) = grid.bounds
    ll = county.demand.geometry.to_crs("EPSG:4326")
    merc = lambda lat: np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))  # noqa: E731
    col = ((ll.x.to_numpy() - w) / (east - w) * grid.width).astype(int)
    row = ((merc(n) - merc(ll.y.to_numpy())) / (merc(n) - merc(s)) * grid.height).astype(int)
    assert (grid.index[row, col] == np.arange(len(minutes))).mean() > 0.99
    assert np.array_equal(img[row, col], minutes_class(minutes, e.target) + 1)
    assert (img == 0).any() and set(np.unique(img)) <= set(range(len(CLASS_COLOURS) + 2))
    # unreachable people get their own colour
    assert (img == len(CLASS_COLOURS) + 1).any() == bool(np.isinf(minutes).any())


def test_png_encoder_round_trip():
    idx = np.arange(12, dtype=np.uint8).reshape(3, 4) % 3
    png = _png_palette(idx, [(0, 0, 0, 0), (255, 0, 0, 255), (0, 255, 0, 128)])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and np.array_equal(_decode_png(png), idx)


def test_county_map_size_and_speed(county, tmp_path):
    assert len(county.demand) > 15_000
    started = time.perf_counter()
    path = write_map(county, tmp_path / "map.html", lang="zh", self_contained=True)
    seconds = time.perf_counter() - started
    size = path.stat().st_size
    print(f"synthetic 10k-node county: {len(county.demand):,} demand cells, map {size / 1e6:.2f} MB in {seconds:.2f} s")
    assert size < 20e6  # the bound; in practice a few hundred kB, as demand is one PNG per target
    assert size < 2e6 and seconds < 20
    layers = _layers(map_from_result(county, lang="zh"))
    assert sum(isinstance(layer, PngOverlay) for layer in layers.values()) == len(county.evaluations)
    units = _features(layers["行政区划（乡镇/街道）"])
    assert {f["properties"]["t"] for f in units} == set(county.units["unit"])
    # a unit that fails a target is outlined red and says so in its popup
    failing = {r["name"] for e in county.evaluations for r in e.units.to_dict("records") if r["passed"] is False}
    for f in units:
        colour = f["properties"]["s"]["color"]
        assert (colour == "#d73027") == (f["properties"]["t"] in failing)
        assert "未达标" in f["properties"]["p"] or f["properties"]["t"] not in failing


def test_report_verdicts_ranking_gaps_sites_and_map(demo, county, tmp_path):
    m = write_map(county, tmp_path / "map.html", lang="zh", self_contained=True)
    page = write_report(county, tmp_path / "report.html", lang="zh").read_text(encoding="utf-8")  # finds map.html
    for e in county.evaluations:
        verdict = "pass" if e.passed else "fail"
        assert f"data-target='{e.target.id}' data-passed='{verdict}'" in page
    assert page.count("class='verdict ") == len(county.evaluations)
    assert "达标" in page and "各乡镇（街道）覆盖率排名" in page and "最大的 10 处服务缺口" in page
    assert f"<iframe src='{m.name}'" in page and "<script" not in page and "@media print" in page
    # ranking: first target's units, lowest share first
    first = page.split("class='bars'>", 1)[1].split("</div></div><h3>", 1)[0]
    order = re.findall(r"data-unit='([^']+)'", first)
    units = county.evaluations[0].units.dropna(subset=["share_within"])
    assert order == units.sort_values(["share_within", "name"])["name"].tolist()
    # without gap clusters, the gaps are people beyond the threshold summed per township
    gaps, clusters = largest_gaps(dataclasses.replace(county, gaps={}), county.evaluations[0])
    e = county.evaluations[0]
    beyond = county.demand[~(county.demand[f"{e.target.id}_min"] <= e.target.threshold_min)]
    assert not clusters and np.isclose(gaps["pop"].sum(), beyond["pop"].sum())
    assert list(gaps["pop"]) == sorted(gaps["pop"], reverse=True)
    # English, and gap clusters and sites when the result has them
    en = write_report(demo, tmp_path / "en.html", lang="en", map_path=m).read_text(encoding="utf-8")
    for e in demo.evaluations:
        assert f"data-target='{e.target.id}' data-passed='{'pass' if e.passed else 'fail'}'" in en
    assert "Townships ranked by share covered" in en and "The 10 largest coverage gaps" in en
    assert "Proposed new sites" in en and "People newly covered" in en and "class='t sites'" in en
    assert "<iframe src='map.html'" in en and "达标" not in en
    tid = demo.evaluations[0].target.id
    assert en.count("<tr><td>") >= len(demo.gaps[tid]) + len(demo.sites[tid])
    with pytest.raises(InputError):
        write_report(demo, tmp_path / "x.html", lang="fr")
    assert not (tmp_path / "x.html").exists()


def test_report_marks_a_failing_target(demo, tmp_path):
    e = demo.evaluations[0]
    old = e.passed
    e.passed = False
    try:
        page = write_report(demo, tmp_path / "r.html", lang="en").read_text(encoding="utf-8")
    finally:
        e.passed = old
    assert f"data-target='{e.target.id}' data-passed='fail'" in page and "class='verdict fail'>FAIL<" in page


def test_map_without_units_isochrones_gaps_or_sites(demo):
    bare = dataclasses.replace(run_scenario(load_scenario(data_path("demo", "scenario.toml")), write=False),
                               isochrones={}, gaps={}, sites={})
    names = set(_layers(map_from_result(bare, lang="en")))
    assert not any(n.startswith(("Isochrones", "Coverage gaps", "Proposed", "Admin")) for n in names)
    assert any(n.startswith("Travel time") for n in names)
    with pytest.raises(InputError):
        map_from_result(bare, lang="de")


def test_map_opens_on_the_curve_target_after_another_targets_proposal():
    # `site --target ems_120 --add 1`, then `site --target medical_point_15min --curve 2` into the
    # same folder: the earlier proposal is carried over, but the map opens on the curve's target
    from geoaccess.curve import site_curve
    from geoaccess.proposals import site_target

    res = run_scenario(load_scenario(data_path("demo", "scenario.toml")), write=False)
    site_target(res, "ems_120", n_new=1)
    assert _layers(map_from_result(res, lang="en"))["Travel time · Mean 120 emergency response time"].show
    site_curve(res, "medical_point_15min", 2)
    layers = _layers(map_from_result(res, lang="en"))
    assert layers["Travel time · Nearest medical point within 15 minutes"].show
    assert not layers["Travel time · Mean 120 emergency response time"].show


def test_run_bands_are_one_coverage_near_the_raw_bands_and_the_map_draws_them_as_they_are(county):
    """Issue 15: the run simplifies its bands once, as one coverage, and the map neither
    simplifies them again nor moves a vertex by more than its ~1 m rounding."""
    from pyproj import Transformer

    from geoaccess.isochrones import ISOCHRONE_SIMPLIFY_M
    from geoaccess.pipeline import target_isochrones

    e = county.evaluations[0]
    iso = county.isochrones[e.target.id]
    assert iso.attrs["simplified_m"] == ISOCHRONE_SIMPLIFY_M
    raw = target_isochrones(e.target, county.engine, select_facilities(e.target, county.facilities), county.demand,
                            simplify_m=None)
    g, r = iso.geometry.to_numpy(), raw.geometry.to_numpy()
    assert (shapely.get_num_coordinates(g) < 0.8 * shapely.get_num_coordinates(r)).all()  # the cells' steps are gone
    for i in range(len(g)):
        assert shapely.symmetric_difference(g[i], r[i]).area < 0.03 * r[i].area
        for j in range(i + 1, len(g)):  # bands still share borders: no overlaps
            assert shapely.intersection(g[i], g[j]).area < 1e-6 * min(g[i].area, g[j].area)
    layers = _layers(map_from_result(county, lang="zh"))
    drawn = _features(next(layer for name, layer in layers.items() if name.startswith("等时圈")))
    assert len(drawn) == len(g)
    to_ll = Transformer.from_crs(iso.crs, "EPSG:4326", always_xy=True)
    for f, band in zip(drawn, g):
        want = np.column_stack(to_ll.transform(*shapely.get_coordinates(band).T))
        got = np.array([xy for poly in f["geometry"]["coordinates"] for ring in poly for xy in ring]
                       if f["geometry"]["type"] == "MultiPolygon"
                       else [xy for ring in f["geometry"]["coordinates"] for xy in ring])
        assert got.shape == want.shape and np.abs(got - want).max() <= 5.1e-6


def test_braces_in_scenario_and_facility_names_stay_text_on_the_map(demo):
    name = "县 {{ 1 + 1 }} {% raw %} {#"
    scenario = dataclasses.replace(demo.scenario, scenario={**demo.scenario.scenario, "name": name})
    facilities = demo.facilities.copy()
    facilities.loc[facilities.index[0], "name"] = "诊所 {{ x }} {#"
    page = map_from_result(dataclasses.replace(demo, scenario=scenario, facilities=facilities),
                           lang="zh").get_root().render()
    assert f"<div class='ga-name'>{name}</div>" in page
    assert '"t":"诊所 {{ x }} {#"' in page  # in the facilities' GeoJSON, not read as Jinja


def test_demand_grid_queries_only_pixels_near_points_and_equals_querying_every_pixel():
    """Two far-apart clusters (most of the box empty): the index equals a query of every pixel."""
    from pyproj import Transformer
    from scipy.spatial import cKDTree

    from geoaccess.demandraster import _merc

    rng = np.random.default_rng(7)
    xy = np.r_[rng.uniform(0, 3000, (300, 2)), rng.uniform(0, 2000, (200, 2)) + [20_000, 15_000]] + [500_000, 3_700_000]
    demand = gpd.GeoDataFrame({"pop": np.ones(len(xy)), "cell_area_m2": np.full(len(xy), 100.0 ** 2)},
                              geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs="EPSG:32650")
    grid = DemandGrid(demand, _Display(False))
    lon, lat = Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True).transform(xy[:, 0], xy[:, 1])
    mx, my = _merc(np.asarray(lon), np.asarray(lat))
    x0, y1, px = grid.pixel
    cx = x0 + (np.arange(grid.width) + 0.5) * px
    cy = y1 - (np.arange(grid.height) + 0.5) * px
    gx, gy = np.meshgrid(cx, cy)
    reach = 0.75 * 100.0 / np.cos(np.radians(np.mean(lat)))
    dist, idx = cKDTree(np.c_[mx, my]).query(np.c_[gx.ravel(), gy.ravel()], distance_upper_bound=reach)
    expected = np.where(np.isfinite(dist), idx, -1).reshape(grid.height, grid.width)
    assert (expected == -1).mean() > 0.5  # most pixels are far from every point
    np.testing.assert_array_equal(grid.index, expected)
    assert len(np.unique(grid.index[grid.index >= 0])) > 0.95 * len(xy)  # (random points may crowd a few out)
    # the map passes the lon/lat it already has: the same grid
    given = DemandGrid(demand, _Display(False), lonlat=_Display(False).points(demand))
    np.testing.assert_array_equal(given.index, grid.index)
    assert given.pixel == grid.pixel and given.bounds == grid.bounds


def test_demand_grid_of_raster_cells_equals_a_brute_force_nearest_cell():
    """A population raster's cells (a 100 m lattice, where pixel-to-cell ties are likeliest): every
    pixel shows the nearest cell within reach, as a brute-force distance to every cell says."""
    from pyproj import Transformer

    from geoaccess.demandraster import _merc

    gx, gy = np.meshgrid(np.arange(40) * 100.0 + 500_050, np.arange(30) * 100.0 + 3_700_050)
    xy = np.c_[gx.ravel(), gy.ravel()]
    demand = gpd.GeoDataFrame({"pop": np.ones(len(xy)), "cell_area_m2": np.full(len(xy), 100.0 ** 2)},
                              geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs="EPSG:32650")
    grid = DemandGrid(demand, _Display(False))
    lon, lat = Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True).transform(xy[:, 0], xy[:, 1])
    mx, my = _merc(np.asarray(lon), np.asarray(lat))
    x0, y1, px = grid.pixel
    cx = np.tile(x0 + (np.arange(grid.width) + 0.5) * px, grid.height)  # pixel centres, row by row
    cy = np.repeat(y1 - (np.arange(grid.height) + 0.5) * px, grid.width)
    d = np.hypot(cx[:, None] - mx[None, :], cy[:, None] - my[None, :])
    reach = 0.75 * 100.0 / np.cos(np.radians(np.mean(lat)))
    nearest = d.argmin(axis=1)
    expected = np.where(d[np.arange(len(d)), nearest] <= reach, nearest, -1).reshape(grid.height, grid.width)
    # no pixel lies at the same distance from two cells (or the brute force's first-index pick would be one of two)
    second = np.partition(d, 1, axis=1)[:, :2]
    assert (second[:, 1] - second[:, 0] > 1e-9).all()
    np.testing.assert_array_equal(grid.index, expected)
    assert (expected >= 0).mean() > 0.5
