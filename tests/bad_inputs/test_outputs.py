"""Output folders, output sets, safe names, CSV formula cells and ``geoaccess check``.

Every CLI case asserts the exit code, that the message names the path or key and the
fix, and that no partial or mixed output is left behind.
"""

from __future__ import annotations

import csv
import re
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from shapely.geometry import box

from geoaccess._paths import data_path
from geoaccess.cli import main
from geoaccess.errors import InputError
from geoaccess.io import csv_safe
from geoaccess.outputset import MANIFEST, OutputSet, check_output_dir, clean_leftovers, safe_folder_name

ROOT = Path(__file__).resolve().parents[2]
DEMO = Path(data_path("demo", "scenario.toml")).parent


def scenario_toml(folder: Path, name: str = "demo", facilities: Path | None = None, admin: Path | None = None,
                  extra: str = "") -> Path:
    """A copy of the demo scenario in ``folder`` (data by absolute path), with a chosen name."""
    text = (f"[scenario]\nname = {json.dumps(name)}\n\n[network]\nsource = {json.dumps(str(DEMO / 'monaco.osm.pbf'))}\n\n"
            f"[facilities]\npath = {json.dumps(str(facilities or DEMO / 'facilities.csv'))}\n"
            'x = "lon"\ny = "lat"\ntype = "type"\nname = "name"\nid = "facility_id"\n\n'
            f"[population]\npath = {json.dumps(str(DEMO / 'population.tif'))}\n\n")
    if admin is not None:
        text += f'[admin]\npath = {json.dumps(str(admin))}\nname = "name"\n\n'
    text += ('[targets]\nuse = ["medical_point_15min", "ems_120"]\n\n[targets.override.medical_point_15min]\n'
             'mode_rural = "walk"\n\n[targets.override.ems_120]\nfacility_types = ["hospital"]\n'
             "facility_where = { emergency = true }\n" + extra)
    path = folder / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


def townships(path: Path, names: list[str]) -> Path:
    """Vertical strips over Monaco's population raster, one per name (a GeoPackage)."""
    with rasterio.open(DEMO / "population.tif") as src:
        b = gpd.GeoSeries([box(*src.bounds)], crs=src.crs).to_crs("EPSG:4326").total_bounds
    edges = np.linspace(b[0] - 0.01, b[2] + 0.01, len(names) + 1)
    gpd.GeoDataFrame({"name": names}, geometry=[box(edges[i], b[1] - 0.01, edges[i + 1], b[3] + 0.01)
                                                for i in range(len(names))], crs="EPSG:4326").to_file(path)
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: sha(p) for p in sorted(folder.iterdir()) if p.is_file()}


def assert_complete_set(folder: Path) -> None:
    """The folder holds exactly the files its manifest lists, with their recorded sizes and digests."""
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    files = {k: v for k, v in manifest["files"].items() if isinstance(v, dict)}
    assert {p.name for p in folder.iterdir()} == set(files) | {MANIFEST}
    for name, entry in files.items():
        assert (folder / name).stat().st_size == entry["bytes"] and sha(folder / name) == entry["sha256"], name


def no_leftovers(folder: Path) -> bool:
    return not [p for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}.")]


def test_out_inside_a_regular_file_fails_before_computing(tmp_path, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("mine")
    started = time.perf_counter()
    assert main(["demo", "--out", str(blocker / "out")]) == 2
    text = capsys.readouterr().out
    assert str(blocker) in text and "is a file, not a folder" in text and "choose another --out" in text
    assert "loading road network" not in text and time.perf_counter() - started < 5  # nothing was computed
    assert blocker.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "out"
    target.write_text("not a folder")
    assert main(["demo", "--out", str(target)]) == 2
    text = capsys.readouterr().out
    assert str(target) in text and "not a folder" in text and "remove that file" in text
    assert target.read_text() == "not a folder" and no_leftovers(target)


def test_out_on_a_system_folder_root_cannot_write(capsys):
    # /sys refuses new folders even to root (tests run as root, which ignores permission bits)
    assert main(["demo", "--out", "/sys/geoaccess-out"]) == 2
    text = capsys.readouterr().out
    assert "/sys/geoaccess-out" in text and "choose another --out folder" in text
    assert not Path("/sys/geoaccess-out").exists()


def test_checker_not_writable_parent(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(InputError, match="not writable") as err:
        check_output_dir(tmp_path / "a" / "out")
    assert str(tmp_path) in str(err.value) and "choose another --out" in str(err.value)
    assert not (tmp_path / "a").exists()


def test_checker_read_only_mount(tmp_path, monkeypatch):
    real = os.statvfs

    class ReadOnly:
        def __init__(self, st):
            self.st = st

        def __getattr__(self, name):
            return os.ST_RDONLY if name == "f_flag" else getattr(self.st, name)

    monkeypatch.setattr(os, "statvfs", lambda p: ReadOnly(real(p)))
    with pytest.raises(InputError, match="read-only file system") as err:
        check_output_dir(tmp_path / "out")
    assert str(tmp_path / "out") in str(err.value) and "choose another --out" in str(err.value)


def test_folder_with_foreign_files_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "my-notes.docx").write_bytes(b"planner's notes")
    (out / "summary.json").write_text("{}")
    assert main(["demo", "--out", str(out)]) == 2
    text = capsys.readouterr().out
    assert "my-notes.docx" in text and "did not write" in text and "move those files away" in text
    assert snapshot(out) == {"my-notes.docx": sha(out / "my-notes.docx"), "summary.json": sha(out / "summary.json")}
    assert no_leftovers(out)


def test_empty_existing_folder_is_used_and_gets_a_complete_set(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    assert main(["demo", "--out", str(out)]) == 0
    assert_complete_set(out)
    assert {"summary.json", "units.csv", "map.html", "report.html", "gaps.csv"} <= {p.name for p in out.iterdir()}
    assert no_leftovers(out)


@pytest.fixture(scope="module")
def demo_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("set") / "demo"
    assert main(["demo", "--out", str(out), "--lang", "en"]) == 0
    return out


def test_rerun_drops_stale_files_of_an_earlier_run(demo_set, tmp_path):
    out = tmp_path / "demo"
    out.mkdir()
    for p in demo_set.iterdir():
        (out / p.name).write_bytes(p.read_bytes())
    (out / "sites.csv").write_text("target,site_id\nold,S1\n")  # a sites.csv the new run does not write
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    manifest["files"]["sites.csv"] = {"bytes": 0, "sha256": ""}
    (out / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    assert main(["demo", "--out", str(out), "--lang", "en"]) == 0
    assert not (out / "sites.csv").exists()
    assert_complete_set(out)
    assert no_leftovers(out)


def test_leftovers_of_a_killed_run_are_cleaned(demo_set, tmp_path):
    out = tmp_path / "demo"
    dead = 2 ** 22 + 12345  # above the default pid_max: no such process
    for kind in ("tmp", "old"):
        (tmp_path / f".demo.{kind}-{dead}").mkdir()
        (tmp_path / f".demo.{kind}-{dead}" / "map.html").write_text("half")
    assert main(["demo", "--out", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]
    assert_complete_set(out)


def test_old_set_is_restored_when_a_run_died_between_its_renames(demo_set, tmp_path):
    out = tmp_path / "demo"
    old = tmp_path / f".demo.old-{2 ** 22 + 7}"
    old.mkdir()
    for p in demo_set.iterdir():
        (old / p.name).write_bytes(p.read_bytes())
    notes = clean_leftovers(out)
    assert snapshot(out) == snapshot(demo_set) and not old.exists()
    assert len(notes) == 1 and "restored" in notes[0] and str(out) in notes[0]


def test_failed_swap_restores_the_old_set(demo_set, tmp_path, monkeypatch):
    out = tmp_path / "demo"
    out.mkdir()
    for p in demo_set.iterdir():
        (out / p.name).write_bytes(p.read_bytes())
    before = snapshot(out)
    real = os.rename

    def rename(src, dst):
        if ".tmp-" in str(src):
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with OutputSet(out) as staged:
        (staged.dir / "summary.json").write_text("{}")
        with pytest.raises(OSError, match="No space"):
            staged.commit("demo")
    assert snapshot(out) == before and no_leftovers(out)


def test_error_while_writing_leaves_the_old_set(demo_set, tmp_path, monkeypatch, capsys):
    import geoaccess.maps

    out = tmp_path / "demo"
    out.mkdir()
    for p in demo_set.iterdir():
        (out / p.name).write_bytes(p.read_bytes())
    before = snapshot(out)

    def broken(*args, **kwargs):
        raise InputError("map failed on purpose: fix the test")

    monkeypatch.setattr(geoaccess.maps, "write_map", broken)
    assert main(["demo", "--out", str(out)]) == 2
    assert "map failed on purpose" in capsys.readouterr().out
    assert snapshot(out) == before and no_leftovers(out)


def test_kill_9_while_writing_leaves_old_or_new_set(demo_set, tmp_path):
    """Run the demo in a subprocess and SIGKILL it at random moments while it writes."""
    out = tmp_path / "demo"
    old = snapshot(demo_set)
    rng = random.Random(0)
    kills, deadline = 0, time.time() + 60
    cmd = [sys.executable, "-m", "geoaccess.cli", "demo", "--out", str(out), "--lang", "en"]
    while kills < 8 and time.time() < deadline:
        out.mkdir(exist_ok=True)
        if not any(out.iterdir()):
            for p in demo_set.iterdir():
                (out / p.name).write_bytes(p.read_bytes())
        before = snapshot(out)
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        staging = tmp_path / f".demo.tmp-{proc.pid}"
        while proc.poll() is None and not staging.exists():
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.25))  # somewhere inside the writing
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        if out.exists():
            state = snapshot(out)
            if state != before:
                assert_complete_set(out)  # the new set, whole
        # the next run cleans up (and restores the old set if the kill fell between the renames)
        clean_leftovers(out)
        assert no_leftovers(out)
        assert out.exists()
        if snapshot(out) != before:
            assert_complete_set(out)
    assert kills >= 3
    assert subprocess.run(cmd, cwd=ROOT, capture_output=True).returncode == 0
    assert_complete_set(out) and no_leftovers(out)
    assert set(snapshot(out)) == set(old)


NASTY = ["../../x", "..", "a/b\\c", "县\x00名\n", "CON", "nul.txt", "<>:\"|?*", "  .hidden. ", "", "泗县 2024"]


@pytest.mark.parametrize("name", NASTY)
def test_safe_folder_name_stays_one_component(name, tmp_path):
    safe = safe_folder_name(name)
    assert safe and safe not in (".", "..") and not safe.startswith(".") and not safe.endswith((" ", "."))
    assert not any(ch in safe for ch in '/\\<>:"|?*') and all(ord(ch) >= 32 for ch in safe)
    assert safe.split(".")[0].upper() not in ("CON", "NUL", "PRN", "AUX", "COM1", "LPT1")
    assert (tmp_path / safe).resolve().parent == tmp_path.resolve()
    if name == "泗县 2024":
        assert safe == name  # Chinese names are kept


def test_scenario_named_dot_dot_writes_inside_maps(tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["run", str(scenario_toml(tmp_path, "../../x"))]) == 0
    text = capsys.readouterr().out
    out = work / "maps" / "_.._x"
    assert "not a safe folder name" in text and "maps/_.._x" in text and "maps/_.._x/map.html" in text
    assert_complete_set(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenario.toml", "work"]
    assert sorted(p.name for p in work.iterdir()) == ["maps"] and [p.name for p in (work / "maps").iterdir()] == ["_.._x"]


def test_csv_safe_prefixes_text_not_numbers():
    df = pd.DataFrame({"name": ["=1+1", "+1-2", "-x", "@SUM(A1)", "\tx", "ok", None], "v": [-3.5, 1, 2, 3, 4, 5, 6]})
    out = csv_safe(df)
    assert out["name"].tolist()[:6] == ["'=1+1", "'+1-2", "'-x", "'@SUM(A1)", "'\tx", "ok"]
    assert pd.isna(out["name"].iloc[6]) and out["v"].tolist() == df["v"].tolist() and df["name"].iloc[0] == "=1+1"


HYPERLINK = '=HYPERLINK("http://x","y")'


def test_every_csv_neutralises_formula_cells(demo_set, tmp_path):
    fac = pd.read_csv(DEMO / "facilities.csv")
    fac.loc[0, "name"] = "+1-2"
    fac["facility_id"] = "-" + fac["facility_id"].astype(str)  # gaps.csv names the nearest facility by id
    fac.to_csv(tmp_path / "facilities.csv", index=False)
    admin = townships(tmp_path / "townships.gpkg", [HYPERLINK, "@郊区"])
    scenario = scenario_toml(tmp_path, "csv", facilities=tmp_path / "facilities.csv", admin=admin)
    gap = pd.read_csv(demo_set / "gaps.csv").iloc[0]  # a candidate where people lack a medical point
    pd.DataFrame({"id": ["S1"], "name": ["+1-2"], "lon": [gap["lon"]], "lat": [gap["lat"]]}).to_csv(
        tmp_path / "cands.csv", index=False)
    out = tmp_path / "out"
    assert main(["site", str(scenario), "--target", "medical_point_15min", "--add", "1",
                 "--candidates", str(tmp_path / "cands.csv"), "--out", str(out)]) == 0
    assert_complete_set(out)

    def cells(name):
        with open(out / name, encoding="utf-8-sig", newline="") as fh:
            return list(csv.DictReader(fh))

    units = cells("units.csv")
    assert {r["name"] for r in units} >= {"'" + HYPERLINK, "'@郊区"}
    assert all(float(r["population_total"]) >= 0 for r in units)  # numbers stay numbers
    sites = cells("sites.csv")
    assert [r["name"] for r in sites] == ["'+1-2"] and float(sites[0]["lon"]) > 7
    gaps = cells("gaps.csv")
    assert gaps and all(r["nearest_facility"].startswith("'-") for r in gaps if r["nearest_facility"])
    assert all(not r["admin"].startswith(("=", "+", "-", "@")) for r in gaps)
    assert any(r["admin"].startswith("'") for r in gaps)
    for row in units + sites + gaps:
        for value in row.values():
            assert not value.startswith(("=", "+", "@", "\t", "\r")) and not (
                value.startswith("-") and not _is_number(value)), value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_site_then_run_keeps_the_set_consistent(tmp_path):
    scenario = scenario_toml(tmp_path, "sited")
    out = tmp_path / "out"
    assert main(["site", str(scenario), "--target", "medical_point_15min", "--add", "1", "--out", str(out)]) == 0
    assert_complete_set(out)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert "medical_point_15min" in summary["siting"] and (out / "sites.csv").exists()
    assert main(["run", str(scenario), "--out", str(out)]) == 0
    assert_complete_set(out)
    assert not (out / "sites.csv").exists()
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["siting"] == {}


def test_check_demo_prints_the_inputs_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "never"
    started = time.perf_counter()
    assert main(["check", str(DEMO / "scenario.toml"), "--out", str(out)]) == 0
    assert time.perf_counter() - started < 30
    text = capsys.readouterr().out
    with open(DEMO / "facilities.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    with rasterio.open(DEMO / "population.tif") as src:
        band = src.read(1, masked=True)
        people = float(band.filled(0).sum())
    assert len(rows) == 20 and round(people) == 38_000
    assert f"facilities: {len(rows)} (" in text and f"{people:,.0f} people" in text
    kinds = pd.Series([r["kind"] for r in rows]).value_counts()
    for kind, n in kinds.items():
        assert f"{kind} {n}" in text
    assert re.search(r"road network: [\d,]+ nodes, [\d,]+ road segments", text)
    assert "km per highway class: footway" in text and "EPSG:32632" in text
    assert "inputs OK" in text and not out.exists() and sorted(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["check", "run"])  # run refuses the same bad input before writing
def test_check_and_run_refuse_a_bad_facilities_path_with_exit_2(tmp_path, capsys, command):
    scenario = scenario_toml(tmp_path, "bad", facilities=tmp_path / "missing.csv")
    assert main([command, str(scenario), "--out", str(tmp_path / "o")]) == 2
    text = capsys.readouterr().out
    assert "missing.csv" in text and "check the path" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenario.toml"]


def test_check_refuses_an_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["check", str(DEMO / "scenario.toml"), "--out", str(blocker / "out")]) == 2
    text = capsys.readouterr().out
    assert str(blocker) in text and "choose another --out" in text and blocker.read_text() == "x"
