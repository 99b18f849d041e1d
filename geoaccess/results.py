"""What a run computed, and how its numbers are worded — shared by maps, report and CLI.

This module sits between the computing stages (targets, gaps, siting) and the outputs
(maps, report, CLI), so that every output words a value, a goal and a verdict the same way
and no output module imports the orchestration (``pipeline``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from .errors import InputError
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
        "targets": [e.to_dict() for e in result.evaluations],
        "warnings": result.warnings,
        "siting": result.siting,
        "attribution": "© OpenStreetMap contributors (ODbL)",
    }


def check_lang(lang: str) -> str:
    if lang not in WORDS:
        raise InputError(f"language must be 'zh' or 'en', got {lang!r}")
    return lang


def target_name(target: "Target", lang: str) -> str:
    return target.name_zh if lang == "zh" else target.name_en


def value_text(value: Any, target: "Target", lang: str) -> str:
    """A target's (or a unit's) value as a planner reads it, in ``lang``."""
    t = WORDS[lang]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return t["nodata"]
    v = float(value)
    if target.metric == "share_within":
        return f"{v:.1%}"
    if target.metric == "mean_time":
        return t["unreachable"] if math.isinf(v) else f"{v:.1f} {t['min']}"
    return f"{v:.2f} /{'千人' if lang == 'zh' else '1000'}"


def goal_text(target: "Target", lang: str) -> str:
    """The target's goal, e.g. ``≥ 90%（15分钟内）`` / ``≥ 90% within 15 min``."""
    t = WORDS[lang]
    if target.metric == "share_within":
        if lang == "zh":
            return f"≥ {target.goal:.0%}（{target.threshold_min:g}分钟内）"
        return f"≥ {target.goal:.0%} within {target.threshold_min:g} min"
    if target.metric == "mean_time":
        return f"≤ {target.goal:g} {t['min']}"
    return f"≥ {target.goal:g} /{'千人' if lang == 'zh' else '1000'}"


def verdict_text(passed: Any, lang: str) -> str:
    t = WORDS[lang]
    if passed is None or (isinstance(passed, float) and math.isnan(passed)):
        return t["nodata"]
    return t["passed"] if bool(passed) else t["failed"]


def verdict_colour(passed: Any) -> str:
    if passed is None or (isinstance(passed, float) and math.isnan(passed)):
        return NODATA_COLOUR
    return PASS_COLOUR if bool(passed) else FAIL_COLOUR
