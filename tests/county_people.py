"""People of a synthetic county as points, for tests that write the same county in several CRSs."""
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio


def people_points(folder: Path) -> gpd.GeoDataFrame:
    """``population.tif`` of ``folder`` as points at its populated cells' centres (EPSG:4326, ``pop``):
    a raster cannot change CRS without resampling, points can."""
    with rasterio.open(folder / "population.tif") as src:
        pop = src.read(1)
        rows, cols = np.nonzero(pop > 0)
        x, y = rasterio.transform.xy(src.transform, rows, cols)
    return gpd.GeoDataFrame({"pop": pop[rows, cols].astype(float)}, geometry=gpd.points_from_xy(x, y),
                            crs="EPSG:4326")
