"""Local roads files (.gpkg, .shp, .geojson, …, e.g. from a transport bureau) straight to arrays.

Lines are read with pyogrio and split at shared vertices (junctions) with shapely; the class,
one-way and maxspeed columns go through :mod:`geoaccess.roadclasses` (Chinese administrative
and technical grades built in) and any OSM-style access columns through
:mod:`geoaccess.osmtags`, so a roads file means what the same roads mean in OSM.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from .errors import InputError
from .osmtags import NOT_ROADS, TAG_KEYS, interpret_ways
from .roadclasses import find_column, normalise, road_attributes
from .speedlimits import RoadDataWarning
from .roadnet import (RoadNetwork, _dropped_summary, _dropped_text, _network_from_segments, _split_at_nodes,
                      _step_lengths)

if TYPE_CHECKING:  # networkx loads only where a graph is built
    import networkx as nx


def graph_from_lines(lines: gpd.GeoDataFrame, *, class_column: str | None = None, oneway_column: str | None = None,
                     maxspeed_column: str | None = None, classes: dict[str, str] | None = None,
                     design_speed: str = "none", default_highway: str = "unclassified",
                     name: str = "the roads file") -> nx.MultiDiGraph:
    """Road centre lines as an osmnx-style graph in the lines' CRS (:meth:`RoadNetwork.to_networkx`
    of :func:`network_from_lines`, same parameters and errors)."""
    if lines.crs is None:
        raise InputError(f"{name} has no CRS; set it in GIS software (e.g. EPSG:4326) and try again")
    # Projected lines stay in their own CRS (lengths unchanged); lon/lat lines get a UTM zone.
    own = CRS(lines.crs)
    return network_from_lines(lines, crs=own if own.is_projected else None, class_column=class_column,
                              oneway_column=oneway_column, maxspeed_column=maxspeed_column, classes=classes,
                              design_speed=design_speed, default_highway=default_highway,
                              name=name).to_networkx(crs=own)


#: OSM tag columns a roads file may carry beside class/oneway/maxspeed, read like OSM tags.
_LINE_TAG_KEYS = tuple(k for k in TAG_KEYS if k not in ("highway", "oneway", "maxspeed"))


_FLAG_WORDS = {"是": "yes", "否": "no", "t": "yes", "f": "no", "y": "yes", "n": "no"}


def network_from_lines(lines: gpd.GeoDataFrame, crs: str | CRS | None = None, *, class_column: str | None = None,
                       oneway_column: str | None = None, maxspeed_column: str | None = None,
                       classes: dict[str, str] | None = None, design_speed: str = "none",
                       default_highway: str = "unclassified", name: str = "the roads file") -> RoadNetwork:
    """Build a :class:`RoadNetwork` from road centre lines (a GIS roads layer), vectorised.

    Lines are split where they share a vertex with another line (or meet one of their own
    vertices again: a junction) and at their ends, by the same splitter as OSM ways;
    lines that cross without a shared vertex (bridges, underpasses) stay unconnected.
    Vertices within 1 cm (1e-7 degrees in lon/lat) are one node.

    Parameters
    ----------
    lines
        LineStrings (or MultiLineStrings) with a CRS, one row per road.
    crs
        Projected analysis CRS in metres; default: the UTM zone of the network's centre.
    class_column, oneway_column, maxspeed_column
        Column names (``[network] class/oneway/maxspeed``); None means
        ``highway``/``oneway``/``maxspeed`` where present. Read by
        :func:`geoaccess.roadclasses.road_attributes`: Chinese administrative and
        technical grades, English names and OSM ``highway`` values map to OSM classes.
    classes
        Extra value → OSM class mapping (``[network.classes]``), normalised keys.
    design_speed
        ``"none"``, ``"lowest"`` or ``"highest"``: design speed (km/h) of technical
        grades as the limit of rows without a maxspeed.
    default_highway
        Class of unmapped values, or of all lines without a class column.
    name
        Names the file in messages.

    Returns
    -------
    RoadNetwork
        One edge per piece of line between junctions; ``osm_way`` holds the row of the
        line in ``lines`` (after exploding multi-lines).

    Raises
    ------
    InputError
        No CRS, no lines, non-line geometries, a named column missing, no usable road.

    Warns
    -----
    geoaccess.speedlimits.RoadDataWarning
        Unmapped classes (count, km), no class column, unreadable one-way or maxspeed values.

    Notes
    -----
    Columns named like the OSM keys ``access``, ``vehicle``, ``motor_vehicle``,
    ``motorcar``, ``foot``, ``emergency``, ``area``, ``junction``, ``bridge`` and
    ``tunnel`` are read by :func:`geoaccess.osmtags.interpret_ways`, as from OSM. One-way
    is implied where the one-way value is empty on ``junction=roundabout|circular`` and on
    lines whose class value is the OSM word ``motorway``; not on 高速公路 or other grades
    mapped to motorway: a roads file draws an expressway as one centre line for both
    directions.
    """
    if lines.crs is None:
        raise InputError(f"{name} has no CRS; set it in GIS software (e.g. EPSG:4326) and try again")
    if (lines.geom_type == "MultiLineString").any():  # else nothing to explode (most roads files)
        lines = lines.explode(index_parts=False, ignore_index=True)
    lines = lines[lines.geometry.notna() & ~lines.geometry.is_empty]
    if not lines.geom_type.isin(["LineString"]).all():
        bad = sorted(set(lines.geom_type) - {"LineString"})
        raise InputError(f"{name} must hold lines; found {', '.join(bad)} geometries. Keep only the road "
                         "centre lines in the layer.")
    lines = lines.reset_index(drop=True)
    if len(lines) == 0:
        raise InputError(f"{name} holds no lines")
    source_crs = CRS(lines.crs)
    geoms = lines.geometry.to_numpy()
    coords, line_of = shapely.get_coordinates(geoms, return_index=True)
    _warn_outside_area_of_use(coords, source_crs, name)
    # Vertices coinciding to 1 cm (or 1e-7 degrees) are one node.
    scale = 1e7 if source_crs.is_geographic else 100.0
    grid = np.round(coords * scale).astype(np.int64)
    grid -= grid.min(axis=0)
    span = int(grid[:, 1].max()) + 1
    if grid[:, 0].max() < np.iinfo(np.int64).max // span:  # one int64 key per vertex: a fast 1-D unique
        _, vertex_id = np.unique(grid[:, 0] * span + grid[:, 1], return_inverse=True)
    else:
        _, vertex_id = np.unique(grid, axis=0, return_inverse=True)
    vertex_id = vertex_id.ravel()
    # A vertex repeated in place (a digitising stutter) is no junction: keep its first copy.
    keep = np.r_[True, (vertex_id[1:] != vertex_id[:-1]) | (line_of[1:] != line_of[:-1])]
    coords, line_of, vertex_id = coords[keep], line_of[keep], vertex_id[keep]
    n_lines = len(geoms)
    # Length of each step to the next vertex of the same line (metres; 0 at a line's end):
    # summed per line now and per edge after splitting.
    steps = np.zeros(len(coords))
    same = line_of[1:] == line_of[:-1]
    steps[:-1][same] = _step_lengths(coords[:-1][same], coords[1:][same], source_crs)
    lengths = np.bincount(line_of, weights=steps, minlength=n_lines)
    # OSM's words for what is not a road (construction, proposed …) are dropped as from OSM,
    # unless the scenario maps them to a class.
    not_roads = {k: default_highway for k in NOT_ROADS if k not in (classes or {})}
    attrs = road_attributes(lines, lengths, class_column=class_column, oneway_column=oneway_column,
                            maxspeed_column=maxspeed_column, classes={**not_roads, **(classes or {})},
                            design_speed=design_speed, default_highway=default_highway, name=name)
    meaning = _line_meaning(lines, attrs, class_column, oneway_column)
    cls_col = find_column(lines, class_column or "highway")
    if cls_col is not None:
        dropped = meaning["dropped"].to_numpy()
        not_road = normalise(lines[cls_col]).isin(list(not_roads)).to_numpy() & (dropped == "")
        dropped[not_road] = "not built or not for traffic"
        meaning["dropped"] = dropped
    keep_line = meaning["dropped"].to_numpy() == ""
    report = {"source": name, "ways_read": int(n_lines),
              "dropped": _dropped_summary(meaning["dropped"].to_numpy(), lengths / 1000)}
    if not keep_line.any():
        raise InputError(f"{name} holds no usable roads: {_dropped_text(report['dropped'])}")
    kept = keep_line[line_of]
    coords, line_of, vertex_id, steps = coords[kept], line_of[kept], vertex_id[kept], steps[kept]
    if len(coords) < 2 or not (line_of[1:] == line_of[:-1]).any():
        raise InputError(f"{name} holds no lines with two distinct points")
    # Junctions: a vertex met more than once among the kept lines' vertices, and every line end.
    counts = np.bincount(vertex_id)
    runs = _split_at_nodes(coords, line_of, counts[vertex_id] > 1)
    seg_start, seg_end = runs.start, runs.end
    seg_line = line_of[seg_start]
    seg_attrs = meaning.iloc[seg_line].reset_index(drop=True)
    seg_attrs["osm_way"] = seg_line
    return _network_from_segments(vertex_id[seg_start], vertex_id[seg_end], runs, seg_attrs, source_crs,
                                  crs, report, length=runs.lengths(steps))


def _warn_outside_area_of_use(coords: np.ndarray, crs: CRS, name: str, max_scale_error: float = 0.005) -> None:
    """Warn (:class:`RoadDataWarning`) when a projected file's roads lie beyond its CRS's area
    of use and the projection stretches lengths there by more than ``max_scale_error`` (0.5 %;
    checked at the corners of the roads' extent): lengths and distances are measured in that
    CRS (a CGCS2000 3° zone used 100° away from its meridian changed the answer)."""
    area = crs.area_of_use
    if not crs.is_projected or area is None or area.west > area.east:  # none given, or across 180°
        return
    from pyproj import Proj, Transformer

    (x0, y0), (x1, y1) = coords.min(axis=0), coords.max(axis=0)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform([x0, x1, x0, x1], [y0, y0, y1, y1])
    lon, lat = np.asarray(lon), np.asarray(lat)
    if (np.isfinite(lon).all() and lon.min() >= area.west and lon.max() <= area.east and lat.min() >= area.south
            and lat.max() <= area.north):
        return
    with np.errstate(all="ignore"):
        factors = Proj(crs).get_factors(lon, lat, errcheck=False)
        scale = np.abs(np.r_[factors.meridional_scale, factors.parallel_scale] - 1.0)
        error = np.nanmax(scale) if np.isfinite(scale).any() else np.nan
    if not error <= max_scale_error:  # NaN (no factors there) counts as too much
        stretch = f"by about {error:.1%}" if np.isfinite(error) else "beyond measure"
        warnings.warn(f"{name}: its roads ({np.nanmin(lon):.2f}–{np.nanmax(lon):.2f}°E, {np.nanmin(lat):.2f}–"
                      f"{np.nanmax(lat):.2f}°N) lie outside the area of use of its CRS {crs.name} "
                      f"({area.west:.1f}–{area.east:.1f}°E, {area.south:.1f}–{area.north:.1f}°N), where it stretches "
                      f"lengths {stretch}. Check the file's CRS (a wrong .prj?) or save it in EPSG:4326",
                      RoadDataWarning, stacklevel=3)


def _line_meaning(lines: gpd.GeoDataFrame, attrs: pd.DataFrame, class_column: str | None,
                  oneway_column: str | None) -> pd.DataFrame:
    """:func:`interpret_ways` columns per line: class, one-way and maxspeed from the roads
    file's own vocabulary (``attrs``), access and the other OSM keys from same-named columns."""
    tags = pd.DataFrame({"highway": attrs["highway"].to_numpy(dtype=object)}, index=lines.index)
    for key in _LINE_TAG_KEYS:
        # a Shapefile's field names stop at 10 characters: GDAL writes motor_vehicle as motor_vehi
        col = find_column(lines, key) or (find_column(lines, key[:10]) if len(key) > 10 else None)
        if col is not None and col != lines.geometry.name:
            # GIS tables write flags as 1/0 (1.0 in a column with gaps), T/F or 是/否.
            tags[key] = normalise(lines[col]).replace(_FLAG_WORDS).to_numpy(dtype=object)
    meaning = interpret_ways(tags)
    forward, backward = attrs["forward_only"].to_numpy(), attrs["backward_only"].to_numpy()
    one_col = find_column(lines, oneway_column or "oneway")
    untagged = (normalise(lines[one_col]).to_numpy() == "") if one_col is not None else np.ones(len(lines), bool)
    cls_col = find_column(lines, class_column or "highway")
    osm_motorway = ((normalise(lines[cls_col]).to_numpy() == "motorway") if cls_col is not None
                    else np.zeros(len(lines), bool))
    implied = untagged & ((meaning["oneway"].to_numpy() == 1) & ((meaning["highway"].to_numpy() != "motorway")
                                                                  | osm_motorway))
    meaning["oneway"] = np.select([forward, backward, implied], [1, -1, 1], 0).astype(np.int8)
    meaning["maxspeed_kmh"] = attrs["maxspeed_kmh"].to_numpy(dtype=float)
    return meaning
