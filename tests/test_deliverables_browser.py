"""Deliverables in a real headless Chromium (issue 13): the map opens with no network at all,
the report prints to at most two A4 pages, labels and proposed sites on the map."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from pypdf import PdfReader

from geoaccess._paths import data_path
from geoaccess.maps import write_map
from geoaccess.pipeline import run_scenario, write_outputs
from geoaccess.scenario import load_scenario
from geoaccess.synthetic import generate_county

from test_browser import CHROMEDRIVER, FLAGS, _chromium, load, map_state, wait_for_map  # noqa: E402

OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND"  # every host name fails to resolve: no network


def _driver(*extra: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _chromium()
    for flag in (*FLAGS, *extra, f"--user-data-dir={tempfile.mkdtemp(prefix='geoaccess-chromium-')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    path = CHROMEDRIVER if Path(CHROMEDRIVER).exists() else shutil.which("chromedriver")
    return webdriver.Chrome(service=Service(path), options=options)


@pytest.fixture(scope="module")
def offline():
    driver = _driver(OFFLINE)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def demo():
    return run_scenario(load_scenario(data_path("demo", "scenario.toml")), write=False)


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    folder = tmp_path_factory.mktemp("county30")
    generate_county(folder, seed=2, area_km2=900, n_nodes=12000, n_townships=30)
    return run_scenario(load_scenario(folder / "scenario.toml"), write=False)


def _wait(driver, script: str, timeout: float = 10.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if driver.execute_script(script):
            return True
        time.sleep(0.1)
    return False


def test_default_map_opens_offline_says_tiles_are_missing_and_draws_the_data(offline, demo, tmp_path):
    path = write_map(demo, tmp_path / "map.html", lang="zh")  # defaults: Leaflet inline, OSM basemap
    load(offline, path)
    wait_for_map(offline)
    state = map_state(offline)
    assert state["paths"] >= len(demo.facilities)  # facilities drawn
    assert state["raster"] and all(ok and w > 0 for ok, w, _ in state["raster"])  # travel-time image drawn
    assert _wait(offline, "var n = document.getElementById('geoaccess-offline');"
                          " return n && getComputedStyle(n).display !== 'none' && n.offsetHeight > 0;")
    notice = offline.execute_script("return document.getElementById('geoaccess-offline').innerText")
    assert "底图无法加载" in notice and "数据图层照常显示" in notice
    # the same page with the basemap switched off: no notice was needed before tiles failed
    path = write_map(demo, tmp_path / "none.html", lang="en", basemap="none")
    load(offline, path)
    wait_for_map(offline)
    time.sleep(0.5)
    assert offline.execute_script("return getComputedStyle(document.getElementById('geoaccess-offline')).display") \
        == "none"


def test_cdn_map_offline_is_blank(offline, demo, tmp_path):
    # proves the test above can fail: the CDN build draws nothing without a network
    path = write_map(demo, tmp_path / "cdn.html", lang="zh", self_contained=False)
    load(offline, path)
    time.sleep(1.0)
    assert offline.execute_script("return typeof window.L") == "undefined"
    assert offline.execute_script("return document.querySelectorAll('.leaflet-pane path, img.ga-raster').length") == 0


def _pdf_pages(html_path: Path, pdf_path: Path) -> PdfReader:
    subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer", OFFLINE,
                    f"--user-data-dir={tempfile.mkdtemp(prefix='geoaccess-pdf-')}", f"--print-to-pdf={pdf_path}",
                    html_path.resolve().as_uri()], check=True, capture_output=True, timeout=180)
    return PdfReader(pdf_path)


@pytest.mark.parametrize("which", ["demo", "county"])
def test_report_prints_to_at_most_two_a4_pages_with_the_map_image(which, demo, county, tmp_path):
    result = {"demo": demo, "county": county}[which]
    out = tmp_path / "out"
    files = write_outputs(result, out, lang="zh")
    pdf = _pdf_pages(files["report"], tmp_path / "report.pdf")
    assert 1 <= len(pdf.pages) <= 2, len(pdf.pages)
    width, height = float(pdf.pages[0].mediabox.width), float(pdf.pages[0].mediabox.height)
    assert sorted([round(width / 72 * 25.4), round(height / 72 * 25.4)]) == [210, 297]  # A4, in mm
    images = [img for page in pdf.pages for img in page.images]
    assert images and max(i.image.width for i in images) > 800  # the static map, printed
    text = "".join(page.extract_text() for page in pdf.pages)
    assert "nan" not in text.lower().replace("nanjing", "")
    if which == "county":
        assert len(result.units) >= 30
        for unit in result.units["unit"]:  # every township is in the printed ranking
            assert unit in text.replace(" ", "").replace("\n", ""), unit


def test_report_with_curves_still_prints_to_two_a4_pages(county, tmp_path):
    """30 townships and a "how many sites are enough" curve for two targets: still two pages,
    with the map and both curves printed."""
    from geoaccess.curve import site_curve

    curved = dataclasses.replace(county, siting={})
    timed = [e.target.id for e in county.evaluations if e.target.metric == "share_within"][:2]
    for tid in timed:
        site_curve(curved, tid, 3, spacing_m=1500, time_limit_s=20)
    files = write_outputs(curved, tmp_path / "out", lang="zh")
    assert all((tmp_path / "out" / f"curve_{tid}.png").is_file() for tid in timed)
    pdf = _pdf_pages(files["report"], tmp_path / "report.pdf")
    assert 1 <= len(pdf.pages) <= 2, len(pdf.pages)
    images = [img for page in pdf.pages for img in page.images]
    assert len(images) >= 1 + len(timed), len(images)  # the map and every curve, printed


def test_sited_target_opens_with_its_sites_spread_apart_and_township_labels(offline, county, tmp_path):
    second = county.evaluations[1].target.id
    centre = county.demand.geometry.iloc[len(county.demand) // 2]
    sites = gpd.GeoDataFrame({"rank": [1, 2, 3], "site_id": ["S1", "S2", "S3"], "gain": [900.0, 500.0, 100.0]},
                             geometry=[centre, shapely.Point(centre.x + 5, centre.y), shapely.Point(centre.x, centre.y + 8)],
                             crs=county.demand.crs)
    sited = dataclasses.replace(county, sites={second: sites})
    path = write_map(sited, tmp_path / "map.html", lang="zh", basemap="none")
    load(offline, path)
    wait_for_map(offline)
    assert _wait(offline, "return !window.geoaccess.map._animatingZoom")  # the opening fitBounds
    state = map_state(offline)
    name = county.evaluations[1].target.name_zh
    assert f"出行时间 · {name}" in state["visible"] and f"建议新增点位 · {name}" in state["visible"]
    assert not any(v.startswith("出行时间") and name not in v for v in state["visible"])
    legend = offline.execute_script("return getComputedStyle(document.getElementById('ga-legend-sites')).display")
    assert legend != "none"
    # three sites within 8 m: their stars do not cover one another
    rects = offline.execute_script("return Array.from(document.querySelectorAll('.leaflet-ga-sites-pane .ga-icon'))"
                                   ".map(function (e) { var r = e.getBoundingClientRect();"
                                   " return [r.left, r.top, r.right, r.bottom]; })")
    assert len(rects) == 3
    for i in range(3):
        for j in range(i + 1, 3):
            a, b = rects[i], rects[j]
            overlap = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
            assert overlap < 0.2 * (a[2] - a[0]) * (a[3] - a[1]), (rects, i, j)
    # township names: labelled where they fit at the opening zoom, fewer when zoomed out
    labels = "return Array.from(document.querySelectorAll('.ga-label')).filter(function (e) {" \
             " return e.offsetParent !== null; }).map(function (e) { return e.innerText; })"
    shown = offline.execute_script(labels)
    assert len(shown) >= len(county.units) // 3 and set(shown) <= set(county.units["unit"])
    zoom = offline.execute_script("var m = window.geoaccess.map, z = m.getZoom(); m.setZoom(z - 3); return z;")
    assert _wait(offline, f"return window.geoaccess.map.getZoom() === {zoom - 3}")
    # zoomend fires a frame after the zoom animation: wait for the labels to follow
    assert _wait(offline, f"{labels}.length < {len(shown)}", timeout=10)
    # generated roads are not OpenStreetMap data: no OSM credit on this map
    assert "OpenStreetMap contributors" not in state["title"]



def test_compare_map_opens_offline_with_exactly_the_changed_cells(offline, tmp_path):
    """Two runs of the hand-made county of test_proposals (see test_comparison): the plan
    upgrades T1 and T3 and drops the hospital, so all five villages change (four newly
    covered, one newly uncovered); the map draws those five cells and nothing fails offline."""
    import pandas as pd

    from geoaccess.comparison import compare, write_comparison
    from test_browser import problems
    from test_proposals import _scenario

    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        scenario = _scenario(tmp_path / run)
        if run == "b":
            fac = pd.read_csv(tmp_path / "b" / "facilities.csv")
            fac.loc[fac["id"].isin(["T1", "T3"]), "type"] = "sub_centre"
            fac.loc[fac["id"] == "H", "type"] = "village_clinic"
            fac.to_csv(tmp_path / "b" / "facilities.csv", index=False)
        run_scenario(load_scenario(scenario), out_dir=tmp_path / f"run_{run}")
    files = write_comparison(compare(tmp_path / "run_a", tmp_path / "run_b"), tmp_path / "cmp", lang="zh")
    load(offline, files["compare_map"])
    wait_for_map(offline)
    state = offline.execute_script("""
        var g = window.geoaccess, out = {};
        Object.keys(g.layers).forEach(function (n) {
            var colours = g.layers[n].getLayers().map(function (l) { return l.options.fillColor; }).sort();
            out[n] = {visible: g.map.hasLayer(g.layers[n]), colours: colours}; });
        out.markers = document.querySelectorAll('.leaflet-ga-gaps-pane path.leaflet-interactive').length;
        return out;""")
    (name,) = [k for k in state if k.startswith("变化的人口格网 · ")]
    assert state[name]["visible"] and state["markers"] == 5
    from geoaccess.comparemap import CHANGE_COLOURS

    assert state[name]["colours"] == sorted([CHANGE_COLOURS["newly_covered"]] * 4 + [CHANGE_COLOURS["newly_uncovered"]])
    assert problems(offline, allow_tiles=True) == []
