"""Road-building primitives: the growing node/way table, street grids, planarisation, components."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from .common import _LANE_WORDS

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

