"""Siting on a scenario: candidates, one proposal per target, and how many sites are enough.

Glue between a run (:class:`~geoaccess.results.RunResult`) and the solvers of
:mod:`geoaccess.siting`: candidates (road nodes near the gaps, a file, or existing
facilities to upgrade), the travel-time matrix built only where a new site can change
someone's nearest time, the solve, and the proposal re-checked with the exact engine so
that every number in the table agrees with the summary line.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .candidates import candidate_sites, drop_far_candidates, townships, upgrade_candidates
from .errors import InputError, check_choice
from .tables import rounded, write_csv
from .results import RunResult, goal_text, value_text
from .routing import Placement, nearest_facility, od_matrix, place_points
from .targets import Evaluation, Target, evaluate_target, population_mask, select_facilities

SITING_MODELS = ("mclp", "lscp", "pmedian", "pcenter")
EXISTING = "(existing)"  # the one fixed column standing for every existing facility of the target
_CHUNK = 256  # candidate sites per travel-time search: bounds the memory of one block of pairs
Say = Callable[[str], None]


def travels_by(target: Target, mode: str, urban: np.ndarray) -> np.ndarray:
    """Which demand points travel by ``mode`` for ``target`` (urban and rural modes may differ)."""
    return np.where(urban, target.mode_for(True) == mode, target.mode_for(False) == mode)


def _nearest_by_mode(target: Target, engine: Any, urban: np.ndarray,
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


# --------------------------------------------------------------------------- the request


def _request(result: RunResult, target_id: str, n_new: int | None, cover_share: float | None,
             model: str | None) -> tuple[Target, str]:
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
    if target.threshold_min - target.dispatch_delay_min <= 0:
        raise InputError(f"target {target_id}: the dispatch delay uses the whole threshold; nothing to site")
    return target, model


def _candidates(result: RunResult, target: Target, candidates: gpd.GeoDataFrame | None,
                candidates_from: str | Sequence[str] | None, spacing_m: float) -> gpd.GeoDataFrame:
    if candidates is not None and candidates_from is not None:
        raise InputError("give candidates (a file) or candidates_from (kinds to upgrade), not both")
    if candidates_from is not None:  # an empty value is refused by upgrade_candidates, not taken as "none"
        cands = upgrade_candidates(result, target, candidates_from)
    elif candidates is not None:
        cands, far = drop_far_candidates(result, target, candidates.to_crs(result.demand.crs).reset_index(drop=True))
        cands.attrs["messages"] = far  # said with the proposal or the curve
    else:
        cands = candidate_sites(result, target, spacing_m)
    if len(cands) == 0:
        raise InputError("no candidate sites: give a candidates file or a smaller spacing")
    cands = cands.reset_index(drop=True)
    if "township" not in cands:
        cands["township"] = townships(result, cands)
    if "name" not in cands:
        cands["name"] = ""
    return cands


def _before_minutes(result: RunResult, target: Target) -> np.ndarray:
    """Travel minutes (no dispatch delay) of every demand point to the target's existing facilities."""
    col = f"{target.id}_min"
    if col in result.demand:
        return result.demand[col].to_numpy(float)
    chosen = select_facilities(target, result.facilities)
    engine = result.engine
    return _nearest_by_mode(target, engine, result.demand["urban"].to_numpy(bool),
                            lambda mode: engine.facilities(mode).subset(chosen))[0]


def siting_matrix(result: RunResult, target: Target, cands: gpd.GeoDataFrame, model: str,
                  progress: Any = False):
    """The siting problem of ``target`` over ``cands``, with only the pairs that can matter.

    Column 0 (:data:`EXISTING`, fixed) stands for all existing facilities of the target:
    its time to each demand point is the time to the nearest of them (the only thing every
    model reads from them). A candidate pair is kept only when it is faster than that time
    (a slower site changes no one's nearest time) and, for the covering models, within the
    threshold, for demand points not yet covered; rows are the people the target counts.
    Pairs are searched ``_CHUNK`` candidates at a time and kept in float32, so the peak
    holds one block of pairs, not the full matrix.

    Covering models (mclp, lscp): rows are groups of demand points with the same set of
    sites within the threshold, people summed, and entries mean "within" (exact; see
    :class:`geoaccess.siting.coverrows.CoverageBits`).

    Returns
    -------
    (SitingProblem, float, float)
        The problem, the travel threshold (minutes, dispatch delay taken off) and the
        matrix cutoff (minutes).
    """
    from .siting import siting_problem
    from .siting.coverrows import CoverageBits

    engine, demand = result.engine, result.demand
    urban = demand["urban"].to_numpy(bool)
    weights = demand["pop"].to_numpy(float) * population_mask(target, urban)
    travel_threshold = target.threshold_min - target.dispatch_delay_min
    covering = model in ("mclp", "lscp")
    cutoff = travel_threshold if covering else 2 * target.threshold_min
    before = _before_minutes(result, target)
    rows = np.flatnonzero(weights > 0)
    search = (before[rows] > travel_threshold) if covering else np.ones(rows.size, dtype=bool)
    limit = before[rows]  # a candidate matters for a row only if faster than its nearest existing facility
    xy = np.column_stack([cands.geometry.x, cands.geometry.y])
    ids = np.r_[[EXISTING], cands["site_id"].astype(str).to_numpy()]
    bits = CoverageBits(rows.size, len(cands), np.isfinite(limit) & (limit <= cutoff)) if covering else None
    r_parts, c_parts, t_parts = [], [], []
    for mode in target.modes:
        uses = travels_by(target, mode, urban)[rows] & search
        if not uses.any():
            continue
        graph = engine.graph(mode)
        placed = engine.demand(mode).subset(rows[uses])
        local = np.flatnonzero(uses)
        sites = place_points(graph, xy)
        for start in range(0, len(cands), _CHUNK):
            block = np.zeros(len(cands), dtype=bool)
            block[start:start + _CHUNK] = True
            od = od_matrix(graph, placed, sites.subset(block), cutoff, target.direction, progress=bool(progress)).tocoo()
            r = local[od.row]
            keep = od.data < limit[r]
            r, c, t = r[keep], od.col[keep].astype(np.int64) + start, od.data[keep]
            del od, keep
            if covering:  # folded into the bitsets at once: the pairs are not kept
                bits.add(r, c)
                del r, c, t
                continue
            r_parts.append(r.astype(np.int32))
            c_parts.append((c + 1).astype(np.int32))
            t_parts.append(t.astype(np.float32))
    if covering:
        return bits.problem(weights[rows], ids, EXISTING, travel_threshold, rows), travel_threshold, cutoff
    has = np.isfinite(limit) & (limit <= cutoff)
    r_parts.append(np.flatnonzero(has).astype(np.int32))
    c_parts.append(np.zeros(int(has.sum()), dtype=np.int32))
    t_parts.append(limit[has].astype(np.float32))
    od = sp.csr_matrix((np.concatenate(t_parts), (np.concatenate(r_parts), np.concatenate(c_parts))),
                       shape=(rows.size, len(cands) + 1), dtype=np.float32)
    del r_parts, c_parts, t_parts
    problem = siting_problem(od, weights[rows], ids, fixed=[EXISTING], demand_ids=rows, cutoff_min=cutoff)
    return problem, travel_threshold, cutoff


# --------------------------------------------------------------------------- exact re-check


def _evaluate_with_sites(result: RunResult, target: Target, chosen: np.ndarray, sites: gpd.GeoDataFrame) -> Evaluation:
    """The target evaluated exactly with the proposed sites added to its facilities."""
    return _exact(result, target, chosen, sites)[0]


def _exact(result: RunResult, target: Target, chosen: np.ndarray, sites: gpd.GeoDataFrame
           ) -> tuple[Evaluation, float]:
    """Exact evaluation with ``sites`` added, and the worst-case minutes (dispatch delay
    included) over the people the target counts who can reach a facility."""
    engine, demand = result.engine, result.demand
    xy = np.r_[np.column_stack([result.facilities.geometry.x, result.facilities.geometry.y])[chosen],
               np.column_stack([sites.geometry.x, sites.geometry.y])]
    urban = demand["urban"].to_numpy(bool)
    pop = demand["pop"].to_numpy(float)
    minutes, _ = _nearest_by_mode(target, engine, urban, lambda mode: place_points(engine.graph(mode), xy))
    e = evaluate_target(target, minutes, pop, urban, demand["unit"].to_numpy(object),
                        result.units["unit"].tolist() if result.units is not None else None)
    counted = population_mask(target, urban) & (pop > 0) & np.isfinite(minutes)
    worst = float(minutes[counted].max() + target.dispatch_delay_min) if counted.any() else float("nan")
    return e, worst


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _measure(target: Target, model: str) -> str:
    """What ``cumulative`` holds, with its unit, as the table's ``measure`` column says it."""
    delay = f", incl. {target.dispatch_delay_min:g} min dispatch" if target.dispatch_delay_min else ""
    if model == "pcenter":
        return f"worst-case minutes{delay}"
    if target.metric == "mean_time" or model == "pmedian":
        return f"mean minutes{delay}"
    return f"people within {target.threshold_min:g} min"


def _value_of(e: Evaluation, worst: float, target: Target, model: str) -> float:
    if model == "pcenter":
        return worst
    if target.metric == "mean_time" or model == "pmedian":
        return float(e.mean_minutes if target.metric != "mean_time" else e.value)
    return float(e.population_covered)


def _solve(problem, model: str, n_new: int | None, cover_share: float | None, threshold: float,
           time_limit_s: float, start: Sequence[str] | None = None, progress: Any = None):
    from .siting import solve_lscp, solve_mclp, solve_pcenter, solve_pmedian
    from .siting.solver import reporting

    say = progress if callable(progress) else None
    if say:
        say(f"solving {model}{f' for {n_new} site(s)' if n_new else ''}: {problem.n_sites - 1:,} candidates, "
            f"{problem.n_demand:,} demand rows, {problem.od.nnz:,} pairs; time limit {time_limit_s:g} s")
    with reporting(say):
        if model == "mclp":
            return solve_mclp(problem, threshold, n_new, time_limit_s=time_limit_s, start_sites=start)
        if model == "lscp":
            return solve_lscp(problem, threshold, cover_share=cover_share, time_limit_s=time_limit_s)
        if model == "pmedian":
            return solve_pmedian(problem, n_new, time_limit_s=time_limit_s, start_sites=start)
        return solve_pcenter(problem, n_new, time_limit_s=time_limit_s)


def site_target(result: RunResult, target_id: str, *, n_new: int | None = None, cover_share: float | None = None,
                model: str | None = None, candidates: gpd.GeoDataFrame | None = None,
                candidates_from: str | Sequence[str] | None = None, spacing_m: float = 500.0,
                time_limit_s: float = 60.0, progress: bool | Callable[[str], None] = False) -> gpd.GeoDataFrame:
    """Propose new facility sites for one target and re-check the target with them.

    Parameters
    ----------
    result
        A run (``ga.run``) holding the target.
    target_id
        The target to site for.
    n_new
        Number of new sites (mclp, pmedian, pcenter). Capped at the number of candidates,
        with a note.
    cover_share
        lscp only: share (0-1) of the target's people to bring within the threshold with
        the fewest sites; default the target's goal.
    model
        mclp (the ``n_new`` sites covering most people), lscp, pmedian (mean time) or
        pcenter (worst time). Default: pmedian for mean_time targets, else mclp with
        ``n_new`` and lscp without.
    candidates
        Candidate points (``site_id``, optional ``name``); default :func:`candidate_sites`.
    candidates_from
        Facility kinds (comma-separated or a list) whose existing facilities are the
        candidates: the chosen ones are upgraded to count for the target
        (:func:`upgrade_candidates`).
    spacing_m
        Spacing of generated candidates, metres.
    time_limit_s
        Solver time limit, seconds.
    progress
        True: a progress bar for the travel-time search (stderr); a function: that too, and
        it gets the solver's progress lines (incumbent, bound, gap, time left).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per chosen site in rank order: ``rank``, ``site_id``, ``name``,
        ``township``, ``kind`` (upgrades: the current kind), ``gain`` and ``cumulative``
        (people for share targets; minutes for mean-time targets and p-center, dispatch
        delay included: every value is the exact engine's re-check with the sites of rank
        ≤ this one added), ``measure`` (what they count). ``result.sites[target_id]`` gets
        it and ``result.siting[target_id]`` the value before and after, the worst-case
        minutes before and after, the solver's status and gap and ``messages`` (why fewer
        sites than asked, goal already met, ...).

    Raises
    ------
    InputError
        Unknown target, a resource-ratio target, a model without its parameter, no
        candidates.
    """
    target, model = _request(result, target_id, n_new, cover_share, model)
    cands = _candidates(result, target, candidates, candidates_from, spacing_m)
    chosen = select_facilities(target, result.facilities)
    before = result.evaluation(target_id)
    messages: list[str] = list(cands.attrs.get("messages", []))
    if before.passed:
        messages.append(f"goal already met: {_met_text(before.value, target)}")
    if n_new is not None and n_new > len(cands):
        messages.append(f"only {len(cands)} candidate site(s) for {n_new} asked: all of them were considered")
        n_new = len(cands)
    share = cover_share if cover_share is not None else target.goal
    if model == "lscp" and before.value >= share:
        solved, picked, matrix = None, pd.DataFrame({"rank": [], "site_id": []}), {}
        messages.append(f"no new site needed: {value_text(before.value, target, 'en')} already ≥ {share:.0%}")
    else:
        started = time.perf_counter()
        problem, threshold, _ = siting_matrix(result, target, cands, model, progress)
        matrix = {"pairs": int(problem.od.nnz), "matrix_seconds": time.perf_counter() - started}
        if model == "lscp":
            # the solver's share is of the people any site can reach; the target's is of everybody it counts
            need = share * before.population_total - before.population_covered
            coverable = _coverable(problem, threshold) - before.population_covered
            if need > coverable + 1e-9:
                messages.append(f"{share:.0%} cannot be reached with these candidates: all of them together bring "
                                f"{(before.population_covered + coverable) / max(before.population_total, 1e-9):.1%} "
                                f"within {target.threshold_min:g} min")
            share = min(1.0, (before.population_covered + min(need, coverable))
                        / max(before.population_covered + coverable, 1e-9))
        solved = _solve(problem, model, n_new, share, threshold, time_limit_s, progress=progress)
        picked = solved.sites
    sites, steps = _proposal(result, target, model, chosen, cands, picked["site_id"].astype(str).tolist())
    (_, worst_before), (after, worst_after) = steps[0], steps[-1]
    if n_new is not None and len(sites) < n_new:
        messages.append(f"the {_ordinal(len(sites) + 1)} site {_adds_nothing(target, model, True)}")
    messages += [f"the {_ordinal(k)} site {_adds_nothing(target, model, False)} (exact re-check)"
                 for k, g in enumerate(sites["gain"], 1) if not g > (1e-3 if "min" in _measure(target, model) else 1e-6)]
    if solved is not None and model == "pcenter":
        # the exact worst case is over people who reach a facility: those reaching none are left out
        none = np.diff(problem.od.indptr) == 0
        far = float(problem.weights[none & np.isfinite(_before_minutes(result, target)[problem.demand_ids.astype(int)])]
                    .sum())
        if far > 0:
            messages.append(f"{far:,.0f} people are farther than {problem.cutoff_min:g} min from every existing and "
                            "candidate site: the worst-case time counts them, but no candidate can bring them closer; "
                            "add candidates near them (--candidates) or a smaller --spacing")
        if after.population_unreachable > 0:
            messages.append(f"{after.population_unreachable:,.0f} people reach no facility of the target by road (off "
                            "the road network or cut off from it), even with the new sites: the worst-case time leaves "
                            "them out; the target counts them as unreachable")
    result.sites[target_id] = sites
    result.focus = target_id
    result.siting[target_id] = {
        "model": model, "status": solved.status if solved else "optimal",
        "mip_gap": solved.mip_gap if solved else 0.0, "objective": solved.objective if solved else 0.0,
        "solve_seconds": solved.solve_seconds if solved else 0.0, "n_candidates": int(len(cands)),
        "candidates_from": (candidates_from if isinstance(candidates_from, str) else
                            ",".join(candidates_from) if candidates_from else None),
        "n_new": int(len(sites)), "n_asked": n_new, "measure": _measure(target, model),
        "value_before": before.value, "value_after": after.value, "goal": target.goal,
        "passed_before": before.passed, "passed_after": after.passed,
        "covered_before": before.population_covered, "covered_after": after.population_covered,
        "worst_minutes_before": worst_before, "worst_minutes_after": worst_after,
        "messages": messages, "notes": list(solved.notes) if solved else [], **matrix,
    }
    return sites


def _coverable(problem, threshold: float) -> float:
    """People within ``threshold`` of some column (existing or candidate) of ``problem``."""
    od = problem.od
    rows = np.repeat(np.arange(od.shape[0]), np.diff(od.indptr))
    hit = np.zeros(od.shape[0], dtype=bool)
    hit[rows[od.data <= threshold]] = True
    return float(problem.weights[hit].sum())


def _adds_nothing(target: Target, model: str, would: bool) -> str:
    """Why a site is not worth proposing, as the user reads it ("would add nobody within 30 min")."""
    if model in ("mclp", "lscp"):
        return f"{'would add' if would else 'adds'} nobody within {target.threshold_min:g} min"
    if model == "pmedian":
        return "would shorten nobody's trip" if would else "shortens nobody's trip"
    return "would not lower the worst-case time" if would else "does not lower the worst-case time"


def _met_text(value: float, target: Target) -> str:
    """``95.2% ≥ 90%`` / ``5.1 min ≤ 15 min``: a value against the goal."""
    if target.metric == "share_within":
        return f"{value:.1%} ≥ {target.goal:.0%}"
    return f"{value_text(value, target, 'en')} {goal_text(target, 'en')}"


def _proposal(result: RunResult, target: Target, model: str, chosen: np.ndarray, cands: gpd.GeoDataFrame,
              ids: list[str]) -> tuple[gpd.GeoDataFrame, list[tuple[Evaluation, float]]]:
    """The chosen sites in rank order, each value the exact engine's with the sites up to
    it; and the exact (evaluation, worst minutes) with 0, 1, ... all of them."""
    by_id = cands.set_index(cands["site_id"].astype(str))
    rows = by_id.loc[ids]
    sites = gpd.GeoDataFrame({"rank": np.arange(1, len(ids) + 1), "site_id": ids,
                              "name": rows["name"].astype(str).to_numpy(),
                              "township": rows["township"].astype(object).to_numpy(),
                              "kind": rows["kind"].astype(str).to_numpy() if "kind" in rows else ""},
                             geometry=rows.geometry.to_numpy(), crs=result.demand.crs)
    steps = [_exact(result, target, chosen, sites.iloc[:k]) for k in range(len(ids) + 1)]
    values = [_value_of(e, worst, target, model) for e, worst in steps]
    sites["gain"] = np.abs(np.diff(values)) if ids else np.zeros(0)
    sites["cumulative"] = values[1:]
    sites["measure"] = _measure(target, model)
    return sites, steps


# --------------------------------------------------------------------------- files


def _file_key(target_id: str) -> str:
    from .outputset import safe_folder_name

    return safe_folder_name(target_id)


def write_sites(sites: dict[str, gpd.GeoDataFrame], out: Path) -> dict[str, Path]:
    """Proposed sites as CSV (lon/lat in WGS84, UTF-8 with BOM), atomically: ``sites.csv``
    with every target's proposal and ``sites_<target>.csv`` per target.

    Returns
    -------
    dict
        File key (``sites``, ``sites_<target>``) → path.
    """
    frames, files = [], {}
    for tid, frame in sites.items():
        wgs = frame.to_crs("EPSG:4326")
        table = pd.DataFrame(wgs.drop(columns=wgs.geometry.name))
        table.insert(0, "target", tid)
        table["lon"], table["lat"] = wgs.geometry.x.round(7), wgs.geometry.y.round(7)
        frames.append(table)
        files[f"sites_{tid}"] = write_csv(rounded(table), Path(out) / f"sites_{_file_key(tid)}.csv")
    return {"sites": write_csv(rounded(pd.concat(frames, ignore_index=True)), Path(out) / "sites.csv"), **files}


def read_proposals(result: RunResult, out: str | Path, keep_out: Sequence[str] = ()) -> list[str]:
    """Put the proposals an earlier ``site`` run wrote into ``out`` back into ``result``, so
    that the next output set shows every target's proposal, not only the latest.

    Reads ``sites_<target>.csv`` (and the target's entry of ``summary.json``) for each
    target of the scenario except those in ``keep_out`` (the one being sited now).

    Returns
    -------
    list of str
        One message per proposal carried over.

    Raises
    ------
    InputError
        A ``sites_<target>.csv`` that lacks lon/lat (naming the file and the fix).
    """
    import json

    out = Path(out)
    if not out.is_dir():
        return []
    try:
        siting = json.loads((out / "summary.json").read_text(encoding="utf-8")).get("siting", {}) or {}
    except (OSError, ValueError, AttributeError):
        siting = {}
    said = []
    for tid in result.scenario.targets:
        path = out / f"sites_{_file_key(tid)}.csv"
        if tid in keep_out or tid in result.sites or not path.is_file():
            continue
        table = pd.read_csv(path, encoding="utf-8-sig", dtype={"site_id": str, "name": str, "township": str})
        if not {"lon", "lat"} <= set(table.columns):
            raise InputError(f"{path} has no lon/lat columns: it is not a proposal geoaccess wrote; move it away "
                             "or choose another --out folder")
        frame = gpd.GeoDataFrame(table.drop(columns=["target", "lon", "lat"], errors="ignore").fillna({"name": ""}),
                                 geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs="EPSG:4326")
        result.sites[tid] = frame.to_crs(result.demand.crs)
        if tid in siting:
            result.siting[tid] = siting[tid]
        said.append(f"kept the earlier proposal for {tid} ({len(frame)} site(s), {path.name})")
    for tid, info in siting.items():  # a curve without a proposal (site --curve)
        if tid in result.scenario.targets and tid not in keep_out and tid not in result.siting and "curve" in info:
            result.siting[tid] = info
            said.append(f"kept the earlier curve for {tid}")
    return said
