"""Snapping points (homes, facilities) to the nearest point on a road edge.

Points snap to the nearest position *on an edge*, not to the nearest node: a house in
the middle of a long rural road is reached along that road, not from whichever junction
happens to be closest. Uses one shapely STRtree query for all points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from .errors import InputError


@dataclass(frozen=True)
class Snapped:
    """Where each point meets the road network.

    Attributes
    ----------
    edge : numpy.ndarray
        Index of the physical edge each point snaps to (into ``RoadNetwork.edges``).
    fraction : numpy.ndarray
        Position along that edge from its ``u`` end (0) to its ``v`` end (1).
    distance_m : numpy.ndarray
        Straight-line distance from the point to its snapped position, metres.
    """

    edge: np.ndarray
    fraction: np.ndarray
    distance_m: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)


def snap_points(edge_geoms: np.ndarray, points_xy: np.ndarray, eligible: np.ndarray | None = None,
                search_radius_m: float | None = None) -> Snapped:
    """Snap points to the nearest position on the eligible edges.

    Parameters
    ----------
    edge_geoms
        LineStrings of the physical edges, in a projected CRS (metres).
    points_xy
        ``(n, 2)`` point coordinates in the same CRS.
    eligible
        Boolean mask over edges that points may snap to (e.g. roads the travel mode
        can use, in the main connected parts of the network); default all.
    search_radius_m
        Search this far first (fast, bounded); points with no road that close are
        searched again without bound, so their distance is still reported.

    Returns
    -------
    Snapped
        Edge index, fraction along it and distance in metres for every point.
    """
    points_xy = np.asarray(points_xy, dtype=float).reshape(-1, 2)
    if not np.isfinite(points_xy).all():
        bad = np.flatnonzero(~np.isfinite(points_xy).all(axis=1))
        raise InputError(f"{len(bad)} point(s) have NaN or infinite coordinates (rows {bad[:10].tolist()}); "
                         "drop or fix them before snapping")
    candidates = np.flatnonzero(np.ones(len(edge_geoms), dtype=bool) if eligible is None else eligible)
    if len(candidates) == 0:
        raise InputError("no road of this travel mode to snap to: the network has no usable edges for it")
    tree = shapely.STRtree(edge_geoms[candidates])
    points = shapely.points(points_xy)
    edge = np.full(len(points), -1, dtype=np.int64)
    dist = np.full(len(points), np.inf)
    todo = np.arange(len(points))
    for radius in ([search_radius_m] if search_radius_m else []) + [None]:
        # all_matches=False: each point once, the first of equally near edges.
        (found, tree_idx), distance = tree.query_nearest(points[todo], max_distance=radius, return_distance=True,
                                                         all_matches=False)
        edge[todo[found]] = candidates[tree_idx]
        dist[todo[found]] = distance
        todo = np.flatnonzero(edge < 0)
        if len(todo) == 0:
            break
    fraction = shapely.line_locate_point(edge_geoms[edge], points, normalized=True)
    # Zero-length edges give NaN; their position is their start.
    fraction = np.clip(np.nan_to_num(fraction, nan=0.0), 0.0, 1.0)
    return Snapped(edge=edge, fraction=fraction, distance_m=dist)
