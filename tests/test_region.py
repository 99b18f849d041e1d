"""Province scale (issue 12): geoaccess run-region on Dask with cross-border buffers.

The hand-made region of region_data.py: A's only hospital is 0.5 km across the border in
B; C has people and no roads; D has roads and nobody. Numbers are checked against the
input tables (people counted by hand from the point grid), never against the run itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geoaccess.cli import main
from geoaccess.coords import gcj02_to_wgs84
from geoaccess.errors import InputError
from geoaccess.region import load_region, partition, read_units, run_region
from geoaccess.synthetic import generate_region
from region_data import LAT, SQUARES, people, write_region

ROOT = Path(__file__).resolve().parents[1]
GUIYANG = Path(__file__).with_name("data") / "guiyang_districts_gcj02.geojson"


def _people_in(code: str) -> float:
    w, e = SQUARES[code]
    p = people()
    return float(p.loc[(p["lon"] > w) & (p["lon"] < e) & (p["lat"] > LAT[0]) & (p["lat"] < LAT[1]), "pop"].sum())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The hand-made region run with a 3 km buffer and with none (one LocalCluster worker each)."""
    base = tmp_path_factory.mktemp("region")
    out = {}
    for km in (3, 0):
        toml = write_region(base / f"in{km}", f"buffer_km = {km}")
        out[km] = run_region(toml, base / f"out{km}", workers=1)
    return out


def _rows(run) -> pd.DataFrame:
    return pd.read_csv(run.root / "counties.csv", encoding="utf-8-sig", dtype={"county_id": str}).set_index("county_id")


def test_a_hospital_across_the_border_counts_with_the_buffer_only(runs):
    with_buffer, without = _rows(runs[3]), _rows(runs[0])
    assert _people_in("A") == 200.0  # 5 × 4 points of 10 people
    a = with_buffer.loc["A"]
    assert a["status"] == "ok" and a["population"] == 200.0
    assert a["value"] == 1.0 and bool(a["passed"]) and a["population_covered"] == 200.0
    # farthest home of A to the hospital: ≤ 3.5 km of 'primary' road (hand: 0.02° + 0.018°
    # at ≥ 40 km/h is ≤ 5.3 min) plus ≤ 0.3 km access at 15 km/h (1.2 min)
    assert 0 < a["mean_minutes"] < 6.5
    a0 = without.loc["A"]
    assert a0["status"] == "ok" and a0["value"] == 0.0 and not bool(a0["passed"])
    assert a0["population_unreachable"] == 200.0
    for rows in (with_buffer, without):  # B holds the hospital: passes either way, with its own people only
        assert rows.loc["B", "value"] == 1.0 and rows.loc["B", "population"] == _people_in("B")


def test_counties_without_roads_or_people_get_a_row_saying_so(runs):
    rows = _rows(runs[3])
    c, d = rows.loc["C"], rows.loc["D"]
    assert c["status"] == "no_roads" and "no road within 3 km" in c["note"]
    assert not bool(c["passed"]) and c["population_unreachable"] == _people_in("C")
    assert d["status"] == "no_people" and d["population"] == 0 and pd.isna(d["passed"])
    assert (runs[3].root / "counties.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # BOM for Excel


def test_province_values_are_population_weighted(runs):
    summary = json.loads((runs[3].root / "region_summary.json").read_text(encoding="utf-8"))
    t = summary["targets"][0]
    covered = _people_in("A") + _people_in("B")  # C's people reach nothing
    assert t["value"] == pytest.approx(covered / (covered + _people_in("C")))
    assert t["passed"] is False and t["counties_passing"] == 2 and t["counties_failing"] == ["C"]
    assert summary["counties_by_status"] == {"ok": 2, "no_people": 1, "no_roads": 1}
    assert summary["buffer_km"] == 3


def test_each_county_equals_a_county_run_on_its_slice(runs, tmp_path):
    root = runs[3].root
    assert main(["run", str(root / "slices" / "A" / "scenario.toml"), "--out", str(tmp_path / "A")]) == 0
    alone = json.loads((tmp_path / "A" / "summary.json").read_text(encoding="utf-8"))
    in_region = json.loads((root / "counties" / "A" / "summary.json").read_text(encoding="utf-8"))
    keys = ("value", "passed", "population_total", "population_covered", "population_unreachable", "mean_minutes",
            "p90_minutes")
    assert [{k: t[k] for k in keys} for t in alone["targets"]] == [{k: t[k] for k in keys} for t in in_region["targets"]]
    # and the slice holds the hospital beyond A's border, and only A's people
    fac = pd.read_csv(root / "slices" / "A" / "facilities.csv")
    assert set(fac["type"]) == {"county_hospital", "village_clinic"}
    assert gpd.read_file(root / "slices" / "A" / "population.fgb")["pop"].sum() == _people_in("A")


def test_province_map_and_report_link_the_counties(runs):
    page = (runs[3].root / "map.html").read_text(encoding="utf-8")
    assert "counties/A/map.html" in page and "#d73027" in page and "#1a9850" in page
    assert json.dumps("县A")[1:-1] in page  # the popup's county name (JSON-escaped in the page)
    report = (runs[3].root / "report.html").read_text(encoding="utf-8")
    assert "counties/B/report.html" in report and "无道路" in report


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def test_the_largest_slice_runs_first_with_every_core_for_one_worker(runs):
    # (before the re-run test below, which runs B again)
    roads = json.loads((runs[3].root / "slices" / "partition.json").read_text(encoding="utf-8"))["counties"]
    assert roads["B"]["roads"] > roads["A"]["roads"]  # B, in the middle, has more roads within 3 km
    a, b = runs[3].records["A"], runs[3].records["B"]
    assert b["started"] < a["started"]  # file order would run A first
    assert a["threads"] == b["threads"] == _cores()  # one worker: the whole machine
    assert 0 < a["cpu_seconds"] and 0 < b["cpu_seconds"]


def test_two_local_workers_share_the_cores(tmp_path):
    from geoaccess.region.run import task_threads

    assert [task_threads(w, 2) for w in (1, 2, 3)] == [2, 1, 1] and task_threads(3, 8) == 2
    toml = write_region(tmp_path / "in", "buffer_km = 0")
    run = run_region(toml, tmp_path / "out", workers=2, counties=["A", "B"])
    assert {r["threads"] for r in run.records.values()} == {max(1, _cores() // 2)}
    pinned = run_region(toml, tmp_path / "out1", workers=2, threads=1, counties=["A"])
    assert pinned.records["A"]["threads"] == 1


def test_a_rerun_skips_finished_counties_a_changed_file_or_force_runs_them_again(runs):
    toml = runs[3].root.parent / "in3" / "region.toml"
    again = run_region(toml, runs[3].root)
    assert again.ran == [] and sorted(again.skipped) == ["A", "B", "C", "D"]
    toml.write_text(toml.read_text(encoding="utf-8").replace("goal = 0.9", "goal = 0.95"), encoding="utf-8")
    changed = run_region(toml, runs[3].root, workers=1, counties=["B"])
    assert changed.ran == ["B"] and changed.records["B"]["targets"][0]["goal"] == 0.95
    forced = run_region(toml, runs[3].root, workers=1, force=True, counties=["B"])
    assert forced.ran == ["B"] and forced.skipped == []


def test_the_command_line_reports_the_province_and_what_it_skipped(tmp_path, capsys):
    toml = write_region(tmp_path / "in", "buffer_km = 3")
    args = ["run-region", str(toml), "--out", str(tmp_path / "out"), "--counties", "C,D"]  # nothing to route
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "test-region · 2 counties" in out and "ran 0, skipped 0" in out
    assert "C 县C: no_roads no road within 3" in out and "D 县D: no_people nobody lives" in out
    assert main(args) == 0
    assert "skipped 2 already done" in capsys.readouterr().out


def test_a_home_on_a_shared_border_is_counted_once_in_the_first_county(tmp_path):
    toml = write_region(tmp_path, "buffer_km = 3")
    table = pd.read_csv(tmp_path / "people.csv")
    border = pd.DataFrame([{"lon": SQUARES["A"][1], "lat": 26.009, "pop": 7.0}])  # on the A|B border
    pd.concat([table, border]).to_csv(tmp_path / "people.csv", index=False)
    region = load_region(toml)
    units = read_units(region)
    info = partition(region, units, tmp_path / "out", ["A", "B"])
    assert info["A"]["population"] == _people_in("A") + 7 and info["B"]["population"] == _people_in("B")
    assert gpd.read_file(tmp_path / "out" / "slices" / "B" / "population.fgb")["pop"].sum() == _people_in("B")


def test_first_county_of_a_point_in_file_order_borders_included():
    from geoaccess.region.partition import _first_county

    a, b = shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)
    x, y = np.array([1.0, 1.5, 0.5, 3.0, 0.0, 2.0]), np.array([0.5, 0.5, 0.5, 3.0, 0.0, 1.0])
    # on the shared edge, inside B, inside A, outside, A's corner, B's far corner
    assert _first_county(np.array([a, b]), x, y).tolist() == [0, 1, 0, -1, 0, 1]
    assert _first_county(np.array([b, a]), x, y).tolist() == [0, 0, 1, -1, 1, 0]


def test_people_in_no_county_are_counted_nowhere_and_said(tmp_path):
    toml = write_region(tmp_path, "buffer_km = 3")
    table = pd.read_csv(tmp_path / "people.csv")
    between = pd.DataFrame([{"lon": 106.10, "lat": 26.009, "pop": 11.0}])  # between D and C: no county
    pd.concat([table, between]).to_csv(tmp_path / "people.csv", index=False)
    run = run_region(toml, tmp_path / "out", counties=["C", "D"])  # nothing to route: no cluster
    assert "11 people (1 demand points) lie in no county polygon of counties.geojson" in " ".join(run.warnings)
    assert run.records["C"]["population"] == _people_in("C")


def test_a_county_map_draws_the_bands_only_around_the_county():
    from pyproj import Transformer

    from geoaccess.region.partition import clip_bands

    outline = shapely.box(106.0, 26.0, 106.02, 26.018)
    xs, ys = Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True).transform(
        [106.0, 106.02, 106.02, 106.0], [26.0, 26.0, 26.018, 26.018])
    x0, x1, y0, y1 = min(xs) - 5000, max(xs) + 5000, min(ys) - 5000, max(ys) + 5000  # the box, by hand
    bands = gpd.GeoDataFrame({"band": ["0–10", "10–20", "20–30"]}, geometry=[
        shapely.box(x0 - 50_000, y0 - 50_000, x1 + 50_000, y1 + 50_000),  # covers the box and far beyond
        shapely.box(x1 + 10_000, y0, x1 + 20_000, y1),                    # wholly outside
        shapely.box(x1, y0, x1 + 1_000, y1)], crs="EPSG:32648")           # touches the box along its edge
    cut = clip_bands(bands, outline)
    assert cut.geometry.iloc[0].area == pytest.approx((x1 - x0) * (y1 - y0), rel=1e-9)
    assert cut.geometry.iloc[1].is_empty and cut.geometry.iloc[2].is_empty
    assert list(cut.geom_type) == ["Polygon"] * 3 and list(cut["band"]) == list(bands["band"])
    assert bands.geometry.iloc[1].area == 10_000 * (y1 - y0)  # the run's own bands are left as they were


def _small_province(folder: Path):
    return generate_region(folder, GUIYANG, id_column="adcode", name_column="district", crs="GCJ-02",
                           nodes_per_km2=6, cell_size_m=250)


def test_a_killed_worker_county_is_retried_and_finishes(tmp_path):
    region = _small_province(tmp_path / "in")
    out = tmp_path / "out"
    killed: list[int] = []

    def killer() -> None:  # kill the first worker process seen running a county
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            for marker in (out / "status").glob("*.running") if (out / "status").is_dir() else []:
                try:
                    pid = json.loads(marker.read_text(encoding="utf-8"))["pid"]
                except (OSError, ValueError):
                    continue
                assert pid != os.getpid()
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=killer)
    thread.start()
    run = run_region(region.region_toml, out, workers=1, counties=["520103"])  # 云岩区, 115 km²
    thread.join()
    assert len(killed) == 1
    assert {r["status"] for r in run.records.values()} == {"ok"}
    assert all(r["pid"] != killed[0] for r in run.records.values())  # the killed county ran again elsewhere
    assert (out / "counties" / "520103" / "geoaccess-run.json").is_file()
    assert not list((out / "counties").glob(".*"))  # no staging leftovers
    again = run_region(region.region_toml, out, counties=["520103"])
    assert again.ran == [] and again.skipped == ["520103"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_workers_over_tcp(tmp_path):
    from dask.distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", str(port), "--no-dashboard"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(2):
            procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address,
                                           "--nthreads", "1", "--no-dashboard"], cwd=ROOT, env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        toml = write_region(tmp_path / "in", "buffer_km = 3")
        run = run_region(toml, tmp_path / "out", scheduler=address, counties=["A", "B"])
        assert run.records["A"]["status"] == run.records["B"]["status"] == "ok"
        assert run.records["A"]["targets"][0]["value"] == 1.0
        assert run.records["A"]["pid"] != run.records["B"]["pid"]  # one county on each worker process
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


# --------------------------------------------------------------------------- bad input

def test_no_id_column_names_the_columns(tmp_path):
    toml = write_region(tmp_path, "buffer_km = 3")
    toml.write_text(toml.read_text(encoding="utf-8").replace('id = "code"', 'id = "adcode"'), encoding="utf-8")
    with pytest.raises(InputError, match=r"no column 'adcode' \(\[region\] id\).*code, name"):
        read_units(load_region(toml))
    assert main(["run-region", str(toml), "--out", str(tmp_path / "out")]) == 2


def test_duplicate_ids_are_named_with_their_rows(tmp_path):
    toml = write_region(tmp_path, "buffer_km = 3")
    units = gpd.read_file(tmp_path / "counties.geojson")
    units.loc[2, "code"] = "A"
    units.to_file(tmp_path / "counties.geojson", driver="GeoJSON")
    with pytest.raises(InputError, match=r"duplicate ids in column 'code': A in rows 1, 3"):
        read_units(load_region(toml))


def test_polygons_in_another_crs(tmp_path):
    toml = write_region(tmp_path, 'buffer_km = 3\ncrs = "GCJ-02"')
    units = gpd.read_file(tmp_path / "counties.geojson")
    units.to_crs("EPSG:3857").to_file(tmp_path / "counties.geojson", driver="GeoJSON")
    with pytest.raises(InputError, match=r"projected CRS EPSG:3857.*GCJ-02"):
        read_units(load_region(toml))
    # metres labelled as degrees
    units.to_crs("EPSG:3857").set_crs("EPSG:4326", allow_override=True).to_file(
        tmp_path / "counties.geojson", driver="GeoJSON")
    with pytest.raises(InputError, match="are not degrees"):
        read_units(load_region(toml))


def test_gcj02_polygons_are_shifted_to_wgs84(tmp_path):
    toml = write_region(tmp_path, 'buffer_km = 3\nlayer = "counties"')
    toml.write_text(toml.read_text(encoding="utf-8").replace('units = "counties.geojson"', f'units = "{GUIYANG}"')
                    .replace('id = "code"', 'id = "adcode"').replace('name_column = "name"', 'name_column = "district"')
                    .replace('layer = "counties"', 'crs = "GCJ-02"'), encoding="utf-8")
    units = read_units(load_region(toml))
    raw = gpd.read_file(GUIYANG)
    assert list(units["id"]) == list(raw["adcode"].astype(str)) and list(units["name"]) == ["南明区", "云岩区"]
    a, b = shapely.get_coordinates(raw.geometry.iloc[0])[0], shapely.get_coordinates(units.geometry.iloc[0])[0]
    assert np.allclose(b, gcj02_to_wgs84(*a), atol=1e-9)
    shift_m = np.hypot((a[0] - b[0]) * 99_600, (a[1] - b[1]) * 110_800)  # GCJ-02 offsets in China: 100-700 m
    assert 100 < shift_m < 700


def test_a_self_intersecting_outline_is_repaired_with_a_warning(tmp_path):
    toml = write_region(tmp_path, "buffer_km = 3")
    units = gpd.read_file(tmp_path / "counties.geojson")
    w, e = SQUARES["C"]
    units.loc[3, "geometry"] = shapely.Polygon([(w, LAT[0]), (e, LAT[1]), (e, LAT[0]), (w, LAT[1])])  # bow tie
    units.to_file(tmp_path / "counties.geojson", driver="GeoJSON")
    notes: list[str] = []
    read = read_units(load_region(toml), warn_to=notes)
    assert read.geometry.is_valid.all()
    assert len(notes) == 1 and "invalid outline(s) of C" in notes[0]


def test_resource_ratio_targets_and_osm_provinces_are_refused(tmp_path):
    toml = write_region(tmp_path, "buffer_km = 3")
    text = toml.read_text(encoding="utf-8")
    toml.write_text(text.replace('use = ["hospital_15min"]', 'use = ["hospital_15min", "beds_per_1000"]'), encoding="utf-8")
    with pytest.raises(InputError, match="beds_per_1000 are resource ratios"):
        load_region(toml)
    toml.write_text(text.replace('source = "roads.gpkg"\nclass = "highway"', 'source = "guizhou.osm.pbf"'), encoding="utf-8")
    with pytest.raises(InputError, match=r"roads/\{id\}.osm.pbf"):
        load_region(toml)


def test_default_buffer_is_threshold_times_fastest_speed(tmp_path):
    toml = write_region(tmp_path, "")
    region = load_region(toml)
    assert region.buffer_km == pytest.approx(15 / 60 * 120)  # 15 min × 120 km/h (drive, maxspeed tags allowed)
    assert "15 min × 120 km/h" in region.buffer_note


# --------------------------------------------------------------------------- synthetic province

def test_generate_region_is_reproducible_and_fills_the_polygons(tmp_path):
    a = _small_province(tmp_path / "a")
    b = _small_province(tmp_path / "b")
    for name in ("roads.gpkg", "facilities.csv", "population.tif", "region.toml"):
        assert hashlib.sha256((a.directory / name).read_bytes()).digest() == \
               hashlib.sha256((b.directory / name).read_bytes()).digest(), name
    units = read_units(load_region(a.region_toml)).to_crs("EPSG:32648")
    area_km2 = float(units.area.sum() / 1e6)
    assert 0.8 * 6 * area_km2 < a.n_nodes < 1.3 * 6 * area_km2
    fac = pd.read_csv(a.directory / "facilities.csv", dtype={"county": str})
    pts = gpd.GeoSeries(gpd.points_from_xy(fac["lon"], fac["lat"]), crs="EPSG:4326").to_crs("EPSG:32648")
    home = units.set_index("id").loc[fac["county"]].geometry.to_numpy()
    assert (shapely.distance(pts.to_numpy(), home) < 500).mean() > 0.95  # each county's facilities in its polygon
    assert set(fac["county"]) == set(a.county_ids) and (fac["type"] == "county_hospital").any()
    assert 200 < a.population / area_km2 < 600  # persons per km²


def test_province_map_keeps_braces_in_names_as_text(tmp_path):
    """A "{{", "{%" or "{#" in a region, county or target name reaches the browser as text, never Jinja."""
    import dataclasses
    import html as html_lib
    import re

    from geoaccess.region.outputs import write_map
    from geoaccess.targets import load_targets

    target = dataclasses.replace(load_targets()["ems_120"], name_zh="急救 {% raw %} {#")
    units = gpd.GeoDataFrame({"id": ["A"], "name": ["县 {{ 1 + 1 }}"]},
                             geometry=[shapely.box(116.0, 33.0, 116.1, 33.1)], crs="EPSG:4326")
    rows = pd.DataFrame({"county_id": ["A"], "target": ["ems_120"], "status": ["ok"], "value": [12.5],
                         "passed": [True], "population": [1000.0], "note": [""]})
    page = write_map(tmp_path, "省 {{ x }}", units, rows, {"ems_120": target}, self_contained=True).read_text(
        encoding="utf-8")
    # the text a browser shows (HTML decoded); tests/bad_inputs/test_output_browser.py opens it in Chromium
    assert html_lib.unescape(re.search(r"<title>(.*?)</title>", page).group(1)) == "省 {{ x }} · geoaccess"
    data = json.JSONDecoder().raw_decode(page, page.index("L.geoJSON(") + len("L.geoJSON("))[0]
    popup = data["features"][0]["properties"]["p"]
    assert html_lib.unescape(popup).startswith("<b>县 {{ 1 + 1 }}</b> (A)<br>急救 {% raw %} {#<br>")
    # the layer control's label (HTML, so the browser decodes it), not read as Jinja
    assert json.dumps("急救 {% raw %} {#") in page and "县 2" not in page


def test_worker_peak_memory_is_its_own_not_the_spawning_parents():
    # A worker is spawned (fork + exec) by a process that may have read the whole province;
    # Linux carries ru_maxrss across exec, so that figure would report the parent's peak.
    code = ("import subprocess, sys, resource\n"
            "big = bytearray(600 * 2**20); big[::4096] = b'x' * len(big[::4096])\n"
            "child = ('from geoaccess.region.partition import _peak_rss_mb; import resource; '\n"
            "         'print(_peak_rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)')\n"
            "print(subprocess.run([sys.executable, '-c', child], capture_output=True, text=True, check=True).stdout)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    own, inherited = float(out[0]), float(out[1])
    assert inherited > 600  # the trap is real on this kernel
    assert 5 < own < 300    # a bare interpreter importing geoaccess.region, not the parent's 600 MB


@pytest.mark.parametrize("kw", [{"workers": 0}, {"threads": 0}, {"threads": -2}, {"workers": 1.5}, {"threads": True}])
def test_run_region_checks_workers_and_threads_at_the_door(tmp_path, kw):
    # checked before the region file is read: 0 would otherwise mean "the default" silently
    with pytest.raises(InputError, match=f"{next(iter(kw))} must be a positive whole number"):
        run_region(tmp_path / "no-such-region.toml", tmp_path / "out", **kw)
