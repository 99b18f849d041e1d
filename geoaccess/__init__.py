"""geoaccess: health-facility accessibility planning on road networks.

The public API, re-exported here so a notebook writes ``import geoaccess as ga`` and
``res = ga.run("county.toml"); res.summary`` without knowing the module layout. Names are
imported on first use (PEP 562), so ``geoaccess --help`` starts without loading osmnx,
folium or HiGHS.

Stages, each a module that imports only from the ones before it (``docs/architecture.md``):
load (``network``, ``facilities``, ``demand``, ``admin``) → ``snapping`` / ``routing``
(travel times, OD matrices) → ``isochrones`` → ``targets`` → ``gaps`` / ``siting`` →
``results`` → ``maps`` / ``report`` → ``pipeline`` (a scenario end to end) → ``cli``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# public name -> module that defines it ("module:name" where the public name differs)
_API = {
    # scenario and whole runs
    "Scenario": "scenario", "load_scenario": "scenario", "scenario_from_dict": "scenario",
    "run": "pipeline", "load_inputs": "pipeline", "write_outputs": "pipeline",
    "candidate_sites": "candidates", "candidates_from_file": "candidates", "upgrade_candidates": "candidates",
    "site": "proposals:site_target", "site_curve": "curve", "plot_curve": "curve",
    "compare": "comparison", "write_comparison": "comparison", "generate_county": "synthetic",
    "RunResult": "results", "summary_dict": "results",
    # road networks
    "RoadNetwork": "network", "network_from_file": "network", "network_from_osm": "network",
    "network_from_graph": "network", "graph_from_place": "network", "graph_from_bbox": "network",
    "load_speeds": "network",
    # facilities, population, admin units
    "facilities_from_file": "facilities", "facilities_from_osm": "facilities",
    "classify_facilities": "facilities", "population_from_file": "demand",
    "population_from_raster": "demand", "admin_from_file": "admin", "assign_units": "admin",
    "wgs84_to_gcj02": "coords", "gcj02_to_wgs84": "coords", "bd09_to_wgs84": "coords",
    "wgs84_to_bd09": "coords",
    # travel times
    "ModeGraph": "routing", "compile_mode": "routing", "place_points": "routing",
    "nearest_facility": "routing", "od_matrix": "routing", "edge_piece_times": "routing",
    "compute_isochrones": "isochrones:isochrones",  # not "isochrones": that name is the submodule
    # targets, gaps, siting
    "Target": "targets", "Evaluation": "targets", "load_targets": "targets",
    "evaluate_target": "targets", "find_gaps": "gaps",
    "siting_problem": "siting", "siting_problem_from_cost_matrix": "siting", "solve_mclp": "siting",
    "solve_lscp": "siting", "solve_pmedian": "siting", "solve_pcenter": "siting",
    # outputs
    "map_from_result": "maps", "write_map": "maps", "write_report": "report",
    "InputError": "errors", "data_path": "_paths",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    where = _API.get(name)
    if where is None:
        raise AttributeError(f"module 'geoaccess' has no attribute {name!r}")
    module, _, attr = where.partition(":")
    value = getattr(importlib.import_module(f".{module}", __name__), attr or name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))


if TYPE_CHECKING:  # for type checkers and IDEs; at run time names load lazily above
    from .admin import admin_from_file, assign_units  # noqa: F401
    from .coords import bd09_to_wgs84, gcj02_to_wgs84, wgs84_to_bd09, wgs84_to_gcj02  # noqa: F401
    from .demand import population_from_file, population_from_raster  # noqa: F401
    from ._paths import data_path  # noqa: F401
    from .errors import InputError  # noqa: F401
    from .facilities import classify_facilities, facilities_from_file, facilities_from_osm  # noqa: F401
    from .gaps import find_gaps  # noqa: F401
    from .isochrones import isochrones as compute_isochrones  # noqa: F401
    from .maps import map_from_result, write_map  # noqa: F401
    from .network import (RoadNetwork, graph_from_bbox, graph_from_place, load_speeds,  # noqa: F401
                          network_from_file, network_from_graph, network_from_osm)
    from .candidates import candidate_sites, candidates_from_file, upgrade_candidates  # noqa: F401
    from .comparison import compare, write_comparison  # noqa: F401
    from .synthetic import generate_county  # noqa: F401
    from .curve import plot_curve, site_curve  # noqa: F401
    from .pipeline import load_inputs, run, write_outputs  # noqa: F401
    from .proposals import site_target as site  # noqa: F401
    from .report import write_report  # noqa: F401
    from .results import RunResult, summary_dict  # noqa: F401
    from .routing import ModeGraph, compile_mode, edge_piece_times, nearest_facility, od_matrix, place_points  # noqa: F401
    from .scenario import Scenario, load_scenario, scenario_from_dict  # noqa: F401
    from .siting import (siting_problem, siting_problem_from_cost_matrix, solve_lscp, solve_mclp,  # noqa: F401
                         solve_pcenter, solve_pmedian)
    from .targets import Evaluation, Target, evaluate_target, load_targets  # noqa: F401
