"""Checks across the inputs before any routing: do the roads, facilities and people overlap,
and which points lie too far from every road to be placed (a failed geocode, lon/lat
swapped, GCJ-02 read as WGS84)? Each names the file, the rows and the fix; what is
handled (not refused) is said in a warning.
"""

from __future__ import annotations

from typing import Callable

import geopandas as gpd
import numpy as np

from .errors import InputError
from .network import RoadNetwork
from .points import point_xy


def _check_overlap(network: RoadNetwork, demand: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame,
                   files: Callable[[], dict[str, tuple[str, str]]] | None = None) -> None:
    """Refuse inputs that do not overlap the road network at all (wrong CRS, wrong area).

    ``files()`` maps 'roads', 'population' and 'facilities' to (file name, CRS it was read
    as) for the message (called only when refusing), which names both files of each pair that misses, their CRSs, their
    extents and the distance between them, and does not presume which file is wrong.
    """
    xmin, ymin = network.node_xy.min(axis=0) - 5000
    xmax, ymax = network.node_xy.max(axis=0) + 5000
    missing = []
    for what, gdf in (("population", demand), ("facilities", facilities)):
        x, y = point_xy(gdf)
        inside = (x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax)
        if len(gdf) and not inside.any():
            missing.append((what, gdf))
    if not missing:
        return
    files = files() if files else {}
    extents = {"roads": _lonlat_extent(network.node_xy, network.crs),
               **{what: _lonlat_extent(np.column_stack(point_xy(gdf)), gdf.crs) for what, gdf in missing}}

    def named(what: str) -> str:
        file, crs = files.get(what, (None, None))
        box = extents[what]
        where = f"lon {box[0]:.4f} to {box[2]:.4f}, lat {box[1]:.4f} to {box[3]:.4f}" if np.isfinite(box).all() \
            else "coordinates that are no place on the earth in that CRS: a longitude beyond ±180° or a latitude " \
            "beyond ±90°, e.g. metres labelled as degrees"
        return f"the {what} ({file or 'file'}, read as {crs or 'its CRS'}; {where})"

    parts = []
    for what, _ in missing:
        km = _extent_gap_km(extents["roads"], extents[what])
        parts.append((f"{km:,.0f} km from " if np.isfinite(km) else "apart from ") + named(what))
    together = ""
    if len(missing) == 2 and _extent_gap_km(extents["population"], extents["facilities"]) < 5:
        together = " The population and the facilities overlap each other; the roads lie apart from both."
    raise InputError("the inputs do not overlap (none within 5 km of the road network's extent): "
                     + named("roads") + " lie " + " and ".join(parts) + "." + together
                     + " One of the files of each pair is in the wrong place, "
                     "usually because of a wrong CRS: check each file's CRS (.prj, the GeoPackage's CRS, or the "
                     "crs key of a table's coordinates) and its coordinate columns against where the county lies, "
                     "and that all files cover the same area")


def _lonlat_extent(xy: np.ndarray, crs) -> np.ndarray:
    """(west, south, east, north) of points in ``crs``, WGS84 degrees (NaN where none can be had)."""
    from pyproj import Transformer

    with np.errstate(invalid="ignore"):
        lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xy[:, 0], xy[:, 1])
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any():
        return np.full(4, np.nan)
    return np.array([lon[ok].min(), lat[ok].min(), lon[ok].max(), lat[ok].max()])


def _extent_gap_km(a: np.ndarray, b: np.ndarray) -> float:
    """Geodesic km between the nearest points of two lon/lat boxes (0 where they overlap)."""
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("inf")
    from pyproj import Geod

    def nearest(lo1, hi1, lo2, hi2):  # one coordinate of each box's point nearest the other
        if hi1 < lo2:
            return hi1, lo2
        if hi2 < lo1:
            return lo1, hi2
        common = max(lo1, lo2)
        return common, common

    lon_a, lon_b = nearest(a[0], a[2], b[0], b[2])
    lat_a, lat_b = nearest(a[1], a[3], b[1], b[3])
    return Geod(ellps="WGS84").inv(lon_a, lat_a, lon_b, lat_b)[2] / 1000


def _far_from_network(network: RoadNetwork, gdf: gpd.GeoDataFrame, cap_m: float) -> np.ndarray:
    """Points farther than ``cap_m`` outside the network's bounding box (or not finite).

    No road can be within the snapping cap of them, so they can never be placed; finding
    them before routing keeps one stray point (a failed geocode at 0,0, swapped lon/lat)
    from stretching every grid and search across the globe.
    """
    (xmin, ymin), (xmax, ymax) = network.node_xy.min(axis=0) - cap_m, network.node_xy.max(axis=0) + cap_m
    x, y = point_xy(gdf)
    return ~((x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax))


_FAR_HINT = "Lon/lat swapped? A failed geocode at (0, 0)? A point from another county?"


def _lonlat(gdf: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    wgs = gdf.geometry.to_crs("EPSG:4326")
    return wgs.x.to_numpy(), wgs.y.to_numpy()


def _warn_far_demand(network: RoadNetwork, demand: gpd.GeoDataFrame, cap_m: float, file: str,
                     warnings: list[str]) -> np.ndarray:
    """Name demand points no road can reach, with their coordinates and people; return their mask.

    They stay in the run as unreachable people (never dropped: the totals keep them) but
    are left out of the gap clusters, whose grid would otherwise stretch to them; a far
    outlier is usually a coordinate error the planner must see by row.
    """
    far = _far_from_network(network, demand, cap_m)
    if not far.any():
        return far
    bad = demand[far]
    lon, lat = _lonlat(bad.iloc[:5])
    if {"row", "col"} <= set(bad.columns):  # raster cells
        where = [f"cell row {r}, col {c}" for r, c in zip(bad["row"], bad["col"])]
    else:
        where = [f"row {i} (0-based; line {i + 2} of a CSV)" for i in bad["demand_id"]]
    listed = "; ".join(f"{w} ({q:,.0f} people) at lon {x:.5f}, lat {y:.5f}"
                       for w, q, x, y in zip(where, bad["pop"], lon, lat))
    warnings.append(f"population file {file}: {far.sum():,} demand point(s) holding {bad['pop'].sum():,.0f} people lie "
                    f"farther than {cap_m:,.0f} m outside the road network's extent and are counted as unreachable (and "
                    f"left out of the gap clusters): "
                    f"{listed}{' …' if far.sum() > 5 else ''}. {_FAR_HINT} Correct their coordinates, or extend the "
                    "road network to cover them.")
    return far


def _drop_far_facilities(network: RoadNetwork, facilities: gpd.GeoDataFrame, cap_m: float, file: str,
                         warnings: list[str]) -> gpd.GeoDataFrame:
    """Leave out facilities no road can reach, named in a warning with their coordinates.

    Such a facility could only count as unreachable, so leaving it out changes no verdict;
    the warning (CLI and summary.json) names it so that its coordinates get fixed.
    """
    far = _far_from_network(network, facilities, cap_m)
    if not far.any():
        return facilities
    bad = facilities[far]
    lon, lat = _lonlat(bad.iloc[:10])
    listed = "; ".join(f"row {i} (0-based) {n} (id {fid}) at lon {x:.5f}, lat {y:.5f}"
                       for i, n, fid, x, y in zip(np.flatnonzero(far), bad["name"].astype(str), bad["facility_id"],
                                                  lon, lat))
    n = int(far.sum())
    warnings.append(f"{n} facilit{'y' if n == 1 else 'ies'} of {file} lie{'s' if n == 1 else ''} farther than "
                    f"{cap_m:,.0f} m outside the road network's extent and cannot be reached in any mode; left out of "
                    f"every target: {listed}{' …' if n > 10 else ''}. {_FAR_HINT} "
                    "Fix the coordinates in the facility file.")
    return facilities[~far].reset_index(drop=True)


def _check_gcj02(network: RoadNetwork, facilities: gpd.GeoDataFrame) -> list[str]:
    """Warn when facilities declared WGS84 may be GCJ-02 (Amap/Tencent) coordinates.

    Amap and Tencent coordinates are GCJ-02, shifted 100–700 m from WGS84 inside China;
    given as WGS84 they land beside the roads they stand on. Facilities normally lie within
    a few tens of metres of a road, so a median distance that drops below half when the
    coordinates are un-shifted is the fingerprint of GCJ-02, and one that more than
    doubles says they are WGS84. Where roads are everywhere (a dense town centre) or
    there are too few facilities in China, neither happens: the test cannot decide, and
    the warning says how to check by hand.
    """
    from .coords import gcj02_to_wgs84, out_of_china
    from .snapping import road_index

    wgs = facilities.to_crs("EPSG:4326")
    lon, lat = wgs.geometry.x.to_numpy(), wgs.geometry.y.to_numpy()
    inside = ~out_of_china(lon, lat)
    check = ("check one facility you know on an OpenStreetMap or Tianditu basemap (WGS84) and on Amap: if the "
             "file's position matches Amap and lies a few hundred metres off on OpenStreetMap, the list is GCJ-02. "
             "If it comes from Amap, Tencent or a Chinese map app, set [facilities] crs = \"GCJ-02\" (Baidu: \"BD-09\").")
    if inside.sum() == 0:
        return []
    if inside.sum() < 3:
        return [f"cannot tell whether the facility coordinates are WGS84 as declared or GCJ-02 (Amap/Tencent): only "
                f"{inside.sum()} facilit{'y lies' if inside.sum() == 1 else 'ies lie'} in China, too few to test. {check}"]
    fixed_lon, fixed_lat = gcj02_to_wgs84(lon[inside], lat[inside])
    fixed = gpd.GeoSeries(gpd.points_from_xy(fixed_lon, fixed_lat), crs="EPSG:4326").to_crs(network.crs)
    roads = road_index(network)
    given = facilities.to_crs(network.crs)
    as_given = roads.query(np.column_stack([given.geometry.x, given.geometry.y])[inside])
    as_gcj = roads.query(np.column_stack([fixed.x, fixed.y]))
    given_m, gcj_m = np.median(as_given.distance_m), np.median(as_gcj.distance_m)
    if given_m > 50 and gcj_m < 0.5 * given_m:
        return [f"facility coordinates look like GCJ-02 (Amap/Tencent), not WGS84: their median distance to a road is "
                f"{given_m:,.0f} m as given but {gcj_m:,.0f} m when read as GCJ-02. If they come from Amap, Tencent "
                "or a Chinese map app, set [facilities] crs = \"GCJ-02\" (Baidu: \"BD-09\")."]
    if gcj_m > 50 and given_m < 0.5 * gcj_m:
        return []  # WGS84: on the roads as given, off them once un-shifted
    shift_m = np.median(np.hypot(given.geometry.x.to_numpy()[inside] - fixed.x.to_numpy(),
                                 given.geometry.y.to_numpy()[inside] - fixed.y.to_numpy()))
    return [f"cannot tell whether the facility coordinates are WGS84 as declared or GCJ-02 (Amap/Tencent): roads are "
            f"so dense around them that their median distance to a road is {given_m:,.0f} m as given and "
            f"{gcj_m:,.0f} m when read as GCJ-02 (a shift of about {shift_m:,.0f} m). {check}"]
