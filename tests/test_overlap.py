"""The helper process (geoaccess.helperproc): a run that clusters its gap lists and writes
demand_times.gpkg on the second core writes the same files as the sequential run
(GEOACCESS_OVERLAP=0), and an error there surfaces as itself, in sequence, leaving the
previous output set in place."""

import math
import os
import re

import geopandas as gpd
import numpy as np
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

import geoaccess.pipeline as pipeline
from geoaccess._paths import data_path
from geoaccess.cli import main
from geoaccess.errors import InputError, check_positive
from geoaccess.gaps import target_gaps
from geoaccess.helperproc import Helper
from geoaccess.pipeline import run_scenario
from geoaccess.scenario import load_scenario

TABLES = ("summary.json", "units.csv", "facilities.csv", "gaps.csv", "gaps.geojson", "report.html")


def _failing_gaps(target, demand, facilities, by_unit):
    """target_gaps that fails for the target named in $TEST_FAIL_GAPS (module level: the helper
    process imports it by name, and sees the test's environment)."""
    if target.id == os.environ.get("TEST_FAIL_GAPS"):
        raise InputError(f"gap list of {target.id} failed (test)")
    return target_gaps(target, demand, facilities, by_unit)


@pytest.fixture
def sent(monkeypatch):
    """Names of the functions a run sent to a live helper process."""
    names = []
    real = Helper.submit

    def spy(self, fn, *args, **kwargs):
        if self.proc is not None and self.proc.poll() is None:
            names.append(fn.__name__)
        return real(self, fn, *args, **kwargs)

    monkeypatch.setattr(Helper, "submit", spy)
    return names


def _run(out, monkeypatch, overlap):
    monkeypatch.setenv("GEOACCESS_OVERLAP", overlap)
    return run_scenario(load_scenario(data_path("demo", "scenario.toml")), out, lang="en")


def test_overlapped_run_writes_the_same_files_as_the_sequential_run(tmp_path, monkeypatch, sent):
    seq = _run(tmp_path / "seq", monkeypatch, "0")
    assert sent == []  # nothing went to a helper
    par = _run(tmp_path / "par", monkeypatch, "1")
    assert sent == ["each", "write_demand_times"]  # the gap lists and demand_times.gpkg, in a live helper process
    for name in TABLES:
        assert (tmp_path / "seq" / name).read_bytes() == (tmp_path / "par" / name).read_bytes(), name
    ids = re.compile(r"_[0-9a-f]{32}")  # folium names its elements at random, on every run
    assert ids.sub("", (tmp_path / "seq" / "map.html").read_text(encoding="utf-8")) == \
        ids.sub("", (tmp_path / "par" / "map.html").read_text(encoding="utf-8"))
    a, b = (gpd.read_file(tmp_path / d / "demand_times.gpkg", layer="demand_times") for d in ("seq", "par"))
    assert_geodataframe_equal(a, b, check_less_precise=False)
    assert a.crs == "EPSG:4326" and list(a.columns) == list(b.columns)
    assert np.array_equal(shapely.get_coordinates(a.geometry.values), shapely.get_coordinates(b.geometry.values))
    assert list(seq.gaps) == list(par.gaps) and list(seq.isochrones) == list(par.isochrones)
    for tid in seq.gaps:
        assert_geodataframe_equal(seq.gaps[tid], par.gaps[tid], check_less_precise=False)
    assert seq.warnings == par.warnings
    assert list(seq.files) == list(par.files) == ["summary", "units", "facilities", "demand_times", "gaps",
                                                  "gaps_geojson", "map", "report"]
    # demand_times.gpkg against an independent reprojection of the run's demand (GeoDataFrame.to_crs)
    lonlat = seq.demand.to_crs("EPSG:4326")
    assert np.array_equal(shapely.get_coordinates(a.geometry.values), shapely.get_coordinates(lonlat.geometry.values))
    for col in [c for c in seq.demand.columns if c.endswith("_min")]:
        expect = seq.demand[col].to_numpy(float)
        assert np.array_equal(np.where(np.isinf(expect), np.nan, expect), a[col].to_numpy(float), equal_nan=True)


@pytest.mark.parametrize("overlap", ["0", "1"])
def test_an_error_of_a_gap_list_surfaces_and_leaves_the_previous_set(tmp_path, monkeypatch, sent, overlap):
    out = tmp_path / "out"
    _run(out, monkeypatch, "0")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr(pipeline, "target_gaps", _failing_gaps)
    monkeypatch.setenv("TEST_FAIL_GAPS", "ems_120")
    with pytest.raises(InputError, match=r"^gap list of ems_120 failed \(test\)$"):
        _run(out, monkeypatch, overlap)
    assert sent == (["each"] if overlap == "1" else [])  # raised in the helper process, surfaced here
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left


@pytest.mark.parametrize("overlap", ["0", "1"])
@pytest.mark.parametrize("gaps_fail, expected", [("medical_point_15min", "gap list of medical_point_15min"),
                                                 ("ems_120", "isochrones of medical_point_15min")])
def test_errors_surface_in_the_sequential_order(tmp_path, monkeypatch, overlap, gaps_fail, expected):
    """Sequentially a target's gap list came before its isochrones, then the next target's:
    the error the sequential run met first is the one raised."""
    def failing_isochrones(target, *args, **kwargs):
        raise InputError(f"isochrones of {target.id} failed (test)")

    monkeypatch.setattr(pipeline, "target_gaps", _failing_gaps)
    monkeypatch.setattr(pipeline, "target_isochrones", failing_isochrones)
    monkeypatch.setenv("TEST_FAIL_GAPS", gaps_fail)
    with pytest.raises(InputError, match=f"^{expected} failed"):
        _run(tmp_path / "out", monkeypatch, overlap)
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []


def test_helper_raises_what_the_call_raises_and_answers_in_order():
    with pytest.raises(InputError) as here:
        check_positive("speed", -1)
    with Helper() as helper:
        failing = helper.submit(check_positive, "speed", -1)
        later = helper.submit(math.hypot, 3.0, 4.0)
        bad_int = helper.submit(int, "x")
        assert later.result() == 5.0  # read before the earlier answers: each still gets its own
        with pytest.raises(InputError) as there:
            failing.result()
        assert type(there.value) is type(here.value) and str(there.value) == str(here.value)
        assert "raised in geoaccess's helper process" in there.value.__notes__[0]  # its traceback, beside the message
        with pytest.raises(ValueError, match=r"invalid literal for int\(\) with base 10: 'x'"):
            bad_int.result()
        assert helper.submit(math.hypot, 6.0, 8.0).result() == 10.0  # alive after the errors


def test_a_helper_that_died_leaves_its_calls_to_this_process():
    with Helper() as helper:
        first = helper.submit(os.getpid)
        assert first.result() != os.getpid()  # ran in the helper
        helper.proc.kill()
        helper.proc.wait()
        job = helper.submit(os.getpid)
        assert job.result() == os.getpid()  # run here instead, the same call
        assert helper.proc is None and helper.submit(math.hypot, 3.0, 4.0).result() == 5.0


def test_a_bad_overlap_setting_stops_run_and_check_naming_the_variable(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GEOACCESS_OVERLAP", "yes")
    scenario = str(data_path("demo", "scenario.toml"))
    assert main(["run", scenario, "--out", str(tmp_path / "out")]) == 2
    assert "GEOACCESS_OVERLAP='yes' must be 0" in capsys.readouterr().out
    assert main(["check", scenario, "--out", str(tmp_path / "out")]) == 2
    assert "GEOACCESS_OVERLAP='yes' must be 0" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()


def test_a_call_that_does_not_pickle_runs_in_this_process():
    with Helper() as helper:
        local = helper.submit(lambda: os.getpid())  # a lambda goes by no importable name
        assert local.result() == os.getpid()
        assert helper.submit(os.getpid).result() != os.getpid()  # the helper still serves
