"""OSM maxspeed values as km/h (placeholder until the zone table lands)."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

_NUMBER = re.compile(r"(\d+(?:\.\d+)?)")


def parse_maxspeed(value: Any) -> float:
    """OSM ``maxspeed`` as km/h: '50', '30 mph', '40;60' (mean), ['50', '70'] (mean); else NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    values = value if isinstance(value, (list, tuple)) else str(value).split(";")
    speeds = []
    for item in values:
        text = str(item).strip().lower()
        match = _NUMBER.match(text)
        if match:
            kmh = float(match.group(1)) * (1.609344 if "mph" in text else 1.0)
            if kmh > 0:
                speeds.append(kmh)
    return float(np.mean(speeds)) if speeds else math.nan


def maxspeed_kmh(values) -> np.ndarray:
    """Vectorised :func:`parse_maxspeed`: each distinct value parsed once."""
    arr = pd.Series(np.asarray(values, dtype=object)).map(lambda v: v if isinstance(v, str) or v is None else (None if pd.isna(v) else str(v)))
    codes, uniques = pd.factorize(arr, use_na_sentinel=True)
    parsed = np.array([parse_maxspeed(u) for u in uniques] + [np.nan], dtype=float)
    return parsed[codes]  # code -1 (missing) picks the trailing NaN
