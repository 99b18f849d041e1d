from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import Point, box

from geoaccess.coords import wgs84_to_gcj02
from geoaccess.demand import (
    buildings_from_osm,
    population_from_file,
    population_from_points,
    population_from_polygons,
    population_from_raster,
    population_raster_from_buildings,
)
from geoaccess.errors import InputError

HERE = Path(__file__).resolve().parent
WORLDPOP = HERE / "data" / "worldpop2020_1km_basankusu_cod.tif"
MONACO = HERE.parent / "data" / "demo" / "monaco.osm.pbf"


# --- rasters --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def worldpop():
    return population_from_raster(WORLDPOP)


def test_worldpop_total_and_count_match_rasterio(worldpop):
    with rasterio.open(WORLDPOP) as src:
        band = src.read(1, masked=True).astype("float64")
    assert worldpop["pop"].sum() == pytest.approx(float(band.sum()), rel=1e-9)
    assert worldpop["pop"].sum() == pytest.approx(496_266.6, abs=0.1)  # metadata: crop_population
    assert len(worldpop) == int((band.filled(0) > 0).sum())
    assert worldpop["demand_id"].tolist() == list(range(len(worldpop)))
    assert worldpop.crs.to_epsg() == 4326


def test_worldpop_points_at_cell_centres(worldpop):
    with rasterio.open(WORLDPOP) as src:
        transform = src.transform
        band = src.read(1)
    sample = worldpop.iloc[[0, 1000, len(worldpop) - 1]]
    xs, ys = rasterio.transform.xy(transform, sample["row"].to_numpy(), sample["col"].to_numpy(), offset="center")
    np.testing.assert_allclose(sample.geometry.x, xs, atol=1e-9)
    np.testing.assert_allclose(sample.geometry.y, ys, atol=1e-9)
    np.testing.assert_allclose(sample["pop"], band[sample["row"], sample["col"]], rtol=1e-6)


def test_worldpop_cell_area_vs_geodesic(worldpop):
    with rasterio.open(WORLDPOP) as src:
        t = src.transform
    geod = pyproj.Geod(ellps="WGS84")
    r = worldpop.iloc[500]
    x0, y0 = t @ (r["col"], r["row"])
    x1, y1 = t @ (r["col"] + 1, r["row"] + 1)
    area, _ = geod.polygon_area_perimeter([x0, x1, x1, x0], [y0, y0, y1, y1])
    assert r["cell_area_m2"] == pytest.approx(abs(area), rel=1e-6)
    assert 0.8e6 < r["cell_area_m2"] < 0.9e6  # 30 arc-seconds near the equator


def _write_tif(path, data, crs="EPSG:32650", nodata=-1.0, res=100.0):
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                       dtype="float32", crs=crs, transform=from_origin(500_000, 3_000_000, res, res),
                       nodata=nodata) as dst:
        dst.write(data.astype("float32"), 1)
    return path


def test_raster_to_crs_equals_geopandas_to_crs(worldpop, tmp_path):
    """The points made in the target CRS (cell centres transformed first) are those of
    GeoDataFrame.to_crs, to the bit; the same CRS, or none, leaves the raster's."""
    utm = pyproj.CRS("EPSG:32734")
    direct = population_from_raster(WORLDPOP, to_crs=utm)
    assert direct.crs == utm and len(direct) == len(worldpop)
    expect = np.column_stack([worldpop.to_crs(utm).geometry.x, worldpop.to_crs(utm).geometry.y])
    assert np.array_equal(np.column_stack([direct.geometry.x, direct.geometry.y]), expect)
    # everything but the points is the raster's own (cell areas on the ellipsoid, not in UTM)
    pd.testing.assert_frame_equal(pd.DataFrame(direct.drop(columns="geometry")),
                                  pd.DataFrame(worldpop.drop(columns="geometry")))
    via_file = population_from_file(WORLDPOP, to_crs="EPSG:32734")
    assert np.array_equal(np.column_stack([via_file.geometry.x, via_file.geometry.y]), expect)
    tif = _write_tif(tmp_path / "p.tif", np.array([[1.0, 2.0], [0.0, 4.0]]))
    same = population_from_raster(tif, to_crs="EPSG:32650")
    plain = population_from_raster(tif)
    assert same.crs == plain.crs and same.geometry.x.tolist() == plain.geometry.x.tolist() == [500_050.0, 500_150.0,
                                                                                                  500_150.0]
    # other sources go through GeoDataFrame.to_crs
    pd.DataFrame({"lon": [106.7], "lat": [26.5], "pop": [9]}).to_csv(tmp_path / "p.csv", index=False)
    pt = population_from_file(tmp_path / "p.csv", to_crs="EPSG:32648")
    x, y = pyproj.Transformer.from_crs(4326, 32648, always_xy=True).transform(106.7, 26.5)
    assert pt.crs == pyproj.CRS("EPSG:32648") and (pt.geometry.x[0], pt.geometry.y[0]) == pytest.approx((x, y), abs=1e-6)


def test_raster_drops_nodata_nan_zero_and_negative(tmp_path):
    # NaN and negative cells that are not the declared nodata are refused since issue 10
    # (tests/bad_inputs/test_population_units.py); here they are declared nodata (-1).
    data = np.array([[5.0, -1.0, 0.0], [-1.0, -1.0, 2.5]])
    gdf = population_from_raster(_write_tif(tmp_path / "p.tif", data))
    assert gdf["pop"].tolist() == [5.0, 2.5]
    assert gdf[["row", "col"]].values.tolist() == [[0, 0], [1, 2]]
    np.testing.assert_allclose(gdf.geometry.x, [500_050, 500_250])
    np.testing.assert_allclose(gdf.geometry.y, [2_999_950, 2_999_850])
    assert (gdf["cell_area_m2"] == 10_000.0).all()
    assert gdf.crs.to_epsg() == 32650


def test_raster_without_crs(tmp_path):
    with rasterio.open(tmp_path / "n.tif", "w", driver="GTiff", width=2, height=2, count=1, dtype="float32",
                       transform=from_origin(0, 0, 1, 1)) as dst:
        dst.write(np.ones((1, 2, 2), dtype="float32"))
    with pytest.raises(InputError, match=r"has no CRS; WorldPop rasters are EPSG:4326; fix with gdal_edit.py -a_srs EPSG:4326"):
        population_from_raster(tmp_path / "n.tif")


def test_raster_band_and_file_errors(tmp_path):
    with pytest.raises(InputError, match=r"has 1 band\(s\); band=2 is out of range"):
        population_from_raster(WORLDPOP, band=2)
    with pytest.raises(InputError, match="population raster not found"):
        population_from_raster(tmp_path / "missing.tif")
    (tmp_path / "junk.tif").write_bytes(b"not a tiff")
    with pytest.raises(InputError, match="could not read population raster"):
        population_from_raster(tmp_path / "junk.tif")


# --- polygons and points ----------------------------------------------------------------

UNITS = {"村名": ["和平村", "新华村", "城关社区"], "人口": [1200, 850.5, 4300], "code": ["01", "02", "03"]}
SQUARES = [box(106.70, 26.50, 106.72, 26.52), box(106.72, 26.50, 106.74, 26.52), box(106.70, 26.52, 106.74, 26.56)]


def test_polygons_geojson(tmp_path):
    gpd.GeoDataFrame(UNITS, geometry=SQUARES, crs=4326).to_file(tmp_path / "u.geojson")
    gdf = population_from_polygons(tmp_path / "u.geojson", pop="人口")
    assert gdf.columns[:2].tolist() == ["demand_id", "pop"]
    assert gdf["pop"].tolist() == [1200.0, 850.5, 4300.0]
    assert gdf["村名"].tolist() == UNITS["村名"]
    assert (gdf.geom_type == "Point").all()
    assert gdf.geometry.within(gpd.GeoSeries(SQUARES, crs=4326)).all()
    assert gdf.crs.to_epsg() == 4326


def _gbk_polygons(tmp_path) -> Path:
    path = tmp_path / "units.shp"
    gpd.GeoDataFrame(UNITS, geometry=SQUARES, crs=4326).to_file(path, engine="pyogrio", encoding="GBK")
    path.with_suffix(".cpg").unlink(missing_ok=True)
    assert "和平村".encode("gbk") in path.with_suffix(".dbf").read_bytes()
    return path


def test_polygons_gbk_shapefile_explicit_encoding(tmp_path):
    gdf = population_from_polygons(_gbk_polygons(tmp_path), pop="人口", encoding="gbk")
    assert gdf["村名"].tolist() == UNITS["村名"]
    assert gdf["pop"].sum() == pytest.approx(6350.5)


def test_polygons_gbk_shapefile_without_cpg(tmp_path):
    gdf = population_from_polygons(_gbk_polygons(tmp_path), pop="人口")
    assert gdf["村名"].tolist() == UNITS["村名"]


def test_polygons_errors(tmp_path):
    gpd.GeoDataFrame(UNITS, geometry=SQUARES, crs=4326).to_file(tmp_path / "u.gpkg")
    with pytest.raises(InputError, match=r"no column 'population'; set the 'pop' parameter.*Available columns: '村名', '人口', 'code'"):
        population_from_polygons(tmp_path / "u.gpkg", pop="population")
    bad = dict(UNITS, 人口=[10, -4, 5])
    gpd.GeoDataFrame(bad, geometry=SQUARES, crs=4326).to_file(tmp_path / "neg.gpkg")
    with pytest.raises(InputError, match=r"negative values in population column '人口', rows \(0-based\) 1"):
        population_from_polygons(tmp_path / "neg.gpkg", pop="人口")
    gpd.GeoDataFrame(UNITS, geometry=[p.centroid for p in SQUARES], crs=4326).to_file(tmp_path / "pts.gpkg")
    with pytest.raises(InputError, match="expected Polygon or MultiPolygon; use population_from_points"):
        population_from_polygons(tmp_path / "pts.gpkg", pop="人口")


def test_points_csv_gbk_and_gcj(tmp_path):
    wgs = np.array([[106.71, 26.51], [106.73, 26.53]])
    gcj = np.c_[wgs84_to_gcj02(wgs[:, 0], wgs[:, 1])]
    df = pd.DataFrame({"经度": gcj[:, 0], "纬度": gcj[:, 1], "人数": [30, 12], "小区": ["阳光小区", "幸福里"]})
    df.to_csv(tmp_path / "p.csv", index=False, encoding="gbk")
    gdf = population_from_points(tmp_path / "p.csv", x="经度", y="纬度", pop="人数", crs="GCJ-02")
    assert gdf["小区"].tolist() == ["阳光小区", "幸福里"]
    assert gdf["pop"].tolist() == [30.0, 12.0]
    assert np.abs(np.c_[gdf.geometry.x, gdf.geometry.y] - wgs).max() < 1e-7
    assert "经度" not in gdf.columns and gdf.crs.to_epsg() == 4326


def test_points_xlsx_and_errors(tmp_path):
    df = pd.DataFrame({"lon": [106.71, 106.73], "lat": [26.51, np.nan], "pop": [3, 4]})
    df.to_excel(tmp_path / "p.xlsx", index=False)
    with pytest.raises(InputError, match=r"missing or non-numeric coordinates in rows .* 1;"):
        population_from_points(tmp_path / "p.xlsx")
    df["lat"] = 26.5
    df.to_excel(tmp_path / "p.xlsx", index=False)
    assert population_from_points(tmp_path / "p.xlsx")["pop"].sum() == 7.0
    with pytest.raises(InputError, match=r"no column 'people'; set the 'pop' parameter.*'lon', 'lat', 'pop'"):
        population_from_points(tmp_path / "p.xlsx", pop="people")
    df["pop"] = ["3", "lots"]
    df.to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(InputError, match=r"non-numeric values in population column 'pop', rows \(0-based\) 1"):
        population_from_points(tmp_path / "p.csv")


def test_population_from_file_dispatch(tmp_path):
    assert len(population_from_file(WORLDPOP)) > 27000
    gpd.GeoDataFrame(UNITS, geometry=SQUARES, crs=4326).to_file(tmp_path / "u.gpkg")
    assert population_from_file(tmp_path / "u.gpkg", pop="人口")["pop"].sum() == pytest.approx(6350.5)
    pts = gpd.GeoDataFrame({"pop": [1.0, 2.0]}, geometry=[Point(106.7, 26.5), Point(106.8, 26.6)], crs=4326)
    pts.to_file(tmp_path / "pts.geojson")
    assert population_from_file(tmp_path / "pts.geojson")["pop"].tolist() == [1.0, 2.0]
    pd.DataFrame({"lon": [106.7], "lat": [26.5], "pop": [9]}).to_csv(tmp_path / "p.csv", index=False)
    assert population_from_file(tmp_path / "p.csv")["pop"].tolist() == [9.0]
    mixed = gpd.GeoDataFrame({"pop": [1.0, 2.0]}, geometry=[Point(106.7, 26.5), SQUARES[0]], crs=4326)
    mixed.to_file(tmp_path / "mixed.gpkg")
    with pytest.raises(InputError, match="holds Point, Polygon geometries; population files must be all polygons"):
        population_from_file(tmp_path / "mixed.gpkg")
    (tmp_path / "x.asc").write_text("x")
    with pytest.raises(InputError, match="unknown file type: x.asc"):
        population_from_file(tmp_path / "x.asc")


# --- buildings ------------------------------------------------------------------------------

def _hand_buildings():
    """Five buildings in UTM 50N (near 117E, 30N), returned in EPSG:4326."""
    x, y = 500_000.0, 3_320_000.0
    rows = [
        ("residential", "5", None, box(x + 10, y + 10, x + 30, y + 20)),     # 200 m2 x 5 / 40 = 25
        ("apartments", None, None, box(x + 210, y + 10, x + 240, y + 40)),   # 900 m2 x 3 / 40 = 67.5
        ("yes", None, "supermarket", box(x + 50, y + 50, x + 90, y + 90)),   # shop: not a home
        ("yes", "2", None, box(x + 40, y + 60, x + 50, y + 70)),             # 100 m2 x 2 / 40 = 5
        ("commercial", "8", None, box(x + 120, y + 10, x + 160, y + 50)),    # not a home
    ]
    gdf = gpd.GeoDataFrame(rows, columns=["building", "building:levels", "shop", "geometry"], crs="EPSG:32650")
    return gdf.to_crs(4326)


def test_buildings_hand_computation(tmp_path):
    out = population_raster_from_buildings(_hand_buildings(), tmp_path / "b.tif")
    assert out == tmp_path / "b.tif"
    with rasterio.open(out) as src:
        band = src.read(1)
        assert src.crs.to_epsg() == 32650 and src.res == (100.0, 100.0)
        assert src.nodata is not None and src.dtypes[0] == "float32"
        assert src.transform.c % 100 == 0 and src.transform.f % 100 == 0
        r1 = src.index(500_020, 3_320_015)   # centroid of the residential building
        r2 = src.index(500_225, 3_320_025)   # apartments, next cell east
    assert band.sum() == pytest.approx(25 + 67.5 + 5, rel=1e-6)
    assert band[r1] == pytest.approx(25 + 5, rel=1e-6)  # the untyped house shares that cell
    assert band[r2] == pytest.approx(67.5, rel=1e-6)
    assert band.shape == (1, 3)


def test_buildings_options(tmp_path):
    b = _hand_buildings()
    p = population_raster_from_buildings(b, tmp_path / "a.tif", untyped_as_residential=False)
    with rasterio.open(p) as src:
        assert src.read(1).sum() == pytest.approx(92.5, rel=1e-6)
    p = population_raster_from_buildings(b, tmp_path / "c.tif", floor_area_per_person_m2=20, default_levels=1)
    with rasterio.open(p) as src:
        assert src.read(1).sum() == pytest.approx(50 + 45 + 10, rel=1e-6)
    p = population_raster_from_buildings(b, tmp_path / "t.tif", total_population=1950, cell_size_m=1000)
    with rasterio.open(p) as src:
        assert src.read(1).sum() == pytest.approx(1950, rel=1e-6) and src.res == (1000.0, 1000.0)


def test_buildings_errors(tmp_path):
    b = _hand_buildings()
    with pytest.raises(InputError, match=r"no column 'building'.*Available columns: 'type'"):
        population_raster_from_buildings(b.rename(columns={"building": "type"})[["type", "geometry"]], tmp_path / "x.tif")
    with pytest.raises(InputError, match="no residential buildings among 2 buildings; building values found: commercial"):
        population_raster_from_buildings(b.iloc[[2, 4]].assign(building="commercial"), tmp_path / "x.tif")
    with pytest.raises(InputError, match="cell_size_m must be a positive"):
        population_raster_from_buildings(b, tmp_path / "x.tif", cell_size_m=0)
    with pytest.raises(InputError, match="buildings must be a GeoDataFrame"):
        population_raster_from_buildings(pd.DataFrame(b), tmp_path / "x.tif")
    assert not (tmp_path / "x.tif").exists()


@pytest.fixture(scope="module")
def monaco_buildings():
    return buildings_from_osm(MONACO)


def test_monaco_buildings_raster_vs_geodesic_areas(tmp_path, monaco_buildings):
    assert len(monaco_buildings) == 1283 and "osm_id" in monaco_buildings
    out = population_raster_from_buildings(monaco_buildings, tmp_path / "m.tif")
    with rasterio.open(out) as src:
        total = float(src.read(1, masked=True).sum())
        assert src.crs.to_epsg() == 32632
    # Independent estimate: geodesic areas on the ellipsoid, residential values + plain building=yes.
    b = monaco_buildings
    geod = pyproj.Geod(ellps="WGS84")
    area = np.abs([geod.geometry_area_perimeter(g)[0] for g in b.geometry])
    hint = b[["amenity", "shop", "office"]].notna().any(axis=1) | b["tags"].fillna("").str.contains(
        '"(?:amenity|shop|office|tourism|leisure|craft|healthcare|man_made|historic|government|public_transport|industrial|religion)"')
    home = b["building"].isin(["residential", "apartments", "house", "terrace", "detached"]) | \
        ((b["building"] == "yes") & ~hint)
    levels = pd.to_numeric(b["building:levels"], errors="coerce").fillna(3).to_numpy()
    expected = (area * levels / 40)[home.to_numpy()].sum()
    assert total == pytest.approx(expected, rel=2e-3)
