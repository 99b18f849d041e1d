"""Coordinates that do not match their CRS, and a bad ``[scenario] crs``, are refused naming the
key or the file, the CRS it was read as and the fix, never passed on to change the verdicts
or blamed on another file."""

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import CRS, Geod

from geoaccess import coords
from geoaccess.cli import main
from geoaccess.coords import NotLonLatError, check_analysis_crs, crs_scale_error, utm_crs_for
from geoaccess.errors import InputError
from geoaccess.network import network_from_file
from geoaccess.scenario import load_scenario
from geoaccess.synthetic import generate_county

SCENARIO = """[scenario]
name = "crs-check"
{crs}
[network]
source = "{roads}"
class = "highway"
[facilities]
path = "facilities.csv"
x = "lon"
y = "lat"
type = "type"
name = "name"
[population]
path = "population.tif"
[targets]
use = ["medical_point_15min"]
"""
# The synthetic county's extent (117.8-118.0°E, 33.4-33.5°N, Anhui): UTM 50N, GK zone 39 / CM 117E.
LON, LAT = (117.82, 117.93), (33.43, 33.53)


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    folder = tmp_path_factory.mktemp("county")
    generate_county(folder, seed=4, area_km2=40, n_nodes=2500, write_osm=False)
    return folder


def _scenario(folder, roads="roads.gpkg", crs=None):
    path = folder / "scenario.toml"
    path.write_text(SCENARIO.format(roads=roads, crs=f'crs = "{crs}"' if crs else ""), encoding="utf-8")
    return path


def _copy(county, tmp_path):
    for name in ("facilities.csv", "population.tif"):
        (tmp_path / name).write_bytes((county / name).read_bytes())
    return gpd.read_file(county / "roads.gpkg")


def test_a_scenario_crs_in_feet_is_refused_naming_the_key(tmp_path):
    _scenario(tmp_path, crs="EPSG:2263")  # NAD83 / New York Long Island (ftUS)
    with pytest.raises(InputError, match=r"\[scenario\] crs 'EPSG:2263'.*US survey foot, not metres.*EPSG:32650"):
        load_scenario(tmp_path / "scenario.toml")


def test_scale_error_of_web_mercator_is_the_secant_of_the_latitude():
    # Spherical Web Mercator's scale at latitude phi is sec(phi) in every direction (independent of pyproj):
    # the largest over the extent is at its north edge.
    assert crs_scale_error("EPSG:3857", LON, LAT) == pytest.approx(1 / math.cos(math.radians(LAT[1])) - 1, rel=1e-2)
    # Transverse Mercator at its central meridian: the zone's scale factor (UTM 0.9996; GK 1).
    assert crs_scale_error("EPSG:32651", (123.0, 123.0), (0.0, 0.0)) == pytest.approx(0.0004, abs=1e-7)
    assert crs_scale_error("EPSG:4548", (117.0, 117.0), (30.0, 30.0)) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("crs", ["EPSG:32650", "EPSG:4548", "EPSG:4527", "EPSG:4509", "EPSG:4498"])
def test_a_utm_or_gauss_krueger_zone_holding_the_county_passes(crs):
    # UTM 50N; CGCS2000 3-degree GK CM 117E and zone 39; 6-degree GK CM 117E and zone 20
    check_analysis_crs(crs, LON, LAT)
    assert crs_scale_error(crs, LON, LAT) < coords.MAX_SCALE_ERROR


@pytest.mark.parametrize("crs, figure", [("EPSG:32632", "6[0-9]\\.[0-9]%"), ("EPSG:3857", "20\\.[0-9]%")])
def test_a_distorting_scenario_crs_is_refused_with_the_figure_and_the_fix(crs, figure):
    with pytest.raises(InputError, match=rf"\[scenario\] crs {crs}.*distorts lengths by up to {figure}.*"
                                         r"at most 1%.*crs = \"EPSG:32650\".*leave crs out"):
        check_analysis_crs(crs, LON, LAT)


def test_a_distorting_scenario_crs_stops_the_run_with_exit_2(county, tmp_path, capsys):
    _copy(county, tmp_path)
    (tmp_path / "roads.gpkg").write_bytes((county / "roads.gpkg").read_bytes())
    assert main(["check", str(_scenario(tmp_path, crs="EPSG:3857"))]) == 2
    assert "[scenario] crs EPSG:3857" in capsys.readouterr().out
    assert main(["check", str(_scenario(tmp_path, crs="EPSG:4548"))]) == 0


def test_geojson_holding_projected_metres_is_refused_naming_the_file_and_the_standard(county, tmp_path):
    roads = _copy(county, tmp_path)
    roads.to_crs("EPSG:32650").set_crs(None, allow_override=True).to_file(tmp_path / "r.geojson")
    with pytest.raises(InputError) as e:
        network_from_file(tmp_path / "r.geojson")
    msg = str(e.value)
    assert f"r.geojson: {len(roads):,} rows (0-based rows in file order: 0, 1, 2" in msg and "EPSG:4326" in msg
    assert "projected metres" in msg and "RFC 7946" in msg and "utm_crs_for" not in msg
    # Eastings with a GK zone number: the zone's CRS is named
    roads.to_crs("EPSG:4527").set_crs(None, allow_override=True).to_file(tmp_path / "z.geojson")
    with pytest.raises(InputError, match=r"z\.geojson.*zone number: CGCS2000 / 3-degree Gauss-Kruger zone 39, "
                                         r"EPSG:4527"):
        network_from_file(tmp_path / "z.geojson")


@pytest.mark.parametrize("swap", ["all", "one"])
def test_swapped_lon_lat_is_refused_naming_the_rows(county, tmp_path, swap):
    roads = _copy(county, tmp_path)
    swapped = gpd.GeoSeries(shapely.transform(roads.geometry.to_numpy(), lambda c: c[:, ::-1]), crs=roads.crs)
    if swap == "one":  # one line digitised lat-first: only its row is named
        roads.loc[7, "geometry"] = swapped[7]
    else:
        roads = roads.set_geometry(swapped)
    roads.to_file(tmp_path / "r.gpkg")
    with pytest.raises(InputError) as e:
        network_from_file(tmp_path / "r.gpkg")
    msg = str(e.value)
    assert "r.gpkg" in msg and "EPSG:4326" in msg and "swap the two coordinates" in msg
    if swap == "one":
        assert "r.gpkg: 1 row (0-based rows in file order: 7;" in msg


def test_the_hint_names_the_crs_the_coordinates_fit_not_the_files_own(county, tmp_path):
    roads = _copy(county, tmp_path)
    # CM 117E eastings (6 digits) labelled zone 39: the CM CRS of that zone is the fix
    roads.to_crs("EPSG:4548").set_crs("EPSG:4527", allow_override=True).to_file(tmp_path / "a.shp")
    with pytest.raises(InputError) as e:
        network_from_file(tmp_path / "a.shp", class_column="highway")
    assert "6-digit easting" in str(e.value) and "give the file its central meridian's CRS, EPSG:4548" in str(e.value)
    # zone-39 eastings (8 digits) labelled CM 114E: zone 39's CRS is the fix
    roads.to_crs("EPSG:4527").set_crs("EPSG:4547", allow_override=True).to_file(tmp_path / "b.shp")
    with pytest.raises(InputError, match=r"8-digit easting .* \(39\): give the file that zone's CRS, EPSG:4527"):
        network_from_file(tmp_path / "b.shp", class_column="highway")


def test_roads_apart_from_the_people_name_both_files_their_crss_and_the_distance(county, tmp_path, capsys):
    roads = _copy(county, tmp_path)
    wrong = roads.to_crs("EPSG:4527").set_crs("EPSG:4526", allow_override=True)  # zone 39 labelled zone 38
    wrong.to_file(tmp_path / "r.gpkg")
    assert main(["check", str(_scenario(tmp_path, roads="r.gpkg"))]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert "population" not in out.split("the inputs do not overlap")[0]
    assert "the roads (r.gpkg, read as EPSG:4526 (CGCS2000 / 3-degree Gauss-Kruger zone 38)" in out
    assert "the population (population.tif, read as EPSG:4326 (WGS 84)" in out
    assert "facilities.csv, read as EPSG:4326" in out and "check the population file's CRS" not in out
    # the distance between the extents: nearest points of the two lon/lat boxes, geodesic (independent: shapely)
    placed = wrong.to_crs("EPSG:4326").total_bounds
    import rasterio
    with rasterio.open(tmp_path / "population.tif") as src:
        b = src.bounds
    a_box, p_box = shapely.box(*placed), shapely.box(b.left, b.bottom, b.right, b.top)
    pa, pp = shapely.ops.nearest_points(a_box, p_box)
    km = Geod(ellps="WGS84").inv(pa.x, pa.y, pp.x, pp.y)[2] / 1000
    figure = float(out.split(") lie ")[1].split(" km from the population")[0].replace(",", ""))
    assert figure == pytest.approx(km, rel=0.02)  # the population's cell centres vs the raster's edges


def test_an_internal_lon_lat_error_is_said_with_the_file(county, tmp_path, monkeypatch, capsys):
    import geoaccess.pipeline as pipeline

    assert isinstance(NotLonLatError(1.0, 2.0), InputError)
    with pytest.raises(NotLonLatError):
        utm_crs_for(581682.6, 3703834.0)

    def lost(*args, **kwargs):  # a reader whose roads' centre comes out in metres
        return utm_crs_for(581682.6, 3703834.0)

    monkeypatch.setattr(pipeline, "network_from_file", lost)
    _copy(county, tmp_path)
    (tmp_path / "roads.gpkg").write_bytes((county / "roads.gpkg").read_bytes())
    assert main(["check", str(_scenario(tmp_path))]) == 2
    out = capsys.readouterr().out
    assert "roads.gpkg: the roads' centre is no longitude/latitude (581683, 3.70383e+06)" in out
    assert "utm_crs_for" not in out


def test_network_from_lines_checks_lon_lat_given_in_memory():
    # the same check where no file is read: a GeoDataFrame handed to network_from_lines
    from geoaccess.network import network_from_lines

    lines = gpd.GeoDataFrame({"highway": ["primary"] * 2}, crs="EPSG:4326", geometry=[
        shapely.LineString([(117.8, 33.4), (117.81, 33.4)]), shapely.LineString([(33.4, 117.81), (33.41, 117.82)])])
    with pytest.raises(InputError, match=r"roads\.gpkg: 2 vertices of 1 rows \(0-based rows in file order: 1; first at "
                                         r"x=33\.400000, y=117\.810000\).*EPSG:4326 \(WGS 84\)\. The values look like "
                                         r"latitude, longitude"):
        network_from_lines(lines, name="roads.gpkg")


@pytest.mark.parametrize("section, file, fix", [
    ("admin", "townships.gpkg", "swap the two coordinates"),
    ("facilities", "facilities.geojson", "RFC 7946"),
    ("population", "people.gpkg", "projected metres")])
def test_facility_population_and_admin_files_are_checked_like_the_roads(county, tmp_path, capsys, section, file, fix):
    roads = _copy(county, tmp_path)
    roads.to_file(tmp_path / "roads.gpkg")
    text = _scenario(tmp_path).read_text(encoding="utf-8")
    box = shapely.box(*roads.total_bounds)
    if section == "admin":  # a township drawn lat-first
        gpd.GeoDataFrame({"name": ["甲镇"]}, geometry=[shapely.transform(box, lambda c: c[:, ::-1])],
                         crs="EPSG:4326").to_file(tmp_path / file)
        text += '[admin]\npath = "townships.gpkg"\nname = "name"\n'
    elif section == "facilities":  # UTM metres in a GeoJSON without a crs member
        fac = gpd.read_file(county / "facilities.csv")
        pts = gpd.GeoDataFrame(fac.drop(columns=["lon", "lat"]), crs="EPSG:4326",
                               geometry=gpd.points_from_xy(fac["lon"].astype(float), fac["lat"].astype(float)))
        pts.to_crs("EPSG:32650").set_crs(None, allow_override=True).to_file(tmp_path / file)
        text = text.replace('path = "facilities.csv"\nx = "lon"\ny = "lat"\n', f'path = "{file}"\n')
    else:  # people in UTM metres saved as EPSG:4326
        pts = gpd.GeoDataFrame({"pop": [10.0, 20.0]}, crs="EPSG:4326",
                               geometry=gpd.points_from_xy(roads.total_bounds[[0, 2]], roads.total_bounds[[1, 3]]))
        pts.to_crs("EPSG:32650").set_crs("EPSG:4326", allow_override=True).to_file(tmp_path / file)
        text = text.replace('path = "population.tif"', f'path = "{file}"\npop = "pop"')
    (tmp_path / "scenario.toml").write_text(text, encoding="utf-8")
    assert main(["check", str(tmp_path / "scenario.toml")]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert f"{file}: " in out and "are no place on the earth in the CRS the file was read as, EPSG:4326" in out
    assert fix in out


def test_a_population_raster_in_metres_labelled_wgs84_is_named_with_both_files(county, tmp_path, capsys):
    import rasterio
    from pyproj import Transformer
    from rasterio.transform import from_origin

    _copy(county, tmp_path)
    (tmp_path / "roads.gpkg").write_bytes((county / "roads.gpkg").read_bytes())
    with rasterio.open(county / "population.tif") as src:
        profile, cells, t = src.profile, src.read(1), src.transform
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True).transform(t.c, t.f)
    profile.update(transform=from_origin(x, y, 100, 100))  # UTM metres, still labelled EPSG:4326
    with rasterio.open(tmp_path / "population.tif", "w", **profile) as dst:
        dst.write(cells, 1)
    assert main(["check", str(_scenario(tmp_path))]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert "the roads (roads.gpkg, read as EPSG:4326 (WGS 84); lon 117." in out
    assert "the population (population.tif, read as EPSG:4326 (WGS 84); coordinates that are no place on the earth" in out


@pytest.mark.parametrize("saved_in, says", [
    ("EPSG:4326", "look like lon/lat degrees: EPSG:4326"),
    ("EPSG:4527", "zone number 39: that zone's CRS, EPSG:4527 (CGCS2000 / 3-degree Gauss-Kruger zone 39)"),
    ("EPSG:4498", "zone number 20: that zone's CRS, EPSG:4498 (CGCS2000 / Gauss-Kruger zone 20)"),
    ("EPSG:4547", "projected metres without a zone number")])
def test_a_roads_file_without_crs_is_told_the_crs_its_numbers_fit(county, tmp_path, saved_in, says):
    roads = gpd.read_file(county / "roads.gpkg").to_crs(saved_in)
    roads.set_crs(None, allow_override=True).to_file(tmp_path / "r.shp")
    assert not (tmp_path / "r.prj").exists()
    with pytest.raises(InputError) as e:
        network_from_file(tmp_path / "r.shp", class_column="highway")
    assert "r.shp has no CRS" in str(e.value) and says in str(e.value)
    if saved_in == "EPSG:4547":  # no code offered that the numbers cannot tell: not CM 117E's for CM 114E data
        assert "EPSG:4548" not in str(e.value) and "EPSG:4326" not in str(e.value)
    name = CRS(saved_in).name  # the code offered is the CRS the file was saved in (pyproj's own name)
    assert saved_in == "EPSG:4547" or name in str(e.value) or saved_in == "EPSG:4326"
