"""Local roads files (.gpkg, .shp, .geojson, …, e.g. from a transport bureau) straight to arrays.

Lines are read with pyogrio and split at shared vertices (junctions) with shapely; the class,
one-way and maxspeed columns go through :mod:`geoaccess.roadclasses` (Chinese administrative
and technical grades built in) and any OSM-style access columns through
:mod:`geoaccess.osmtags`, so a roads file means what the same roads mean in OSM. Whatever
CRS the file is saved in, its vertices are taken to lon/lat and the network is built as
from OSM's lon/lat (geodesic lengths, the UTM zone of the roads), so the answer depends on
where the roads lie, not on the file's CRS.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from .coords import crs_mismatch_hint
from .errors import InputError
from .io import off_the_earth
from .osmtags import NOT_ROADS, TAG_KEYS, interpret_ways
from .roadclasses import find_column, normalise, road_attributes
from .speedlimits import RoadDataWarning
from .roadnet import (RoadNetwork, _dropped_summary, _dropped_text, _network_from_segments, _project,
                      _split_at_nodes, _step_lengths)

if TYPE_CHECKING:  # networkx loads only where a graph is built
    import networkx as nx


def graph_from_lines(lines: gpd.GeoDataFrame, *, class_column: str | None = None, oneway_column: str | None = None,
                     maxspeed_column: str | None = None, classes: dict[str, str] | None = None,
                     design_speed: str = "none", default_highway: str = "unclassified",
                     name: str = "the roads file") -> nx.MultiDiGraph:
    """Road centre lines as an osmnx-style graph (:meth:`RoadNetwork.to_networkx` of
    :func:`network_from_lines`, same parameters and errors).

    Nodes' ``x``/``y`` and edge geometries are in the lines' own CRS (what the user's other
    layers use); ``length`` is geodesic metres on the WGS84 ellipsoid whatever that CRS is,
    as in :func:`network_from_lines` (a projection's scale factor does not enter it).
    """
    if lines.crs is None:
        raise InputError(_no_crs_message(lines, name))
    return network_from_lines(lines, class_column=class_column, oneway_column=oneway_column,
                              maxspeed_column=maxspeed_column, classes=classes, design_speed=design_speed,
                              default_highway=default_highway, name=name).to_networkx(crs=CRS(lines.crs))


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
    Vertices within 1 cm (1e-7 degrees in lon/lat) of the file's CRS are one node.

    The result depends on where the roads lie on the earth, not on the CRS the file was
    saved in: projected vertices are taken to lon/lat (EPSG:4326) once, lengths are
    geodesic on the WGS84 ellipsoid (a projection's scale factor never enters them), and
    the analysis CRS is the UTM zone of the roads unless ``crs`` is given.

    Parameters
    ----------
    lines
        LineStrings (or MultiLineStrings) with a CRS, one row per road.
    crs
        Projected analysis CRS in metres (``[scenario] crs``) for the geometries and
        everything laid on a grid; default: the UTM zone of the network's centre. Lengths
        are geodesic either way.
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
        No CRS, no lines, non-line geometries, vertices the file's CRS cannot take to
        lon/lat, a named column missing, no usable road.

    Warns
    -----
    geoaccess.speedlimits.RoadDataWarning
        Unmapped classes (count, km), no class column, unreadable one-way or maxspeed
        values, rows without a geometry (count and rows; also in ``report["dropped"]``).

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
        raise InputError(_no_crs_message(lines, name))
    lines = lines.reset_index(drop=True)  # the index is now the row in the file (0-based)
    values = lines.geometry.to_numpy()
    no_geometry = shapely.is_missing(values) | shapely.is_empty(values)
    if no_geometry.any():
        lines = lines[~no_geometry]
        if len(lines):
            _warn_no_geometry(np.flatnonzero(no_geometry), name)
    if (lines.geom_type == "MultiLineString").any():  # else nothing to explode (most roads files)
        lines = lines.explode(index_parts=False)
        lines = lines[~shapely.is_empty(lines.geometry.to_numpy())]  # an empty part of a multi-line
    if not lines.geom_type.isin(["LineString"]).all():
        bad = sorted(set(lines.geom_type) - {"LineString"})
        raise InputError(f"{name} must hold lines; found {', '.join(bad)} geometries. Keep only the road "
                         "centre lines in the layer.")
    file_row = lines.index.to_numpy()
    lines = lines.reset_index(drop=True)
    if len(lines) == 0:
        raise InputError(f"{name} holds no lines" + (f" ({int(no_geometry.sum()):,} rows without geometry)"
                                                      if no_geometry.any() else ""))
    source_crs = CRS(lines.crs)
    geoms = lines.geometry.to_numpy()
    coords, line_of = shapely.get_coordinates(geoms, return_index=True)
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
    # From here on the roads are positions on the earth: projected vertices go to lon/lat once,
    # so lengths and the analysis CRS do not depend on the CRS the file was saved in.
    lonlat, lonlat_crs = _to_lonlat(coords, source_crs, file_row, line_of, name)
    # Length of each step to the next vertex of the same line (geodesic metres; 0 at a line's
    # end): summed per line now and per edge after splitting.
    steps = np.zeros(len(coords))
    same = line_of[1:] == line_of[:-1]
    steps[:-1][same] = _step_lengths(lonlat[:-1][same], lonlat[1:][same], lonlat_crs)
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
    report = {"source": name, "ways_read": int(n_lines + no_geometry.sum()),  # the dropped ones too
              "dropped": _dropped_summary(meaning["dropped"].to_numpy(), lengths / 1000)}
    # `geoaccess check` names the rows of each reason (first few, 0-based in file order), not only their count
    report["dropped_rows"] = {reason: _first_rows(np.unique(file_row[meaning["dropped"].to_numpy() == reason]))
                              for reason in report["dropped"]}  # np.unique: a multi-part row is one row
    if no_geometry.any():
        report["dropped"][_NO_GEOMETRY] = {"ways": int(no_geometry.sum()), "km": 0.0}
        report["dropped_rows"][_NO_GEOMETRY] = _first_rows(np.flatnonzero(no_geometry))
    if not keep_line.any():
        raise InputError(f"{name} holds no usable roads: {_dropped_text(report['dropped'])}")
    kept = keep_line[line_of]
    lonlat, line_of, vertex_id, steps = lonlat[kept], line_of[kept], vertex_id[kept], steps[kept]
    if len(lonlat) < 2 or not (line_of[1:] == line_of[:-1]).any():
        raise InputError(f"{name} holds no lines with two distinct points")
    # Junctions: a vertex met more than once among the kept lines' vertices, and every line end.
    counts = np.bincount(vertex_id)
    runs = _split_at_nodes(lonlat, line_of, counts[vertex_id] > 1)
    seg_start, seg_end = runs.start, runs.end
    seg_line = line_of[seg_start]
    seg_attrs = meaning.iloc[seg_line].reset_index(drop=True)
    seg_attrs["osm_way"] = seg_line
    return _network_from_segments(vertex_id[seg_start], vertex_id[seg_end], runs, seg_attrs, lonlat_crs,
                                  crs, report, length=runs.lengths(steps))


def _first_rows(rows: np.ndarray, shown: int = 10) -> dict[str, object]:
    """``report["dropped_rows"]`` of one reason: its first ``shown`` rows and how many there are."""
    return {"rows": rows[:shown].tolist(), "count": int(rows.size)}


def _no_crs_message(lines: gpd.GeoDataFrame, name: str) -> str:
    """A roads file without a CRS: which CRS to set, worded from the numbers it holds."""
    x0, y0, x1, y1 = lines.total_bounds
    if not np.isfinite([x0, y0, x1, y1]).all():
        guess = ""
    elif max(abs(x0), abs(x1)) <= 180 and max(abs(y0), abs(y1)) <= 90:
        guess = " Its coordinates look like lon/lat degrees: EPSG:4326 (WGS84) or EPSG:4490 (CGCS2000)."
    elif x0 >= 1e7 and int(x0 // 1e6) == int(x1 // 1e6) and (13 <= x0 // 1e6 <= 23 or 25 <= x0 // 1e6 <= 45):
        zone = int(x0 // 1e6)  # CGCS2000 GK zones: 6-degree 13-23 = EPSG:4491-4501, 3-degree 25-45 = EPSG:4513-4533
        code, width = (4491 + zone - 13, "") if zone <= 23 else (4513 + zone - 25, "3-degree ")
        guess = (f" Its eastings ({x0:.0f} …) start with the Gauss-Krüger zone number {zone}: that zone's CRS, "
                 f"EPSG:{code} (CGCS2000 / {width}Gauss-Kruger zone {zone}) for CGCS2000 data.")
    else:
        guess = (f" Its coordinates ({x0:.0f}, {y0:.0f} …) are projected metres without a zone number: a UTM "
                 "zone (EPSG:326zz) or a Gauss-Krüger central meridian's CRS (CGCS2000 3-degree: EPSG:4534 for CM "
                 "75E to EPSG:4554 for CM 135E); ask the file's supplier which.")
    return f"{name} has no CRS (a Shapefile without its .prj?); set it in GIS software and try again.{guess}"


#: ``report["dropped"]`` reason of rows that hold no geometry (null or empty).
_NO_GEOMETRY = "no geometry (null or empty)"


def _warn_no_geometry(rows: np.ndarray, name: str) -> None:
    """One :class:`RoadDataWarning` naming the rows (0-based, file order) that hold no geometry."""
    shown = ", ".join(str(int(r)) for r in rows[:10]) + (f" and {len(rows) - 10:,} more" if len(rows) > 10 else "")
    warnings.warn(f"{name}: {len(rows):,} row{'s' if len(rows) > 1 else ''} without a geometry (null or empty; "
                  f"0-based rows in file order: {shown}) left out of the network. Draw their lines or delete the "
                  "rows in GIS software", RoadDataWarning, stacklevel=3)


def _to_lonlat(coords: np.ndarray, crs: CRS, file_row: np.ndarray, line_of: np.ndarray,
               name: str) -> tuple[np.ndarray, CRS]:
    """The vertices as lon/lat (degrees) and their geographic CRS: lon/lat files as they are,
    projected ones taken to EPSG:4326 once (two threads on large files).

    ``file_row[line_of]`` is each vertex's row in the file (0-based), for the message.

    Raises
    ------
    InputError
        Vertices that are no place on the earth in the file's CRS (a longitude beyond
        ±180° or a latitude beyond ±90°, or outside a projection's domain: usually a wrong
        ``.prj``, swapped lon/lat, or metres in a GeoJSON file), naming the rows, the CRS
        and the likely fix (:func:`geoaccess.coords.crs_mismatch_hint`).
    """
    if crs.is_geographic:
        lonlat, lonlat_crs = coords, crs
    else:
        lonlat_crs = CRS("EPSG:4326")
        with np.errstate(invalid="ignore"):
            lonlat = _project(Transformer.from_crs(crs, lonlat_crs, always_xy=True), coords)
    bad = off_the_earth(lonlat[:, 0], lonlat[:, 1])
    if bad.any():
        rows = np.unique(file_row[line_of[bad]])
        x, y = coords[np.flatnonzero(bad)[0]]
        decimals = 6 if crs.is_geographic else 2
        raise InputError(f"{name}: {int(bad.sum()):,} vertices of {len(rows):,} rows (0-based rows in file order: "
                         f"{', '.join(str(int(r)) for r in rows[:10])}{' …' if len(rows) > 10 else ''}; first at "
                         f"x={x:.{decimals}f}, y={y:.{decimals}f}) are no place on the earth in the CRS the file was "
                         f"read as, {crs.to_string()} ({crs.name}). {crs_mismatch_hint(x, y, crs, name)}")
    return lonlat, lonlat_crs


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
