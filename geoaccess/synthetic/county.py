"""Facilities of a generated county and :func:`generate_county`, which writes the scenario folder."""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from ..errors import InputError
from ..io import write_atomic
from .common import _MAIN_STREETS, _PHARMACIES, _check_int, _check_range, _stem
from .files import _population_raster, _write_gpkg, _write_osm, _write_raster
from .layout import _layout
from .network import _build_network, _compact


@dataclass(frozen=True)
class SyntheticCounty:
    """Files and headline numbers of a generated county.

    Attributes
    ----------
    directory : Path
        Folder holding all files.
    roads_osm : Path or None
        OSM XML road network (``None`` when ``write_osm=False``).
    roads_gpkg : Path
        The same ways as LineStrings, layer ``roads``, EPSG:4326.
    facilities_csv : Path
        Facility table (UTF-8 CSV).
    population_tif : Path
        Population raster, persons per cell, float32, EPSG:4326.
    townships_gpkg : Path
        Township polygons, layer ``townships``, EPSG:4326.
    scenario_toml : Path
        Scenario file with paths relative to ``directory``.
    n_nodes : int
        Road nodes written.
    population : float
        Raster total, persons.
    n_ways : int
        Ways written.
    n_edges : int
        Directed edges osmnx builds with ``bidirectional=False, simplify=False``:
        one per segment of a one-way way, two per segment otherwise.
    area_km2 : float
        County area, km² (in the local equidistant projection).
    facility_counts : Mapping[str, int]
        Facilities written per type id.
    n_villages : int
        Administrative villages laid out (each may or may not have a village clinic).
    seconds : float
        Wall-clock generation time, s.
    """

    directory: Path
    roads_osm: Path | None
    roads_gpkg: Path
    facilities_csv: Path
    population_tif: Path
    townships_gpkg: Path
    scenario_toml: Path
    n_nodes: int
    population: float
    n_ways: int = 0
    n_edges: int = 0
    area_km2: float = 0.0
    facility_counts: Mapping[str, int] = field(default_factory=dict)
    n_villages: int = 0
    seconds: float = 0.0


# ----------------------------------------------------------------------------- facilities

def _facilities(L: dict[str, Any], NW: dict[str, Any], rng: np.random.Generator, county_name: str
                ) -> list[dict[str, Any]]:
    xy = NW["xy"]
    rows: list[dict[str, Any]] = []

    def near(node: int) -> np.ndarray:
        a = rng.uniform(0, 2 * np.pi)
        return xy[node] + rng.uniform(12, 35) * np.array([math.cos(a), math.sin(a)])

    def add(node: int, kind: str, name: str, beds: int, doctors: int, nurses: int, at=None) -> np.ndarray:
        p = near(node) if at is None else at
        rows.append(dict(x=p[0], y=p[1], type=kind, name=name, beds=beds, doctors=doctors, nurses=nurses))
        return p

    tg = NW["town_grid"]
    t_ids = tg["ids"]
    t_d = np.hypot(*(xy[t_ids] - L["town"]["centre"]).T)
    R = L["town"]["radius"]

    def town_node(rmin: float, rmax: float) -> int:
        cand = t_ids[(t_d >= rmin * R) & (t_d <= rmax * R)]
        if len(cand) == 0:
            cand = t_ids
        return int(cand[rng.integers(len(cand))])

    n_ch = 2 if L["area"] >= 500e6 or rng.random() < 0.3 else 1
    ch_pts = []
    for k in range(n_ch):
        beds = int(rng.integers(450, 801) if k == 0 else rng.integers(300, 501))
        nm = f"{county_name}人民医院" if k == 0 else f"{county_name}中医院"
        ch_pts.append(add(town_node(0.1, 0.5), "county_hospital", nm, beds, int(beds * rng.uniform(0.28, 0.36)),
                          int(beds * rng.uniform(0.42, 0.55))))
    jg = L["jpts"]
    for k, nm in enumerate(L["jnames"]):
        cand = t_ids[np.argsort(np.hypot(*(xy[t_ids] - jg[k]).T))[:8]]
        b = int(rng.integers(20, 61))
        add(int(cand[rng.integers(len(cand))]), "community_health_centre", f"{nm}社区卫生服务中心", b,
            int(rng.integers(12, 31)), int(rng.integers(15, 41)))
    n_chs = int(rng.integers(3, 7))
    for k in range(n_chs):
        add(town_node(0.2, 0.95), "community_health_station",
            f"{_stem(_MAIN_STREETS[int(rng.integers(len(_MAIN_STREETS)))])}社区卫生服务站", 0,
            int(rng.integers(2, 6)), int(rng.integers(1, 5)))
    # township health centres and sub-centres
    sub_pts: dict[int, np.ndarray] = {}
    ordinal = "二三四五六"
    for k, g in enumerate(NW["seat_grids"]):
        ids = g["ids"]
        dd = np.hypot(*(xy[ids] - g["centre"]).T)
        close = ids[np.argsort(dd)[: max(3, len(ids) // 4)]]
        b = int(rng.integers(20, 81))
        add(int(close[rng.integers(len(close))]), "township_health_centre", f"{L['seat_names'][k]}卫生院", b,
            int(b * rng.uniform(0.3, 0.5)) + 3, int(b * rng.uniform(0.35, 0.6)) + 3)
    for q, k in enumerate(L["sub_seats"].tolist()):
        ids = NW["seat_grids"][k]["ids"]
        b = int(rng.integers(100, 251))
        sub_pts[k] = add(int(ids[rng.integers(len(ids))]), "sub_centre",
                         f"{county_name}第{ordinal[q]}人民医院", b, int(b * rng.uniform(0.25, 0.33)),
                         int(b * rng.uniform(0.4, 0.5)))
    # village clinics: most villages; one township left with many gaps
    n_v = len(L["villages"])
    units = L["unit_of_village"]
    rural_units = np.unique(units[units >= L["n_j"]])
    gap_unit = int(rural_units[np.argmax([np.hypot(*L["gens"][u]) for u in rural_units])]) if len(
        rural_units) else -1
    p_miss = np.where(units == gap_unit, 0.55, 0.08)
    has = rng.random(n_v) >= p_miss
    if has.all():
        has[int(rng.integers(n_v))] = False
    for k in np.flatnonzero(has).tolist():
        v = NW["villages"][k]
        add(int(v["centre_id"]), "village_clinic", f"{L['vnames'][k]}村卫生室", 0, int(rng.integers(1, 4)),
            int(rng.integers(0, 2)))
    # 120: centre at the county hospital, stations at sub-centres, then other seats
    ems_total = int(rng.integers(4, 9))
    a = rng.uniform(0, 2 * np.pi)
    add(0, "ems_station", f"{county_name}120急救中心", 0, int(rng.integers(6, 13)), int(rng.integers(6, 13)),
        at=ch_pts[0] + 30 * np.array([math.cos(a), math.sin(a)]))
    sites = [int(k) for k in L["sub_seats"]] + [int(k) for k in np.argsort(-L["seat_w"], kind="stable")
                                                  if k not in L["sub_seats"]]
    for k in sites[: ems_total - 1]:
        g = NW["seat_grids"][k]
        nm = L["seat_names"][k]
        if k in sub_pts:
            a = rng.uniform(0, 2 * np.pi)
            add(0, "ems_station", f"{county_name}120急救中心{nm[:-1]}分站", 0, int(rng.integers(2, 6)),
                int(rng.integers(2, 6)), at=sub_pts[k] + 25 * np.array([math.cos(a), math.sin(a)]))
        else:
            add(int(g["centre_id"]), "ems_station", f"{county_name}120急救中心{nm[:-1]}分站", 0,
                int(rng.integers(2, 5)), int(rng.integers(2, 5)))
    # pharmacies in the town and the largest seats
    n_ph = int(rng.integers(3, 6 if L["area"] < 500e6 else 9))
    for k in range(n_ph):
        chain = _PHARMACIES[int(rng.integers(len(_PHARMACIES)))]
        if k % 2 == 0 or not NW["seat_grids"]:
            add(town_node(0.0, 0.9), "pharmacy", f"{chain}（{_stem(_MAIN_STREETS[int(rng.integers(20))])}店）", 0, 0, 0)
        else:
            s_ = sites[(k // 2) % len(sites)]
            g = NW["seat_grids"][s_]
            add(int(g["ids"][rng.integers(len(g["ids"]))]), "pharmacy",
                f"{chain}（{L['seat_names'][s_][:-1]}店）", 0, 0, 0)
    return rows


# ----------------------------------------------------------------------------- public API

# The input sections every generated scenario shares (a county's and a region's).
INPUTS_TOML = """[network]
source = "{network}"

[facilities]
path = "facilities.csv"
x = "lon"
y = "lat"
type = "type"
name = "name"
capacity = "beds"
crs = "EPSG:4326"

[population]
path = "population.tif"
"""

_SCENARIO = """[scenario]
name = "synthetic-county"

""" + INPUTS_TOML + """

[admin]
path = "townships.gpkg"
name = "name"
urban = "urban"

[targets]
use = ["medical_point_15min", "health_circle_30min", "ems_120"]
"""


def generate_county(out_dir: str | Path, *, seed: int = 0, area_km2: float = 2000.0, n_nodes: int = 100_000,
                    n_townships: int | None = None, center_lonlat: tuple[float, float] = (117.87, 33.48),
                    cell_size_m: float = 100.0, write_osm: bool = True, county_name: str = "某县"
                    ) -> SyntheticCounty:
    """Generate a synthetic county scenario folder, reproducibly from ``seed``.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write into (created if missing; existing files of the same names are
        replaced atomically).
    seed : int, default 0
        Seed, >= 0. The same seed and parameters give byte-identical files.
    area_km2 : float, default 2000
        County area, km² (10 to 20,000).
    n_nodes : int, default 100,000
        Target number of road nodes (1,000 to 2,000,000); the result is within about
        ±10 % when the target is at least ~12 nodes per km² (below that the settlement
        skeleton alone exceeds it and the count comes out higher).
    n_townships : int or None, default None
        Number of rural township units (镇/乡), 3 to 80 and at most ``area_km2 / 3``;
        default ``area_km2 / 100`` clipped to 3..30. Two to four urban 街道 units of the county town come on top.
    center_lonlat : (float, float), default (117.87, 33.48)
        Longitude and latitude of the county town centre, degrees WGS84.
    cell_size_m : float, default 100
        Population raster cell size, metres (10 to 1,000), converted to degrees at the
        town's latitude.
    write_osm : bool, default True
        Write ``roads.osm``; when False only ``roads.gpkg`` is written and the scenario
        points its network at it.
    county_name : str, default "某县"
        County name used in facility names.

    Returns
    -------
    SyntheticCounty
        Paths of the files written and headline numbers.

    Raises
    ------
    InputError
        For a parameter out of range; the message names the parameter.
    """
    t0 = time.perf_counter()
    seed = _check_int("seed", seed, 0, 2 ** 63 - 1)
    area_km2 = _check_range("area_km2", area_km2, 10.0, 20_000.0)
    n_nodes = _check_int("n_nodes", n_nodes, 1_000, 2_000_000)
    if n_townships is not None:
        n_townships = _check_int("n_townships", n_townships, 3, 80)
        if area_km2 / n_townships < 3.0:
            raise InputError(f"n_townships={n_townships} leaves less than 3 km² per township in "
                             f"area_km2={area_km2:g}; use at most {int(area_km2 // 3)} townships")
    try:
        lon0, lat0 = (float(v) for v in center_lonlat)
    except (TypeError, ValueError):
        raise InputError(f"center_lonlat must be a (lon, lat) pair of numbers, got {center_lonlat!r}") from None
    if not (-180 <= lon0 <= 180 and -70 <= lat0 <= 70):
        raise InputError(f"center_lonlat must have -180 <= lon <= 180 and -70 <= lat <= 70, got {center_lonlat!r}")
    cell_size_m = _check_range("cell_size_m", cell_size_m, 10.0, 1_000.0)
    if not isinstance(write_osm, bool):
        raise InputError(f"write_osm must be True or False, got {write_osm!r}")
    if not isinstance(county_name, str) or not county_name.strip():
        raise InputError(f"county_name must be a non-empty string, got {county_name!r}")
    if out_dir is None or str(out_dir) == "":
        raise InputError("out_dir must be a folder path")
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise InputError(f"out_dir exists and is not a folder: {out}")
    out.mkdir(parents=True, exist_ok=True)

    import geopandas as gpd
    from pyproj import Transformer

    L = _layout(seed, area_km2, n_nodes, n_townships)
    net_seq = L["seeds"][1]
    # first pass with a guess for the skeleton and crossings, second pass corrects
    NW = _build_network(L, n_nodes, int(0.03 * n_nodes), net_seq)
    n_first = len(np.unique(np.concatenate(NW["ways"])))
    if abs(n_first - n_nodes) > 0.05 * n_nodes:
        NW = _build_network(L, n_nodes, NW["n_cross"], net_seq)
    xy, ways, _ = _compact(NW["xy"], NW["ways"])
    tags = NW["tags"]

    aeqd = f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m +no_defs"
    tr = Transformer.from_crs(aeqd, "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(xy[:, 0], xy[:, 1])
    lon, lat = np.round(np.asarray(lon), 7), np.round(np.asarray(lat), 7)

    osm_path = out / "roads.osm"
    if write_osm:
        _write_osm(osm_path, lon, lat, ways, tags)
    # roads GeoPackage
    coords = np.stack([lon, lat], 1)
    lens = np.array([len(w) for w in ways])
    geoms = shapely.linestrings(coords[np.concatenate(ways)], indices=np.repeat(np.arange(len(ways)), lens))
    roads = gpd.GeoDataFrame({
        "osm_id": np.arange(1, len(ways) + 1, dtype=np.int64),
        "highway": [t[0] for t in tags],
        "name": [t[1] or None for t in tags],
        "ref": [t[2] or None for t in tags],
        "oneway": ["yes" if t[3] else None for t in tags],
        "maxspeed": [t[4] or None for t in tags],
    }, geometry=geoms, crs="EPSG:4326")
    _write_gpkg(out / "roads.gpkg", roads, "roads")

    # population
    pop, transform, _county_ll = _population_raster(L, tr.transform, (lon0, lat0), cell_size_m)
    _write_raster(out / "population.tif", pop, transform)
    population = float(pop.astype(np.float64).sum())

    # townships
    gens = L["gens"]
    vor = shapely.voronoi_polygons(shapely.multipoints(gens), extend_to=L["county"].buffer(L["rc"]),
                                   ordered=True)
    cells = [shapely.intersection(shapely.make_valid(c), L["county"]) for c in vor.geoms]
    cells_ll = [shapely.transform(c, lambda a: np.stack(tr.transform(a[:, 0], a[:, 1]), 1)) for c in cells]
    n_j = L["n_j"]
    county_code = f"3499{seed % 90 + 10:02d}"
    codes, zhen_k, xiang_k = [], 100, 200
    for k in range(len(gens)):
        if k < n_j:
            codes.append(f"{county_code}{k + 1:03d}000")
        elif L["is_zhen"][k - n_j]:
            zhen_k += 1
            codes.append(f"{county_code}{zhen_k:03d}000")
        else:
            xiang_k += 1
            codes.append(f"{county_code}{xiang_k:03d}000")
    townships = gpd.GeoDataFrame({
        "name": list(L["jnames"]) + list(L["seat_names"]),
        "urban": [True] * n_j + [False] * L["n_t"],
        "code": codes,
    }, geometry=cells_ll, crs="EPSG:4326")
    _write_gpkg(out / "townships.gpkg", townships, "townships")

    # facilities
    frng = np.random.default_rng(L["seeds"][3])
    rows = _facilities(L, NW, frng, county_name.strip())  # node ids before compaction
    fx = np.array([r["x"] for r in rows])
    fy = np.array([r["y"] for r in rows])
    flon, flat = tr.transform(fx, fy)

    def write_csv(fh) -> None:
        wr = csv.writer(fh, lineterminator="\n")
        wr.writerow(["lon", "lat", "type", "name", "beds", "doctors", "nurses"])
        for r, a, b in zip(rows, flon, flat):
            wr.writerow([f"{a:.7f}", f"{b:.7f}", r["type"], r["name"], r["beds"], r["doctors"], r["nurses"]])

    with write_atomic(out / "facilities.csv", "w", encoding="utf-8") as fh:
        write_csv(fh)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["type"]] = counts.get(r["type"], 0) + 1

    with write_atomic(out / "scenario.toml") as fh:
        fh.write(_SCENARIO.format(network="roads.osm" if write_osm else "roads.gpkg"))

    oneway = np.array([t[3] for t in tags])
    n_edges = int(((lens - 1) * np.where(oneway, 1, 2)).sum())
    return SyntheticCounty(
        directory=out, roads_osm=osm_path if write_osm else None, roads_gpkg=out / "roads.gpkg",
        facilities_csv=out / "facilities.csv", population_tif=out / "population.tif",
        townships_gpkg=out / "townships.gpkg", scenario_toml=out / "scenario.toml",
        n_nodes=int(len(xy)), population=population, n_ways=len(ways), n_edges=n_edges,
        area_km2=float(L["county"].area / 1e6), facility_counts=dict(sorted(counts.items())),
        n_villages=len(L["villages"]),
        seconds=time.perf_counter() - t0)
