"""Planning targets as data, and their evaluation for a county and for each admin unit.

Targets live in ``data/targets.toml`` (and inline in scenarios). A :class:`Target` says
which facilities count, how people travel, how far is far enough and what share or mean
time the plan asks for. :func:`evaluate_target` turns travel minutes per demand point
into a verdict for the whole area and for every admin unit.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._paths import data_path
from .errors import InputError, check_choice, check_positive
from .modes import DIRECTIONS, MODES

if TYPE_CHECKING:  # pandas and scipy load where used: `geoaccess targets` reads targets without them
    import pandas as pd
    import scipy.sparse as sp

POPULATIONS = ("all", "urban", "rural")
METRICS = ("share_within", "mean_time", "per_1000")
# E2SFCA distance-decay weights for the three equal sub-zones of the catchment (Luo & Qi 2009).
E2SFCA_WEIGHTS = (1.0, 0.68, 0.22)


@dataclass(frozen=True)
class Target:
    """One planning target (see ``data/targets.toml`` for the meaning of each field)."""

    id: str
    name_zh: str
    name_en: str
    facility_types: tuple[str, ...]
    mode: str
    direction: str
    threshold_min: float
    population: str
    metric: str
    goal: float
    dispatch_delay_min: float = 0.0
    mode_urban: str | None = None
    mode_rural: str | None = None
    facility_where: dict[str, Any] = field(default_factory=dict)
    max_unreachable_share: float = 0.01
    capacity: str | None = None
    source: str = ""

    def mode_for(self, urban: bool) -> str:
        """Travel mode of an urban (True) or rural (False) resident."""
        override = self.mode_urban if urban else self.mode_rural
        return override or self.mode

    @property
    def modes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.mode_for(True), self.mode_for(False))))


_TYPES = {f.name: f.type for f in fields(Target)}
_REQUIRED = ("name_zh", "name_en", "facility_types", "mode", "direction", "threshold_min", "population",
             "metric", "goal")


def target_from_dict(target_id: str, table: dict[str, Any], base: Target | None = None) -> Target:
    """Build a :class:`Target` from a TOML table, checking every key and value.

    With ``base``, the table overrides the base target's fields (scenario overrides).
    """
    if not isinstance(table, dict):
        raise InputError(f"target {target_id!r} must be a table of fields, got {table!r}")
    allowed = [f.name for f in fields(Target) if f.name != "id"]
    unknown = sorted(set(table) - set(allowed) - {"id"})
    if unknown:
        raise InputError(f"target {target_id!r}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    values = {k: v for k, v in asdict(base).items() if k != "id"} if base else {}
    values.update({k: v for k, v in table.items() if k != "id"})
    missing = [k for k in _REQUIRED if k not in values]
    if missing:
        raise InputError(f"target {target_id!r} lacks required field(s): {', '.join(missing)}")
    where = f"target {target_id!r}"
    types = values["facility_types"]
    if isinstance(types, str):
        types = [types]
    if not isinstance(types, (list, tuple)) or not types or not all(isinstance(t, str) for t in types):
        raise InputError(f"{where}: facility_types must be a non-empty list of strings, got {values['facility_types']!r}")
    values["facility_types"] = tuple(types)
    for key in ("mode", "mode_urban", "mode_rural"):
        if values.get(key) is not None:
            check_choice(f"{where}: {key}", values[key], MODES)
    check_choice(f"{where}: direction", values["direction"], DIRECTIONS)
    check_choice(f"{where}: population", values["population"], POPULATIONS)
    check_choice(f"{where}: metric", values["metric"], METRICS)
    values["threshold_min"] = check_positive(f"{where}: threshold_min (minutes)", values["threshold_min"])
    values["goal"] = check_positive(f"{where}: goal", values["goal"])
    if values["metric"] == "share_within" and values["goal"] > 1:
        raise InputError(f"{where}: goal is a share between 0 and 1 for share_within (e.g. 0.9 for 90%), "
                         f"got {values['goal']}")
    for key in ("dispatch_delay_min", "max_unreachable_share"):
        try:
            values[key] = float(values.get(key, getattr(Target, key)))
        except (TypeError, ValueError):
            raise InputError(f"{where}: {key} must be a number, got {values.get(key)!r}") from None
        if values[key] < 0:
            raise InputError(f"{where}: {key} must be >= 0, got {values[key]}")
    if values["metric"] == "per_1000" and not values.get("capacity"):
        raise InputError(f"{where}: metric per_1000 needs capacity = the facility column holding the resource (e.g. 'beds')")
    if not isinstance(values.get("facility_where", {}), dict):
        raise InputError(f"{where}: facility_where must be a table {{column = value}}")
    for key in ("name_zh", "name_en", "source"):
        if not isinstance(values.get(key, ""), str):
            raise InputError(f"{where}: {key} must be text")
    return Target(id=target_id, **values)


def load_targets(path: str | Path | None = None) -> dict[str, Target]:
    """Target definitions from a TOML file (default: the built-in ``data/targets.toml``)."""
    p = Path(path) if path is not None else data_path("targets.toml")
    try:
        with open(p, "rb") as fh:
            tables = tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"targets file not found: {p}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"targets file {p} is not valid TOML: {exc}") from None
    return {tid: target_from_dict(tid, table) for tid, table in tables.items()}


def select_facilities(target: Target, facilities: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the facilities that count for ``target``.

    A facility counts when its vocabulary ``kind`` or its raw ``type`` value is listed in
    ``facility_types`` and it matches every ``facility_where`` condition.
    """
    import pandas as pd

    wanted = {t.strip().lower() for t in target.facility_types}
    kind = facilities["kind"].astype(str).str.lower() if "kind" in facilities else pd.Series("", index=facilities.index)
    raw = facilities["type"].astype(str).str.strip().str.lower() if "type" in facilities else kind
    mask = kind.isin(wanted) | raw.isin(wanted)
    for column, value in target.facility_where.items():
        if column not in facilities:
            raise InputError(f"target {target.id!r}: facility_where names column {column!r}, which the facility "
                             f"table lacks; columns: {', '.join(map(str, facilities.columns))}")
        values = value if isinstance(value, list) else [value]
        col = facilities[column]
        if all(isinstance(v, bool) for v in values):
            col = col.map(lambda x: str(x).strip().lower() in ("true", "1", "yes", "y", "t"))
        mask &= col.isin(values)
    return mask.to_numpy()


@dataclass
class Evaluation:
    """A target's verdict for the whole area and per admin unit.

    ``value`` is a share (0–1) for share_within, minutes for mean_time, and resource per
    1,000 residents for per_1000. ``units`` holds one row per admin unit.
    """

    target: Target
    value: float
    passed: bool
    population_total: float
    population_covered: float
    population_unreachable: float
    mean_minutes: float
    p90_minutes: float
    share_within: float
    units: pd.DataFrame
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        t = self.target
        units = [
            {k: _plain(v) for k, v in row.items()}
            for row in self.units.to_dict(orient="records")
        ]
        return {
            "id": t.id, "name_zh": t.name_zh, "name_en": t.name_en, "metric": t.metric,
            "value": _plain(self.value), "goal": t.goal, "passed": bool(self.passed),
            "threshold_min": t.threshold_min, "population": t.population,
            "modes": {"urban": t.mode_for(True), "rural": t.mode_for(False)}, "direction": t.direction,
            "dispatch_delay_min": t.dispatch_delay_min,
            "population_total": _plain(self.population_total),
            "population_covered": _plain(self.population_covered),
            "population_unreachable": _plain(self.population_unreachable),
            "share_within": _plain(self.share_within),
            "mean_minutes": _plain(self.mean_minutes), "p90_minutes": _plain(self.p90_minutes),
            "source": t.source, **{k: _plain(v) for k, v in self.extra.items()},
            "units": units,
        }


def _plain(value: Any) -> Any:
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def weighted_quantile(minutes: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Population-weighted quantile: the smallest time within which a share ``q`` of people are.

    Infinite times count (an unreachable majority gives ``inf``).
    """
    if weights.sum() <= 0:
        return math.nan
    order = np.argsort(minutes, kind="stable")
    cum = np.cumsum(weights[order]) / weights.sum()
    return float(minutes[order][min(np.searchsorted(cum, q - 1e-12), len(cum) - 1)])


def _summary(target: Target, minutes: np.ndarray, pop: np.ndarray) -> dict[str, float]:
    total = float(pop.sum())
    reachable = np.isfinite(minutes)
    covered = float(pop[minutes <= target.threshold_min].sum())
    unreachable = float(pop[~reachable].sum())
    reach_pop = pop[reachable].sum()
    mean = float((minutes[reachable] * pop[reachable]).sum() / reach_pop) if reach_pop > 0 else math.nan
    share = covered / total if total > 0 else math.nan
    value = share if target.metric == "share_within" else mean
    if total <= 0:
        passed = None
    else:
        ok = value >= target.goal if target.metric == "share_within" else value <= target.goal
        passed = bool(ok and unreachable / total <= target.max_unreachable_share)
    return {"value": value, "passed": passed, "population_total": total, "population_covered": covered,
            "population_unreachable": unreachable, "mean_minutes": mean,
            "p90_minutes": weighted_quantile(minutes, pop, 0.9), "share_within": share}


def as_objects(values: pd.Series) -> np.ndarray:
    """``values.to_numpy(object)``: the same values, made from the distinct ones.

    Every row holds one of a few Python objects (one per distinct value) instead of its own
    (200k Arrow strings: a quarter of the time, and grouping them later hashes each object once).
    """
    import pandas as pd

    codes, uniques = pd.factorize(values)
    out = np.append(np.asarray(uniques, dtype=object), None)[codes]  # -1 (missing) takes the None, replaced below
    missing = codes < 0
    if missing.any():  # as to_numpy gives them (NaN, None, NA: whatever the column holds)
        out[missing] = values[missing].to_numpy(object)
    return out


def labels_at(labels: np.ndarray, index: np.ndarray) -> Any:
    """``labels[index]``, "" where ``index`` is -1, as the array pandas makes a column of.

    The few labels are converted once and taken (an Arrow take for strings), not one string
    per row: the same column, dtype and values as assigning ``numpy.where(index >= 0,
    labels[index], "")``.
    """
    import pandas as pd

    column = pd.Series(np.append(np.asarray(labels, dtype=object), "")).array
    return column.take(np.where(index >= 0, index, len(labels)))


def population_mask(target: Target, urban: np.ndarray) -> np.ndarray:
    """Demand points in the target's population subset (all, urban or rural)."""
    if target.population == "all":
        return np.ones(len(urban), dtype=bool)
    return urban if target.population == "urban" else ~urban


def evaluate_target(target: Target, travel_minutes: np.ndarray, pop: np.ndarray, urban: np.ndarray,
                    unit: np.ndarray | None = None, unit_names: list[str] | None = None) -> Evaluation:
    """Evaluate a share_within or mean_time target.

    Parameters
    ----------
    target
        The target definition.
    travel_minutes
        Travel minutes of every demand point (``inf`` = unreachable or off network); the
        target's dispatch delay is added here.
    pop
        Persons at every demand point.
    urban
        Whether each demand point is urban.
    unit
        Admin unit name of each demand point (``None``: one unit for the whole area).
    unit_names
        Every unit of the admin file, in file order: each gets a row even when no demand
        point lies in it (a lake township), with 0 people and no verdict (``passed``
        None, values NaN). Names of ``unit`` not listed (points outside every unit)
        follow. ``None``: the units found in ``unit``.

    Returns
    -------
    Evaluation
        The verdict for the area and ``units``, one row per unit.

    Raises
    ------
    InputError
        A per_1000 target, or arrays of different lengths.
    """
    if target.metric == "per_1000":
        raise InputError(f"target {target.id!r} is a per_1000 target: use evaluate_ratio")
    minutes = np.asarray(travel_minutes, dtype=float) + target.dispatch_delay_min
    pop = np.asarray(pop, dtype=float)
    urban = np.asarray(urban, dtype=bool)
    if not (len(minutes) == len(pop) == len(urban)):
        raise InputError("travel_minutes, pop and urban must have one value per demand point")
    keep = population_mask(target, urban)
    overall = _summary(target, minutes[keep], pop[keep])
    units = _unit_rows(target, minutes, pop, urban, keep, unit, unit_names)
    return Evaluation(target=target, units=units, **overall)


def _unit_list(names: np.ndarray, unit_names: list[str] | None) -> list:
    """Units to report: every admin unit in file order, then any other name the points carry."""
    import pandas as pd

    listed = list(dict.fromkeys(unit_names)) if unit_names is not None else []
    seen = set(listed)
    return listed + [n for n in pd.unique(names) if n not in seen]


def _unit_rows(target: Target, minutes: np.ndarray, pop: np.ndarray, urban: np.ndarray, keep: np.ndarray,
               unit: np.ndarray | None, unit_names: list[str] | None = None) -> pd.DataFrame:
    import pandas as pd

    names = np.asarray(unit if unit is not None else np.full(len(pop), "all"), dtype=object)
    # The points grouped by unit once, stably: each unit's points in their own order, so its
    # sums are the very numbers a mask per unit gives. None (no unit) is factorized as NaN:
    # names not among the groups take the mask.
    codes, uniques = pd.factorize(names, use_na_sentinel=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    group = {u: i for i, u in enumerate(uniques) if not (isinstance(u, float) and math.isnan(u))}
    rows = []
    for name in _unit_list(names, unit_names):  # one pass per unit (tens of units, not points)
        i = group.get(name)
        at = order[bounds[i]:bounds[i + 1]] if i is not None else np.flatnonzero(names == name)
        p, u, k = pop[at], urban[at], keep[at]
        unit_pop = p.sum()
        # A unit without residents has no urban share and no verdict.
        urban_flag = bool(p[u].sum() / unit_pop >= 0.5) if unit_pop > 0 else None
        stats = _summary(target, minutes[at][k], p[k])
        rows.append({"name": name, "urban": urban_flag, **stats})
    return pd.DataFrame(rows)


def e2sfca(od_minutes: sp.csr_matrix, pop: np.ndarray, capacity: np.ndarray, threshold_min: float) -> np.ndarray:
    """Enhanced two-step floating catchment accessibility (resource per person) at every demand point.

    ``od_minutes`` is the demand × facility matrix of minutes within ``threshold_min``
    (absent = beyond). Step 1: each facility's ratio R_j = S_j / Σ_i P_i W(t_ij); step 2:
    A_i = Σ_j R_j W(t_ij), with the stepped weights :data:`E2SFCA_WEIGHTS` over three
    equal sub-zones of the catchment.
    """
    import scipy.sparse as sp

    od = od_minutes.tocoo()
    zone = np.minimum((od.data / threshold_min * 3).astype(int), 2)
    w = np.asarray(E2SFCA_WEIGHTS)[zone]
    weighted = sp.csr_matrix((w, (od.row, od.col)), shape=od.shape)
    served = weighted.T @ pop
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(served > 0, capacity / served, 0.0)
    return weighted @ ratio


def evaluate_ratio(target: Target, pop: np.ndarray, urban: np.ndarray, unit: np.ndarray | None,
                   capacity: np.ndarray, facility_unit: np.ndarray | None, od_minutes: sp.csr_matrix,
                   unit_names: list[str] | None = None) -> Evaluation:
    """Evaluate a per_1000 target two ways: admin-unit totals and an E2SFCA catchment.

    The headline ``value`` is the area's total resource per 1,000 residents. Per unit,
    ``value`` is the unit's own resource per 1,000 residents and ``e2sfca_per_1000`` the
    population-weighted E2SFCA accessibility, which credits a township next to a big
    hospital across the border. ``unit_names`` lists every admin unit as in
    :func:`evaluate_target`: a unit without residents gets a row with 0 people, its
    capacity, and no verdict.
    """
    import pandas as pd

    pop = np.asarray(pop, dtype=float)
    capacity = np.nan_to_num(np.asarray(capacity, dtype=float))
    keep = population_mask(target, np.asarray(urban, dtype=bool))
    access = e2sfca(od_minutes, np.where(keep, pop, 0.0), capacity, target.threshold_min) * 1000.0
    total_pop = pop[keep].sum()
    value = capacity.sum() / total_pop * 1000.0 if total_pop > 0 else math.nan
    names = np.asarray(unit if unit is not None else np.full(len(pop), "all"), dtype=object)
    fac_names = np.asarray(facility_unit if facility_unit is not None else np.full(len(capacity), "all"), dtype=object)
    rows = []
    for name in _unit_list(names, unit_names):
        in_unit = (names == name) & keep
        upop = pop[in_unit].sum()
        own = capacity[fac_names == name].sum() / upop * 1000.0 if upop > 0 else math.nan
        catch = float((access[in_unit] * pop[in_unit]).sum() / upop) if upop > 0 else math.nan
        rows.append({"name": name, "urban": bool(np.asarray(urban)[names == name].mean() >= 0.5)
                     if (names == name).any() else None,
                     "value": own, "passed": None if upop <= 0 else bool(own >= target.goal),
                     "e2sfca_per_1000": catch, "e2sfca_passed": None if upop <= 0 else bool(catch >= target.goal),
                     "population_total": float(upop), "population_covered": float(pop[in_unit & (access > 0)].sum()),
                     "capacity": float(capacity[fac_names == name].sum())})
    covered = float(pop[keep & (access > 0)].sum())
    e2_mean = float((access[keep] * pop[keep]).sum() / total_pop) if total_pop > 0 else math.nan
    return Evaluation(target=target, value=value, passed=bool(total_pop > 0 and value >= target.goal),
                      population_total=float(total_pop), population_covered=covered,
                      population_unreachable=float(pop[keep & (access <= 0)].sum()), mean_minutes=math.nan,
                      p90_minutes=math.nan, share_within=covered / total_pop if total_pop > 0 else math.nan,
                      units=pd.DataFrame(rows), extra={"e2sfca_per_1000": e2_mean, "capacity_total": float(capacity.sum())})


def minutes_beside(minutes: Any, threshold_min: Any, digits: int = 1) -> np.ndarray:
    """Minutes rounded for display, never onto the other side of the threshold.

    The rule the console uses for a value against its goal
    (:func:`geoaccess.results.value_text`): rounded to ``digits`` decimals, or more (up
    to three more) until the rounded number lies on the same side of ``threshold_min`` as
    the time itself — a time beyond it (uncovered) never shows at or under it (15.04 →
    15.04, not 15.0), one within it never shows over it; closer still, it is rounded
    toward its own side at ``digits + 3`` decimals.

    Parameters
    ----------
    minutes : array-like
        Times, minutes (``inf``/NaN pass through).
    threshold_min : float or array-like
        The threshold, minutes: one for all, or one per time.
    digits : int, default 1
        Decimals shown when they suffice.

    Returns
    -------
    numpy.ndarray
        The rounded times (float), minutes.
    """
    t = np.asarray(minutes, dtype=float).reshape(-1)
    thr = np.broadcast_to(np.asarray(threshold_min, dtype=float), t.shape)
    beyond = t > thr
    out = np.round(t, digits)
    for d in range(digits + 1, digits + 4):
        wrong = np.isfinite(t) & ((out > thr) != beyond)
        if not wrong.any():
            return out
        out[wrong] = np.round(t[wrong], d)
    wrong = np.isfinite(t) & ((out > thr) != beyond)
    scale = 10.0 ** (digits + 3)
    out[wrong] = np.where(beyond[wrong], np.ceil(t[wrong] * scale), np.floor(t[wrong] * scale)) / scale
    return out
