"""What OpenStreetMap way tags mean for routing: one reading for every input format.

Every road source — ``.osm.pbf`` and ``.osm`` XML (both read with pyosmium), osmnx downloads
and GraphML, and roads files that carry OSM columns — goes through :func:`interpret_ways`, so
the same roads give the same network whatever the file. The rules, with the OSM wiki's
meaning (https://wiki.openstreetmap.org/wiki/Key:access, Key:oneway, Key:highway):

=========================  ====================================================================
tag                        reading
=========================  ====================================================================
``highway``                a way is a road only with one; ``construction``, ``proposed``,
                           ``abandoned``, ``disused``, ``razed``, ``platform``, ``raceway``,
                           ``bus_guideway``, ``escape``, ``rest_area``, ``services`` are not
                           (no one drives or walks them). Which class each mode may use is
                           ``data/speeds.toml`` (a class without a speed is closed to the mode).
``area=yes``               the outline of a square or car park, not a way to drive round: dropped
``access``                 the default for every mode, overridden by the more specific keys:
``vehicle`` →              drive and ambulance: ``motorcar`` > ``motor_vehicle`` > ``vehicle`` >
``motor_vehicle`` →        ``access``; walk: ``foot`` > ``access``; ambulance: ``emergency`` >
``motorcar``, ``foot``,    the drive reading (``emergency=yes`` opens a closed road to ambulances)
``emergency``
values                     ``no``, ``agricultural``, ``forestry``, ``military``, ``use_sidepath``:
                           closed. ``private``, ``destination``, ``customers``, ``delivery``,
                           ``residents``, ``permit``: usable only at the start or the end of a
                           trip (gated compounds), never as a through route. Anything else
                           (``yes``, ``permissive``, ``designated``, …): open
``oneway``                 for vehicles only (walkers ignore it): ``yes``/``true``/``1`` forward,
                           ``-1``/``reverse`` backward, ``no``/``false``/``0`` both;
                           ``reversible``/``alternating`` (direction by time of day): both. Implied
                           forward when untagged on ``highway=motorway`` and
                           ``junction=roundabout|circular``
``maxspeed``               :func:`geoaccess.speedlimits.maxspeed_kmh` (numbers, units, lists,
                           national zone codes such as ``CN:urban``)
``bridge``, ``tunnel``     kept: homes and clinics do not board a road on a bridge deck or in a
                           tunnel (``tunnel=building_passage`` is boardable)
=========================  ====================================================================
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .speedlimits import maxspeed_kmh

#: Tag keys the readers keep for every way (the rest of a way's tags are not needed).
TAG_KEYS = ("highway", "area", "access", "vehicle", "motor_vehicle", "motorcar", "foot", "emergency",
            "oneway", "junction", "maxspeed", "bridge", "tunnel")

NOT_ROADS = frozenset({"construction", "proposed", "abandoned", "disused", "razed", "platform", "raceway",
                       "bus_guideway", "escape", "rest_area", "services", "no", "none"})
CLOSED_VALUES = frozenset({"no", "agricultural", "forestry", "agricultural;forestry", "military",
                           "use_sidepath"})
DESTINATION_VALUES = frozenset({"private", "destination", "customers", "delivery", "residents", "permit"})

#: Access of a way for a mode (column values of ``access_<mode>``).
OPEN, DESTINATION, CLOSED = 0, 1, 2
ACCESS_NAMES = {OPEN: "open", DESTINATION: "destination only", CLOSED: "closed"}

_ACCESS_KEYS = {
    "walk": ("foot", "access"),
    "drive": ("motorcar", "motor_vehicle", "vehicle", "access"),
    "ambulance": ("emergency", "motorcar", "motor_vehicle", "vehicle", "access"),
}
_YES = ("yes", "true", "1")
_NO = ("no", "false", "0")
_BACKWARD = ("-1", "reverse")


def _column(tags: pd.DataFrame, key: str) -> pd.Series:
    """A tag as lower-case stripped text ('' where absent); for ';' lists the first value."""
    if key not in tags:
        return pd.Series("", index=tags.index, dtype=object)
    # Each distinct value is cleaned once (a network of 100k ways has a few dozen).
    codes, uniques = pd.factorize(tags[key], use_na_sentinel=True)
    clean = np.array([str(u).strip().lower().split(";", 1)[0].strip() for u in uniques] + [""], dtype=object)
    return pd.Series(clean[codes], index=tags.index, dtype=object)


def access_for_mode(tags: pd.DataFrame, mode: str) -> np.ndarray:
    """Access (:data:`OPEN`, :data:`DESTINATION`, :data:`CLOSED`) of every way for ``mode``.

    The most specific key that is tagged decides (``emergency`` > ``motorcar`` >
    ``motor_vehicle`` > ``vehicle`` > ``access`` for ambulances; see the module table).
    """
    value = pd.Series("", index=tags.index, dtype=object)
    for key in reversed(_ACCESS_KEYS[mode]):
        col = _column(tags, key)
        value = col.where(col != "", value)
    out = np.full(len(tags), OPEN, dtype=np.int8)
    arr = value.to_numpy(dtype=object)
    out[np.isin(arr, list(DESTINATION_VALUES))] = DESTINATION
    out[np.isin(arr, list(CLOSED_VALUES))] = CLOSED
    return out


def oneway_direction(tags: pd.DataFrame) -> np.ndarray:
    """For vehicles: +1 open only in the way's drawn direction, -1 only against it, 0 both ways."""
    oneway = _column(tags, "oneway").to_numpy(dtype=object)
    junction = _column(tags, "junction").to_numpy(dtype=object)
    highway = _column(tags, "highway").to_numpy(dtype=object)
    implied = np.isin(junction, ["roundabout", "circular"]) | (highway == "motorway")
    untagged = ~np.isin(oneway, _YES + _NO + _BACKWARD)
    out = np.zeros(len(tags), dtype=np.int8)
    out[np.isin(oneway, _YES) | (implied & untagged)] = 1
    out[np.isin(oneway, _BACKWARD)] = -1
    return out


def interpret_ways(tags: pd.DataFrame, modes: tuple[str, ...] = ("walk", "drive", "ambulance")) -> pd.DataFrame:
    """Read the routing meaning of OSM ways from their tags.

    Parameters
    ----------
    tags
        One row per way, one column per tag key (any of :data:`TAG_KEYS`; missing keys and
        missing values mean untagged). Values are text as in OSM.

    Returns
    -------
    pandas.DataFrame
        Same index: ``highway`` (class, the first of a ';' list), ``dropped`` (why a way is
        not a road: '' for roads, else 'not a highway', 'area', 'not built or not for
        traffic', 'closed to every mode'), ``oneway`` (+1/0/-1, vehicles), ``access_<mode>``
        per mode (:data:`OPEN`/:data:`DESTINATION`/:data:`CLOSED`), ``maxspeed_kmh`` (km/h,
        NaN where untagged or unreadable), ``bridge`` and ``tunnel`` (bool).
    """
    highway = _column(tags, "highway")
    out = pd.DataFrame(index=tags.index)
    out["highway"] = highway
    dropped = np.full(len(tags), "", dtype=object)
    hw = highway.to_numpy(dtype=object)
    dropped[np.isin(hw, list(NOT_ROADS))] = "not built or not for traffic"
    dropped[np.isin(_column(tags, "area").to_numpy(dtype=object), _YES)] = "area"
    dropped[hw == ""] = "not a highway"
    access = {mode: access_for_mode(tags, mode) for mode in modes}
    closed_everywhere = np.logical_and.reduce([a == CLOSED for a in access.values()])
    dropped[(dropped == "") & closed_everywhere] = "closed to every mode"
    out["dropped"] = dropped
    out["oneway"] = oneway_direction(tags)
    for mode, values in access.items():
        out[f"access_{mode}"] = values
    raw_speed = tags["maxspeed"] if "maxspeed" in tags else pd.Series(None, index=tags.index, dtype=object)
    out["maxspeed_kmh"] = maxspeed_kmh(raw_speed.to_numpy(dtype=object))
    bridge = _column(tags, "bridge").to_numpy(dtype=object)
    tunnel = _column(tags, "tunnel").to_numpy(dtype=object)
    out["bridge"] = (bridge != "") & ~np.isin(bridge, _NO)
    out["tunnel"] = (tunnel != "") & ~np.isin(tunnel, _NO + ("building_passage",))
    return out
