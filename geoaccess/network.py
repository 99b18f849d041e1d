"""Road networks: loading, travel speeds per mode, and the physical edge table.

A :class:`RoadNetwork` holds the road graph twice: as the networkx ``MultiDiGraph`` a user
knows from osmnx (for structure and interoperability), and as a table of *physical*
edges in a projected CRS (metres) — one row per road segment with its geometry, its
class, its length and whether it is one-way. The two directions of a two-way road, which
osmnx stores as two directed edges, are one physical edge here, so a point snapped to the
road sits on both directions at once. Per travel mode, :func:`edge_seconds` turns the
table into forward and backward travel seconds (``inf`` where a direction is closed).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from ._paths import data_path
from .coords import utm_crs_for
from .errors import InputError, check_choice, check_positive
from . import speedlimits
from .io import VECTOR_SUFFIXES, check_input_file, read_vector
from .roadclasses import road_attributes

MODES = ("walk", "drive", "ambulance")
NETWORK_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.xml", ".xml", ".graphml") + VECTOR_SUFFIXES


@dataclass(frozen=True)
class ModeSpeeds:
    """Speeds of one travel mode (km/h per OSM highway class) and its access leg."""

    kmh: dict[str, float]
    congestion: dict[str, float] = field(default_factory=dict)
    respect_oneway: bool = True
    use_maxspeed: bool = True
    maxspeed_factor: float = 1.0
    access_kmh: float = 5.0
    access_max_m: float = 1000.0


def load_speeds(overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, ModeSpeeds]:
    """Speeds per mode from ``data/speeds.toml``, with optional per-mode overrides.

    ``overrides`` maps a mode to the keys to replace, e.g.
    ``{"drive": {"kmh": {"primary": 70}, "access_kmh": 10}}``; ``kmh`` and
    ``congestion`` tables are merged class by class.
    """
    with open(data_path("speeds.toml"), "rb") as fh:
        table = tomllib.load(fh)
    for mode, values in (overrides or {}).items():
        check_choice("speed override mode", mode, MODES)
        if not isinstance(values, dict):
            raise InputError(f"speed overrides for {mode!r} must be a table, got {values!r}")
        allowed = set(ModeSpeeds.__dataclass_fields__)
        for key, value in values.items():
            if key not in allowed:
                raise InputError(f"unknown speed setting {mode}.{key}; allowed: {', '.join(sorted(allowed))}")
            if key in ("kmh", "congestion"):
                table[mode].setdefault(key, {}).update(value)
            else:
                table[mode][key] = value
    speeds = {}
    for mode in MODES:
        spec = ModeSpeeds(**table[mode])
        for cls, kmh in spec.kmh.items():
            check_positive(f"{mode}.kmh.{cls} (km/h)", kmh)
        for cls, factor in spec.congestion.items():
            check_positive(f"{mode}.congestion.{cls}", factor)
        check_positive(f"{mode}.access_kmh", spec.access_kmh)
        check_positive(f"{mode}.maxspeed_factor", spec.maxspeed_factor)
        if spec.access_max_m < 0:
            raise InputError(f"{mode}.access_max_m must be >= 0 metres, got {spec.access_max_m}")
        speeds[mode] = spec
    return speeds


@dataclass
class RoadNetwork:
    """A road graph and its physical edges in a projected CRS (metres).

    Attributes
    ----------
    graph : networkx.MultiDiGraph
        The graph as loaded (osmnx conventions, node ``x``/``y`` in ``graph.graph["crs"]``).
    crs : pyproj.CRS
        Projected CRS of ``node_xy`` and ``edges`` (metres).
    node_ids : numpy.ndarray
        Graph node id of each node index ``0..n-1``.
    node_xy : numpy.ndarray
        ``(n, 2)`` projected node coordinates in metres.
    edges : geopandas.GeoDataFrame
        Physical edges: ``u``, ``v`` (node indices), ``highway``, ``maxspeed_kmh``
        (NaN where untagged), ``oneway`` (open only from u to v for vehicles),
        ``length_m`` and a LineString ``geometry`` running from u to v.
    """

    graph: nx.MultiDiGraph
    crs: CRS
    node_ids: np.ndarray
    node_xy: np.ndarray
    edges: gpd.GeoDataFrame

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def n_edges(self) -> int:
        return len(self.edges)


def graph_from_file(path: str | Path) -> nx.MultiDiGraph:
    """Read a road graph from an OSM PBF, OSM XML, GraphML or roads vector file.

    ``.osm.pbf`` is read with pyrosm (all ways with a ``highway`` tag); ``.osm``/``.xml``
    with ``osmnx.graph_from_xml`` and ``.graphml`` with ``osmnx.load_graphml``; vector
    line files (GeoPackage, Shapefile, GeoJSON) with :func:`graph_from_lines`.
    Disconnected parts are kept: they are reported, not silently dropped.
    """
    p = check_input_file(path, "road network", NETWORK_SUFFIXES)
    name = p.name.lower()
    try:
        if name.endswith(".pbf"):
            return _graph_from_pbf(p)
        if name.endswith((".osm", ".xml")):
            import osmnx as ox

            graph = ox.graph_from_xml(p, bidirectional=False, simplify=False, retain_all=True)
            # Merge chains of degree-2 nodes, but never across a change of road class or
            # speed limit (osmnx would otherwise keep only a list of both), and keep rings.
            return ox.simplify_graph(graph, edge_attrs_differ=["highway", "maxspeed", "oneway"], remove_rings=False)
        if name.endswith(".graphml"):
            import osmnx as ox

            return ox.load_graphml(p)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"could not read road network {p.name}: {type(exc).__name__}: {exc}") from None
    return graph_from_lines(read_vector(p, "road network"))


def _graph_from_pbf(path: Path) -> nx.MultiDiGraph:
    from pyrosm import OSM

    nodes, edges = OSM(str(path)).get_network(network_type="all", nodes=True)
    if edges is None or len(edges) == 0:
        raise InputError(f"{path.name} holds no roads (no ways with a highway tag)")
    # pyrosm's own to_graph makes every way two-way for network_type="all"; build the
    # directed graph here so one-way streets stay one-way (OSM rules: oneway=yes/-1,
    # roundabouts and motorways are one-way unless tagged oneway=no).
    oneway = edges["oneway"].astype(str).str.lower().to_numpy()
    junction = edges["junction"].astype(str).str.lower().to_numpy() if "junction" in edges else np.full(len(edges), "")
    highway = edges["highway"].astype(str).to_numpy()
    implied = np.isin(junction, ["roundabout", "circular"]) | (highway == "motorway")
    forward_only = np.isin(oneway, ["yes", "true", "1"]) | (implied & ~np.isin(oneway, ["no", "false", "0", "-1"]))
    backward_only = np.isin(oneway, ["-1", "reverse"])
    graph = nx.MultiDiGraph(crs="EPSG:4326")
    graph.add_nodes_from((int(i), {"x": float(x), "y": float(y)})
                         for i, x, y in zip(nodes["id"], nodes["lon"], nodes["lat"]))
    u, v = edges["u"].to_numpy(np.int64), edges["v"].to_numpy(np.int64)
    geoms = edges.geometry.to_numpy()
    length = edges["length"].to_numpy(float)
    maxspeed = edges["maxspeed"].to_numpy() if "maxspeed" in edges else np.full(len(edges), None)
    osmid = edges["id"].to_numpy()

    def attrs(i: int, is_oneway: bool, reverse: bool) -> dict[str, Any]:
        data = {"osmid": int(osmid[i]), "highway": highway[i], "oneway": is_oneway, "reversed": reverse,
                "length": float(length[i]), "geometry": shapely.reverse(geoms[i]) if reverse else geoms[i]}
        if maxspeed[i] is not None and not pd.isna(maxspeed[i]):
            data["maxspeed"] = str(maxspeed[i])
        return data

    fwd = np.flatnonzero(~backward_only)
    bwd = np.flatnonzero(~forward_only)
    graph.add_edges_from((int(u[i]), int(v[i]), attrs(i, bool(forward_only[i]), False)) for i in fwd)
    graph.add_edges_from((int(v[i]), int(u[i]), attrs(i, bool(backward_only[i]), True)) for i in bwd)
    graph.remove_nodes_from([n for n, deg in graph.degree() if deg == 0])
    return graph


def graph_from_place(place: str, network_type: str = "all") -> nx.MultiDiGraph:
    """Download the road graph of a named place from OpenStreetMap (needs internet)."""
    import osmnx as ox

    try:
        return ox.graph_from_place(place, network_type=network_type, retain_all=True)
    except Exception as exc:
        raise InputError(f"could not download roads for place {place!r}: {exc}. Offline? Use a local file "
                         "as [network] source instead.") from None


def graph_from_bbox(bbox: tuple[float, float, float, float], network_type: str = "all") -> nx.MultiDiGraph:
    """Download the road graph inside ``(west, south, east, north)`` degrees (needs internet)."""
    import osmnx as ox

    west, south, east, north = map(float, bbox)
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InputError(f"bbox must be (west, south, east, north) in degrees with west < east, south < north; got {bbox}")
    try:
        return ox.graph_from_bbox((west, south, east, north), network_type=network_type, retain_all=True)
    except Exception as exc:
        raise InputError(f"could not download roads for bbox {bbox}: {exc}. Offline? Use a local file.") from None


def graph_from_lines(lines: gpd.GeoDataFrame, *, class_column: str | None = None, oneway_column: str | None = None,
                     maxspeed_column: str | None = None, classes: dict[str, str] | None = None,
                     design_speed: str = "none", default_highway: str = "unclassified",
                     name: str = "the roads file") -> nx.MultiDiGraph:
    """Build a road graph from road centre lines (a GIS roads layer).

    Lines are split where they share a vertex with another line (a junction) and at
    their ends; lines that cross without a shared vertex (bridges, underpasses) stay
    unconnected. Class, one-way and speed-limit columns are read by
    :func:`geoaccess.roadclasses.road_attributes`: Chinese administrative and technical
    grades, English names and OSM ``highway`` values map to OSM classes.

    Parameters
    ----------
    lines
        LineStrings (or MultiLineStrings) with a CRS.
    class_column, oneway_column, maxspeed_column
        Column names (``[network] class/oneway/maxspeed``); None means
        ``highway``/``oneway``/``maxspeed`` where present.
    classes
        Extra value → OSM class mapping (``[network.classes]``), normalised keys.
    design_speed
        ``"none"``, ``"lowest"`` or ``"highest"``: design speed (km/h) of technical
        grades as the limit of rows without a maxspeed.
    default_highway
        Class of unmapped values, or of all lines without a class column.
    name
        Names the file in messages.

    Raises
    ------
    InputError
        No CRS, no lines, non-line geometries, a named column missing.

    Warns
    -----
    geoaccess.speedlimits.RoadDataWarning
        Unmapped classes (count, km), no class column, unreadable one-way or maxspeed values.
    """
    if lines.crs is None:
        raise InputError("the roads file has no CRS; set it in GIS software (e.g. EPSG:4326) and try again")
    lines = lines.explode(index_parts=False, ignore_index=True)
    lines = lines[lines.geometry.notna() & ~lines.geometry.is_empty]
    if not lines.geom_type.isin(["LineString"]).all():
        bad = sorted(set(lines.geom_type) - {"LineString"})
        raise InputError(f"the roads file must hold lines; found {', '.join(bad)} geometries")
    if len(lines) == 0:
        raise InputError("the roads file holds no lines")
    geoms = lines.geometry.to_numpy()
    coords, line_of = shapely.get_coordinates(geoms, return_index=True)
    # Vertices coinciding to 1 cm (or 1e-7 degrees) are one node.
    scale = 1e7 if CRS(lines.crs).is_geographic else 100.0
    key = np.round(coords * scale).astype(np.int64)
    _, vertex_id = np.unique(key, axis=0, return_inverse=True)
    vertex_id = vertex_id.ravel()
    n_lines = len(geoms)
    starts = np.searchsorted(line_of, np.arange(n_lines))
    ends = np.r_[starts[1:], len(line_of)] - 1
    pairs = np.unique(np.c_[vertex_id, line_of], axis=0)
    lines_per_vertex = np.bincount(pairs[:, 0], minlength=vertex_id.max() + 1)
    is_node = lines_per_vertex[vertex_id] > 1
    is_node[starts] = True
    is_node[ends] = True
    node_pos = np.flatnonzero(is_node)
    # Each consecutive pair of node vertices within one line is one edge.
    same_line = line_of[node_pos[:-1]] == line_of[node_pos[1:]]
    seg_start, seg_end = node_pos[:-1][same_line], node_pos[1:][same_line]
    counts = seg_end - seg_start + 1
    vert_idx = np.repeat(seg_start, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
    seg_geoms = shapely.linestrings(coords[vert_idx], indices=np.repeat(np.arange(len(seg_start)), counts))
    seg_line = line_of[seg_start]
    u, v = vertex_id[seg_start], vertex_id[seg_end]
    crs = CRS(lines.crs)
    lengths = _lengths_m(seg_geoms, crs)
    attrs = road_attributes(lines, np.bincount(seg_line, weights=lengths, minlength=n_lines),
                            class_column=class_column, oneway_column=oneway_column, maxspeed_column=maxspeed_column,
                            classes=classes, design_speed=design_speed, default_highway=default_highway, name=name)
    forward_only = attrs["forward_only"].to_numpy()[seg_line]
    backward_only = attrs["backward_only"].to_numpy()[seg_line]
    seg_highway = attrs["highway"].to_numpy()[seg_line]
    limit = attrs["maxspeed_kmh"].to_numpy()
    # osmnx keeps maxspeed as text; km/h numbers read back through parse_maxspeed.
    distinct, which = np.unique(limit, return_inverse=True)
    text = np.array([f"{kmh:g}" if np.isfinite(kmh) else None for kmh in distinct], dtype=object)
    seg_maxspeed = text[which.ravel()][seg_line]
    reversed_geoms = shapely.reverse(seg_geoms)

    graph = nx.MultiDiGraph(crs=crs.to_string())
    node_coords = np.zeros((vertex_id.max() + 1, 2))
    node_coords[vertex_id] = coords
    used = np.unique(np.r_[u, v])
    graph.add_nodes_from((int(n), {"x": float(node_coords[n, 0]), "y": float(node_coords[n, 1])}) for n in used)

    def data(i: int, reverse: bool) -> dict:
        d = {"highway": seg_highway[i], "length": float(lengths[i]), "reversed": reverse,
             "oneway": bool(backward_only[i] if reverse else forward_only[i]),
             "geometry": reversed_geoms[i] if reverse else seg_geoms[i]}
        if seg_maxspeed[i] is not None:
            d["maxspeed"] = seg_maxspeed[i]
        return d

    graph.add_edges_from((int(u[i]), int(v[i]), data(i, False)) for i in np.flatnonzero(~backward_only))
    graph.add_edges_from((int(v[i]), int(u[i]), data(i, True)) for i in np.flatnonzero(~forward_only))
    return graph


def _lengths_m(geoms: np.ndarray, crs: CRS) -> np.ndarray:
    """Line lengths in metres: geodesic on the WGS84 ellipsoid for lon/lat, planar otherwise."""
    if not crs.is_geographic:
        return shapely.length(geoms)
    from pyproj import Geod

    coords, which = shapely.get_coordinates(geoms, return_index=True)
    same = which[1:] == which[:-1]
    _, _, step = Geod(ellps="WGS84").inv(coords[:-1, 0][same], coords[:-1, 1][same],
                                         coords[1:, 0][same], coords[1:, 1][same])
    return np.bincount(which[1:][same], weights=step, minlength=len(geoms))


def network_from_file(path: str | Path, crs: str | CRS | None = None, *, class_column: str | None = None,
                      oneway_column: str | None = None, maxspeed_column: str | None = None,
                      classes: dict[str, str] | None = None, design_speed: str = "none") -> RoadNetwork:
    """Load a road network file and build its :class:`RoadNetwork` (see :func:`graph_from_file`).

    The column options (see :func:`graph_from_lines`) apply to roads vector files only
    (.gpkg, .shp, .geojson, …); OSM files carry ``highway`` tags.

    Raises
    ------
    InputError
        A column option given for an OSM or GraphML file, or any error of :func:`graph_from_file`.
    """
    options = {"class_column": class_column, "oneway_column": oneway_column, "maxspeed_column": maxspeed_column,
               "classes": classes or None, "design_speed": None if design_speed == "none" else design_speed}
    given = {k: v for k, v in options.items() if v is not None}
    if not given:
        return network_from_graph(graph_from_file(path), crs=crs)
    p = check_input_file(path, "road network", NETWORK_SUFFIXES)
    if not p.name.lower().endswith(VECTOR_SUFFIXES):
        keys = {"class_column": "class", "oneway_column": "oneway", "maxspeed_column": "maxspeed",
                "classes": "classes", "design_speed": "design_speed"}
        raise InputError(f"[network] {', '.join(keys[k] for k in given)} appl{'ies' if len(given) == 1 else 'y'} to "
                         f"roads files ({', '.join(VECTOR_SUFFIXES)}); {p.name} is OSM data whose highway, oneway "
                         "and maxspeed tags are read as they are. Remove the key(s) from [network].")
    graph = graph_from_lines(read_vector(p, "road network"), name=p.name, **given)
    return network_from_graph(graph, crs=crs)


def network_from_graph(graph: nx.MultiDiGraph, crs: str | CRS | None = None) -> RoadNetwork:
    """Build a :class:`RoadNetwork` from an osmnx-style ``MultiDiGraph``.

    Parameters
    ----------
    graph
        Nodes with ``x``/``y``, edges with ``highway`` and optionally ``length`` (metres),
        ``maxspeed``, ``oneway`` and ``geometry``; ``graph.graph["crs"]`` names the CRS of
        ``x``/``y`` (EPSG:4326 assumed when absent and the values look like degrees).
    crs
        Projected analysis CRS in metres; default: the UTM zone of the network's centre.
    """
    if graph.number_of_edges() == 0:
        raise InputError("the road network has no edges; check the file or the area you asked for")
    node_ids = np.array(list(graph.nodes), dtype=object)
    index_of = {n: i for i, n in enumerate(node_ids)}
    try:
        xy = np.array([(d["x"], d["y"]) for _, d in graph.nodes(data=True)], dtype=float)
    except KeyError:
        raise InputError("every node of the road graph needs 'x' and 'y' attributes (osmnx convention)") from None
    if not np.isfinite(xy).all():
        raise InputError("some road nodes have NaN or infinite coordinates")
    source_crs = graph.graph.get("crs")
    if source_crs is None:
        if np.abs(xy[:, 0]).max() <= 180 and np.abs(xy[:, 1]).max() <= 90:
            source_crs = "EPSG:4326"
        else:
            raise InputError("the road graph has no CRS (graph.graph['crs']) and its coordinates are not degrees; "
                             "set graph.graph['crs'] to the EPSG code of its coordinates")
    source_crs = CRS(source_crs)
    target_crs = CRS(crs) if crs is not None else _auto_crs(xy, source_crs)
    if target_crs.is_geographic:
        raise InputError(f"the analysis CRS must be projected (metres), got {target_crs.to_string()} in degrees; "
                         "leave it unset for an automatic UTM zone")
    to_target = Transformer.from_crs(source_crs, target_crs, always_xy=True)
    node_xy = np.column_stack(to_target.transform(xy[:, 0], xy[:, 1]))

    rows = list(graph.edges(keys=True, data=True))
    u = np.fromiter((index_of[r[0]] for r in rows), dtype=np.int64, count=len(rows))
    v = np.fromiter((index_of[r[1]] for r in rows), dtype=np.int64, count=len(rows))
    highway = np.array([_first(r[3].get("highway", "unclassified")) for r in rows], dtype=object)
    maxspeed = np.array([parse_maxspeed(r[3].get("maxspeed")) for r in rows], dtype=float)
    oneway = np.array([_truthy(r[3].get("oneway", False)) for r in rows], dtype=bool)
    geoms = np.array([r[3].get("geometry") for r in rows], dtype=object)
    missing = np.array([g is None for g in geoms])
    if missing.any():
        geoms[missing] = shapely.linestrings(
            np.stack([xy[u[missing]], xy[v[missing]]], axis=1))
    geoms = shapely.transform(geoms, lambda c: np.column_stack(to_target.transform(c[:, 0], c[:, 1])))
    length = shapely.length(geoms)

    # One physical edge per road segment: u->v and its twin v->u (same end nodes, same
    # length to the centimetre) merge into one two-way edge.
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    length_key = np.round(length * 100).astype(np.int64)
    order = np.lexsort((np.arange(len(u)), length_key, hi, lo))
    key = np.c_[lo, hi, length_key][order]
    new_group = np.r_[True, (key[1:] != key[:-1]).any(axis=1)]
    group = np.cumsum(new_group) - 1
    first = order[new_group]
    canon_u, canon_v = u[first], v[first]
    along = u[order] == canon_u[group]  # edge runs in the canonical direction
    has_fwd = np.zeros(len(first), dtype=bool)
    has_bwd = np.zeros(len(first), dtype=bool)
    np.logical_or.at(has_fwd, group[along], True)
    np.logical_or.at(has_bwd, group[~along], True)
    # A self-loop's twin looks canonical too; it is two-way if graph said so.
    loops = canon_u == canon_v
    has_bwd[loops] = ~oneway[first[loops]]
    edges = gpd.GeoDataFrame(
        {
            "u": canon_u,
            "v": canon_v,
            "highway": highway[first],
            "maxspeed_kmh": maxspeed[first],
            "oneway": has_fwd & ~has_bwd,
            "length_m": length[first],
        },
        geometry=geoms[first],
        crs=target_crs,
    )
    # Drop zero-length self loops: they carry no travel and confuse snapping.
    edges = edges[~(loops & (edges["length_m"].to_numpy() == 0))].reset_index(drop=True)
    return RoadNetwork(graph=graph, crs=target_crs, node_ids=node_ids, node_xy=node_xy, edges=edges)


def _auto_crs(xy: np.ndarray, source: CRS) -> CRS:
    if source.is_projected:
        return source
    return utm_crs_for(float(np.mean(xy[:, 0])), float(np.mean(xy[:, 1])))


def _first(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else "unclassified"
    return str(value)


def _truthy(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else False
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "true", "1", "-1")
    return bool(value)


def parse_maxspeed(value: Any) -> float:
    """OSM ``maxspeed`` as km/h: '50', '30 mph', '40;60' (mean), ['50', '70'] (mean),
    'CN:urban' (zone codes); else NaN. See :func:`geoaccess.speedlimits.parse_maxspeed`."""
    return speedlimits.parse_maxspeed(value)


def edge_kmh(network: RoadNetwork, speeds: ModeSpeeds) -> np.ndarray:
    """Speed (km/h) on every physical edge for one mode; NaN where the mode may not go."""
    highway = network.edges["highway"].to_numpy().astype(str)
    classes = np.unique(highway)
    kmh_of = {c: speeds.kmh.get(c, speeds.kmh.get(c.replace("_link", ""), math.nan)) for c in classes}
    congestion_of = {c: speeds.congestion.get(c, speeds.congestion.get(c.replace("_link", ""), 1.0)) for c in classes}
    class_kmh = pd.Series(highway).map(kmh_of).to_numpy(dtype=float)
    congestion = pd.Series(highway).map(congestion_of).to_numpy(dtype=float)
    kmh = class_kmh.copy()
    if speeds.use_maxspeed:
        tagged = network.edges["maxspeed_kmh"].to_numpy()
        use = np.isfinite(tagged) & np.isfinite(class_kmh)
        kmh[use] = tagged[use] * speeds.maxspeed_factor
    return kmh * congestion


def edge_seconds(network: RoadNetwork, speeds: ModeSpeeds) -> tuple[np.ndarray, np.ndarray]:
    """Forward (u→v) and backward (v→u) travel seconds per physical edge for one mode.

    ``inf`` marks a direction the mode cannot use (class not allowed, or against a one-way
    street when the mode respects one-way rules).
    """
    kmh = edge_kmh(network, speeds)
    with np.errstate(divide="ignore", invalid="ignore"):
        seconds = network.edges["length_m"].to_numpy() / (kmh / 3.6)
    seconds = np.where(np.isfinite(seconds), seconds, np.inf)
    backward = seconds.copy()
    if speeds.respect_oneway:
        backward[network.edges["oneway"].to_numpy()] = np.inf
    return seconds, backward
