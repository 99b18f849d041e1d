"""Population and townships as they really come (issue 10): bad population values, overlapping,
empty and invalid townships, and facilities / homes far from the roads.

Scenarios are built in tmp_path from data/demo (Monaco, UTM 32N, 100 m population grid of
26 x 31 cells). Expected numbers come from the raster itself (numpy slicing), pyproj and
hand-drawn squares, never from geoaccess.
"""

import json
import re
import shutil
import tracemalloc

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
import shapely
from shapely.geometry import Polygon, box

from geoaccess._paths import data_path
from geoaccess.admin import OUTSIDE, admin_from_file, assign_units, check_overlaps, urban_by_density
from geoaccess.cli import main
from geoaccess.demand import population_from_file, population_from_points, population_from_polygons
from geoaccess.errors import InputError
from geoaccess.pipeline import run_scenario
from geoaccess.scenario import load_scenario
from geoaccess.targets import evaluate_target, load_targets

DEMO = data_path("demo")
with rasterio.open(DEMO / "population.tif") as _src:
    POP = _src.read(1).astype(float)
    TRANSFORM, NODATA = _src.transform, _src.nodata
X0, Y_TOP, CELL = 371_800.0, 4_845_500.0, 100.0  # the demo grid, checked below
UTM = "EPSG:32632"
TO_LONLAT = pyproj.Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)

# Three townships partitioning the grid: an empty "lake" in the unpopulated north-west corner,
# and two streets split at a cell edge (x = 373,100 m: no cell centre on it).
LAKE = box(X0, 4_844_500, 372_600, Y_TOP)
WEST = box(X0, 4_842_400, 373_100, Y_TOP).difference(LAKE)
EAST = box(373_100, 4_842_400, 374_400, Y_TOP)


def test_the_demo_grid_is_what_these_tests_assume():
    assert (TRANSFORM.c, TRANSFORM.f, TRANSFORM.a, -TRANSFORM.e) == (X0, Y_TOP, CELL, CELL)
    assert POP.shape == (31, 26) and POP[POP > 0].sum() == pytest.approx(38_000, abs=0.5)
    assert POP[:10, :8].max() <= 0  # the lake corner holds nobody


def _units(path, geoms, names, crs=UTM):
    gpd.GeoDataFrame({"name": names}, geometry=list(geoms), crs=crs).to_file(path, driver="GPKG")
    return path


def _scenario(tmp_path, population="population.tif", admin=None, facilities=None, extra=""):
    """A copy of the demo scenario in tmp_path; returns the scenario path."""
    (tmp_path / "monaco.osm.pbf").symlink_to(DEMO / "monaco.osm.pbf")
    if facilities is None:
        shutil.copy(DEMO / "facilities.csv", tmp_path / "facilities.csv")
    else:
        facilities.to_csv(tmp_path / "facilities.csv", index=False)
    if population == "population.tif" and not (tmp_path / population).exists():
        shutil.copy(DEMO / "population.tif", tmp_path / population)
    text = (DEMO / "scenario.toml").read_text(encoding="utf-8").replace('path = "population.tif"',
                                                                       f'path = "{population}"')
    if admin:
        text += f'\n[admin]\npath = "{admin}"\nname = "name"\n'
    (tmp_path / "scenario.toml").write_text(text + extra, encoding="utf-8")
    return tmp_path / "scenario.toml"


def _cell_lonlat(row, col):
    return TO_LONLAT.transform(X0 + (col + 0.5) * CELL, Y_TOP - (row + 0.5) * CELL)


def _points_csv(path, extra_rows=()):
    """The demo raster as a CSV of lon/lat points, one per populated cell (row-major)."""
    rows, cols = np.nonzero(POP > 0)
    lon, lat = _cell_lonlat(rows, cols)
    table = pd.DataFrame({"lon": lon, "lat": lat, "pop": POP[rows, cols]})
    table = pd.concat([table, pd.DataFrame(list(extra_rows), columns=["lon", "lat", "pop"])], ignore_index=True)
    table.to_csv(path, index=False)
    return table


# --- 1. one rule for bad population values, every reader ------------------------------------

# The shared wording: what, problem, where: count, (sum), first location; rule; fix.
RULE = (r"has (?P<problem>negative|missing \(NaN\)|missing or non-numeric) values in (?P<where>.+?): "
        r"(?P<count>[\d,]+) (?P<unit>cell|row|feature)s?( holding (?P<sum>-?[\d,.]+) persons in total)?, "
        r"the first at (?P<first>.+?); population must be a number of persons >= 0\. Fix: (?P<fix>.+)")


def _rewrite_raster(path, data, nodata=NODATA):
    with rasterio.open(DEMO / "population.tif") as src:
        profile = src.profile | {"nodata": nodata}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype("float32"), 1)


def test_negative_raster_cells_are_refused_with_count_sum_and_location(tmp_path, capsys):
    data = POP.copy()
    bad = [(2, 21), (5, 19), (12, 12), (20, 6)]  # populated cells made negative (not the nodata value)
    for r, c in bad:
        data[r, c] = -data[r, c]
    _rewrite_raster(tmp_path / "population.tif", data)
    assert main(["run", str(_scenario(tmp_path)), "--out", str(tmp_path / "out")]) == 2
    out = capsys.readouterr().out
    m = re.search(RULE, out.replace("\n", ""))
    assert m and "population raster population.tif" in out and m["problem"] == "negative"
    assert int(m["count"]) == 4 and m["unit"] == "cell"
    assert float(m["sum"].replace(",", "")) == pytest.approx(sum(data[r, c] for r, c in bad), abs=0.06)
    lon, lat = _cell_lonlat(2, 21)
    assert f"row 2, col 21 (0-based; cell centre lon {lon:.5f}, lat {lat:.5f})" in m["first"]
    assert "gdal_edit.py -a_nodata" in m["fix"]
    assert not (tmp_path / "out").exists()  # refused at load: no partial output


def test_nan_raster_cells_are_refused_unless_nan_is_the_nodata(tmp_path):
    data = POP.copy()
    data[3, 18] = data[4, 20] = np.nan
    _rewrite_raster(tmp_path / "a.tif", data)
    with pytest.raises(InputError, match=RULE) as err:
        population_from_file(tmp_path / "a.tif")
    assert "missing (NaN) values in band 1: 2 cells, the first at row 3, col 18" in str(err.value)
    assert "gdal_edit.py -a_nodata nan a.tif" in str(err.value)
    _rewrite_raster(tmp_path / "b.tif", data, nodata=np.nan)  # declared: nodata, nobody there
    gdf = population_from_file(tmp_path / "b.tif")
    assert gdf["pop"].sum() == pytest.approx(np.nansum(np.where(data > 0, data, 0)), rel=1e-6)


def test_negative_cells_declared_nodata_are_no_data_and_the_rest_is_counted(tmp_path):
    data = POP.copy()
    data[:, 20:] = np.where(data[:, 20:] > 0, -5.0, data[:, 20:])  # east end: declared nodata -5
    _rewrite_raster(tmp_path / "population.tif", data, nodata=-5.0)
    r = run_scenario(load_scenario(_scenario(tmp_path)), write=False)
    assert r.demand["pop"].sum() == pytest.approx(POP[:, :20][POP[:, :20] > 0].sum(), rel=1e-6)


def test_negative_and_missing_rows_of_a_csv_are_refused_with_the_line(tmp_path):
    table = pd.DataFrame({"lon": [7.42, 7.421, 7.422, 7.423], "lat": [43.73] * 4, "pop": [10, -3, 5, -2.5]})
    table.to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(InputError, match=RULE) as err:
        population_from_points(tmp_path / "p.csv")
    m = re.search(RULE, str(err.value))
    assert str(err.value).startswith("population points p.csv has negative values in population column 'pop'")
    assert (int(m["count"]), m["unit"], float(m["sum"])) == (2, "row", -5.5)
    assert m["first"] == "row 1 (line 3 of the file)"  # header is line 1
    table.assign(pop=["10", "", "5", "7"]).to_csv(tmp_path / "q.csv", index=False)
    with pytest.raises(InputError, match=r"missing or non-numeric values .* 1 row, the first at row 1 \(line 3"):
        population_from_points(tmp_path / "q.csv")


def test_negative_population_in_vector_points_and_polygons_same_rule(tmp_path):
    pts = gpd.GeoDataFrame({"pop": [3.0, 4.0, -7.0]}, geometry=gpd.points_from_xy([7.42, 7.421, 7.422], [43.73] * 3),
                           crs=4326)
    pts.to_file(tmp_path / "pts.gpkg")
    polys = gpd.GeoDataFrame({"pop": [-1.5, 4.0]}, geometry=[box(7.41, 43.72, 7.42, 43.73), box(7.42, 43.72, 7.43, 43.73)],
                             crs=4326)
    polys.to_file(tmp_path / "poly.gpkg")
    for read, expect in ((lambda: population_from_file(tmp_path / "pts.gpkg"), (1, -7.0, "feature 2 (0-based)")),
                         (lambda: population_from_polygons(tmp_path / "poly.gpkg", pop="pop"),
                          (1, -1.5, "feature 0 (0-based)"))):
        with pytest.raises(InputError, match=RULE) as err:
            read()
        m = re.search(RULE, str(err.value))
        assert (int(m["count"]), float(m["sum"]), m["first"]) == expect
        assert m["unit"] == "feature" and "delete the rows" in m["fix"]


# --- 2. overlapping townships ----------------------------------------------------------------

def test_overlapping_townships_are_refused_naming_both_the_area_and_the_people(tmp_path, capsys):
    # 西街道 runs to x = 373,200, 东街道 starts at 372,700: a 500 m x 3,100 m overlap.
    west, east = box(X0, 4_842_400, 373_200, Y_TOP), box(372_700, 4_842_400, 374_400, Y_TOP)
    _units(tmp_path / "t.gpkg", [west, east], ["西街道", "东街道"])
    assert main(["run", str(_scenario(tmp_path, admin="t.gpkg")), "--out", str(tmp_path / "out")]) == 2
    out = capsys.readouterr().out.replace("\n", "")
    in_overlap = POP[:, 9:14][POP[:, 9:14] > 0].sum()  # cell centres x = 372,750 … 373,150
    share = 0.5 * 3.1 / (1.4 * 3.1)  # of the smaller unit, 西街道 (1.4 km wide)
    assert (f"'西街道' and '东街道' overlap by 1.550 km² ({share:.0%} of the smaller unit), "
            f"holding {in_overlap:,.0f} people") in out
    assert "admin units file" in out and "t.gpkg" in out and "Fix the boundaries" in out
    assert not (tmp_path / "out").exists()


def test_overlap_tolerance_is_one_percent_of_the_smaller_unit():
    a = box(0, 0, 1000, 1000)  # 1 km²
    units = lambda b: gpd.GeoDataFrame({"unit": ["甲镇", "乙镇"], "urban": [False, False]},  # noqa: E731
                                       geometry=[a, b], crs=UTM)
    check_overlaps(units(box(991, 0, 2000, 1000)))  # 9 m x 1 km = 0.9%: a digitising sliver
    with pytest.raises(InputError, match=r"'甲镇' and '乙镇' overlap by 0\.011 km² \(1% of the smaller unit\)"):
        check_overlaps(units(box(989, 0, 2000, 1000)))  # 11 m x 1 km = 1.1%
    check_overlaps(units(box(1000, 0, 2000, 1000)))  # touching only


def test_people_on_a_shared_border_go_to_the_first_unit_with_a_warning(tmp_path):
    # The border x = 373,150 runs through the centres of column 13.
    west, east = box(X0, 4_842_400, 373_150, Y_TOP), box(373_150, 4_842_400, 374_400, Y_TOP)
    _units(tmp_path / "t.gpkg", [west, east], ["西街道", "东街道"])
    r = run_scenario(load_scenario(_scenario(tmp_path, admin="t.gpkg")), write=False)
    people = r.demand.groupby("unit")["pop"].sum()
    assert people["西街道"] == pytest.approx(POP[:, :14][POP[:, :14] > 0].sum(), rel=1e-6)
    assert people["东街道"] == pytest.approx(POP[:, 14:][POP[:, 14:] > 0].sum(), rel=1e-6)
    on_border = POP[:, 13][POP[:, 13] > 0].sum()
    assert any(f"{on_border:,.0f} people" in w and "listed first" in w for w in r.warnings)


# --- 3. every township listed, with or without residents -------------------------------------

def _lake_run(tmp_path, population):
    _units(tmp_path / "t.gpkg", [WEST, LAKE, EAST], ["西街道", "湖乡", "东街道"])
    assert main(["run", str(_scenario(tmp_path, population=population, admin="t.gpkg")),
                 "--out", str(tmp_path / "out")]) == 0
    units = pd.read_csv(tmp_path / "out" / "units.csv", encoding="utf-8-sig")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    return units, summary


@pytest.mark.parametrize("population", ["population.tif", "points.csv"])
def test_a_township_without_residents_is_listed_with_0_people_and_no_verdict(tmp_path, population):
    if population == "points.csv":
        _points_csv(tmp_path / "points.csv")
    units, summary = _lake_run(tmp_path, population)
    for target in ("medical_point_15min", "ems_120"):
        rows = units[units["target"] == target].set_index("name")
        assert list(rows.index) == ["西街道", "湖乡", "东街道"]  # the admin file's order
        assert rows.loc["湖乡", "population_total"] == 0 and pd.isna(rows.loc["湖乡", "passed"])
        assert rows.loc["西街道", "population_total"] == pytest.approx(POP[:, :13][POP[:, :13] > 0].sum(), rel=1e-5)
        assert rows.loc["东街道", "population_total"] == pytest.approx(POP[:, 13:][POP[:, 13:] > 0].sum(), rel=1e-5)
    for t in summary["targets"]:
        lake = next(u for u in t["units"] if u["name"] == "湖乡")
        assert lake["population_total"] == 0 and lake["passed"] is None and lake["value"] is None


def test_evaluate_target_lists_every_admin_unit_then_the_outside():
    target = load_targets()["medical_point_15min"]
    e = evaluate_target(target, np.array([5.0, 20.0, np.inf]), np.array([10.0, 30.0, 5.0]),
                        np.array([True, True, True]), np.array(["乙街道", "乙街道", OUTSIDE], dtype=object),
                        unit_names=["甲乡", "乙街道"])
    rows = e.units.set_index("name")
    assert list(rows.index) == ["甲乡", "乙街道", OUTSIDE]
    assert rows.loc["甲乡", "population_total"] == 0 and rows.loc["甲乡", "passed"] is None
    assert rows.loc["乙街道", "value"] == pytest.approx(10 / 40)  # 10 of 40 people within 15 min


# --- 4. invalid township polygons ------------------------------------------------------------

BOWTIE = Polygon([(X0, 4_842_400), (373_100, Y_TOP), (373_100, 4_842_400), (X0, Y_TOP)])  # self-intersecting


def test_a_self_intersecting_township_is_repaired_at_load_with_a_warning(tmp_path):
    _units(tmp_path / "t.gpkg", [BOWTIE, EAST], ["蝴蝶镇", "东街道"])
    warnings: list[str] = []
    units = admin_from_file(str(tmp_path / "t.gpkg"), warn_to=warnings)
    assert units.geometry.is_valid.all()
    width, height = 373_100 - X0, Y_TOP - 4_842_400
    assert units.geometry.iloc[0].area == pytest.approx(width * height / 2)  # two triangles of a quarter each
    assert len(warnings) == 1 and "蝴蝶镇" in warnings[0] and "Self-intersection" in warnings[0]
    assert "东街道" not in warnings[0]


def test_a_run_with_a_self_intersecting_township_completes_and_writes_the_map(tmp_path):
    _units(tmp_path / "t.gpkg", [BOWTIE, EAST], ["蝴蝶镇", "东街道"])
    assert main(["run", str(_scenario(tmp_path, admin="t.gpkg")), "--out", str(tmp_path / "out"),
                 "--basemap", "none"]) == 0
    assert "蝴蝶镇" in (tmp_path / "out" / "map.html").read_text(encoding="utf-8")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert any("蝴蝶镇" in w and "make_valid" in w for w in summary["warnings"])


# --- 5. bounded work whatever the distance of a bad point ------------------------------------

def _facilities_with(rows):
    fac = pd.read_csv(DEMO / "facilities.csv")
    return pd.concat([fac, pd.DataFrame(rows)], ignore_index=True)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    return run_scenario(load_scenario(_scenario(tmp_path_factory.mktemp("base"))), write=False)


def test_a_facility_at_0_0_is_named_left_out_and_costs_no_memory(tmp_path, baseline, monkeypatch):
    fac = _facilities_with([{"lon": 0.0, "lat": 0.0, "type": "hospital", "name": "失败地理编码医院",
                             "facility_id": "bad/1", "emergency": True}])
    scenario = load_scenario(_scenario(tmp_path, facilities=fac))
    # The same road network, parsed once (tracemalloc would slow the PBF parse several-fold).
    monkeypatch.setattr("geoaccess.pipeline.load_network", lambda s, warnings=None: baseline.network)
    tracemalloc.start()
    r = run_scenario(scenario, write=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 500e6
    message = next(w for w in r.warnings if "失败地理编码医院" in w)
    assert "row 20 (0-based)" in message and "id bad/1" in message and "lon 0.00000, lat 0.00000" in message
    assert "failed geocode at (0, 0)" in message and "left out of every target" in message
    assert len(r.facilities) == 20  # left out; the verdicts are those of the file without it
    for a, b in zip(r.evaluations, baseline.evaluations):
        assert a.value == pytest.approx(b.value) and a.passed == b.passed


def test_facilities_with_lon_lat_swapped_are_each_named(tmp_path, baseline):
    fac = pd.read_csv(DEMO / "facilities.csv")
    swapped = fac.iloc[:3].assign(lon=fac["lat"].iloc[:3], lat=fac["lon"].iloc[:3],
                                  facility_id=["s/1", "s/2", "s/3"])
    r = run_scenario(load_scenario(_scenario(tmp_path, facilities=pd.concat([fac, swapped], ignore_index=True))),
                     write=False)
    message = next(w for w in r.warnings if "lon/lat swapped" in w.lower())
    assert message.startswith("3 facilities of facilities.csv lie farther than 1,000 m")
    for i, fid, lon in zip((20, 21, 22), ("s/1", "s/2", "s/3"), swapped["lon"]):
        assert f"row {i} (0-based)" in message and f"id {fid}" in message and f"lon {lon:.5f}" in message


def test_a_population_row_at_0_0_is_named_and_counted_unreachable(tmp_path):
    table = _points_csv(tmp_path / "points.csv", extra_rows=[(0.0, 0.0, 123.0)])
    r = run_scenario(load_scenario(_scenario(tmp_path, population="points.csv")), write=False)
    line = len(table) + 1  # the last data row, after the header
    message = next(w for w in r.warnings if "lie farther than" in w and "points.csv" in w)
    assert f"row {len(table) - 1} (0-based; line {line} of a CSV) (123 people) at lon 0.00000, lat 0.00000" in message
    for e in r.evaluations:
        assert e.population_total == pytest.approx(table["pop"].sum())  # nobody dropped
        assert e.population_unreachable >= 123


def test_density_grid_ignores_how_far_a_stray_point_lies():
    rows, cols = np.nonzero(POP > 0)
    xy = np.column_stack([X0 + (cols + 0.5) * CELL, Y_TOP - (rows + 0.5) * CELL])
    pop = POP[rows, cols]
    far = np.r_[xy, [[-3.0e6, -4.0e6]]]  # (0,0) in lon/lat seen from UTM 32N: thousands of km away
    tracemalloc.start()
    flags = urban_by_density(far, np.r_[pop, 50.0])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50e6  # a dense grid across that distance would need terabytes
    # Independent check: the population of the 10 x 10 cell window (offsets -5..+4) by brute force.
    cells = np.floor((far - far.min(axis=0)) / 100).astype(int)
    weights = np.r_[pop, 50.0]
    d = cells[:, None, :] - cells[None, :, :]
    inside = ((d >= -4) & (d <= 5)).all(axis=2)  # neighbour j within the window centred on i
    density = (inside * weights[None, :]).sum(axis=1) / 1.0  # persons per km² (window = 1 km²)
    np.testing.assert_array_equal(flags, density >= 1500)
    assert not flags[-1]


def test_assign_units_puts_points_outside_every_unit_in_the_outside_unit():
    units = gpd.GeoDataFrame({"unit": ["甲街道"], "urban": pd.array([True], dtype="boolean")},
                             geometry=[box(0, 0, 1000, 1000)], crs=UTM)
    demand = gpd.GeoDataFrame({"pop": [5.0, 7.0]}, geometry=gpd.points_from_xy([500, 5000], [500, 5000]), crs=UTM)
    name, urban = assign_units(demand, units, warn_to=[])
    assert name.tolist() == ["甲街道", OUTSIDE] and urban.tolist() == [True, False]
    assert shapely.contains_xy(units.geometry.iloc[0], 500, 500)


def test_population_table_rows_are_named_by_file_line_despite_blank_lines(tmp_path):
    # Blank lines are skipped by the reader; the message must still send the user to the
    # right line (line 5 holds the bad value: header, a row, two blank lines... by hand).
    (tmp_path / "p.csv").write_text("lon,lat,pop\n7.42,43.73,10\n\n7.43,43.74,abc\n7.44,43.75,5\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"rows \(0-based\) 1 \(file line 4\).*the first at row 1 \(line 4 of the file\)"):
        population_from_points(tmp_path / "p.csv")


def test_population_table_reads_degrees_minutes_seconds_like_facilities(tmp_path):
    # 7°25'12"E = 7.42, 43°44'24"N = 43.74 (by hand: 25/60 + 12/3600 = 0.42; 44/60 + 24/3600 = 0.74)
    (tmp_path / "p.csv").write_text('lon,lat,pop\n"7°25\'12""E","43°44\'24""N",10\n7.5,43.8,5\n', encoding="utf-8")
    pts = population_from_points(tmp_path / "p.csv")
    assert pts.geometry.x.tolist() == pytest.approx([7.42, 7.5])
    assert pts.geometry.y.tolist() == pytest.approx([43.74, 43.8])
    assert pts["pop"].tolist() == [10, 5]
