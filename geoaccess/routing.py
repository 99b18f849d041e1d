"""Travel times on a compiled road graph: nearest facility and bounded OD matrices.

A :class:`ModeGraph` compiles a :class:`~geoaccess.network.RoadNetwork` for one travel
mode into CSR arrays of edge travel seconds for ``scipy.sparse.csgraph``. Points are
placed on it with :func:`place_points` (snapped onto edges, with an off-network leg at
the mode's access speed). Facilities are spliced into the graph at their exact position
on their edge; each gets a private source node whose edge weight is its own access leg,
so *one* multi-source Dijkstra (``min_only=True``) gives every node its nearest facility
and the time to it. A demand point then takes the better of the two ends of the edge
piece it lies on — exact, without adding 200k demand nodes to the graph.

Direction: ``to_facility`` (residents travel to a clinic: the search runs on the
reversed graph) or ``from_facility`` (an ambulance drives from its station to the
patient: forward search). On one-way streets the two differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from .errors import check_choice, check_positive
from .grids import kept
from .modegraph import DIRECTIONS, ModeGraph, Placement, _arriving, _dedup, compile_mode, place_points

__all__ = ["DIRECTIONS", "ModeGraph", "NearestResult", "Placement", "compile_mode", "edge_piece_times", "nearest_facility",
           "od_matrix", "place_points"]


@dataclass(frozen=True)
class NearestResult:
    """Every demand point's time to its nearest facility.

    Attributes
    ----------
    minutes : numpy.ndarray
        Minutes to (or from) the nearest facility, including both off-network legs;
        ``inf`` when unreachable or off network.
    facility : numpy.ndarray
        Index (into the facilities given) of that facility; -1 when unreachable.
    node_minutes : numpy.ndarray
        Minutes at every road node (for isochrones and checks).
    """

    minutes: np.ndarray
    facility: np.ndarray
    node_minutes: np.ndarray

    @property
    def n_unreachable(self) -> int:
        return int(np.isinf(self.minutes).sum())


class _Spliced:
    """The road graph with facility positions spliced into their edges.

    Node numbering: road nodes ``0..n-1``, then one node per facility at its position on
    its edge (``n + j``), then one private source node per facility (``n + k + j``),
    joined to its position by an arc weighing the facility's access leg.

    The road arcs are the graph's kept :meth:`ModeGraph.base_arcs`, *all* of them: an
    edge holding facilities keeps its own arcs u→v and v→u (going through its facilities
    costs the same), and the chain u → p1 → … → pk → v (both ways) is added beside it.

    Attributes read by :mod:`geoaccess.isochrones`: ``matrix``, ``sources``,
    ``sorted_edge``, ``sorted_frac``, ``sorted_node``.
    """

    def __init__(self, graph: ModeGraph, facilities: Placement, direction: str):
        self.graph = graph
        self.direction = direction
        if direction == "to_facility":  # people end their trip at the facility
            facilities = _arriving(graph, facilities)
        n, k = graph.n_nodes, len(facilities)
        edges = graph.network.edges
        u_all, v_all = edges["u"].to_numpy(), edges["v"].to_numpy()
        fwd_all, bwd_all = graph.forward_s, graph.backward_s
        usable = np.flatnonzero(facilities.on_network)
        order = usable[np.lexsort((facilities.fraction[usable], facilities.edge[usable]))]
        fac_edge = facilities.edge[order]
        fac_frac = facilities.fraction[order]
        fac_node = n + order
        self.sorted_key = fac_edge * 2.0 + fac_frac
        self.sorted_edge, self.sorted_frac, self.sorted_node = fac_edge, fac_frac, fac_node
        self.split = np.zeros(len(edges), dtype=bool)
        self.split[fac_edge] = True

        base_t, base_h, base_s = graph.base_arcs()
        if len(order):
            # Chain u → p1 → … → pk → v along every edge that holds facilities.
            prev_same = np.r_[False, fac_edge[1:] == fac_edge[:-1]]
            next_same = np.r_[fac_edge[:-1] == fac_edge[1:], False]
            prev_node = np.where(prev_same, np.roll(fac_node, 1), u_all[fac_edge])
            prev_frac = np.where(prev_same, np.roll(fac_frac, 1), 0.0)
            last = ~next_same
            piece_tail = np.r_[prev_node, fac_node[last]]
            piece_head = np.r_[fac_node, v_all[fac_edge[last]]]
            piece_edge = np.r_[fac_edge, fac_edge[last]]
            piece_len = np.r_[fac_frac - prev_frac, 1.0 - fac_frac[last]]
            p_t, p_h, p_s = _dedup(np.r_[piece_tail, piece_head], np.r_[piece_head, piece_tail],
                                   np.r_[_scale(piece_len, fwd_all[piece_edge]), _scale(piece_len, bwd_all[piece_edge])])
        else:
            p_t = p_h = np.zeros(0, dtype=np.int64)
            p_s = np.zeros(0)
        # Every piece arc touches a facility node, so none is parallel to a road arc.
        tails, heads, secs = np.r_[base_t, p_t], np.r_[base_h, p_h], np.r_[base_s, p_s]
        if direction == "to_facility":
            tails, heads = heads, tails
        self.sources = n + k + usable
        self.n_total = n + 2 * k
        self.matrix = sp.csr_matrix((np.r_[secs, facilities.access_s[usable]],
                                     (np.r_[tails, self.sources], np.r_[heads, n + usable])),
                                    shape=(self.n_total, self.n_total))
        self.n_facilities = k

    def _patched(self, demand: Placement) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        """Points on edges holding facilities, and their ends/seconds (as :meth:`demand_ends`)."""
        ends = _base_ends(self.graph, demand, self.direction == "from_facility")
        idx = np.flatnonzero(self.split[ends[0]])
        g = self.graph
        edges = g.network.edges
        e = ends[0][idx]
        f = demand.fraction[idx]
        key = e * 2.0 + f
        i = np.searchsorted(self.sorted_key, key, side="right") - 1
        j = i + 1
        m = len(self.sorted_key)
        ic, jc = np.clip(i, 0, max(m - 1, 0)), np.clip(j, 0, max(m - 1, 0))
        has_prev = (i >= 0) & (self.sorted_edge[ic] == e) if m else np.zeros(len(e), bool)
        has_next = (j < m) & (self.sorted_edge[jc] == e) if m else np.zeros(len(e), bool)
        u = edges["u"].to_numpy()[e]
        v = edges["v"].to_numpy()[e]
        prev_node = np.where(has_prev, self.sorted_node[ic] if m else 0, u)
        prev_frac = np.where(has_prev, self.sorted_frac[ic] if m else 0, 0.0)
        next_node = np.where(has_next, self.sorted_node[jc] if m else 0, v)
        next_frac = np.where(has_next, self.sorted_frac[jc] if m else 0, 1.0)
        fwd, bwd = g.forward_s[e], g.backward_s[e]
        # Moving forward (u→v) from the point to the next node, or from the previous node to it.
        to_next = _scale(next_frac - f, fwd)
        to_prev = _scale(f - prev_frac, bwd)
        from_prev = _scale(f - prev_frac, fwd)
        from_next = _scale(next_frac - f, bwd)
        return idx, (prev_node, next_node, to_prev, to_next, from_prev, from_next)

    def demand_ends(self, demand: Placement) -> tuple[np.ndarray, ...]:
        """For each demand point: the nodes before and after it on its edge piece, and the
        seconds to reach each of them from the point (and from each of them to the point)."""
        base = _base_ends(self.graph, demand, self.direction == "from_facility")[1:]
        idx, patch = self._patched(demand)
        out = tuple(b.copy() for b in base)
        for full, part in zip(out, patch):
            full[idx] = part
        return out

    def times(self, demand: Placement, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Seconds for every demand point from node seconds ``dist`` (last axis = nodes).

        Returns the seconds (``inf`` off network), whether the previous node's side gave
        them, and the previous and next node of each point.
        """
        _, prev_node, next_node, to_prev, to_next, from_prev, from_next = _base_ends(self.graph, demand, self.direction == "from_facility")
        idx, (p_prev, p_next, p_to_prev, p_to_next, p_from_prev, p_from_next) = self._patched(demand)
        if self.direction == "to_facility":
            a, b, pa, pb = to_prev, to_next, p_to_prev, p_to_next
        else:
            a, b, pa, pb = from_prev, from_next, p_from_prev, p_from_next
        via_prev = a + dist[..., prev_node]
        via_next = b + dist[..., next_node]
        via_prev[..., idx] = pa + dist[..., p_prev]
        via_next[..., idx] = pb + dist[..., p_next]
        if len(idx):
            prev_node, next_node = prev_node.copy(), next_node.copy()
            prev_node[idx], next_node[idx] = p_prev, p_next
        seconds = np.minimum(via_prev, via_next)
        seconds += demand.access_s
        return np.where(demand.on_network, seconds, np.inf), via_prev <= via_next, prev_node, next_node


def _base_ends(graph: ModeGraph, demand: Placement, arriving: bool = False) -> tuple[np.ndarray, ...]:
    """Edge, u, v and the seconds point → u / v and u / v → point of every demand point,
    as if no facility lay on its edge; computed once per (graph, placement, role) and kept.
    ``arriving``: the points end trips (an ambulance drives to them)."""
    key = (id(graph), arriving)
    cached = demand._ends.get(key)
    if cached is not None and cached[0] is graph:
        return cached[1]
    edges = graph.network.edges
    e = np.where(demand.on_network, demand.edge, 0)
    if arriving:
        e = graph.arrive_edge[e]
    f = demand.fraction
    fwd, bwd = graph.forward_s[e], graph.backward_s[e]
    ends = (e, edges["u"].to_numpy()[e], edges["v"].to_numpy()[e],
            _scale(f, bwd), _scale(1.0 - f, fwd), _scale(f, fwd), _scale(1.0 - f, bwd))
    for a in ends:
        a.flags.writeable = False
    for k in [k for k in demand._ends if demand._ends[k][0] is not graph]:
        del demand._ends[k]
    demand._ends[key] = (graph, ends)
    return ends


def _scale(fraction: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    # A zero-length piece of a closed direction costs nothing (the point is at the node).
    with np.errstate(invalid="ignore"):
        return np.where(fraction <= 0, 0.0, fraction * seconds)


_SEARCHES_KEPT = 4  # per graph: a run's targets, each drawn as bands after all are evaluated


def _search_key(facilities: Placement, direction: str) -> tuple:
    # The placement's contents, not its identity: each target's subset is a new Placement.
    return (direction, *((a.dtype.str, a.tobytes())
                         for a in (facilities.edge, facilities.fraction, facilities.access_s, facilities.on_network)))


def _keep_search(graph: ModeGraph, facilities: Placement, direction: str, spliced: "_Spliced", dist: np.ndarray) -> None:
    """Keep a nearest-facility search (where its facilities lie and its node seconds; not the
    spliced matrix) with ``graph`` for :func:`edge_piece_times` of the same facilities: the
    isochrones of a target just evaluated."""
    searches = kept(graph, ("nearest-facility searches",), dict)
    dist.flags.writeable = False
    searches[_search_key(facilities, direction)] = (spliced.sorted_edge, spliced.sorted_frac, spliced.sorted_node, dist)
    while len(searches) > _SEARCHES_KEPT:
        del searches[next(iter(searches))]


def _kept_search(graph: ModeGraph, facilities: Placement, direction: str, take: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    # take: handed over and no longer kept (a target's bands are drawn once; its memory goes with them)
    searches = kept(graph, ("nearest-facility searches",), dict)
    key = _search_key(facilities, direction)
    return searches.pop(key, None) if take else searches.get(key)


def nearest_facility(graph: ModeGraph, demand: Placement, facilities: Placement,
                     direction: str = "to_facility") -> NearestResult:
    """Minutes from every demand point to its nearest facility (or from it, for ambulances).

    One multi-source Dijkstra over the graph with the facilities spliced in, whatever
    the number of facilities. Facilities off the network are left out (they cannot be
    reached by road); demand off the network or in a part of the network no facility
    reaches gets ``inf`` minutes and facility -1.

    Parameters
    ----------
    graph
        The network compiled for the travel mode.
    demand, facilities
        Points placed with :func:`place_points` on the same ``graph``.
    direction
        ``"to_facility"`` (people travel to the facility) or ``"from_facility"``
        (an ambulance drives from the station to the person).
    """
    check_choice("direction", direction, DIRECTIONS)
    n = graph.n_nodes
    if not facilities.on_network.any():
        inf = np.full(len(demand), np.inf)
        return NearestResult(inf, np.full(len(demand), -1), np.full(n, np.inf))
    spliced = _Spliced(graph, facilities, direction)
    dist, _, source = dijkstra(spliced.matrix, directed=True, indices=spliced.sources, min_only=True,
                               return_predecessors=True)
    _keep_search(graph, facilities, direction, spliced, dist)
    facility_of_node = np.where(source >= 0, source - n - spliced.n_facilities, -1)
    seconds, use_prev, prev_node, next_node = spliced.times(demand, dist)
    facility = np.where(use_prev, facility_of_node[prev_node], facility_of_node[next_node])
    facility[~np.isfinite(seconds)] = -1
    seconds /= 60.0
    return NearestResult(seconds, facility, dist[:n] / 60.0)


def edge_piece_times(graph: ModeGraph, facilities: Placement, direction: str = "to_facility",
                     limit_min: float = np.inf) -> dict[str, np.ndarray]:
    """Edge pieces (between consecutive nodes or facility positions) with their end times.

    Returns a dict of arrays, one entry per piece: ``edge``, ``f0``/``f1`` (fractions of
    the piece's ends along the edge), ``t0``/``t1`` (seconds at those ends, ``inf`` beyond
    ``limit_min`` or unreachable), ``s0``/``s1`` (seconds per unit fraction for travel
    leaving the ``f0`` end towards ``f1`` and the ``f1`` end towards ``f0``, ``inf`` when
    closed), plus ``fac_edge``, ``fac_frac``, ``fac_t`` for the facility positions.
    """
    check_choice("direction", direction, DIRECTIONS)
    edges = graph.network.edges
    u_all, v_all = edges["u"].to_numpy(), edges["v"].to_numpy()
    n_edges = len(edges)
    fwd, bwd = graph.forward_s, graph.backward_s
    if not facilities.on_network.any():
        none = np.zeros(0)
        return {"edge": np.arange(n_edges), "f0": np.zeros(n_edges), "f1": np.ones(n_edges),
                "t0": np.full(n_edges, np.inf), "t1": np.full(n_edges, np.inf), "s0": fwd, "s1": bwd,
                "fac_edge": none.astype(np.int64), "fac_frac": none, "fac_t": none}
    limit_s = float(limit_min) * 60.0
    kept_search = _kept_search(graph, facilities, direction, take=True)
    if kept_search is not None:
        # The target's own search, done when it was evaluated: the bounded search gives every node
        # within the limit the same seconds (Dijkstra settles them from the same nodes) and no other.
        fe, ff, fn, full = kept_search
        dist = np.where(full <= limit_s, full, np.inf)
    else:
        spliced = _Spliced(graph, facilities, direction)
        dist = dijkstra(spliced.matrix, directed=True, indices=spliced.sources, min_only=True,
                        limit=limit_s if np.isfinite(limit_s) else np.inf)
        fe, ff, fn = spliced.sorted_edge, spliced.sorted_frac, spliced.sorted_node
    # The same chain u → p1 → … → pk → v the engine builds on every edge holding facilities.
    prev_same = np.r_[False, fe[1:] == fe[:-1]]
    next_same = np.r_[fe[:-1] == fe[1:], False]
    prev_node = np.where(prev_same, np.roll(fn, 1), u_all[fe])
    prev_frac = np.where(prev_same, np.roll(ff, 1), 0.0)
    last = ~next_same
    split = np.zeros(n_edges, dtype=bool)
    split[fe] = True
    whole = np.flatnonzero(~split)
    edge = np.r_[whole, fe, fe[last]]
    node0 = np.r_[u_all[whole], prev_node, fn[last]]
    node1 = np.r_[v_all[whole], fn, v_all[fe[last]]]
    f0 = np.r_[np.zeros(len(whole)), prev_frac, ff[last]]
    f1 = np.r_[np.ones(len(whole)), ff, np.ones(int(last.sum()))]
    if direction == "from_facility":
        s0, s1 = fwd[edge], bwd[edge]  # leaving the f0 end moves forward (u→v)
    else:
        s0, s1 = bwd[edge], fwd[edge]  # a point near f0 travels back to it: against u→v
    return {"edge": edge, "f0": f0, "f1": f1, "t0": dist[node0], "t1": dist[node1], "s0": s0, "s1": s1,
            "fac_edge": fe, "fac_frac": ff, "fac_t": dist[fn]}


class _OdJob:
    """One od_matrix call: the spliced graph and, per node, the demand points whose edge
    piece ends there (one lookup for the previous end, one for the next)."""

    def __init__(self, graph: ModeGraph, demand: Placement, sources: Placement, cutoff_s: float, direction: str):
        self.spliced = spliced = _Spliced(graph, sources, direction)
        self.cutoff_s = cutoff_s
        self.n_demand = len(demand)
        prev_node, next_node, to_prev, to_next, from_prev, from_next = spliced.demand_ends(demand)
        a, b = (to_prev, to_next) if direction == "to_facility" else (from_prev, from_next)
        on = np.flatnonzero(demand.on_network)
        access = demand.access_s
        self.ends = []
        for node, cost, other_node, other_cost in ((prev_node, a, next_node, b), (next_node, b, prev_node, a)):
            order = on[np.argsort(node[on], kind="stable")]
            counts = np.bincount(node[order], minlength=spliced.n_total)
            itype = np.int32 if len(order) < 2**31 - 1 else np.int64
            counts = counts.astype(itype)
            indptr = np.r_[0, np.cumsum(counts)].astype(itype)
            self.ends.append((counts, indptr, order.astype(np.int32), cost[order], access[order],
                              other_node[order], other_cost[order]))
        self.source_index = spliced.sources - graph.n_nodes - spliced.n_facilities

    def run(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(demand, source, minutes) of every pair within the cutoff for sources ``start:stop``
        (positions in ``spliced.sources``), ordered by source."""
        chunk = self.spliced.sources[start:stop]
        dist = dijkstra(self.spliced.matrix, directed=True, indices=chunk, limit=self.cutoff_s)
        n_total = dist.shape[1]
        flat = dist.ravel()
        src, node = np.nonzero(np.isfinite(dist))
        d = flat[src * n_total + node]
        out_key, out_val, out_src = [], [], []
        for side, (counts, indptr, dem, cost, access, other_node, other_cost) in enumerate(self.ends):
            cnt = counts[node]
            total = int(cnt.sum())
            pos = np.arange(total, dtype=indptr.dtype)
            pos += np.repeat(indptr[node] - (np.cumsum(cnt, dtype=indptr.dtype) - cnt), cnt)
            s_rep = np.repeat(src, cnt)
            other = flat[s_rep * n_total + other_node[pos]]  # the point's other end, same source
            # Same arithmetic as min(prev-end seconds + node seconds, next-end ...) + access leg.
            sec = cost[pos]
            sec += np.repeat(d, cnt)
            if side == 0:
                other += other_cost[pos]
                np.minimum(sec, other, out=sec)
                keep = sec <= self.cutoff_s
            else:  # reached by its next end only (both ends reached: done on the prev side)
                keep = np.isinf(other)
            sec += access[pos]
            keep &= sec <= self.cutoff_s
            out_key.append(dem[pos[keep]])
            out_val.append(sec[keep])
            out_src.append(s_rep[keep])
        # Interleave the two source-ordered lists into one (linear, no sort).
        b = len(chunk)
        n_prev = np.bincount(out_src[0], minlength=b)
        n_next = np.bincount(out_src[1], minlength=b)
        before = np.r_[0, np.cumsum(n_prev + n_next)[:-1]]
        dest0 = before[out_src[0]] + (np.arange(len(out_src[0])) - np.r_[0, np.cumsum(n_prev)[:-1]][out_src[0]])
        dest1 = before[out_src[1]] + n_prev[out_src[1]] + (np.arange(len(out_src[1]))
                                                           - np.r_[0, np.cumsum(n_next)[:-1]][out_src[1]])
        size = len(dest0) + len(dest1)
        rows = np.empty(size, dtype=np.int32)
        vals = np.empty(size)
        cols = np.repeat(self.source_index[start:stop].astype(np.int32), n_prev + n_next)
        rows[dest0], rows[dest1] = out_key
        vals[dest0], vals[dest1] = out_val
        vals /= 60.0
        return rows, cols, vals


_OD_JOB: _OdJob | None = None  # the job a forked worker inherits


def _od_worker(bounds: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _OD_JOB.run(*bounds)


def od_matrix(graph: ModeGraph, demand: Placement, sources: Placement, cutoff_min: float,
              direction: str = "to_facility", batch: int = 64, processes: int = 1,
              progress: bool = False) -> sp.csr_matrix:
    """Sparse demand × source matrix of minutes for every pair within ``cutoff_min``.

    Entries hold travel minutes (0.0 is a real entry: a source at the demand point);
    pairs slower than the cutoff, unreachable or off network are absent. Sources are
    searched in batches of ``batch`` with scipy's Dijkstra bounded by the cutoff; only
    the road nodes each search reaches are expanded to the demand points beside them.
    ``processes`` > 1 splits the batches over that many forked processes (where the
    platform can fork; scipy's Dijkstra does not run in parallel threads). ``progress``
    shows a tqdm bar over the batches on stderr when it is a terminal.
    """
    global _OD_JOB
    check_choice("direction", direction, DIRECTIONS)
    cutoff_s = check_positive("cutoff_min", cutoff_min) * 60.0
    n_demand, n_sources = len(demand), len(sources)
    if n_sources == 0 or n_demand == 0:
        return sp.csr_matrix((n_demand, n_sources))
    job = _OdJob(graph, demand, sources, cutoff_s, direction)
    n_usable = len(job.spliced.sources)
    batch = max(1, int(batch))
    bounds = [(s, min(s + batch, n_usable)) for s in range(0, n_usable, batch)]
    processes = max(1, min(int(processes), len(bounds)))
    if processes > 1:
        import multiprocessing  # only here: a run's start-up does without it
    if processes > 1 and ("fork" not in multiprocessing.get_all_start_methods()
                          or multiprocessing.current_process().daemon):
        processes = 1
    if processes > 1:
        _OD_JOB = job
        try:
            with multiprocessing.get_context("fork").Pool(processes) as pool:
                parts = pool.map(_od_worker, bounds, chunksize=1)
        finally:
            _OD_JOB = None
    else:
        from tqdm import tqdm

        # disable=None: no bar when stderr is not a terminal (a redirected log would fill with redraws)
        parts = [job.run(*b) for b in tqdm(bounds, desc="travel-time matrix", unit="batch",
                                            disable=None if progress else True, leave=False)]
    if parts:
        rows, cols, vals = (np.concatenate(x) for x in zip(*parts))
    else:
        rows = cols = np.zeros(0, dtype=np.int32)
        vals = np.zeros(0)
    del parts
    # Entries ordered by source: the CSR build leaves every row's columns sorted.
    matrix = sp.csr_matrix((vals, (rows, cols)), shape=(n_demand, n_sources))
    matrix.sort_indices()
    return matrix
