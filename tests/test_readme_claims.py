"""What a new user meets following README.md: its stated numbers and the commands as written."""

import html
import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

import geoaccess as ga
from geoaccess.errors import InputError
from geoaccess.region.config import load_region
from geoaccess.maps import map_from_result
from geoaccess.report import report_html
from geoaccess.results import FAIL_COLOUR, PASS_COLOUR
from geoaccess.staticmap import static_map_png
from geoaccess.synthetic import generate_county, generate_region

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SEED_REGIONS = Path("/work/shared/data/china_admin/counties_seed_regions.geojson")


def _int(text: str) -> int:
    return int(text.replace(",", ""))


@pytest.fixture(scope="module")
def demo():
    return ga.run(ga.data_path("demo", "scenario.toml"))


def test_readme_demo_network_size_is_what_loading_gives(demo):
    nodes, segments = map(_int, re.search(r"monaco\.osm\.pbf` \(([\d,]+) nodes and ([\d,]+) road segments",
                                          README).groups())
    assert (nodes, segments) == (demo.network.n_nodes, demo.network.n_edges)


@pytest.fixture(scope="module")
def demo_county(tmp_path_factory):
    """The county `geoaccess demo --county` generates (cli.py: seed 0, 600 km², n_nodes 30,000)."""
    return generate_county(tmp_path_factory.mktemp("demo_county"), seed=0, area_km2=600.0, n_nodes=30_000)


def test_readme_synthetic_county_size_matches_the_generator_the_cli_calls(demo_county):
    # `geoaccess demo --county` calls generate_county(seed=0, area_km2=600, n_nodes=30_000); the README
    # must state the routing network the run prints (junction nodes), not the OSM node target.
    claim = re.search(r"`geoaccess demo --county` runs .*?\(([\d,]+) km²,\s+([\d,]+) routing nodes and ([\d,]+) road "
                      r"segments", README, re.S)
    assert claim, "README no longer states the synthetic county's size"
    area, nodes, segments = map(_int, claim.groups())
    cli = (ROOT / "geoaccess" / "cli.py").read_text(encoding="utf-8")
    assert f"area_km2={area:.1f}" in cli and "n_nodes=30_000" in cli
    county = demo_county
    net = ga.network_from_osm(county.directory / "roads.osm")
    assert (net.n_nodes, net.n_edges) == (nodes, segments)
    towns = gpd.read_file(county.townships_gpkg)
    assert towns.to_crs(towns.estimate_utm_crs()).area.sum() / 1e6 == pytest.approx(area, rel=0.01)


def test_generate_region_names_a_missing_counties_file(tmp_path):
    with pytest.raises(InputError, match="county polygons file not found: .*no_such_counties.geojson"):
        generate_region(tmp_path / "prov", tmp_path / "no_such_counties.geojson")


def test_region_file_given_by_a_relative_path_finds_its_facilities(tmp_path, monkeypatch):
    # README: `geoaccess run-region prov/region.toml` from the folder holding prov/ (the facilities path
    # was joined to the region file's folder twice: prov/prov/facilities.csv)
    generate_region(tmp_path / "prov", SEED_REGIONS, only=["520103"], nodes_per_km2=2.0, cell_size_m=500.0)
    monkeypatch.chdir(tmp_path)
    region = load_region(Path("prov") / "region.toml")
    for section, key in (("facilities", "path"), ("population", "path"), ("network", "source")):
        path = Path(getattr(region.scenario, section)[key])
        assert path.is_file() and path.samefile(tmp_path / "prov" / Path(path).name), (section, path)


@pytest.mark.parametrize("lang, label", [("zh", "全县"), ("en", "whole area")])
def test_report_without_townships_labels_its_one_row_as_the_whole_area(demo, lang, label):
    # the demo has no [admin]: its one county-wide row is named "all" in the data, not for leaders
    assert demo.units is None
    page = report_html(demo, lang, map_href="map.html")
    text = re.sub(r"<[^>]+>", " ", page.split("<body", 1)[1])
    assert not re.search(r"\ball\b", text)
    bars = re.findall(r"<span class='lab' title='[^']*'>([^<]+)</span>", page)
    assert bars == [label] * len(demo.evaluations)


def test_map_draws_failing_township_outlines_over_passing_neighbours(demo_county, monkeypatch):
    # In the --county demo 城东街道 and 城西街道 fail the 15-minute target while their neighbours
    # pass; drawn in file order, the neighbours' green hid the failing units' shared borders.
    res = ga.run(demo_county.scenario_toml)
    failing = {str(r["name"]) for e in res.evaluations for r in e.units.to_dict(orient="records")
               if r["passed"] is False or r["passed"] is np.False_}
    assert failing and failing < set(res.units["unit"].astype(str))
    fmap = map_from_result(res, lang="zh")
    layer = next(c for c in fmap._children.values() if getattr(c, "layer_name", "") == "行政区划（乡镇/街道）")
    feats = json.loads(layer.data)["features"]
    colours = [f["properties"]["s"]["color"] for f in feats]
    assert {html.unescape(f["properties"]["t"]) for f in feats if f["properties"]["s"]["color"] == FAIL_COLOUR} \
        == failing
    last_pass = max(i for i, c in enumerate(colours) if c == PASS_COLOUR)
    first_fail = min(i for i, c in enumerate(colours) if c == FAIL_COLOUR)
    assert last_pass < first_fail
    # the report's static map image: outlines plotted in one call, failing ones last
    drawn = []
    real_plot = gpd.GeoSeries.plot

    def spy(self, *args, **kwargs):
        if isinstance(kwargs.get("color"), list):
            drawn.append(list(kwargs["color"]))
        return real_plot(self, *args, **kwargs)

    monkeypatch.setattr(gpd.GeoSeries, "plot", spy)
    static_map_png(res, "medical_point_15min", "zh")
    outline = next(c for c in drawn if FAIL_COLOUR in c)
    assert outline.count(FAIL_COLOUR) == len(failing) and outline == sorted(outline, key=[PASS_COLOUR, FAIL_COLOUR].index)


def test_report_sites_table_of_a_share_target_counts_people_not_minutes():
    # `site --target medical_point_15min` (MCLP) writes measure "people within 15 min": the report
    # read the "min" in it as minutes and printed 240311.2 分钟 for 240,311 people
    res = ga.run(ga.data_path("demo", "scenario.toml"))
    sites = ga.site(res, "medical_point_15min", n_new=1, spacing_m=200)
    assert sites["measure"].iloc[0] == "people within 15 min"
    e = res.evaluation("medical_point_15min")
    page = report_html(res, "zh", map_href="map.html")
    table = page.split("<table class='t sites'>", 1)[1].split("</table>", 1)[0]
    cells = re.findall(r"<td class='n'>([^<]*)</td>", table)
    gain = float(sites["gain"].iloc[0])
    share = 100 * (e.population_covered + gain) / e.population_total
    assert cells[0] == f"+{gain:,.0f}" and "分钟" not in table
    assert float(cells[1].rstrip("%")) == pytest.approx(share, abs=0.051)
