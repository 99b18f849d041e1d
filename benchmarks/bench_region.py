"""Province scale on Dask: the same synthetic province with 1 and with 2 workers, side by side.

    python benchmarks/bench_region.py [--counties 8] [--subset K] [--workers 1,2] [--threads N]
                                      [--nodes-per-km2 18] [--buffer-km default] [--out /tmp/bench_region]

The province is :func:`geoaccess.synthetic.generate_region` laid into the first
``--counties`` Guizhou counties of ``counties_seed_regions.geojson`` (GCJ-02 outlines,
file order: Guiyang first, so the counties are neighbours and their buffers overlap as in
the real province), written to ``<out>/input`` and reused by later runs when
``<out>/input/bench_input.json`` says it was made for the same counties, density and seed.
``--subset K`` runs only the first K of those counties, on slices cut from the whole
generated province (so a county's buffer holds what it would in the full run).

For each worker count it runs ``run_region`` from scratch (fresh output folder
``<out>/run_<n>w``: partition included) on a LocalCluster and prints, side by side: wall
time, partition time, per-county task time (min / median / p90 / max, wall and CPU; each
task includes its county's map and report), the sum of task times, peak RSS per worker
process (``ru_maxrss`` recorded by each task), the thread budget per task
(``max(1, cores // workers)`` unless ``--threads``), the load average, and the speed-up of
the last worker count over the first. Per-county figures go to ``<out>/county_times_<n>w.csv``.

Wall times on a shared machine are noisy: compare the CPU rows, and the load average printed
beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's geoaccess, not an installed one
SEED_REGIONS = Path("/work/shared/data/china_admin/counties_seed_regions.geojson")


def province(folder: Path, regions: Path, ids: list[str], nodes_per_km2: float) -> dict:
    """The generated province in ``folder``: reused when its ``bench_input.json`` matches."""
    from geoaccess.synthetic import generate_region

    stamp = folder / "bench_input.json"
    want = {"regions": str(regions), "ids": ids, "nodes_per_km2": float(nodes_per_km2), "seed": 0}
    if stamp.is_file() and (folder / "region.toml").is_file():
        made = json.loads(stamp.read_text(encoding="utf-8"))
        if {k: made.get(k) for k in want} == want:
            return made | {"reused": True}
    shutil.rmtree(folder, ignore_errors=True)
    r = generate_region(folder, regions, only=ids, nodes_per_km2=nodes_per_km2)
    made = want | {"n_nodes": r.n_nodes, "population": r.population, "n_facilities": r.n_facilities,
                   "seconds": r.seconds}
    stamp.write_text(json.dumps(made, indent=1), encoding="utf-8")
    return made | {"reused": False}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counties", type=int, default=8, help="number of Guizhou counties generated (file order)")
    ap.add_argument("--subset", type=int, default=None, help="run only the first K of them (default: all)")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--threads", type=int, default=None, help="threads per county task (default cores // workers)")
    ap.add_argument("--nodes-per-km2", type=float, default=18.0)
    ap.add_argument("--buffer-km", default="default", help="'default' (the scenario rule) or km")
    ap.add_argument("--regions", type=Path, default=SEED_REGIONS)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_region"))
    args = ap.parse_args()

    import geopandas as gpd

    from geoaccess.region import run_region
    from geoaccess.region.run import task_threads

    units = gpd.read_file(args.regions)
    ids = units.loc[units["province"] == "贵州省", "adcode"].astype(str).tolist()[: args.counties]
    made = province(args.out / "input", args.regions, ids, args.nodes_per_km2)
    toml = args.out / "input" / "region.toml"
    if args.buffer_km != "default":  # a copy beside the inputs (relative paths), the generated file untouched
        km = float(args.buffer_km)
        text = toml.read_text(encoding="utf-8").replace('crs = "GCJ-02"', f'crs = "GCJ-02"\nbuffer_km = {km:g}')
        toml = toml.with_name(f"region_buffer{km:g}.toml")
        toml.write_text(text, encoding="utf-8")
    run_ids = ids[: args.subset] if args.subset else None
    print(f"synthetic province: {len(ids)} counties, {made['n_nodes']:,} road nodes, {made['population']:,.0f} people, "
          f"{made['n_facilities']:,} facilities; generated in {made['seconds']:.1f} s"
          + (" (reused)" if made["reused"] else "")
          + (f"; running the first {len(run_ids)}" if run_ids else ""), flush=True)

    results = {}
    for n in [int(w) for w in args.workers.split(",")]:
        out = args.out / f"run_{n}w"
        shutil.rmtree(out, ignore_errors=True)
        marks: dict[str, float] = {}
        load0 = os.getloadavg()[0]

        def say(msg: str, marks=marks) -> None:
            if msg.startswith("partitioned in"):
                marks["partition"] = float(msg.split()[2])
            if msg.startswith("region "):
                marks.setdefault("buffer", msg)

        t = time.perf_counter()
        run = run_region(toml, out, workers=n, threads=args.threads, counties=run_ids, say=say)
        wall = time.perf_counter() - t
        recs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((out / "status").glob("*.json"))]
        ok = [r for r in recs if r["status"] == "ok"]
        rss: dict[int, float] = {}
        for r in recs:
            if r.get("peak_rss_mb"):
                rss[r["pid"]] = max(rss.get(r["pid"], 0.0), r["peak_rss_mb"])
        slices = json.loads((out / "slices" / "partition.json").read_text(encoding="utf-8"))["counties"]
        with open(args.out / f"county_times_{n}w.csv", "w", encoding="utf-8") as fh:
            fh.write("county_id,name,roads_in_slice,routing_nodes,population,seconds,cpu_seconds,peak_rss_mb,pid\n")
            for r in ok:
                fh.write(f"{r['id']},{r['name']},{slices[r['id']].get('roads', '')},{r.get('nodes', '')},"
                         f"{r.get('population', 0):.0f},{r['seconds']:.2f},{r.get('cpu_seconds', float('nan')):.2f},"
                         f"{r.get('peak_rss_mb') or float('nan'):.0f},{r['pid']}\n")
        results[n] = dict(wall=wall, partition=marks.get("partition", float("nan")),
                          secs=np.array([r["seconds"] for r in ok]),
                          cpu=np.array([r.get("cpu_seconds", np.nan) for r in ok]), rss=rss, ok=len(ok),
                          threads=task_threads(n) if args.threads is None else args.threads,
                          load=(load0 + os.getloadavg()[0]) / 2,
                          main_rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                          roads=np.array([slices[r["id"]].get("roads", 0) for r in ok]),
                          nodes=np.array([r.get("nodes", 0) for r in ok]))
        print(f"{n} worker(s): {wall:.1f} s wall; {marks.get('buffer', '')}", flush=True)
        del run

    cols = list(results)
    print()
    print(f"{'':38}" + "".join(f"{f'{c} worker(s)':>14}" for c in cols))

    def line(label: str, fn) -> None:
        print(f"{label:38}" + "".join(f"{fn(results[c]):>14}" for c in cols))

    line("counties done", lambda r: f"{r['ok']}")
    line("threads per county task", lambda r: f"{r['threads']}")
    line("wall time, s", lambda r: f"{r['wall']:.1f}")
    line("  of which partition, s", lambda r: f"{r['partition']:.1f}")
    for q, name in ((0, "min"), (50, "median"), (90, "p90"), (100, "max")):
        line(f"county task wall {name}, s", lambda r, q=q: f"{np.percentile(r['secs'], q):.1f}")
    line("county task wall sum, s", lambda r: f"{r['secs'].sum():.1f}")
    line("county task CPU median, s", lambda r: f"{np.median(r['cpu']):.1f}")
    line("county task CPU sum, s", lambda r: f"{r['cpu'].sum():.1f}")
    line("road features per slice, median", lambda r: f"{np.median(r['roads']):,.0f}")
    line("routing nodes per slice, median", lambda r: f"{np.median(r['nodes']):,.0f}")
    line("peak RSS per worker, MB (max)", lambda r: f"{max(r['rss'].values()):,.0f}")
    line("main process peak RSS so far, MB", lambda r: f"{r['main_rss']:,.0f}")
    line("worker processes used", lambda r: f"{len(r['rss'])}")
    line("load average during the run", lambda r: f"{r['load']:.1f}")
    if len(cols) > 1:
        a, b = results[cols[0]], results[cols[-1]]
        print(f"speed-up {cols[-1]} vs {cols[0]} workers: {a['wall'] / b['wall']:.2f}× wall, "
              f"{(a['wall'] - a['partition']) / (b['wall'] - b['partition']):.2f}× without the partition")


if __name__ == "__main__":
    main()
