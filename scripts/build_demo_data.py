"""Build the Monaco demo data in data/demo/ from the OpenStreetMap extract.

    python scripts/build_demo_data.py [--source /path/to/monaco.osm.pbf]

Writes data/demo/monaco.osm.pbf (a copy of the source, if given), facilities.csv
(health facilities from OSM) and population.tif (residents estimated from residential
buildings on a 100 m grid, scaled to Monaco's population). Prints the totals.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import rasterio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geoaccess.demand import buildings_from_osm, population_raster_from_buildings  # noqa: E402
from geoaccess.facilities import facilities_from_osm  # noqa: E402
from geoaccess.io import write_with  # noqa: E402

DEMO = ROOT / "data" / "demo"
# Monaco's resident population (IMSEE census, about 38,000); the building estimate is
# scaled to it because Monaco's untyped buildings are largely hotels and offices.
MONACO_POPULATION = 38_000
FACILITY_COLUMNS = ["lon", "lat", "type", "name", "osm_id", "osm_type", "emergency", "facility_id", "kind"]


def _raster_sum(path: Path) -> float:
    with rasterio.open(path) as src:
        return float(src.read(1, masked=True).astype("float64").sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, help="monaco.osm.pbf to copy into data/demo/ first")
    args = parser.parse_args()
    pbf = DEMO / "monaco.osm.pbf"
    if args.source is not None:
        write_with(pbf, lambda tmp: shutil.copyfile(args.source, tmp))

    facilities = facilities_from_osm(pbf)
    write_with(DEMO / "facilities.csv",
               lambda tmp: facilities[FACILITY_COLUMNS].to_csv(tmp, index=False, encoding="utf-8"))
    print(f"facilities: {len(facilities)}; by kind: {facilities['kind'].value_counts().to_dict()};"
          f" emergency=yes: {int(facilities['emergency'].sum())}")

    buildings = buildings_from_osm(pbf)
    raw = population_raster_from_buildings(buildings, DEMO / "population_unscaled.tif")
    raw_total = _raster_sum(raw)
    raw.unlink()
    out = population_raster_from_buildings(buildings, DEMO / "population.tif", total_population=MONACO_POPULATION)
    with rasterio.open(out) as src:
        band = src.read(1, masked=True)
        print(f"buildings: {len(buildings)}; estimate with default parameters: {raw_total:,.0f} persons;"
              f" population.tif scaled to {band.astype('float64').sum():,.0f} persons,"
              f" {src.width} x {src.height} cells of {src.res[0]:.0f} m, {int((band > 0).sum())} populated, {src.crs}")


if __name__ == "__main__":
    main()
