#!/usr/bin/env python
"""Whole-run speed (issue 15): a county run stage by stage, and geoaccess against the
osmnx + scipy script an analyst would write, in one process each.

Not a test: a script that prints tables.

**County** (``--county``): ``geoaccess.synthetic.generate_county(dir, seed, n_nodes)``
(default ``n_nodes=600_000``: ~100k routing nodes, ~200k demand cells, ~400 facilities),
generated once into ``--cache`` (a folder keyed by the arguments) and reused. Its
scenario is run with the network read from ``roads.gpkg`` (``--network osm`` for
``roads.osm``):

1. stage by stage in this process, mirroring :func:`geoaccess.pipeline.run_scenario`:
   ``load`` (every input read and checked), ``snap`` (modes compiled, demand and
   facilities placed), ``search`` (one nearest-facility search per target and mode),
   ``evaluate`` (targets per township; it repeats the search, tens of ms), ``gaps``,
   ``isochrones``, ``map``, ``report`` and ``write`` (summary, units, demand times, gaps).
   Each line shows the wall time and the process RSS peak (psutil, sampled every 5 ms)
   during the stage;
2. the whole ``python -m geoaccess.cli run`` in a child process: wall time (start-up and
   imports included), CPU time (user + sys of the child and every descendant it waited
   for, from ``os.wait4``) and the peak RSS of the child *and all its descendants
   together*: the sum of their RSS, sampled every 5 ms with psutil (the list of
   descendants re-read every 50 ms), so a process the run starts cannot hide its memory;
   never below the largest ``VmHWM`` (high-water RSS of one process, from /proc) seen,
   which catches a spike between two samples. Not ``ru_maxrss``: Linux carries it across
   exec, so the child would report this process's own peak.

**XML grid** (``--grid``): an OSM XML grid of ``--grid-side``² nodes (default 150² =
22,500) 100 m apart, every fifth street ``tertiary`` (50 km/h) and the others
``residential`` (30 km/h), both tagged with ``maxspeed``; ``--clinics`` (30) clinics and
``--people`` (50,000) people points at random positions (seed 0); one drive target (share
within ``--minutes`` = 5 min, to the clinic) with free-flow speeds (congestion 1.0).

* geoaccess: ``python -m geoaccess.cli run`` in a child process, every output written;
* the reference an analyst writes, in a child process: ``osmnx.graph_from_xml``,
  ``add_edge_speeds`` + ``add_edge_travel_times``, ``nearest_nodes`` for people and
  clinics, one ``scipy.sparse.csgraph.dijkstra(min_only=True)`` from the clinics on the
  reversed graph, and the share of people within the threshold (nothing written).

Both print their share; the ratio is geoaccess wall / reference wall (start-up and
imports included on both sides). The shares differ by the off-road legs geoaccess adds
(15 km/h to the nearest road *position*; the reference jumps to the nearest node for free).

Usage::

    python benchmarks/bench_run.py --county --grid
    python benchmarks/bench_run.py --county --n-nodes 100000 --network osm
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's geoaccess, not an installed one


class _Peak:
    """Wall time and process RSS peak (psutil, sampled in a thread) of a block."""

    def __init__(self, interval: float = 0.005):
        import psutil

        self.proc, self.interval = psutil.Process(), interval

    def __enter__(self):
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self.t0 = time.perf_counter()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)
        return False


def _tree_memory(procs: list) -> tuple[int, int]:
    """(sum of the RSS, largest ``VmHWM``) in bytes of ``procs`` that are still alive."""
    import psutil

    total = high = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
            with open(f"/proc/{proc.pid}/status", encoding="ascii") as fh:
                high = max([high, *(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))])
        except (psutil.Error, OSError):  # ended since the list was read (or no /proc)
            pass
    return total, high


def _child(argv: list[str], cwd: Path, interval: float = 0.005, refresh: float = 0.05
           ) -> tuple[float, float, float, str]:
    """Run ``argv`` in a child process: (wall seconds, CPU seconds, peak RSS in MB, stdout).

    CPU is user + sys of the child and the descendants it waited for (``os.wait4``). The
    peak is that of the *sum* of the RSS of the child and all its descendants, sampled every
    ``interval`` seconds (the descendants listed again every ``refresh`` seconds: listing
    them reads all of /proc), and at least the largest ``VmHWM`` of one of them.
    """
    import psutil

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=err, text=True)
        root = psutil.Process(proc.pid)
        tree, listed, peak = [root], t0, 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            now = time.perf_counter()
            if now - listed >= refresh:
                try:
                    tree, listed = [root, *root.children(recursive=True)], now
                except psutil.Error:  # the child ended meanwhile: wait4 reaps it next
                    pass
            peak = max(peak, *_tree_memory(tree))
            time.sleep(interval)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode not in (0, 3):
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{stderr[-3000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, peak / 2 ** 20, stdout


# --------------------------------------------------------------------------- county

def county_dir(cache: Path, seed: int, n_nodes: int) -> Path:
    """The generated county for these arguments, generated on first use."""
    from geoaccess.synthetic import generate_county

    folder = cache / f"county-seed{seed}-n{n_nodes}"
    if not (folder / "scenario.toml").exists():
        print(f"generating the county into {folder} …", flush=True)
        generate_county(folder, seed=seed, n_nodes=n_nodes)
    return folder


def county_scenario(folder: Path, network: str) -> Path:
    """A copy of the county's scenario reading ``roads.<network>``."""
    text = (folder / "scenario.toml").read_text(encoding="utf-8")
    path = folder / f"scenario_{network}.toml"
    path.write_text(text.replace('source = "roads.osm"', f'source = "roads.{network}"'), encoding="utf-8")
    return path


def county_stages(scenario_path: Path) -> list[tuple[str, float, float]]:
    """The run of :func:`geoaccess.pipeline.run_scenario`, stage by stage: (stage, s, peak MB)."""
    from geoaccess import pipeline as P
    from geoaccess.maps import write_map
    from geoaccess.report import write_report
    from geoaccess.results import RunResult
    from geoaccess.scenario import load_scenario
    from geoaccess.targets import select_facilities

    rows = []

    def stage(name):
        peak = _Peak()
        rows.append((name, peak))
        return peak

    scenario = load_scenario(scenario_path)
    with stage("load"):
        inputs = P.load_inputs(scenario)
    network, facilities, demand, units = inputs.network, inputs.facilities, inputs.demand, inputs.units
    urban = demand["urban"].to_numpy(bool)
    pop = demand["pop"].to_numpy(float)
    with stage("snap"):
        engine = P._Engine(network, P.load_speeds(scenario.network["speeds"]), scenario.network["min_component_nodes"],
                           np.column_stack([demand.geometry.x, demand.geometry.y]),
                           np.column_stack([facilities.geometry.x, facilities.geometry.y]),
                           urban_share=float(pop[urban].sum() / pop.sum()),
                           **({"demand_modes": P.demand_modes(list(scenario.targets.values()), urban)}
                              if hasattr(P, "demand_modes") else {}))  # modes snapped together (issue 15 on)
        for target in scenario.targets.values():
            for mode in target.modes:
                engine.demand(mode), engine.facilities(mode)
    time_targets = [t for t in scenario.targets.values() if t.metric != "per_1000"]
    with stage("search"):
        for target in time_targets:
            chosen = select_facilities(target, facilities)
            P._nearest_by_mode(target, engine, urban, lambda mode: engine.facilities(mode).subset(chosen))
    warnings: list[str] = []
    unit_names = units["unit"].tolist() if units is not None else None
    with stage("evaluate"):
        evaluations = [P._evaluate(t, engine, facilities, demand, warnings, unit_names)
                       for t in scenario.targets.values()]
    result = RunResult(scenario, network, facilities, demand, units, evaluations, engine.graphs, warnings=warnings,
                       engine=engine)
    placeable = demand[~inputs.far_demand]
    with stage("gaps"):
        for t in time_targets:
            if hasattr(P, "target_gaps"):
                result.gaps[t.id] = P.target_gaps(t, placeable, facilities, units is not None)
            else:  # the code before issue 15
                result.gaps[t.id] = P.find_gaps(placeable, placeable[f"{t.id}_min"].to_numpy() + t.dispatch_delay_min,
                                                t.threshold_min, nearest_facility=placeable[f"{t.id}_facility"],
                                                admin=placeable["unit"] if units is not None else None)
    with stage("isochrones"):
        for t in time_targets:
            extra = ([demand]  # the demand's own times (issue 15 on)
                     if "demand" in inspect.signature(P.target_isochrones).parameters else [])
            result.isochrones[t.id] = P.target_isochrones(t, engine, select_facilities(t, facilities), *extra)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        with stage("map"):
            map_path = write_map(result, out / "map.html", lang="zh")
        with stage("report"):
            write_report(result, out / "report.html", lang="zh", map_path=map_path)
        with stage("write"):
            files = P._write_tables(result, out)
        sizes = {p.name: p.stat().st_size for p in out.iterdir()}
    print("  files: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(sizes.items())))
    print(f"  {network.n_nodes:,} network nodes, {len(demand):,} demand points, {len(facilities):,} facilities; "
          + "; ".join(f"{e.target.id} = {e.value:.4g}" for e in evaluations))
    del files
    return [(name, p.seconds, p.peak / 2 ** 20) for name, p in rows]


def run_county(args) -> None:
    folder = county_dir(Path(args.cache), args.seed, args.n_nodes)
    scenario = county_scenario(folder, args.network)
    print(f"\n== county: generate_county(seed={args.seed}, n_nodes={args.n_nodes:,}), network roads.{args.network}")
    rows = county_stages(scenario)
    print(f"  {'stage':<12}{'wall s':>9}{'peak RSS MB':>13}")
    for name, s, mb in rows:
        print(f"  {name:<12}{s:>9.2f}{mb:>13.0f}")
    print(f"  {'sum':<12}{sum(s for _, s, _ in rows):>9.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        s, cpu, mb, _ = _child([sys.executable, "-m", "geoaccess.cli", "run", str(scenario), "--out",
                                str(Path(tmp) / "out")], REPO)
    print(f"  whole `geoaccess run` (child process, start-up included): {s:.2f} s, CPU {cpu:.2f} s, "
          f"peak RSS (child and descendants summed) {mb:,.0f} MB")


# --------------------------------------------------------------------------- XML grid

GRID_SCENARIO = """[scenario]
name = "xml-grid"

[network]
source = "grid.osm"

[network.speeds.drive.congestion]
residential = 1.0
tertiary = 1.0

[facilities]
path = "clinics.csv"

[population]
path = "people.csv"
crs = "EPSG:32650"
x = "x"
y = "y"

[targets]
use = []

[[targets.define]]
id = "clinic_{minutes:g}min_drive"
name_zh = "{minutes:g}分钟车程诊所"
name_en = "Clinic within {minutes:g} min by car"
facility_types = ["clinic"]
mode = "drive"
direction = "to_facility"
threshold_min = {minutes}
population = "all"
metric = "share_within"
goal = 0.9
"""

REFERENCE = r'''
import sys, time
import numpy as np, pandas as pd, osmnx as ox
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
folder, minutes = sys.argv[1], float(sys.argv[2])
G = ox.graph_from_xml(f"{folder}/grid.osm", simplify=True, retain_all=True)
G = ox.add_edge_speeds(G)
G = ox.add_edge_travel_times(G)
G = ox.project_graph(G, to_crs="EPSG:32650")
nodes = list(G.nodes)
index = {n: i for i, n in enumerate(nodes)}
u, v, t = zip(*((index[a], index[b], d["travel_time"]) for a, b, d in G.edges(data=True)))
n = len(nodes)
# to the clinic: search from the clinics on the reversed graph
csr = csr_matrix((t, (v, u)), shape=(n, n))
people = pd.read_csv(f"{folder}/people.csv")
clinics = pd.read_csv(f"{folder}/clinics_utm.csv")
home = ox.distance.nearest_nodes(G, people.x.to_numpy(), people.y.to_numpy())
fac = ox.distance.nearest_nodes(G, clinics.x.to_numpy(), clinics.y.to_numpy())
dist = dijkstra(csr, indices=[index[f] for f in fac], min_only=True)
sec = dist[[index[h] for h in home]]
share = float(people["pop"].to_numpy()[sec <= minutes * 60].sum() / people["pop"].sum())
print(f"{share:.6f}")
'''


def write_grid(folder: Path, side: int, clinics: int, people: int, minutes: float) -> None:
    """The XML grid scenario (see the module notes)."""
    import pandas as pd
    from pyproj import Transformer

    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "scenario.toml").exists():
        return
    rng = np.random.default_rng(0)
    x0, y0, step = 500_000.0, 3_700_000.0, 100.0
    ii, jj = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    x, y = x0 + step * jj.ravel(), y0 + step * ii.ravel()
    to_ll = Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform(x, y)
    node = lambda i, j: i * side + j + 1  # noqa: E731
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="bench_run">']
    lines += [f'  <node id="{k + 1}" lat="{a:.7f}" lon="{o:.7f}"/>' for k, (o, a) in enumerate(zip(lon, lat))]
    way = 0
    for axis in (0, 1):
        for i in range(side):
            way += 1
            refs = [node(i, j) if axis == 0 else node(j, i) for j in range(side)]
            cls, kmh = ("tertiary", 50) if i % 5 == 0 else ("residential", 30)
            lines.append(f'  <way id="{way}">' + "".join(f'<nd ref="{r}"/>' for r in refs)
                         + f'<tag k="highway" v="{cls}"/><tag k="maxspeed" v="{kmh}"/></way>')
    lines.append("</osm>")
    (folder / "grid.osm").write_text("\n".join(lines) + "\n", encoding="utf-8")
    span = step * (side - 1)
    cx, cy = x0 + rng.uniform(0, span, clinics), y0 + rng.uniform(0, span, clinics)
    clon, clat = to_ll.transform(cx, cy)
    pd.DataFrame({"lon": np.round(clon, 7), "lat": np.round(clat, 7), "type": "clinic",
                  "name": [f"诊所{k + 1}" for k in range(clinics)]}).to_csv(folder / "clinics.csv", index=False)
    pd.DataFrame({"x": cx, "y": cy}).to_csv(folder / "clinics_utm.csv", index=False)
    pd.DataFrame({"x": x0 + rng.uniform(0, span, people), "y": y0 + rng.uniform(0, span, people),
                  "pop": rng.integers(1, 10, people)}).to_csv(folder / "people.csv", index=False)
    (folder / "scenario.toml").write_text(GRID_SCENARIO.format(minutes=minutes), encoding="utf-8")


def run_grid(args) -> None:
    folder = Path(args.cache) / f"grid-{args.grid_side}-{args.clinics}-{args.people}-{args.minutes:g}"
    write_grid(folder, args.grid_side, args.clinics, args.people, args.minutes)
    print(f"\n== XML grid: {args.grid_side ** 2:,} nodes, {args.clinics} clinics, {args.people:,} people points, "
          f"drive within {args.minutes:g} min")
    with tempfile.TemporaryDirectory() as tmp:
        ga_s, _, ga_mb, _ = _child([sys.executable, "-m", "geoaccess.cli", "run", str(folder / "scenario.toml"),
                                 "--out", str(Path(tmp) / "out")], REPO)
        summary = json.loads((Path(tmp) / "out" / "summary.json").read_text(encoding="utf-8"))
    ga_share = summary["targets"][0]["value"] if "targets" in summary else None
    ref_s, _, ref_mb, out = _child([sys.executable, "-c", REFERENCE, str(folder), str(args.minutes)], REPO)
    ref_share = float(out.strip().splitlines()[-1])
    print(f"  {'':<34}{'wall s':>8}{'peak MB':>9}{'share':>9}")
    print(f"  {'geoaccess run (all outputs)':<34}{ga_s:>8.2f}{ga_mb:>9.0f}{ga_share:>9.4f}")
    print(f"  {'osmnx + scipy reference (share)':<34}{ref_s:>8.2f}{ref_mb:>9.0f}{ref_share:>9.4f}")
    print(f"  ratio geoaccess / reference: {ga_s / ref_s:.2f}x; shares differ by {abs(ga_share - ref_share):.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--county", action="store_true", help="the county run stage by stage")
    ap.add_argument("--grid", action="store_true", help="the XML grid against osmnx + scipy")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-nodes", type=int, default=600_000)
    ap.add_argument("--network", choices=("gpkg", "osm"), default="gpkg")
    ap.add_argument("--grid-side", type=int, default=150)
    ap.add_argument("--clinics", type=int, default=30)
    ap.add_argument("--people", type=int, default=50_000)
    ap.add_argument("--minutes", type=float, default=5.0)  # at 3 min the off-road legs part the shares by 0.04
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "geoaccess-bench"))
    args = ap.parse_args()
    if not (args.county or args.grid):
        args.county = args.grid = True
    if args.county:
        run_county(args)
    if args.grid:
        run_grid(args)


if __name__ == "__main__":
    main()
