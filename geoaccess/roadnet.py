"""The road network as arrays: the physical edge table, travel speeds per mode, edge times.

A :class:`RoadNetwork` is a table of *physical* edges in a projected CRS (metres) — one
row per road segment between junctions with its geometry, its class, its length, its
access per mode and whether it is one-way — plus the node coordinates and the mapped
water. Every reader (:mod:`geoaccess.osm` for OSM files, :mod:`geoaccess.osmgraph` for osmnx graphs,
:mod:`geoaccess.roadfiles` for roads files) ends in :func:`_network_from_segments`. The
two directions of a two-way road are one physical edge, so a point snapped to the road
sits on both directions at once. Per travel mode, :func:`edge_seconds` turns the table
into forward and backward travel seconds (``inf`` where a direction is closed).
"""

from __future__ import annotations

import math
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from ._paths import data_path
from .coords import utm_crs_for
from .errors import InputError, check_choice, check_positive
from .grids import kdtree_workers
from .modes import MODES
from . import speedlimits
from .osmtags import ACCESS_NAMES, CLOSED, DESTINATION, OPEN

if TYPE_CHECKING:  # networkx loads only where a graph is built
    import networkx as nx


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
        import networkx as nx

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


@dataclass(frozen=True)
class Runs:
    """Road segments as runs of one vertex array: segment ``i`` is ``coords[start[i]:end[i] + 1]``
    (what :func:`_split_at_nodes` finds; projected once as vertices, not per geometry)."""

    coords: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def lengths(self, steps: np.ndarray) -> np.ndarray:
        """Per segment, the sum of ``steps`` (metres from each vertex to the next of its line,
        0 at a line's end) from its first vertex up to its last (a line's segments are contiguous)."""
        step_seg = np.maximum(np.searchsorted(self.start, np.arange(len(steps)), side="right") - 1, 0)
        return np.bincount(step_seg, weights=steps, minlength=len(self.start))

    def vertices(self, backward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every segment's vertex positions in ``coords``, in order (reversed where ``backward``),
        and the segment of each."""
        counts = self.end - self.start + 1
        seg = np.repeat(np.arange(len(self.start)), counts)
        along = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return np.where(backward[seg], self.end[seg] - along, self.start[seg] + along), seg


def _split_at_nodes(coords: np.ndarray, line_of: np.ndarray, junction: np.ndarray) -> Runs:
    """Cut lines into edges at their junction vertices and at their ends.

    ``coords`` are the vertices of all lines in order, ``line_of`` the line of each (lines
    contiguous), ``junction`` marks vertices where roads meet. Returns, per edge, the
    positions of its first and last vertex in ``coords``.
    """
    starts = np.r_[0, np.flatnonzero(line_of[1:] != line_of[:-1]) + 1]
    ends = np.r_[starts[1:], len(line_of)] - 1
    split = junction.copy()
    split[starts] = split[ends] = True
    node_pos = np.flatnonzero(split)
    # Each consecutive pair of node vertices within one line is one edge.
    same = line_of[node_pos[:-1]] == line_of[node_pos[1:]]
    return Runs(coords, node_pos[:-1][same], node_pos[1:][same])


def _geodesic_steps(lonlat: np.ndarray) -> np.ndarray:
    if len(lonlat) < 2:
        return np.zeros(0)
    return _step_lengths(lonlat[:-1], lonlat[1:], CRS("EPSG:4326"))


def _dropped_summary(reasons: np.ndarray, km: np.ndarray) -> dict[str, dict[str, float]]:
    out = {}
    for reason in sorted(set(reasons) - {""}):
        mask = reasons == reason
        out[reason] = {"ways": int(mask.sum()), "km": round(float(km[mask].sum()), 3)}
    return out


def _dropped_text(dropped: dict[str, dict[str, float]]) -> str:
    return "; ".join(f"{v['ways']:,} ways ({v['km']:,.1f} km) {k}" for k, v in dropped.items()) or "nothing dropped"


def _network_from_segments(u_key: np.ndarray, v_key: np.ndarray, geoms: np.ndarray | Runs, attrs: pd.DataFrame,
                           source_crs: CRS, crs: str | CRS | None, report: dict,
                           water: np.ndarray | None = None, length: np.ndarray | None = None,
                           native: tuple[np.ndarray, CRS] | None = None) -> RoadNetwork:
    """Assemble a :class:`RoadNetwork` from road segments drawn from ``u_key`` to ``v_key``.

    ``geoms`` are LineStrings, or :class:`Runs` of one vertex array (its vertices are
    projected once and the edge lines made from them: the same coordinates, without making
    every line twice). ``attrs`` holds :func:`geoaccess.osmtags.interpret_ways` columns per
    segment; segments open only backwards are turned round so that ``oneway`` always means
    u → v. ``source_crs`` is geographic: every reader hands its roads in as lon/lat, so
    lengths are geodesic and the default analysis CRS is the roads' UTM zone. ``water``
    (geometries in ``source_crs``) is projected with the roads; ``length`` (geodesic metres per
    segment) is computed from LineStrings when not given (required with runs). ``native`` holds
    the same LineStrings in the CRS they were handed in (a projected graph's), used as they are
    when that is the analysis CRS.
    """
    if not source_crs.is_geographic:  # a reader's bug, not the user's input
        raise ValueError(f"road segments must be handed in as lon/lat, got {source_crs.name}")
    backward = attrs["oneway"].to_numpy() == -1
    u_key, v_key = np.where(backward, v_key, u_key), np.where(backward, u_key, v_key)
    node_keys, inverse = np.unique(np.r_[u_key, v_key], return_inverse=True)
    u, v = inverse[: len(u_key)], inverse[len(u_key):]
    if isinstance(geoms, Runs):
        coords = geoms.coords
        first, last = np.where(backward, geoms.end, geoms.start), np.where(backward, geoms.start, geoms.end)
    else:
        geoms = geoms.copy()
        geoms[backward] = shapely.reverse(geoms[backward])
        coords = shapely.get_coordinates(geoms)
        first = np.r_[0, np.cumsum(shapely.get_num_coordinates(geoms))[:-1]]
        last = np.cumsum(shapely.get_num_coordinates(geoms)) - 1
    node_src = np.zeros((len(node_keys), 2))
    node_src[u] = coords[first]
    node_src[v] = coords[last]
    if not np.isfinite(node_src).all():
        raise InputError("some road nodes have NaN or infinite coordinates")
    target_crs = CRS(crs) if crs is not None else _auto_crs(node_src)
    if target_crs.is_geographic:
        raise InputError(f"the analysis CRS must be projected (metres), got {target_crs.to_string()} in degrees; "
                         "leave it unset for an automatic UTM zone")
    # Every vertex projected once; the nodes are vertices (the same numbers as projecting them alone).
    to_target = Transformer.from_crs(source_crs, target_crs, always_xy=True)
    if native is not None and CRS(native[1]) == target_crs:
        # A graph analysed in its own CRS keeps its coordinates exactly (no lon/lat round trip).
        own = native[0].copy()
        own[backward] = shapely.reverse(own[backward])
        xy = shapely.get_coordinates(own)
    else:
        xy = _project(to_target, coords)
    node_xy = np.zeros((len(node_keys), 2))
    node_xy[u] = xy[first]
    node_xy[v] = xy[last]
    if isinstance(geoms, Runs):
        vert, seg = geoms.vertices(backward)
        projected = shapely.linestrings(xy[vert], indices=seg)
    else:
        projected = shapely.transform(geoms, lambda c: xy)  # c is `coords`: get_coordinates of the same geoms
    if length is None:
        length = _lengths_m(geoms)
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
            f"{reason} {v['ways']:,} ways, {v['km']:,.1f} km{_rows_text(report, reason)}"
            for reason, v in report["dropped"].items()))
    access = [f"{mode} " + ", ".join(f"{name} {km:,.1f} km" for name, km in report[f"access_{mode}"].items())
              for mode in MODES if report.get(f"access_{mode}")]
    if access:
        lines.append("  access (of the roads kept): " + "; ".join(access))
    water = report.get("water")
    lines.append(f"  water: {water['areas']:,} areas, {water['coastline_km']:,.1f} km of coastline (homes and "
                 "facilities do not join a road across it)" if water else
                 "  water: none mapped in the source (homes may join a road across a river)")
    return lines


def _rows_text(report: dict, reason: str) -> str:
    """The rows of a roads file ``reason`` dropped (``report["dropped_rows"]``), as rows without a
    geometry are named in their warning; nothing for OSM (its ways are no rows)."""
    given = report.get("dropped_rows", {}).get(reason)
    if not given or not given["rows"]:
        return ""
    more = f" and {given['count'] - len(given['rows']):,} more" if given["count"] > len(given["rows"]) else ""
    return f" (0-based rows in file order: {', '.join(str(r) for r in given['rows'])}{more})"


def _lengths_m(geoms: np.ndarray) -> np.ndarray:
    """Line lengths in metres, geodesic on the WGS84 ellipsoid (``geoms`` in lon/lat degrees:
    every reader takes its roads to lon/lat first, so no projection's scale factor enters)."""
    coords, which = shapely.get_coordinates(geoms, return_index=True)
    same = which[1:] == which[:-1]
    step = _step_lengths(coords[:-1][same], coords[1:][same], CRS("EPSG:4326"))
    return np.bincount(which[1:][same], weights=step, minlength=len(geoms))


_HALVES_FROM = 50_000  # geodesic steps computed in two threads from this many


def _step_lengths(a: np.ndarray, b: np.ndarray, crs: CRS) -> np.ndarray:
    """Geodesic distances a → b in metres on the WGS84 ellipsoid (``(n, 2)`` each, in the
    geographic ``crs``: every reader measures its roads in lon/lat)."""
    if not crs.is_geographic:  # a reader's bug, not the user's input
        raise ValueError(f"road lengths are measured in lon/lat, got {crs.name}")
    from pyproj import Geod

    geod = Geod(ellps="WGS84")

    # each step is computed alone: the halves give the same numbers as one call
    return _in_halves(lambda part: geod.inv(a[part, 0], a[part, 1], b[part, 0], b[part, 1])[2], len(a))


def _project(transformer: Transformer, coords: np.ndarray) -> np.ndarray:
    """``(n, 2)`` coordinates through ``transformer``; large arrays in two halves on two threads
    (pyproj lets go of the GIL and keeps a PROJ object per thread; each point is transformed alone)."""
    return _in_halves(lambda part: np.column_stack(transformer.transform(coords[part, 0], coords[part, 1])),
                      len(coords))


def _in_halves(run: Callable[[slice], np.ndarray], n: int) -> np.ndarray:
    """``run(slice)`` over ``n`` items, concatenated; from :data:`_HALVES_FROM` items in two halves on
    two threads (for pyproj calls, which let go of the GIL), unless the run's thread budget
    (``GEOACCESS_KDTREE_WORKERS``; run-region sets it) is one thread."""
    if n < _HALVES_FROM or kdtree_workers() == 1:
        return run(slice(None))
    half = n // 2
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(run, slice(None, half))
        second = run(slice(half, None))
        return np.concatenate([first.result(), second])


def _auto_crs(lonlat: np.ndarray) -> CRS:
    """The analysis CRS when none is given: the UTM zone of the nodes' mean lon/lat.

    Every reader (OSM files, roads files and graphs, projected ones taken to lon/lat first)
    arrives here in lon/lat, so the analysis CRS is a function of where the roads lie, never
    of the CRS they were saved in.
    """
    return utm_crs_for(float(np.mean(lonlat[:, 0])), float(np.mean(lonlat[:, 1])))


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
    # Per class, then spread by class code: a dozen look-ups, not one per edge.
    code, classes = pd.factorize(network.edges["highway"].to_numpy().astype(str))
    class_kmh = np.array([speeds.kmh.get(c, speeds.kmh.get(c.replace("_link", ""), math.nan))
                          for c in classes], dtype=float)[code]
    congestion = np.array([speeds.congestion.get(c, speeds.congestion.get(c.replace("_link", ""), 1.0))
                           for c in classes], dtype=float)[code]
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
