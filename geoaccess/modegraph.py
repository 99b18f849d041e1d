"""A road network compiled for one travel mode, and points placed on it.

:func:`compile_mode` turns a :class:`~geoaccess.network.RoadNetwork` into a
:class:`ModeGraph`: CSR arrays of edge travel seconds for ``scipy.sparse.csgraph``, with
the mode's access rules applied (closed roads removed, destination-only roads laid twice so
they are entered or left but never passed through, the main network found by road length).
:func:`place_points` snaps points onto its edges (exact nearest edge, never onto a
motorway, across water or through a gate), with an off-network leg at the mode's access
speed. The searches on it are in :mod:`geoaccess.routing`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

from .errors import InputError, check_choice
from .grids import kdtree_workers, kept
from .modes import DIRECTIONS
from .network import MODES, ModeSpeeds, RoadNetwork, boardable, edge_seconds, load_speeds
from .osmtags import CLOSED, DESTINATION
from .snapping import SegmentIndex, Snapped, WaterIndex, avoid_water, check_points, road_index



_GATE_TIE_M = 0.01  # a private and a public road this close to equally near: the public one


@dataclass
class ModeGraph:
    """A road network compiled for one travel mode.

    Attributes
    ----------
    network : RoadNetwork
        The network routed on. Where the mode has roads open only at the start or end of a
        trip (``access=private|destination|…``), it is the source network with those roads
        laid twice — once for leaving (trips may *start* on them) and once for arriving
        (trips may *end* on them) — joined to the public roads by one-way zero-length
        links, so no route passes *through* a private road (see :func:`compile_mode`).
    mode : str
    speeds : ModeSpeeds
    forward_s, backward_s : numpy.ndarray
        Travel seconds along each edge u→v and v→u (``inf`` = closed).
    eligible : numpy.ndarray
        Edges points snap to: usable by the mode, boardable by its snapping rules, and in
        the main network (strongly connected parts holding at least 5 % of the road length
        of the largest).
    fragment : numpy.ndarray
        Boardable edges of smaller parts: snapped to only when the main network is more than
        ``speeds.fragment_tolerance_m`` farther.
    arrive_edge : numpy.ndarray
        For each edge, the edge a trip *ending* on it uses (itself, except the leaving copy
        of a destination-only road, which maps to its arriving copy).
    n_small_components : int
        Strongly connected parts outside the main network.
    """

    network: RoadNetwork
    mode: str
    speeds: ModeSpeeds
    forward_s: np.ndarray
    backward_s: np.ndarray
    eligible: np.ndarray
    n_small_components: int
    fragment: np.ndarray | None = None
    arrive_edge: np.ndarray | None = None
    # The network compiled (``network`` itself unless roads were laid twice): its edges are the
    # first edges of ``network``, in order, and the only ones snapped to, so every mode's
    # snapping views its one index.
    roads: RoadNetwork | None = field(default=None, repr=False, compare=False)
    # Built on first use and kept: the deduplicated road arcs (snapping and water: kept per road set).
    _arcs: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.fragment is None:
            self.fragment = np.zeros(len(self.eligible), dtype=bool)
        if self.arrive_edge is None:
            self.arrive_edge = np.arange(len(self.eligible))
        if self.roads is None:
            self.roads = self.network

    @property
    def n_nodes(self) -> int:
        return self.network.n_nodes

    def _view(self, mask: np.ndarray) -> SegmentIndex:
        # Copies and links laid after the roads are never snapped to (not in mask).
        return road_index(self.roads).view(mask[:self.roads.n_edges])

    def snap_index(self) -> SegmentIndex:
        """The nearest-edge index over the eligible edges: a view of the compiled roads' one
        index (:func:`geoaccess.snapping.road_index`), shared by every mode."""
        return self._view(self.eligible)

    def fragment_index(self) -> SegmentIndex | None:
        """The nearest-edge index over fragment edges, or None when there are none."""
        if not self.fragment.any():
            return None
        return self._view(self.fragment)

    def public_index(self) -> SegmentIndex | None:
        """The nearest-edge index over eligible edges open to through traffic, or None when
        the mode has no destination-only road."""
        public = self.eligible & (self.arrive_edge == np.arange(len(self.arrive_edge)))
        if public.all() or not public.any():
            return None
        return self._view(public)

    def water_index(self) -> WaterIndex | None:
        """The mapped water off-network legs may not cross, or None when the network has none
        (one index per road set, shared by every mode, as the road index)."""
        if len(self.roads.water) == 0:
            return None
        return kept(self.roads, ("water_index",), lambda: WaterIndex(self.roads.water))

    def snap_key(self) -> tuple[bytes, bytes]:
        """Two mode graphs with equal keys snap every point to the same place."""
        return (np.packbits(self.eligible).tobytes() + str(len(self.eligible)).encode(),
                np.packbits(self.fragment).tobytes() + str(self.speeds.fragment_tolerance_m).encode()
                + str((len(self.network.water), self.speeds.access_max_m)).encode())

    def base_arcs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`road_arcs` with parallel arcs reduced to the fastest, sorted by (tail, head); kept."""
        if self._arcs is None:
            # Every mode on these roads has the same arcs, only other seconds: their sort is kept per network.
            order = kept(self.network, ("arcs by tail, head",), lambda: _by_tail_head(*self._all_arcs()[:2]))
            self._arcs = _dedup(*self._all_arcs(), order)
        return self._arcs

    def _all_arcs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Each edge's two directions, closed ones included (inf seconds).
        edges = self.network.edges
        u, v = edges["u"].to_numpy(), edges["v"].to_numpy()
        return np.r_[u, v], np.r_[v, u], np.r_[self.forward_s, self.backward_s]

    def road_arcs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Directed arcs (tail, head, seconds) of the road graph, closed directions left out."""
        tails, heads, seconds = self._all_arcs()
        open_ = np.isfinite(seconds)
        return tails[open_], heads[open_], seconds[open_]

    def csr(self) -> sp.csr_matrix:
        """The road graph as an ``n × n`` CSR matrix of seconds (parallel arcs: fastest kept)."""
        tails, heads, seconds = self.base_arcs()
        return sp.csr_matrix((seconds, (tails, heads)), shape=(self.n_nodes, self.n_nodes))


def compile_mode(network: RoadNetwork, mode: str, speeds: dict[str, ModeSpeeds] | ModeSpeeds | None = None,
                 min_component_nodes: int | None = None) -> ModeGraph:
    """Compile ``network`` for travel ``mode`` ('walk', 'drive' or 'ambulance').

    ``speeds`` defaults to ``data/speeds.toml`` (see :func:`geoaccess.network.load_speeds`).

    Access per mode comes from the network's ``access_<mode>`` column: closed roads are
    left out; destination-only roads (``private``, ``destination``, …) may be used at the
    start or the end of a trip but never passed through. That is exact, by laying those
    roads twice: a *leaving* copy (trips start there and may join the public roads) and an
    *arriving* copy (entered from the public roads, left only at the trip's end).

    Points snap to the main network — strongly connected parts holding at least 5 % of
    the road length of the largest part (length, not nodes, so the file's simplification
    does not matter) or, when ``min_component_nodes`` is given, at least that many nodes —
    unless a fragment is nearer by more than the mode's ``fragment_tolerance_m``.
    """
    check_choice("mode", mode, MODES)
    if isinstance(speeds, ModeSpeeds):
        spec = speeds
    else:
        spec = (speeds or load_speeds())[mode]
    forward_s, backward_s = edge_seconds(network, spec)
    edges = network.edges
    column = f"access_{mode}"
    access = edges[column].to_numpy() if column in edges else np.zeros(len(edges), dtype=np.int8)
    closed = access == CLOSED
    forward_s[closed] = np.inf
    backward_s[closed] = np.inf
    usable = np.isfinite(forward_s) | np.isfinite(backward_s)
    if not usable.any():
        raise InputError(f"no road in the network can be used by mode {mode!r}; check the highway classes "
                         f"and the {mode} speeds")
    # Strongly connected parts: a road one can enter but never leave (a one-way exit cut
    # at the edge of the extract) is no place to snap a home or a station to.
    inside, main, size, keep = _main_parts(network, forward_s, backward_s, usable, min_component_nodes)
    board = boardable(network, spec)
    eligible = main & board
    fragment = inside & ~main & board
    n_small = int(((size > 0) & ~keep).sum())
    arrive, roads = None, network
    destination = (access == DESTINATION) & usable
    if destination.any():
        # Roads reached only through a destination-only road (the untagged lanes inside a
        # compound whose entrance is access=private) belong to it: a trip may end there.
        destination |= _behind_destination(network, forward_s, backward_s, usable, destination)
        network, forward_s, backward_s, eligible, fragment, arrive = _destination_layers(
            network, forward_s, backward_s, eligible, fragment, destination)
    return ModeGraph(network, mode, spec, forward_s, backward_s, eligible, n_small, fragment, arrive, roads=roads)


def _main_parts(network: RoadNetwork, forward_s: np.ndarray, backward_s: np.ndarray, usable: np.ndarray,
                min_component_nodes: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Strongly connected parts of the open arcs: per edge, whether it lies inside one part
    and inside a main part (see :func:`compile_mode`); per part, its size and whether it is main."""
    edges = network.edges
    u_all, v_all = edges["u"].to_numpy(), edges["v"].to_numpy()
    fwd, bwd = np.isfinite(forward_s), np.isfinite(backward_s)
    tails = np.r_[u_all[fwd], v_all[bwd]]
    heads = np.r_[v_all[fwd], u_all[bwd]]
    arcs = sp.csr_matrix((np.ones(len(tails)), (tails, heads)), shape=(network.n_nodes, network.n_nodes))
    n_comp, label = connected_components(arcs, directed=True, connection="strong")
    inside = usable & (label[u_all] == label[v_all])
    if min_component_nodes is not None:
        touched = np.zeros(network.n_nodes, dtype=bool)
        touched[tails] = touched[heads] = True
        size = np.bincount(label[touched], minlength=n_comp).astype(float)
        keep = size >= min(int(min_component_nodes), size.max())
    else:
        size = np.bincount(label[u_all[inside]], weights=edges["length_m"].to_numpy()[inside], minlength=n_comp)
        keep = size >= 0.05 * size.max() if size.max(initial=0) > 0 else np.zeros(n_comp, dtype=bool)
    return inside, inside & keep[label[u_all]], size, keep


def _behind_destination(network: RoadNetwork, forward_s: np.ndarray, backward_s: np.ndarray, usable: np.ndarray,
                        destination: np.ndarray) -> np.ndarray:
    """Open roads reachable only through destination-only roads (bool per edge).

    Within each strongly connected part of the network, the public roads that stay
    strongly connected without the destination-only ones and hold the most road length
    are its core; the other public roads of a part that holds destination-only roads can
    be reached (or left) only through them, so they share their access.
    """
    edges = network.edges
    u, v = edges["u"].to_numpy(), edges["v"].to_numpy()
    length = edges["length_m"].to_numpy()

    def strong_label(open_: np.ndarray) -> np.ndarray:
        fwd, bwd = open_ & np.isfinite(forward_s), open_ & np.isfinite(backward_s)
        arcs = sp.csr_matrix((np.ones(int(fwd.sum() + bwd.sum())), (np.r_[u[fwd], v[bwd]], np.r_[v[fwd], u[bwd]])),
                             shape=(network.n_nodes, network.n_nodes))
        return connected_components(arcs, directed=True, connection="strong")[1]

    public = usable & ~destination
    whole, part = strong_label(usable), strong_label(public)
    inside = public & (part[u] == part[v]) & (whole[u] == whole[v])
    pieces = pd.DataFrame({"whole": whole[u[inside]], "part": part[u[inside]], "km": length[inside]})
    sums = pieces.groupby(["whole", "part"])["km"].sum().reset_index()
    core = sums.loc[sums.groupby("whole")["km"].idxmax()].set_index("whole")["part"]
    with_destination = np.unique(whole[u[destination & (whole[u] == whole[v])]])
    core_of = core.reindex(whole[u]).to_numpy()
    return (public & (whole[u] == whole[v]) & np.isin(whole[u], with_destination)
            & ~((part[u] == part[v]) & (part[u] == core_of)))


def _destination_layers(network: RoadNetwork, forward_s: np.ndarray, backward_s: np.ndarray, eligible: np.ndarray,
                        fragment: np.ndarray, destination: np.ndarray):
    """Lay destination-only roads twice (leaving and arriving copies), see :func:`compile_mode`.

    Nodes: the road nodes ``0..n-1`` (public layer), then a leaving copy and an arriving
    copy of every node a destination-only road touches. The leaving copy of each such
    road replaces it in place (same edge index, so snapping finds it); the arriving
    copies follow the road edges, then the links leaving → public and public → arriving
    (zero length, one-way, never snapped to).
    """
    edges = network.edges
    n = network.n_nodes
    u, v = edges["u"].to_numpy(), edges["v"].to_numpy()
    idx = np.flatnonzero(destination)
    touched = np.unique(np.r_[u[idx], v[idx]])
    r = len(touched)
    slot = np.full(n, -1, dtype=np.int64)
    slot[touched] = np.arange(r)
    leave_id, arrive_id = n + slot, n + r + slot
    new_u, new_v = u.copy(), v.copy()
    new_u[idx], new_v[idx] = leave_id[u[idx]], leave_id[v[idx]]
    arriving = edges.iloc[idx].copy()
    arriving["u"], arriving["v"] = arrive_id[u[idx]], arrive_id[v[idx]]
    stub = shapely.linestrings(np.repeat(network.node_xy[touched], 2, axis=0), indices=np.repeat(np.arange(r), 2))
    links = gpd.GeoDataFrame({
        "u": np.r_[n + np.arange(r), touched], "v": np.r_[touched, n + r + np.arange(r)],
        "highway": "link", "oneway": True, "length_m": 0.0,
    }, geometry=np.r_[stub, stub], crs=network.crs)
    layered = edges.copy()
    layered["u"], layered["v"] = new_u, new_v
    all_edges = gpd.GeoDataFrame(pd.concat([layered, arriving, links], ignore_index=True), crs=network.crs)
    m, a = len(edges), len(idx)
    node_ids = np.r_[network.node_ids, network.node_ids[touched], network.node_ids[touched]].astype(object)
    node_xy = np.r_[network.node_xy, network.node_xy[touched], network.node_xy[touched]]
    routed = RoadNetwork(crs=network.crs, node_ids=node_ids, node_xy=node_xy, edges=all_edges,
                         report=network.report, water=network.water)
    zeros = np.zeros(2 * r)
    fwd = np.r_[forward_s, forward_s[idx], zeros]
    bwd = np.r_[backward_s, backward_s[idx], np.full(2 * r, np.inf)]
    no = np.zeros(a + 2 * r, dtype=bool)
    arrive = np.arange(m + a + 2 * r)
    arrive[idx] = m + np.arange(a)
    return routed, fwd, bwd, np.r_[eligible, no], np.r_[fragment, no], arrive


@dataclass(frozen=True)
class Placement:
    """Points placed on a :class:`ModeGraph`.

    Attributes
    ----------
    edge, fraction : numpy.ndarray
        Snapped edge and position along it (0 = its u end).
    distance_m : numpy.ndarray
        Off-network distance to the road, metres.
    access_s : numpy.ndarray
        Off-network leg, seconds, at the mode's access speed; ``inf`` when off network.
    on_network : numpy.ndarray
        False where the point is farther than ``access_max_m`` from any usable road.
    """

    edge: np.ndarray
    fraction: np.ndarray
    distance_m: np.ndarray
    access_s: np.ndarray
    on_network: np.ndarray
    # Facility-independent ends of every point's edge, per graph (see _Spliced); not a field.
    _ends: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.edge)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_ends"] = {}  # the cache holds its graph: not worth pickling
        return state

    def subset(self, mask: np.ndarray) -> "Placement":
        return Placement(self.edge[mask], self.fraction[mask], self.distance_m[mask], self.access_s[mask],
                         self.on_network[mask])


def place_points(graph: ModeGraph, points_xy: np.ndarray, snapped: Snapped | None = None,
                 nearest: Snapped | None = None) -> Placement:
    """Snap points (``(n, 2)`` metres in the network CRS) onto ``graph`` and price their access leg.

    A point joins the main network unless a road fragment is nearer by more than the
    mode's ``fragment_tolerance_m`` (then it joins the fragment, and is reachable only from
    what that fragment connects to). Its straight leg to the road never crosses the
    network's mapped water (``RoadNetwork.water``): it then joins the nearest edge whose
    leg is dry, and when none lies within ``access_max_m`` it is off the network
    (``distance_m`` = inf, unreachable). ``snapped`` reuses an earlier snapping of the same
    points by a graph with the same :meth:`ModeGraph.snap_key` (drive and ambulance share
    their roads and snap once). ``nearest`` is the points' nearest positions on the
    eligible edges (``graph.snap_index().query``) when already found, for several modes at
    once (:func:`geoaccess.snapping.query_views`); the water, gate and fragment rules still apply.
    """
    if snapped is None:
        geoms = graph.network.edges.geometry.to_numpy()
        water = graph.water_index()

        def dry(found: Snapped, xy: np.ndarray, mask: np.ndarray) -> Snapped:
            # A leg never crosses mapped water: else the nearest edge of `mask` whose leg is dry.
            return found if water is None else avoid_water(geoms, xy, found, mask, water, graph.speeds.access_max_m)

        points_xy = check_points(points_xy)
        if nearest is None:
            nearest = graph.snap_index().query(points_xy, workers=kdtree_workers())
        snapped = dry(nearest, points_xy, graph.eligible)
        public = graph.public_index()
        if public is not None:
            # At a gate (as near a public road as the private one) a point is on the public road.
            private = graph.arrive_edge[snapped.edge] != snapped.edge
            if private.any():
                near = dry(public.query(points_xy[private], workers=kdtree_workers()), points_xy[private], public.eligible)
                use = near.distance_m <= snapped.distance_m[private] + _GATE_TIE_M
                idx = np.flatnonzero(private)[use]
                edge, fraction, distance = snapped.edge.copy(), snapped.fraction.copy(), snapped.distance_m.copy()
                edge[idx], fraction[idx], distance[idx] = near.edge[use], near.fraction[use], near.distance_m[use]
                snapped = Snapped(edge, fraction, distance)
        fragments = graph.fragment_index()
        # A fragment must be nearer by more than the tolerance: a point within it of the main
        # network keeps it, and is not searched for (three in four homes of the county).
        far = np.flatnonzero(snapped.distance_m > graph.speeds.fragment_tolerance_m) if fragments is not None else []
        if len(far):
            near = dry(fragments.query(points_xy[far], workers=kdtree_workers()), points_xy[far], graph.fragment)
            use = near.distance_m + graph.speeds.fragment_tolerance_m < snapped.distance_m[far]
            idx = far[use]
            edge, fraction, distance = snapped.edge.copy(), snapped.fraction.copy(), snapped.distance_m.copy()
            edge[idx], fraction[idx], distance[idx] = near.edge[use], near.fraction[use], near.distance_m[use]
            snapped = Snapped(edge, fraction, distance)
    on_network = snapped.distance_m <= graph.speeds.access_max_m
    access_s = np.where(on_network, snapped.distance_m / (graph.speeds.access_kmh / 3.6), np.inf)
    return Placement(snapped.edge, snapped.fraction, snapped.distance_m, access_s, on_network)


def _arriving(graph: ModeGraph, placement: Placement) -> Placement:
    """The placement as the *end* of trips: on a destination-only road, its arriving copy."""
    if np.array_equal(graph.arrive_edge[placement.edge], placement.edge):
        return placement
    return Placement(graph.arrive_edge[placement.edge], placement.fraction, placement.distance_m,
                     placement.access_s, placement.on_network)


def _by_tail_head(tails: np.ndarray, heads: np.ndarray) -> np.ndarray:
    """The order sorting arcs by (tail, head) (ties in any order)."""
    # One int64 key per (tail, head) pair: one sort, not a sort per key.
    key = tails.astype(np.int64) * (int(heads.max()) + 1 if len(heads) else 1) + heads
    return np.argsort(key)


def _dedup(tails: np.ndarray, heads: np.ndarray, seconds: np.ndarray,
           order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Open arcs sorted by (tail, head), keeping the fastest of parallel arcs.

    ``order``: :func:`_by_tail_head` of ``tails`` and ``heads`` when already known.
    """
    order = order if order is not None else _by_tail_head(tails, heads)
    tails, heads, seconds = tails[order], heads[order], seconds[order]
    open_ = np.isfinite(seconds)
    tails, heads, seconds = tails[open_], heads[open_], seconds[open_]
    # The fastest of each (tail, head) run: a minimum, the same number whichever order the run is in.
    first = np.flatnonzero(np.r_[True, (tails[1:] != tails[:-1]) | (heads[1:] != heads[:-1])][: len(tails)])
    return tails[first], heads[first], np.minimum.reduceat(seconds, first) if len(first) else seconds
