"""The demand raster of the web map: demand points resampled onto a Web-Mercator-aligned
pixel grid (:class:`DemandGrid`), so 200k demand cells cost one palette PNG per target, not
200k markers. Split out of :mod:`geoaccess.maplayers` (issue 15)."""

from __future__ import annotations

import math
import struct
import zlib
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
from pyproj import Transformer
from scipy.ndimage import maximum_filter
from scipy.spatial import cKDTree

from .grids import kdtree_workers
from .maplayers import CLASS_COLOURS, UNREACHABLE_COLOUR, _Display, minutes_class

if TYPE_CHECKING:
    from .targets import Target


def _png_palette(index: np.ndarray, palette: list[tuple[int, int, int, int]]) -> bytes:
    """A palette PNG (colour type 3, with transparency) of a 2-D uint8 index array."""
    h, w = index.shape
    raw = np.zeros((h, w + 1), dtype=np.uint8)  # filter byte 0 per row
    raw[:, 1:] = index

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0))
            + chunk(b"PLTE", bytes(c for p in palette for c in p[:3]))
            + chunk(b"tRNS", bytes(p[3] for p in palette))
            # level 6: a tenth of level 9's time for a few kB more per image
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + chunk(b"IEND", b""))


def _hex_rgba(colour: str, alpha: int = 255) -> tuple[int, int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16), alpha


_R = 6378137.0


def _merc(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _R * np.radians(lon), _R * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))


def _unmerc(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.degrees(x / _R), np.degrees(2 * np.arctan(np.exp(y / _R)) - np.pi / 2)


class DemandGrid:
    """Demand points resampled onto a Web-Mercator-aligned pixel grid (nearest point).

    A pixel takes the value of the nearest demand point within 0.75 cell sizes, so gridded
    demand (raster cells) renders as its cells and scattered demand (building points) as
    patches; elsewhere the pixel is transparent. One grid serves every target.

    ``lonlat``: the points' display longitudes and latitudes (degrees) when the caller has
    them (:meth:`_Display.points`), else computed here. ``index`` (height × width): the demand
    row each pixel shows (-1: none); ``pixel``: Web Mercator x of the grid's left edge, y of
    its top edge and the pixel side (metres).
    """

    def __init__(self, demand: gpd.GeoDataFrame, display: _Display, max_pixels: int = 4_000_000,
                 lonlat: tuple[np.ndarray, np.ndarray] | None = None):
        xy = None
        if lonlat is None:
            xy = np.column_stack([demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy()])
            to_ll = Transformer.from_crs(demand.crs, "EPSG:4326", always_xy=True)
            lonlat = display.lonlat(*to_ll.transform(xy[:, 0], xy[:, 1]))
        lon, lat = lonlat
        self.cell_m = _cell_size(demand, xy)
        mx, my = _merc(lon, lat)
        scale = 1.0 / math.cos(math.radians(float(np.mean(lat)) if len(lat) else 0.0))  # ground m -> mercator m
        cell = self.cell_m * scale
        px = cell / 2.0  # two pixels per cell side keeps rotated grids crisp
        x0, x1 = mx.min() - cell, mx.max() + cell
        y0, y1 = my.min() - cell, my.max() + cell
        while (x1 - x0) / px * (y1 - y0) / px > max_pixels:
            px *= 1.25
        self.width, self.height = max(int(math.ceil((x1 - x0) / px)), 1), max(int(math.ceil((y1 - y0) / px)), 1)
        x1, y0 = x0 + self.width * px, y1 - self.height * px
        cx = x0 + (np.arange(self.width) + 0.5) * px
        cy = y1 - (np.arange(self.height) + 0.5) * px
        reach = 0.75 * cell
        # Only pixels within a few pixels of a point can have one within reach: the others
        # (outside the county, a third of the box) would each cost a tree search for nothing.
        k = int(math.ceil(reach / px)) + 1
        occupied = np.zeros((self.height, self.width), dtype=np.uint8)
        occupied[np.clip(((y1 - my) // px).astype(np.int64), 0, self.height - 1),
                 np.clip(((mx - x0) // px).astype(np.int64), 0, self.width - 1)] = 1
        ask = np.flatnonzero(maximum_filter(occupied, size=2 * k + 1, mode="constant"))
        row, col = np.divmod(ask, self.width)
        # Built unbalanced and without shrunk boxes: 3x faster to build and no slower to query here.
        tree = cKDTree(np.column_stack([mx, my]), balanced_tree=False, compact_nodes=False)
        dist, idx = tree.query(np.column_stack([cx[col], cy[row]]), distance_upper_bound=reach,
                               workers=kdtree_workers())
        index = np.full(self.height * self.width, -1, dtype=np.int64)
        index[ask] = np.where(np.isfinite(dist), idx, -1)
        self.index = index.reshape(self.height, self.width)
        self.pixel = (x0, y1, px)  # Web Mercator x of the left edge, y of the top edge, pixel side (m)
        w, s = _unmerc(np.array([x0]), np.array([y0]))
        e, n = _unmerc(np.array([x1]), np.array([y1]))
        self.bounds = [[round(float(s[0]), 7), round(float(w[0]), 7)], [round(float(n[0]), 7), round(float(e[0]), 7)]]

    def png(self, minutes: np.ndarray, target: "Target") -> bytes:
        cls = minutes_class(minutes, target).astype(np.int16) + 1  # 0 = transparent
        img = np.where(self.index >= 0, cls[np.clip(self.index, 0, None)], 0).astype(np.uint8)
        palette = [(0, 0, 0, 0)] + [_hex_rgba(c) for c in CLASS_COLOURS] + [_hex_rgba(UNREACHABLE_COLOUR)]
        return _png_palette(img, palette)


def _cell_size(demand: gpd.GeoDataFrame, xy: np.ndarray | None) -> float:
    """Demand cell size in metres: from ``cell_area_m2`` when given, else the median neighbour
    spacing (of ``xy``, the points' coordinates; None: taken from ``demand``)."""
    if "cell_area_m2" in demand and demand["cell_area_m2"].notna().any():
        size = math.sqrt(float(np.nanmedian(demand["cell_area_m2"].to_numpy(float))))
    elif len(demand) > 1:
        if xy is None:
            xy = np.column_stack([demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy()])
        d, _ = cKDTree(xy).query(xy, k=2)
        size = float(np.median(d[:, 1]))
    else:
        size = 100.0
    return float(min(max(size, 10.0), 2000.0))
