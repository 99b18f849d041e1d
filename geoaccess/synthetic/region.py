"""A synthetic province: real county outlines filled with generated counties.

:func:`generate_region` lays one synthetic county (the generator of
:func:`geoaccess.synthetic.generate_county`: county town, township seats, villages,
hamlets, road hierarchy, facilities, population) into each given county polygon, joins
neighbouring counties' networks where their national/provincial roads leave the county,
and writes one province-wide set of inputs plus a region scenario for
``geoaccess run-region``.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from scipy.spatial import cKDTree
from shapely.ops import polylabel

from ..errors import InputError
from ..io import read_vector, write_atomic
from .common import _check_int, _check_range, _deg_sizes
from .county import INPUTS_TOML, _facilities
from .files import _population_raster, _write_gpkg, _write_raster
from .layout import _layout
from .network import _build_network, _compact

__all__ = ["SyntheticRegion", "generate_region"]

#: How far a county's border road may be joined to the neighbouring county's nearest node, m.
_JOIN_MAX_M = 5_000.0

_REGION_TOML = """[region]
name = "synthetic-province"
units = "counties.geojson"
id = "{id_column}"
name_column = "{name_column}"
crs = "{crs}"

""" + INPUTS_TOML.replace("{network}", "roads.gpkg") + """

[targets]
use = ["medical_point_15min", "health_circle_30min", "ems_120"]
"""


@dataclass(frozen=True)
class SyntheticRegion:
    """Files and headline numbers of a generated province.

    Attributes
    ----------
    directory : Path
        Folder holding every file.
    region_toml, counties, roads_gpkg, facilities_csv, population_tif : Path
        The region scenario, the county polygons (as given, in their own CRS), the
        province road network (EPSG:4326), facilities and population raster.
    county_ids : list of str
        Counties generated, in file order.
    n_nodes : int
        Road nodes written (all counties).
    population : float
        Raster total, persons.
    n_facilities : int
        Facilities written.
    seconds : float
        Wall-clock generation time, s.
    """

    directory: Path
    region_toml: Path
    counties: Path
    roads_gpkg: Path
    facilities_csv: Path
    population_tif: Path
    county_ids: list[str]
    n_nodes: int
    population: float
    n_facilities: int
    seconds: float


def generate_region(out_dir: str | Path, counties: str | Path, *, id_column: str = "adcode",
                    name_column: str = "district", crs: str = "GCJ-02", only: list[str] | None = None,
                    seed: int = 0, nodes_per_km2: float = 18.0, cell_size_m: float = 100.0) -> SyntheticRegion:
    """Fill real county polygons with synthetic counties and write a region scenario.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write into (created if missing).
    counties : str or Path
        Polygon file of the counties (any vector format GDAL reads).
    id_column, name_column : str
        Columns holding each county's id (admin code) and name.
    crs : str, default "GCJ-02"
        What the polygon coordinates are: ``"GCJ-02"`` / ``"BD-09"`` lon/lat (shifted to
        WGS84 to lay out the roads) or an EPSG code. Written into ``region.toml``.
    only : list of str, optional
        Ids of the counties to generate (default: all); the others are left out of
        ``counties.geojson`` too.
    seed : int, default 0
        Seed; county *k* of the file uses a seed derived from ``(seed, k)``, so one county
        is the same whichever others are generated.
    nodes_per_km2 : float, default 18
        Road-node density (the 2,000 km² synthetic county of the README has ~36,000).
    cell_size_m : float, default 100
        Population raster cell size, metres at the province's mean latitude.

    Returns
    -------
    SyntheticRegion

    Raises
    ------
    InputError
        A missing or unreadable ``counties`` file, a missing column, an unknown id in
        ``only``, a parameter out of range.
    """
    import geopandas as gpd
    from pyproj import Transformer

    from ..coords import to_wgs84_lonlat

    t0 = time.perf_counter()
    seed = _check_int("seed", seed, 0, 2 ** 63 - 1)
    nodes_per_km2 = _check_range("nodes_per_km2", nodes_per_km2, 1.0, 500.0)
    cell_size_m = _check_range("cell_size_m", cell_size_m, 10.0, 1_000.0)
    polys = read_vector(counties, "county polygons file")
    for col in (id_column, name_column):
        if col not in polys.columns:
            raise InputError(f"{counties}: no column {col!r}; columns: {', '.join(map(str, polys.columns))}")
    polys[id_column] = polys[id_column].astype(str)
    index = {cid: k for k, cid in enumerate(polys[id_column])}  # seed per county: its row in the file
    if only is not None:
        unknown = [c for c in only if c not in index]
        if unknown:
            raise InputError(f"only= names ids not in {counties}: {', '.join(unknown)}")
        polys = polys[polys[id_column].isin(only)]
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)

    # Coordinates as given (GCJ-02 shifted to WGS84 vertex by vertex; shifts vary by < 1 m per km).
    def to_wgs(geom):
        if crs.upper().startswith("EPSG"):
            return shapely.transform(geom, lambda c: np.stack(
                Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(c[:, 0], c[:, 1]), 1))
        return shapely.transform(geom, lambda c: np.stack(to_wgs84_lonlat(c[:, 0], c[:, 1], crs), 1))

    wgs = [to_wgs(g) for g in polys.geometry]
    lat_mid = float(np.mean([g.centroid.y for g in wgs]))
    m_lon, m_lat = _deg_sizes(lat_mid)
    cell_deg = (cell_size_m / m_lon, cell_size_m / m_lat)  # one lattice for the whole province

    roads, fac_rows, rasters, ends = [], [], [], []
    n_nodes = 0
    for (cid, cname), poly_ll in zip(zip(polys[id_column], polys[name_column].astype(str)), wgs):
        part = _one_county(poly_ll, seed, index[cid], nodes_per_km2, cell_size_m, cell_deg, cid, cname)
        roads.append(part["roads"])
        fac_rows += part["facilities"]
        rasters.append(part["raster"])
        ends.append(part["ends"])
        n_nodes += part["n_nodes"]

    roads_gdf = gpd.GeoDataFrame(
        {k: np.concatenate([r[k] for r in roads]) for k in ("county", "highway", "name", "ref", "oneway", "maxspeed")},
        geometry=np.concatenate([r["geometry"] for r in roads]), crs="EPSG:4326")
    joins = _border_joins(roads, ends, lat_mid)
    if len(joins):
        roads_gdf = gpd.GeoDataFrame(
            {**{k: np.concatenate([roads_gdf[k].to_numpy(dtype=object), np.full(len(joins), None, dtype=object)])
                for k in ("county", "name", "ref", "oneway", "maxspeed")},
             "highway": np.concatenate([roads_gdf["highway"].to_numpy(dtype=object),
                                        np.full(len(joins), "tertiary", dtype=object)])},
            geometry=np.concatenate([roads_gdf.geometry.to_numpy(), joins]), crs="EPSG:4326")
    roads_gdf.insert(0, "osm_id", np.arange(1, len(roads_gdf) + 1, dtype=np.int64))
    _write_gpkg(out / "roads.gpkg", roads_gdf, "roads")

    pop, transform = _merge_rasters(rasters, cell_deg)
    _write_raster(out / "population.tif", pop, transform)

    with write_atomic(out / "facilities.csv", "w", encoding="utf-8") as fh:
        wr = csv.writer(fh, lineterminator="\n")
        wr.writerow(["county", "lon", "lat", "type", "name", "beds", "doctors", "nurses"])
        for r in fac_rows:
            wr.writerow([r["county"], f"{r['lon']:.7f}", f"{r['lat']:.7f}", r["type"], r["name"], r["beds"],
                         r["doctors"], r["nurses"]])
    polys.to_file(out / "counties.geojson", driver="GeoJSON")
    with write_atomic(out / "region.toml") as fh:
        fh.write(_REGION_TOML.format(id_column=id_column, name_column=name_column, crs=crs))
    return SyntheticRegion(directory=out, region_toml=out / "region.toml", counties=out / "counties.geojson",
                           roads_gpkg=out / "roads.gpkg", facilities_csv=out / "facilities.csv",
                           population_tif=out / "population.tif", county_ids=list(polys[id_column]),
                           n_nodes=n_nodes, population=float(pop.astype(np.float64).sum()),
                           n_facilities=len(fac_rows), seconds=time.perf_counter() - t0)


def _one_county(poly_ll, seed: int, k: int, nodes_per_km2: float, cell_size_m: float,
                cell_deg: tuple[float, float], cid: str, cname: str) -> dict[str, Any]:
    """One county laid into its outline: roads (lon/lat), facilities, raster, border road ends."""
    from pyproj import Transformer

    poly_ll = max(getattr(poly_ll, "geoms", [poly_ll]), key=lambda g: g.area)  # main part of a multipolygon
    # county town at the polygon's pole of inaccessibility, found in a first local projection
    c = poly_ll.representative_point()
    aeqd = f"+proj=aeqd +lat_0={c.y} +lon_0={c.x} +datum=WGS84 +units=m +no_defs"
    fwd = Transformer.from_crs("EPSG:4326", aeqd, always_xy=True)
    local = shapely.transform(poly_ll, lambda a: np.stack(fwd.transform(a[:, 0], a[:, 1]), 1))
    town = polylabel(local, tolerance=200.0)
    lon0, lat0 = Transformer.from_crs(aeqd, "EPSG:4326", always_xy=True).transform(town.x, town.y)
    aeqd = f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m +no_defs"
    fwd = Transformer.from_crs("EPSG:4326", aeqd, always_xy=True)
    inv = Transformer.from_crs(aeqd, "EPSG:4326", always_xy=True)
    local = shapely.transform(poly_ll, lambda a: np.stack(fwd.transform(a[:, 0], a[:, 1]), 1))
    area_km2 = local.area / 1e6
    n_nodes = int(np.clip(round(nodes_per_km2 * area_km2), 1_000, 2_000_000))
    county_seed = int(np.random.SeedSequence([seed, k]).generate_state(1, dtype=np.uint64)[0] >> 1)
    n_t = int(np.clip(round(area_km2 / 100), 3, 30))
    L = _layout(county_seed, area_km2, n_nodes, n_t, polygon=local)
    NW = _build_network(L, n_nodes, int(0.03 * n_nodes), L["seeds"][1])
    xy, ways, _ = _compact(NW["xy"], NW["ways"])
    lon, lat = (np.round(np.asarray(v), 7) for v in inv.transform(xy[:, 0], xy[:, 1]))
    coords = np.stack([lon, lat], 1)
    lens = np.array([len(w) for w in ways])
    geoms = shapely.linestrings(coords[np.concatenate(ways)], indices=np.repeat(np.arange(len(ways)), lens))
    tags = NW["tags"]
    roads = {"county": np.full(len(ways), cid, dtype=object),
             "highway": np.array([t[0] for t in tags], dtype=object),
             "name": np.array([t[1] or None for t in tags], dtype=object),
             "ref": np.array([t[2] or None for t in tags], dtype=object),
             "oneway": np.array(["yes" if t[3] else None for t in tags], dtype=object),
             "maxspeed": np.array([t[4] or None for t in tags], dtype=object), "geometry": geoms}
    # ends of the national/provincial roads and the expressway that run past the border: joined to
    # the neighbour by an ordinary road in _border_joins (the counties' generators do not know each other)
    major = np.isin(roads["highway"], ["trunk", "primary", "motorway"])
    end_nodes = np.unique(np.concatenate([[w[0], w[-1]] for w, m in zip(ways, major) if m] or [np.zeros(0, int)]))
    end_nodes = end_nodes[~shapely.contains_xy(local, xy[end_nodes, 0], xy[end_nodes, 1])]
    pop, transform, _ = _population_raster(L, inv.transform, (lon0, lat0), cell_size_m, cell_deg=cell_deg)
    rows = _facilities(L, NW, np.random.default_rng(L["seeds"][3]), cname)
    flon, flat = inv.transform(np.array([r["x"] for r in rows]), np.array([r["y"] for r in rows]))
    for r, a, b in zip(rows, flon, flat):
        r.update(county=cid, lon=float(a), lat=float(b))
    return dict(roads=roads, facilities=rows, raster=(pop, transform), n_nodes=len(xy),
                ends=dict(ll=coords[end_nodes], all_ll=coords))


def _border_joins(roads: list[dict], ends: list[dict], lat_mid: float) -> np.ndarray:
    """Short roads from each county's border road ends to the nearest node of another county."""
    m_lon, m_lat = _deg_sizes(lat_mid)
    scale = np.array([m_lon, m_lat])
    owner = np.concatenate([np.full(len(e["all_ll"]), k) for k, e in enumerate(ends)])
    pts = np.concatenate([e["all_ll"] for e in ends])
    tree = cKDTree(pts * scale)
    lines = []
    for k, e in enumerate(ends):
        if not len(e["ll"]):
            continue
        others = owner != k
        d, j = tree.query(e["ll"] * scale, k=64, distance_upper_bound=_JOIN_MAX_M)
        for a, (dd, jj) in enumerate(zip(d, j)):
            ok = np.isfinite(dd) & (jj < len(pts))
            ok[ok] = others[jj[ok]]
            if ok.any():
                b = jj[np.flatnonzero(ok)[0]]
                lines.append(shapely.LineString([e["ll"][a], pts[b]]))
    return np.array(lines, dtype=object)


def _merge_rasters(rasters: list[tuple[np.ndarray, Any]], cell_deg: tuple[float, float]):
    """Sum county grids on one lattice into a province grid (each county is 0 outside itself)."""
    from affine import Affine

    dx, dy = cell_deg
    west = min(t.c for _, t in rasters)
    north = max(t.f for _, t in rasters)
    cols = [int(round((t.c - west) / dx)) for _, t in rasters]
    rows = [int(round((north - t.f) / dy)) for _, t in rasters]
    width = max(c + p.shape[1] for c, (p, _) in zip(cols, rasters))
    height = max(r + p.shape[0] for r, (p, _) in zip(rows, rasters))
    out = np.zeros((height, width), dtype=np.float32)
    for c, r, (p, _) in zip(cols, rows, rasters):
        out[r:r + p.shape[0], c:c + p.shape[1]] += p
    return out, Affine(dx, 0.0, west, 0.0, -dy, north)
