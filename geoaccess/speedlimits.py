"""Speed limits as OSM and roads files write them, in km/h.

``maxspeed`` comes as numbers (``50``), numbers with units (``30 mph``, ``50 km/h``,
``50kmh``, ``10 knots``, ``60公里/小时``), lists (``40;60``, or a Python list after osmnx
merged edges: the mean of the parts, as before), keywords (``none``, ``signals``,
``variable``: no number, the road class speed applies; ``walk``: walking pace) and
national zone codes (``CN:urban``, ``DE:motorway``, ``GB:nsl_single``, ``FR:zone30``)
read from ``data/maxspeed.toml``, which names its sources. Full-width characters and
stray spaces are normalised (NFKC).

:func:`maxspeed_kmh` parses each *distinct* value once, so a network of 100k edges with
a few dozen distinct tags costs a few dozen parses; values it cannot read become NaN and
are reported in one :class:`RoadDataWarning` with their counts.
"""

from __future__ import annotations

import math
import re
import tomllib
import unicodedata
import warnings
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from ._paths import data_path

KMH_PER_UNIT = {"": 1.0, "km/h": 1.0, "kmh": 1.0, "kph": 1.0, "km/hr": 1.0, "kmph": 1.0, "km": 1.0,
                "公里/小时": 1.0, "千米/小时": 1.0, "公里": 1.0,
                "mph": 1.609344, "knots": 1.852, "knot": 1.852, "kn": 1.852, "kt": 1.852}
_VALUE = re.compile(r"^(\d+(?:\.\d+)?)\s*(" + "|".join(re.escape(u) for u in sorted(KMH_PER_UNIT, key=len, reverse=True)
                                                        if u) + r")?$")
_ZONE = re.compile(r"^([a-z]{2}(?:-[a-z0-9]+)?):(.+)$")
_ZONE_NUMBER = re.compile(r"^zone:?(\d+(?:\.\d+)?)$")


class RoadDataWarning(UserWarning):
    """A road-file or OSM value geoaccess read with a documented fallback (class speed,
    default class); the run goes on and the pipeline lists the warning in its summary."""


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, float], dict[str, float]]:
    """Keywords and zone codes from data/maxspeed.toml; "none" becomes NaN (class speed)."""
    with open(data_path("maxspeed.toml"), "rb") as fh:
        raw = tomllib.load(fh)

    def kmh(value: Any) -> float:
        return math.nan if value == "none" else float(value)

    keywords = {_norm(k): kmh(v) for k, v in raw["keywords"].items()}
    zones = {_norm(k): kmh(v) for k, v in raw["zones"].items()}
    return keywords, zones


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split()).lower()


def _parse_part(text: str) -> tuple[float, bool]:
    """One maxspeed item as (km/h, understood); NaN with True means "no number, use the class"."""
    keywords, zones = _tables()
    if text == "":
        return math.nan, True
    match = _VALUE.match(text)
    if match:
        kmh = float(match.group(1)) * KMH_PER_UNIT[match.group(2) or ""]
        return (kmh, True) if kmh > 0 else (math.nan, False)
    if text in keywords:
        return keywords[text], True
    zone = _ZONE.match(text)
    if zone:
        if text in zones:
            return zones[text], True
        number = _ZONE_NUMBER.match(zone.group(2))
        if number:
            return float(number.group(1)), True
    return math.nan, False


def _parse(value: Any) -> tuple[float, bool]:
    """A maxspeed value (text, number or list) as (km/h, understood); lists give the mean."""
    if not isinstance(value, (list, tuple)) and pd.isna(value):
        return math.nan, True
    if isinstance(value, (bool, np.bool_)):
        return math.nan, False
    if isinstance(value, (int, float, np.integer, np.floating)):
        return (float(value), True) if value > 0 else (math.nan, False)
    items = value if isinstance(value, (list, tuple)) else _norm(str(value)).split(";")
    parsed = [_parse_part(_norm(item)) if isinstance(item, str) else _parse(item) for item in items]
    speeds = [kmh for kmh, _ in parsed if math.isfinite(kmh)]
    understood = all(ok for _, ok in parsed)
    return (float(np.mean(speeds)) if speeds else math.nan), understood


def parse_maxspeed(value: Any) -> float:
    """One OSM ``maxspeed`` value in km/h.

    Parameters
    ----------
    value
        Text (``"50"``, ``"30 mph"``, ``"40;60"``, ``"CN:urban"``, ``"walk"``), a number
        (km/h), a list of those (the mean of the parts), or None/NaN.

    Returns
    -------
    float
        Speed limit in km/h; NaN when there is no number to use (``none``, ``signals``,
        ``variable``, a zone without a general limit, an unknown code, missing). Never
        raises; :func:`maxspeed_kmh` also reports values it could not read.
    """
    return _parse(value)[0]


def maxspeed_kmh(values: Iterable[Any], *, source: str = "maxspeed") -> np.ndarray:
    """Speed limits in km/h for many ``maxspeed`` values, parsing each distinct value once.

    Parameters
    ----------
    values
        Array-like of maxspeed values as :func:`parse_maxspeed` accepts them.
    source
        Names the values in the warning (e.g. ``"roads.shp column 限速"``).

    Returns
    -------
    numpy.ndarray
        float km/h per value, NaN where there is no usable number (see
        :func:`parse_maxspeed`).

    Warns
    -----
    RoadDataWarning
        When some values could not be read (unknown zone codes, text, zero or negative
        numbers): each such value with its count; those edges get their class speed.
    """
    series = pd.Series(list(values) if not isinstance(values, (pd.Series, np.ndarray)) else values, dtype=object)
    try:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    except TypeError:  # lists (osmnx-merged edges) are unhashable: key them by their text
        series = series.map(lambda v: ";".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    parsed = [_parse(u) for u in uniques]
    table = np.array([kmh for kmh, _ in parsed] + [math.nan], dtype=float)  # last slot: missing (code -1)
    out = table[codes]
    bad = np.flatnonzero([not ok for _, ok in parsed])
    if len(bad):
        counts = np.bincount(codes[codes >= 0], minlength=len(uniques))[bad]
        order = np.argsort(-counts, kind="stable")
        listed = ", ".join(f"{uniques[bad[i]]!r} ({counts[i]:,})" for i in order[:20])
        more = f" and {len(bad) - 20} more" if len(bad) > 20 else ""
        warnings.warn(f"{source}: {counts.sum():,} value(s) are not a speed limit geoaccess can read: {listed}{more}. "
                      "Those roads use their class speed (data/speeds.toml). Write limits as numbers in km/h "
                      "(or with a unit: '30 mph'), or a zone code listed in data/maxspeed.toml.",
                      RoadDataWarning, stacklevel=2)
    return out
