"""End to end: the Monaco demo from the CLI, checked against an independent osmnx + networkx
computation, and the minimal scenario of the targets issue exactly as written."""

import json
import re
import tomllib

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import pyogrio
import pytest
import shapely

from geoaccess._paths import data_path
from geoaccess.cli import main
from geoaccess.pipeline import run_scenario
from geoaccess.scenario import load_scenario
from geoaccess.synthetic import generate_county


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out), "--lang", "en"]) == 0
    return out


def test_demo_writes_its_files(demo):
    for name in ("summary.json", "units.csv", "demand_times.gpkg", "map.html"):
        assert (demo / name).stat().st_size > 0
    summary = json.loads((demo / "summary.json").read_text(encoding="utf-8"))
    assert summary["scenario"] == "demo"
    # Roads split at junctions only (3,761 nodes, 4,907 segments; 11,644 node-to-node pieces before).
    assert summary["network"]["nodes"] > 3_000 and summary["network"]["edges"] > 4_000
    ids = [t["id"] for t in summary["targets"]]
    assert ids == ["medical_point_15min", "ems_120"]
    for t in summary["targets"]:
        for key in ("value", "goal", "passed", "population_total", "population_covered", "population_unreachable",
                    "mean_minutes", "p90_minutes", "units"):
            assert key in t
    assert "© OpenStreetMap contributors" in (demo / "map.html").read_text(encoding="utf-8")
    assert not list(demo.glob("*.tmp")) and not list(demo.glob(".*"))  # atomic writes leave nothing behind


def _independent_walk_minutes(network, demand_xy, facility_xy):
    """Walking minutes to the nearest facility with osmnx's nearest_edges and networkx Dijkstra.

    Written from the rules, not from the engine: walking ignores one-way tags; edge times use
    the class speeds of data/speeds.toml; ``foot=no`` roads are left out; ``foot=private``
    roads may start or end a walk but not be passed through (networkx graph in three layers:
    leaving private → public → arriving private); points join their nearest edge that is not
    a bridge or tunnel deck, at their projection on it, with a straight-line leg at the walking
    access speed.
    """
    with open(data_path("speeds.toml"), "rb") as fh:
        walk = tomllib.load(fh)["walk"]
    g = ox.project_graph(network.graph, to_crs=network.crs)
    g.remove_edges_from([(u, v, k) for u, v, k, d in g.edges(keys=True, data=True)
                         if d.get("foot") == "no" or d["highway"].replace("_link", "") not in walk["kmh"]])
    g = ox.truncate.largest_component(g, strongly=False)  # walking: one-way tags do not apply
    m_per_min = {cls: kmh * 1000 / 60 for cls, kmh in walk["kmh"].items()}
    access = walk["access_kmh"] * 1000 / 60

    def cost(data):
        return data["geometry"].length / m_per_min[data["highway"].replace("_link", "")]

    # Lanes reachable only through a private road share its access: in each connected part
    # holding private roads, public roads outside its longest all-public part count as private.
    private = {(u, v, k) for u, v, k, d in g.edges(keys=True, data=True) if d.get("foot") == "private"}
    public_g = nx.Graph()
    public_g.add_weighted_edges_from((u, v, d["geometry"].length) for u, v, k, d in g.edges(keys=True, data=True)
                                     if (u, v, k) not in private)
    all_g = nx.Graph(g.to_undirected())
    for part in nx.connected_components(all_g):
        if not any(u in part for u, v, k in private):
            continue
        pieces = [c for c in nx.connected_components(public_g.subgraph(part))]
        core = max(pieces, key=lambda c: public_g.subgraph(c).size(weight="weight")) if pieces else set()
        private |= {(u, v, k) for u, v, k in g.edges(part, keys=True) if (u, v, k) not in private
                    and not (u in core and v in core)}

    layered = nx.DiGraph()
    for u, v, k, data in g.edges(keys=True, data=True):
        c = cost(data)
        layers = ("leave", "arrive") if (u, v, k) in private else ("public",)
        for layer in layers:
            for a, b in ((u, v), (v, u)):
                if not layered.has_edge((layer, a), (layer, b)) or layered[(layer, a)][(layer, b)]["w"] > c:
                    layered.add_edge((layer, a), (layer, b), w=c)
    for node in list(g.nodes):
        layered.add_edge(("leave", node), ("public", node), w=0.0)
        layered.add_edge(("public", node), ("arrive", node), w=0.0)
    board = g.copy()
    board.remove_edges_from([(u, v, k) for u, v, k, d in g.edges(keys=True, data=True)
                             if d.get("bridge") == "yes" or d.get("tunnel") == "yes"])

    def place(xy, role):
        edges = ox.distance.nearest_edges(board, xy[:, 0], xy[:, 1])
        out = []
        for (u, v, k), (x, y) in zip(edges, xy):
            data = board.edges[u, v, k]
            line, pt = data["geometry"], shapely.Point(x, y)
            frac = line.project(pt, normalized=True)
            layer = role if (u, v, k) in private else "public"
            out.append(((layer, u), (layer, v), frac, cost(data), line.distance(pt) / access))
        return out

    fac = place(facility_xy, "arrive")
    back = layered.reverse()  # minutes from every node to the nearest facility
    back.add_node("S")
    for u, v, f, c, leg in fac:
        for node, piece in ((u, f * c), (v, (1 - f) * c)):
            w = leg + piece
            if not back.has_edge("S", node) or back["S"][node]["w"] > w:
                back.add_edge("S", node, w=w)
    dist = nx.single_source_dijkstra_path_length(back, "S", weight="w")
    result = []
    for u, v, g_frac, c, leg in place(demand_xy, "leave"):
        best = min(dist.get(u, np.inf) + g_frac * c, dist.get(v, np.inf) + (1 - g_frac) * c)
        for fu, fv, f, fc, fleg in fac:  # a facility on the same edge is reached along it
            if {fu[1], fv[1]} == {u[1], v[1]} and fc == c and fu[0] in (u[0], "arrive"):
                along = abs(f - g_frac) if fu[1] == u[1] else abs((1 - f) - g_frac)
                best = min(best, fleg + along * c)
        result.append(best + leg)
    return np.array(result)


def test_demo_walk_times_match_osmnx_and_networkx():
    scenario = load_scenario(data_path("demo", "scenario.toml"))
    r = run_scenario(scenario, write=False)
    chosen = r.facilities["kind"].isin(scenario.targets["medical_point_15min"].facility_types).to_numpy()
    fac_xy = np.column_stack([r.facilities.geometry.x, r.facilities.geometry.y])[chosen]
    dem_xy = np.column_stack([r.demand.geometry.x, r.demand.geometry.y])
    expected = _independent_walk_minutes(r.network, dem_xy, fac_xy)
    ours = r.demand["medical_point_15min_min"].to_numpy()
    np.testing.assert_allclose(ours, expected, atol=0.01)  # UTM vs metre-length rounding only
    pop = r.demand["pop"].to_numpy()
    share = pop[expected <= 15].sum() / pop.sum()
    assert r.evaluations[0].value == pytest.approx(share, abs=1e-3)


def test_demo_summary_numbers_equal_the_written_demand_times(demo):
    summary = json.loads((demo / "summary.json").read_text(encoding="utf-8"))
    times = gpd.read_file(demo / "demand_times.gpkg")
    minutes = times["ems_120_min"].fillna(np.inf).to_numpy() + 3.0  # dispatch delay
    pop = times["pop"].to_numpy()
    ems = summary["targets"][1]
    reach = np.isfinite(minutes)
    assert ems["value"] == pytest.approx((minutes[reach] * pop[reach]).sum() / pop[reach].sum())
    assert ems["share_within"] == pytest.approx(pop[minutes <= 15].sum() / pop.sum())



def test_demo_demand_times_layer_against_to_crs_and_the_facility_list(demo):
    """demand_times.gpkg as a reader sees it: layer, CRS, column order and dtypes; lon/lat
    equal to GeoDataFrame.to_crs of the run's demand, minutes with NaN for inf, and every
    nearest facility's name as a pandas merge on the facility list gives it."""
    r = run_scenario(load_scenario(data_path("demo", "scenario.toml")), write=False)
    assert [name for name, _ in pyogrio.list_layers(demo / "demand_times.gpkg")] == ["demand_times"]
    times = gpd.read_file(demo / "demand_times.gpkg", layer="demand_times")
    assert times.crs == "EPSG:4326"
    lonlat = r.demand.to_crs("EPSG:4326")
    assert np.array_equal(shapely.get_coordinates(times.geometry.values), shapely.get_coordinates(lonlat.geometry.values))
    expected_columns = []
    for col in r.demand.columns.drop(r.demand.geometry.name):
        expected_columns += [col, f"{col}_name"] if col.endswith("_facility") else [col]
    assert list(times.columns) == expected_columns + ["geometry"]
    facilities = r.facilities[["facility_id", "name"]].astype(str)
    for col in expected_columns:
        if col.endswith("_min"):
            expect = r.demand[col].to_numpy(float)
            assert times[col].dtype == np.float64
            assert np.array_equal(np.where(np.isinf(expect), np.nan, expect), times[col].to_numpy(), equal_nan=True)
        elif col.endswith("_facility_name"):
            ids = r.demand[col[:-len("_name")]].astype(str).rename("facility_id").to_frame()
            named = ids.merge(facilities, on="facility_id", how="left")["name"]
            assert times[col].isna().tolist() == named.isna().tolist()  # no facility: no name
            assert times[col].dropna().tolist() == named.dropna().tolist()
            assert named.notna().any()
        elif col.endswith("_facility"):
            assert times[col].tolist() == r.demand[col].astype(str).tolist()
        else:
            assert np.array_equal(times[col].to_numpy(), r.demand[col].to_numpy()), col



def test_write_demand_times_equals_geopandas_to_crs_map_and_to_file(tmp_path):
    """demand_times.gpkg written from Arrow (numpy WKB, names looked up in Arrow) holds the
    rows GeoDataFrame.to_crs + a dict lookup + to_file (without Arrow) write: unreachable
    (inf) and missing minutes null, no facility null (id and name), an unknown id or a
    facility without a name no name, a repeated id's last name."""
    import sqlite3

    from geoaccess.tables import _wkb_points, write_demand_times

    demand = gpd.GeoDataFrame({
        "demand_id": [0, 1, 2, 3], "pop": [1.5, 2.0, np.nan, 4.0], "unit": ["甲镇", "乙镇", "甲镇", "乙镇"],
        "urban": [True, False, False, True],
        "a_min": [1.25, np.inf, 3.0, np.nan], "a_facility": ["F1", "", "F9", "F2"],
        "b_min": [0.0, 2.5, np.inf, 7.75], "b_facility": ["F2", "F3", "", "F1"],
    }, geometry=gpd.points_from_xy([500_000.0, 500_123.4, 501_000.5, 499_000.25],
                                   [3_700_000.0, 3_700_010.0, 3_699_000.5, 3_701_234.5]), crs="EPSG:32650")
    facilities = pd.DataFrame({"facility_id": ["F1", "F2", "F1", "F3"], "name": ["甲卫生院", "乙诊所", "丙医院", np.nan]})
    write_demand_times(demand, facilities, tmp_path / "ours.gpkg")

    expected = demand.to_crs("EPSG:4326")
    names = dict(zip(facilities["facility_id"], facilities["name"]))  # the last F1 wins
    for col in ("a", "b"):
        expected[f"{col}_min"] = expected[f"{col}_min"].replace(np.inf, np.nan)
        # no nearest facility ('' in the run) is null, like its name
        expected[f"{col}_facility"] = expected[f"{col}_facility"].where(expected[f"{col}_facility"] != "", None)
        expected.insert(expected.columns.get_loc(f"{col}_facility") + 1, f"{col}_facility_name",
                        expected[f"{col}_facility"].map(names))
    expected.to_file(tmp_path / "expected.gpkg", layer="demand_times", driver="GPKG", use_arrow=False,
                     layer_options={"SPATIAL_INDEX": "NO"})
    rows = []
    for name in ("ours", "expected"):
        with sqlite3.connect(tmp_path / f"{name}.gpkg") as db:
            rows.append((db.execute("SELECT * FROM demand_times ORDER BY fid").fetchall(),
                         db.execute("SELECT sql FROM sqlite_master WHERE name = 'demand_times'").fetchall(),
                         db.execute("SELECT * FROM gpkg_geometry_columns").fetchall()))
    assert rows[0] == rows[1]  # every value, null and geometry blob; the same table definition
    ours = gpd.read_file(tmp_path / "ours.gpkg", layer="demand_times")
    assert ours["a_facility_name"].fillna("-").tolist() == ["丙医院", "-", "-", "乙诊所"]
    assert ours["b_facility_name"].fillna("-").tolist() == ["乙诊所", "-", "-", "丙医院"]  # F3 has no name
    assert ours["b_min"].isna().tolist() == [False, False, True, False] and ours.crs == "EPSG:4326"
    x, y = np.array([0.5, -1e7, 123.456789]), np.array([-0.25, 3e6, np.pi])
    assert _wkb_points(x, y).to_pylist() == shapely.to_wkb(shapely.points(x, y)).tolist()
    with pytest.raises(ValueError, match="2-D points"):
        write_demand_times(demand.set_geometry(demand.buffer(1.0)), facilities, tmp_path / "polygons.gpkg")


MINIMAL = """\
[scenario]
name = "my-county"

[network]
source = "roads.osm"            # .osm.pbf / .osm / .graphml / .gpkg / .shp; or place = "泗县, 宿州市, 安徽省"

[facilities]
path = "facilities.csv"
x = "lon"
y = "lat"
type = "type"
name = "name"
crs = "EPSG:4326"               # or "GCJ-02", "BD-09"

[population]
path = "population.csv"         # points (.csv with x/y, or .gpkg), polygons (.gpkg/.shp) or a GeoTIFF
x = "lon"
y = "lat"
pop = "pop"

[targets]
use = ["medical_point_15min"]

[[targets.define]]
id = "clinic_5min_drive"
name_zh = "5分钟车程诊所"
name_en = "Clinic within 5 min by car"
facility_types = ["clinic"]     # values of the facility type column as written, or vocabulary ids
mode = "drive"
direction = "to_facility"
threshold_min = 5
population = "all"
metric = "share_within"
goal = 0.9                      # shares are fractions 0–1 everywhere, in TOML and in summary.json
"""


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    return generate_county(tmp_path_factory.mktemp("county"), seed=3, area_km2=60, n_nodes=3000)


def test_minimal_scenario_of_the_issue_runs_exactly_as_written(county, tmp_path):
    (tmp_path / "roads.osm").write_bytes(county.roads_osm.read_bytes())
    fac = pd.read_csv(county.facilities_csv)
    fac.loc[fac["type"] == "village_clinic", "type"] = "clinic"
    fac.to_csv(tmp_path / "facilities.csv", index=False)
    rng = np.random.default_rng(0)
    lon0, lat0 = fac["lon"].mean(), fac["lat"].mean()
    pd.DataFrame({"lon": lon0 + rng.normal(0, 0.02, 300), "lat": lat0 + rng.normal(0, 0.02, 300),
                  "pop": rng.integers(1, 50, 300)}).to_csv(tmp_path / "population.csv", index=False)
    (tmp_path / "scenario.toml").write_text(MINIMAL, encoding="utf-8")
    assert main(["run", str(tmp_path / "scenario.toml"), "--out", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert [t["id"] for t in summary["targets"]] == ["medical_point_15min", "clinic_5min_drive"]
    clinic = summary["targets"][1]
    assert 0 <= clinic["value"] <= 1 and clinic["modes"]["rural"] == "drive"
    assert clinic["population_total"] == pytest.approx(
        pd.read_csv(tmp_path / "population.csv")["pop"].sum())


def test_synthetic_county_per_township_results(county):
    r = run_scenario(load_scenario(county.scenario_toml), write=False)
    ids = [e.target.id for e in r.evaluations]
    assert ids == ["medical_point_15min", "health_circle_30min", "ems_120"]
    circle = r.evaluations[1]
    rural = ~r.demand["urban"].to_numpy()
    assert circle.population_total == pytest.approx(r.demand["pop"].to_numpy()[rural].sum())
    units = circle.units.set_index("name")
    # Urban sub-districts (…街道) have no rural population for the 30-minute circle.
    for name, row in units.iterrows():
        if str(name).endswith("街道"):
            assert row["population_total"] == 0 and row["passed"] is None
    # The county value is the population-weighted mean of the unit values.
    has = units["population_total"] > 0
    assert circle.value == pytest.approx(
        (units.loc[has, "value"] * units.loc[has, "population_total"]).sum() / units.loc[has, "population_total"].sum())


def test_cli_bad_input_exits_2_with_a_message(tmp_path, capsys):
    (tmp_path / "s.toml").write_text(MINIMAL, encoding="utf-8")
    assert main(["run", str(tmp_path / "s.toml")]) == 2
    out = capsys.readouterr().out
    assert "road network not found" in out and "roads.osm" in out
    (tmp_path / "s.toml").write_text(MINIMAL.replace('name = "my-county"', 'name = "x"\ncolour = "red"'))
    assert main(["run", str(tmp_path / "s.toml")]) == 2
    assert "unknown key(s) in [scenario]: colour" in capsys.readouterr().out


def test_cli_fail_on_miss_and_targets_and_init(tmp_path, capsys):
    assert main(["targets"]) == 0
    assert "medical_point_15min" in capsys.readouterr().out
    assert main(["init", str(tmp_path)]) == 0
    template = load_scenario(tmp_path / "scenario.toml")
    assert template.name == "my-county" and list(template.targets) == [
        "medical_point_15min", "health_circle_30min", "ems_120"]
    assert main(["init", str(tmp_path)]) == 2
    scenario = data_path("demo", "scenario.toml").read_text(encoding="utf-8")
    strict = tmp_path / "strict"
    strict.mkdir()
    for name in ("monaco.osm.pbf", "facilities.csv", "population.tif"):
        (strict / name).symlink_to(data_path("demo", name))
    (strict / "scenario.toml").write_text(scenario.replace(
        "[targets.override.medical_point_15min]", "[targets.override.medical_point_15min]\ngoal = 0.9999"),
        encoding="utf-8")
    assert main(["run", str(strict / "scenario.toml"), "--out", str(tmp_path / "o"), "--fail-on-miss"]) == 3


def _county_copy(county, tmp_path, facilities: pd.DataFrame, crs: str = "EPSG:4326"):
    for name in ("roads.osm", "population.tif", "townships.gpkg"):
        (tmp_path / name).symlink_to(county.directory / name)
    facilities.to_csv(tmp_path / "facilities.csv", index=False)
    text = county.scenario_toml.read_text(encoding="utf-8").replace('crs = "EPSG:4326"', f'crs = "{crs}"')
    (tmp_path / "scenario.toml").write_text(text, encoding="utf-8")
    return load_scenario(tmp_path / "scenario.toml")


def test_gcj02_facilities_given_as_wgs84_are_flagged_and_fixed_by_the_crs_key(county, tmp_path):
    from geoaccess.coords import wgs84_to_gcj02

    fac = pd.read_csv(county.facilities_csv)
    shifted = fac.copy()
    shifted["lon"], shifted["lat"] = wgs84_to_gcj02(fac["lon"].to_numpy(), fac["lat"].to_numpy())
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    wrong = run_scenario(_county_copy(county, tmp_path / "a", shifted), write=False)
    assert any("look like GCJ-02" in w for w in wrong.warnings)
    right = run_scenario(_county_copy(county, tmp_path / "b", shifted, crs="GCJ-02"), write=False)
    assert not any("GCJ-02" in w for w in right.warnings)
    original = run_scenario(load_scenario(county.scenario_toml), write=False)
    assert not any("GCJ-02" in w for w in original.warnings)
    # Declared right, the shifted file gives the original answers (the inverse is exact to 1e-7°).
    for a, b in zip(right.evaluations, original.evaluations):
        assert a.value == pytest.approx(b.value, abs=1e-3)


def test_a_facility_far_from_any_road_is_reported_by_name(county, tmp_path):
    fac = pd.read_csv(county.facilities_csv)
    far = fac.iloc[[0]].assign(name="远方卫生院", type="township_health_centre", lon=fac["lon"].min() - 0.06)
    r = run_scenario(_county_copy(county, tmp_path, pd.concat([fac, far], ignore_index=True)), write=False)
    message = next(w for w in r.warnings if "远方卫生院" in w)
    assert "farther than 1,000 m" in message and "cannot be reached" in message


def test_beds_per_1000_by_totals_and_catchment_on_the_county(county, tmp_path):
    text = county.scenario_toml.read_text(encoding="utf-8").replace(
        'use = ["medical_point_15min", "health_circle_30min", "ems_120"]', 'use = ["beds_per_1000"]')
    (tmp_path / "s.toml").write_text(text, encoding="utf-8")
    for name in ("roads.osm", "population.tif", "townships.gpkg", "facilities.csv"):
        (tmp_path / name).symlink_to(county.directory / name)
    r = run_scenario(load_scenario(tmp_path / "s.toml"), write=False)
    (e,) = r.evaluations
    fac = pd.read_csv(county.facilities_csv)
    counted = fac["type"].isin(e.target.facility_types)
    assert e.value == pytest.approx(fac.loc[counted, "beds"].sum() / r.demand["pop"].sum() * 1000)
    units = e.units.set_index("name")
    assert units["capacity"].sum() == pytest.approx(fac.loc[counted, "beds"].sum())
    # A township with no beds of its own still has beds within its 30-minute catchment.
    empty = units[units["capacity"] == 0]
    assert len(empty) and (empty["e2sfca_per_1000"] > 0).all()
    # The catchment redistributes, never creates, beds: population-weighted E2SFCA equals the total ratio
    # when every person reaches some hospital.
    assert e.extra["e2sfca_per_1000"] == pytest.approx(e.value, rel=0.02)


def test_cli_self_contained_map_needs_no_cdn(tmp_path):
    assert main(["demo", "--out", str(tmp_path), "--self-contained", "--basemap", "none", "--lang", "en"]) == 0
    page = (tmp_path / "map.html").read_text(encoding="utf-8")
    assert "L.map(" in page or "L.map (" in page
    assert not re.search(r"<(script|link)[^>]+(src|href)=[\"']https?://", page)


def test_demo_county_runs_the_synthetic_rural_county(tmp_path):
    assert main(["demo", "--county", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert [t["id"] for t in summary["targets"]] == ["medical_point_15min", "health_circle_30min", "ems_120"]
    circle = summary["targets"][1]
    assert 0 < circle["population_total"] < summary["population_total"]  # rural people only
    assert len(circle["units"]) >= 5 and (tmp_path / "input" / "scenario.toml").exists()
