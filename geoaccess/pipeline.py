"""Run a scenario end to end: load → network & demand → travel times → targets → outputs.

:func:`run_scenario` is what ``geoaccess run`` and ``geoaccess demo`` call, and what a
notebook calls too. Each travel mode is compiled once, demand is snapped once per mode,
and every target costs one multi-source search per mode it uses.
"""

from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from .admin import admin_from_file, assign_units, unit_of
from .gaps import target_gaps, write_target_gaps
from .demand import population_from_file
from .errors import InputError, check_choice, check_positive
from .facilities import facilities_from_file, type_warnings
from .io import (VECTOR_SUFFIXES, OutputSet, check_input_file, check_output_dir, csv_safe, safe_folder_name,
                 write_atomic, write_json, write_with)
from .isochrones import isochrones
from .network import RoadNetwork, graph_from_bbox, graph_from_place, load_speeds, network_from_file, network_from_graph
from .roadclasses import check_classes
from .routing import ModeGraph, Placement, compile_mode, nearest_facility, od_matrix, place_points
from .scenario import Scenario
from .snapping import Snapped
from .results import RunResult, summary_dict
from .speedlimits import RoadDataWarning
from .targets import Evaluation, Target, evaluate_ratio, evaluate_target, population_mask, select_facilities

Progress = Callable[[str], None]


def load_network(scenario: Scenario, warnings: list[str] | None = None) -> RoadNetwork:
    """The scenario's road network: a local file, or an OSM download by place or bbox.

    Roads files are read with the ``[network]`` class/oneway/maxspeed columns and
    ``[network.classes]``. What the reading warns about (:class:`RoadDataWarning`:
    unmapped classes, unreadable limits) is appended to ``warnings`` when given, for the
    CLI and summary.json; otherwise it is issued as a Python warning.
    """
    net = scenario.network
    crs = scenario.scenario.get("crs")
    if net["source"]:
        options = {}
        if net["source"].lower().endswith(VECTOR_SUFFIXES):
            options = {"class_column": net["class"], "oneway_column": net["oneway"],
                       "maxspeed_column": net["maxspeed"], "classes": check_classes(net["classes"], net["speeds"]),
                       "design_speed": net["design_speed"]}
        if warnings is None:
            return network_from_file(net["source"], crs=crs, **options)
        with _warnings.catch_warnings(record=True) as caught:
            _warnings.simplefilter("always", RoadDataWarning)
            network = network_from_file(net["source"], crs=crs, **options)
        for w in caught:
            if issubclass(w.category, RoadDataWarning):
                warnings.append(str(w.message))
            else:  # not ours: pass it on as it came
                _warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return network
    graph = graph_from_place(net["place"]) if net["place"] else graph_from_bbox(tuple(net["bbox"]))
    return network_from_graph(graph, crs=crs)


@dataclass
class Inputs:
    """A scenario's inputs, read and checked, in the network's projected CRS.

    ``demand`` and ``facilities`` carry ``unit`` (admin unit name or None); ``demand``
    also ``urban`` (bool). ``warnings`` are the loading stage's warnings, in order.
    """

    scenario: Scenario
    network: RoadNetwork
    facilities: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    units: gpd.GeoDataFrame | None
    warnings: list[str] = field(default_factory=list)
    far_demand: np.ndarray | None = None  # demand points beyond the snapping cap of the network's extent


def load_inputs(scenario: Scenario, progress: Progress | None = None) -> Inputs:
    """Read and check every input of ``scenario`` (network, facilities, population, admin
    units) without routing: what ``geoaccess check`` shows and what every run starts with.

    Raises
    ------
    InputError
        For any unreadable or inconsistent input, naming the file or key and the fix.
    """
    say = progress or (lambda msg: None)
    warnings: list[str] = []
    say("loading road network")
    network = load_network(scenario, warnings)
    say(f"road network: {network.n_nodes:,} nodes, {network.n_edges:,} road segments ({network.crs.to_string()})")
    f = scenario.facilities
    facilities = facilities_from_file(f["path"], x=f["x"], y=f["y"], type=f["type"], name=f["name"],
                                      capacity=f["capacity"], id=f["id"], crs=f["crs"], sheet=f["sheet"],
                                      layer=f["layer"], encoding=f["encoding"], types=f["types"], code=f["code"],
                                      classify_names=f["classify_names"]).to_crs(network.crs)
    warnings += type_warnings(facilities, {tid: t.facility_types for tid, t in scenario.targets.items()})
    p = scenario.population
    demand = population_from_file(p["path"], pop=p["pop"], x=p["x"], y=p["y"], crs=p["crs"], band=p["band"],
                                  layer=p["layer"]).to_crs(network.crs)
    if len(demand) == 0:
        raise InputError(f"the population file {p['path']} holds no people (every cell or point is 0 or nodata)")
    say(f"facilities: {len(facilities):,}; demand points: {len(demand):,} holding {demand['pop'].sum():,.0f} people")
    _check_overlap(network, demand, facilities)
    speeds = load_speeds(scenario.network["speeds"])
    cap_m = max(speeds[mode].access_max_m for t in scenario.targets.values() for mode in t.modes)
    far_demand = _warn_far_demand(network, demand, cap_m, Path(p["path"]).name, warnings)
    facilities = _drop_far_facilities(network, facilities, cap_m, Path(f["path"]).name, warnings)
    if f["crs"].strip().upper() in ("EPSG:4326", "WGS84", "WGS 84", "EPSG:4490", "CGCS2000"):
        warnings += _check_gcj02(network, facilities)
    a = scenario.admin
    units = (admin_from_file(a["path"], a["name"], a["urban"], a["layer"], a["encoding"], warn_to=warnings)
             if a["path"] else None)
    unit, urban = assign_units(demand, units, a["urban_density"], what=f"admin units file {a['path']}",
                               warn_to=warnings)
    demand["unit"], demand["urban"] = unit, urban
    facilities["unit"] = unit_of(facilities, units)[0] if units is not None else "all"
    return Inputs(scenario, network, facilities, demand, units, warnings, far_demand)


def output_dir(scenario: Scenario, out_dir: str | Path | None = None) -> Path:
    """The output folder of a run: ``out_dir``, else ``[output] dir``, else
    ``maps/<scenario name made safe>/`` (see :func:`geoaccess.io.safe_folder_name`)."""
    return Path(out_dir or scenario.output["dir"] or Path("maps") / safe_folder_name(scenario.name))


class _Engine:
    """Mode graphs and placements, each computed once per run."""

    def __init__(self, network: RoadNetwork, speeds, min_component_nodes: int | None,
                 demand_xy: np.ndarray, facility_xy: np.ndarray, urban_share: float):
        self.network, self.speeds, self.min_nodes = network, speeds, min_component_nodes
        self.demand_xy, self.facility_xy = demand_xy, facility_xy
        self.urban_share = urban_share
        self.graphs: dict[str, ModeGraph] = {}
        self._demand: dict[str, Placement] = {}
        self._facilities: dict[str, Placement] = {}

    def graph(self, mode: str) -> ModeGraph:
        if mode not in self.graphs:
            self.graphs[mode] = compile_mode(self.network, mode, self.speeds, self.min_nodes)
        return self.graphs[mode]

    def demand(self, mode: str) -> Placement:
        if mode not in self._demand:
            self._demand[mode] = self._place(mode, self.demand_xy, self._demand)
        return self._demand[mode]

    def facilities(self, mode: str) -> Placement:
        if mode not in self._facilities:
            self._facilities[mode] = self._place(mode, self.facility_xy, self._facilities)
        return self._facilities[mode]

    def _place(self, mode: str, xy: np.ndarray, done: dict[str, Placement]) -> Placement:
        graph = self.graph(mode)
        for other, placement in done.items():
            if self.graphs[other].snap_key() == graph.snap_key():  # same roads: same snapping
                return place_points(graph, xy, Snapped(placement.edge, placement.fraction, placement.distance_m))
        return place_points(graph, xy)


def run_scenario(scenario: Scenario, out_dir: str | Path | None = None, progress: Progress | None = None,
                 write: bool = True, lang: str | None = None, self_contained: bool | None = None,
                 basemap: str | None = None, carry: tuple[str, ...] = ()) -> RunResult:
    """Evaluate every target of ``scenario``, find its gaps and isochrones, and (with
    ``write``) write the outputs.

    Outputs under ``out_dir`` (default ``[output] dir``, else ``maps/<scenario name>/``):
    ``summary.json``, ``units.csv``, ``demand_times.gpkg``, ``gaps.csv``/``gaps.geojson``,
    ``map.html`` and ``report.html``, written as one set (see :func:`write_outputs`); the
    output folder is checked before anything is computed. ``lang``, ``self_contained`` and
    ``basemap`` override the scenario's ``[map]`` settings; ``carry`` names entries of the
    output folder to keep (see :class:`geoaccess.io.OutputSet`).

    Raises
    ------
    InputError
        Bad input, or an output folder that cannot be written or holds foreign files.
    """
    say = progress or (lambda msg: None)
    out = output_dir(scenario, out_dir) if write else None
    if out is not None:
        check_output_dir(out, carry)  # before the minutes of computing, not after
    inputs = load_inputs(scenario, say)
    network, facilities, demand, units = inputs.network, inputs.facilities, inputs.demand, inputs.units
    warnings = list(inputs.warnings)
    far_demand = inputs.far_demand
    urban = demand["urban"].to_numpy(bool)
    speeds = load_speeds(scenario.network["speeds"])
    fac_xy = np.column_stack([facilities.geometry.x, facilities.geometry.y])
    dem_xy = np.column_stack([demand.geometry.x, demand.geometry.y])
    pop = demand["pop"].to_numpy(float)
    engine = _Engine(network, speeds, scenario.network["min_component_nodes"], dem_xy, fac_xy,
                     urban_share=float(pop[urban].sum() / pop.sum()))
    evaluations = []
    for target in scenario.targets.values():
        say(f"target {target.id}: {target.name_en}")
        evaluations.append(_evaluate(target, engine, facilities, demand, warnings,
                                     units["unit"].tolist() if units is not None else None))
    for mode, placement in engine._facilities.items():
        off = ~placement.on_network
        if off.any():
            names = ", ".join(f"{n} ({d:,.0f} m)" for n, d in zip(facilities.loc[off, "name"].astype(str)[:5],
                                                                    placement.distance_m[off][:5]))
            warnings.append(f"{off.sum()} facilit{'y is' if off.sum() == 1 else 'ies are'} farther than "
                            f"{engine.graph(mode).speeds.access_max_m:,.0f} m from any {mode} road and cannot "
                            f"be reached in that mode: {names}. Check their coordinates (GCJ-02 given as WGS84?) "
                            "or the road network's extent.")
    for mode, placement in engine._demand.items():
        off_pop = demand["pop"].to_numpy()[~placement.on_network].sum()
        if off_pop > 0:
            warnings.append(f"{off_pop:,.0f} people live farther than "
                            f"{engine.graph(mode).speeds.access_max_m:,.0f} m from any {mode} road: counted as "
                            "unreachable in targets using that mode")
    result = RunResult(scenario, network, facilities, demand, units, evaluations, engine.graphs, warnings=warnings,
                       engine=engine)
    for e in evaluations:
        if e.target.metric == "per_1000":
            continue
        say(f"gaps and isochrones: {e.target.id}")
        result.gaps[e.target.id] = target_gaps(e.target, demand[~far_demand], facilities, units is not None)
        result.isochrones[e.target.id] = target_isochrones(e.target, engine, select_facilities(e.target, facilities), demand)
    if out is not None:
        result.files = write_outputs(result, out, lang=lang or scenario.map["lang"], progress=say,
                                     self_contained=self_contained, basemap=basemap, carry=carry)
    return result


def run(scenario: str | Path | Scenario, out_dir: str | Path | None = None, *, write: bool = False,
        progress: Progress | None = None, lang: str | None = None) -> RunResult:
    """Evaluate a scenario: the one call a notebook needs (``ga.run("county.toml")``).

    Parameters
    ----------
    scenario : str, Path or Scenario
        A scenario TOML file (relative paths in it resolve against its folder) or a
        :class:`~geoaccess.scenario.Scenario`.
    out_dir : str or Path, optional
        Where to write the outputs when ``write`` is true (default the scenario's
        ``[output] dir``, else ``maps/<scenario name>/``).
    write : bool, default False
        Also write the output set (map, report, tables) as ``geoaccess run`` does.
    progress : callable, optional
        Called with a short message as each stage starts.
    lang : {"zh", "en"}, optional
        Language of the written map and report (default the scenario's ``[map] lang``).

    Returns
    -------
    RunResult
        ``.summary`` (one row per target), ``.evaluations`` (per-unit tables),
        ``.demand`` (minutes per demand point and target), ``.gaps``, ``.isochrones``.

    Raises
    ------
    InputError
        Bad input, naming the file, key or row and the fix.
    """
    from .scenario import load_scenario

    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    return run_scenario(scenario, out_dir, progress=progress, write=write, lang=lang)


# Map bands: a 25 m raster; places join their nearest road up to the mode's access cap, as homes do.


def target_isochrones(target: Target, engine: _Engine, chosen: np.ndarray, demand: gpd.GeoDataFrame | None = None,
                      simplify_m: float | None = 10.0) -> gpd.GeoDataFrame:
    """Travel-time bands of a target (at T/3, 2T/3 and T minutes) for the map, in the target's
    urban mode (rural when mostly rural) and direction, the dispatch delay taken off. With the
    run's ``demand`` (``<id>_min``, ``urban``), the cell of a home travelling by that mode shows
    its own time's band (town walkers of a drive map: their times are in the demand layer).
    """
    mode = target.mode_for(engine.urban_share >= 0.5)
    t, delay = target.threshold_min, target.dispatch_delay_min
    limits = [x - delay for x in (t / 3, 2 * t / 3, t) if x - delay > 0]
    graph = engine.graph(mode)
    uses = travels_by(target, mode, demand["urban"].to_numpy(bool)) if demand is not None else None
    bands = isochrones(graph, engine.facilities(mode).subset(chosen), limits, target.direction, method="raster",
                       buffer_cap_m=graph.speeds.access_max_m, simplify_m=simplify_m,
                       access="nearest", points=None if demand is None else (
                           engine.demand_xy[uses], demand[f"{target.id}_min"].to_numpy()[uses]))
    bands[["min_minutes", "max_minutes"]] += delay
    bands["band"] = [f"{lo:g}–{hi:g}" for lo, hi in zip(bands["min_minutes"], bands["max_minutes"])]
    bands["mode"] = mode
    return bands


def _check_overlap(network: RoadNetwork, demand: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame) -> None:
    """Refuse inputs that do not overlap the road network at all (wrong CRS, wrong area)."""
    xmin, ymin = network.node_xy.min(axis=0) - 5000
    xmax, ymax = network.node_xy.max(axis=0) + 5000
    for what, gdf in (("population", demand), ("facilities", facilities)):
        x, y = gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()
        inside = (x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax)
        if len(gdf) and not inside.any():
            raise InputError(f"none of the {what} lie within 5 km of the road network's extent: check the "
                             f"{what} file's CRS / coordinate columns and that both files cover the same area")


def _far_from_network(network: RoadNetwork, gdf: gpd.GeoDataFrame, cap_m: float) -> np.ndarray:
    """Points farther than ``cap_m`` outside the network's bounding box (or not finite).

    No road can be within the snapping cap of them, so they can never be placed; finding
    them before routing keeps one stray point (a failed geocode at 0,0, swapped lon/lat)
    from stretching every grid and search across the globe.
    """
    (xmin, ymin), (xmax, ymax) = network.node_xy.min(axis=0) - cap_m, network.node_xy.max(axis=0) + cap_m
    x, y = gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()
    return ~((x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax))


_FAR_HINT = "Lon/lat swapped? A failed geocode at (0, 0)? A point from another county?"


def _lonlat(gdf: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    wgs = gdf.geometry.to_crs("EPSG:4326")
    return wgs.x.to_numpy(), wgs.y.to_numpy()


def _warn_far_demand(network: RoadNetwork, demand: gpd.GeoDataFrame, cap_m: float, file: str,
                     warnings: list[str]) -> np.ndarray:
    """Name demand points no road can reach, with their coordinates and people; return their mask.

    They stay in the run as unreachable people (never dropped: the totals keep them) but
    are left out of the gap clusters, whose grid would otherwise stretch to them; a far
    outlier is usually a coordinate error the planner must see by row.
    """
    far = _far_from_network(network, demand, cap_m)
    if not far.any():
        return far
    bad = demand[far]
    lon, lat = _lonlat(bad.iloc[:5])
    if {"row", "col"} <= set(bad.columns):  # raster cells
        where = [f"cell row {r}, col {c}" for r, c in zip(bad["row"], bad["col"])]
    else:
        where = [f"row {i} (0-based; line {i + 2} of a CSV)" for i in bad["demand_id"]]
    listed = "; ".join(f"{w} ({q:,.0f} people) at lon {x:.5f}, lat {y:.5f}"
                       for w, q, x, y in zip(where, bad["pop"], lon, lat))
    warnings.append(f"population file {file}: {far.sum():,} demand point(s) holding {bad['pop'].sum():,.0f} people lie "
                    f"farther than {cap_m:,.0f} m outside the road network's extent and are counted as unreachable (and "
                    f"left out of the gap clusters): "
                    f"{listed}{' …' if far.sum() > 5 else ''}. {_FAR_HINT} Correct their coordinates, or extend the "
                    "road network to cover them.")
    return far


def _drop_far_facilities(network: RoadNetwork, facilities: gpd.GeoDataFrame, cap_m: float, file: str,
                         warnings: list[str]) -> gpd.GeoDataFrame:
    """Leave out facilities no road can reach, named in a warning with their coordinates.

    Such a facility could only count as unreachable, so leaving it out changes no verdict;
    the warning (CLI and summary.json) names it so that its coordinates get fixed.
    """
    far = _far_from_network(network, facilities, cap_m)
    if not far.any():
        return facilities
    bad = facilities[far]
    lon, lat = _lonlat(bad.iloc[:10])
    listed = "; ".join(f"row {i} (0-based) {n} (id {fid}) at lon {x:.5f}, lat {y:.5f}"
                       for i, n, fid, x, y in zip(np.flatnonzero(far), bad["name"].astype(str), bad["facility_id"],
                                                  lon, lat))
    n = int(far.sum())
    warnings.append(f"{n} facilit{'y' if n == 1 else 'ies'} of {file} lie{'s' if n == 1 else ''} farther than "
                    f"{cap_m:,.0f} m outside the road network's extent and cannot be reached in any mode; left out of "
                    f"every target: {listed}{' …' if n > 10 else ''}. {_FAR_HINT} "
                    "Fix the coordinates in the facility file.")
    return facilities[~far].reset_index(drop=True)


def _check_gcj02(network: RoadNetwork, facilities: gpd.GeoDataFrame) -> list[str]:
    """Warn when facilities declared WGS84 may be GCJ-02 (Amap/Tencent) coordinates.

    Amap and Tencent coordinates are GCJ-02, shifted 100–700 m from WGS84 inside China;
    given as WGS84 they land beside the roads they stand on. Facilities normally lie within
    a few tens of metres of a road, so a median distance that drops below half when the
    coordinates are un-shifted is the fingerprint of GCJ-02, and one that more than
    doubles says they are WGS84. Where roads are everywhere (a dense town centre) or
    there are too few facilities in China, neither happens: the test cannot decide, and
    the warning says how to check by hand.
    """
    from .coords import gcj02_to_wgs84, out_of_china
    from .snapping import road_index

    wgs = facilities.to_crs("EPSG:4326")
    lon, lat = wgs.geometry.x.to_numpy(), wgs.geometry.y.to_numpy()
    inside = ~out_of_china(lon, lat)
    check = ("check one facility you know on an OpenStreetMap or Tianditu basemap (WGS84) and on Amap: if the "
             "file's position matches Amap and lies a few hundred metres off on OpenStreetMap, the list is GCJ-02. "
             "If it comes from Amap, Tencent or a Chinese map app, set [facilities] crs = \"GCJ-02\" (Baidu: \"BD-09\").")
    if inside.sum() == 0:
        return []
    if inside.sum() < 3:
        return [f"cannot tell whether the facility coordinates are WGS84 as declared or GCJ-02 (Amap/Tencent): only "
                f"{inside.sum()} facilit{'y lies' if inside.sum() == 1 else 'ies lie'} in China, too few to test. {check}"]
    fixed_lon, fixed_lat = gcj02_to_wgs84(lon[inside], lat[inside])
    fixed = gpd.GeoSeries(gpd.points_from_xy(fixed_lon, fixed_lat), crs="EPSG:4326").to_crs(network.crs)
    roads = road_index(network)
    given = facilities.to_crs(network.crs)
    as_given = roads.query(np.column_stack([given.geometry.x, given.geometry.y])[inside])
    as_gcj = roads.query(np.column_stack([fixed.x, fixed.y]))
    given_m, gcj_m = np.median(as_given.distance_m), np.median(as_gcj.distance_m)
    if given_m > 50 and gcj_m < 0.5 * given_m:
        return [f"facility coordinates look like GCJ-02 (Amap/Tencent), not WGS84: their median distance to a road is "
                f"{given_m:,.0f} m as given but {gcj_m:,.0f} m when read as GCJ-02. If they come from Amap, Tencent "
                "or a Chinese map app, set [facilities] crs = \"GCJ-02\" (Baidu: \"BD-09\")."]
    if gcj_m > 50 and given_m < 0.5 * gcj_m:
        return []  # WGS84: on the roads as given, off them once un-shifted
    shift_m = np.median(np.hypot(given.geometry.x.to_numpy()[inside] - fixed.x.to_numpy(),
                                 given.geometry.y.to_numpy()[inside] - fixed.y.to_numpy()))
    return [f"cannot tell whether the facility coordinates are WGS84 as declared or GCJ-02 (Amap/Tencent): roads are "
            f"so dense around them that their median distance to a road is {given_m:,.0f} m as given and "
            f"{gcj_m:,.0f} m when read as GCJ-02 (a shift of about {shift_m:,.0f} m). {check}"]


def travels_by(target: Target, mode: str, urban: np.ndarray) -> np.ndarray:
    """Which demand points travel by ``mode`` for ``target`` (urban and rural modes may differ)."""
    return np.where(urban, target.mode_for(True) == mode, target.mode_for(False) == mode)


def _nearest_by_mode(target: Target, engine: _Engine, urban: np.ndarray,
                     facilities_for: Callable[[str], Placement]) -> tuple[np.ndarray, np.ndarray]:
    """Minutes to the nearest facility and its index for every demand point, each point
    travelling by its own (urban or rural) mode of ``target``."""
    minutes = np.full(len(urban), np.inf)
    nearest = np.full(len(urban), -1)
    for mode in target.modes:
        uses = travels_by(target, mode, urban)
        if uses.any():
            result = nearest_facility(engine.graph(mode), engine.demand(mode), facilities_for(mode), target.direction)
            minutes[uses] = result.minutes[uses]
            nearest[uses] = result.facility[uses]
    return minutes, nearest


def _evaluate(target: Target, engine: _Engine, facilities: gpd.GeoDataFrame, demand: gpd.GeoDataFrame,
              warnings: list[str], unit_names: list[str] | None = None) -> Evaluation:
    chosen = select_facilities(target, facilities)
    if not chosen.any():
        warnings.append(f"target {target.id}: no facility of type {', '.join(target.facility_types)} in the "
                        "facility file; everybody counts as unreachable")
    pop = demand["pop"].to_numpy(float)
    urban = demand["urban"].to_numpy(bool)
    unit = demand["unit"].to_numpy(object)
    if target.metric == "per_1000":
        mode = target.mode
        if target.capacity not in facilities:
            raise InputError(f"target {target.id}: capacity column {target.capacity!r} is not in the facility table "
                             "(set [facilities] capacity = \"beds\" to map your column to 'capacity')")
        od = od_matrix(engine.graph(mode), engine.demand(mode), engine.facilities(mode).subset(chosen),
                       target.threshold_min, target.direction)
        sub = facilities[chosen]
        return evaluate_ratio(target, pop, urban, unit, sub[target.capacity].to_numpy(float), sub["unit"].to_numpy(), od,
                              unit_names)
    minutes, nearest = _nearest_by_mode(target, engine, urban, lambda mode: engine.facilities(mode).subset(chosen))
    ids = facilities["facility_id"].to_numpy()[chosen]
    demand[f"{target.id}_min"] = minutes
    demand[f"{target.id}_facility"] = np.where(nearest >= 0, ids[np.clip(nearest, 0, None)] if len(ids) else "", "")
    return evaluate_target(target, minutes, pop, urban, unit, unit_names)


SITING_MODELS = ("mclp", "lscp", "pmedian", "pcenter")


def candidate_sites(result: RunResult, target: Target, spacing_m: float = 500.0) -> gpd.GeoDataFrame:
    """Candidate sites for new facilities of ``target``: road nodes usable by the target's
    modes, inside or within ``spacing_m`` of its gap areas (all usable nodes when it has no
    gaps), thinned to one per ``spacing_m`` grid square (the node nearest the square's centre).
    """
    spacing = check_positive("spacing_m", spacing_m)
    engine = result.engine
    edges = result.network.edges
    usable = np.zeros(len(edges), dtype=bool)
    for mode in target.modes:
        usable |= engine.graph(mode).eligible[: len(edges)]  # edges past the source's are routing copies
    nodes = np.unique(np.r_[edges["u"].to_numpy()[usable], edges["v"].to_numpy()[usable]])
    xy = result.network.node_xy[nodes]
    gaps = result.gaps.get(target.id)
    if gaps is not None and len(gaps):
        area = gpd.GeoSeries(gaps["area_geometry"], crs=result.demand.crs).buffer(spacing).union_all()
        inside = shapely.contains_xy(area, xy[:, 0], xy[:, 1])
        if inside.any():
            nodes, xy = nodes[inside], xy[inside]
    cell = np.floor(xy / spacing).astype(np.int64)
    offset = np.hypot(*(xy - (cell + 0.5) * spacing).T)
    order = np.lexsort((nodes, offset, cell[:, 1], cell[:, 0]))
    first = np.r_[True, (np.diff(cell[order], axis=0) != 0).any(axis=1)]
    keep = order[first]
    return gpd.GeoDataFrame({"site_id": [f"C{int(n)}" for n in nodes[keep]], "name": "", "node": nodes[keep]},
                            geometry=gpd.points_from_xy(xy[keep, 0], xy[keep, 1]), crs=result.demand.crs)


def candidates_from_file(path: str | Path, crs: str | Path, x: str = "lon", y: str = "lat", id: str = "id",
                         name: str = "name", source_crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    """Candidate sites from a .csv/.xlsx with ``x``/``y`` columns (ids and names optional)."""
    from .coords import lonlat_points
    from .io import read_table_lines, require_columns

    p = check_input_file(path, "candidate sites file", (".csv", ".xlsx"))
    table, lines = read_table_lines(p, "candidate sites file")
    require_columns(table, "candidate sites file", {"x": x, "y": y})
    if len(table) == 0:
        raise InputError(f"candidate sites file {p.name} has no rows")
    points = lonlat_points(table[x].to_numpy(), table[y].to_numpy(), source_crs, f"candidate sites file {p.name}",
                           lines=lines)
    ids = table[id].astype(str) if id in table else pd.Series([f"S{i + 1}" for i in range(len(table))])
    if ids.duplicated().any():
        raise InputError(f"candidate sites file {p.name} repeats ids: {', '.join(ids[ids.duplicated()].unique()[:5])}")
    names = table[name].astype(str) if name in table else ""
    return gpd.GeoDataFrame({"site_id": ids.to_numpy(), "name": names}, geometry=points.to_numpy(),
                            crs="EPSG:4326").to_crs(crs)


def site_target(result: RunResult, target_id: str, *, n_new: int | None = None, cover_share: float | None = None,
                model: str | None = None, candidates: gpd.GeoDataFrame | None = None, spacing_m: float = 500.0,
                time_limit_s: float = 60.0, progress: bool = False) -> gpd.GeoDataFrame:
    """Propose new facility sites for one target and re-check the target with them.

    ``model``: mclp (the ``n_new`` sites covering most people within the threshold),
    lscp (fewest sites so that ``cover_share`` of people are covered; default the target's
    goal), pmedian (``n_new`` sites minimising mean time) or pcenter (minimising the worst
    time). Default: mclp with ``n_new``, else lscp, for share_within targets; pmedian for
    mean_time. Existing facilities of the target are open and fixed. Candidates default to
    :func:`candidate_sites`. The chosen sites are added to the facilities and the target is
    evaluated again with the exact engine; ``result.sites`` and ``result.siting`` get the
    proposal, the value after and whether the goal is then met.
    """
    from .siting import siting_problem, solve_lscp, solve_mclp, solve_pcenter, solve_pmedian

    if target_id not in result.scenario.targets:
        raise InputError(f"--target {target_id!r} is not a target of this scenario; "
                         f"choose from {', '.join(result.scenario.targets)}")
    target = result.scenario.targets[target_id]
    if target.metric == "per_1000":
        raise InputError(f"target {target_id!r} is a resource ratio (per_1000): siting needs a time target")
    model = model or ("pmedian" if target.metric == "mean_time" else ("mclp" if n_new is not None else "lscp"))
    check_choice("model", model, SITING_MODELS)
    if model in ("mclp", "pmedian", "pcenter") and n_new is None:
        raise InputError(f"model {model} needs the number of new sites (--add N)")
    if model == "lscp" and n_new is not None:
        raise InputError("lscp finds the number of sites itself: give --cover SHARE, not --add")
    engine, demand, facilities = result.engine, result.demand, result.facilities
    cands = candidates if candidates is not None else candidate_sites(result, target, spacing_m)
    if len(cands) == 0:
        raise InputError("no candidate sites: give a candidates file or a smaller spacing")
    chosen = select_facilities(target, facilities)
    existing_ids = facilities["facility_id"].to_numpy()[chosen].astype(str)
    site_ids = np.r_[existing_ids, cands["site_id"].to_numpy().astype(str)]
    site_xy = np.r_[np.column_stack([facilities.geometry.x, facilities.geometry.y])[chosen],
                    np.column_stack([cands.geometry.x, cands.geometry.y])]
    travel_threshold = target.threshold_min - target.dispatch_delay_min
    if travel_threshold <= 0:
        raise InputError(f"target {target_id}: the dispatch delay uses the whole threshold; nothing to site")
    cutoff = travel_threshold if model in ("mclp", "lscp") else 2 * target.threshold_min
    urban = demand["urban"].to_numpy(bool)
    rows, cols, vals = [], [], []
    for mode in target.modes:
        uses = travels_by(target, mode, urban)
        if not uses.any():
            continue
        graph = engine.graph(mode)
        od = od_matrix(graph, engine.demand(mode), place_points(graph, site_xy), cutoff, target.direction,
                       progress=progress).tocoo()
        keep = uses[od.row]
        rows.append(od.row[keep]), cols.append(od.col[keep]), vals.append(od.data[keep])
    od = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                       shape=(len(demand), len(site_ids)))
    weights = demand["pop"].to_numpy(float) * population_mask(target, urban)
    problem = siting_problem(od, weights, site_ids, fixed=existing_ids, cutoff_min=cutoff)
    if model == "mclp":
        solved = solve_mclp(problem, travel_threshold, n_new, time_limit_s=time_limit_s)
    elif model == "lscp":
        solved = solve_lscp(problem, travel_threshold, cover_share=cover_share if cover_share is not None else target.goal,
                            time_limit_s=time_limit_s)
    elif model == "pmedian":
        solved = solve_pmedian(problem, n_new, time_limit_s=time_limit_s)
    else:
        solved = solve_pcenter(problem, n_new, time_limit_s=time_limit_s)
    picked = solved.sites.copy()
    by_id = cands.set_index("site_id")
    sites = gpd.GeoDataFrame(picked[["rank", "site_id", "gain", "cumulative"]],
                             geometry=by_id.loc[picked["site_id"]].geometry.to_numpy(), crs=demand.crs)
    sites["name"] = by_id.loc[picked["site_id"], "name"].to_numpy()
    after = _evaluate_with_sites(result, target, chosen, sites)
    before = next(e for e in result.evaluations if e.target.id == target_id)
    result.sites[target_id] = sites
    result.siting[target_id] = {
        "model": model, "status": solved.status, "mip_gap": solved.mip_gap, "objective": solved.objective,
        "solve_seconds": solved.solve_seconds, "n_candidates": int(len(cands)), "n_new": int(len(sites)),
        "value_before": before.value, "value_after": after.value, "goal": target.goal,
        "passed_before": before.passed, "passed_after": after.passed, "notes": list(solved.notes),
    }
    return sites


def _evaluate_with_sites(result: RunResult, target: Target, chosen: np.ndarray, sites: gpd.GeoDataFrame) -> Evaluation:
    """The target evaluated exactly with the proposed sites added to its facilities."""
    engine, demand = result.engine, result.demand
    xy = np.r_[np.column_stack([result.facilities.geometry.x, result.facilities.geometry.y])[chosen],
               np.column_stack([sites.geometry.x, sites.geometry.y])]
    urban = demand["urban"].to_numpy(bool)
    minutes, _ = _nearest_by_mode(target, engine, urban, lambda mode: place_points(engine.graph(mode), xy))
    return evaluate_target(target, minutes, demand["pop"].to_numpy(float), urban, demand["unit"].to_numpy(object),
                           result.units["unit"].tolist() if result.units is not None else None)


def write_outputs(result: RunResult, out: Path, lang: str = "zh", progress: Progress | None = None,
                  self_contained: bool | None = None, basemap: str | None = None,
                  carry: tuple[str, ...] = ()) -> dict[str, Path]:
    """Write the run's output set into the folder ``out``, replacing the previous set whole.

    The set (summary.json, units.csv, demand_times.gpkg, gaps.csv/.geojson, sites.csv when
    sited, map.html, report.html and the manifest ``geoaccess-run.json``) is written into
    a staging folder beside ``out`` and swapped in with two renames, so ``out`` holds the old
    set or the new one at every instant, and files of an earlier run (an old sites.csv) do
    not survive. ``out`` must hold only files geoaccess wrote; ``carry`` names entries kept.

    Returns
    -------
    dict
        File key → final path under ``out``.

    Raises
    ------
    InputError
        ``out`` cannot be written or holds files geoaccess did not write.
    """
    with OutputSet(out, carry) as staged:
        result.warnings.extend(staged.notes)
        files = _write_files(result, staged.dir, lang, progress, self_contained, basemap)
        staged.commit(result.scenario.name)
    return {key: Path(out) / path.name for key, path in files.items()}  # as the user named the folder


def _write_files(result: RunResult, out: Path, lang: str, progress: Progress | None, self_contained: bool | None,
                 basemap: str | None) -> dict[str, Path]:
    from .maps import write_map
    from .report import write_report

    say = progress or (lambda msg: None)
    files = _write_tables(result, out)
    say("writing the web map and the report")
    files["map"] = write_map(result, out / "map.html", lang=lang, self_contained=self_contained, basemap=basemap)
    files["report"] = write_report(result, out / "report.html", lang=lang, map_path=files["map"])
    return files


def _write_tables(result: RunResult, out: Path) -> dict[str, Path]:
    """The run's tables (summary, units, demand times, gaps, sites) into ``out``."""
    files = {"summary": write_json(out / "summary.json", summary_dict(result))}
    rows = []
    for e in result.evaluations:
        for row in e.units.to_dict(orient="records"):
            rows.append({"target": e.target.id, **row})
    with write_atomic(out / "units.csv", encoding="utf-8-sig") as fh:  # BOM: Excel opens Chinese names right
        csv_safe(pd.DataFrame(rows)).to_csv(fh, index=False)
    files["units"] = out / "units.csv"
    times = result.demand.to_crs("EPSG:4326")
    for col in [c for c in times.columns if c.endswith("_min")]:
        times[col] = times[col].replace(np.inf, np.nan)  # GeoPackage has no inf: NaN = unreachable
    # One Arrow batch and no R-tree (GIS software builds one when asked): a third of the time.
    files["demand_times"] = write_with(out / "demand_times.gpkg", lambda tmp: times.to_file(
        tmp, layer="demand_times", driver="GPKG", use_arrow=True, layer_options={"SPATIAL_INDEX": "NO"}))
    if result.gaps:
        files["gaps"], files["gaps_geojson"] = write_target_gaps(result.gaps, out)
    if result.sites:
        files["sites"] = write_sites(result.sites, out / "sites.csv")
    return files


def write_sites(sites: dict[str, gpd.GeoDataFrame], path: Path) -> Path:
    """Proposed sites of every sited target as one CSV (lon/lat in WGS84), atomically."""
    frames = []
    for tid, frame in sites.items():
        wgs = frame.to_crs("EPSG:4326")
        table = pd.DataFrame(wgs.drop(columns=wgs.geometry.name))
        table.insert(0, "target", tid)
        table["lon"], table["lat"] = wgs.geometry.x.round(7), wgs.geometry.y.round(7)
        frames.append(table)
    with write_atomic(path, encoding="utf-8-sig") as fh:
        csv_safe(pd.concat(frames, ignore_index=True)).to_csv(fh, index=False)
    return path
