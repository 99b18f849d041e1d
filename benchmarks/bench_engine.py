#!/usr/bin/env python
"""Benchmark of the nearest-facility engine against what a user would otherwise write.

Not a test: a script that, in ONE process, on the SAME compiled network and the SAME
demand / facility inputs, times (best of ``--repeat``) and measures the peak memory of

  (a)  the osmnx-tutorial way: one ``nx.single_source_dijkstra_path_length`` per facility
       on the reversed graph (weight ``travel_time``), min over facilities. Only
       ``--nx-facilities`` facilities are timed; the time is scaled linearly to all
       facilities and labelled "extrapolated". Demand goes to its nearest node with
       ``ox.nearest_nodes``. ``nx.multi_source_dijkstra_path_length`` is shown too.
  (b)  pandana ``nearest_pois`` (contraction hierarchies): build, snap (``get_node_ids``)
       and query (``set_pois`` + ``nearest_pois``) separately.
  (c)  the floor: ``scipy.sparse.csgraph.dijkstra(csr, indices=facility_nodes,
       min_only=True)`` on the compiled graph (``ModeGraph.csr()``, transposed for the
       to-facility direction).
  (d)  geoaccess: ``place_points`` (demand), ``place_points`` (facilities),
       ``nearest_facility``; and ``od_matrix`` for a sample of sources, extrapolated.
  (+)  python-igraph with a zero-weight super source, for context.

Facilities sit exactly on road nodes (so (a)-(d) answer the same question and (d)'s node
times can be checked against (c) to 1e-6 min). Demand points are jittered around road
nodes (Monaco, grid) or are the populated cell centres of the synthetic county's
population raster.

Memory: every measured call is run once more (untimed) with BOTH
  * tracemalloc peak  — Python + numpy heap allocated during the call (not C++ heaps such
    as pandana's or igraph's), and
  * RSS peak delta    — psutil RSS sampled every 2 ms in a thread, max minus the RSS just
    before the call (sees everything, but freed-and-reused heap is not counted twice).

Usage::

    python benchmarks/bench_engine.py --sizes monaco,20k,100k --facilities 300 --demand 200000 --repeat 3
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import sys
import threading
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MONACO = REPO / "data" / "demo" / "monaco.osm.pbf"
SIZES = {"monaco": None, "20k": 20_000, "100k": 100_000, "300k": 300_000, "600k": 600_000}
OD_TARGET_SOURCES = 5_000
OD_CUTOFF_MIN = 30.0


# --------------------------------------------------------------------------- measuring

class _RssSampler:
    def __init__(self, interval: float = 0.002):
        import psutil

        self.proc = psutil.Process()
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self):
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self._stop.wait(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def delta_mb(self) -> float:
        return (self.peak - self.base) / 2**20


@dataclass
class Measure:
    seconds: float
    cpu: float = math.nan
    heap_mb: float = math.nan
    rss_mb: float = math.nan
    result: Any = None
    times: list[float] = field(default_factory=list)


def measure(fn: Callable[[], Any], repeat: int, memory: bool = True) -> Measure:
    """Best wall time of ``repeat`` calls, then one more call under tracemalloc + RSS sampling."""
    times, cpus, result = [], [], None
    for _ in range(max(1, repeat)):
        result = None
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    m = Measure(min(times), min(cpus), result=result, times=times)
    if memory:
        result = None
        m.result = None
        gc.collect()
        tracemalloc.start()
        with _RssSampler() as rss:
            out = fn()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        m.heap_mb, m.rss_mb, m.result = peak / 2**20, rss.delta_mb, out
    return m


# --------------------------------------------------------------------------- inputs

def grid_county(n_nodes: int, seed: int = 0):
    """Fallback road-like grid (used only when geoaccess.synthetic is unavailable).

    A jittered square grid of ~``n_nodes`` junctions 400 m apart, 8 % of links removed,
    every 10th line primary, every 5th secondary, every 3rd tertiary, the rest
    residential/unclassified; 5 % of residential links one-way. Built through
    ``graph_from_lines`` (the roads-file path) in EPSG:4326 near the equator.
    """
    import geopandas as gpd
    import shapely

    from geoaccess.network import graph_from_lines, network_from_graph

    rng = np.random.default_rng(seed)
    side = int(math.ceil(math.sqrt(n_nodes)))
    step = 400.0
    ii, jj = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    xy = np.c_[ii.ravel() * step, jj.ravel() * step] + rng.normal(0, 60, size=(side * side, 2))
    idx = np.arange(side * side).reshape(side, side)
    h = np.c_[idx[:, :-1].ravel(), idx[:, 1:].ravel()]  # links along j (line i constant)
    v = np.c_[idx[:-1, :].ravel(), idx[1:, :].ravel()]
    line_h = np.repeat(np.arange(side), side - 1)
    line_v = np.tile(np.arange(side), side - 1)
    pairs = np.r_[h, v]
    line = np.r_[line_h, line_v]
    keep = rng.random(len(pairs)) > 0.08
    pairs, line = pairs[keep], line[keep]
    cls = np.where(line % 10 == 0, "primary", np.where(line % 5 == 0, "secondary",
                   np.where(line % 3 == 0, "tertiary", np.where(line % 2 == 0, "residential", "unclassified"))))
    oneway = np.where((cls == "residential") & (rng.random(len(pairs)) < 0.05), "yes", "no")
    # metres -> degrees near (lon 20, lat 0): 1 deg ~ 111.32 km
    lonlat = np.c_[20.0 + xy[:, 0] / 111_320.0, 0.0 + xy[:, 1] / 110_574.0]
    geoms = shapely.linestrings(lonlat[pairs.ravel()].reshape(-1, 2, 2))
    roads = gpd.GeoDataFrame({"highway": cls, "oneway": oneway}, geometry=geoms, crs="EPSG:4326")
    return network_from_graph(graph_from_lines(roads))


def _synthetic_module():
    try:
        from geoaccess import synthetic  # noqa: F401

        return synthetic
    except Exception:
        return None


def _get(paths: Any, key: str):
    if isinstance(paths, dict):
        return paths.get(key)
    return getattr(paths, key, None)


def load_size(size: str, args) -> tuple[Any, np.ndarray | None, str]:
    """(RoadNetwork, demand points in its CRS or None, description)."""
    from geoaccess.network import network_from_file

    if size == "monaco":
        return network_from_file(MONACO), None, "Monaco OSM PBF (pyrosm, all highways)"
    n = SIZES[size]
    synthetic = _synthetic_module() if args.generator in ("auto", "synthetic") else None
    if synthetic is None:
        if args.generator == "synthetic":
            raise SystemExit("--generator synthetic: geoaccess.synthetic is not importable")
        return grid_county(n, seed=args.seed), None, f"fallback jittered grid, ~{n:,} nodes (bench's own generator)"
    out = Path(args.cache_dir) / f"county_{size}_seed{args.seed}"
    out.mkdir(parents=True, exist_ok=True)
    paths = synthetic.generate_county(out, seed=args.seed, n_nodes=n)
    net = network_from_file(_get(paths, "roads_gpkg"))
    demand = raster_demand(_get(paths, "population_tif"), net.crs)
    return net, demand, f"geoaccess.synthetic.generate_county(n_nodes={n:,}, seed={args.seed})"


def raster_demand(tif: str | Path, crs) -> np.ndarray:
    """Cell centres with population > 0, projected to the network CRS."""
    import rasterio
    from pyproj import Transformer

    with rasterio.open(tif) as src:
        pop = src.read(1, masked=True).filled(0)
        rows, cols = np.nonzero(pop > 0)
        xs, ys = rasterio.transform.xy(src.transform, rows, cols, offset="center")
        src_crs = src.crs
    tr = Transformer.from_crs(src_crs, crs, always_xy=True)
    return np.column_stack(tr.transform(np.asarray(xs, float), np.asarray(ys, float)))


def pick_inputs(net, graph, n_fac: int, n_demand: int, seed: int, raster_pts: np.ndarray | None):
    """Facility node indices (on eligible edges) and ``n_demand`` demand points (metres)."""
    rng = np.random.default_rng(seed)
    e = net.edges
    elig_nodes = np.unique(np.r_[e["u"].to_numpy()[graph.eligible], e["v"].to_numpy()[graph.eligible]])
    fac_nodes = np.sort(rng.choice(elig_nodes, min(n_fac, len(elig_nodes)), replace=False))
    if raster_pts is not None and len(raster_pts):
        if len(raster_pts) >= n_demand:
            demand = raster_pts[rng.choice(len(raster_pts), n_demand, replace=False)]
            how = f"{n_demand:,} of {len(raster_pts):,} populated raster cell centres"
        else:
            extra = raster_pts[rng.choice(len(raster_pts), n_demand - len(raster_pts))]
            extra = extra + rng.uniform(-40, 40, size=extra.shape)
            demand = np.r_[raster_pts, extra]
            how = f"all {len(raster_pts):,} populated cell centres + {len(extra):,} resampled (±40 m)"
    else:
        demand = net.node_xy[rng.choice(elig_nodes, n_demand)] + rng.normal(0, 120, size=(n_demand, 2))
        how = f"{n_demand:,} points ~N(road node, 120 m)"
    return fac_nodes, demand, how


# --------------------------------------------------------------------------- methods

def nx_graph(graph):
    """osmnx-style MultiDiGraph with the compiled 'travel_time' (seconds) and projected x/y."""
    import networkx as nx

    tails, heads, secs = graph.road_arcs()
    net = graph.network
    g = nx.MultiDiGraph(crs=net.crs.to_string())
    used = np.unique(np.r_[tails, heads])
    g.add_nodes_from((int(i), {"x": float(net.node_xy[i, 0]), "y": float(net.node_xy[i, 1])}) for i in used)
    g.add_edges_from((int(t), int(h), {"travel_time": float(s)}) for t, h, s in zip(tails, heads, secs))
    return g


def run_size(size: str, args) -> dict:
    import networkx as nx
    from scipy.sparse.csgraph import dijkstra

    from geoaccess.routing import compile_mode, nearest_facility, od_matrix, place_points

    rows: list[tuple] = []  # (label, seconds, cpu, heap_mb, rss_mb, note)
    info: dict[str, Any] = {"size": size}
    R = args.repeat

    def row(label, m: Measure | None, note="", seconds=None):
        rows.append((label, m.seconds if seconds is None else seconds, m.cpu if m and seconds is None else math.nan,
                     m.heap_mb if m else math.nan, m.rss_mb if m else math.nan, note))

    t0 = time.perf_counter()
    net, raster_pts, desc = load_size(size, args)
    info["load_s"] = time.perf_counter() - t0
    m_compile = measure(lambda: compile_mode(net, args.mode), R)
    graph = m_compile.result
    # Roads open only at trip ends are laid twice in the compiled graph (Monaco has some): its
    # eligible mask, csr and node indices refer to graph.network, so every peer uses that one.
    physical_edges, net = net.n_edges, graph.network
    fac_nodes, demand_xy, demand_how = pick_inputs(net, graph, args.facilities, args.demand, args.seed, raster_pts)
    k = len(fac_nodes)
    n = net.n_nodes
    info.update(desc=desc, nodes=n, edges=physical_edges, demand_how=demand_how, k=k, n_demand=len(demand_xy))
    print(f"\n=== {size}: {desc}\n    {n:,} routing-graph nodes, {physical_edges:,} physical edges "
          f"({int(graph.eligible.sum()):,} snappable for {args.mode}); load {info['load_s']:.1f} s; "
          f"demand: {demand_how}; {k} facilities at random road nodes", flush=True)
    row("geoaccess compile_mode (one-off)", m_compile)

    # ---- (c) the floor
    csr_fwd = graph.csr()
    csr = csr_fwd.T.tocsr()  # to_facility: search the reversed graph from the facilities
    m_c = measure(lambda: dijkstra(csr, directed=True, indices=fac_nodes, min_only=True), R)
    node_c = m_c.result / 60.0
    row("(c) scipy dijkstra min_only (floor)", m_c)

    # ---- (d) geoaccess
    fac_xy = net.node_xy[fac_nodes]
    m_snap_d = measure(lambda: place_points(graph, demand_xy), R)
    m_snap_f = measure(lambda: place_points(graph, fac_xy), R)
    dem_p, fac_p = m_snap_d.result, m_snap_f.result
    m_search = measure(lambda: nearest_facility(graph, dem_p, fac_p, "to_facility"), R)
    res = m_search.result

    def whole():
        return nearest_facility(graph, place_points(graph, demand_xy), place_points(graph, fac_xy))

    m_whole = measure(whole, R)
    row("(d) geoaccess place_points demand (snap)", m_snap_d)
    row("(d) geoaccess place_points facilities", m_snap_f)
    row("(d) geoaccess nearest_facility (search)", m_search)
    row("(d) geoaccess TOTAL snap+snap+search", m_whole, "measured as one call chain")
    both = np.isfinite(node_c) & np.isfinite(res.node_minutes)
    same_inf = bool((np.isinf(node_c) == np.isinf(res.node_minutes)).all())
    info["diff_d_c"] = float(np.max(np.abs(node_c[both] - res.node_minutes[both]))) if both.any() else math.nan
    info["inf_match_d_c"] = same_inf
    info["unreached_demand"] = res.n_unreachable
    info["median_min"] = float(np.median(res.minutes[np.isfinite(res.minutes)]))

    # ---- (a) networkx, the osmnx-tutorial way
    G = nx_graph(graph)
    Grev = G.reverse(copy=True)
    n_sub = min(args.nx_facilities, k)
    sub = fac_nodes[np.linspace(0, k - 1, n_sub).astype(int)]

    def nx_per_facility():
        best = np.full(n, np.inf)
        for f in sub:
            lengths = nx.single_source_dijkstra_path_length(Grev, int(f), weight="travel_time")
            idx = np.fromiter(lengths.keys(), dtype=np.int64, count=len(lengths))
            val = np.fromiter(lengths.values(), dtype=float, count=len(lengths))
            np.minimum.at(best, idx, val)
        return best

    m_a = measure(nx_per_facility, R)
    scale = k / n_sub
    info["diff_a_c"] = _maxdiff(m_a.result / 60.0, dijkstra(csr, indices=sub, min_only=True) / 60.0)
    m_a_x = Measure(m_a.seconds * scale, m_a.cpu * scale, m_a.heap_mb, m_a.rss_mb)
    row(f"(a) nx single_source x{k} EXTRAPOLATED", m_a_x,
        f"timed {n_sub} facilities ({m_a.seconds:.2f} s) x {scale:.0f}")

    import osmnx as ox

    def ox_snap():
        return ox.nearest_nodes(G, demand_xy[:, 0], demand_xy[:, 1])

    m_a_snap = measure(ox_snap, R)
    row("(a) ox.nearest_nodes demand (snap)", m_a_snap, "nearest node, not nearest edge")
    row("(a) TOTAL extrapolated (search+snap)", None, "", seconds=m_a_x.seconds + m_a_snap.seconds)
    info["a_total"] = m_a_x.seconds + m_a_snap.seconds
    src_set = set(int(f) for f in fac_nodes)
    m_nxm = measure(lambda: nx.multi_source_dijkstra_path_length(Grev, src_set, weight="travel_time"), R)
    ref = np.full(n, np.inf)
    ref[np.fromiter(m_nxm.result.keys(), np.int64)] = np.fromiter(m_nxm.result.values(), float)
    info["diff_nxm_c"] = _maxdiff(ref / 60.0, node_c)
    row("(ref) nx multi_source_dijkstra (all facilities)", m_nxm, "reference only")
    del G, Grev, m_nxm

    # ---- (b) pandana
    info["pandana"] = None
    try:
        import pandana  # noqa: F401
        import pandas as pd
    except Exception as exc:  # pragma: no cover - depends on the machine
        info["pandana_err"] = f"{type(exc).__name__}: {exc}"
    else:
        tails, heads, secs = graph.road_arcs()
        used = np.unique(np.r_[tails, heads])
        nodes_x = pd.Series(net.node_xy[used, 0], index=used)
        nodes_y = pd.Series(net.node_xy[used, 1], index=used)
        maxdist = float(np.nanmax(np.where(np.isfinite(node_c), node_c, np.nan))) * 60.0 * 1.05 + 60.0

        def build():
            return _quiet(lambda: pandana.Network(nodes_x, nodes_y, pd.Series(tails), pd.Series(heads),
                                                  pd.DataFrame({"travel_time": secs}), twoway=False))

        m_pb = measure(build, R)
        pnet = m_pb.result
        m_ps = measure(lambda: pnet.get_node_ids(pd.Series(demand_xy[:, 0]), pd.Series(demand_xy[:, 1])), R)

        def query():
            pnet.set_pois("fac", maxdist, 1, pd.Series(net.node_xy[fac_nodes, 0]), pd.Series(net.node_xy[fac_nodes, 1]))
            return pnet.nearest_pois(maxdist, "fac", num_pois=1)

        m_pq = measure(query, R)
        pd_node = np.full(n, np.inf)
        got = m_pq.result[1].to_numpy(float).copy()
        got[got >= maxdist] = np.inf  # pandana fills "not found" with maxdist
        pd_node[m_pq.result.index.to_numpy()] = got / 60.0
        info["diff_b_c"] = _maxdiff(pd_node, node_c)
        row("(b) pandana build (CH)", m_pb, "C++ heap: see RSS column")
        row("(b) pandana get_node_ids demand (snap)", m_ps, "nearest node")
        row("(b) pandana set_pois+nearest_pois (query)", m_pq, f"maxdist {maxdist / 60:.0f} min")
        info["pandana"] = (m_pb.seconds, m_ps.seconds, m_pq.seconds)
        row("(b) TOTAL build+snap+query", None, "", seconds=sum(info["pandana"]))
        del pnet, m_pb

    # ---- igraph, for context
    try:
        import igraph as ig
    except Exception as exc:
        info["igraph_err"] = f"{type(exc).__name__}: {exc}"
    else:
        tails, heads, secs = graph.road_arcs()
        super_src = n
        edges_ig = np.c_[np.r_[heads, np.full(k, super_src)], np.r_[tails, fac_nodes]]  # reversed + super source
        w_ig = np.r_[secs, np.zeros(k)]
        gi = ig.Graph(n=n + 1, edges=edges_ig, directed=True)
        gi.es["w"] = w_ig
        m_ig = measure(lambda: np.asarray(gi.distances(source=[super_src], weights="w", mode="out")[0][:n]), R)
        info["diff_ig_c"] = _maxdiff(m_ig.result / 60.0, node_c)
        row("(+) igraph distances, super source", m_ig, "graph build not timed")

    # ---- OD matrix sample
    rng = np.random.default_rng(args.seed + 1)
    n_src = min(args.od_sources, len(demand_xy))
    src_xy = demand_xy[rng.choice(len(demand_xy), n_src, replace=False)]
    src_p = place_points(graph, src_xy)
    m_od = measure(lambda: od_matrix(graph, dem_p, src_p, OD_CUTOFF_MIN), min(R, args.od_repeat))
    od = m_od.result
    od_scale = OD_TARGET_SOURCES / n_src
    info["od_nnz"] = od.nnz
    info["od_1core_x"] = m_od.seconds * od_scale
    row(f"(d) od_matrix {n_src} src x {len(demand_xy):,} dem x {OD_CUTOFF_MIN:.0f} min", m_od,
        f"nnz {od.nnz:,} ({od.nnz / n_src:,.0f}/source)")
    row(f"(d) od_matrix {OD_TARGET_SOURCES:,} src EXTRAPOLATED, 1 core", None, f"x {od_scale:.0f}",
        seconds=info["od_1core_x"])
    if args.od_procs > 1:
        def od_par():
            c0 = os.times()
            out = od_matrix(graph, dem_p, src_p, OD_CUTOFF_MIN, processes=args.od_procs)
            c1 = os.times()
            od_par.cpu = (c1.user + c1.system + c1.children_user + c1.children_system
                          - c0.user - c0.system - c0.children_user - c0.children_system)
            return out

        m_par = measure(od_par, min(R, args.od_repeat), memory=False)
        assert m_par.result.nnz == od.nnz
        t2 = m_par.seconds
        info["od_par_x"] = t2 * od_scale
        rows.append((f"(d) od_matrix {n_src} src, processes={args.od_procs} (fork)", t2, od_par.cpu, math.nan, math.nan,
                     "cpu incl. worker processes (last run)"))
        rows.append((f"(d) od_matrix {OD_TARGET_SOURCES:,} src EXTRAPOLATED, {args.od_procs} procs", info["od_par_x"],
                     math.nan, math.nan, math.nan, f"x {od_scale:.0f}"))

    info["load"] = "%.1f/%.1f/%.1f" % os.getloadavg()
    info.update(rows=rows, a=m_a_x.seconds, c=m_c.seconds, snap=m_snap_d.seconds, snap_f=m_snap_f.seconds,
                search=m_search.seconds, total=m_whole.seconds)
    return info


def _maxdiff(x: np.ndarray, y: np.ndarray) -> str:
    fin = np.isfinite(x) & np.isfinite(y)
    mism = int((np.isfinite(x) != np.isfinite(y)).sum())
    d = float(np.max(np.abs(x[fin] - y[fin]))) if fin.any() else math.nan
    return f"{d:.2e} min" + (f" ({mism} nodes reachable in one only)" if mism else "")


def _quiet(fn):
    """Silence C++ progress output written straight to fd 1."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        try:
            return fn()
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


# --------------------------------------------------------------------------- report

def _fmt_s(s: float) -> str:
    if not math.isfinite(s):
        return "-"
    return f"{s * 1000:,.1f} ms" if s < 1 else f"{s:,.2f} s"


def _fmt_mb(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{x:,.0f}"


def report(info: dict, args) -> None:
    size = info["size"]
    print(f"\n--- {size}: {info['nodes']:,} routing nodes, {info['k']} facilities, {info['n_demand']:,} demand; "
          f"time = wall, best of {args.repeat} (cpu = process CPU time of the best-CPU repeat); memory = one extra "
          f"run: tracemalloc peak (py/numpy heap) | psutil RSS peak delta; load avg {info['load']}")
    w = max(len(r[0]) for r in info["rows"]) + 2
    print(f"{'step':<{w}}{'time':>12}{'cpu':>12}{'heap MB':>10}{'RSS MB':>9}  note")
    for label, s, cpu, heap, rss, note in info["rows"]:
        print(f"{label:<{w}}{_fmt_s(s):>12}{_fmt_s(cpu):>12}{_fmt_mb(heap):>10}{_fmt_mb(rss):>9}  {note}")
    tot, search, c = info["total"], info["search"], info["c"]
    print("ratios:")
    print(f"  (a)/(d)       nx per-facility (extrapolated, search+snap) / geoaccess total = {info['a_total'] / tot:,.0f}x"
          f"   [search only: {info['a'] / search:,.0f}x]")
    if info.get("pandana"):
        pb = sum(info["pandana"])
        print(f"  (b)/(d)       pandana build+snap+query / geoaccess total = {pb / tot:,.1f}x"
              f"   [without build: {(pb - info['pandana'][0]) / tot:,.2f}x]")
    else:
        print(f"  (b)/(d)       pandana not installable here: {info.get('pandana_err')}")
    print(f"  (d search)/(c) geoaccess nearest_facility / scipy floor = {search / c:,.2f}x")
    print("checks:")
    print(f"  max |(d) node minutes - (c)| = {info['diff_d_c']:.2e} min; same unreachable nodes: {info['inf_match_d_c']}")
    print(f"  max |(a) subset - (c) same subset| = {info['diff_a_c']}")
    print(f"  max |nx multi_source - (c)| = {info['diff_nxm_c']}")
    if "diff_b_c" in info:
        print(f"  max |(b) pandana - (c)| = {info['diff_b_c']}  (pandana stores CH weights as integers)")
    if "diff_ig_c" in info:
        print(f"  max |igraph - (c)| = {info['diff_ig_c']}")
    print(f"  demand unreachable/off-network: {info['unreached_demand']:,}; median minutes {info['median_min']:.1f}")
    od_best = min(info["od_1core_x"], info.get("od_par_x", math.inf))
    goals = [
        ("search within 3x of (c)", search <= 3 * c, f"{search / c:.2f}x"),
        (f"snap {info['n_demand']:,} demand <= 1 s", info["snap"] <= 1.0, _fmt_s(info["snap"])),
        ("snap+search <= 1.5 s (100k nodes/200k demand/300 fac)", tot <= 1.5, _fmt_s(tot)),
        (">= 1000x faster than (a)", info["a_total"] / tot >= 1000, f"{info['a_total'] / tot:,.0f}x"),
    ]
    if info.get("pandana"):
        pb = sum(info["pandana"])
        goals.append((">= 10x faster than (b) incl. build", pb / tot >= 10, f"{pb / tot:.1f}x"))
    goals.append((f"OD {OD_TARGET_SOURCES:,} x {info['n_demand']:,} x 30 min < 60 s on 2 cores", od_best < 60,
                  f"{_fmt_s(info['od_1core_x'])} 1 core" + (f", {_fmt_s(info['od_par_x'])} {args.od_procs} procs"
                                                           if "od_par_x" in info else "")))
    print("goals (binding at 100k):")
    for name, ok, val in goals:
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}: {val}")
    sys.stdout.flush()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="monaco,20k,100k", help="comma list of " + ",".join(SIZES))
    p.add_argument("--facilities", type=int, default=300)
    p.add_argument("--demand", type=int, default=200_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--mode", default="drive", choices=["walk", "drive", "ambulance"])
    p.add_argument("--nx-facilities", type=int, default=10, help="facilities timed for (a), then extrapolated")
    p.add_argument("--od-sources", type=int, default=500, help="sources timed for the OD matrix, then extrapolated")
    p.add_argument("--od-repeat", type=int, default=1, help="repeats for the OD timing (capped by --repeat)")
    p.add_argument("--od-procs", type=int, default=2, help="also time the OD sample split over this many processes")
    p.add_argument("--generator", default="auto", choices=["auto", "synthetic", "grid"],
                   help="synthetic county: geoaccess.synthetic if importable (auto), or the bench's own grid")
    p.add_argument("--cache-dir", default="/tmp/geoaccess_bench")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--profile", default=None, help="comma list of sizes to profile geoaccess (snap+search) on with pyinstrument")
    args = p.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    bad = [s for s in sizes if s not in SIZES]
    if bad:
        p.error(f"unknown sizes {bad}; choose from {list(SIZES)}")
    import platform

    import psutil

    print(f"python {platform.python_version()}, {psutil.cpu_count()} CPUs, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB; mode {args.mode}; direction to_facility")
    for size in sizes:
        info = run_size(size, args)
        report(info, args)
        if size in (args.profile or "").split(","):
            profile_size(size, args)


def profile_size(size: str, args) -> None:
    """pyinstrument profile of place_points(demand) + place_points(fac) + nearest_facility."""
    from pyinstrument import Profiler

    from geoaccess.routing import compile_mode, nearest_facility, place_points

    net, raster_pts, _ = load_size(size, args)
    graph = compile_mode(net, args.mode)
    fac_nodes, demand_xy, _ = pick_inputs(net, graph, args.facilities, args.demand, args.seed, raster_pts)
    prof = Profiler(interval=0.0005)
    prof.start()
    for _ in range(3):
        nearest_facility(graph, place_points(graph, demand_xy), place_points(graph, net.node_xy[fac_nodes]))
    prof.stop()
    print(prof.output_text(unicode=False, color=False, show_all=False))


if __name__ == "__main__":
    main()
