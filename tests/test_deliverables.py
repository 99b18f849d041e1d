"""Deliverables a leader opens and prints (issue 13), without a browser: the report's words and
numbers against hand computations, the static map image, the tables as Excel opens them, colours
told apart, the console table in 80 columns. Browser checks: test_deliverables_browser.py."""

from __future__ import annotations

import dataclasses
import html
import io
import itertools
import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread
from rich.console import Console

from geoaccess._paths import data_path
from geoaccess.cli import main, results_table
from geoaccess.maplayers import GAP_COLOUR, KIND_COLOURS, SITE_COLOUR
from geoaccess.pipeline import run_scenario, write_outputs
from geoaccess.report import headline, report_html
from geoaccess.scenario import load_scenario
from geoaccess.staticmap import static_map_png
from geoaccess.synthetic import generate_county
from geoaccess.targets import load_targets

ROOT = Path(__file__).resolve().parents[1]


def lab(colour: str) -> np.ndarray:
    """CIE L*a*b* (D65) of an sRGB hex colour, from the CIE formulas."""
    c = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ c
    xyz /= np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_lab_matches_published_values():
    # sRGB red is L*a*b* (53.24, 80.09, 67.20); white (100, 0, 0)
    assert np.allclose(lab("#ff0000"), [53.24, 80.09, 67.20], atol=0.05)
    assert np.allclose(lab("#ffffff"), [100, 0, 0], atol=0.02)


def test_kind_gap_and_site_colours_are_told_apart():
    colours = {**KIND_COLOURS, "gap": GAP_COLOUR, "site": SITE_COLOUR}
    close = [(a, b, round(float(np.linalg.norm(lab(ca) - lab(cb))), 1))
             for (a, ca), (b, cb) in itertools.combinations(colours.items(), 2)
             if np.linalg.norm(lab(ca) - lab(cb)) <= 20]
    assert close == []
    # the pairs, named
    assert np.linalg.norm(lab(GAP_COLOUR) - lab(KIND_COLOURS["township_health_centre"])) > 20
    for a, b in itertools.combinations(("county_hospital", "ems_station", "sub_centre"), 2):
        assert np.linalg.norm(lab(KIND_COLOURS[a]) - lab(KIND_COLOURS[b])) > 20


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    folder = tmp_path_factory.mktemp("county")
    generate_county(folder, seed=1, area_km2=200, n_nodes=10000)
    scenario = load_scenario(folder / "scenario.toml")
    scenario.targets["beds_per_1000"] = load_targets()["beds_per_1000"]
    return run_scenario(scenario, write=False)


@pytest.fixture(scope="module")
def demo():
    return run_scenario(load_scenario(data_path("demo", "scenario.toml")), write=False)


def _text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", page, flags=re.S)))


def test_headline_counts_targets_and_failing_townships(county):
    zh, en = headline(county, "zh"), headline(county, "en")
    passed = sum(bool(e.passed) for e in county.evaluations)
    assert zh.startswith(f"{passed}/{len(county.evaluations)} 项指标全县达标")
    assert en.startswith(f"{passed}/{len(county.evaluations)} targets met county-wide")
    for e in county.evaluations:
        fail = e.units[e.units["passed"].map(lambda v: v is False or v is np.False_)]
        n_urban = int(sum(v is True or v is np.True_ for v in fail["urban"]))
        part = re.search(rf"([^；]*)未达到“{re.escape(e.target.name_zh)}”", zh)
        if not len(fail):
            assert part is None
            continue
        said = part.group(1)
        assert (f"{n_urban} 个街道" in said) == (n_urban > 0)
        assert (f"{len(fail) - n_urban} 个乡镇" in said) == (len(fail) > n_urban)


def test_report_words_every_number_on_its_verdicts_metric(county):
    page = report_html(county, "zh", map_href="map.html")
    text = _text(page)
    assert not re.search(r"\bnan\b", text, re.I) and "None" not in text
    # the 120 card's bars: mean minutes per township, longest first, share within 15 min beside —
    # recomputed here from the demand table
    ems = county.evaluation("ems_120")
    d = county.demand
    rows = []
    for unit, g in d.groupby("unit"):
        m = g["ems_120_min"].to_numpy(float) + ems.target.dispatch_delay_min  # travel + dispatch
        p = g["pop"].to_numpy(float)
        if p.sum() <= 0:
            continue
        ok = np.isfinite(m)
        rows.append((unit, (m[ok] * p[ok]).sum() / p[ok].sum(), p[m <= 15].sum() / p.sum()))
    detail = page.split("data-target='ems_120'>", 1)[1].split("</section>", 1)[0]
    bars = re.findall(r"data-unit='([^']+)'>.*?class='num'>([^<]+)</span><span class='also'>([^<]+)</span>", detail)
    assert [b[0] for b in bars] == [r[0] for r in sorted(rows, key=lambda r: (-r[1], r[0]))]
    by_unit = {r[0]: r for r in rows}
    for unit, minutes, share in bars:
        assert float(minutes.split()[0]) == pytest.approx(by_unit[html.unescape(unit)][1], abs=0.051)
        assert float(share.rstrip("%")) == pytest.approx(100 * by_unit[html.unescape(unit)][2], abs=0.51)
    assert "平均时间排名" in detail and ems.target.metric == "mean_time"
    # the beds card: beds and beds per 1,000, not "covered people"
    beds = county.evaluation("beds_per_1000")
    card = page.split("data-target='beds_per_1000' data-passed=", 1)[1].split("</section>", 1)[0]
    total_beds = county.facilities.loc[county.facilities["kind"].isin(beds.target.facility_types), "capacity"].sum()
    assert f"床位 {total_beds:,.0f}张" in _text(card) and "覆盖人口" not in _text(card)
    assert f"{total_beds / county.demand['pop'].sum() * 1000:.2f} /千人" in _text(card)


def test_a_gap_of_no_people_is_never_listed(demo):
    tid = demo.evaluations[0].target.id
    gaps = demo.gaps[tid].copy()
    gaps["pop"] = 0.2  # rounds to 0 people
    gaps.loc[gaps.index[0], "pop"] = 120.0
    page = report_html(dataclasses.replace(demo, gaps={tid: gaps}), "en")
    table = page.split("class='t gaps'>", 1)[1].split("</table>", 1)[0]
    assert table.count("<tr><td>") == 1 and ">120<" in table


def test_static_map_draws_the_layers_of_its_target(county):
    e = county.evaluation("medical_point_15min")
    png = static_map_png(county, e.target.id, "zh")
    img = imread(io.BytesIO(png))[..., :3]
    assert 900 < img.shape[1] < 1300 and 500 < img.shape[0] < 800
    pixels = img.reshape(-1, 3)

    def present(colour: str) -> bool:
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255
        return bool((np.abs(pixels - rgb).max(axis=1) < 0.02).any())

    counted = county.facilities.loc[county.facilities["kind"].isin(e.target.facility_types), "kind"].unique()
    assert counted.size and all(present(KIND_COLOURS[k]) for k in counted)
    assert not present(KIND_COLOURS["ems_station"])  # not counted for this target: not drawn
    assert present("#1a9850") or present("#91cf60")  # demand cells in the first time classes


def test_static_map_without_the_outlines_extra_draw_is_the_same_png(county, monkeypatch):
    # The image's canvas skips the draw GeoSeries.plot asks for after the township outlines:
    # the PNG must be the very bytes of matplotlib's own Agg canvas, which makes that draw.
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    import geoaccess.staticmap as staticmap

    draws = []
    got = static_map_png(county, "medical_point_15min", "zh")

    class Counted(FigureCanvasAgg):
        def draw_idle(self, *args, **kwargs):
            draws.append(1)
            return super().draw_idle(*args, **kwargs)

    monkeypatch.setattr(staticmap, "_Canvas", Counted)
    want = static_map_png(county, "medical_point_15min", "zh")
    assert draws  # the outlines were drawn by GeoSeries.plot, which asked for the extra draw
    assert got == want


def test_tables_open_right_in_excel(demo, tmp_path):
    files = write_outputs(demo, tmp_path / "out", lang="zh")
    for name in ("units.csv", "facilities.csv"):
        assert (tmp_path / "out" / name).read_bytes().startswith(b"\xef\xbb\xbf"), name
    units = pd.read_csv(files["units"], encoding="utf-8-sig")
    for col in ("population_total", "population_covered", "population_unreachable"):
        assert np.allclose(units[col] * 10, (units[col] * 10).round(), rtol=0, atol=1e-6)
    for col in ("mean_minutes", "p90_minutes"):
        assert np.allclose(units[col].dropna() * 100, (units[col].dropna() * 100).round(), rtol=0, atol=1e-6)
    fac = pd.read_csv(files["facilities"], encoding="utf-8-sig", keep_default_na=False)
    assert len(fac) == len(demo.facilities) and list(fac["facility_id"]) == list(demo.facilities["facility_id"])
    assert list(fac["name"]) == [("" if pd.isna(n) else n) for n in demo.facilities["name"]]
    # a pharmacy counts for no demo target; a hospital with an emergency department for both
    assert set(fac.loc[fac["kind"] == "pharmacy", "targets"]) == {""}
    assert "medical_point_15min" in fac.loc[fac["kind"] == "hospital", "targets"].iloc[0]
    # snap distance: never nearer than the nearest road of any kind (shapely, independently)
    roads = demo.network.edges.geometry
    pts = demo.facilities.geometry.to_crs(roads.crs)
    nearest = np.array([roads.distance(p).min() for p in pts])
    walk = fac["snap_distance_m_walk"].to_numpy(float)
    assert (walk >= nearest - 0.1).all() and np.median(walk - nearest) < 1.0
    # every facility id in demand_times.gpkg beside its name
    times = gpd.read_file(files["demand_times"])
    names = dict(zip(demo.facilities["facility_id"], demo.facilities["name"]))
    row = times.dropna(subset=["medical_point_15min_facility"]).iloc[0]
    assert row["medical_point_15min_facility_name"] == names[row["medical_point_15min_facility"]]


def test_results_table_fits_80_columns(county):
    console = Console(width=80, record=True, color_system=None)
    console.print(results_table(county.evaluations, county.scenario.name))
    lines = console.export_text().splitlines()
    assert all(len(line) <= 80 for line in lines)
    for e in county.evaluations:  # one line per target: nothing wrapped or cut
        line = next(line for line in lines if line.startswith(e.target.id + " "))
        assert f"{e.population_covered:,.0f}/{e.population_total:,.0f}" in line and "…" not in line


def test_site_console_output_has_no_banner_no_log_locations_and_opens_on_the_sited_target(tmp_path):
    out = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "geoaccess.cli", "site", str(data_path("demo", "scenario.toml")),
                           "--target", "ems_120", "--add", "1", "--out", str(out)], cwd=ROOT, capture_output=True,
                          text=True, env={"COLUMNS": "80", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    both = proc.stdout + proc.stderr
    assert "HiGHS" not in both and not re.search(r"\w+\.py:\d+", both)
    page = (out / "map.html").read_text(encoding="utf-8")
    assert "Leaflet 1.9.4" in page and "cdn.jsdelivr" not in page  # offline by default
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "<figure data-target='ems_120'>" in report and "data:image/png;base64," in report


def test_cdn_flag_and_scenario_default(tmp_path, monkeypatch):
    assert load_scenario(data_path("demo", "scenario.toml")).map["self_contained"] is True
    seen = {}

    def fake_run(scenario_path, args, only):
        seen["self_contained"] = args.self_contained
        return 0

    monkeypatch.setattr("geoaccess.cli._run", fake_run)
    assert main(["demo", "--cdn"]) == 0 and seen["self_contained"] is False
    assert main(["demo"]) == 0 and seen["self_contained"] is None  # None: the scenario's, inline by default
