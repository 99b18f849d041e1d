"""Road classes, one-way and speed-limit columns of local roads files.

A roads file from a 交通局 or a GIS department names its class column its own way
(``等级``, ``技术等级``, ``LEVEL``) and fills it with its own vocabulary: Chinese
administrative grades (国道/省道/县道/乡道/村道/专用公路, or their letters G/S/X/Y/C/Z),
technical grades (高速公路/一级公路/…/等外公路, or 一级/二级/…), English names or OSM
``highway`` values. ``data/road_classes.toml`` maps each to the OSM class whose speeds
``data/speeds.toml`` gives, and documents why; a scenario adds its own values under
``[network.classes]``. :func:`road_attributes` turns the columns of a roads layer into
the class, one-way flags and speed limit of every line, vectorised over distinct values,
and reports every value it could not map in one :class:`RoadDataWarning`.

One-way values (after NFKC normalisation, trimming and lower-casing):

===========================================  ======================================
value                                        meaning
===========================================  ======================================
yes, true, 1, t, y, 是, 单向, 正向              open in the digitised direction only
-1, reverse, 反向                              open against the digitised direction only
no, false, 0, f, n, 否, 双向, empty            open both ways
anything else                                 open both ways, listed in a warning
===========================================  ======================================
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
import warnings
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from ._paths import data_path
from .errors import InputError, counted
from .osmtags import NOT_ROADS
from .speedlimits import RoadDataWarning, maxspeed_kmh

ONEWAY_FORWARD = ("yes", "true", "1", "t", "y", "是", "单向", "正向")
ONEWAY_BACKWARD = ("-1", "reverse", "反向")
ONEWAY_BOTH = ("no", "false", "0", "f", "n", "否", "双向", "")
DESIGN_SPEED_CHOICES = ("none", "lowest", "highest")
_LINKABLE = ("motorway", "trunk", "primary", "secondary", "tertiary")


def normalise(values: pd.Series) -> pd.Series:
    """Values as lookup keys: NFKC (full-width → half-width), whitespace collapsed (and
    dropped next to Chinese characters), lower case, whole numbers without ``.0``; missing values become ``""``.

    Each distinct value is normalised once.
    """
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    keys = np.array([_key(u) for u in uniques] + [""], dtype=object)  # last slot: missing (code -1)
    return pd.Series(keys[codes], index=values.index)


def _key(value: Any) -> str:
    text = " ".join(unicodedata.normalize("NFKC", str(value)).split()).lower()
    return _WHOLE.sub(r"\1", _CJK_SPACE.sub("", text))


_WHOLE = re.compile(r"^(-?\d+)\.0+$")
_CJK_SPACE = re.compile(r"(?<=[\u3400-\u9fff]) | (?=[\u3400-\u9fff])")  # "县 道" is 县道


@lru_cache(maxsize=1)
def _vocabulary() -> tuple[dict[str, str], dict[str, tuple[float, ...]]]:
    """Built-in value → class and value → design speeds (km/h), keys normalised."""
    with open(data_path("road_classes.toml"), "rb") as fh:
        raw = tomllib.load(fh)
    classes: dict[str, str] = {}
    design: dict[str, tuple[float, ...]] = {}
    for kind in ("technical", "administrative"):
        for grade, spec in raw[kind].items():
            for name in [grade, *spec.get("aliases", [])]:
                classes[_key(name)] = spec["class"]
                if spec.get("design_kmh"):
                    design[_key(name)] = tuple(float(v) for v in spec["design_kmh"])
    return classes, design


def builtin_classes() -> dict[str, str]:
    """The built-in vocabulary: normalised value (国道, 一级公路, g, county road…) → OSM class."""
    return dict(_vocabulary()[0])


def design_speeds() -> dict[str, tuple[float, ...]]:
    """Design speeds (km/h, JTG B01-2014) of each technical grade and its aliases, keys normalised."""
    return dict(_vocabulary()[1])


def known_classes(speed_overrides: dict[str, Any] | None = None) -> list[str]:
    """OSM ``highway`` classes the engine has a speed for in some mode.

    Parameters
    ----------
    speed_overrides
        A scenario's ``[network.speeds]`` table; classes it adds count as known.

    Returns
    -------
    list of str
        Sorted class names, including ``<class>_link`` for the classes that have links.
    """
    with open(data_path("speeds.toml"), "rb") as fh:
        table = tomllib.load(fh)
    names: set[str] = set()
    for source in (table, speed_overrides or {}):
        for mode in source.values():
            if isinstance(mode, dict) and isinstance(mode.get("kmh"), dict):
                names.update(mode["kmh"])
    names.update(f"{c}_link" for c in _LINKABLE if c in names)
    return sorted(names)


def check_classes(classes: dict[str, Any], speed_overrides: dict[str, Any] | None = None,
                  where: str = "[network.classes]") -> dict[str, str]:
    """Check a user mapping of roads-file values to OSM classes.

    Parameters
    ----------
    classes
        Value as written in the file → OSM class (``{"乡村道路": "unclassified"}``).
    speed_overrides
        The scenario's ``[network.speeds]``, whose classes are allowed too.
    where
        Names the table in messages.

    Returns
    -------
    dict
        Normalised value → class.

    Raises
    ------
    InputError
        A class that is not text, has no speed in any mode and is not one of OSM's words
        for what is not a road, naming the key and the allowed classes.

    Notes
    -----
    A value may map to OSM's words for what is not a road (``construction``,
    ``proposed``, … :data:`geoaccess.osmtags.NOT_ROADS`), e.g. ``"在建" = "construction"``:
    its lines are then dropped as not built, as such OSM ways are, and counted in the
    network report (``geoaccess check``: "not built or not for traffic", ways and km).
    """
    allowed = known_classes(speed_overrides)
    out: dict[str, str] = {}
    for value, cls in classes.items():
        if not isinstance(cls, str) or (cls not in allowed and cls not in NOT_ROADS):
            raise InputError(f"{where} maps {value!r} to {cls!r}, which is not a road class with a speed; "
                             f"use one of: {', '.join(allowed)} (or give that class a speed under "
                             "[network.speeds.<mode>.kmh]); or, for lines that are not roads in use, one of "
                             f"{', '.join(sorted(NOT_ROADS))} (dropped as not built)")
        out[_key(str(value))] = cls
    return out


#: Words of a class value that say the line is no road in use (normalised, matched anywhere in
#: the value: "县道(在建)"), with the OSM class that :func:`check_classes` accepts and the
#: network drops as not built. Checked in this order: "规划在建" is under construction.
_NOT_BUILT = {"在建": "construction", "施工": "construction", "建设中": "construction", "修建中": "construction",
              "under construction": "construction", "规划": "proposed", "拟建": "proposed", "待建": "proposed",
              "未建": "proposed", "计划": "proposed", "预留": "proposed", "planned": "proposed",
              "废弃": "abandoned", "abandoned": "abandoned", "停用": "disused", "封闭": "disused",
              "关闭": "disused", "禁行": "disused", "closed": "disused", "disused": "disused"}


def not_built_class(value: Any) -> str | None:
    """The class to map a roads-file value to when its words say the line is not built,
    planned or closed (``"在建"`` → ``"construction"``, ``"规划道路"`` → ``"proposed"``,
    ``"废弃"`` → ``"abandoned"``), else None. Used to advise, never to map by itself."""
    key = _key(value)
    return next((cls for word, cls in _NOT_BUILT.items() if word in key), None)


def find_column(frame: pd.DataFrame, name: str) -> str | None:
    """The column called ``name``, else the one equal to it after NFKC, trimming and case folding."""
    if name in frame.columns:
        return name
    matches = [c for c in frame.columns if isinstance(c, str) and _key(c) == _key(name)]
    return matches[0] if len(matches) == 1 else None


def road_attributes(lines: pd.DataFrame, length_m: np.ndarray, *, class_column: str | None = None,
                    oneway_column: str | None = None, maxspeed_column: str | None = None,
                    classes: dict[str, str] | None = None, design_speed: str = "none",
                    default_highway: str = "unclassified", name: str = "the roads file") -> pd.DataFrame:
    """Class, one-way flags and speed limit of every line of a roads layer.

    Parameters
    ----------
    lines
        The roads layer's attribute table (one row per line).
    length_m
        Length of each line in metres (for the km in warnings).
    class_column, oneway_column, maxspeed_column
        Column names; None means ``highway``/``oneway``/``maxspeed`` if present. A name
        given but absent raises.
    classes
        Extra value → OSM class mapping (checked with :func:`check_classes`); it wins over
        the built-in vocabulary.
    design_speed
        ``"none"`` (default), ``"lowest"`` or ``"highest"``: use the JTG B01-2014 design
        speed of a technical grade as the speed limit (km/h) of rows without a maxspeed.
    default_highway
        Class of lines whose value is not mapped, or of every line without a class column.
    name
        Names the file in messages.

    Returns
    -------
    pandas.DataFrame
        Per line: ``highway`` (str), ``forward_only`` and ``backward_only`` (bool) and
        ``maxspeed_kmh`` (float km/h, NaN where none).

    Raises
    ------
    InputError
        A named column missing from the file, or a bad ``design_speed``.

    Warns
    -----
    RoadDataWarning
        Class values not mapped (each with its count and km), no class column, one-way
        values not understood, speed limits not understood.
    """
    if design_speed not in DESIGN_SPEED_CHOICES:
        raise InputError(f"[network] design_speed must be one of {', '.join(DESIGN_SPEED_CHOICES)}; got {design_speed!r}")
    n = len(lines)
    km = np.asarray(length_m, dtype=float) / 1000.0
    cls_col = _column(lines, class_column, "highway", "class", name)
    one_col = _column(lines, oneway_column, "oneway", "oneway", name)
    max_col = _column(lines, maxspeed_column, "maxspeed", "maxspeed", name)
    mapping = {**builtin_classes(), **{c: c for c in known_classes()}, **(classes or {})}

    if cls_col is None:
        highway = np.full(n, default_highway, dtype=object)
        keys = pd.Series(np.full(n, ""), index=lines.index)
        warnings.warn(_no_class_message(lines, mapping, default_highway, name), RoadDataWarning, stacklevel=2)
    else:
        keys = normalise(lines[cls_col])
        mapped = keys.map(mapping)
        missing = mapped.isna().to_numpy()
        if missing.any():
            raw = lines[cls_col].astype(object).where(lines[cls_col].notna(), "(empty)").astype(str)
            stats = (pd.DataFrame({"value": raw.to_numpy()[missing], "km": km[missing]})
                     .groupby("value", sort=False)["km"].agg(["size", "sum"]).sort_values("sum", ascending=False))
            listed = "; ".join(f"{v!r}: {counted(int(r['size']), 'road')}, {r['sum']:,.1f} km"
                               for v, r in stats.head(30).iterrows())
            more = f"; and {len(stats) - 30} more values" if len(stats) > 30 else ""
            unbuilt = {v: c for v in stats.index if (c := not_built_class(v))}
            example = next((v for v in stats.index if v != "(empty)" and v not in unbuilt), None)
            advice = []
            if example or not unbuilt:
                advice.append(f"Map each value in the scenario, e.g. [network.classes] \"{example or '值'}\" = "
                              f"\"tertiary\" (classes: {', '.join(known_classes())}).")
            if unbuilt:
                advice.append("Values that say the road is not built, planned or closed: map them to a class that "
                              "is dropped as not built, [network.classes] "
                              + ", ".join(f"\"{v}\" = \"{c}\"" for v, c in list(unbuilt.items())[:10]) + ".")
            count = int(missing.sum())
            warnings.warn(f"{name}: {count:,} of {counted(n, 'road')} ({km[missing].sum():,.1f} km) "
                          f"{'has' if count == 1 else 'have'} a {cls_col} value that is not a known road class and "
                          f"{'is' if count == 1 else 'are'} driven as {default_highway!r}: {listed}{more}. "
                          + " ".join(advice), RoadDataWarning, stacklevel=2)
        highway = mapped.fillna(default_highway).to_numpy(dtype=object)

    if one_col is None:
        forward = backward = np.zeros(n, dtype=bool)
    else:
        forward, backward = _oneway(lines[one_col], one_col, name)

    if max_col is None:
        limit = np.full(n, np.nan)
    else:
        limit = maxspeed_kmh(lines[max_col].to_numpy(dtype=object), source=f"{name} column {max_col}")
    if design_speed != "none":
        pick = min if design_speed == "lowest" else max
        design = {k: pick(v) for k, v in design_speeds().items()}
        fill = keys.map(design).to_numpy(dtype=float)
        limit = np.where(np.isfinite(limit), limit, fill)
    return pd.DataFrame({"highway": highway, "forward_only": forward, "backward_only": backward,
                         "maxspeed_kmh": limit}, index=lines.index)


def _column(lines: pd.DataFrame, given: str | None, default: str, key: str, name: str) -> str | None:
    if given is None:
        return find_column(lines, default)
    found = find_column(lines, given)
    if found is None:
        columns = ", ".join(str(c) for c in lines.columns if c != getattr(lines, "_geometry_column_name", None))
        raise InputError(f"{name} has no column {given!r} (set by [network] {key}); its columns are: {columns}. "
                         f"Set [network] {key} to one of them, or remove the key.")
    return found


def _oneway(values: pd.Series, column: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    keys = normalise(values)
    forward = keys.isin(ONEWAY_FORWARD).to_numpy()
    backward = keys.isin(ONEWAY_BACKWARD).to_numpy()
    unknown = ~(forward | backward | keys.isin(ONEWAY_BOTH).to_numpy())
    if unknown.any():
        counts = values[unknown].astype(str).value_counts()
        listed = ", ".join(f"{v!r} ({c:,})" for v, c in counts.head(20).items())
        one = unknown.sum() == 1
        warnings.warn(f"{name}: {counted(int(unknown.sum()), 'road')} {'has' if one else 'have'} a {column} value that "
                      f"is not a one-way flag and {'is' if one else 'are'} open both ways: {listed}. Use yes/no/-1 (or 是/否, 单向/双向, 正向/反向).",
                      RoadDataWarning, stacklevel=3)
    return forward, backward


def _no_class_message(lines: pd.DataFrame, mapping: dict[str, str], default: str, name: str) -> str:
    with open(data_path("speeds.toml"), "rb") as fh:
        speeds = tomllib.load(fh)
    kmh = ", ".join(f"{mode} {speeds[mode]['kmh'][default]:g} km/h" for mode in ("walk", "drive", "ambulance")
                    if default in speeds[mode].get("kmh", {}))
    geometry = getattr(lines, "_geometry_column_name", None)
    text_cols = [c for c in lines.columns if c != geometry and not pd.api.types.is_numeric_dtype(lines[c])
                 and not pd.api.types.is_datetime64_any_dtype(lines[c])]
    described = []
    for col in text_cols:
        keys = normalise(lines[col])
        share = keys.map(mapping).notna().mean() if len(keys) else 0.0
        described.append(f"{col} ({share:.0%} known classes)")
    columns = "; ".join(described) if described else "none"
    return (f"{name} has no road class column (no 'highway' column, and [network] class is not set): every road "
            f"is driven as {default!r} ({kmh}), one speed for all. Name the class column in the scenario, "
            f"e.g. [network] class = \"等级\". The file's text columns: {columns}.")
