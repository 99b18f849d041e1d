"""The generated road network: town and seat grids, rural Delaunay roads, road hierarchy, expressway."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import Delaunay, cKDTree

from .common import _CLASSES, _EXPRESSWAYS, _MAIN_STREETS, _NATIONAL, _PROVINCIAL, _RANK, _UNSET
from .layout import _ray_exit
from .streets import _Net, _components, _grid, _planarize

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


