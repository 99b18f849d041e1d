"""OpenStreetMap roads: ``.osm.pbf`` and ``.osm`` XML read with pyosmium, and osmnx downloads,
all through one interpretation of the tags (:mod:`geoaccess.osmtags`).

Files are read straight into a :class:`~geoaccess.roadnet.RoadNetwork` (roads split at
junctions, mapped water kept for snapping); networkx is used only for graphs users hand in
(:func:`geoaccess.osmgraph.network_from_graph`) and for osmnx downloads (:func:`graph_from_place`).
"""

from __future__ import annotations

import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from .errors import InputError, counted
from .osmfiles import osm_file, raise_if_malformed, raise_if_nodes_misplaced, raise_if_overlong
from .osmtags import TAG_KEYS, interpret_ways
from .roadnet import (RoadNetwork, _dropped_summary, _dropped_text, _geodesic_steps, _network_from_segments,
                      _split_at_nodes)
from .speedlimits import RoadDataWarning

if TYPE_CHECKING:  # networkx loads only where a graph is built
    import networkx as nx


def _is_water_area(tags: Any) -> bool:
    """OSM tags of a water surface: ``natural=water``, ``waterway=riverbank``, ``water=river``."""
    return tags.get("natural") == "water" or tags.get("waterway") == "riverbank" or tags.get("water") == "river"


_CHUNK_WAYS = 4096  # road ways parsed per numpy call (~40,000 nodes: small temporaries)
_OPL_ESCAPE = re.compile(r"%([0-9a-fA-F]+)%")


def _opl_text(text: str) -> str:
    """A key or value as OPL writes it (``%hex%`` for spaces, commas, ``=``, ``%`` …), decoded."""
    return _OPL_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "%" in text else text


def _opl_tags(field: str) -> dict[str, str]:
    """An OPL tags field (``k=v,k=v`` without its leading ``T``) as a dict, still escaped.

    Decode with :func:`_opl_text` before use. The keys and values geoaccess compares with
    (``highway``, ``natural=water`` …) need no escape, so they compare equal escaped or not.
    """
    return dict(kv.split("=", 1) for kv in field.split(",")) if field else {}


def _opl_nodes(fields: list[str], n_nodes: int) -> np.ndarray:
    """OPL node lists with locations (``n1x117.1y33.5,n3xy,…``, no leading ``N``) as (id, lon, lat) rows.

    A node missing from the extract (``n3xy``) gets NaN lon/lat. numpy's text reader rounds
    correctly, as pyosmium's ``Location.lon`` (whole 1e-7 degrees / 1e7) does: the same doubles.
    """
    # Ids and coordinates hold only digits, '.' and '-': the letters are the only separators.
    text = ",".join(fields).replace("n", "").replace("xy", ",nan,nan").replace("x", ",").replace("y", ",")
    arr = np.fromstring(text, dtype=np.float64, sep=",")
    if arr.size != 3 * n_nodes:
        raise RuntimeError(f"OPL node list read as {arr.size} numbers, expected {3 * n_nodes}")
    return arr.reshape(-1, 3)


def _read_osm(path: Path) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
    """Ways with a ``highway`` tag, and mapped water, from an OSM PBF or XML file, with pyosmium.

    Returns the ways' tags (one row per way, :data:`geoaccess.osmtags.TAG_KEYS` columns,
    indexed by way id), per way node: its way's row, the OSM node id, lon and lat; the way
    ids; and the water as lon/lat shapely geometries (coastline LineStrings, water
    Polygons from closed ways and MultiPolygons from multipolygon relations). Nodes
    missing from the extract are left out; the last item says where: ``after_gap`` (per
    returned node, True where its way lost the node before it: the way is cut there),
    ``ways_cut``, ``nodes_missing`` (of the ways returned) and ``ways_lost`` (road ways
    left out with fewer than two nodes in the file).
    """
    import osmium

    # libosmium reads the file, keeps the tagged ways and relations and writes them as OPL
    # text with their nodes' locations, all in C++; the text is parsed here in bulk. Handing
    # every way node to Python as an object cost ~1 s of the county's roads.osm.
    source = osm_file(path)
    with tempfile.TemporaryDirectory(prefix="geoaccess-osm-") as tmp:
        opl = Path(tmp) / "ways.opl"
        locations = osmium.NodeLocationsForWays(osmium.index.create_map("flex_mem"))
        locations.ignore_errors()  # a node missing from the extract: no location (left out below)
        writer = osmium.SimpleWriter(osmium.io.File(str(opl), "opl,locations_on_ways=true,add_metadata=false"))
        try:
            osmium.apply(source, locations, osmium.filter.EntityFilter(osmium.osm.WAY | osmium.osm.RELATION),
                         osmium.filter.KeyFilter("highway", "natural", "waterway", "water"), writer)
            writer.close()
        except (OSError, RuntimeError, ValueError) as exc:
            with suppress(Exception):  # already closed, or its flush is what failed
                writer.close()
            if isinstance(exc, UnicodeDecodeError):
                # libosmium's message quoted bytes of the file cut mid-character; pybind11 could
                # not decode it and raised this instead: the message itself, decoded leniently.
                exc = RuntimeError(exc.object.decode("utf-8", "replace"))
            _raise_if_unsorted(path, exc)
            raise_if_overlong(path, exc)
            raise_if_malformed(path, exc)
            if shutil.disk_usage(tmp).free < 64 * 2**20:
                raise InputError(f"could not read {path.name}: the temporary copy of its ways in {tmp} ran out of disk "
                                 "space; free space there or set TMPDIR to a folder with room") from None
            raise exc from None
        # Line by line and in chunks of ways: no temporary string or array of the whole file.
        # (glibc raises its mmap threshold to the largest block freed: one ~20 MB string left
        # the county run's later arrays on the heap and its peak RSS ~170 MB higher.)
        rows: list[dict] = []
        way_ids: list[int] = []
        parts: list[np.ndarray] = []  # (node id, lon, lat) of the road ways' nodes, in order
        counts: list[int] = []  # nodes per road way
        chunk: list[str] = []
        chunk_nodes = 0  # nodes in chunk
        water_fields: list[tuple[bool, str]] = []  # (coastline?, node list) of water ways
        water_relations = False
        with open(opl, encoding="utf-8") as lines:
            for line in lines:
                head, tag_field, rest = line.rstrip("\n").split(" ")  # spaces inside tags are escaped
                tags = _opl_tags(tag_field[1:])
                if head[0] == "r":
                    water_relations |= tags.get("type") == "multipolygon" and _is_water_area(tags)
                    continue
                if "highway" in tags:
                    rows.append({k: _opl_text(v) for k in TAG_KEYS if (v := tags.get(k)) is not None})
                    way_ids.append(int(head[1:]))
                    counts.append(rest.count(",") + 1 if len(rest) > 1 else 0)
                    if counts[-1]:  # a way with no nodes adds none (its empty list would break the join)
                        chunk.append(rest[1:])
                        chunk_nodes += counts[-1]
                    if len(chunk) == _CHUNK_WAYS:
                        parts.append(_opl_nodes(chunk, chunk_nodes))
                        chunk, chunk_nodes = [], 0
                elif tags.get("natural") == "coastline" or _is_water_area(tags):  # not natural=wood …
                    water_fields.append((tags.get("natural") == "coastline", rest[1:]))
        if chunk:
            parts.append(_opl_nodes(chunk, chunk_nodes))

    water: list[Any] = []
    for coastline, field in water_fields:
        nodes = _opl_nodes([field], field.count(",") + 1 if field else 0)
        nodes = nodes[_located(nodes)]
        if len(nodes) < 2:
            continue
        if coastline:
            water.append(shapely.LineString(nodes[:, 1:]))
        elif len(nodes) >= 4 and nodes[0, 0] == nodes[-1, 0]:
            water.append(shapely.Polygon(nodes[:, 1:]))
    if water_relations:
        # Rivers and lakes mapped as multipolygon relations: pyosmium assembles them (one
        # more pass over the file, only when it holds some).
        factory = osmium.geom.WKBFactory()
        areas = osmium.FileProcessor(source).with_areas(osmium.filter.KeyFilter("natural", "waterway", "water"))
        try:
            for area in areas.with_filter(osmium.filter.EntityFilter(osmium.osm.AREA)):
                if not area.from_way() and _is_water_area(area.tags):
                    try:
                        water.append(shapely.from_wkb(factory.create_multipolygon(area)))
                    except RuntimeError:  # an unclosed ring at the edge of the extract: left out
                        continue
        except RuntimeError as exc:
            _raise_if_unsorted(path, exc)
            raise
    water_geoms = shapely.make_valid(np.array(water, dtype=object)) if water else np.empty(0, dtype=object)

    arr = np.concatenate(parts) if parts else np.zeros((0, 3))
    row_of = np.repeat(np.arange(len(rows), dtype=np.int64), np.asarray(counts, dtype=np.int64))
    located = _located(arr)
    if not located.all():
        raise_if_nodes_misplaced(path, source, np.unique(arr[~located, 0]).astype(np.int64))
    # A way with fewer than two located nodes is no road: its row goes with it.
    keep_row = np.bincount(row_of[located], minlength=len(rows)) >= 2
    # A node whose predecessor in its way is missing (the way ran out of the extract and back):
    # the way is broken before it, not joined by a straight line across what the file lacks.
    after_gap = np.zeros(len(arr), dtype=bool)
    after_gap[1:] = ~located[:-1] & (row_of[1:] == row_of[:-1])
    missing = {"ways_cut": int(((np.bincount(row_of[~located], minlength=len(rows)) > 0) & keep_row).sum()),
               "nodes_missing": int((~located & keep_row[row_of]).sum()), "ways_lost": int((~keep_row).sum())}
    kept = located & keep_row[row_of]
    arr, row_of, missing["after_gap"] = arr[kept], row_of[kept], after_gap[kept]
    row_of = (np.cumsum(keep_row) - 1)[row_of]
    rows = [r for r, k in zip(rows, keep_row) if k]
    way_ids = np.asarray(way_ids, dtype=np.int64)[keep_row]
    tags = pd.DataFrame(rows, columns=list(TAG_KEYS), index=pd.Index(way_ids, name="osm_way"))
    if not rows:
        return (tags, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 2)), np.zeros(0, np.int64),
                water_geoms, missing)
    return tags, row_of, arr[:, 0].astype(np.int64), arr[:, 1:], way_ids, water_geoms, missing


def _raise_if_unsorted(path: Path, exc: Exception) -> None:
    """libosmium's "... IDs out of order" as an :class:`InputError` with the fix (JOSM saves new,
    negative-id objects after the others; assembling multipolygons needs the file sorted)."""
    if "out of order" in str(exc):
        raise InputError(f"could not read {path.name}: its objects are not sorted by type and id ({exc}); "
                         f"sort it first, e.g. `osmium sort {path.name} -o sorted.osm.pbf` (osmium-tool), "
                         "and give the sorted file") from None


def _warn_missing_nodes(name: str, missing: dict) -> None:
    """A :class:`~geoaccess.speedlimits.RoadDataWarning` for roads whose nodes the file lacks."""
    said = []
    if missing["ways_cut"]:
        one = missing["ways_cut"] == 1
        said.append(f"{counted(missing['ways_cut'], 'road')} {'lacks' if one else 'lack'} "
                    f"{counted(missing['nodes_missing'], 'node')} ({'it runs' if one else 'they run'} out of the extract): "
                    f"{'it is' if one else 'each is'} cut where nodes are missing, not joined across the gap")
    if missing["ways_lost"]:
        one = missing["ways_lost"] == 1
        said.append(f"{counted(missing['ways_lost'], 'road')} {'has' if one else 'have'} fewer than two of "
                    f"{'its' if one else 'their'} nodes in the file and {'is' if one else 'are'} left out")
    if said:
        warnings.warn(f"{name}: {'; '.join(said)}. Roads across the edge of the area may be missing: extract a "
                      "larger area, with complete ways (`osmium extract --strategy complete_ways`, or a Geofabrik "
                      "extract).", RoadDataWarning, stacklevel=3)


def _located(nodes: np.ndarray) -> np.ndarray:
    """Rows of (id, lon, lat) whose location is valid (pyosmium's ``Location.valid()``)."""
    return (np.abs(nodes[:, 1]) <= 180) & (np.abs(nodes[:, 2]) <= 90)


def network_from_osm(path: str | Path, crs: str | CRS | None = None) -> RoadNetwork:
    """Road network from an OpenStreetMap ``.osm.pbf`` or ``.osm`` XML file (pyosmium).

    Both formats are read by the same code and every way goes through
    :func:`geoaccess.osmtags.interpret_ways`: which ways are roads, access per mode,
    one-way and maxspeed. Ways are split into edges at junctions (nodes shared by two
    roads, or met twice by one) and at their ends. The file is read by its content
    (:func:`geoaccess.osmfiles.osm_file`: PBF, XML, gzip/bzip2 XML), with a warning
    where its name says otherwise.

    Raises
    ------
    InputError
        The file is no OSM data (what it is and the fix), holds a tag longer than
        libosmium reads (the objects and keys), is unsorted, or holds no usable road.
    """
    p = Path(path)
    tags, way_row, refs, lonlat, way_ids, water, missing = _read_osm(p)
    if len(tags) == 0 and missing["ways_lost"]:
        raise InputError(f"{p.name} holds {counted(missing['ways_lost'], 'way')} with a highway tag but not "
                         f"{'its' if missing['ways_lost'] == 1 else 'their'} nodes (no way "
                         "has two of its nodes in the file): extract the area with the ways' nodes, e.g. `osmium "
                         "extract --strategy complete_ways` or Overpass `(way[highway](…); >;); out;`")
    if len(tags) == 0:
        raise InputError(f"{p.name} holds no roads (no ways with a highway tag); is it an OSM extract of the area?")
    _warn_missing_nodes(p.name, missing)
    meaning = interpret_ways(tags)
    # Pieces of ways between nodes missing from the file: a way is cut at such a gap.
    piece = np.cumsum(np.r_[True, way_row[1:] != way_row[:-1]] | missing["after_gap"])
    # Metres from each node to the next of its way (0 at a way's end): summed per way for the
    # report and per edge for its length, as roads files do (one geodesic pass, not two).
    steps = np.zeros(len(lonlat))
    steps[:-1] = np.where(piece[1:] == piece[:-1], _geodesic_steps(lonlat), 0.0)
    way_km = np.bincount(way_row, weights=steps, minlength=len(tags)) / 1000
    keep_way = meaning["dropped"].to_numpy() == ""
    report = {"source": p.name, "ways_read": int(len(tags)),
              "dropped": _dropped_summary(meaning["dropped"].to_numpy(), way_km)}
    if not keep_way.any():
        raise InputError(f"{p.name} holds no usable roads: {_dropped_text(report['dropped'])}")
    keep_node = keep_way[way_row]
    way_row, refs, lonlat, steps = way_row[keep_node], refs[keep_node], lonlat[keep_node], steps[keep_node]
    # Junctions: a node met more than once among the kept ways' nodes, and every way end.
    _, inverse, counts = np.unique(refs, return_inverse=True, return_counts=True)
    runs = _split_at_nodes(lonlat, piece[keep_node], counts[inverse] > 1)
    seg_start, seg_end = runs.start, runs.end
    seg_way = way_row[seg_start]
    attrs = meaning.iloc[seg_way].reset_index(drop=True)
    attrs["osm_way"] = way_ids[seg_way]
    return _network_from_segments(refs[seg_start], refs[seg_end], runs, attrs, CRS("EPSG:4326"), crs, report,
                                  water=water, length=runs.lengths(steps))


@contextmanager
def osmnx_settings() -> Iterator[None]:
    """osmnx settings under which its graphs read like geoaccess's own file readers.

    Inside the ``with`` block:

    - ``osmnx.settings.useful_tags_way`` holds osmnx's own list plus
      :data:`geoaccess.osmtags.TAG_KEYS` (access per mode, ``emergency``, ``area``,
      ``junction``, ``bridge``, ``tunnel`` …), so a download or ``osmnx.graph_from_xml``
      keeps them and :func:`~geoaccess.osmgraph.network_from_graph` reads them like a file's tags;
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
    (:func:`osmnx_settings`); :func:`~geoaccess.osmgraph.network_from_graph` then applies the same rules as to
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
