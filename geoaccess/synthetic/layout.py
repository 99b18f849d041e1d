"""County layout: polygon, settlements, populations, expressway line, township generators."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from scipy.spatial import cKDTree

from ..errors import InputError
from .common import (_SURNAMES, _TOWN_FIRST, _TOWN_SECOND, _VILLAGE_PREFIX, _VILLAGE_SUFFIX, _far_from, _thin,
                     _township_stem, _unique_names, _village_name)

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


def _layout(seed: int, area_km2: float, n_nodes: int, n_townships: int | None,
            polygon: shapely.Polygon | None = None) -> dict[str, Any]:
    """Draw settlements, populations and the expressway line (everything but road shapes).

    ``polygon`` (local metres, containing the origin, where the county town goes) replaces
    the drawn star-shaped county outline: a real county's boundary for
    :func:`geoaccess.synthetic.generate_region`; ``area_km2`` must then be its area.
    """
    kids = np.random.SeedSequence(seed).spawn(4)  # layout, network, raster, facilities
    rng = np.random.default_rng(kids[0])
    area = area_km2 * 1e6
    rc = math.sqrt(area / math.pi)
    if polygon is None:
        county, _ = _county_polygon(rng, area)
        ext = 1.6 * rc
    else:  # a real outline may reach farther than the star shape's 1.6 radii
        county = polygon
        ext = max(1.6 * rc, float(np.abs(np.asarray(polygon.bounds)).max()))
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
        cand = rng.uniform(-ext, ext, (n_t * 40, 2))
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
        cand[uni] = rng.uniform(-ext, ext, (int(uni.sum()), 2))
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
            cand[uni] = rng.uniform(-ext, ext, (int(uni.sum()), 2))
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

