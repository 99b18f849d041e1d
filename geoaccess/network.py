"""Road networks from any source: :func:`network_from_file` picks the reader by file type.

The network itself (:class:`RoadNetwork`, speeds per mode, edge times) is in
:mod:`geoaccess.roadnet`; OSM files in :mod:`geoaccess.osm`, osmnx graphs in :mod:`geoaccess.osmgraph`; roads files
in :mod:`geoaccess.roadfiles`. This module re-exports their public names, so
``from geoaccess.network import RoadNetwork, load_speeds`` keeps working.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pyproj import CRS

from .errors import InputError
from .io import VECTOR_SUFFIXES, check_input_file, read_vector
from .osm import graph_from_bbox, graph_from_place, network_from_osm, osmnx_settings
from .osmgraph import network_from_graph
from .roadfiles import graph_from_lines, network_from_lines
from .roadnet import (MODES, ModeSpeeds, RoadNetwork, boardable, edge_kmh, edge_seconds, load_report, load_speeds,
                      parse_maxspeed, report_lines)

if TYPE_CHECKING:  # networkx loads only where a graph is built
    import networkx as nx

__all__ = ["MODES", "NETWORK_SUFFIXES", "ModeSpeeds", "RoadNetwork", "boardable", "edge_kmh", "edge_seconds",
           "graph_from_bbox", "graph_from_file", "graph_from_lines", "graph_from_place", "load_report", "load_speeds",
           "network_from_file", "network_from_graph", "network_from_lines", "network_from_osm", "osmnx_settings",
           "parse_maxspeed", "report_lines"]

NETWORK_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.xml", ".xml", ".graphml") + VECTOR_SUFFIXES


def graph_from_file(path: str | Path) -> nx.MultiDiGraph:
    """Read a road file as an osmnx-style graph (:meth:`RoadNetwork.to_networkx` of :func:`network_from_file`)."""
    return network_from_file(path).to_networkx()


def network_from_file(path: str | Path, crs: str | CRS | None = None, *, class_column: str | None = None,
                      oneway_column: str | None = None, maxspeed_column: str | None = None,
                      classes: dict[str, str] | None = None, design_speed: str = "none",
                      layer: str | None = None) -> RoadNetwork:
    """Load a road network file: OSM ``.osm.pbf``/``.osm`` (:func:`network_from_osm`),
    GraphML saved by osmnx, or a roads vector file (GeoPackage, Shapefile, GeoJSON).

    Parameters
    ----------
    crs
        Projected analysis CRS in metres; default: the UTM zone of the network's centre
        (for roads files and GraphML whatever CRS they are saved in; lengths are geodesic
        either way).
    class_column, oneway_column, maxspeed_column, classes, design_speed
        Roads vector files only (see :func:`network_from_lines`); OSM files carry tags.
    layer
        The layer of a GeoPackage holding several (required then; ``[network] layer``).

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
    if layer is not None:
        given["layer"] = layer
    if given and not name.endswith(VECTOR_SUFFIXES):
        keys = {"class_column": "class", "oneway_column": "oneway", "maxspeed_column": "maxspeed",
                "classes": "classes", "design_speed": "design_speed", "layer": "layer"}
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
            lines = read_vector(p, "road network", layer=given.pop("layer", None), use_arrow=True)
            return network_from_lines(lines, crs=crs, name=p.name, **given)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"could not read road network {p.name}: {type(exc).__name__}: {exc}") from None
    return network_from_graph(graph, crs=crs, source=p.name)
