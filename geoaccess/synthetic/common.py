"""Shared constants, parameter checks and small geometry/name helpers of the synthetic generator."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from ..errors import InputError

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


