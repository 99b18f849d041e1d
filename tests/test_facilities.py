from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from geoaccess.coords import wgs84_to_bd09, wgs84_to_gcj02
from geoaccess.errors import InputError
from geoaccess.facilities import (
    facilities_from_file,
    facilities_from_osm,
    kind_from_type,
    load_facility_types,
)
from geoaccess.io import read_vector

ROOT = Path(__file__).resolve().parents[1]
MONACO = ROOT / "data" / "demo" / "monaco.osm.pbf"

# pandas 3 gives text columns the "str" dtype; io._has_mojibake only inspects dtype
# object columns, so a GBK shapefile without .cpg comes back as Latin-1 mojibake.
WGS = np.array([(106.7130, 26.5783), (106.6300, 26.6470), (106.7500, 26.5000)])  # Guiyang area
ROWS = {
    "name": ["县人民医院", "城关镇卫生院", "和平村卫生室"],
    "type": ["县级医院", " 卫生院 ", "村卫生室"],
    "beds": [300, 40, None],
    "code": ["001", "002", "003"],
    "town": ["城关镇", "城关镇", "和平乡"],
}


def _frame(lonlat=WGS, **extra):
    df = pd.DataFrame({"lon": lonlat[:, 0], "lat": lonlat[:, 1], **ROWS})
    for k, v in extra.items():
        df[k] = v
    return df


def test_vocabulary_loaded():
    types = load_facility_types()
    assert "township_health_centre" in types
    assert types["pharmacy"]["medical_point"] is False
    assert "卫生院" in types["township_health_centre"]["aliases"]


def test_kind_from_type_aliases_case_and_whitespace():
    raw = pd.Series(["卫生院", "  Hospital ", "VILLAGE_CLINIC", "centre", "doctors", "120", "牙科", None], index=list("abcdefgh"))
    kinds = kind_from_type(raw)
    assert kinds.index.tolist() == list("abcdefgh")
    assert kinds.tolist() == ["township_health_centre", "hospital", "village_clinic", "community_health_centre",
                              "doctors", "ems_station", "other", "other"]


def test_csv_utf8_bom(tmp_path):
    path = tmp_path / "f.csv"
    _frame().to_csv(path, index=False, encoding="utf-8-sig")
    gdf = facilities_from_file(path, capacity="beds")
    assert gdf.crs.to_epsg() == 4326
    assert gdf.columns[:7].tolist() == ["facility_id", "name", "type", "kind", "capacity", "lon", "lat"]
    assert gdf["facility_id"].tolist() == ["F0001", "F0002", "F0003"]
    assert gdf["kind"].tolist() == ["county_hospital", "township_health_centre", "village_clinic"]
    assert gdf["type"].tolist()[1] == " 卫生院 "  # raw value kept
    np.testing.assert_array_equal(gdf["capacity"].to_numpy(), [300.0, 40.0, np.nan])
    np.testing.assert_allclose(np.c_[gdf.geometry.x, gdf.geometry.y], WGS)
    assert {"town", "code"} <= set(gdf.columns) and "beds" not in gdf.columns


def test_csv_gbk_and_id_column_keeps_leading_zeros(tmp_path):
    path = tmp_path / "f.csv"
    _frame().to_csv(path, index=False, encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        path.read_text(encoding="utf-8")
    gdf = facilities_from_file(path, id="code")
    assert gdf["name"].tolist() == ROWS["name"]
    assert gdf["town"].tolist() == ROWS["town"]
    assert gdf["facility_id"].tolist() == ["001", "002", "003"]
    assert gdf["capacity"].isna().all()


def test_xlsx_sheet_and_chinese_headers(tmp_path):
    path = tmp_path / "f.xlsx"
    df = _frame().rename(columns={"lon": "经度", "lat": "纬度", "name": "名称", "type": "类型"})
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        pd.DataFrame({"note": ["cover sheet"]}).to_excel(xw, sheet_name="说明", index=False)
        df.to_excel(xw, sheet_name="机构", index=False)
    gdf = facilities_from_file(path, x="经度", y="纬度", type="类型", name="名称", sheet="机构")
    assert gdf["name"].tolist() == ROWS["name"]
    assert gdf["kind"].tolist()[0] == "county_hospital"
    with pytest.raises(InputError, match=r"has no sheet 'Sheet9'; its sheets are '说明', '机构'"):
        facilities_from_file(path, sheet="Sheet9")


def test_gcj02_and_bd09_input_shifted_to_wgs84(tmp_path):
    gcj = np.c_[wgs84_to_gcj02(WGS[:, 0], WGS[:, 1])]
    bd = np.c_[wgs84_to_bd09(WGS[:, 0], WGS[:, 1])]
    for name, coords, crs in (("gcj", gcj, "GCJ-02"), ("bd", bd, "baidu")):
        path = tmp_path / f"{name}.csv"
        _frame(coords).to_csv(path, index=False)
        gdf = facilities_from_file(path, crs=crs)
        assert np.abs(gdf.geometry.x.to_numpy() - WGS[:, 0]).max() < 1e-7
        assert np.abs(gdf.geometry.y.to_numpy() - WGS[:, 1]).max() < 1e-7
        assert np.abs(gdf["lon"].to_numpy() - WGS[:, 0]).max() < 1e-7
    # The raw GCJ-02 values are hundreds of metres off.
    assert np.abs(gcj - WGS).max() > 1e-3


def test_projected_input(tmp_path):
    pts = gpd.GeoSeries(gpd.points_from_xy(WGS[:, 0], WGS[:, 1]), crs=4326).to_crs("EPSG:4545")  # CGCS2000 GK CM 105E
    df = _frame(np.c_[pts.x, pts.y])
    df.to_csv(tmp_path / "p.csv", index=False)
    gdf = facilities_from_file(tmp_path / "p.csv", crs="EPSG:4545")
    np.testing.assert_allclose(np.c_[gdf.geometry.x, gdf.geometry.y], WGS, atol=1e-9)
    with pytest.raises(InputError, match=r"set crs = 'EPSG:xxxx' for projected coordinates"):
        facilities_from_file(tmp_path / "p.csv")


def test_geojson_polygons_become_representative_points(tmp_path):
    polys = [box(x - 0.001, y - 0.001, x + 0.001, y + 0.001) for x, y in WGS]
    gdf_in = gpd.GeoDataFrame(ROWS, geometry=polys, crs=4326)
    gdf_in.to_file(tmp_path / "f.geojson")
    gdf = facilities_from_file(tmp_path / "f.geojson", x="ignored", y="ignored")
    assert (gdf.geom_type == "Point").all()
    assert gdf.geometry.within(gpd.GeoSeries(polys, crs=4326)).all()
    assert gdf["name"].tolist() == ROWS["name"]


def test_gpkg_in_projected_crs_reprojected(tmp_path):
    gdf_in = gpd.GeoDataFrame(ROWS, geometry=gpd.points_from_xy(WGS[:, 0], WGS[:, 1]), crs=4326).to_crs(32648)
    gdf_in.to_file(tmp_path / "f.gpkg", layer="clinics")
    gdf = facilities_from_file(tmp_path / "f.gpkg", layer="clinics")
    np.testing.assert_allclose(np.c_[gdf.geometry.x, gdf.geometry.y], WGS, atol=1e-9)


def test_gcj02_geojson_labelled_4326_is_shifted(tmp_path):
    gcj = np.c_[wgs84_to_gcj02(WGS[:, 0], WGS[:, 1])]
    gpd.GeoDataFrame(ROWS, geometry=gpd.points_from_xy(gcj[:, 0], gcj[:, 1]), crs=4326).to_file(tmp_path / "a.geojson")
    gdf = facilities_from_file(tmp_path / "a.geojson", crs="GCJ-02")
    assert np.abs(gdf.geometry.x.to_numpy() - WGS[:, 0]).max() < 1e-7


def _gbk_shapefile(tmp_path) -> Path:
    path = tmp_path / "gbk.shp"
    gdf = gpd.GeoDataFrame({"名称": ROWS["name"], "类型": ROWS["type"]},
                           geometry=gpd.points_from_xy(WGS[:, 0], WGS[:, 1]), crs=4326)
    gdf.to_file(path, engine="pyogrio", encoding="GBK")
    path.with_suffix(".cpg").unlink(missing_ok=True)
    assert "县人民医院".encode("gbk") in path.with_suffix(".dbf").read_bytes()
    return path


def test_gbk_shapefile_with_explicit_encoding(tmp_path):
    gdf = facilities_from_file(_gbk_shapefile(tmp_path), type="类型", name="名称", encoding="GBK")
    assert gdf["name"].tolist() == ROWS["name"]
    assert gdf["kind"].tolist() == ["county_hospital", "township_health_centre", "village_clinic"]


def test_gbk_shapefile_without_cpg_read_vector(tmp_path):
    gdf = read_vector(_gbk_shapefile(tmp_path))
    assert gdf["名称"].tolist() == ROWS["name"]


def test_gbk_shapefile_without_cpg_facilities(tmp_path):
    gdf = facilities_from_file(_gbk_shapefile(tmp_path), type="类型", name="名称")
    assert gdf["name"].tolist() == ROWS["name"]


# --- errors -------------------------------------------------------------------------

def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(InputError, match="facility file not found"):
        facilities_from_file(tmp_path / "nope.csv")
    (tmp_path / "f.xls").write_bytes(b"x")
    with pytest.raises(InputError, match=r"unknown file type: f.xls; accepted types are .csv, .xlsx"):
        facilities_from_file(tmp_path / "f.xls")


def test_empty_table(tmp_path):
    (tmp_path / "f.csv").write_text("lon,lat,type,name\n", encoding="utf-8")
    with pytest.raises(InputError, match="facility file has no rows"):
        facilities_from_file(tmp_path / "f.csv")


@pytest.mark.parametrize("param, column", [("x", "lng"), ("y", "latitude"), ("type", "kind_of"), ("name", "名称"),
                                           ("capacity", "beds_total"), ("id", "uid")])
def test_missing_columns(tmp_path, param, column):
    _frame().to_csv(tmp_path / "f.csv", index=False)
    with pytest.raises(InputError, match=rf"no column '{column}'; set the '{param}' parameter.*"
                                         r"Available columns: 'lon', 'lat', 'name', 'type', 'beds', 'code', 'town'"):
        facilities_from_file(tmp_path / "f.csv", **{param: column})


def test_nan_coordinates_listed(tmp_path):
    df = _frame().astype({"lon": object})
    df.loc[1, "lat"] = np.nan
    df.loc[2, "lon"] = "n/a"
    df.to_csv(tmp_path / "f.csv", index=False)
    with pytest.raises(InputError, match=r"missing or non-numeric coordinates in rows .* 1, 2;"):
        facilities_from_file(tmp_path / "f.csv")


def test_out_of_range_coordinates(tmp_path):
    df = _frame()
    df.loc[0, "lat"] = 126.7
    df.to_csv(tmp_path / "f.csv", index=False)
    with pytest.raises(InputError, match=r"outside longitude .* rows .* 0;"):
        facilities_from_file(tmp_path / "f.csv")


def test_duplicate_and_empty_ids(tmp_path):
    df = _frame()
    df["code"] = ["001", "002", "001"]
    df.to_csv(tmp_path / "f.csv", index=False)
    with pytest.raises(InputError, match=r"duplicate ids in column 'code': '001'"):
        facilities_from_file(tmp_path / "f.csv", id="code")
    df["code"] = ["001", "", "003"]
    df.to_csv(tmp_path / "f.csv", index=False)
    with pytest.raises(InputError, match=r"empty ids in column 'code', rows 1"):
        facilities_from_file(tmp_path / "f.csv", id="code")


def test_bad_capacity(tmp_path):
    df = _frame()
    df["beds"] = ["10", "-5", "many"]
    df.to_csv(tmp_path / "f.csv", index=False)
    with pytest.raises(InputError, match=r"capacity column 'beds', rows 1, 2"):
        facilities_from_file(tmp_path / "f.csv", capacity="beds")


def test_unknown_crs(tmp_path):
    _frame().to_csv(tmp_path / "f.csv", index=False)
    with pytest.raises(InputError, match=r"unknown crs 'mars'.*'GCJ-02'"):
        facilities_from_file(tmp_path / "f.csv", crs="mars")


def test_vector_missing_geometry(tmp_path):
    gdf_in = gpd.GeoDataFrame(ROWS, geometry=[Point(106.7, 26.5), None, Point(106.8, 26.6)], crs=4326)
    gdf_in.to_file(tmp_path / "f.gpkg")
    with pytest.raises(InputError, match=r"missing or empty geometries in rows 1"):
        facilities_from_file(tmp_path / "f.gpkg")


# --- OpenStreetMap ------------------------------------------------------------------

@pytest.fixture(scope="module")
def monaco():
    return facilities_from_osm(MONACO)


def test_osm_counts_and_columns(monaco):
    import pyrosm

    assert monaco.crs.to_epsg() == 4326
    assert (monaco.geom_type == "Point").all()
    for col in ("facility_id", "name", "type", "kind", "capacity", "lon", "lat", "osm_id", "osm_type", "emergency"):
        assert col in monaco.columns
    assert monaco["facility_id"].is_unique
    # Independent count: raw pyrosm features with the accepted tags, minus the 2 duplicates.
    raw = pyrosm.OSM(str(MONACO)).get_pois(custom_filter={"amenity": True, "healthcare": True})
    accepted = raw["amenity"].isin(["hospital", "clinic", "doctors", "pharmacy"]) | \
        raw["healthcare"].isin(["hospital", "clinic", "doctor", "centre", "pharmacy"])
    assert len(monaco) == accepted.sum() - 2
    assert monaco["kind"].value_counts().to_dict() == {"pharmacy": 11, "hospital": 7, "doctors": 2}
    assert set(monaco["type"]) <= {"hospital", "clinic", "doctors", "centre", "pharmacy"}
    assert "laboratory" not in set(monaco["healthcare"].dropna())


def test_osm_points_inside_monaco(monaco):
    assert monaco["lon"].between(7.40, 7.44).all() and monaco["lat"].between(43.72, 43.76).all()
    np.testing.assert_array_equal(monaco["lon"], monaco.geometry.x)


def test_osm_duplicates_merged_and_emergency(monaco):
    ids = set(monaco["facility_id"])
    # Node "Centre Cardio Thoracique" lies inside way "Centre Cardio Thoracique de Monaco".
    assert "node/7822502058" not in ids and "way/94252399" in ids
    # Unnamed pharmacy node inside the unnamed pharmacy multipolygon.
    assert "node/954714337" not in ids and "relation/11546879" in ids
    cct = monaco.set_index("facility_id").loc["way/94252399"]
    assert cct["emergency"] is True or cct["emergency"] == np.True_
    assert monaco["emergency"].dtype == bool
    assert monaco["emergency"].sum() == 1  # emergency=no on two nodes must not count
    # Polygons became a point inside themselves.
    assert monaco.loc[monaco["osm_type"] == "way"].geometry.notna().all()


def test_osm_centre_maps_to_community_health_centre():
    assert kind_from_type(pd.Series(["centre"])).iloc[0] == "community_health_centre"


def test_osm_bad_file(tmp_path):
    with pytest.raises(InputError, match="OSM file not found"):
        facilities_from_osm(tmp_path / "x.osm.pbf")
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(b"not a pbf at all")
    with pytest.raises(InputError, match="could not read OSM file"):
        facilities_from_osm(bad)
