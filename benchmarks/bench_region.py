"""Province scale on Dask: the same synthetic province with 1 and with 2 workers, side by side.

    python benchmarks/bench_region.py [--counties 8] [--workers 1,2] [--nodes-per-km2 18]
                                      [--buffer-km default] [--out /tmp/bench_region]

The province is :func:`geoaccess.synthetic.generate_region` laid into the first
``--counties`` Guizhou counties of ``counties_seed_regions.geojson`` (GCJ-02 outlines,
file order: Guiyang first, so the counties are neighbours and their buffers overlap as in
the real province). For each worker count it runs ``run_region`` from scratch (fresh output
folder: partition included) on a LocalCluster and prints, side by side: wall time,
partition time, per-county time (min / median / p90 / max; each county's task time,
including its map and report), peak RSS per worker process (``ru_maxrss`` recorded by each
task), and the speed-up of the last worker count over the first.

Wall times on a shared machine are noisy: the script prints the load average beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

SEED_REGIONS = Path("/work/shared/data/china_admin/counties_seed_regions.geojson")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counties", type=int, default=8, help="number of Guizhou counties (file order)")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--nodes-per-km2", type=float, default=18.0)
    ap.add_argument("--buffer-km", default="default", help="'default' (the scenario rule) or km")
    ap.add_argument("--regions", type=Path, default=SEED_REGIONS)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_region"))
    args = ap.parse_args()

    import geopandas as gpd

    from geoaccess.region import run_region
    from geoaccess.synthetic import generate_region

    units = gpd.read_file(args.regions)
    ids = units.loc[units["province"] == "贵州省", "adcode"].astype(str).tolist()[: args.counties]
    t0 = time.perf_counter()
    region = generate_region(args.out / "input", args.regions, only=ids, nodes_per_km2=args.nodes_per_km2)
    toml = region.region_toml
    if args.buffer_km != "default":
        text = toml.read_text(encoding="utf-8").replace('crs = "GCJ-02"', f'crs = "GCJ-02"\nbuffer_km = {float(args.buffer_km)}')
        toml.write_text(text, encoding="utf-8")
    print(f"synthetic province: {len(ids)} counties, {region.n_nodes:,} road nodes, {region.population:,.0f} people, "
          f"{region.n_facilities:,} facilities; generated in {time.perf_counter() - t0:.1f} s")

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
        run = run_region(toml, out, workers=n, say=say)
        wall = time.perf_counter() - t
        recs = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((out / "status").glob("*.json"))]
        secs = np.array([r["seconds"] for r in recs if r["status"] == "ok"])
        rss: dict[int, float] = {}
        for r in recs:
            if r.get("peak_rss_mb"):
                rss[r["pid"]] = max(rss.get(r["pid"], 0.0), r["peak_rss_mb"])
        slices = json.loads((out / "slices" / "partition.json").read_text(encoding="utf-8"))["counties"]
        results[n] = dict(wall=wall, partition=marks.get("partition", float("nan")), secs=secs, rss=rss,
                          ok=sum(r["status"] == "ok" for r in recs), load=(load0 + os.getloadavg()[0]) / 2,
                          roads=np.array([v.get("roads", 0) for k, v in slices.items() if not k.startswith("_")]),
                          nodes=np.array([r.get("nodes", 0) for r in recs if r["status"] == "ok"]))
        print(f"{n} worker(s): {wall:.1f} s wall; {marks.get('buffer', '')}", flush=True)
        del run

    cols = list(results)
    print()
    print(f"{'':34}" + "".join(f"{f'{c} worker(s)':>16}" for c in cols))

    def line(label: str, fn) -> None:
        print(f"{label:34}" + "".join(f"{fn(results[c]):>16}" for c in cols))

    line("counties done", lambda r: f"{r['ok']}")
    line("wall time, s", lambda r: f"{r['wall']:.1f}")
    line("  of which partition, s", lambda r: f"{r['partition']:.1f}")
    for q, name in ((0, "min"), (50, "median"), (90, "p90"), (100, "max")):
        line(f"county task time {name}, s", lambda r, q=q: f"{np.percentile(r['secs'], q):.1f}")
    line("county task time sum, s", lambda r: f"{r['secs'].sum():.1f}")
    line("routing nodes per slice, median", lambda r: f"{np.median(r['nodes']):,.0f}")
    line("peak RSS per worker, MB (max)", lambda r: f"{max(r['rss'].values()):,.0f}")
    line("worker processes used", lambda r: f"{len(r['rss'])}")
    line("load average during the run", lambda r: f"{r['load']:.1f}")
    if len(cols) > 1:
        a, b = results[cols[0]], results[cols[-1]]
        print(f"speed-up {cols[-1]} vs {cols[0]} workers: {a['wall'] / b['wall']:.2f}× wall, "
              f"{(a['wall'] - a['partition']) / (b['wall'] - b['partition']):.2f}× without the partition")


if __name__ == "__main__":
    main()
