"""Candidate sites for a target: road nodes near its gaps, a file, or existing facilities to upgrade."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .admin import OUTSIDE, unit_of
from .errors import InputError, check_positive
from .io import check_input_file
from .results import RunResult
from .targets import Target, select_facilities


def townships(result: RunResult, points: gpd.GeoDataFrame) -> np.ndarray:
    """Township (admin unit) of each point; "" when the scenario has no admin units."""
    if result.units is None or len(points) == 0:
        return np.full(len(points), "", dtype=object)
    return unit_of(points.to_crs(result.units.crs), result.units)[0]


def candidate_sites(result: RunResult, target: Target, spacing_m: float = 500.0) -> gpd.GeoDataFrame:
    """Candidate sites for new facilities of ``target``: road nodes usable by the target's
    modes, inside or within ``spacing_m`` of its gap areas (all usable nodes when it has no
    gaps), thinned to one per ``spacing_m`` grid square (the node nearest the square's centre).

    Returns
    -------
    geopandas.GeoDataFrame
        ``site_id`` (``C<node>``), ``name`` (empty), ``node``, ``township``; network CRS.
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
    out = gpd.GeoDataFrame({"site_id": [f"C{int(n)}" for n in nodes[keep]], "name": "", "node": nodes[keep]},
                           geometry=gpd.points_from_xy(xy[keep, 0], xy[keep, 1]), crs=result.demand.crs)
    out["township"] = townships(result, out)
    return out


def candidates_from_file(path: str | Path, crs: Any, x: str = "lon", y: str = "lat", id: str = "id",
                         name: str = "name", source_crs: str = "EPSG:4326") -> gpd.GeoDataFrame:
    """Candidate sites from a .csv/.xlsx with ``x``/``y`` columns (ids and names optional).

    Parameters
    ----------
    path
        The file. A relative path is taken as given (against the current folder); the CLI
        resolves ``--candidates`` against the scenario's folder first.
    crs
        CRS to return the points in (the network's).

    Raises
    ------
    InputError
        Missing file or columns, no rows, bad coordinates (naming the line), repeated ids.
    """
    from .points import lonlat_points
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
    out = gpd.GeoDataFrame({"site_id": ids.to_numpy(), "name": names}, geometry=points.to_numpy(),
                           crs="EPSG:4326").to_crs(crs)
    out.attrs["source"] = p.name  # named when rows are left out (drop_far_candidates)
    return out


def drop_far_candidates(result: RunResult, target: Target, cands: gpd.GeoDataFrame
                        ) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Leave out candidate sites farther than the snapping cap of ``target``'s modes
    outside the road network's extent (a failed geocode at 0,0, lon/lat swapped): such a
    site could only add nobody.

    Parameters
    ----------
    cands : geopandas.GeoDataFrame
        Candidates in file order, in the network's CRS (metres); ``attrs["source"]``
        names their file.

    Returns
    -------
    (geopandas.GeoDataFrame, list of str)
        The candidates kept and a message naming those left out (row, id, lon/lat).

    Raises
    ------
    InputError
        Every candidate is that far.
    """
    from .network import load_speeds

    speeds = load_speeds(result.scenario.network["speeds"])
    cap_m = max(speeds[mode].access_max_m for mode in target.modes)
    (x0, y0), (x1, y1) = result.network.node_xy.min(axis=0) - cap_m, result.network.node_xy.max(axis=0) + cap_m
    x, y = cands.geometry.x.to_numpy(), cands.geometry.y.to_numpy()
    far = ~((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
    if not far.any():
        return cands, []
    file = cands.attrs.get("source", "the candidates")
    wgs = cands.geometry[far].iloc[:10].to_crs("EPSG:4326")
    listed = "; ".join(f"row {i + 1} (id {sid}) at lon {lon:.5f}, lat {lat:.5f}" for i, sid, lon, lat in
                       zip(np.flatnonzero(far), cands["site_id"][far].astype(str), wgs.x, wgs.y))
    where = (f"farther than {cap_m:,.0f} m outside the road network's extent: {listed}{' …' if far.sum() > 10 else ''}"
             f". Lon/lat swapped? A failed geocode at (0, 0)? Fix the coordinates in {file}")
    if far.all():
        raise InputError(f"no candidate site of {file} can be reached: every one lies {where}")
    return cands[~far].reset_index(drop=True), [f"{int(far.sum())} candidate site(s) of {file} left out (they "
                                                f"could add nobody); they lie {where}"]


def _kinds_present(fac: pd.DataFrame) -> str:
    return ", ".join(f"{k} ({n})" for k, n in fac["kind"].astype(str).value_counts().items())


def check_upgrade_kinds(facilities: pd.DataFrame, kinds: str | Sequence[str]) -> list[str]:
    """The kinds of ``--candidates-from``, each checked against the facility file.

    A kind is known when some facility has it as its vocabulary ``kind`` or its raw
    ``type`` (case-insensitive). Needs only the facilities as read, so the CLI calls it
    before any routing.

    Parameters
    ----------
    facilities : pandas.DataFrame
        The facilities as read (``kind`` and ``type`` columns).
    kinds : str or sequence of str
        Comma-separated text or a list.

    Returns
    -------
    list of str
        The kinds, stripped, in the order given.

    Raises
    ------
    InputError
        No kind given, or a kind no facility has, naming the flag, the kinds not found
        and the kinds of the facility file with their counts.
    """
    wanted = [k.strip() for k in (kinds.split(",") if isinstance(kinds, str) else kinds) if k.strip()]
    if not wanted:
        raise InputError("--candidates-from needs one or more facility kinds, e.g. township_health_centre")
    known = (set(facilities["kind"].astype(str).str.lower())
             | set(facilities["type"].astype(str).str.strip().str.lower()))
    unknown = [k for k in wanted if k.lower() not in known]
    if unknown:
        raise InputError(f"--candidates-from {','.join(wanted)}: no facility to upgrade: no facility of the facility "
                         f"file has the kind or type {', '.join(map(repr, unknown))}; kinds in the facility file: "
                         f"{_kinds_present(facilities)}. Name those kinds (comma-separated) or give --candidates FILE")
    return wanted


def upgrade_candidates(result: RunResult, target: Target, kinds: str | Sequence[str]) -> gpd.GeoDataFrame:
    """Existing facilities of ``kinds`` as candidates for upgrading to ``target``'s kind.

    A facility matches when its vocabulary ``kind`` or its raw ``type`` is one of
    ``kinds`` (comma-separated text or a list); facilities that already count for the
    target are left out (they are open anyway).

    Returns
    -------
    geopandas.GeoDataFrame
        ``site_id`` (the facility id), ``name``, ``township`` (the facility's admin unit),
        ``kind``; network CRS.

    Raises
    ------
    InputError
        No kind given, a kind no facility has (:func:`check_upgrade_kinds`), or no
        facility of those kinds that does not already count.
    """
    wanted = check_upgrade_kinds(result.facilities, kinds)
    fac = result.facilities
    low = {k.lower() for k in wanted}
    match = (fac["kind"].astype(str).str.lower().isin(low) | fac["type"].astype(str).str.strip().str.lower().isin(low))
    counted = select_facilities(target, fac)
    pick = match.to_numpy() & ~counted
    if not pick.any():
        raise InputError(f"--candidates-from {','.join(wanted)}: no facility to upgrade (they all count for the target "
                         f"already); kinds in the facility file: {_kinds_present(fac)}. Name other kinds "
                         "(comma-separated) or give --candidates FILE")
    sub = fac[pick]
    town = sub["unit"].astype(object).where(sub["unit"].notna(), OUTSIDE) if result.units is not None else ""
    return gpd.GeoDataFrame({"site_id": sub["facility_id"].astype(str).to_numpy(),
                             "name": sub["name"].astype(str).to_numpy(), "township": town,
                             "kind": sub["kind"].astype(str).to_numpy()},
                            geometry=sub.geometry.to_numpy(), crs=fac.crs).reset_index(drop=True)




SITES_COLUMNS = ("target", "site_id", "lon", "lat")


def read_sites(path: str | Path, targets: Sequence[str]) -> pd.DataFrame:
    """A proposal file ``geoaccess site`` wrote (``sites_<target>.csv`` or ``sites.csv``), checked.

    Parameters
    ----------
    path
        The .csv/.xlsx file, taken as given (the CLI passes it as the user typed it).
    targets
        Target ids of the run: every row's ``target`` must be one of them.

    Returns
    -------
    pandas.DataFrame
        ``target``, ``site_id``, ``name``, ``kind`` (upgrades: the facility's current kind,
        else empty), ``lon``/``lat`` (WGS84 degrees), ``line`` (the row's file line) and
        ``source`` (the file name).

    Raises
    ------
    InputError
        Missing file or column, no rows, an empty ``target`` or ``site_id``, bad
        coordinates, or a target not in ``targets`` (naming the file, the line and the fix).
    """
    from .io import read_table_lines
    from .points import lonlat_points

    p = check_input_file(path, "sites file", (".csv", ".xlsx"))
    table, lines = read_table_lines(p, "sites file", text_columns=("target", "site_id", "name", "kind"))
    missing = [c for c in SITES_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"sites file {p.name} has no column {', '.join(map(repr, missing))} (line 1, the header: "
                         f"{', '.join(map(str, table.columns))}); give a sites_<target>.csv that geoaccess site wrote")
    if len(table) == 0:
        raise InputError(f"sites file {p.name} has no rows; give a sites_<target>.csv that geoaccess site wrote")
    for col in ("target", "site_id"):
        empty = table[col].isna() | (table[col].astype(str).str.strip() == "")
        if empty.any():
            raise InputError(f"sites file {p.name}, line {lines[np.flatnonzero(empty)[0]]}: column {col!r} is empty; "
                             "fill it in or delete the row")
    target = table["target"].astype(str).str.strip()
    unknown = ~target.isin(list(targets))
    if unknown.any():
        i = np.flatnonzero(unknown)[0]
        raise InputError(f"sites file {p.name}, line {lines[i]}: target {target[i]!r} is not a target of this run "
                         f"({', '.join(targets)}); run the scenario the sites were proposed for, or add the target")
    points = lonlat_points(table["lon"].to_numpy(dtype=object), table["lat"].to_numpy(dtype=object), "EPSG:4326",
                           f"sites file {p.name} (columns 'lon', 'lat')", lines=lines)
    text = {c: (table[c].fillna("").astype(str).str.strip() if c in table else pd.Series("", index=table.index))
            for c in ("name", "kind")}
    out = pd.DataFrame({"target": target, "site_id": table["site_id"].astype(str).str.strip(), **text,
                        "lon": points.x.to_numpy(), "lat": points.y.to_numpy(), "line": lines, "source": p.name})
    return out


def site_kind(target: Target, targets: dict[str, Target]) -> str:
    """The kind a proposed site of ``target`` gets: of the target's facility types, the one
    counting for the fewest of ``targets`` (a site proposed for one target should raise no
    other it need not: a new medical point is no county hospital), ties to the last listed
    (the lists run from county hospital down)."""
    def counts(kind: str) -> int:
        return sum(kind.lower() in {k.lower() for k in t.facility_types} for t in targets.values())

    kinds = list(target.facility_types)
    return min(reversed(kinds), key=counts)


def read_site_files(paths: Sequence[str | Path], targets: Sequence[str]) -> pd.DataFrame:
    """Every proposed site of the sites CSVs ``paths`` (``sites_<target>.csv`` of ``geoaccess
    site``), read and checked with :func:`read_sites`, as one table."""
    return pd.concat([read_sites(p, targets) for p in paths], ignore_index=True)


def facilities_with_sites(facilities: gpd.GeoDataFrame, sites: pd.DataFrame, targets: dict[str, Target],
                          units: gpd.GeoDataFrame | None = None) -> tuple[gpd.GeoDataFrame, list[str]]:
    """The facilities with the proposed ``sites`` in place: what a plan is evaluated on.

    A row whose ``kind`` is set and whose ``site_id`` is an existing facility's id is an
    upgrade: that facility's ``kind`` and ``type`` become the target's (:func:`site_kind`),
    its place and beds unchanged. Every other row adds a facility of that kind at its
    lon/lat, with 0 in each ``per_1000`` target's capacity column (a site proposed for
    access brings no beds) and the target's ``facility_where`` values, so it counts.

    Parameters
    ----------
    facilities
        The run's facilities (``facility_id``, ``name``, ``type``, ``kind``, ``unit``), in
        the network's CRS (metres).
    sites
        Rows of :func:`read_sites` (one or several files concatenated).
    targets
        The run's targets by id.
    units
        Admin units, to give added sites their ``unit`` (``"all"`` without).

    Returns
    -------
    (geopandas.GeoDataFrame, list of str)
        The new facility table (added sites last) and one line per target and file saying
        what was added or upgraded (a site given twice, as in ``sites.csv`` and
        ``sites_<target>.csv`` together, is put in place once, and said so).

    Raises
    ------
    InputError
        A row's target is not in ``targets``, or an upgrade names a facility id the
        facility file lacks (naming the file, line and fix).
    """
    fac = facilities.copy()
    ids = fac["facility_id"].astype(str)
    new_rows, said = [], []
    twice = sites.duplicated(["target", "site_id"])
    if twice.any():  # sites.csv and sites_<target>.csv of one proposal given together
        said.append(f"{int(twice.sum())} site(s) given twice (same target and site_id) put in place once: "
                    + ", ".join(f"{t} {s}" for t, s in zip(sites.loc[twice, "target"], sites.loc[twice, "site_id"])))
        sites = sites[~twice]
    for (tid, file), rows in sites.groupby(["target", "source"], sort=False):
        if tid not in targets:
            raise InputError(f"{file}, line {rows['line'].iloc[0]}: target {tid!r} is not a target of this run "
                             f"({', '.join(targets)}); run the scenario the sites were proposed for")
        target = targets[tid]
        kind = site_kind(target, targets)
        where = {c: (v[0] if isinstance(v, list) else v) for c, v in target.facility_where.items()}
        upgrade = (rows["kind"] != "").to_numpy()
        missing = upgrade & ~rows["site_id"].isin(ids).to_numpy()
        if missing.any():
            r = rows[missing].iloc[0]
            raise InputError(f"{file}, line {r['line']}: upgrade of facility {r['site_id']!r}, which the facility "
                             "file does not hold; run the scenario the sites were proposed for, or clear the row's "
                             "'kind' to add it as a new site")
        up = ids.isin(rows.loc[upgrade, "site_id"]).to_numpy()
        fac.loc[up, ["kind", "type"]] = kind
        for col, value in where.items():
            fac.loc[up, col] = value
        add = rows[~upgrade]
        if len(add):
            taken = set(ids) | {str(r["facility_id"]) for r in new_rows}
            new_rows += [{"facility_id": sid if sid not in taken else f"{tid}:{sid}", "name": name or sid,
                          "type": kind, "kind": kind, "kind_rule": f"proposed site ({file})", "lon": lon, "lat": lat,
                          **where, **{t.capacity: 0.0 for t in targets.values() if t.metric == "per_1000"}}
                         for sid, name, lon, lat in zip(add["site_id"], add["name"], add["lon"], add["lat"])]
        listed = ", ".join(f"{n or s}" for s, n in zip(rows["site_id"], rows["name"]))
        said.append(f"{file}: " + "; ".join(part for part in (
            f"added {len(add)} proposed site(s) for {tid} as {kind}" if len(add) else "",
            f"upgraded {int(upgrade.sum())} facilit{'y' if upgrade.sum() == 1 else 'ies'} for {tid} to {kind}"
            if upgrade.any() else "") if part) + f": {listed}")
    if new_rows:
        extra = gpd.GeoDataFrame(pd.DataFrame(new_rows), crs="EPSG:4326",
                                 geometry=gpd.points_from_xy([r["lon"] for r in new_rows],
                                                             [r["lat"] for r in new_rows])).to_crs(fac.crs)
        extra["unit"] = unit_of(extra, units)[0] if units is not None else "all"
        extra = extra.rename_geometry(fac.geometry.name) if fac.geometry.name != "geometry" else extra
        fac = gpd.GeoDataFrame(pd.concat([fac, extra], ignore_index=True), geometry=fac.geometry.name, crs=fac.crs)
    return fac, said
