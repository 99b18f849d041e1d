"""Writers of the generated files: OSM XML, GeoPackage, population raster."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from scipy.ndimage import gaussian_filter

from ..io import write_atomic, write_with
from .common import _GPKG_DATE, _deg_sizes


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _fmt7(a: np.ndarray) -> np.ndarray:
    """Fixed 7-decimal strings of a float array (vectorised via integer arithmetic)."""
    q = np.rint(np.asarray(a) * 1e7).astype(np.int64)
    sign = np.where(q < 0, "-", "")
    q = np.abs(q)
    ip = (q // 10_000_000).astype(str)
    fp = np.char.zfill((q % 10_000_000).astype(str), 7)
    return np.char.add(np.char.add(sign, np.char.add(ip, ".")), fp)


def _write_osm(path: Path, lon: np.ndarray, lat: np.ndarray, ways: list[np.ndarray], tags: list[list[Any]]) -> None:
    n = len(lon)
    ids = np.arange(1, n + 1).astype(str)
    la, lo = _fmt7(lat), _fmt7(lon)
    node_lines = np.char.add(np.char.add(np.char.add(np.char.add(
        np.char.add('  <node id="', ids), '" version="1" visible="true" lat="'), la), '" lon="'), lo)
    node_lines = np.char.add(node_lines, '"/>')
    refs = (np.concatenate(ways) + 1).astype(str)
    nd_lines = np.char.add(np.char.add('    <nd ref="', refs), '"/>').tolist()
    parts: list[str] = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<osm version="0.6" generator="geoaccess.synthetic">',
        f'  <bounds minlat="{lat.min():.7f}" minlon="{lon.min():.7f}" maxlat="{lat.max():.7f}" '
        f'maxlon="{lon.max():.7f}"/>',
    ]
    parts.extend(node_lines.tolist())
    pos = 0
    for k, (w, t) in enumerate(zip(ways, tags)):
        parts.append(f'  <way id="{k + 1}" version="1" visible="true">')
        parts.extend(nd_lines[pos:pos + len(w)])
        pos += len(w)
        hw, name, ref, oneway, speed = t
        parts.append(f'    <tag k="highway" v="{hw}"/>')
        if name:
            parts.append(f'    <tag k="name" v="{_esc(name)}"/>')
        if ref:
            parts.append(f'    <tag k="ref" v="{_esc(ref)}"/>')
        if oneway:
            parts.append('    <tag k="oneway" v="yes"/>')
        if speed:
            parts.append(f'    <tag k="maxspeed" v="{speed}"/>')
        parts.append("  </way>")
    parts.append("</osm>\n")
    with write_atomic(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(parts))


def _write_gpkg(path: Path, gdf, layer: str) -> None:
    import pyogrio

    old = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": _GPKG_DATE})
    try:
        write_with(path, lambda p: gdf.to_file(p, driver="GPKG", layer=layer, engine="pyogrio"))
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": old})


def _population_raster(L: dict[str, Any], to_lonlat, center_lonlat, cell_size_m: float,
                       cell_deg: tuple[float, float] | None = None):
    """Population grid (float32, persons per cell), transform and the county mask.

    ``cell_deg`` (degrees of lon, lat) fixes the cell size, so that the grids of
    neighbouring counties share one lattice (cell edges at multiples of the size).
    """
    from affine import Affine
    from rasterio.features import geometry_mask

    county_ll = shapely.transform(L["county"], lambda c: np.stack(to_lonlat(c[:, 0], c[:, 1]), 1))
    m_lon, m_lat = _deg_sizes(center_lonlat[1])
    dx, dy = cell_deg if cell_deg is not None else (cell_size_m / m_lon, cell_size_m / m_lat)
    w, s, e, n = county_ll.bounds
    west = math.floor(w / dx) * dx - dx
    north = math.ceil(n / dy) * dy + dy
    width = int(math.ceil((e - west) / dx)) + 1
    height = int(math.ceil((north - s) / dy)) + 1
    transform = Affine(dx, 0.0, west, 0.0, -dy, north)
    inside = geometry_mask([county_ll], out_shape=(height, width), transform=transform, invert=True)
    # cell centres in local metres (equirectangular about the town is accurate to << a cell here)
    lon0, lat0 = center_lonlat
    cx = (west + (np.arange(width) + 0.5) * dx - lon0) * m_lon
    cy = (north - (np.arange(height) + 0.5) * dy - lat0) * m_lat

    def to_cell(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        col = np.clip(np.floor((xy[:, 0] / m_lon + lon0 - west) / dx).astype(int), 0, width - 1)
        row = np.clip(np.floor((north - (xy[:, 1] / m_lat + lat0)) / dy).astype(int), 0, height - 1)
        return row, col

    def normalise(layer: np.ndarray, total: float) -> np.ndarray:
        layer = np.where(inside, layer, 0.0)
        ssum = layer.sum()
        return layer * (total / ssum) if ssum > 0 else layer

    P = L["total_pop"]
    sh = L["shares"]
    X, Y = np.meshgrid(cx, cy)
    # town: a flat-topped dome over the grid
    d = np.hypot(X - L["town"]["centre"][0], Y - L["town"]["centre"][1]) / L["town"]["radius"]
    pop = normalise(np.exp(-(d ** 4) * 0.9) * (d < 1.6), P * sh["town"])
    seat = np.zeros_like(X)
    for c, r, p in zip(L["seats"], L["seat_r"], L["seat_pop"]):
        dd = np.hypot(X - c[0], Y - c[1]) / max(r, cell_size_m)
        bump = np.exp(-(dd ** 2) * 1.2) * (dd < 2.5)
        if bump.sum() > 0:
            seat += bump / bump.sum() * p
    pop += normalise(seat, P * sh["seats"])
    for pts, vals, sig_m in ((L["villages"], L["vil_pop"], 160.0), (L["hamlets"], L["ham_pop"], 90.0)):
        layer = np.zeros_like(X)
        if len(pts):
            r_, c_ = to_cell(pts)
            np.add.at(layer, (r_, c_), vals)
            layer = gaussian_filter(layer, sigma=max(sig_m / cell_size_m, 0.6), mode="constant")
        key = "villages" if sig_m > 100 else "hamlets"
        pop += normalise(layer, P * sh[key])
    rng = np.random.default_rng(L["seeds"][2])
    bg = rng.gamma(2.0, 1.0, X.shape)
    pop += normalise(bg, P * sh["background"])
    pop = np.where(inside, pop, 0.0).astype(np.float32)
    return pop, transform, county_ll


def _write_raster(path: Path, pop: np.ndarray, transform) -> None:
    import rasterio

    profile = dict(driver="GTiff", height=pop.shape[0], width=pop.shape[1], count=1, dtype="float32",
                   crs="EPSG:4326", transform=transform, nodata=-99999.0, compress="deflate",
                   tiled=False)

    def writer(p: Path) -> None:
        with rasterio.open(p, "w", **profile) as dst:
            dst.write(pop, 1)
            dst.update_tags(AREA_OR_POINT="Area", SOURCE="geoaccess.synthetic", UNITS="persons per cell")

    write_with(path, writer)


