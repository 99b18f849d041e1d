"""Road graphs users hand in — osmnx downloads, GraphML, graphs built by hand — as a
:class:`~geoaccess.roadnet.RoadNetwork`, through the same tag meanings (:mod:`geoaccess.osmtags`)
and the same rules as OSM and roads files: lon/lat positions, geodesic lengths, the roads'
UTM zone (:func:`network_from_graph`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from .errors import InputError
from .osmtags import TAG_KEYS, interpret_ways
from .roadnet import RoadNetwork, _dropped_summary, _dropped_text, _lengths_m, _network_from_segments, _project

if TYPE_CHECKING:  # networkx loads only where a graph is built
    import networkx as nx


def network_from_graph(graph: nx.MultiDiGraph, crs: str | CRS | None = None, source: str = "graph") -> RoadNetwork:
    """Build a :class:`RoadNetwork` from an osmnx-style ``MultiDiGraph``.

    Parameters
    ----------
    graph
        Nodes with ``x``/``y``, edges with ``highway`` and optionally ``maxspeed``,
        ``oneway``, ``geometry`` and OSM access tags, as osmnx gives them.
        ``graph.graph["crs"]`` names the CRS of ``x``/``y`` and the geometries: lon/lat or
        projected (an ``osmnx.project_graph`` result, a Gauss-Krüger zone); EPSG:4326 is
        assumed when it is absent and the values look like degrees. The tags are read with
        :func:`geoaccess.osmtags.interpret_ways`, like a file's.
    crs
        Projected analysis CRS in metres; default: the UTM zone of the network's centre
        (whatever the graph's own CRS).
    source
        Name of the graph in the load report (a GraphML file's name).

    Returns
    -------
    RoadNetwork
        Road segments between junctions in ``crs``, lengths in metres.

    Raises
    ------
    InputError
        No edges or no usable roads; nodes without ``x``/``y`` or with non-finite ones; no
        CRS on coordinates that are not degrees; a geographic ``crs``; vertices the graph's
        CRS cannot place on the earth.

    Notes
    -----
    The answer does not depend on the graph's CRS, as for roads files: a projected graph's
    node coordinates and edge lines are taken to lon/lat once, every road's length is
    measured geodesically (WGS84, pyproj ``Geod``) along its line (the straight line between
    its nodes when it has no ``geometry``), and the analysis CRS is the UTM zone of the roads
    unless ``crs`` is given. An edge's own ``length`` attribute is not read, in lon/lat as in
    projected graphs: osmnx computes it on a sphere (up to 0.6 % off the ellipsoid's) before
    projecting, a graph built by hand may hold anything, and the line is what the roads file,
    OSM and GraphML paths all measure; ``geoaccess check``'s dropped km are measured alike.

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
    geoms = np.array([r[3].get("geometry") for r in rows], dtype=object)
    missing = np.array([g is None for g in geoms])
    if missing.any():
        geoms[missing] = shapely.linestrings(np.stack([xy[u[missing]], xy[v[missing]]], axis=1))
    # From here on the roads are positions on the earth, as a roads file's: a projected graph
    # (osmnx.project_graph, a GK-zone GraphML) is taken to lon/lat once, so lengths (measured
    # on the lines, geodesic; an arc's own `length` is not read) and the analysis CRS do not
    # depend on the CRS the graph was saved in.
    native = None  # a projected graph's own lines, kept for an analysis in its own CRS
    if not source_crs.is_geographic:
        native, native_crs = geoms, source_crs
        geoms, source_crs = _graph_to_lonlat(geoms, source_crs, node_ids[u], node_ids[v])
    dropped_km = np.zeros(len(rows))
    dropped_km[~keep] = _lengths_m(geoms[~keep]) / 1000
    report = {"source": source, "ways_read": int(len(rows)),
              "dropped": _dropped_summary(meaning["dropped"].to_numpy(), dropped_km)}
    if implied.any():
        report["dropped"]["implied one-way (motorway, roundabout)"] = {"ways": int(implied.sum()), "km": 0.0}
    if not keep.any():
        raise InputError(f"the road network holds no usable roads: {_dropped_text(report['dropped'])}")
    idx = np.flatnonzero(keep)
    u, v, geoms, meaning, arc_oneway = u[idx], v[idx], geoms[idx], meaning.iloc[idx].reset_index(drop=True), arc_oneway[idx]
    if native is not None:
        native = native[idx]

    # Twins: orient every two-way arc from its lower to its higher node; an arc and its
    # reverse then share (lo, hi, geometry) and become one two-way segment.
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    grid = 1e-7  # degrees (~1 cm)
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
    if native is not None:  # the same choice of arc and drawing direction
        native = (np.where(two_way, np.where(flip, shapely.reverse(native), native)[first], native[first]), native_crs)
    network = _network_from_segments(seg_u, seg_v, seg_geom, attrs, source_crs, crs, report, native=native)
    network.node_ids = node_ids[network.node_ids.astype(np.int64)]
    return network


def _graph_to_lonlat(geoms: np.ndarray, crs: CRS, u_ids: np.ndarray, v_ids: np.ndarray) -> tuple[np.ndarray, CRS]:
    """A projected graph's arc lines as lon/lat (EPSG:4326), every vertex transformed once.

    Parameters
    ----------
    geoms
        The arcs' LineStrings in ``crs`` (metres).
    crs
        The graph's projected CRS (``graph.graph["crs"]``).
    u_ids, v_ids
        Each arc's end node ids, for the message.

    Returns
    -------
    (numpy.ndarray, pyproj.CRS)
        The lines in lon/lat degrees and EPSG:4326.

    Raises
    ------
    InputError
        Vertices ``crs`` cannot place on the earth (outside the projection's domain: usually
        a wrong ``graph.graph["crs"]``), naming the first arcs and the fix.
    """
    lonlat_crs = CRS("EPSG:4326")
    coords, which = shapely.get_coordinates(geoms, return_index=True)
    with np.errstate(invalid="ignore"):
        lonlat = _project(Transformer.from_crs(crs, lonlat_crs, always_xy=True), coords)
    bad = ~np.isfinite(lonlat).all(axis=1) | (np.abs(lonlat[:, 0]) > 180) | (np.abs(lonlat[:, 1]) > 90)
    if bad.any():
        arcs = np.unique(which[bad])
        x, y = coords[np.flatnonzero(bad)[0]]
        shown = ", ".join(f"{u_ids[a]}->{v_ids[a]}" for a in arcs[:5]) + (" …" if len(arcs) > 5 else "")
        raise InputError(f"the road graph: {int(bad.sum()):,} vertices of {len(arcs):,} arcs (first arcs: {shown}; "
                         f"first at x={x:.2f}, y={y:.2f}) are no place on the earth in the graph's CRS {crs.name} "
                         "(graph.graph['crs']). Set graph.graph['crs'] to the CRS its coordinates are in (for "
                         "GraphML, the graph's 'crs' attribute), or save the graph in EPSG:4326")
    return shapely.transform(geoms, lambda c: lonlat), lonlat_crs  # c: get_coordinates of the same lines


def _first_tag(value: Any) -> Any:
    """A graph attribute as one tag value (osmnx keeps a list where merged ways differ)."""
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _truthy(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        value = value[0] if value else False
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "true", "1", "-1")
    return bool(value)
