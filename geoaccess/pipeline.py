"""Run a scenario end to end: load → network & demand → travel times → targets → outputs.

:func:`run_scenario` is what ``geoaccess run`` and ``geoaccess demo`` call, and what a
notebook calls too. Each travel mode is compiled once, demand is snapped once per mode,
and every target costs one multi-source search per mode it uses.
"""

from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import Transformer

from .admin import admin_from_file, assign_units, unit_of
from .coords import NotLonLatError, check_analysis_crs
from .candidates import candidate_sites, candidates_from_file, facilities_with_sites  # noqa: F401  (public API, moved)
from .gaps import target_gaps
from .demand import population_from_file
from .errors import InputError
from .facilities import facilities_from_file, type_warnings
from .io import VECTOR_SUFFIXES, file_crs_name
from .inputchecks import _check_gcj02, _check_overlap, _drop_far_facilities, _warn_far_demand
from .isochrones import ISOCHRONE_SIMPLIFY_M, isochrones
from .outputset import check_output_dir, safe_folder_name
from .points import point_xy
from .outputfiles import _write_tables, write_outputs  # noqa: F401  (moved; bench_run.py times _write_tables)
from .proposals import SITING_MODELS, _evaluate_with_sites, _nearest_by_mode, site_target, travels_by  # noqa: F401
from .network import RoadNetwork, graph_from_bbox, graph_from_place, load_speeds, network_from_file, network_from_graph
from .roadclasses import check_classes
from .routing import ModeGraph, Placement, compile_mode, od_matrix, place_points
from .scenario import Scenario
from .grids import kdtree_workers
from .snapping import Snapped, query_views, road_index_soon
from .results import RunResult
from .speedlimits import RoadDataWarning
from .targets import Evaluation, Target, as_objects, evaluate_ratio, evaluate_target, labels_at, select_facilities

Progress = Callable[[str], None]


def load_network(scenario: Scenario, warnings: list[str] | None = None) -> RoadNetwork:
    """The scenario's road network: a local file, or an OSM download by place or bbox.

    Roads files are read with the ``[network]`` class/oneway/maxspeed columns and
    ``[network.classes]``. What the reading warns about (:class:`RoadDataWarning`:
    unmapped classes, unreadable limits) is appended to ``warnings`` when given, for the
    CLI and summary.json; otherwise it is issued as a Python warning.

    Raises
    ------
    InputError
        An unreadable roads file; a ``[scenario] crs`` whose scale error over the roads'
        extent exceeds :data:`geoaccess.coords.MAX_SCALE_ERROR` (1 %); roads whose
        coordinates are no lon/lat (named with the source and the fix).
    """
    net = scenario.network
    crs = scenario.scenario.get("crs")
    try:
        network = _read_network(net, crs, warnings)
    except NotLonLatError as e:  # utm_crs_for's words are internal: say which file and what to do
        source = net["source"] or "the downloaded OSM roads"
        raise InputError(f"{source}: the roads' centre is no longitude/latitude ({e.lon:.6g}, {e.lat:.6g}), so "
                         "the file's coordinates do not match its CRS. Give the file its true CRS (.prj, or a "
                         "GeoPackage saved with it), or save it in EPSG:4326") from None
    if crs is not None:  # the user's CRS must hold the roads' extent without distorting it
        lon, lat = Transformer.from_crs(network.crs, "EPSG:4326", always_xy=True).transform(*network.node_xy.T)
        check_analysis_crs(crs, (float(np.min(lon)), float(np.max(lon))), (float(np.min(lat)), float(np.max(lat))))
    return network


def _read_network(net: dict[str, Any], crs: str | None, warnings: list[str] | None) -> RoadNetwork:
    """:func:`load_network`'s reading: the file (its warnings to ``warnings``) or the download."""
    if net["source"]:
        options = {}
        if net["source"].lower().endswith(VECTOR_SUFFIXES):
            options = {"class_column": net["class"], "oneway_column": net["oneway"],
                       "maxspeed_column": net["maxspeed"], "classes": check_classes(net["classes"], net["speeds"]),
                       "design_speed": net["design_speed"], "layer": net["layer"]}
        elif net["layer"]:
            options = {"layer": net["layer"]}  # refused by network_from_file, naming the key
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


def load_inputs(scenario: Scenario, progress: Progress | None = None, search_demand: bool = True) -> Inputs:
    """Read and check every input of ``scenario`` (network, facilities, population, admin
    units) without routing: what ``geoaccess check`` shows and what every run starts with.
    With ``search_demand`` (a run; not ``check``), the demand's nearest roads are searched on
    background threads from here on (:meth:`~geoaccess.snapping.SegmentIndex.search_soon`).

    Raises
    ------
    InputError
        Any unreadable or inconsistent input (or ``GEOACCESS_KDTREE_WORKERS``), naming the file or key and the fix.
    """
    say = progress or (lambda msg: None)
    workers = kdtree_workers()  # a bad GEOACCESS_KDTREE_WORKERS is said here, with the inputs, not after loading them
    warnings: list[str] = []
    say("loading road network")
    network = load_network(scenario, warnings)
    say(f"road network: {network.n_nodes:,} nodes, {network.n_edges:,} road segments ({network.crs.to_string()})")
    f = scenario.facilities
    wgs84 = f["crs"].strip().upper() in ("EPSG:4326", "WGS84", "WGS 84", "EPSG:4490", "CGCS2000")
    # The road index's k-d tree is built on a thread while facilities and people are read.
    roads = road_index_soon(network, workers) if wgs84 or search_demand else None
    facilities = facilities_from_file(f["path"], x=f["x"], y=f["y"], type=f["type"], name=f["name"],
                                      capacity=f["capacity"], id=f["id"], crs=f["crs"], sheet=f["sheet"],
                                      layer=f["layer"], encoding=f["encoding"], types=f["types"], code=f["code"],
                                      classify_names=f["classify_names"]).to_crs(network.crs)
    warnings += type_warnings(facilities, {tid: t.facility_types for tid, t in scenario.targets.items()})
    p = scenario.population
    demand = population_from_file(p["path"], pop=p["pop"], x=p["x"], y=p["y"], crs=p["crs"], band=p["band"],
                                  layer=p["layer"], to_crs=network.crs)
    if len(demand) == 0:
        raise InputError(f"the population file {p['path']} holds no people (every cell or point is 0 or nodata)")
    if roads is not None and search_demand:  # the engine's demand_xy: the same points
        roads.search_soon(np.column_stack(point_xy(demand)), workers)
    say(f"facilities: {len(facilities):,}; demand points: {len(demand):,} holding {demand['pop'].sum():,.0f} people")
    roads_file = scenario.network["source"]
    _check_overlap(network, demand, facilities, files=lambda: {  # files reopened for their CRS only if they miss
        "roads": (Path(roads_file).name, file_crs_name(roads_file, scenario.network["layer"]))
        if roads_file else ("OpenStreetMap download", "EPSG:4326"),
        "population": (Path(p["path"]).name, file_crs_name(p["path"], p["layer"], p["crs"])),
        "facilities": (Path(f["path"]).name, file_crs_name(f["path"], f["layer"], f["crs"]))})
    speeds = load_speeds(scenario.network["speeds"])
    cap_m = max(speeds[mode].access_max_m for t in scenario.targets.values() for mode in t.modes)
    far_demand = _warn_far_demand(network, demand, cap_m, Path(p["path"]).name, warnings)
    facilities = _drop_far_facilities(network, facilities, cap_m, Path(f["path"]).name, warnings)
    if wgs84:
        warnings += _check_gcj02(network, facilities)
    a = scenario.admin
    units = admin_from_file(a["path"], a["name"], a["urban"], a["layer"], a["encoding"], warn_to=warnings) if a["path"] else None
    unit, urban = assign_units(demand, units, a["urban_density"], what=f"admin units file {a['path']}",
                               warn_to=warnings)
    demand["unit"], demand["urban"] = unit, urban
    facilities["unit"] = unit_of(facilities, units)[0] if units is not None else "all"
    return Inputs(scenario, network, facilities, demand, units, warnings, far_demand)


def describe_inputs(inputs: Inputs, out: Path) -> list[str]:
    """What ``geoaccess check`` prints about loaded inputs: roads kept and dropped, facilities
    per kind, people, townships, CRS decisions, targets and the output folder (lines of text)."""
    from .network import report_lines

    net, fac, demand, units = inputs.network, inputs.facilities, inputs.demand, inputs.units
    sc = inputs.scenario
    edges = net.edges
    km = edges["length_m"].to_numpy(float).sum() / 1000
    by_class = (edges.groupby(edges["highway"].astype(str))["length_m"].sum() / 1000).sort_values(ascending=False)
    oneway_km = edges.loc[edges["oneway"].astype(bool), "length_m"].sum() / 1000
    lines = [f"scenario: {sc.name}",
             f"road network: {net.n_nodes:,} nodes, {net.n_edges:,} road segments, {km:,.1f} km; "
             f"one-way {oneway_km / km:.0%} of km" if km > 0 else
             f"road network: {net.n_nodes:,} nodes, {net.n_edges:,} road segments, 0 km",
             "  km per highway class: " + ", ".join(f"{k} {v:,.1f}" for k, v in by_class.items()),
             *report_lines(net.report)]
    kinds = fac["kind"].astype(str).value_counts()
    lines.append(f"facilities: {len(fac):,} (" + ", ".join(f"{k} {n}" for k, n in kinds.items()) + ")")
    other = fac.loc[fac["kind"].astype(str) == "other", "type"].astype(str).value_counts()
    if len(other):
        lines.append("  types not in the vocabulary, counted as 'other' (see geoaccess targets): "
                     + ", ".join(f"{k} ({n})" for k, n in other.items()))
    pop = demand["pop"].to_numpy(float)
    urban = demand["urban"].to_numpy(bool)
    lines.append(f"population: {pop.sum():,.0f} people in {len(demand):,} cells/points; "
                 f"urban {pop[urban].sum():,.0f}, rural {pop[~urban].sum():,.0f}")
    if units is None:
        lines.append("admin units: none ([admin] not set): county-wide verdicts only")
    else:
        with_people = demand.loc[demand["unit"].notna() & (demand["pop"] > 0), "unit"].nunique()
        outside = pop[demand["unit"].isna().to_numpy()].sum()
        lines.append(f"admin units: {len(units):,}, {with_people:,} with people; "
                     f"{outside:,.0f} people outside every unit")
    table = str(sc.population["path"]).lower().endswith((".csv", ".xlsx"))
    lines.append(f"CRS: computing in {net.crs.to_string()} (metres); facility coordinates read as "
                 f"{sc.facilities['crs']}; population " + (f"coordinates read as {sc.population['crs']}" if table
                                                          else "in its file's own CRS"))
    lines.append("targets: " + ", ".join(sc.targets))
    lines.append(f"output folder: {out} (written as a set; checked, not created)")
    return lines


def output_dir(scenario: Scenario, out_dir: str | Path | None = None) -> Path:
    """The output folder of a run: ``out_dir``, else ``[output] dir``, else
    ``maps/<scenario name made safe>/`` (see :func:`geoaccess.outputset.safe_folder_name`)."""
    return Path(out_dir or scenario.output["dir"] or Path("maps") / safe_folder_name(scenario.name))


def demand_modes(targets: Sequence[Target], urban: np.ndarray) -> list[str]:
    """The travel modes in which some demand point travels for some of ``targets``."""
    return list(dict.fromkeys(mode for t in targets for mode in t.modes
                              if t.metric == "per_1000" or travels_by(t, mode, urban).any()))


class _Engine:
    """Mode graphs and placements, each computed once per run. ``demand_modes`` (see
    :func:`demand_modes`) are snapped together when the first of them is asked for."""

    def __init__(self, network: RoadNetwork, speeds, min_component_nodes: int | None,
                 demand_xy: np.ndarray, facility_xy: np.ndarray, urban_share: float,
                 demand_modes: Sequence[str] = ()):
        self.network, self.speeds, self.min_nodes = network, speeds, min_component_nodes
        self.demand_xy, self.facility_xy = demand_xy, facility_xy
        self.urban_share = urban_share
        self.demand_modes = tuple(demand_modes)
        self.graphs: dict[str, ModeGraph] = {}
        self._demand: dict[str, Placement] = {}
        self._facilities: dict[str, Placement] = {}
        self._nearest: dict[str, Snapped] = {}  # found for several modes at once, not yet placed

    def graph(self, mode: str) -> ModeGraph:
        if mode not in self.graphs:
            self.graphs[mode] = compile_mode(self.network, mode, self.speeds, self.min_nodes)
        return self.graphs[mode]

    def demand(self, mode: str) -> Placement:
        if mode not in self._demand:
            if mode in self.demand_modes and mode not in self._nearest:
                self._find_nearest()
            self._demand[mode] = self._place(mode, self.demand_xy, self._demand, self._nearest.pop(mode, None))
        return self._demand[mode]

    def _find_nearest(self) -> None:
        # One nearest-piece search of the shared road index for every mode still to place
        # (one mode per snapping: modes with the same roads reuse its placement).
        placed = {self.graphs[m].snap_key() for m in self._demand}
        by_key: dict[tuple, str] = {}
        for mode in self.demand_modes:
            if mode not in self._demand and self.graph(mode).snap_key() not in placed:
                by_key.setdefault(self.graph(mode).snap_key(), mode)
        modes = list(by_key.values())
        if not modes:
            return
        found = query_views([self.graph(m).snap_index() for m in modes], self.demand_xy, kdtree_workers())
        self._nearest.update(zip(modes, found))

    def facilities(self, mode: str) -> Placement:
        if mode not in self._facilities:
            self._facilities[mode] = self._place(mode, self.facility_xy, self._facilities)
        return self._facilities[mode]

    def _place(self, mode: str, xy: np.ndarray, done: dict[str, Placement], nearest: Snapped | None = None) -> Placement:
        graph = self.graph(mode)
        for other, placement in done.items():
            if self.graphs[other].snap_key() == graph.snap_key():  # same roads: same snapping
                return place_points(graph, xy, Snapped(placement.edge, placement.fraction, placement.distance_m))
        return place_points(graph, xy, nearest=nearest)


def run_scenario(scenario: Scenario, out_dir: str | Path | None = None, progress: Progress | None = None,
                 write: bool = True, lang: str | None = None, self_contained: bool | None = None,
                 basemap: str | None = None, carry: tuple[str, ...] = (),
                 sites: pd.DataFrame | None = None,
                 check_facilities: Callable[[gpd.GeoDataFrame], Any] | None = None,
                 map_extent: Callable[[Any], tuple[float, float, float, float]] | None = None) -> RunResult:
    """Evaluate every target of ``scenario``, find its gaps and isochrones, and (with
    ``write``) write the outputs.

    Outputs under ``out_dir`` (default ``[output] dir``, else ``maps/<scenario name>/``):
    ``summary.json``, ``units.csv``, ``demand_times.gpkg``, ``gaps.csv``/``gaps.geojson``,
    ``map.html`` and ``report.html``, written as one set (see :func:`write_outputs`); the
    output folder is checked before anything is computed. ``lang``, ``self_contained`` and
    ``basemap`` override the scenario's ``[map]`` settings; ``carry`` names entries of the
    output folder to keep (see :class:`geoaccess.outputset.OutputSet`). ``sites`` (rows of
    :func:`geoaccess.candidates.read_sites`) are put in place before evaluating: the plan's
    run (see :func:`geoaccess.candidates.facilities_with_sites`; ``progress`` says what was added).
    ``check_facilities`` is called with the facilities as read, before any routing (the
    ``site`` command checks its ``--candidates-from`` kinds there). ``map_extent(network CRS)``
    returns the ``(xmin, ymin, xmax, ymax)`` (metres) the map shows: isochrone bands are computed
    only there (``extent`` of :func:`geoaccess.isochrones.isochrones`; a region's county task
    passes its county's box); default everywhere. Travel times and every figure are unchanged.

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
    if check_facilities is not None:
        check_facilities(facilities)
    if sites is not None and len(sites):
        facilities, added = facilities_with_sites(facilities, sites, scenario.targets, units)
        for line in added:
            say(line)
    far_demand = inputs.far_demand
    urban = demand["urban"].to_numpy(bool)
    speeds = load_speeds(scenario.network["speeds"])
    fac_xy = np.column_stack([facilities.geometry.x, facilities.geometry.y])
    dem_xy = np.column_stack([demand.geometry.x, demand.geometry.y])
    pop = demand["pop"].to_numpy(float)
    engine = _Engine(network, speeds, scenario.network["min_component_nodes"], dem_xy, fac_xy,
                     urban_share=float(pop[urban].sum() / pop.sum()),
                     demand_modes=demand_modes(list(scenario.targets.values()), urban))
    evaluations = []
    for target in scenario.targets.values():
        say(f"target {target.id}: {target.name_en}")
        evaluations.append(_evaluate(target, engine, facilities, demand, warnings,
                                     units["unit"].tolist() if units is not None else None))
    for mode, placement in engine._facilities.items():
        off = ~placement.on_network
        if off.any():
            # inf: every road within reach lies across mapped water
            names = ", ".join(f"{n} ({f'{d:,.0f} m' if np.isfinite(d) else 'only across water'})"
                              for n, d in zip(facilities.loc[off, "name"].astype(str)[:5], placement.distance_m[off][:5]))
            warnings.append(f"{off.sum()} facilit{'y is' if off.sum() == 1 else 'ies are'} farther than "
                            f"{engine.graph(mode).speeds.access_max_m:,.0f} m from any {mode} road (or reach one only "
                            "across mapped water) and cannot "
                            f"be reached in that mode: {names}. Check their coordinates (GCJ-02 given as WGS84?) "
                            "or the road network's extent.")
    for mode, placement in engine._demand.items():
        off_pop = demand["pop"].to_numpy()[~placement.on_network].sum()
        if off_pop > 0:
            warnings.append(f"{off_pop:,.0f} people live farther than "
                            f"{engine.graph(mode).speeds.access_max_m:,.0f} m from any {mode} road (or across mapped "
                            "water from every road in reach): counted as "
                            "unreachable in targets using that mode")
    result = RunResult(scenario, network, facilities, demand, units, evaluations, engine.graphs, warnings=warnings,
                       engine=engine)
    extent = None if map_extent is None else map_extent(network.crs)
    for e in evaluations:
        if e.target.metric == "per_1000":
            continue
        say(f"gaps and isochrones: {e.target.id}")
        result.gaps[e.target.id] = target_gaps(e.target, demand[~far_demand], facilities, units is not None)
        result.isochrones[e.target.id] = target_isochrones(e.target, engine, select_facilities(e.target, facilities), demand,
                                                           extent=extent)
    if out is not None:
        result.files = write_outputs(result, out, lang=lang or scenario.map["lang"], progress=say,
                                     self_contained=self_contained, basemap=basemap, carry=carry)
    return result


def run(scenario: str | Path | Scenario, out_dir: str | Path | None = None, *, write: bool = False,
        progress: Progress | None = None, lang: str | None = None, with_sites: Sequence[str | Path] = ()) -> RunResult:
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
    with_sites : sequence of paths, optional
        ``sites_<target>.csv`` files of ``geoaccess site`` / :func:`site`: the plan is
        evaluated with those sites added (or upgrades applied), as ``geoaccess run
        --with-sites`` does, so :func:`compare` can set it beside today's run.

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
    sites = None
    if with_sites:
        from .candidates import read_site_files

        sites = read_site_files(list(with_sites), list(scenario.targets))
    return run_scenario(scenario, out_dir, progress=progress, write=write, lang=lang, sites=sites)


# Map bands: a 25 m raster; places join their nearest road up to the mode's access cap, as homes do.


def target_isochrones(target: Target, engine: _Engine, chosen: np.ndarray, demand: gpd.GeoDataFrame | None = None,
                      simplify_m: float | None = ISOCHRONE_SIMPLIFY_M,
                      extent: tuple[float, float, float, float] | None = None) -> gpd.GeoDataFrame:
    """Travel-time bands of a target (at T/3, 2T/3 and T minutes) for the map, in the target's
    urban mode (rural when mostly rural) and direction, the dispatch delay taken off. With the
    run's ``demand`` (``<id>_min``, ``urban``), the cell of a home travelling by that mode shows
    its own time's band (town walkers of a drive map: their times are in the demand layer).
    ``simplify_m`` (metres; default the map's tolerance, so the map draws the bands as they
    are) is recorded in ``attrs["simplified_m"]``. ``extent`` (metres, network CRS): draw the
    bands only there (see :func:`geoaccess.isochrones.isochrones`).
    """
    mode = target.mode_for(engine.urban_share >= 0.5)
    t, delay = target.threshold_min, target.dispatch_delay_min
    limits = [x - delay for x in (t / 3, 2 * t / 3, t) if x - delay > 0]
    graph = engine.graph(mode)
    uses = travels_by(target, mode, demand["urban"].to_numpy(bool)) if demand is not None else None
    bands = isochrones(graph, engine.facilities(mode).subset(chosen), limits, target.direction, method="raster",
                       buffer_cap_m=graph.speeds.access_max_m, simplify_m=simplify_m,
                       access="nearest", points=None if demand is None else (
                           engine.demand_xy[uses], demand[f"{target.id}_min"].to_numpy()[uses]), extent=extent)
    bands[["min_minutes", "max_minutes"]] += delay
    bands["band"] = [f"{lo:g}–{hi:g}" for lo, hi in zip(bands["min_minutes"], bands["max_minutes"])]
    bands["mode"] = mode
    bands.attrs["simplified_m"] = simplify_m
    return bands


def _evaluate(target: Target, engine: _Engine, facilities: gpd.GeoDataFrame, demand: gpd.GeoDataFrame,
              warnings: list[str], unit_names: list[str] | None = None) -> Evaluation:
    chosen = select_facilities(target, facilities)
    if not chosen.any():
        warnings.append(f"target {target.id}: no facility of type {', '.join(target.facility_types)} in the "
                        "facility file; everybody counts as unreachable")
    pop = demand["pop"].to_numpy(float)
    urban = demand["urban"].to_numpy(bool)
    unit = as_objects(demand["unit"])
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
    demand[f"{target.id}_facility"] = labels_at(ids, nearest)
    return evaluate_target(target, minutes, pop, urban, unit, unit_names)
