"""A hand-made four-county region for tests/test_region.py (written to a temporary folder).

Counties are 0.02° squares near 106°E 26°N (≈ 2.0 km × 2.0 km): A and B side by side,
D east of B (roads, nobody living there), C farther east (people, no roads). The only
hospital is in B, 0.5 km east of A's border; A has a village clinic. Roads are "primary" streets on a 0.01°/0.006°
grid with a node at every crossing; people are 10 per point on a 0.004° grid inside A, B, C.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

LAT = (26.0, 26.018)
SQUARES = {"A": (106.00, 106.02), "B": (106.02, 106.04), "D": (106.04, 106.06), "C": (106.20, 106.22)}
HOSPITAL = (106.025, 26.009)
CLINIC = (106.005, 26.009)  # in A: A has a facility, but no hospital

REGION = """[region]
name = "test-region"
units = "counties.geojson"
id = "code"
name_column = "name"
{extra}

[network]
source = "roads.gpkg"
class = "highway"

[facilities]
path = "facilities.csv"

[population]
path = "people.csv"
pop = "pop"

[targets]
use = ["hospital_15min"]

[[targets.define]]
id = "hospital_15min"
name_zh = "15分钟到医院"
name_en = "Hospital within 15 min"
facility_types = ["county_hospital"]
mode = "drive"
direction = "to_facility"
threshold_min = 15
population = "all"
metric = "share_within"
goal = 0.9
"""


def people() -> pd.DataFrame:
    """People points: 10 per point, 0.004° apart, away from the borders."""
    rows = []
    for code in ("A", "B", "C"):
        w, e = SQUARES[code]
        for lon in w + 0.002 + 0.004 * np.arange(5):  # 5 × 4 points, none on a border
            for lat in LAT[0] + 0.002 + 0.004 * np.arange(4):
                rows.append((round(lon, 6), round(lat, 6), 10.0))
    return pd.DataFrame(rows, columns=["lon", "lat", "pop"])


def write_region(folder: Path, extra: str = "buffer_km = 3") -> Path:
    """Write the region's files into ``folder``; returns the region TOML path."""
    folder.mkdir(parents=True, exist_ok=True)
    polys = [shapely.box(w, LAT[0], e, LAT[1]) for w, e in SQUARES.values()]
    gpd.GeoDataFrame({"code": list(SQUARES), "name": [f"县{c}" for c in SQUARES]}, geometry=polys,
                     crs="EPSG:4326").to_file(folder / "counties.geojson", driver="GeoJSON")
    xs = np.round(np.arange(106.005, 106.06, 0.01), 6)
    ys = np.round(np.arange(26.003, 26.018, 0.006), 6)
    lines = [shapely.LineString([(x, y) for x in xs]) for y in ys]  # east-west streets through every crossing
    lines += [shapely.LineString([(x, y) for y in ys]) for x in xs]  # north-south streets
    gpd.GeoDataFrame({"highway": ["primary"] * len(lines)}, geometry=lines, crs="EPSG:4326").to_file(
        folder / "roads.gpkg", driver="GPKG")
    pd.DataFrame([{"lon": HOSPITAL[0], "lat": HOSPITAL[1], "type": "county_hospital", "name": "乙县人民医院"},
                  {"lon": CLINIC[0], "lat": CLINIC[1], "type": "village_clinic", "name": "甲村卫生室"}]).to_csv(
        folder / "facilities.csv", index=False)
    people().to_csv(folder / "people.csv", index=False)
    path = folder / "region.toml"
    path.write_text(REGION.format(extra=extra), encoding="utf-8")
    return path
