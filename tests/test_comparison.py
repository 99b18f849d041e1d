"""Current vs planned: two runs of the hand-made county of test_proposals whose differences
are known by hand (see that module's docstring for the county).

Run A: today (the county hospital at x = 0 reaches only the village at 0.5R: 30 of 330
rural people within 30 min). Run B, the plan: centres T1 (2R) and T3 (4R) become
sub-centres and the hospital's emergency role moves away (it no longer counts). T1 and T3
reach the villages at 1.5R, 2.5R, 3.5R and 4.5R (300 people); the village at 0.5R is 1.5R
from T1 (45 min) and falls out. 甲镇 (x < 2.75R: 30 + 50 + 100 people): 30 → 150 covered;
乙镇 (100 + 50): 0 → 150.
"""

import json

import numpy as np
import pandas as pd
from pyproj import Transformer
import pytest

from geoaccess.cli import main
from geoaccess.comparison import COUNTY, compare
from geoaccess.errors import InputError
from geoaccess.pipeline import run_scenario
from geoaccess.scenario import load_scenario
from test_proposals import _scenario


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("compare")
    (base / "a").mkdir(), (base / "b").mkdir()
    run_scenario(load_scenario(_scenario(base / "a")), out_dir=base / "run_a")
    scenario_b = _scenario(base / "b")
    fac = pd.read_csv(base / "b" / "facilities.csv")
    fac.loc[fac["id"].isin(["T1", "T3"]), "type"] = "sub_centre"
    fac.loc[fac["id"] == "H", "type"] = "village_clinic"
    fac.to_csv(base / "b" / "facilities.csv", index=False)
    run_scenario(load_scenario(scenario_b), out_dir=base / "run_b")
    return base


def test_compare_by_hand(runs):
    c = compare(runs / "run_a", runs / "run_b")
    t = c.table.set_index("unit")
    county = t.loc[COUNTY]
    assert county["value_before"] == pytest.approx(30 / 330) and county["value_after"] == pytest.approx(300 / 330)
    assert county["newly_covered"] == 300 and county["newly_uncovered"] == 30
    assert county["verdict"] == "FAIL → PASS" and county["change"] == pytest.approx(270 / 330)
    west, east = t.loc["甲镇"], t.loc["乙镇"]
    assert (west["newly_covered"], west["newly_uncovered"]) == (150, 30)
    assert west["value_after"] == pytest.approx(150 / 180) and west["verdict"] == "FAIL (unchanged)"
    assert (east["newly_covered"], east["newly_uncovered"]) == (150, 0)
    assert east["value_before"] == 0 and east["value_after"] == pytest.approx(1.0) and east["verdict"] == "FAIL → PASS"
    # the townships add up to the whole area
    assert t.loc[["甲镇", "乙镇"], "newly_covered"].sum() == county["newly_covered"]


def test_compare_command_writes_csv_and_html(runs, capsys):
    out = runs / "cmp"
    assert main(["compare", str(runs / "run_a"), str(runs / "run_b"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "FAIL → PASS" in printed and "9.1%" in printed and "90.9%" in printed
    table = pd.read_csv(out / "compare.csv", encoding="utf-8-sig")
    assert list(table["unit"]) == [COUNTY, "甲镇", "乙镇"] and list(table["newly_covered"]) == [300, 150, 150]
    assert "现状 vs 规划" in (out / "compare.html").read_text(encoding="utf-8")
    assert "compare.csv" in json.loads((out / "geoaccess-run.json").read_text(encoding="utf-8"))["files"]


def test_compare_refuses_what_it_cannot_compare(runs, tmp_path):
    with pytest.raises(InputError, match="not a geoaccess output folder.*summary.json"):
        compare(tmp_path, runs / "run_b")
    other = tmp_path / "other"
    (tmp_path / "src").mkdir()
    scenario = _scenario(tmp_path / "src")
    pop = pd.read_csv(tmp_path / "src" / "population.csv")
    pop.loc[0, "pop"] = 31
    pop.to_csv(tmp_path / "src" / "population.csv", index=False)
    run_scenario(load_scenario(scenario), out_dir=other)
    with pytest.raises(InputError, match="different population"):
        compare(runs / "run_a", other)


def test_public_api_has_compare():
    import geoaccess as ga

    assert ga.compare is compare and "compare" in ga.__all__


# --------------------------------------------------------------------------- the cells that changed

def _village(cells) -> list[float]:
    """Each cell's village position in units of R along the road (from its lon/lat), sorted."""
    from test_proposals import R, UTM, X0

    x = cells.to_crs(UTM).geometry.x.to_numpy() if hasattr(cells, "to_crs") else cells
    return sorted(round(float(v), 2) for v in (x - X0) / R)


@pytest.fixture(scope="module")
def run_c(runs):
    """Run C: today's facilities plus T4 (6R) as a sub-centre. By hand: the villages at 3.5R
    (105 → 75 min) and 4.5R (135 → 45 min) get faster and stay beyond 30 min; the others
    keep their times (2.5R: 75 from the hospital, 105 from T4)."""
    (runs / "c").mkdir()
    scenario = _scenario(runs / "c")
    fac = pd.read_csv(runs / "c" / "facilities.csv")
    fac.loc[fac["id"] == "T4", "type"] = "sub_centre"
    fac.to_csv(runs / "c" / "facilities.csv", index=False)
    run_scenario(load_scenario(scenario), out_dir=runs / "run_c")
    return runs / "run_c"


def _layers(page: str) -> list[dict]:
    """Every GeoJSON FeatureCollection of a map page, as the browser gets it."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (at := page.find("L.geoJSON(", at)) >= 0:
        at += len("L.geoJSON(")
        found.append(decoder.raw_decode(page, at)[0])
    return found


def test_changed_cells_are_exactly_those_known_by_hand(runs, run_c):
    from geoaccess.comparemap import change_features

    c = compare(runs / "run_a", runs / "run_b")
    # A → B: the village at 0.5R (30 people) falls out; 1.5R, 2.5R, 3.5R, 4.5R come within 30 min
    by = {k: _village(g) for k, g in c.cells.groupby("change")}
    assert by == {"newly_covered": [1.5, 2.5, 3.5, 4.5], "newly_uncovered": [0.5]}
    assert c.cells.groupby("change")["pop"].sum().to_dict() == {"newly_covered": 300, "newly_uncovered": 30}
    covered = c.cells[c.cells["change"] == "newly_covered"].sort_values("minutes_after")
    assert covered["minutes_after"].max() < 30 < covered["minutes_before"].min()
    # A → C: faster without crossing 30 min; C → A: the same cells slower
    ac, ca = compare(runs / "run_a", run_c), compare(run_c, runs / "run_a")
    assert set(ac.cells["change"]) == {"faster"} and _village(ac.cells) == [3.5, 4.5]
    assert set(ca.cells["change"]) == {"slower"} and _village(ca.cells) == [3.5, 4.5]
    assert (ac.table["newly_covered"] == 0).all() and (ac.table["verdict"] == "FAIL (unchanged)").all()
    fast = ac.cells.set_index(ac.cells.to_crs("EPSG:32650").geometry.x.round(-2))["minutes_before"] \
        - ac.cells.set_index(ac.cells.to_crs("EPSG:32650").geometry.x.round(-2))["minutes_after"]
    assert sorted(fast.round(0)) == [30, 90]  # 105 → 75 and 135 → 45 minutes, by hand
    feats = change_features(ac.cells, "en")
    assert sorted(f["properties"]["change"] for f in feats) == ["faster", "faster"]
    assert all("faster" in f["properties"]["p"] for f in feats)
    # nothing changed: no cell
    import shutil  # the same folder twice is refused; an identical copy changes no cell
    shutil.copytree(runs / "run_a", runs / "run_a_copy")
    assert len(compare(runs / "run_a", runs / "run_a_copy").cells) == 0


def test_compare_map_page_holds_exactly_the_changed_cells_offline(runs):
    out = runs / "cmp_map"
    assert main(["compare", str(runs / "run_a"), str(runs / "run_b"), "--out", str(out), "--lang", "en"]) == 0
    page = (out / "compare_map.html").read_text(encoding="utf-8")
    (layer,) = _layers(page)  # one target, one layer
    feats = layer["features"]
    lon = np.array([f["geometry"]["coordinates"][0] for f in feats])
    lat = np.array([f["geometry"]["coordinates"][1] for f in feats])
    from test_proposals import UTM

    x = Transformer.from_crs("EPSG:4326", UTM, always_xy=True).transform(lon, lat)[0]
    change = np.array([f["properties"]["change"] for f in feats])
    assert {k: _village(x[change == k]) for k in set(change)} == {"newly_covered": [1.5, 2.5, 3.5, 4.5],
                                                                 "newly_uncovered": [0.5]}
    # Leaflet inline: no script or stylesheet from the network (only basemap tiles need it)
    assert "<script src=" not in page and "<link rel=\"stylesheet\" href=\"http" not in page
    assert "L.map(" in page and "leaflet" in page.lower()
    assert "newly covered: 300 people" in page and "newly uncovered: 30 people" in page
    assert "compare_map.html" in json.loads((out / "geoaccess-run.json").read_text(encoding="utf-8"))["files"]


def _table_rows(page: str) -> dict[tuple[str, str], list[str]]:
    """compare.html's rows by (target, unit): the cells' text, unescaped."""
    from html.parser import HTMLParser

    rows: dict[tuple[str, str], list[str]] = {}

    class Rows(HTMLParser):
        key = None

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "tr" and "data-target" in a:
                self.key = (a["data-target"], a["data-unit"])
                rows[self.key] = []
            elif tag == "td" and self.key:
                rows[self.key].append("")

        def handle_endtag(self, tag):
            if tag == "tr":
                self.key = None

        def handle_data(self, data):
            if self.key and rows[self.key]:
                rows[self.key][-1] += data

    Rows().feed(page)
    return rows


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_current_vs_planned_section_reads_as_the_plan_table_and_matches_compare_csv(runs, lang):
    out = runs / f"cmp_{lang}"
    assert main(["compare", str(runs / "run_a"), str(runs / "run_b"), "--out", str(out), "--lang", lang]) == 0
    page = (out / "compare.html").read_text(encoding="utf-8")
    csv = pd.read_csv(out / "compare.csv", encoding="utf-8-sig")
    rows = _table_rows(page)
    assert len(rows) == len(csv) == 3
    words = {"zh": ("现状 vs 规划", "未达标 → 达标", "未达标（不变）", "个百分点", "乡镇（街道）"),
             "en": ("Current vs planned", "FAIL → PASS", "FAIL (unchanged)", "pp", "Township")}[lang]
    assert all(w in page for w in words)
    for r in csv.itertuples():
        cells = rows[(r.target, r.unit)]
        if r.unit == COUNTY:  # target name and goal first
            (target,) = json.loads((runs / "run_b" / "summary.json").read_text(encoding="utf-8"))["targets"]
            assert cells[0] == target[f"name_{lang}"] and cells[1].startswith("≥ 90%")
            cells = cells[2:]
        else:
            assert cells[0] == r.unit
            cells = cells[1:]
        # the numbers of compare.csv, worded independently (shares in % with one decimal)
        assert cells[0] == f"{r.value_before * 100:.1f}%" and cells[1] == f"{r.value_after * 100:.1f}%"
        sign = "+" if r.change > 0 else "±"
        assert cells[2].startswith(f"{sign}{abs(r.change) * 100:.1f}")
        assert cells[4] == f"{r.newly_covered:,.0f}" and cells[5] == f"{r.newly_uncovered:,.0f}"
        english = {"FAIL → PASS": "FAIL → PASS", "FAIL (unchanged)": "FAIL (unchanged)"}[r.verdict]
        assert cells[3] == (english if lang == "en" else english.replace("FAIL", "未达标").replace("PASS", "达标")
                            .replace(" (unchanged)", "（不变）"))
    assert rows[("health_circle_30min", COUNTY)][2:4] == ["9.1%", "90.9%"]  # 30/330 → 300/330, by hand


def test_current_vs_planned_section_escapes_names(runs):
    from geoaccess.comparison import compare_html

    c = compare(runs / "run_a", runs / "run_b")
    c.table.loc[c.table["unit"] == "甲镇", "unit"] = "<script>alert(1)</script>甲镇"
    c.notes.append("note <b>bold</b>")
    page = compare_html(c, "en")
    assert "<script>" not in page and "<b>bold" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;甲镇" in page and _table_rows(page)[
        ("health_circle_30min", "<script>alert(1)</script>甲镇")][0] == "<script>alert(1)</script>甲镇"
    with pytest.raises(InputError, match="lang"):
        compare_html(c, "fr")


# --------------------------------------------------------------------------- the curve in the report

def test_report_embeds_the_curve_with_its_goal_line(runs):
    import base64
    import io

    from PIL import Image

    from geoaccess.curve import site_curve
    from geoaccess.pipeline import write_outputs

    result = run_scenario(load_scenario(runs / "a" / "scenario.toml"), write=False)
    out = runs / "with_curve"
    plain = write_outputs(result, runs / "no_curve")["report"].read_text(encoding="utf-8")
    assert "class='curve'" not in plain
    site_curve(result, "health_circle_30min", 3, candidates_from="township_health_centre")
    files = write_outputs(result, out, lang="en")
    png = (out / "curve_health_circle_30min.png").read_bytes()
    page = files["report"].read_text(encoding="utf-8")
    detail = page[page.index("<section class='detail' data-target='health_circle_30min'>"):]
    detail = detail[:detail.index("</section>")]
    assert f"data:image/png;base64,{base64.b64encode(png).decode('ascii')}" in detail  # one file: the PNG inline
    assert "dashed: the goal" in detail and "src='curve_" not in page
    # the goal line: a dashed horizontal line in the goal colour across most of the plot
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    red = (np.abs(rgb - [0xd7, 0x30, 0x27]).sum(axis=2) < 60).sum(axis=1)
    assert red.max() > 0.4 * rgb.shape[1]
    # the Chinese report's plot is labelled in Chinese (another image, the same goal line)
    zh = write_outputs(result, runs / "with_curve_zh", lang="zh")["report"].read_text(encoding="utf-8")
    png_zh = (runs / "with_curve_zh" / "curve_health_circle_30min.png").read_bytes()
    assert png_zh != png and base64.b64encode(png_zh).decode("ascii") in zh and "虚线为规划目标" in zh


def test_compare_map_keeps_braces_in_names_as_text():
    """A "{{", "{%" or "{#" in a title, target or township name is text on the map, never Jinja."""
    import geopandas as gpd
    from shapely.geometry import Point

    from geoaccess.comparemap import change_map

    unit, tname, title = "甲镇 {{ 1 + 1 }}", "目标 {% raw %} {#", "run_a {{ x }} vs run_b"
    cells = gpd.GeoDataFrame({"target": ["t1"], "demand_id": ["d1"], "unit": [unit], "pop": [30.0],
                              "minutes_before": [45.0], "minutes_after": [20.0], "change": ["newly_covered"]},
                             geometry=[Point(116.0, 33.0)], crs="EPSG:4326")
    page = change_map(cells, {"t1": tname}, (115.9, 32.9, 116.1, 33.1), title, lang="en").get_root().render()
    assert f"<div>{title}</div>" in page  # the title panel
    assert f"<td><b>{tname}</b></td>" in page  # the title panel's row of the target
    assert page.count(json.dumps(f"Cells that changed · {tname}")) == 2  # layer control and wiring (tojson: ASCII)
    (layer,) = _layers(page)
    assert f"<td>{unit}</td>" in layer["features"][0]["properties"]["p"]  # the cell's popup
