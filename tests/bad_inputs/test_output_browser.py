"""User text in map.html and report.html cannot run script: payloads in the scenario name,
a user target's names, facility names and township names, opened in headless Chromium.

One browser per module; two runs (zh, en) of a small Monaco scenario carrying the payloads.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from selenium.common.exceptions import NoAlertPresentException

from geoaccess.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the browser helpers
from test_browser import load, open_browser, wait_for_map  # noqa: E402
from test_outputs import DEMO, scenario_toml, townships  # noqa: E402  (tests/bad_inputs/ too)

PAYLOADS = ["</title><script>alert(1)</script>", "<img src=x onerror=alert(1)>", '"><svg onload=alert(1)>',
            "'-alert(1)-'", "javascript:alert(1)", "</script><script>alert(2)</script>", "<!--<script>alert(3)//"]
SCENARIO = PAYLOADS[0] + PAYLOADS[1] + PAYLOADS[3]
TARGET_ZH = "诊所" + PAYLOADS[1] + PAYLOADS[5]
TARGET_EN = PAYLOADS[2] + "clinic" + PAYLOADS[6]
TOWNS = [PAYLOADS[1] + "街道", PAYLOADS[2] + PAYLOADS[4] + "街道"]
HOOK = ("window.__alerts = []; window.alert = window.confirm = window.prompt = "
        "function (m) { window.__alerts.push(String(m)); };")
INJECTED = "return document.querySelectorAll('img[src=\"x\"], svg[onload], [onerror], [onload]').length"
DEFINE = f"""
[[targets.define]]
id = "evil_target"
name_zh = {json.dumps(TARGET_ZH)}
name_en = {json.dumps(TARGET_EN)}
facility_types = ["hospital", "doctors"]
mode = "walk"
direction = "to_facility"
threshold_min = 5
population = "all"
metric = "share_within"
goal = 0.9
"""
OPEN_ALL = """
var g = window.geoaccess, texts = [];
Object.keys(g.layers).forEach(function (name) {
    var layer = g.layers[name];
    if (!layer.eachLayer) { return; }
    g.map.addLayer(layer);
    layer.eachLayer(function (l) {
        if (l.getPopup && l.getPopup()) { l.openPopup(); var c = document.querySelector('.leaflet-popup-content');
                                          if (c) { texts.push(c.textContent); } }
        if (l.getTooltip && l.getTooltip()) { l.openTooltip(); texts.push(l.getTooltip().getElement().textContent); }
    });
});
return texts;
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("xss")
    fac = pd.read_csv(DEMO / "facilities.csv")
    fac["name"] = [PAYLOADS[i % len(PAYLOADS)] + f" #{i}" for i in range(len(fac))]
    fac.to_csv(folder / "facilities.csv", index=False)
    admin = townships(folder / "townships.gpkg", TOWNS)
    scenario = scenario_toml(folder, SCENARIO, facilities=folder / "facilities.csv", admin=admin, extra=DEFINE)
    scenario.write_text(scenario.read_text(encoding="utf-8").replace(
        'use = ["medical_point_15min", "ems_120"]', 'use = ["medical_point_15min", "ems_120", "evil_target"]'),
        encoding="utf-8")
    out = {}
    for lang in ("zh", "en"):
        out[lang] = folder / lang
        assert main(["run", str(scenario), "--out", str(out[lang]), "--lang", lang, "--self-contained",
                     "--basemap", "none"]) == 0
    return out, fac["name"].tolist()


@pytest.fixture(scope="module")
def browser():
    driver = open_browser()
    yield driver
    driver.quit()


def assert_no_script_ran(driver) -> None:
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert  # noqa: B018  (a real alert box would be open)
    assert driver.execute_script("return window.__alerts || []") == []
    assert driver.execute_script(INJECTED) == 0


def open_page(driver, path: Path, hooked: bool) -> None:
    if hooked:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOOK})
    load(driver, path)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_map_shows_payloads_as_text(runs, browser, lang):
    out, names = runs
    open_page(browser, out[lang] / "map.html", hooked=False)  # unhooked: an alert would block here
    assert_no_script_ran(browser)
    open_page(browser, out[lang] / "map.html", hooked=True)
    wait_for_map(browser)
    assert browser.title == f"{SCENARIO} · geoaccess"
    target = TARGET_ZH if lang == "zh" else TARGET_EN
    control = browser.execute_script("return document.querySelector('.leaflet-control-layers').textContent")
    assert target in control
    panel = browser.execute_script("return document.getElementById('geoaccess-title').textContent")
    assert SCENARIO in panel and target in panel
    assert target in browser.execute_script("return document.getElementById('geoaccess-legend').textContent")
    assert target in "\n".join(browser.execute_script("return Object.keys(window.geoaccess.layers)"))
    texts = "\n".join(browser.execute_script(OPEN_ALL))
    for name in names + TOWNS:
        assert name in texts, name
    assert target in texts  # unit popups list every target by name
    assert_no_script_ran(browser)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_shows_payloads_as_text(runs, browser, lang):
    out, _ = runs
    open_page(browser, out[lang] / "report.html", hooked=False)
    assert_no_script_ran(browser)
    open_page(browser, out[lang] / "report.html", hooked=True)
    assert browser.title.startswith(SCENARIO + " · ")
    assert browser.execute_script("return document.querySelector('h1').textContent").startswith(SCENARIO)
    target = TARGET_ZH if lang == "zh" else TARGET_EN
    cards = browser.execute_script("return Array.from(document.querySelectorAll('.card .name'))"
                                   ".map(function (e) { return e.textContent; })")
    assert target in cards
    body = browser.execute_script("return document.body.textContent")
    assert all(town in body for town in TOWNS)  # the township ranking
    assert_no_script_ran(browser)


PROVINCE_NAMES = PAYLOADS + ["{{x}}", "{% raw %} {#", "&amp; &lt;b&gt;", "\"quoted\" 'single'"]


def test_province_map_shows_every_user_string_as_typed(tmp_path, browser):
    """The province map (region run): region, county and target names with HTML, Jinja and
    already-escaped text reach the browser as typed, in the title, the layer control and
    the popups, and run nothing."""
    import dataclasses

    import geopandas as gpd
    import shapely

    from geoaccess.region.outputs import write_map
    from geoaccess.targets import load_targets

    region = PAYLOADS[0] + " {{x}} &amp;"
    target = dataclasses.replace(load_targets()["ems_120"], name_zh="急救 " + PAYLOADS[1] + " {% raw %} &amp; \"q\"")
    ids = [f"C{i}" for i in range(len(PROVINCE_NAMES))]
    units = gpd.GeoDataFrame({"id": ids, "name": PROVINCE_NAMES},
                             geometry=[shapely.box(116 + i * 0.1, 33.0, 116.09 + i * 0.1, 33.1)
                                       for i in range(len(ids))], crs="EPSG:4326")
    rows = pd.DataFrame({"county_id": ids, "target": "ems_120", "status": "ok", "value": 12.5, "passed": True,
                         "population": 1000.0, "note": ""})
    page = write_map(tmp_path, region, units, rows, {"ems_120": target}, self_contained=True)
    open_page(browser, page, hooked=False)
    assert_no_script_ran(browser)
    open_page(browser, page, hooked=True)
    assert browser.title == f"{region} · geoaccess"
    control = browser.execute_script("return document.querySelector('.leaflet-control-layers').textContent")
    assert target.name_zh in control
    texts = browser.execute_script("""
        var texts = [];
        document.querySelectorAll('path.leaflet-interactive').forEach(function (p) {
            p.dispatchEvent(new MouseEvent('click', {bubbles: true, clientX: 1, clientY: 1}));
            var c = document.querySelectorAll('.leaflet-popup-content');  // the last: the one just opened
            if (c.length) { texts.push(c[c.length - 1].textContent); }
        });
        return texts;""")
    assert len(texts) == len(ids)
    for name, cid in zip(PROVINCE_NAMES, ids):
        assert any(text.strip().startswith(f"{name} ({cid})" + target.name_zh) for text in texts), (name, texts)
    assert_no_script_ran(browser)
