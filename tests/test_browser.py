"""The map and the report in a real browser (headless Chromium through Selenium).

Checks that Leaflet draws the self-contained map with the expected layers and features,
that no JavaScript error is logged and that no request fails (offline, tile requests to
basemap servers are the only ones allowed to fail), and saves screenshots.

Needs Debian's ``chromium`` and ``chromium-driver`` (CI installs them); without them the
tests FAIL, they do not skip.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from geoaccess._paths import data_path
from geoaccess.maps import write_map
from geoaccess.pipeline import run_scenario
from geoaccess.report import write_report
from geoaccess.scenario import load_scenario

from test_maps import add_extras  # noqa: E402  (tests/ is on sys.path under pytest)

CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,860", "--lang=zh-CN"]
TILE_HOSTS = ("tile.openstreetmap.org", "basemaps.cartocdn.com", "tianditu.gov.cn", "autonavi.com")


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def open_browser(width: int = 1280, height: int = 860):
    """A headless Chromium driven by Selenium, logging console and network events."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is missing: pip install -e '.[test]'")
    binary = _chromium()
    driver_path = CHROMEDRIVER if Path(CHROMEDRIVER).exists() else shutil.which("chromedriver")
    if not binary or not driver_path:
        pytest.fail("headless Chromium is needed for the browser tests: "
                    "apt-get install chromium chromium-driver  (CI installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='geoaccess-chromium-')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=options)


@pytest.fixture(scope="module")
def browser():
    driver = open_browser()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def demo():
    return add_extras(run_scenario(load_scenario(data_path("demo", "scenario.toml")), write=False))


def load(driver, path: Path, timeout: float = 20.0) -> None:
    driver.get("about:blank")  # let the previous page (or the start page) finish its requests…
    driver.get_log("browser"), driver.get_log("performance")  # …and drop what they logged
    driver.get(path.resolve().as_uri())
    deadline = time.time() + timeout
    while time.time() < deadline:
        if driver.execute_script("return document.readyState") == "complete":
            return
        time.sleep(0.1)
    pytest.fail(f"{path.name} did not finish loading in {timeout:.0f} s")


def wait_for_map(driver, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if driver.execute_script("return !!(window.L && window.geoaccess && window.geoaccess.map"
                                 " && window.geoaccess.map._loaded)"):
            return
        time.sleep(0.1)
    pytest.fail("the Leaflet map did not appear (window.geoaccess.map)")


def problems(driver, allow_tiles: bool) -> list[str]:
    """JavaScript errors and failed requests since the page was opened.

    A failed tile request from a basemap server is allowed when ``allow_tiles`` (there is
    no internet here); anything else that fails is a problem.
    """
    found = []
    for entry in driver.get_log("browser"):
        if entry["level"] != "SEVERE":
            continue
        if allow_tiles and any(host in entry["message"] for host in TILE_HOSTS):
            continue
        found.append(f"console: {entry['message']}")
    urls, failed = {}, []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        params = msg.get("params", {})
        if msg["method"] == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
        elif msg["method"] == "Network.loadingFailed" and not params.get("canceled"):
            failed.append(params["requestId"])
        elif msg["method"] == "Network.responseReceived" and params["response"].get("status", 200) >= 400:
            failed.append(params["requestId"])
    for rid in failed:
        url = urls.get(rid, "?")
        if url.startswith(("chrome://", "chrome-untrusted://")):  # the browser's own start page
            continue
        if allow_tiles and any(host in url for host in TILE_HOSTS):
            continue
        found.append(f"request failed: {url[:120]}")
    return found


MAP_STATE = """
var g = window.geoaccess, out = {overlays: [], bases: [], counts: {}, visible: [], raster: []};
document.querySelectorAll('.leaflet-control-layers-overlays label span').forEach(function (s) {
    out.overlays.push(s.textContent.trim()); });
document.querySelectorAll('.leaflet-control-layers-base label span').forEach(function (s) {
    out.bases.push(s.textContent.trim()); });
Object.keys(g.layers).forEach(function (name) {
    var layer = g.layers[name];
    out.counts[name] = layer.getLayers ? layer.getLayers().length : 1;
    if (g.map.hasLayer(layer)) { out.visible.push(name); }
});
document.querySelectorAll('img.ga-raster').forEach(function (img) {
    out.raster.push([img.complete, img.naturalWidth, img.naturalHeight]); });
out.paths = document.querySelectorAll('.leaflet-pane path.leaflet-interactive').length;
out.title = document.getElementById('geoaccess-title').innerText;
out.legend = document.getElementById('geoaccess-legend').innerText;
return out;
"""


def map_state(driver) -> dict:
    return driver.execute_script(MAP_STATE)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_self_contained_map_draws_offline(browser, demo, tmp_path, lang):
    path = write_map(demo, tmp_path / f"map_{lang}.html", lang=lang, self_contained=True, basemap="none")
    load(browser, path)
    wait_for_map(browser)
    state = map_state(browser)
    t = {"zh": ("出行时间", "医疗机构", "等时圈", "服务缺口", "建议新增点位", "无底图", "达标"),
         "en": ("Travel time", "Facilities", "Isochrones", "Coverage gaps", "Proposed new sites", "No basemap", "PASS")}
    travel, facilities, iso, gaps, sites, none, passed = t[lang]
    assert set(state["overlays"]) == set(state["counts"]), state
    for prefix in (travel, facilities, iso, gaps, sites):
        assert any(n.startswith(prefix) for n in state["overlays"]), (prefix, state["overlays"])
    assert none in state["bases"] and "OpenStreetMap" in state["bases"]
    # every layer holds features; the visible ones are drawn
    assert all(n > 0 for n in state["counts"].values()), state["counts"]
    assert sum(v for k, v in state["counts"].items() if k.startswith(facilities)) == len(demo.facilities)
    assert state["paths"] >= len(demo.facilities)
    assert state["raster"] and all(ok and w > 0 and h > 0 for ok, w, h in state["raster"]), state["raster"]
    assert sum(k.startswith(travel) for k in state["visible"]) == 1
    assert passed in state["title"] and "© OpenStreetMap contributors" in state["title"]
    assert travel in state["legend"]
    # a facility popup opens with its served population
    text = browser.execute_script(
        "var g = window.geoaccess, prefix = arguments[0], names = Object.keys(g.layers).filter(function (n) {"
        " return n.indexOf(prefix) === 0; });"
        "var m = g.layers[names[0]].getLayers()[0]; m.openPopup();"
        "return document.querySelector('.leaflet-popup-content').innerText;", facilities)
    assert ("服务人口" if lang == "zh" else "Population served") in text, text
    # switching a travel-time layer on shows its legend
    browser.execute_script(
        "var g = window.geoaccess, prefix = arguments[0]; Object.keys(g.layers).forEach(function (n) {"
        " if (n.indexOf(prefix) === 0) { g.map.addLayer(g.layers[n]); } });", travel)
    legend = map_state(browser)["legend"]
    for e in demo.evaluations:
        assert (e.target.name_zh if lang == "zh" else e.target.name_en) in legend
    assert problems(browser, allow_tiles=False) == []  # no basemap: not a single request may fail
    browser.save_screenshot(str(tmp_path / f"map_{lang}.png"))
    assert (tmp_path / f"map_{lang}.png").stat().st_size > 10_000


def test_map_with_osm_basemap_only_tiles_fail_offline(browser, demo, tmp_path):
    path = write_map(demo, tmp_path / "map.html", lang="zh", self_contained=True, basemap="osm")
    load(browser, path)
    wait_for_map(browser)
    time.sleep(0.5)
    assert problems(browser, allow_tiles=True) == []
    assert browser.execute_script("return document.querySelectorAll('.leaflet-tile').length") > 0
    browser.save_screenshot(str(tmp_path / "map_osm.png"))


def test_county_map_in_browser(browser, tmp_path):
    from geoaccess.synthetic import generate_county

    generate_county(tmp_path / "county", seed=1, area_km2=200, n_nodes=10000)
    result = run_scenario(load_scenario(tmp_path / "county" / "scenario.toml"), write=False)
    path = write_map(result, tmp_path / "map.html", lang="zh", self_contained=True, basemap="none")
    started = time.perf_counter()
    load(browser, path)
    wait_for_map(browser)
    seconds = time.perf_counter() - started
    state = map_state(browser)
    assert seconds < 10, seconds
    assert state["counts"]["行政区划（乡镇/街道）"] == len(result.units)
    assert len(state["raster"]) == 1 and state["raster"][0][1] > 100
    assert problems(browser, allow_tiles=False) == []
    browser.save_screenshot(str(tmp_path / "county.png"))


def test_report_in_browser_embeds_the_map(browser, demo, tmp_path):
    map_path = write_map(demo, tmp_path / "map.html", lang="zh", self_contained=True, basemap="none")
    report = write_report(demo, tmp_path / "report.html", lang="zh", map_path=map_path)
    load(browser, report)
    cards = browser.execute_script("return Array.from(document.querySelectorAll('section.card')).map("
                                   "function (c) { return [c.dataset.target, c.dataset.passed,"
                                   " c.querySelector('.verdict').innerText]; })")
    assert [c[0] for c in cards] == [e.target.id for e in demo.evaluations]
    assert all(text == ("达标" if passed == "pass" else "未达标") for _, passed, text in cards)
    assert browser.execute_script("return document.querySelectorAll('.bar .fill').length") > 0
    browser.execute_script("document.querySelector('iframe').scrollIntoView()")
    browser.switch_to.frame(browser.find_element("css selector", "iframe"))
    try:
        wait_for_map(browser)
        assert len(map_state(browser)["overlays"]) > 3
    finally:
        browser.switch_to.default_content()
    assert problems(browser, allow_tiles=False) == []
    browser.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000
