"""What a run computed, and how its numbers are worded — shared by maps, report and CLI.

This module sits between the computing stages (targets, gaps, siting) and the outputs
(maps, report, CLI), so that every output words a value, a goal and a verdict the same way
and no output module imports the orchestration (``pipeline``).
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InputError

if TYPE_CHECKING:  # annotations only: `geoaccess targets` and `check` start without geopandas
    import geopandas as gpd
    import pandas as pd

    from .network import RoadNetwork
    from .routing import ModeGraph
    from .scenario import Scenario
    from .targets import Evaluation, Target

ATTRIBUTION = "© OpenStreetMap contributors"
PASS_COLOUR, FAIL_COLOUR, NODATA_COLOUR = "#1a9850", "#d73027", "#808080"

WORDS = {
    "zh": {"min": "分钟", "passed": "达标", "failed": "未达标", "nodata": "无数据", "unreachable": "不可达"},
    "en": {"min": "min", "passed": "PASS", "failed": "FAIL", "nodata": "no data", "unreachable": "unreachable"},
}


@dataclass
class RunResult:
    """Everything a run computed, in the network's projected CRS.

    ``demand`` carries, per target, ``<id>_min`` (minutes, inf = unreachable) and
    ``<id>_facility`` (facility_id of the nearest counted facility).
    """

    scenario: Scenario
    network: RoadNetwork
    facilities: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    units: gpd.GeoDataFrame | None
    evaluations: list[Evaluation]
    graphs: dict[str, ModeGraph] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    isochrones: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    gaps: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    sites: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    siting: dict[str, dict] = field(default_factory=dict)
    focus: str | None = None  # the target just sited (proposal or curve): map.html opens on it
    engine: Any = field(default=None, repr=False)  # pipeline._Engine: the compiled graphs and snaps, for siting



    @property
    def summary(self) -> pd.DataFrame:
        """One row per target: ``value`` (share 0-1, minutes, or per 1,000), ``goal``,
        ``passed``, ``population`` (people counted), ``covered`` and ``unreachable``
        (people), ``mean_minutes``."""
        rows = [{"target": e.target.id, "name": e.target.name_en, "metric": e.target.metric,
                 "value": e.value, "goal": e.target.goal, "passed": bool(e.passed),
                 "population": e.population_total, "covered": e.population_covered,
                 "unreachable": e.population_unreachable, "mean_minutes": e.mean_minutes}
                for e in self.evaluations]
        import pandas as pd

        return pd.DataFrame(rows).set_index("target")

    def evaluation(self, target_id: str) -> Evaluation:
        """The :class:`~geoaccess.targets.Evaluation` of one target (``.units``: per township)."""
        for e in self.evaluations:
            if e.target.id == target_id:
                return e
        raise InputError(f"target {target_id!r} was not evaluated; this run has "
                         f"{', '.join(e.target.id for e in self.evaluations)}")


def summary_dict(result: RunResult) -> dict:
    """The ``summary.json`` content."""
    return {
        "scenario": result.scenario.name,
        "network": {"nodes": result.network.n_nodes, "edges": result.network.n_edges,
                    "crs": result.network.crs.to_string()},
        "facilities": int(len(result.facilities)),
        "population_total": float(result.demand["pop"].sum()),
        "demand_points": int(len(result.demand)),
        "targets": [{**e.to_dict(), "fail_reason": fail_reason(e)} for e in result.evaluations],
        "warnings": result.warnings,
        "siting": result.siting,
        "attribution": "© OpenStreetMap contributors (ODbL)" if roads_from_osm(result.scenario) else "",
    }


def fail_reason(e: "Evaluation", lang: str = "en") -> str | None:
    """Why a target fails although its value meets the goal (:func:`unreachable_note` with the
    target's people), else None: ``summary.json``'s ``fail_reason``."""
    return unreachable_note(e.value, e.passed, e.target, lang, e.population_unreachable, e.population_total) or None


def roads_from_osm(scenario: Scenario) -> bool:
    """Whether the run's roads are OpenStreetMap data (and so need the ODbL credit).

    True for an OSM download (``place``/``bbox``) and OSM files (.osm.pbf, .osm, .graphml),
    except the synthetic county's generated roads; False for a roads file (.gpkg, .shp, …).
    """
    net = getattr(scenario, "network", None) or {}
    if net.get("place") or net.get("bbox"):
        return True
    source = str(net.get("source") or "")
    from .io import VECTOR_SUFFIXES

    if not source or source.lower().endswith(VECTOR_SUFFIXES):
        return False
    try:
        with open(source, "rb") as fh:  # generated test roads say so in the OSM header
            return b'generator="geoaccess.synthetic"' not in fh.read(512)
    except OSError:
        return True


def check_lang(lang: str) -> str:
    if lang not in WORDS:
        raise InputError(f"language must be 'zh' or 'en', got {lang!r}")
    return lang


def target_name(target: "Target", lang: str) -> str:
    return target.name_zh if lang == "zh" else target.name_en


def value_text(value: Any, target: "Target", lang: str) -> str:
    """A target's (or a unit's) value as a planner reads it, in ``lang``.

    The shown number never contradicts the verdict against the goal: 0.89978 against a
    90 % goal reads "89.98%", not "90.0%" (more digits are shown until the rounded number
    falls on the same side of the goal as the value itself; beyond three extra digits it
    is rounded toward that side). Shares are in percent, mean times in minutes, resources
    per 1,000 residents; NaN reads "无数据"/"no data", an infinite mean time "不可达"/"unreachable".
    """
    t = WORDS[lang]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return t["nodata"]
    v = float(value)
    if math.isnan(v):
        return t["nodata"]
    if target.metric == "share_within":
        return f"{_beside_goal(v, target.goal, True, 100, 1)}%"
    if target.metric == "mean_time":
        return t["unreachable"] if math.isinf(v) else f"{_beside_goal(v, target.goal, False, 1, 1)} {t['min']}"
    return f"{_beside_goal(v, target.goal, True, 1, 2)} /{'千人' if lang == 'zh' else '1000'}"


def _goal_number(goal: float, scale: int) -> str:
    """The goal as :func:`goal_text` prints it (``0.9`` → ``90``, ``0.905`` → ``90.5``)."""
    return f"{goal * scale:.10g}"


def _beside_goal(value: float, goal: float, higher_passes: bool, scale: int, digits: int) -> str:
    """``value × scale`` rounded to ``digits`` or more decimals, on the goal's side as the value is."""
    if not math.isfinite(value):
        return f"{value * scale:,.{digits}f}"
    passes = value >= goal if higher_passes else value <= goal
    exact, shown_goal = Decimal(value) * scale, Decimal(_goal_number(goal, scale))

    def agrees(r: Decimal) -> bool:
        return (r >= shown_goal if higher_passes else r <= shown_goal) == passes

    for d in range(digits, digits + 4):
        r = exact.quantize(Decimal(1).scaleb(-d), ROUND_HALF_EVEN)
        if agrees(r):
            return f"{r:,f}"
    # a value within 1e-(digits+3) of the goal: round toward the side the value is on
    toward_up = passes == higher_passes
    return f"{exact.quantize(Decimal(1).scaleb(-(digits + 3)), ROUND_CEILING if toward_up else ROUND_FLOOR):,f}"


def goal_text(target: "Target", lang: str) -> str:
    """The target's goal, e.g. ``≥ 90%（15分钟内）`` / ``≥ 90% within 15 min``."""
    t = WORDS[lang]
    if target.metric == "share_within":
        pct = _goal_number(target.goal, 100)
        if lang == "zh":
            return f"≥ {pct}%（{target.threshold_min:g}分钟内）"
        return f"≥ {pct}% within {target.threshold_min:g} min"
    if target.metric == "mean_time":
        return f"≤ {_goal_number(target.goal, 1)} {t['min']}"
    return f"≥ {_goal_number(target.goal, 1)} /{'千人' if lang == 'zh' else '1000'}"


def unreachable_note(value: Any, passed: Any, target: "Target", lang: str, unreachable: Any = None,
                     total: Any = None) -> str:
    """Why a value that meets its goal still fails: too many people cannot be reached at all.

    Parameters
    ----------
    value, passed
        The target's (or a unit's) value and verdict.
    target : Target
        The target (``goal``, ``max_unreachable_share``).
    lang : {"zh", "en"}
        Language of the note.
    unreachable, total : float, optional
        People no facility reaches, and people counted: with both, the note gives their
        share (never rounded onto the rule's side: 1.04 % reads "1.04%", not "1.0%").

    Returns
    -------
    str
        "" unless ``passed`` is False while ``value`` is on the goal's passing side (the
        verdict also requires at most ``max_unreachable_share`` of the people unreachable),
        e.g. "meets the goal, but fails: 1.5% of the people cannot reach any facility
        (rule: at most 1%)".
    """
    if passed is None or (isinstance(passed, float) and math.isnan(passed)) or bool(passed):
        return ""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return ""
    meets = v <= target.goal if target.metric == "mean_time" else v >= target.goal
    if not meets:
        return ""
    rule = getattr(target, "max_unreachable_share", 0.01)
    limit = f"{_goal_number(rule, 100)}%"
    try:
        share = float(unreachable) / float(total)
    except (TypeError, ValueError, ZeroDivisionError):
        share = math.nan
    if not math.isfinite(share):
        return (f"达到目标值，但不可达人口超过 {limit}，判为未达标" if lang == "zh"
                else f"meets the goal, but fails: more than {limit} of the people cannot reach any facility")
    shown = f"{_beside_goal(share, rule, False, 100, 1)}%"
    return (f"达到目标值，但不可达人口 {shown} 超过上限 {limit}，判为未达标" if lang == "zh"
            else f"meets the goal, but fails: {shown} of the people cannot reach any facility (rule: at most {limit})")


def verdict_text(passed: Any, lang: str) -> str:
    t = WORDS[lang]
    if passed is None or (isinstance(passed, float) and math.isnan(passed)):
        return t["nodata"]
    return t["passed"] if bool(passed) else t["failed"]


def verdict_colour(passed: Any) -> str:
    if passed is None or (isinstance(passed, float) and math.isnan(passed)):
        return NODATA_COLOUR
    return PASS_COLOUR if bool(passed) else FAIL_COLOUR
