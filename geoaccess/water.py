"""Mapped water that off-network legs may not cross: :class:`WaterIndex` (lakes and river
areas cut into tiles, coastlines into pieces, in an STRtree). :func:`geoaccess.snapping.avoid_water`
moves the points whose leg to the road would cross it.
"""

from __future__ import annotations

import numpy as np
import shapely


class WaterIndex:
    """Mapped water that off-network legs may not cross (build once, query often).

    Parameters
    ----------
    water
        Polygons (lakes, river areas) and lines (coastlines), projected (metres).

    Notes
    -----
    A leg crosses a water area when it runs through its inside (touching the shore, as a
    road drawn along a riverbank does, is not crossing); a point lying inside a water area
    itself (a pier, a houseboat, a loose outline) ignores that area. Coastlines are lines
    with the sea on one side: a leg crossing them twice or more goes out to sea and back
    (island to mainland) and is wet; a leg crossing once starts at sea (a population cell
    centre or a geocode just offshore) and comes ashore, which is allowed.
    """

    def __init__(self, water: np.ndarray):
        water = np.asarray(water, dtype=object)
        water = water[~shapely.is_empty(water)]
        lines = np.isin(shapely.get_type_id(water), (1, 2, 5))
        # Long rivers and coasts are cut into small pieces, so a leg is tested against the
        # few hundred vertices near it, not the whole river.
        coast = _cut_lines(water[lines])
        self.areas = shapely.make_valid(water[~lines])
        tiles, self.tile_area = _tile_areas(self.areas)
        self.water = np.concatenate([coast, tiles])
        self.lines = np.r_[np.ones(len(coast), dtype=bool), np.zeros(len(tiles), dtype=bool)]
        self.area_of = np.r_[np.full(len(coast), -1), self.tile_area]
        shapely.prepare(self.water)
        shapely.prepare(self.areas)
        self.tree = shapely.STRtree(self.water)

    def crosses(self, start_xy: np.ndarray, end_xy: np.ndarray) -> np.ndarray:
        """Whether each straight leg ``start → end`` (``(n, 2)`` metres each) crosses water."""
        out = np.zeros(len(start_xy), dtype=bool)
        if len(start_xy) == 0 or len(self.water) == 0:
            return out
        legs = shapely.linestrings(np.stack([start_xy, end_xy], axis=1))
        leg, w = self.tree.query(legs, predicate="intersects")
        if len(leg) == 0:
            return out
        geoms, line = self.water[w], self.lines[w]
        area = np.flatnonzero(~line)
        hit = shapely.relate_pattern(legs[leg[area]], geoms[area], "T********")
        # A point inside a water area ignores the whole area (all its tiles).
        inside = shapely.contains(self.areas[self.area_of[w[area[hit]]]], shapely.points(start_xy[leg[area[hit]]]))
        out[leg[area[hit]][~inside]] = True
        coast = np.flatnonzero(line)
        # Crossing points per leg, each counted once (a leg through the joint of two pieces
        # meets both there).
        xy, which = shapely.get_coordinates(shapely.intersection(legs[leg[coast]], geoms[coast]), return_index=True)
        if len(xy):
            points = np.unique(np.c_[leg[coast][which], np.round(xy * 1000)], axis=0)
            out |= np.bincount(points[:, 0].astype(np.int64), minlength=len(out)) >= 2
        return out


_PIECE_VERTICES = 64  # coastline pieces and area tiles hold about this many vertices


def _cut_lines(lines: np.ndarray) -> np.ndarray:
    """Lines cut into consecutive pieces of at most ``_PIECE_VERTICES`` vertices (sharing ends)."""
    if len(lines) == 0:
        return np.empty(0, dtype=object)
    parts = shapely.get_parts(lines)
    coords, which = shapely.get_coordinates(parts, return_index=True)
    start = np.r_[0, np.flatnonzero(np.diff(which)) + 1]
    pos = np.arange(len(which)) - np.repeat(start, np.diff(np.r_[start, len(which)]))
    step = _PIECE_VERTICES - 1
    piece = pos // step
    # A vertex at a cut ends one piece and starts the next: repeat it.
    cut = (pos % step == 0) & (pos > 0)
    rows = np.r_[np.arange(len(which)), np.flatnonzero(cut)]
    piece_of = np.r_[piece, piece[cut] - 1]
    key = which[rows] * (piece.max() + 2) + piece_of
    order = np.lexsort((rows, key))
    rows, key = rows[order], key[order]
    _, piece_id = np.unique(key, return_inverse=True)
    keep = np.bincount(piece_id) >= 2
    ok = keep[piece_id]
    return shapely.linestrings(coords[rows[ok]], indices=np.unique(piece_id[ok], return_inverse=True)[1])


def _tile_areas(areas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Water areas cut along a square grid into polygon tiles of about ``_PIECE_VERTICES``
    vertices each (small areas stay whole), and the area index of each tile."""
    if len(areas) == 0:
        return np.empty(0, dtype=object), np.zeros(0, dtype=np.int64)
    n = shapely.get_num_coordinates(areas)
    small = np.flatnonzero(n <= 4 * _PIECE_VERTICES)
    out, owner = [areas[small]], [small]
    for i in np.flatnonzero(n > 4 * _PIECE_VERTICES):
        area, count = areas[i], n[i]
        x0, y0, x1, y1 = shapely.bounds(area)
        # Vertices spread along the outline: cells of side ~ extent / (count / piece).
        cells = max(2, int(np.ceil(np.sqrt(count / _PIECE_VERTICES) * 2)))
        size = max(x1 - x0, y1 - y0) / cells
        gx, gy = np.meshgrid(np.arange(x0, x1, size), np.arange(y0, y1, size))
        boxes = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + size, gy.ravel() + size)
        shapely.prepare(area)
        boxes = boxes[shapely.intersects(area, boxes)]
        tiles = shapely.intersection(area, boxes)
        out.append(tiles)
        owner.append(np.full(len(tiles), i))
    parts, which = shapely.get_parts(np.concatenate(out), return_index=True)
    # Only the polygons: a tile's cut may leave slivers of line along the grid.
    poly = np.isin(shapely.get_type_id(parts), (3, 6)) & (shapely.area(parts) > 0)
    return parts[poly], np.concatenate(owner)[which[poly]]
