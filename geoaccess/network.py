"""Road networks: loading, travel speeds per mode, and the physical edge table.

A :class:`RoadNetwork` is a table of *physical* edges in a projected CRS (metres) — one
row per road segment between junctions with its geometry, its class, its length, its
access per mode and whether it is one-way — plus the node coordinates and the mapped
water. OSM files (pyosmium) and roads files (pyogrio, shapely) are read straight into
these arrays; networkx is used only for graphs users hand in (GraphML, osmnx downloads:
:func:`network_from_graph`) and for :meth:`RoadNetwork.to_networkx`. The two directions
of a two-way road are one physical edge, so a point snapped to the road sits on both
directions at once. Per travel mode, :func:`edge_seconds` turns the table into forward
and backward travel seconds (``inf`` where a direction is closed).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
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
from .osmtags import ACCESS_NAMES, CLOSED, DESTINATION, NOT_ROADS, OPEN, TAG_KEYS, interpret_ways
from .roadclasses import find_column, normalise, road_attributes

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
    # Snapping rules: classes a home or clinic may not join the road on, and whether it
    # may join on a bridge deck or in a tunnel; a road fragment cut off from the main
    # network is snapped to only when the main network is more than this much farther.
    board_exclude: tuple[str, ...] = ()
    board_bridges: bool = False
    board_tunnels: bool = False
    fragment_tolerance_m: float = 100.0


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
        values = dict(table[mode])
        values["board_exclude"] = tuple(values.get("board_exclude", ()))
        spec = ModeSpeeds(**values)
        for cls, kmh in spec.kmh.items():
            check_positive(f"{mode}.kmh.{cls} (km/h)", kmh)
        for cls, factor in spec.congestion.items():
            check_positive(f"{mode}.congestion.{cls}", factor)
        check_positive(f"{mode}.access_kmh", spec.access_kmh)
        check_positive(f"{mode}.maxspeed_factor", spec.maxspeed_factor)
        if spec.fragment_tolerance_m < 0:
            raise InputError(f"{mode}.fragment_tolerance_m must be >= 0 metres, got {spec.fragment_tolerance_m}")
        if spec.access_max_m < 0:
            raise InputError(f"{mode}.access_max_m must be >= 0 metres, got {spec.access_max_m}")
        speeds[mode] = spec
    return speeds


@dataclass
class RoadNetwork:
    """Physical road edges in a projected CRS (metres), ready to compile per travel mode.

    Attributes
    ----------
    crs : pyproj.CRS
        Projected CRS of ``node_xy`` and ``edges`` (metres).
    node_ids : numpy.ndarray
        Source id of each node index ``0..n-1`` (OSM node id, or the graph's node key).
    node_xy : numpy.ndarray
        ``(n, 2)`` projected node coordinates in metres.
    edges : geopandas.GeoDataFrame
        One row per road segment between junctions: ``u``, ``v`` (node indices),
        ``highway`` (OSM class), ``maxspeed_kmh`` (NaN where untagged), ``oneway`` (vehicles
        may drive only from u to v), ``access_walk``/``access_drive``/``access_ambulance``
        (:data:`geoaccess.osmtags.OPEN`, ``DESTINATION`` or ``CLOSED``), ``bridge``,
        ``tunnel`` (bool), ``length_m`` and a LineString ``geometry`` running from u to v.
    report : dict
        What loading kept and dropped (see :func:`load_report`).
    water : numpy.ndarray
        Mapped water (polygons and coastlines, projected) that off-network legs may not
        cross; empty when the source holds none.
    """

    crs: CRS
    node_ids: np.ndarray
    node_xy: np.ndarray
    edges: gpd.GeoDataFrame
    report: dict = field(default_factory=dict)
    water: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def n_edges(self) -> int:
        return len(self.edges)

    @property
    def graph(self) -> nx.MultiDiGraph:
        """The network as an osmnx-style graph (see :meth:`to_networkx`)."""
        return self.to_networkx()

    def to_networkx(self, crs: str | CRS = "EPSG:4326") -> nx.MultiDiGraph:
        """An osmnx-style ``MultiDiGraph``: one arc per open direction for vehicles.

        Parameters
        ----------
        crs
            CRS of the nodes' ``x``/``y`` and the edge geometries (default lon/lat).

        Notes
        -----
        Per-mode access is written as the OSM tags that give it back (``foot``,
        ``motorcar``, ``emergency``), so the graph read again (e.g. saved with
        ``osmnx.save_graphml``) gives the same network.
        """
        e = self.edges
        to_lonlat = Transformer.from_crs(self.crs, crs, always_xy=True)
        lon, lat = to_lonlat.transform(self.node_xy[:, 0], self.node_xy[:, 1])
        graph = nx.MultiDiGraph(crs=CRS(crs).to_string())
        graph.add_nodes_from((int(i) if isinstance(i, (int, np.integer)) else i, {"x": float(x), "y": float(y)})
                             for i, x, y in zip(self.node_ids, lon, lat))
        ids = np.array([int(i) if isinstance(i, (int, np.integer)) else i for i in self.node_ids], dtype=object)
        word = {OPEN: "yes", DESTINATION: "private", CLOSED: "no"}
        cols = {key: e[key].to_numpy() for key in ("highway", "maxspeed_kmh", "oneway", "length_m", "bridge", "tunnel")}
        tags = {tag: e[col].map(word).to_numpy() for tag, col in
                (("foot", "access_walk"), ("motorcar", "access_drive"), ("emergency", "access_ambulance"))}
        geoms = shapely.transform(e.geometry.to_numpy(), lambda c: np.column_stack(to_lonlat.transform(c[:, 0], c[:, 1])))
        rev = shapely.reverse(geoms)
        u, v = ids[e["u"].to_numpy()], ids[e["v"].to_numpy()]

        def data(i: int, reverse: bool) -> dict[str, Any]:
            d = {"highway": cols["highway"][i], "oneway": bool(cols["oneway"][i]), "reversed": reverse,
                 "length": float(cols["length_m"][i]), "geometry": rev[i] if reverse else geoms[i],
                 **{tag: values[i] for tag, values in tags.items()}}
            if np.isfinite(cols["maxspeed_kmh"][i]):
                d["maxspeed"] = f"{cols['maxspeed_kmh'][i]:g}"
            if cols["bridge"][i]:
                d["bridge"] = "yes"
            if cols["tunnel"][i]:
                d["tunnel"] = "yes"
            return d

        graph.add_edges_from((u[i], v[i], data(i, False)) for i in range(len(e)))
        graph.add_edges_from((v[i], u[i], data(i, True)) for i in np.flatnonzero(~cols["oneway"]))
        return graph


def graph_from_file(path: str | Path) -> nx.MultiDiGraph:
    """Read a road file as an osmnx-style graph (:meth:`RoadNetwork.to_networkx` of :func:`network_from_file`)."""
    return network_from_file(path).to_networkx()


_TAG_SET = frozenset(TAG_KEYS)


def _is_water_area(tags: Any) -> bool:
    """OSM tags of a water surface: ``natural=water``, ``waterway=riverbank``, ``water=river``."""
    return tags.get("natural") == "water" or tags.get("waterway") == "riverbank" or tags.get("water") == "river"


def _read_osm(path: Path) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ways with a ``highway`` tag, and mapped water, from an OSM PBF or XML file, with pyosmium.

    Returns the ways' tags (one row per way, :data:`geoaccess.osmtags.TAG_KEYS` columns,
    indexed by way id), per way node: its way's row, the OSM node id, lon and lat; the way
    ids; and the water as lon/lat shapely geometries (coastline LineStrings, water
    Polygons from closed ways and MultiPolygons from multipolygon relations). Nodes
    missing from the extract are left out (the way is cut there).
    """
    import osmium

    rows: list[dict] = []
    way_ids: list[int] = []
    flat: list[tuple[int, float, float]] = []  # (node id, lon, lat) of every road way's nodes, in order
    n_nodes: list[int] = []
    water: list[Any] = []
    water_relations = False
    processor = osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY | osmium.osm.RELATION).with_locations()
    wanted = osmium.filter.KeyFilter("highway", "natural", "waterway", "water")
    for obj in processor.with_filter(osmium.filter.EntityFilter(osmium.osm.WAY | osmium.osm.RELATION)).with_filter(
            wanted):
        tags = obj.tags
        if obj.is_relation():
            water_relations |= tags.get("type") == "multipolygon" and _is_water_area(tags)
            continue
        road = "highway" in tags
        coastline = not road and tags.get("natural") == "coastline"
        if not (road or coastline or _is_water_area(tags)):  # natural=wood, waterway=stream …
            continue
        nodes = [(n.ref, n.lon, n.lat) for n in obj.nodes if n.location.valid()]
        if len(nodes) < 2:
            continue
        if not road:
            if coastline:
                water.append(shapely.LineString([n[1:] for n in nodes]))
            elif _is_water_area(tags) and len(nodes) >= 4 and nodes[0][0] == nodes[-1][0]:
                water.append(shapely.Polygon([n[1:] for n in nodes]))
            continue
        rows.append({t.k: t.v for t in tags if t.k in _TAG_SET})  # one pass over the way's tags
        way_ids.append(obj.id)
        flat.extend(nodes)
        n_nodes.append(len(nodes))
    if water_relations:
        # Rivers and lakes mapped as multipolygon relations: pyosmium assembles them (one
        # more pass over the file, only when it holds some).
        factory = osmium.geom.WKBFactory()
        areas = osmium.FileProcessor(str(path)).with_areas(osmium.filter.KeyFilter("natural", "waterway", "water"))
        for area in areas.with_filter(osmium.filter.EntityFilter(osmium.osm.AREA)):
            if not area.from_way() and _is_water_area(area.tags):
                try:
                    water.append(shapely.from_wkb(factory.create_multipolygon(area)))
                except RuntimeError:  # an unclosed ring at the edge of the extract: left out
                    continue
    tags = pd.DataFrame(rows, columns=list(TAG_KEYS), index=pd.Index(way_ids, name="osm_way"))
    water_geoms = shapely.make_valid(np.array(water, dtype=object)) if water else np.empty(0, dtype=object)
    if not rows:
        return (tags, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 2)), np.zeros(0, np.int64),
                water_geoms)
    arr = np.array(flat, dtype=np.float64)  # node ids below 2**53 are exact in float64
    row_of = np.repeat(np.arange(len(rows), dtype=np.int64), n_nodes)
    return (tags, row_of, arr[:, 0].astype(np.int64), arr[:, 1:], np.asarray(way_ids, dtype=np.int64), water_geoms)


def network_from_osm(path: str | Path, crs: str | CRS | None = None) -> RoadNetwork:
    """Road network from an OpenStreetMap ``.osm.pbf`` or ``.osm`` XML file (pyosmium).

    Both formats are read by the same code and every way goes through
    :func:`geoaccess.osmtags.interpret_ways`: which ways are roads, access per mode,
    one-way and maxspeed. Ways are split into edges at junctions (nodes shared by two
    roads, or met twice by one) and at their ends.
    """
    p = Path(path)
    tags, way_row, refs, lonlat, way_ids, water = _read_osm(p)
    if len(tags) == 0:
        raise InputError(f"{p.name} holds no roads (no ways with a highway tag); is it an OSM extract of the area?")
    meaning = interpret_ways(tags)
    way_km = np.bincount(way_row[1:][way_row[1:] == way_row[:-1]],
                         weights=_geodesic_steps(lonlat)[way_row[1:] == way_row[:-1]], minlength=len(tags)) / 1000
    keep_way = meaning["dropped"].to_numpy() == ""
    report = {"source": p.name, "ways_read": int(len(tags)),
              "dropped": _dropped_summary(meaning["dropped"].to_numpy(), way_km)}
    if not keep_way.any():
        raise InputError(f"{p.name} holds no usable roads: {_dropped_text(report['dropped'])}")
    keep_node = keep_way[way_row]
    way_row, refs, lonlat = way_row[keep_node], refs[keep_node], lonlat[keep_node]
    # Junctions: a node met more than once among the kept ways' nodes, and every way end.
    _, inverse, counts = np.unique(refs, return_inverse=True, return_counts=True)
    seg_start, seg_end, geoms = _split_at_nodes(lonlat, way_row, counts[inverse] > 1)
    seg_way = way_row[seg_start]
    attrs = meaning.iloc[seg_way].reset_index(drop=True)
    attrs["osm_way"] = way_ids[seg_way]
    return _network_from_segments(refs[seg_start], refs[seg_end], geoms, attrs, CRS("EPSG:4326"), crs, report,
                                  water=water)


def _split_at_nodes(coords: np.ndarray, line_of: np.ndarray, junction: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut lines into edges at their junction vertices and at their ends.

    ``coords`` are the vertices of all lines in order, ``line_of`` the line of each (lines
    contiguous), ``junction`` marks vertices where roads meet. Returns, per edge, the
    positions of its first and last vertex and its LineString.
    """
    starts = np.r_[0, np.flatnonzero(line_of[1:] != line_of[:-1]) + 1]
    ends = np.r_[starts[1:], len(line_of)] - 1
    split = junction.copy()
    split[starts] = split[ends] = True
    node_pos = np.flatnonzero(split)
    # Each consecutive pair of node vertices within one line is one edge.
    same = line_of[node_pos[:-1]] == line_of[node_pos[1:]]
    seg_start, seg_end = node_pos[:-1][same], node_pos[1:][same]
    counts = seg_end - seg_start + 1
    vert = np.repeat(seg_start, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
    return seg_start, seg_end, shapely.linestrings(coords[vert], indices=np.repeat(np.arange(len(seg_start)), counts))


def _geodesic_steps(lonlat: np.ndarray) -> np.ndarray:
    from pyproj import Geod

    if len(lonlat) < 2:
        return np.zeros(0)
    _, _, step = Geod(ellps="WGS84").inv(lonlat[:-1, 0], lonlat[:-1, 1], lonlat[1:, 0], lonlat[1:, 1])
    return step


def _dropped_summary(reasons: np.ndarray, km: np.ndarray) -> dict[str, dict[str, float]]:
    out = {}
    for reason in sorted(set(reasons) - {""}):
        mask = reasons == reason
        out[reason] = {"ways": int(mask.sum()), "km": round(float(km[mask].sum()), 3)}
    return out


def _dropped_text(dropped: dict[str, dict[str, float]]) -> str:
    return "; ".join(f"{v['ways']:,} ways ({v['km']:,.1f} km) {k}" for k, v in dropped.items()) or "nothing dropped"


def _network_from_segments(u_key: np.ndarray, v_key: np.ndarray, geoms: np.ndarray, attrs: pd.DataFrame,
                           source_crs: CRS, crs: str | CRS | None, report: dict,
                           water: np.ndarray | None = None, length: np.ndarray | None = None) -> RoadNetwork:
    """Assemble a :class:`RoadNetwork` from road segments drawn from ``u_key`` to ``v_key``.

    ``attrs`` holds :func:`geoaccess.osmtags.interpret_ways` columns per segment; segments
    open only backwards are turned round so that ``oneway`` always means u → v. ``water``
    (geometries in ``source_crs``) is projected with the roads; ``length`` (metres per
    segment) is computed from the geometries when not given.
    """
    backward = attrs["oneway"].to_numpy() == -1
    u_key, v_key = np.where(backward, v_key, u_key), np.where(backward, u_key, v_key)
    geoms = geoms.copy()
    geoms[backward] = shapely.reverse(geoms[backward])
    node_keys, inverse = np.unique(np.r_[u_key, v_key], return_inverse=True)
    u, v = inverse[: len(u_key)], inverse[len(u_key):]
    coords = shapely.get_coordinates(geoms)
    first = np.r_[0, np.cumsum(shapely.get_num_coordinates(geoms))[:-1]]
    last = np.cumsum(shapely.get_num_coordinates(geoms)) - 1
    node_src = np.zeros((len(node_keys), 2))
    node_src[u] = coords[first]
    node_src[v] = coords[last]
    if not np.isfinite(node_src).all():
        raise InputError("some road nodes have NaN or infinite coordinates")
    target_crs = CRS(crs) if crs is not None else _auto_crs(node_src, source_crs)
    if target_crs.is_geographic:
        raise InputError(f"the analysis CRS must be projected (metres), got {target_crs.to_string()} in degrees; "
                         "leave it unset for an automatic UTM zone")
    to_target = Transformer.from_crs(source_crs, target_crs, always_xy=True)
    node_xy = np.column_stack(to_target.transform(node_src[:, 0], node_src[:, 1]))
    projected = shapely.transform(geoms, lambda c: np.column_stack(to_target.transform(c[:, 0], c[:, 1])))
    if length is None:
        length = _lengths_m(geoms, source_crs)
    edges = gpd.GeoDataFrame({
        "u": u, "v": v,
        "highway": attrs["highway"].to_numpy(dtype=object),
        "maxspeed_kmh": attrs["maxspeed_kmh"].to_numpy(dtype=float),
        "oneway": attrs["oneway"].to_numpy() != 0,
        **{f"access_{m}": attrs[f"access_{m}"].to_numpy(dtype=np.int8) for m in MODES},
        "bridge": attrs["bridge"].to_numpy(dtype=bool),
        "tunnel": attrs["tunnel"].to_numpy(dtype=bool),
        "osm_way": attrs["osm_way"].to_numpy(dtype=np.int64) if "osm_way" in attrs else np.full(len(u), -1),
        "length_m": length,
    }, geometry=projected, crs=target_crs)
    # Zero-length self loops carry no travel and confuse snapping.
    edges = edges[~((u == v) & (length == 0))].reset_index(drop=True)
    if len(edges) == 0:
        raise InputError("the road network has no edges; check the file or the area you asked for")
    report = dict(report)
    report.update(load_report(edges))
    if water is not None and len(water):
        water = shapely.transform(water, lambda c: np.column_stack(to_target.transform(c[:, 0], c[:, 1])))
        lines = np.isin(shapely.get_type_id(water), (1, 5))
        report["water"] = {"areas": int((~lines).sum()), "coastline_km": round(float(shapely.length(water[lines]).sum())
                                                                              / 1000, 3)}
    else:
        water = np.empty(0, dtype=object)
    return RoadNetwork(crs=target_crs, node_ids=node_keys, node_xy=node_xy, edges=edges, report=report, water=water)


def load_report(edges: gpd.GeoDataFrame) -> dict:
    """What the network holds: km and segments per class, one-way share, access per mode."""
    km = edges["length_m"].to_numpy() / 1000
    by_class = (pd.DataFrame({"highway": edges["highway"].to_numpy(), "km": km})
                .groupby("highway")["km"].agg(["count", "sum"]).sort_values("sum", ascending=False))
    out = {"segments": int(len(edges)), "km": round(float(km.sum()), 3),
           "classes": {str(k): {"segments": int(r["count"]), "km": round(float(r["sum"]), 3)}
                       for k, r in by_class.iterrows()},
           "oneway_km_share": round(float(km[edges["oneway"].to_numpy()].sum() / max(km.sum(), 1e-12)), 4)}
    for mode in MODES:
        access = edges[f"access_{mode}"].to_numpy()
        out[f"access_{mode}"] = {ACCESS_NAMES[a]: round(float(km[access == a].sum()), 3)
                                 for a in (DESTINATION, CLOSED) if (access == a).any()}
    return out


def report_lines(report: dict) -> list[str]:
    """What loading dropped and restricted, as lines for ``geoaccess check`` (indented).

    Parameters
    ----------
    report
        ``RoadNetwork.report``.

    Returns
    -------
    list of str
        Ways dropped by reason (count, km), km open only at trip ends or closed per mode,
        and the mapped water; nothing for what the report does not hold.
    """
    lines = []
    if report.get("dropped"):
        lines.append("  not roads (dropped): " + "; ".join(
            f"{reason} {v['ways']:,} ways, {v['km']:,.1f} km" for reason, v in report["dropped"].items()))
    access = [f"{mode} " + ", ".join(f"{name} {km:,.1f} km" for name, km in report[f"access_{mode}"].items())
              for mode in MODES if report.get(f"access_{mode}")]
    if access:
        lines.append("  access (of the roads kept): " + "; ".join(access))
    water = report.get("water")
    lines.append(f"  water: {water['areas']:,} areas, {water['coastline_km']:,.1f} km of coastline (homes and "
                 "facilities do not join a road across it)" if water else
                 "  water: none mapped in the source (homes may join a road across a river)")
    return lines


@contextmanager
def osmnx_settings() -> Iterator[None]:
    """osmnx settings under which its graphs read like geoaccess's own file readers.

    Inside the ``with`` block:

    - ``osmnx.settings.useful_tags_way`` holds osmnx's own list plus
      :data:`geoaccess.osmtags.TAG_KEYS` (access per mode, ``emergency``, ``area``,
      ``junction``, ``bridge``, ``tunnel`` …), so a download or ``osmnx.graph_from_xml``
      keeps them and :func:`network_from_graph` reads them like a file's tags;
    - osmnx's simplification never merges across the end of an OSM way
      (``edge_attrs_differ=["osmid"]``: a private stretch or a bridge drawn as its own
      way stays its own edge with its own tags, as in the file readers) and keeps isolated
      rings (``remove_rings=False``: an island's ring road is a road).

    Everything is restored on exit.
    """
    import osmnx as ox
    from osmnx import simplification

    before, simplify = list(ox.settings.useful_tags_way), simplification.simplify_graph
    ox.settings.useful_tags_way = list(dict.fromkeys([*before, *TAG_KEYS]))
    # osmnx's graph builders call simplification.simplify_graph(G) with no options.
    simplification.simplify_graph = partial(simplify, edge_attrs_differ=["osmid"], remove_rings=False)
    try:
        yield
    finally:
        ox.settings.useful_tags_way = before
        simplification.simplify_graph = simplify


def graph_from_place(place: str, network_type: str = "all") -> nx.MultiDiGraph:
    """Download the road graph of a named place from OpenStreetMap (needs internet).

    The graph keeps every tag :func:`geoaccess.osmtags.interpret_ways` reads
    (:func:`osmnx_settings`); :func:`network_from_graph` then applies the same rules as to
    files (private and area ways included in the download are read, not trusted).

    Raises
    ------
    InputError
        The download failed (offline, unknown place).
    """
    import osmnx as ox

    try:
        with osmnx_settings():
            return ox.graph_from_place(place, network_type=network_type, retain_all=True)
    except Exception as exc:
        raise InputError(f"could not download roads for place {place!r}: {exc}. Offline? Use a local file "
                         "as [network] source instead.") from None


def graph_from_bbox(bbox: tuple[float, float, float, float], network_type: str = "all") -> nx.MultiDiGraph:
    """Download the road graph inside ``(west, south, east, north)`` degrees (needs internet),
    with the tags geoaccess reads (see :func:`graph_from_place`)."""
    import osmnx as ox

    west, south, east, north = map(float, bbox)
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InputError(f"bbox must be (west, south, east, north) in degrees with west < east, south < north; got {bbox}")
    try:
        with osmnx_settings():
            return ox.graph_from_bbox((west, south, east, north), network_type=network_type, retain_all=True)
    except Exception as exc:
        raise InputError(f"could not download roads for bbox {bbox}: {exc}. Offline? Use a local file.") from None


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
    seg_start, seg_end, seg_geoms = _split_at_nodes(coords, line_of, counts[vertex_id] > 1)
    seg_line = line_of[seg_start]
    seg_attrs = meaning.iloc[seg_line].reset_index(drop=True)
    seg_attrs["osm_way"] = seg_line
    # Steps from a segment's first vertex up to its last belong to it (segments of a line are contiguous).
    step_seg = np.maximum(np.searchsorted(seg_start, np.arange(len(steps)), side="right") - 1, 0)
    seg_length = np.bincount(step_seg, weights=steps, minlength=len(seg_start))
    return _network_from_segments(vertex_id[seg_start], vertex_id[seg_end], seg_geoms, seg_attrs, source_crs,
                                  crs, report, length=seg_length)


def _line_meaning(lines: gpd.GeoDataFrame, attrs: pd.DataFrame, class_column: str | None,
                  oneway_column: str | None) -> pd.DataFrame:
    """:func:`interpret_ways` columns per line: class, one-way and maxspeed from the roads
    file's own vocabulary (``attrs``), access and the other OSM keys from same-named columns."""
    tags = pd.DataFrame({"highway": attrs["highway"].to_numpy(dtype=object)}, index=lines.index)
    for key in _LINE_TAG_KEYS:
        col = find_column(lines, key)
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


def _lengths_m(geoms: np.ndarray, crs: CRS) -> np.ndarray:
    """Line lengths in metres: geodesic on the WGS84 ellipsoid for lon/lat, planar otherwise."""
    if not crs.is_geographic:
        return shapely.length(geoms)
    coords, which = shapely.get_coordinates(geoms, return_index=True)
    same = which[1:] == which[:-1]
    step = _step_lengths(coords[:-1][same], coords[1:][same], crs)
    return np.bincount(which[1:][same], weights=step, minlength=len(geoms))


def _step_lengths(a: np.ndarray, b: np.ndarray, crs: CRS) -> np.ndarray:
    """Distances a → b in metres (``(n, 2)`` each): geodesic (WGS84) for lon/lat, planar otherwise."""
    if not crs.is_geographic:
        return np.hypot(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1])
    from pyproj import Geod

    return Geod(ellps="WGS84").inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])[2]


def network_from_file(path: str | Path, crs: str | CRS | None = None, *, class_column: str | None = None,
                      oneway_column: str | None = None, maxspeed_column: str | None = None,
                      classes: dict[str, str] | None = None, design_speed: str = "none") -> RoadNetwork:
    """Load a road network file: OSM ``.osm.pbf``/``.osm`` (:func:`network_from_osm`),
    GraphML saved by osmnx, or a roads vector file (GeoPackage, Shapefile, GeoJSON).

    Parameters
    ----------
    crs
        Projected analysis CRS in metres; default: the UTM zone of the network's centre.
    class_column, oneway_column, maxspeed_column, classes, design_speed
        Roads vector files only (see :func:`network_from_lines`); OSM files carry tags.

    Raises
    ------
    InputError
        Missing, empty or unreadable file, a file holding no usable road, or a column
        option given for an OSM or GraphML file.
    """
    p = check_input_file(path, "road network", NETWORK_SUFFIXES)
    name = p.name.lower()
    options = {"class_column": class_column, "oneway_column": oneway_column, "maxspeed_column": maxspeed_column,
               "classes": classes or None, "design_speed": None if design_speed == "none" else design_speed}
    given = {k: v for k, v in options.items() if v is not None}
    if given and not name.endswith(VECTOR_SUFFIXES):
        keys = {"class_column": "class", "oneway_column": "oneway", "maxspeed_column": "maxspeed",
                "classes": "classes", "design_speed": "design_speed"}
        raise InputError(f"[network] {', '.join(keys[k] for k in given)} appl{'ies' if len(given) == 1 else 'y'} to "
                         f"roads files ({', '.join(VECTOR_SUFFIXES)}); {p.name} is OSM data whose highway, oneway "
                         "and maxspeed tags are read as they are. Remove the key(s) from [network].")
    try:
        if name.endswith((".pbf", ".osm", ".xml")):
            return network_from_osm(p, crs=crs)
        if name.endswith(".graphml"):
            import osmnx as ox

            graph = ox.load_graphml(p)
        else:
            return network_from_lines(read_vector(p, "road network"), crs=crs, name=p.name, **given)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"could not read road network {p.name}: {type(exc).__name__}: {exc}") from None
    return network_from_graph(graph, crs=crs, source=p.name)


def network_from_graph(graph: nx.MultiDiGraph, crs: str | CRS | None = None, source: str = "graph") -> RoadNetwork:
    """Build a :class:`RoadNetwork` from an osmnx-style ``MultiDiGraph``.

    Parameters
    ----------
    graph
        Nodes with ``x``/``y``, edges with ``highway`` and optionally ``length`` (metres),
        ``maxspeed``, ``oneway``, ``geometry`` and OSM access tags, as osmnx gives them.
        ``graph.graph["crs"]`` names the CRS of ``x``/``y`` (EPSG:4326 assumed when absent
        and the values look like degrees). The tags are read with
        :func:`geoaccess.osmtags.interpret_ways`, like a file's.
    crs
        Projected analysis CRS in metres; default: the UTM zone of the network's centre.

    Notes
    -----
    An arc and its reverse twin (same end nodes, the same geometry backwards, neither
    one-way) are one two-way road; two one-way arcs between the same nodes with different
    geometries (a dual carriageway) stay two one-way roads. osmnx adds the backward twin
    of a motorway lacking a ``oneway`` tag (``reversed=True``); OSM implies one-way there,
    so that twin is dropped (an explicit ``oneway=no`` on a motorway cannot be told apart
    once osmnx has read it).
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
    if crs is not None and CRS(crs).is_geographic:
        raise InputError(f"the analysis CRS must be projected (metres), got {CRS(crs).to_string()} in degrees; "
                         "leave it unset for an automatic UTM zone")
    rows = list(graph.edges(keys=True, data=True))
    u = np.fromiter((index_of[r[0]] for r in rows), dtype=np.int64, count=len(rows))
    v = np.fromiter((index_of[r[1]] for r in rows), dtype=np.int64, count=len(rows))
    tags = pd.DataFrame({key: [_first_tag(r[3].get(key)) for r in rows] for key in TAG_KEYS if key != "oneway"})
    tags["highway"] = tags["highway"].fillna("unclassified")
    arc_oneway = np.array([_truthy(r[3].get("oneway", False)) for r in rows], dtype=bool)
    reversed_ = np.array([_truthy(r[3].get("reversed", False)) for r in rows], dtype=bool)
    meaning = interpret_ways(tags)
    # osmnx has read the oneway tag and oriented the arcs; it implies one-way on roundabouts
    # only, OSM also on motorways and junction=circular: drop the backward twin osmnx added
    # (osmnx marks its arcs with `reversed`; a graph built by hand keeps what it holds).
    osmnx_arc = np.array(["reversed" in r[3] for r in rows], dtype=bool)
    implied_way = (meaning["oneway"].to_numpy() == 1) & ~arc_oneway & osmnx_arc
    implied = implied_way & reversed_
    arc_oneway = arc_oneway | implied_way
    meaning["oneway"] = arc_oneway.astype(np.int8)
    keep = (meaning["dropped"].to_numpy() == "") & ~implied
    report = {"source": source, "ways_read": int(len(rows)),
              "dropped": _dropped_summary(meaning["dropped"].to_numpy(),
                                          np.array([float(r[3].get("length", 0) or 0) for r in rows]) / 1000)}
    if implied.any():
        report["dropped"]["implied one-way (motorway, roundabout)"] = {"ways": int(implied.sum()), "km": 0.0}
    if not keep.any():
        raise InputError(f"the road network holds no usable roads: {_dropped_text(report['dropped'])}")
    geoms = np.array([r[3].get("geometry") for r in rows], dtype=object)
    missing = np.array([g is None for g in geoms])
    if missing.any():
        geoms[missing] = shapely.linestrings(np.stack([xy[u[missing]], xy[v[missing]]], axis=1))
    idx = np.flatnonzero(keep)
    u, v, geoms, meaning, arc_oneway = u[idx], v[idx], geoms[idx], meaning.iloc[idx].reset_index(drop=True), arc_oneway[idx]

    # Twins: orient every two-way arc from its lower to its higher node; an arc and its
    # reverse then share (lo, hi, geometry) and become one two-way segment.
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    grid = 1e-7 if source_crs.is_geographic else 1e-3
    # A loop (lo == hi) and its twin differ only in drawing direction: the arc drawn
    # "backwards" (larger WKB than its reverse) counts as the flipped one.
    loop = u == v
    flip = u > v
    if loop.any():
        drawn, back = (shapely.to_wkb(shapely.set_precision(g, grid)) for g in (geoms[loop], shapely.reverse(geoms[loop])))
        flip[loop] = drawn > back
    canon = np.where(flip, shapely.reverse(geoms), geoms)
    geom_key = pd.factorize(shapely.to_wkb(shapely.set_precision(canon, grid)))[0]
    arc_id = np.arange(len(u))
    key = pd.DataFrame({"lo": lo, "hi": hi, "g": geom_key, "hw": pd.factorize(meaning["highway"])[0],
                        "one": np.where(arc_oneway, arc_id, -1), "flip": flip})
    # Pair the k-th arc one way with the k-th the other way: two ways drawn on the same
    # nodes (parallel duplicates) stay two roads.
    key["rank"] = key.groupby(["lo", "hi", "g", "hw", "one", "flip"], sort=False).cumcount()
    group = key.groupby(["lo", "hi", "g", "hw", "one", "rank"], sort=False).ngroup().to_numpy()
    n_groups = group.max() + 1
    first = np.full(n_groups, len(u))
    np.minimum.at(first, group, arc_id)
    has_fwd = np.zeros(n_groups, dtype=bool)
    has_bwd = np.zeros(n_groups, dtype=bool)
    np.logical_or.at(has_fwd, group[~flip], True)
    np.logical_or.at(has_bwd, group[flip], True)
    loops = lo[first] == hi[first]
    has_bwd[loops] = ~arc_oneway[first[loops]]
    two_way = has_fwd & has_bwd
    seg_u = np.where(two_way, lo[first], u[first])
    seg_v = np.where(two_way, hi[first], v[first])
    seg_geom = np.where(two_way, canon[first], geoms[first])
    attrs = meaning.iloc[first].reset_index(drop=True)
    attrs["oneway"] = (~two_way).astype(np.int8)
    attrs["osm_way"] = -1
    network = _network_from_segments(seg_u, seg_v, seg_geom, attrs, source_crs, crs, report)
    network.node_ids = node_ids[network.node_ids.astype(np.int64)]
    return network


def _first_tag(value: Any) -> Any:
    """A graph attribute as one tag value (osmnx keeps a list where merged ways differ)."""
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _auto_crs(xy: np.ndarray, source: CRS) -> CRS:
    if source.is_projected:
        return source
    return utm_crs_for(float(np.mean(xy[:, 0])), float(np.mean(xy[:, 1])))


def _truthy(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else False
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "true", "1", "-1")
    return bool(value)


def boardable(network: RoadNetwork, speeds: ModeSpeeds) -> np.ndarray:
    """Edges a point may join the network on, by the mode's snapping rules (bool per edge)."""
    edges = network.edges
    ok = ~np.isin(edges["highway"].to_numpy().astype(str), list(speeds.board_exclude))
    if not speeds.board_bridges and "bridge" in edges:
        ok &= ~edges["bridge"].to_numpy(dtype=bool)
    if not speeds.board_tunnels and "tunnel" in edges:
        ok &= ~edges["tunnel"].to_numpy(dtype=bool)
    return ok


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
