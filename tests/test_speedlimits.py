"""maxspeed values as OSM and roads files write them: numbers, units, lists, keywords and
national zone codes (data/maxspeed.toml), scalar and vectorised."""

import math
import tomllib
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geoaccess import speedlimits
from geoaccess._paths import data_path
from geoaccess.network import parse_maxspeed as network_parse_maxspeed
from geoaccess.speedlimits import RoadDataWarning, maxspeed_kmh, parse_maxspeed

MPH = 1.609344  # km per international mile (exact by definition)
KNOT = 1.852  # km per nautical mile (exact by definition)


@pytest.mark.parametrize("value, kmh", [("50", 50.0), (" 50 ", 50.0), ("12.5", 12.5), (50, 50.0), (50.0, 50.0),
                                        (np.int64(80), 80.0), ("５０", 50.0)])
def test_plain_numbers_are_kmh(value, kmh):
    assert parse_maxspeed(value) == kmh


@pytest.mark.parametrize("value, kmh", [
    ("30 mph", 30 * MPH), ("30mph", 30 * MPH), ("30 MPH", 30 * MPH), ("50 km/h", 50.0), ("50kmh", 50.0),
    ("50 kph", 50.0), ("10 knots", 10 * KNOT), ("60公里/小时", 60.0), ("６０ｋｍ／ｈ", 60.0)])
def test_numbers_with_units(value, kmh):
    assert parse_maxspeed(value) == pytest.approx(kmh, rel=1e-12)


def test_lists_give_the_mean_of_their_numbers():
    assert parse_maxspeed("40;60") == 50
    assert parse_maxspeed(["50", "70"]) == 60
    assert parse_maxspeed("30 mph;50") == pytest.approx((30 * MPH + 50) / 2)
    assert parse_maxspeed("50;none") == 50  # "none" has no number: the posted part counts


def test_keywords():
    for word in ("none", "signals", "variable", "NONE"):
        assert math.isnan(parse_maxspeed(word))
    assert parse_maxspeed("walk") == 5.0  # walking pace = walk speed of data/speeds.toml
    with open(data_path("speeds.toml"), "rb") as fh:
        assert tomllib.load(fh)["walk"]["access_kmh"] == parse_maxspeed("walk")
    assert math.isnan(parse_maxspeed(None)) and math.isnan(parse_maxspeed(float("nan")))


@pytest.mark.parametrize("code, kmh", [
    # 道路交通安全法实施条例 第四十五条 (50 urban / 70 highway, one lane each way), 第七十八条 (120)
    ("CN:urban", 50.0), ("CN:rural", 70.0), ("CN:motorway", 120.0), ("cn:urban", 50.0),
    ("DE:urban", 50.0), ("DE:rural", 100.0), ("FR:urban", 50.0), ("FR:rural", 80.0), ("RU:urban", 60.0),
    ("GB:nsl_single", 60 * MPH), ("GB:nsl_dual", 70 * MPH), ("GB:motorway", 70 * MPH),
    ("FR:zone30", 30.0), ("DE:zone:30", 30.0)])
def test_national_zone_codes(code, kmh):
    assert parse_maxspeed(code) == pytest.approx(kmh)


def test_zone_without_a_limit_uses_the_class_speed():
    # German motorways have no general limit: NaN (class speed), and no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(maxspeed_kmh(["DE:motorway"])).all()


def test_every_zone_in_the_table_parses():
    with open(data_path("maxspeed.toml"), "rb") as fh:
        zones = tomllib.load(fh)["zones"]
    for code, value in zones.items():
        got = parse_maxspeed(code)
        assert (math.isnan(got) if value == "none" else got == pytest.approx(value)), code
        assert 5 <= value <= 140 if value != "none" else True


def test_unknown_codes_and_bad_values_are_nan_and_counted_in_a_warning():
    values = ["XX:urban", "50", "XX:urban", "fast", "0", None, "XX:urban"]
    with pytest.warns(RoadDataWarning) as record:
        out = maxspeed_kmh(values, source="roads.shp column 限速")
    assert np.isnan(out[[0, 2, 3, 4, 5, 6]]).all() and out[1] == 50
    message = str(record[0].message)
    assert "roads.shp column 限速" in message and "5 value(s)" in message
    assert "'XX:urban' (3)" in message and "'fast' (1)" in message and "'0' (1)" in message
    assert math.isnan(parse_maxspeed("XX:urban"))  # scalar: NaN, quietly


def test_vectorised_equals_scalar_on_mixed_values():
    values = ["50", "30 mph", None, "40;60", ["50", "70"], 80.0, "CN:rural", "DE:motorway", "walk", "signals",
              np.nan, "50", ["50", "70"], "GB:nsl_dual"]
    out = maxspeed_kmh(values)
    expected = np.array([parse_maxspeed(v) for v in values])
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_allclose(out[~np.isnan(out)], expected[~np.isnan(expected)])
    # network.parse_maxspeed keeps its signature and delegates here
    assert [network_parse_maxspeed(v) for v in ("50", "CN:urban")] == [50.0, 50.0]


def test_each_distinct_value_is_parsed_once(monkeypatch):
    calls = []
    original = speedlimits._parse
    monkeypatch.setattr(speedlimits, "_parse", lambda v: calls.append(v) or original(v))
    values = np.array(["50", "60", "CN:urban"] * 30_000 + [None] * 10, dtype=object)
    out = maxspeed_kmh(values)
    assert len(calls) == 3
    assert out[:3].tolist() == [50, 60, 50] and np.isnan(out[-10:]).all()


UNITS = {"": 1.0, " km/h": 1.0, "km/h": 1.0, " kmh": 1.0, " kph": 1.0, " mph": MPH, "mph": MPH, " knots": KNOT}


@settings(max_examples=200, deadline=None)
@given(number=st.decimals(min_value="0.1", max_value="300", places=2), unit=st.sampled_from(sorted(UNITS)))
def test_any_number_with_a_unit_round_trips(number, unit):
    assert parse_maxspeed(f"{number}{unit}") == pytest.approx(float(number) * UNITS[unit], rel=1e-12)
