"""Real-world inputs that used to stop a run without a useful word or give a silent answer:
OSM files (overlong tags, a file whose name lies about its format, only nodes, ways
running off the extract), scenario files (typo'd keys, Windows paths, a BOM), and
what the outputs say about homes no facility reaches.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from pyproj import Transformer

from geoaccess.cli import main

UTM = "EPSG:32650"
X0, Y0 = 500_000.0, 3_650_000.0
LONLAT = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)


def _osm_xml(ways: list[tuple[int, list[tuple[float, float]], dict[str, str]]]) -> str:
    """OSM XML of ``ways``: (way id, [(x, y) metres in UTM 50N], tags); node ids numbered in order."""
    nodes, lines = [], []
    for way_id, xy, tags in ways:
        refs = []
        for x, y in xy:
            nodes.append(LONLAT.transform(X0 + x, Y0 + y))
            refs.append(len(nodes))
        lines += [f"<way id='{way_id}' version='1'>", *[f"<nd ref='{r}'/>" for r in refs],
                  *[f"<tag k='{k}' v='{v}'/>" for k, v in tags.items()], "</way>"]
    head = [f"<node id='{i + 1}' version='1' lat='{lat:.9f}' lon='{lon:.9f}'/>" for i, (lon, lat) in enumerate(nodes)]
    return "\n".join(["<?xml version='1.0' encoding='UTF-8'?>", "<osm version='0.6' generator='test'>",
                      *head, *lines, "</osm>"])


def _hand_county(folder: Path) -> Path:
    """Two roads 20 km apart and not joined: the county hospital on the first, one village on
    each. The second village is unreachable by construction."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "roads.osm").write_text(_osm_xml([(1, [(0, 0), (3000, 0)], {"highway": "primary"}),
                                                (2, [(0, 20_000), (3000, 20_000)], {"highway": "primary"})]),
                                      encoding="utf-8")
    lon, lat = LONLAT.transform(X0 + 1000, Y0)
    pd.DataFrame({"id": ["T1"], "name": ["县人民医院"], "type": ["county_hospital"], "lon": [lon], "lat": [lat]}
                 ).to_csv(folder / "facilities.csv", index=False)
    homes = [LONLAT.transform(X0 + 500, Y0 + 50), LONLAT.transform(X0 + 1500, Y0 + 20_050)]
    pd.DataFrame({"lon": [h[0] for h in homes], "lat": [h[1] for h in homes], "pop": [10, 20]}
                 ).to_csv(folder / "population.csv", index=False)
    (folder / "scenario.toml").write_text(f"""
[scenario]
name = "hand"
crs = "{UTM}"
[network]
source = "roads.osm"
[facilities]
path = "facilities.csv"
x = "lon"
y = "lat"
type = "type"
name = "name"
id = "id"
crs = "EPSG:4326"
[population]
path = "population.csv"
x = "lon"
y = "lat"
pop = "pop"
crs = "EPSG:4326"
[targets]
use = ["health_circle_30min"]
""", encoding="utf-8")
    return folder / "scenario.toml"


def test_an_unreachable_home_is_null_in_minutes_facility_and_name_in_every_output(tmp_path):
    scenario = _hand_county(tmp_path / "in")
    assert main(["run", str(scenario), "--out", str(tmp_path / "out")]) == 0
    times = gpd.read_file(tmp_path / "out" / "demand_times.gpkg").sort_values("pop")
    cols = ["health_circle_30min_min", "health_circle_30min_facility", "health_circle_30min_facility_name"]
    near, far = times.iloc[0], times.iloc[1]
    assert near["pop"] == 10 and far["pop"] == 20
    # by hand: 500 m along a primary road at 60 km/h × 0.85 plus the legs: under a minute
    assert 0 < near[cols[0]] < 2 and near[cols[1]] == "T1" and near[cols[2]] == "县人民医院"
    assert times[cols].iloc[1].isna().all(), far[cols].tolist()  # all three null: IS NULL finds it in each
    import sqlite3

    with sqlite3.connect(tmp_path / "out" / "demand_times.gpkg") as db:
        assert db.execute(f"SELECT count(*) FROM demand_times WHERE {cols[1]} IS NULL AND {cols[2]} IS NULL "
                          f"AND {cols[0]} IS NULL").fetchone() == (1,)
        assert db.execute(f"SELECT count(*) FROM demand_times WHERE {cols[1]} = ''").fetchone() == (0,)
    # gaps.csv / gaps.geojson: the unreachable village's gap names no facility either
    with open(tmp_path / "out" / "gaps.csv", encoding="utf-8-sig", newline="") as fh:
        gaps = list(csv.DictReader(fh))
    assert [(g["pop"], g["nearest_facility"], g["nearest_facility_name"]) for g in gaps] == [("20", "", "")]
    feature = json.loads((tmp_path / "out" / "gaps.geojson").read_text(encoding="utf-8"))["features"][0]
    assert feature["properties"]["nearest_facility"] is None and feature["properties"]["nearest_facility_name"] is None
