#!/usr/bin/env python
"""Benchmark of road-network loading: geoaccess beside osmnx on the same files.

Not a test: a script that, in ONE process, times (best of ``--repeat``, wall and process
CPU) loading

  (a)  the synthetic county's ``roads.osm`` (OSM XML) with geoaccess
       ``network_from_file`` (pyosmium, tags through ``geoaccess.osmtags``, junction
       splitting and projection, vectorised) and with ``osmnx.graph_from_xml``
       (``retain_all=True``; osmnx's own XML parser, networkx graph, topology
       simplification), which gives a graph only: no projection, no tag reading;
  (b)  the county's ``roads.gpkg`` (the same ways as LineStrings) with geoaccess
       ``network_from_file`` (pyogrio, shapely noding, straight to arrays); for context,
       ``geopandas.read_file`` alone (the floor of reading it);
  (c)  ``data/demo/monaco.osm.pbf`` with geoaccess (osmnx does not read PBF).

and prints the ratio osmnx / geoaccess, and the node and edge counts of each reading (they
differ by design: osmnx keeps both directions of a two-way road as two arcs).

The county is ``geoaccess.synthetic.generate_county(folder, seed=0, n_nodes=N)``, written
once into ``--folder`` (default: a temporary folder) and reused when present. Wall times on
a shared machine are noisy: compare the ``cpu`` column too.

Usage::

    python benchmarks/bench_load.py --nodes 600000 --repeat 3 [--folder /tmp/county600k]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
MONACO = REPO / "data" / "demo" / "monaco.osm.pbf"


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Best wall and CPU seconds of ``repeat`` calls, and the last result."""
    wall, cpu, out = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=600_000, help="n_nodes of the synthetic county (600000)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--folder", type=Path, default=None, help="where the county is written / found")
    parser.add_argument("--no-osmnx", action="store_true", help="skip osmnx (slow on big files)")
    args = parser.parse_args()

    import geopandas as gpd
    import osmnx as ox

    from geoaccess.network import network_from_file
    from geoaccess.synthetic import generate_county

    folder = args.folder or Path(tempfile.mkdtemp(prefix="bench_load_"))
    if not (folder / "roads.osm").exists() or not (folder / "roads.gpkg").exists():
        print(f"generating the synthetic county (n_nodes={args.nodes:,}) in {folder} …", flush=True)
        generate_county(folder, seed=0, n_nodes=args.nodes)
    osm, gpkg = folder / "roads.osm", folder / "roads.gpkg"
    print(f"roads.osm {osm.stat().st_size / 1e6:.1f} MB, roads.gpkg {gpkg.stat().st_size / 1e6:.1f} MB, "
          f"monaco.osm.pbf {MONACO.stat().st_size / 1e6:.1f} MB; best of {args.repeat}\n")

    rows: list[tuple[str, str, float, float, str]] = []

    def run(label: str, what: str, fn: Callable[[], Any], describe: Callable[[Any], str]) -> float:
        wall, cpu, out = best_of(fn, args.repeat)
        rows.append((label, what, wall, cpu, describe(out)))
        print(f"  {label:<10} {what:<38} {wall:8.2f} s wall {cpu:8.2f} s cpu   {describe(out)}", flush=True)
        return wall

    def net_text(net: Any) -> str:
        return f"{net.n_nodes:,} nodes, {net.n_edges:,} road segments"

    def graph_text(g: Any) -> str:
        return f"{g.number_of_nodes():,} nodes, {g.number_of_edges():,} arcs"

    ours_osm = run("roads.osm", "geoaccess network_from_file", lambda: network_from_file(osm), net_text)
    if not args.no_osmnx:
        theirs = run("roads.osm", "osmnx graph_from_xml (retain_all)", lambda: ox.graph_from_xml(osm, retain_all=True),
                     graph_text)
        print(f"  {'':<10} {'osmnx / geoaccess':<38} {theirs / ours_osm:8.1f} ×")
    run("roads.gpkg", "geoaccess network_from_file", lambda: network_from_file(gpkg), net_text)
    run("roads.gpkg", "geopandas.read_file alone (floor)", lambda: gpd.read_file(gpkg),
        lambda df: f"{len(df):,} lines")
    run("monaco", "geoaccess network_from_file (.osm.pbf)", lambda: network_from_file(MONACO), net_text)


if __name__ == "__main__":
    main()
