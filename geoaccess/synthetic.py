"""Synthetic Chinese county generator for benchmarks, tests and a rural demo.

:func:`generate_county` writes a complete, self-consistent scenario folder from a seed:

=====================  ==================================================================
``roads.osm``          OSM XML (0.6) road network, loadable by ``osmnx.graph_from_xml``
``roads.gpkg``         the same ways as LineStrings (layer ``roads``, EPSG:4326)
``facilities.csv``     health facilities (lon, lat, type, name, beds, doctors, nurses)
``population.tif``     persons per cell, float32, EPSG:4326 (WorldPop-like)
``townships.gpkg``     township units partitioning the county (layer ``townships``)
``scenario.toml``      scenario file pointing at the above with relative paths
=====================  ==================================================================

What the county looks like
--------------------------
* An irregular, star-shaped county polygon of ``area_km2``; the county town sits at
  ``center_lonlat``.
* The county town is a dense, slightly rotated street grid (``primary``/``secondary``/
  ``tertiary`` main streets, ``residential`` side streets, ``service`` dead-end spurs);
  about a third of the side streets in the core are ``oneway=yes`` in either orientation.
* Township seats are smaller grids; administrative villages are small irregular lane
  clusters, clustered around seats; natural villages (hamlets) are short lanes clustered
  around villages.
* The rural network is a subset of the Delaunay triangulation of all settlements (a
  spanning tree plus loops), so it is planar by construction; a road hierarchy is laid on
  it by shortest paths: one ``trunk`` (national road) across the county through the town,
  ``primary`` (provincial) roads to large seats and the border, ``secondary`` county roads
  from the town to every seat, ``tertiary`` township roads from each seat to its villages,
  and ``unclassified``/``track`` village roads (hamlets are often dead ends). Rural roads
  curve (intermediate shape nodes).
* An expressway (``motorway``, a single two-way carriageway) crosses the county and
  passes over every road it crosses without a shared node; it is joined to the network
  only at 1-3 interchanges by ``motorway_link`` ways (one for counties under 400 km²).
* The expressway, the national road and the provincial roads run a few hundred metres
  past the county edge and end there, as in an extract clipped to the county.
* ``maxspeed`` is tagged on the expressway (120), its links (40), the national road (80),
  provincial roads (60), about half the county roads (60), some township roads (40), the
  town's main streets (40) and its side streets (30).
* Every other crossing of two ways is a shared node (the network is planarised after it
  is laid out). The network is one strongly connected component (no deliberate islands).

Coordinates are laid out in metres in an azimuthal equidistant projection centred on the
county town and converted to WGS84 with pyproj. Everything is drawn from
``numpy.random.SeedSequence(seed)``; the same seed gives byte-identical files.
"""

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
from scipy import sparse
from scipy.ndimage import gaussian_filter
from scipy.sparse import csgraph
from scipy.spatial import Delaunay, cKDTree

from .errors import InputError
from .io import write_atomic, write_with

__all__ = ["SyntheticCounty", "generate_county"]

#: Rank of each rural road class (lower = more important); motorway is laid separately.
_CLASSES = ("motorway", "trunk", "primary", "secondary", "tertiary", "unclassified", "track")
_RANK = {c: i for i, c in enumerate(_CLASSES)}
_UNSET = 99

# Fixed timestamp GDAL writes into GeoPackage metadata, so files are byte-reproducible.
_GPKG_DATE = "2024-01-01T00:00:00.000Z"

_SURNAMES = ("张王李赵刘陈杨黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
             "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
             "龚邵万钱严武戴孔汤")
_VILLAGE_SUFFIX = "庄集楼寨湖店营桥岗圩台湾屯堂口铺园坊洼沟"
_VILLAGE_PREFIX = ("", "", "", "大", "小", "前", "后", "东", "西", "南", "北", "新")
_TOWN_FIRST = "双龙凤马岳板坛漆楚立许篱乐白涡曹王金淮永兴义丰太阳古高新柳桃梅竹石沙河"
_TOWN_SECOND = "集店桥湖寺口铺圩岗营塘庙城寨埠"
_MAIN_STREETS = ("人民路", "解放路", "建设路", "中山路", "文化路", "新华路", "胜利路", "和平路", "长江路",
                 "黄河路", "淮河路", "光明路", "友谊路", "团结路", "幸福路", "健康路", "育才路", "工业路",
                 "商业街", "府前街", "东风路", "红旗路", "朝阳路", "迎宾大道", "振兴路", "民主路", "青年路",
                 "北京路", "南京路", "上海路", "花园路", "体育路", "环城路", "沿河路", "滨湖路", "学府路")
_LANE_WORDS = ("槐树", "杨柳", "桂花", "石榴", "兴隆", "太平", "永安", "福寿", "仁和", "吉祥", "康乐",
               "安居", "锦绣", "丰收", "平安", "长寿", "顺河", "后街", "菜市", "粮站", "油坊", "染坊")
_EXPRESSWAYS = (("济广高速", "G35"), ("宁洛高速", "G36"), ("泗许高速", "S04"), ("合徐高速", "G3"),
                ("淮徐高速", "S12"))
_NATIONAL = (104, 105, 206, 311, 343, 344, 345)
_PROVINCIAL = (202, 203, 225, 305, 306, 307, 308)
_PHARMACIES = ("老百姓大药房", "益丰大药房", "国药控股大药房", "华佗大药房", "同仁堂药店", "百姓缘大药房")

_WGS84_A = 6378137.0


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


# ----------------------------------------------------------------------------- validation

def _check_int(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if not lo <= int(value) <= hi:
        raise InputError(f"{name} must be between {lo} and {hi}, got {value!r}")
    return int(value)


def _check_range(name: str, value: Any, lo: float, hi: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not (lo <= number <= hi):
        raise InputError(f"{name} must be between {lo:g} and {hi:g}, got {value!r}")
    return number


# ----------------------------------------------------------------------------- small helpers

def _thin(points: np.ndarray, min_dist: float) -> np.ndarray:
    """Indices of a greedy, order-preserving subset with pairwise distance >= min_dist."""
    if len(points) == 0:
        return np.zeros(0, dtype=np.int64)
    pairs = cKDTree(points).query_pairs(min_dist, output_type="ndarray")
    keep = np.ones(len(points), dtype=bool)
    if len(pairs):
        pairs = np.sort(pairs, axis=1)
        pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
        for i, j in pairs.tolist():
            if keep[i] and keep[j]:
                keep[j] = False
    return np.flatnonzero(keep)


def _far_from(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Mask of points farther than radii[k] from every centre k."""
    ok = np.ones(len(points), dtype=bool)
    if len(centres) == 0 or len(points) == 0:
        return ok
    near = cKDTree(points).query_ball_point(centres, np.asarray(radii, dtype=float))
    hit = [k for lst in near for k in lst]
    ok[np.asarray(hit, dtype=np.int64)] = False
    return ok


def _unique_names(rng: np.random.Generator, n: int, make, pool_size: int) -> list[str]:
    """n distinct names from make(index) over a shuffled index pool."""
    out: list[str] = []
    seen: set[str] = set()
    for k in rng.permutation(pool_size).tolist():
        name = make(k)
        if name not in seen:
            seen.add(name)
            out.append(name)
            if len(out) == n:
                return out
    i = 0
    while len(out) < n:  # pool exhausted: number the rest
        i += 1
        name = f"{make(i % pool_size)}{i}"
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out


def _village_name(k: int) -> str:
    ns, nx = len(_SURNAMES), len(_VILLAGE_SUFFIX)
    p = _VILLAGE_PREFIX[k // (ns * nx) % len(_VILLAGE_PREFIX)]
    return f"{p}{_SURNAMES[k % ns]}{_VILLAGE_SUFFIX[k // ns % nx]}"


def _township_stem(k: int) -> str:
    return f"{_TOWN_FIRST[k % len(_TOWN_FIRST)]}{_TOWN_SECOND[k // len(_TOWN_FIRST) % len(_TOWN_SECOND)]}"


def _stem(street: str) -> str:
    """Street name without its 路/街/大道 suffix."""
    for suffix in ("大道", "路", "街"):
        if street.endswith(suffix):
            return street[: -len(suffix)]
    return street


def _deg_sizes(lat: float) -> tuple[float, float]:
    """Metres per degree of longitude and latitude on WGS84 at ``lat`` (degrees)."""
    phi = math.radians(lat)
    m_lat = 111132.92 - 559.82 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi) - 0.0023 * math.cos(6 * phi)
    m_lon = 111412.84 * math.cos(phi) - 93.5 * math.cos(3 * phi) + 0.118 * math.cos(5 * phi)
    return m_lon, m_lat


# ----------------------------------------------------------------------------- network builder

class _Net:
    """Growing node table (metres) and way list."""

    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = []
        self.n = 0
        self.ways: list[np.ndarray] = []
        self.tags: list[list[Any]] = []  # [highway, name, ref, oneway(bool), maxspeed]

    def add_nodes(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        ids = np.arange(self.n, self.n + len(xy), dtype=np.int64)
        self._chunks.append(xy)
        self.n += len(xy)
        return ids

    def add_way(self, nodes, highway: str, name: str = "", ref: str = "", oneway: bool = False,
                maxspeed: str = "") -> None:
        nodes = np.asarray(nodes, dtype=np.int64)
        if len(nodes) >= 2:
            self.ways.append(nodes)
            self.tags.append([highway, name, ref, oneway, maxspeed])

    def xy(self) -> np.ndarray:
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return self._chunks[0] if self._chunks else np.zeros((0, 2))


def _grid(net: _Net, rng: np.random.Generator, centre, radius: float, spacing: float, *,
          angle: float, jitter: float = 0.06, irregular: float = 0.15, main_every: int = 0,
          main_classes: tuple[str, str] = ("secondary", "tertiary"), minor: str = "residential",
          names: list[str] | None = None, oneway_frac: float = 0.0, drop_frac: float = 0.0,
          spur_frac: float = 0.0, minor_speed: str = "", main_speed: str = "") -> dict[str, Any]:
    """Lay a rotated, jittered street grid clipped to a wobbly disk; return node ids."""
    n = max(1, int(math.ceil(radius * 1.35 / spacing)))
    k = np.arange(-n, n + 1)
    jj, ii = np.meshgrid(k, k, indexing="ij")
    u, v = ii * spacing, jj * spacing
    phi = np.arctan2(v, u)
    wob = np.zeros_like(phi)
    for h in (1, 2, 3):
        wob += rng.normal(0, 1) / h * np.cos(h * phi + rng.uniform(0, 2 * np.pi))
    inside = np.hypot(u, v) <= radius * (1 + irregular * wob / 1.6)
    inside[n, n] = True
    pts = np.stack([u, v], axis=-1) + rng.normal(0, jitter * spacing, (2 * n + 1, 2 * n + 1, 2))
    pts[n, n] = 0.0
    c, s = math.cos(angle), math.sin(angle)
    pts = pts @ np.array([[c, s], [-s, c]]) + np.asarray(centre, dtype=float)
    idx = np.full(inside.shape, -1, dtype=np.int64)
    idx[inside] = net.add_nodes(pts[inside])
    names = list(names or [])
    lanes = [f"{w}巷" for w in _LANE_WORDS]
    # one-way streets: minor lines in the core, in couplets of alternating direction
    core = [kk for kk in range(-n, n + 1) if abs(kk) <= 0.55 * n and not (main_every and kk % main_every == 0)]
    one_lines: dict[tuple[int, int], bool] = {}
    if oneway_frac > 0 and len(core) >= 2:
        for axis in (0, 1):
            m = max(1, int(round(oneway_frac * len(core))))
            chosen = sorted(rng.choice(core, size=min(m, len(core)), replace=False).tolist())
            start = int(rng.integers(2))
            for q, kk in enumerate(chosen):
                one_lines[(axis, kk)] = bool((q + start) % 2)
    for axis in (0, 1):
        lines = idx if axis == 0 else idx.T
        for li in range(lines.shape[0]):
            row = lines[li]
            kk = li - n
            seg = (row[:-1] >= 0) & (row[1:] >= 0)
            if not seg.any():
                continue
            if main_every and kk == 0:
                hw, speed = main_classes[0], main_speed
            elif main_every and kk % main_every == 0:
                hw, speed = main_classes[1], main_speed
            else:
                hw, speed = minor, minor_speed
            is_main = hw != minor
            oneway = (axis, kk) in one_lines
            if not is_main and not oneway and drop_frac:
                seg &= rng.random(len(seg)) >= drop_frac
            if is_main and names:
                name = names.pop(0)
            elif not is_main and rng.random() < 0.35:
                name = lanes[int(rng.integers(len(lanes)))]
            else:
                name = ""
            if oneway and not speed:
                speed = "30"
            flip = one_lines.get((axis, kk), False)
            d = np.diff(np.concatenate([[0], seg.astype(np.int8), [0]]))
            for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)):
                nodes = row[a:b + 1]
                net.add_way(nodes[::-1] if flip else nodes, hw, name, "", oneway, speed)
    if spur_frac:
        cand = np.argwhere(inside)
        pick = cand[rng.random(len(cand)) < spur_frac]
        if len(pick):
            quad = rng.integers(0, 4, len(pick))
            ang = angle + np.pi / 4 + quad * np.pi / 2
            ln = rng.uniform(0.25, 0.42, len(pick)) * spacing * math.sqrt(2)
            base = pts[pick[:, 0], pick[:, 1]]
            ends = net.add_nodes(base + np.stack([np.cos(ang), np.sin(ang)], 1) * ln[:, None])
            for (a, b), e in zip(pick.tolist(), ends.tolist()):
                net.add_way([idx[a, b], e], "service")
    pad = np.pad(inside, 1)
    full = pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
    boundary = idx[inside & ~full]
    if len(boundary) == 0:
        boundary = idx[inside]
    return {"ids": idx[inside], "boundary": boundary, "centre_id": int(idx[n, n]),
            "centre": np.asarray(centre, dtype=float), "radius": radius}


# ----------------------------------------------------------------------------- planarisation

def _planarize(xy: np.ndarray, ways: list[np.ndarray], skip: np.ndarray, snap: float = 1.5
               ) -> tuple[np.ndarray, list[np.ndarray], int]:
    """Give every crossing of two non-skipped segments a shared node.

    Returns the new node table, the new ways and the number of nodes added.
    """
    lens = np.array([len(w) - 1 for w in ways])
    way_of = np.repeat(np.arange(len(ways)), lens)
    pos_of = np.concatenate([np.arange(m) for m in lens])
    allnodes = np.concatenate(ways)
    starts = np.concatenate([[0], np.cumsum(lens + 1)[:-1]])
    first = np.ones(len(allnodes), dtype=bool)
    first[(starts + lens)] = False  # last node of each way starts no segment
    u = allnodes[first]
    last = np.ones(len(allnodes), dtype=bool)
    last[starts] = False
    v = allnodes[last]
    seg_ok = ~skip[way_of]
    sid = np.flatnonzero(seg_ok)
    lines = shapely.linestrings(np.stack([xy[u[sid]], xy[v[sid]]], axis=1))
    tree = shapely.STRtree(lines)
    qi, qj = tree.query(lines, predicate="intersects")
    m = qi < qj
    i, j = sid[qi[m]], sid[qj[m]]
    shared = (u[i] == u[j]) | (u[i] == v[j]) | (v[i] == u[j]) | (v[i] == v[j])
    i, j = i[~shared], j[~shared]
    if len(i) == 0:
        return xy, ways, 0
    a0, a1, b0, b1 = xy[u[i]], xy[v[i]], xy[u[j]], xy[v[j]]
    da, db, r = a1 - a0, b1 - b0, b0 - a0
    den = da[:, 0] * db[:, 1] - da[:, 1] * db[:, 0]
    ok = np.abs(den) > 1e-9
    i, j, a0, da, db, r, den = i[ok], j[ok], a0[ok], da[ok], db[ok], r[ok], den[ok]
    t = np.clip((r[:, 0] * db[:, 1] - r[:, 1] * db[:, 0]) / den, 0, 1)
    s = np.clip((r[:, 0] * da[:, 1] - r[:, 1] * da[:, 0]) / den, 0, 1)
    la, lb = np.hypot(*da.T), np.hypot(*db.T)
    junction = np.full(len(i), -1, dtype=np.int64)
    for cond, node in ((t * la < snap, u[i]), ((1 - t) * la < snap, v[i]),
                       (s * lb < snap, u[j]), ((1 - s) * lb < snap, v[j])):
        pick = (junction < 0) & cond
        junction[pick] = node[pick]
    new = junction < 0
    n_new = int(new.sum())
    junction[new] = len(xy) + np.arange(n_new)
    xy = np.concatenate([xy, a0[new] + t[new, None] * da[new]])
    ins_seg = np.concatenate([i, j])
    ins_t = np.concatenate([t, s])
    ins_node = np.concatenate([junction, junction])
    keep = (ins_node != u[ins_seg]) & (ins_node != v[ins_seg])
    ins_seg, ins_t, ins_node = ins_seg[keep], ins_t[keep], ins_node[keep]
    # one insertion per (segment, node)
    order = np.lexsort((ins_t, ins_node, ins_seg))
    ins_seg, ins_t, ins_node = ins_seg[order], ins_t[order], ins_node[order]
    dup = np.zeros(len(ins_seg), dtype=bool)
    dup[1:] = (ins_seg[1:] == ins_seg[:-1]) & (ins_node[1:] == ins_node[:-1])
    ins_seg, ins_t, ins_node = ins_seg[~dup], np.clip(ins_t[~dup], 1e-9, 1 - 1e-9), ins_node[~dup]
    # original nodes: (way, pos, 0); insertions: (way, pos, t)
    node_way = np.repeat(np.arange(len(ways)), lens + 1)
    node_pos = np.concatenate([np.arange(m + 1) for m in lens])
    W = np.concatenate([node_way, way_of[ins_seg]])
    P = np.concatenate([node_pos, pos_of[ins_seg]])
    T = np.concatenate([np.zeros(len(allnodes)), ins_t])
    N = np.concatenate([allnodes, ins_node])
    order = np.lexsort((T, P, W))
    W, N = W[order], N[order]
    keep = np.ones(len(N), dtype=bool)
    keep[1:] = ~((N[1:] == N[:-1]) & (W[1:] == W[:-1]))
    W, N = W[keep], N[keep]
    bounds = np.flatnonzero(np.diff(W)) + 1
    return xy, np.split(N, bounds), n_new


def _components(n: int, ways: list[np.ndarray], oneway: np.ndarray | None = None,
                strong: bool = False) -> np.ndarray:
    """Component label per node (weak, or strong honouring one-way ways)."""
    allnodes = np.concatenate(ways)
    lens = np.array([len(w) for w in ways])
    last = np.cumsum(lens) - 1
    mask = np.ones(len(allnodes), dtype=bool)
    mask[last] = False
    u = allnodes[mask]
    v = allnodes[np.roll(mask, 1)]
    if strong and oneway is not None:
        seg_one = np.repeat(oneway, lens - 1)
        rows = np.concatenate([u, v[~seg_one]])
        cols = np.concatenate([v, u[~seg_one]])
    else:
        rows, cols = u, v
    g = sparse.coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n)).tocsr()
    _, lab = csgraph.connected_components(g, directed=strong, connection="strong" if strong else "weak")
    return lab


# ----------------------------------------------------------------------------- layout

def _county_polygon(rng: np.random.Generator, area_m2: float) -> tuple[shapely.Polygon, np.ndarray]:
    theta = np.linspace(0, 2 * np.pi, 360, endpoint=False)
    logr = np.zeros_like(theta)
    for k in range(1, 9):
        amp = rng.normal(0, 0.22 / k ** 0.8) * (1.5 if k == 2 else 1.0)
        logr += amp * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    logr = np.clip(logr, -0.55, 0.55)
    r = np.exp(logr)
    ring = np.stack([r * np.cos(theta), r * np.sin(theta)], 1)
    poly = shapely.Polygon(ring)
    scale = math.sqrt(area_m2 / poly.area)
    shift = rng.normal(0, 0.06, 2) * math.sqrt(area_m2 / math.pi)
    poly = shapely.Polygon(ring * scale + shift)
    return poly, shift


def _ray_exit(poly: shapely.Polygon, origin: np.ndarray, ang: float, extra: float) -> np.ndarray:
    """Point ``extra`` metres beyond where a ray from origin leaves the polygon (last exit)."""
    far = origin + 1e7 * np.array([math.cos(ang), math.sin(ang)])
    hit = shapely.intersection(poly.exterior, shapely.LineString([origin, far]))
    pts = shapely.get_coordinates(hit)
    d = np.hypot(*(pts - origin).T)
    p = pts[np.argmax(d)]
    return p + extra * np.array([math.cos(ang), math.sin(ang)])


def _layout(seed: int, area_km2: float, n_nodes: int, n_townships: int | None) -> dict[str, Any]:
    """Draw settlements, populations and the expressway line (everything but road shapes)."""
    kids = np.random.SeedSequence(seed).spawn(4)  # layout, network, raster, facilities
    rng = np.random.default_rng(kids[0])
    area = area_km2 * 1e6
    rc = math.sqrt(area / math.pi)
    county, _ = _county_polygon(rng, area)
    n_t = n_townships if n_townships is not None else int(np.clip(round(area_km2 / 100), 3, 30))
    n_j = int(np.clip(round(n_t / 7), 2, 4))
    # population
    density = rng.uniform(380, 470)
    total_pop = density * area_km2
    shares = {"town": rng.uniform(0.25, 0.31), "seats": rng.uniform(0.15, 0.19),
              "hamlets": rng.uniform(0.12, 0.16), "background": 0.04}
    shares["villages"] = 1 - sum(shares.values())
    # county town at the origin
    town_r = math.sqrt(area * 0.011 / math.pi)
    town = {"centre": np.zeros(2), "radius": town_r, "angle": rng.uniform(-0.35, 0.35)}
    # expressway: a gentle curve passing beside the town
    alpha = rng.uniform(0, np.pi)
    tdir = np.array([math.cos(alpha), math.sin(alpha)])
    ndir = np.array([-tdir[1], tdir[0]]) * (1 if rng.random() < 0.5 else -1)
    offset = town_r + rng.uniform(0.15, 0.3) * rc
    line = shapely.LineString([ndir * offset - 3 * rc * tdir, ndir * offset + 3 * rc * tdir])
    seg = shapely.get_coordinates(shapely.intersection(line, county))
    sp = (seg - ndir * offset) @ tdir
    s0, s1 = sp.min() - 600, sp.max() + 600
    n_mw = max(8, int((s1 - s0) / 200))
    s_ = np.linspace(s0, s1, n_mw)
    tt = (s_ - s0) / (s1 - s0)
    bow = rng.uniform(0.02, 0.06) * (s1 - s0)  # bow away from the town
    lat_off = bow * np.sin(np.pi * tt) + 0.004 * (s1 - s0) * np.sin(2 * np.pi * tt * rng.uniform(1.5, 3)
                                                                     + rng.uniform(0, 6))
    motorway = ndir * offset + s_[:, None] * tdir + (lat_off[:, None]) * ndir
    mw_line = shapely.LineString(motorway)
    # township seats
    spacing_t = math.sqrt(area / n_t)
    seat_w = rng.lognormal(0, 0.45, n_t * 4)
    min_d = 0.6 * spacing_t
    seats = np.zeros((0, 2))
    for _attempt in range(12):
        cand = rng.uniform(-1.6 * rc, 1.6 * rc, (n_t * 40, 2))
        cand = cand[shapely.contains_xy(county.buffer(-0.25 * math.sqrt(area / n_t / math.pi)), cand[:, 0],
                                        cand[:, 1])]
        cand = cand[np.hypot(*cand.T) > town_r + 0.45 * spacing_t]
        cand = cand[shapely.distance(mw_line, shapely.points(cand)) > 0.06 * spacing_t + 400]
        keep = _thin(cand, min_d)
        if len(keep) >= n_t:
            seats = cand[keep[:n_t]]
            break
        min_d *= 0.85
    if len(seats) < n_t:
        raise InputError(f"n_townships={n_t} township seats do not fit in area_km2={area_km2:g}; "
                         "use fewer townships or a larger area")
    seat_w = seat_w[:n_t]
    seat_r = np.sqrt(area * 0.0011 * seat_w / math.pi)
    seat_r = np.minimum(seat_r, 0.22 * spacing_t)
    # villages: clustered around seats and the town, some uniform
    n_v = max(6, int(round(area_km2 * 0.2)))
    sv = math.sqrt(area / n_v)
    excl_c = np.vstack([[0.0, 0.0], seats])
    excl_r = np.concatenate([[town_r * 1.1 + 300], seat_r * 1.25 + 200])
    min_v = 0.45 * sv
    villages = np.zeros((0, 2))
    for _attempt in range(12):
        m = n_v * 6
        which = rng.random(m)
        cen = np.where((which < 0.55)[:, None], seats[rng.integers(0, n_t, m)], 0.0)
        sig = np.where(which < 0.55, 0.33 * spacing_t, 0.45 * rc)
        cand = cen + rng.normal(0, 1, (m, 2)) * sig[:, None]
        uni = which > 0.8
        cand[uni] = rng.uniform(-1.6 * rc, 1.6 * rc, (int(uni.sum()), 2))
        cand = cand[shapely.contains_xy(county, cand[:, 0], cand[:, 1])]
        cand = cand[_far_from(cand, excl_c, excl_r)]
        keep = _thin(cand, min_v)
        if len(keep) >= n_v:
            villages = cand[keep[:n_v]]
            break
        min_v *= 0.85
    n_v = len(villages)
    if n_v < 3:
        raise InputError(f"area_km2={area_km2:g} is too small to hold villages")
    # node budget shares -> village and hamlet sizes
    v_nodes = int(np.clip(0.12 * n_nodes / n_v, 1, 20))
    n_h = int(max(0, round(0.16 * n_nodes / 4.0)))
    sh = math.sqrt(area / max(n_h, 1))
    min_h = min(260.0, 0.45 * sh)
    v_r = np.full(n_v, 0.0)
    if v_nodes > 1:
        v_r = rng.uniform(55, 85, n_v) * np.sqrt(v_nodes / np.pi) * rng.uniform(0.8, 1.25, n_v)
    hamlets = np.zeros((0, 2))
    if n_h:
        ex_c = np.vstack([excl_c, villages])
        ex_r = np.concatenate([excl_r, v_r + min_h])
        for _attempt in range(12):
            m = n_h * 5
            which = rng.random(m)
            cen = villages[rng.integers(0, n_v, m)]
            cand = cen + rng.normal(0, 0.4 * sv, (m, 2))
            uni = which > 0.7
            cand[uni] = rng.uniform(-1.6 * rc, 1.6 * rc, (int(uni.sum()), 2))
            cand = cand[shapely.contains_xy(county, cand[:, 0], cand[:, 1])]
            cand = cand[_far_from(cand, ex_c, ex_r)]
            keep = _thin(cand, min_h)
            if len(keep) >= n_h or _attempt == 11:
                hamlets = cand[keep[:n_h]]
                break
            min_h *= 0.85
    n_h = len(hamlets)
    # populations
    seat_pop = total_pop * shares["seats"] * seat_w / seat_w.sum()
    vil_w = rng.lognormal(0, 0.5, n_v)
    vil_pop = total_pop * shares["villages"] * vil_w / vil_w.sum()
    ham_w = rng.lognormal(0, 0.5, n_h)
    ham_pop = total_pop * shares["hamlets"] * ham_w / max(ham_w.sum(), 1e-9)
    # township units: jiedao generators around the town, then seats
    jang = rng.uniform(0, 2 * np.pi) + np.arange(n_j) * 2 * np.pi / n_j + rng.uniform(-0.3, 0.3, n_j)
    jpts = rng.uniform(0.4, 0.6, n_j)[:, None] * town_r * np.stack([np.cos(jang), np.sin(jang)], 1)
    gens = np.vstack([jpts, seats])
    unit_of_village = cKDTree(gens).query(villages)[1]
    # names
    stems = _unique_names(rng, n_t, _township_stem, len(_TOWN_FIRST) * len(_TOWN_SECOND))
    order = np.argsort(-seat_w, kind="stable")
    is_zhen = np.zeros(n_t, dtype=bool)
    is_zhen[order[: max(1, int(round(0.75 * n_t)))]] = True
    seat_names = [s + ("镇" if z else "乡") for s, z in zip(stems, is_zhen)]
    compass = {0: "城东", 1: "城北", 2: "城西", 3: "城南"}
    jnames: list[str] = []
    for a in jang:
        nm = compass[int(round((a % (2 * np.pi)) / (np.pi / 2))) % 4] + "街道"
        jnames.append(nm if nm not in jnames else ("城关街道" if "城关街道" not in jnames else "新城街道"))
    vnames = _unique_names(rng, n_v, _village_name,
                           len(_SURNAMES) * len(_VILLAGE_SUFFIX) * len(_VILLAGE_PREFIX))
    n_sub = int(min(rng.integers(2, 5), max(1, n_t // 2)))
    sub_seats = np.sort(order[:n_sub])
    return dict(seeds=kids, county=county, rc=rc, area=area, town=town, motorway=motorway,
                mw_line=mw_line, seats=seats, seat_r=seat_r, seat_w=seat_w, seat_pop=seat_pop,
                villages=villages, v_r=v_r, v_nodes=v_nodes, vil_pop=vil_pop, hamlets=hamlets,
                ham_pop=ham_pop, total_pop=total_pop, shares=shares, n_t=n_t, n_j=n_j, jpts=jpts,
                gens=gens, unit_of_village=unit_of_village, seat_names=seat_names, jnames=jnames,
                vnames=vnames, is_zhen=is_zhen, sub_seats=sub_seats, n_nodes=n_nodes,
                spacing_t=spacing_t)


# ----------------------------------------------------------------------------- network

def _build_network(L: dict[str, Any], target: int, cross_est: int, seed_seq: np.random.SeedSequence
                   ) -> dict[str, Any]:
    """Lay out the whole road network, aiming at ``target`` nodes once ``cross_est`` crossings are added."""
    rng = np.random.default_rng(seed_seq)
    net = _Net()
    N = L["n_nodes"]
    town = L["town"]
    county = L["county"]
    # --- county town
    t_area = math.pi * town["radius"] ** 2
    t_sp = float(np.clip(math.sqrt(t_area / (0.05 * N)), 75, 350))
    names = list(_MAIN_STREETS)
    rng.shuffle(names)
    tg = _grid(net, rng, town["centre"], town["radius"], t_sp, angle=town["angle"], jitter=0.04,
               irregular=0.3, main_every=5 if t_sp < 150 else 3, main_classes=("primary", "secondary"),
               names=names, oneway_frac=0.22, drop_frac=0.04, spur_frac=0.06, minor_speed="30",
               main_speed="40")
    # --- seats
    seat_grids = []
    for k, (c, r) in enumerate(zip(L["seats"], L["seat_r"])):
        area_k = math.pi * r * r
        sp = float(np.clip(math.sqrt(area_k / (0.08 * N / L["n_t"])), 70, 300))
        stem = L["seat_names"][k][:2]
        seat_grids.append(_grid(net, rng, c, r, sp, angle=rng.uniform(0, np.pi / 2), jitter=0.07,
                                irregular=0.25, main_every=4, main_classes=("secondary", "tertiary"),
                                names=[f"{stem}街", f"{stem}大道", f"{stem}中路", f"{stem}南街"],
                                drop_frac=0.05, spur_frac=0.05))
    # --- villages
    vil = []
    for k, c in enumerate(L["villages"]):
        if L["v_nodes"] <= 1:
            nid = int(net.add_nodes(c[None, :])[0])
            vil.append({"centre_id": nid, "ids": np.array([nid])})
            continue
        sp = L["v_r"][k] / math.sqrt(L["v_nodes"] / math.pi)
        vil.append(_grid(net, rng, c, L["v_r"][k], sp, angle=rng.uniform(0, np.pi / 2), jitter=0.15,
                         irregular=0.4, drop_frac=0.08, spur_frac=0.1))
    # --- hamlets: short lanes of 3-5 nodes (vectorised)
    H = L["hamlets"]
    n_h = len(H)
    hk = rng.integers(3, 6, n_h)
    hang = rng.uniform(0, np.pi, n_h)
    hsp = rng.uniform(45, 70, n_h)
    off = np.concatenate([np.arange(m) - (m - 1) / 2 for m in hk]) if n_h else np.zeros(0)
    rep = np.repeat(np.arange(n_h), hk)
    hxy = H[rep] + (off * hsp[rep])[:, None] * np.stack([np.cos(hang[rep]), np.sin(hang[rep])], 1)
    hxy += rng.normal(0, 6, hxy.shape)
    hids = net.add_nodes(hxy)
    hstart = np.concatenate([[0], np.cumsum(hk)[:-1]]) if n_h else np.zeros(0, dtype=int)
    hcentre = hids[hstart + hk // 2] if n_h else np.zeros(0, dtype=np.int64)
    for a, m in zip(hstart.tolist(), hk.tolist()):
        net.add_way(hids[a:a + m], "residential" if rng.random() < 0.6 else "service")
    # --- rural skeleton: Delaunay over settlements + border points
    seats = L["seats"]
    n_t = len(seats)
    n_v = len(L["villages"])
    trunk_ang = rng.uniform(0, 2 * np.pi)
    border_angles = [trunk_ang, trunk_ang + np.pi + rng.uniform(-0.4, 0.4)]
    subs = L["sub_seats"]
    big = int(subs[0])
    border_angles.append(math.atan2(seats[big, 1], seats[big, 0]) + rng.uniform(-0.3, 0.3))
    if n_t >= 6:
        border_angles.append(trunk_ang + np.pi / 2 + rng.uniform(-0.5, 0.5))
    border = np.array([_ray_exit(county, np.zeros(2), a, 250.0) for a in border_angles])
    pos = np.vstack([town["centre"][None, :], seats, L["villages"], H, border])
    kind = np.concatenate([[0], np.full(n_t, 1), np.full(n_v, 2), np.full(n_h, 3), np.full(len(border), 4)])
    V = len(pos)
    i_seat = 1 + np.arange(n_t)
    i_vil = 1 + n_t + np.arange(n_v)
    i_border = V - len(border) + np.arange(len(border))
    bids = net.add_nodes(border)
    tri = Delaunay(pos)
    e = np.concatenate([tri.simplices[:, [0, 1]], tri.simplices[:, [1, 2]], tri.simplices[:, [0, 2]]])
    e = np.unique(np.sort(e, axis=1), axis=0)
    elen = np.hypot(*(pos[e[:, 0]] - pos[e[:, 1]]).T)
    mid = (pos[e[:, 0]] + pos[e[:, 1]]) / 2
    outside = ~shapely.contains_xy(county, mid[:, 0], mid[:, 1])
    # border vertices may only carry trunk/primary roads
    touches_border = (kind[e[:, 0]] == 4) | (kind[e[:, 1]] == 4)
    E = len(e)
    key = e[:, 0] * V + e[:, 1]

    def graph(weights: np.ndarray) -> sparse.csr_matrix:
        return sparse.coo_matrix((np.concatenate([weights, weights]),
                                  (np.concatenate([e[:, 0], e[:, 1]]), np.concatenate([e[:, 1], e[:, 0]]))),
                                 shape=(V, V)).tocsr()

    def edge_ids(path: list[int]) -> np.ndarray:
        a = np.asarray(path[:-1])
        b = np.asarray(path[1:])
        k = np.minimum(a, b) * V + np.maximum(a, b)
        return np.searchsorted(key, k)

    def trace(pred: np.ndarray, target: int) -> list[int]:
        path = [target]
        while pred[path[-1]] >= 0:
            path.append(int(pred[path[-1]]))
        return path[::-1]

    rank = np.full(E, _UNSET, dtype=np.int64)
    route = np.full(E, -1, dtype=np.int64)
    routes: list[tuple[str, str, str]] = []  # (name, ref, maxspeed)

    def claim(ids: np.ndarray, r: int, route_info: tuple[str, str, str]) -> None:
        routes.append(route_info)
        better = rank[ids] > r
        rank[ids[better]] = r
        route[ids[better]] = len(routes) - 1

    base_w = elen * np.where(outside, 4.0, 1.0)

    def weights(discount: float, allow_border: bool) -> np.ndarray:
        w = base_w * np.where(rank < _UNSET, discount, 1.0)
        if not allow_border:
            w = w * np.where(touches_border, 1e6, 1.0)
        return w

    g = graph(weights(1.0, True) * (1 + 0.15 * rng.random(E)))
    _, pred = csgraph.dijkstra(g, directed=False, indices=0, return_predecessors=True)
    nat = int(rng.choice(_NATIONAL))
    trunk = (f"{nat}国道", f"G{nat}", "80")
    claim(edge_ids(trace(pred, int(i_border[0]))), _RANK["trunk"], trunk)
    claim(edge_ids(trace(pred, int(i_border[1]))), _RANK["trunk"], trunk)
    provs = [int(p) for p in rng.choice(_PROVINCIAL, size=len(border) - 1, replace=False)]
    g = graph(weights(0.6, True))
    _, pred = csgraph.dijkstra(g, directed=False, indices=0, return_predecessors=True)
    for b, pv in zip(i_border[2:], provs):
        claim(edge_ids(trace(pred, int(b))), _RANK["primary"], (f"省道{pv}", f"S{pv}", "60"))
    for s_ in subs[1:]:
        pv = provs[0]
        claim(edge_ids(trace(pred, int(i_seat[s_]))), _RANK["primary"], (f"省道{pv}", f"S{pv}", "60"))
    g = graph(weights(0.6, False))
    _, pred = csgraph.dijkstra(g, directed=False, indices=0, return_predecessors=True)
    for k in range(n_t):
        nm = L["seat_names"][k]
        claim(edge_ids(trace(pred, int(i_seat[k]))), _RANK["secondary"],
              (f"城{nm[0]}路", f"X{k + 1:03d}", "60" if rng.random() < 0.5 else ""))
    # tertiary: each unit's seat (jiedao units use the town) to its villages
    g = graph(weights(0.7, False))
    unit_vertex = np.concatenate([np.zeros(L["n_j"], dtype=np.int64), i_seat])
    uniq_units = np.unique(L["unit_of_village"])
    _, preds = csgraph.dijkstra(g, directed=False, indices=unit_vertex[uniq_units], return_predecessors=True)
    yref = 0
    for row, unit in enumerate(uniq_units.tolist()):
        for vk in np.flatnonzero(L["unit_of_village"] == unit).tolist():
            yref += 1
            claim(edge_ids(trace(preds[row], int(i_vil[vk]))), _RANK["tertiary"],
                  ("", f"Y{yref:03d}", "40" if rng.random() < 0.3 else ""))
    # spanning tree + loops for the rest
    mst = csgraph.minimum_spanning_tree(graph(weights(1.0, False) + 1e-3)).tocoo()
    mst_ids = np.searchsorted(key, np.minimum(mst.row, mst.col) * V + np.maximum(mst.row, mst.col))
    sel = rank < _UNSET
    sel[mst_ids] = True
    med = np.median(elen[mst_ids])
    extra = (~sel) & (~outside) & (~touches_border) & (elen < 1.8 * med) & (rng.random(E) < 0.35)
    sel |= extra
    hamlet_edge = (kind[e[:, 0]] == 3) | (kind[e[:, 1]] == 3)
    rest = sel & (rank == _UNSET)
    rank[rest] = np.where(hamlet_edge[rest] & (rng.random(int(rest.sum())) < 0.45),
                          _RANK["track"], _RANK["unclassified"])
    sid = np.flatnonzero(sel)
    # --- endpoints: grid vertices attach at the boundary node facing the other end
    grids = {0: tg, **{int(i_seat[k]): seat_grids[k] for k in range(n_t)}}
    all_xy = net.xy()

    def endpoint(vtx: int, other: int) -> int:
        kd = kind[vtx]
        if kd == 0 or kd == 1:
            gr = grids[vtx]
            d = pos[other] - pos[vtx]
            exitp = pos[vtx] + d / max(np.hypot(*d), 1e-9) * gr["radius"]
            b = gr["boundary"]
            return int(b[np.argmin(np.hypot(*(all_xy[b] - exitp).T))])
        if kd == 2:
            return int(vil[vtx - 1 - n_t]["centre_id"])
        if kd == 3:
            return int(hcentre[vtx - 1 - n_t - n_v])
        return int(bids[vtx - V + len(border)])

    ea = np.array([endpoint(int(e[k, 0]), int(e[k, 1])) for k in sid], dtype=np.int64)
    eb = np.array([endpoint(int(e[k, 1]), int(e[k, 0])) for k in sid], dtype=np.int64)
    pa, pb = all_xy[ea], all_xy[eb]
    seg_len = np.hypot(*(pb - pa).T)
    # --- interior shape nodes, curvy by class
    interior_budget = target - net.n - len(L["motorway"]) - 15 - cross_est
    spacing = seg_len.sum() / max(interior_budget + 0.5 * len(sid), 1)
    kint = np.floor(seg_len / max(spacing, 8.0)).astype(np.int64)
    if interior_budget <= 0:
        kint[:] = 0
    amp_frac = np.array([0, 0.008, 0.012, 0.02, 0.03, 0.035, 0.045])[rank[sid]]
    amp = np.minimum(amp_frac * seg_len, 150.0) * rng.uniform(0.5, 1.0, len(sid))
    f1 = rng.uniform(0.5, 2.5, len(sid))
    p1 = rng.uniform(0, 2 * np.pi, len(sid))
    rep = np.repeat(np.arange(len(sid)), kint)
    within = np.concatenate([np.arange(1, m + 1) for m in kint]) if len(rep) else np.zeros(0)
    tt = within / (kint[rep] + 1)
    dvec = (pb - pa)[rep]
    nvec = np.stack([-dvec[:, 1], dvec[:, 0]], 1) / np.maximum(seg_len[rep], 1e-9)[:, None]
    lat = amp[rep] * np.sin(np.pi * tt) * np.sin(np.pi * f1[rep] * tt + p1[rep])
    ixy = pa[rep] + dvec * tt[:, None] + nvec * lat[:, None]
    iids = net.add_nodes(ixy)
    istart = np.concatenate([[0], np.cumsum(kint)[:-1]])
    for q, k in enumerate(sid.tolist()):
        r = int(rank[k])
        hw = _CLASSES[r]
        name, ref, speed = routes[route[k]] if route[k] >= 0 else ("", "", "")
        nodes = np.concatenate([[ea[q]], iids[istart[q]:istart[q] + kint[q]], [eb[q]]])
        net.add_way(nodes, hw, name, ref, False, speed)
    # --- expressway and interchanges
    mw_ids = net.add_nodes(L["motorway"])
    mw_name, mw_ref = _EXPRESSWAYS[int(rng.integers(len(_EXPRESSWAYS)))]
    net.add_way(mw_ids, "motorway", mw_name, mw_ref, False, "120")
    all_xy = net.xy()
    mw_xy = L["motorway"]
    n_ic = 1 if L["area"] < 400e6 else int(rng.integers(2, 4))
    targets = [np.zeros(2)] + [seats[int(s_)] for s_ in subs] + list(seats)
    ic_idx: list[int] = []
    for tgt in targets:
        m = int(np.argmin(np.hypot(*(mw_xy - tgt).T)))
        if m in (0, len(mw_xy) - 1) or any(abs(m - q) < 25 for q in ic_idx):
            continue
        ic_idx.append(m)
        if len(ic_idx) == n_ic:
            break
    major = {_RANK["trunk"], _RANK["primary"], _RANK["secondary"]}
    major_nodes = np.unique(np.concatenate(
        [w for w, t in zip(net.ways, net.tags) if _RANK.get(t[0], _UNSET) in major]
        + [tg["boundary"]]))
    tree = cKDTree(all_xy[major_nodes])
    for m in ic_idx:
        mp = mw_xy[m]
        cand = tree.query_ball_point(mp, 4000.0)
        cand = [c for c in cand if np.hypot(*(all_xy[major_nodes[c]] - mp)) > 180]
        if not cand:
            continue
        dd = np.hypot(*(all_xy[major_nodes[cand]] - mp).T)
        tnode = int(major_nodes[cand[int(np.argmin(dd))]])
        tp = all_xy[tnode]
        d = tp - mp
        ln = float(np.hypot(*d))
        nn = np.array([-d[1], d[0]]) / ln
        ts = np.linspace(0, 1, 7)[1:-1]
        arc = mp + ts[:, None] * d + (0.18 * ln * np.sin(np.pi * ts))[:, None] * nn
        lids = net.add_nodes(arc)
        net.add_way(np.concatenate([[mw_ids[m]], lids, [tnode]]), "motorway_link", f"{mw_name}互通", "",
                    False, "40")
    # --- join any stray pieces (grid fragments) to the main component
    xy = net.xy()
    ways = net.ways
    lab = _components(len(xy), ways)
    used = np.zeros(len(xy), dtype=bool)
    used[np.concatenate(ways)] = True
    counts = np.bincount(lab[used], minlength=lab.max() + 1)
    main = int(np.argmax(counts))
    is_mw = np.zeros(len(xy), dtype=bool)
    is_mw[mw_ids] = True
    main_nodes = np.flatnonzero((lab == main) & used & ~is_mw)
    mtree = cKDTree(xy[main_nodes])
    for comp in np.flatnonzero(counts > 0):
        if comp == main:
            continue
        nodes = np.flatnonzero((lab == comp) & used)
        d, q = mtree.query(xy[nodes])
        best = int(np.argmin(d))
        net.add_way([nodes[best], main_nodes[q[best]]], "track")
    skip = np.array([t[0] == "motorway" for t in net.tags])
    xy, ways, n_cross = _planarize(net.xy(), net.ways, skip)
    tags = net.tags
    # --- no one-way traps: make one-way ways touching a non-main SCC two-way
    oneway = np.array([t[3] for t in tags])
    for _ in range(20):
        lab = _components(len(xy), ways, oneway, strong=True)
        used = np.zeros(len(xy), dtype=bool)
        used[np.concatenate(ways)] = True
        counts = np.bincount(lab[used])
        if (counts > 0).sum() <= 1:
            break
        bad = used & (lab != int(np.argmax(counts)))
        flip = [k for k in np.flatnonzero(oneway) if bad[ways[k]].any()]
        if not flip:
            break
        for k in flip:
            oneway[k] = False
            tags[k][3] = False
    return dict(xy=xy, ways=ways, tags=tags, town_grid=tg, seat_grids=seat_grids, villages=vil,
                n_cross=n_cross)


def _compact(xy: np.ndarray, ways: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Drop unreferenced nodes; return coords, ways with new 0-based ids, old->new map."""
    used = np.zeros(len(xy), dtype=bool)
    used[np.concatenate(ways)] = True
    remap = np.full(len(xy), -1, dtype=np.int64)
    remap[used] = np.arange(int(used.sum()))
    return xy[used], [remap[w] for w in ways], remap


# ----------------------------------------------------------------------------- writers

def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _fmt7(a: np.ndarray) -> np.ndarray:
    """Fixed 7-decimal strings of a float array (vectorised via integer arithmetic)."""
    q = np.rint(np.asarray(a) * 1e7).astype(np.int64)
    sign = np.where(q < 0, "-", "")
    q = np.abs(q)
    ip = (q // 10_000_000).astype(str)
    fp = np.char.zfill((q % 10_000_000).astype(str), 7)
    return np.char.add(np.char.add(sign, np.char.add(ip, ".")), fp)


def _write_osm(path: Path, lon: np.ndarray, lat: np.ndarray, ways: list[np.ndarray], tags: list[list[Any]]) -> None:
    n = len(lon)
    ids = np.arange(1, n + 1).astype(str)
    la, lo = _fmt7(lat), _fmt7(lon)
    node_lines = np.char.add(np.char.add(np.char.add(np.char.add(
        np.char.add('  <node id="', ids), '" version="1" visible="true" lat="'), la), '" lon="'), lo)
    node_lines = np.char.add(node_lines, '"/>')
    refs = (np.concatenate(ways) + 1).astype(str)
    nd_lines = np.char.add(np.char.add('    <nd ref="', refs), '"/>').tolist()
    parts: list[str] = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<osm version="0.6" generator="geoaccess.synthetic">',
        f'  <bounds minlat="{lat.min():.7f}" minlon="{lon.min():.7f}" maxlat="{lat.max():.7f}" '
        f'maxlon="{lon.max():.7f}"/>',
    ]
    parts.extend(node_lines.tolist())
    pos = 0
    for k, (w, t) in enumerate(zip(ways, tags)):
        parts.append(f'  <way id="{k + 1}" version="1" visible="true">')
        parts.extend(nd_lines[pos:pos + len(w)])
        pos += len(w)
        hw, name, ref, oneway, speed = t
        parts.append(f'    <tag k="highway" v="{hw}"/>')
        if name:
            parts.append(f'    <tag k="name" v="{_esc(name)}"/>')
        if ref:
            parts.append(f'    <tag k="ref" v="{_esc(ref)}"/>')
        if oneway:
            parts.append('    <tag k="oneway" v="yes"/>')
        if speed:
            parts.append(f'    <tag k="maxspeed" v="{speed}"/>')
        parts.append("  </way>")
    parts.append("</osm>\n")
    with write_atomic(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(parts))


def _write_gpkg(path: Path, gdf, layer: str) -> None:
    import pyogrio

    old = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": _GPKG_DATE})
    try:
        write_with(path, lambda p: gdf.to_file(p, driver="GPKG", layer=layer, engine="pyogrio"))
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": old})


def _population_raster(L: dict[str, Any], to_lonlat, center_lonlat, cell_size_m: float):
    """Population grid (float32, persons per cell), transform and the county mask."""
    from affine import Affine
    from rasterio.features import geometry_mask

    county_ll = shapely.transform(L["county"], lambda c: np.stack(to_lonlat(c[:, 0], c[:, 1]), 1))
    m_lon, m_lat = _deg_sizes(center_lonlat[1])
    dx, dy = cell_size_m / m_lon, cell_size_m / m_lat
    w, s, e, n = county_ll.bounds
    west = math.floor(w / dx) * dx - dx
    north = math.ceil(n / dy) * dy + dy
    width = int(math.ceil((e - west) / dx)) + 1
    height = int(math.ceil((north - s) / dy)) + 1
    transform = Affine(dx, 0.0, west, 0.0, -dy, north)
    inside = geometry_mask([county_ll], out_shape=(height, width), transform=transform, invert=True)
    # cell centres in local metres (equirectangular about the town is accurate to << a cell here)
    lon0, lat0 = center_lonlat
    cx = (west + (np.arange(width) + 0.5) * dx - lon0) * m_lon
    cy = (north - (np.arange(height) + 0.5) * dy - lat0) * m_lat

    def to_cell(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        col = np.clip(np.floor((xy[:, 0] / m_lon + lon0 - west) / dx).astype(int), 0, width - 1)
        row = np.clip(np.floor((north - (xy[:, 1] / m_lat + lat0)) / dy).astype(int), 0, height - 1)
        return row, col

    def normalise(layer: np.ndarray, total: float) -> np.ndarray:
        layer = np.where(inside, layer, 0.0)
        ssum = layer.sum()
        return layer * (total / ssum) if ssum > 0 else layer

    P = L["total_pop"]
    sh = L["shares"]
    X, Y = np.meshgrid(cx, cy)
    # town: a flat-topped dome over the grid
    d = np.hypot(X - L["town"]["centre"][0], Y - L["town"]["centre"][1]) / L["town"]["radius"]
    pop = normalise(np.exp(-(d ** 4) * 0.9) * (d < 1.6), P * sh["town"])
    seat = np.zeros_like(X)
    for c, r, p in zip(L["seats"], L["seat_r"], L["seat_pop"]):
        dd = np.hypot(X - c[0], Y - c[1]) / max(r, cell_size_m)
        bump = np.exp(-(dd ** 2) * 1.2) * (dd < 2.5)
        if bump.sum() > 0:
            seat += bump / bump.sum() * p
    pop += normalise(seat, P * sh["seats"])
    for pts, vals, sig_m in ((L["villages"], L["vil_pop"], 160.0), (L["hamlets"], L["ham_pop"], 90.0)):
        layer = np.zeros_like(X)
        if len(pts):
            r_, c_ = to_cell(pts)
            np.add.at(layer, (r_, c_), vals)
            layer = gaussian_filter(layer, sigma=max(sig_m / cell_size_m, 0.6), mode="constant")
        key = "villages" if sig_m > 100 else "hamlets"
        pop += normalise(layer, P * sh[key])
    rng = np.random.default_rng(L["seeds"][2])
    bg = rng.gamma(2.0, 1.0, X.shape)
    pop += normalise(bg, P * sh["background"])
    pop = np.where(inside, pop, 0.0).astype(np.float32)
    return pop, transform, county_ll


def _write_raster(path: Path, pop: np.ndarray, transform) -> None:
    import rasterio

    profile = dict(driver="GTiff", height=pop.shape[0], width=pop.shape[1], count=1, dtype="float32",
                   crs="EPSG:4326", transform=transform, nodata=-99999.0, compress="deflate",
                   tiled=False)

    def writer(p: Path) -> None:
        with rasterio.open(p, "w", **profile) as dst:
            dst.write(pop, 1)
            dst.update_tags(AREA_OR_POINT="Area", SOURCE="geoaccess.synthetic", UNITS="persons per cell")

    write_with(path, writer)


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

_SCENARIO = """[scenario]
name = "synthetic-county"

[network]
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
