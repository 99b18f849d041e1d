"""Health-facility tables: reading a county's own facility list or OpenStreetMap.

Every reader returns a GeoDataFrame of points in EPSG:4326 with the standard columns

``facility_id`` (str, unique), ``name``, ``type`` (the raw type value), ``kind`` (the
vocabulary id from ``data/facility_types.toml``, or ``"other"``), ``capacity`` (float,
NaN when unknown), ``lon`` and ``lat`` (WGS84 degrees of the point), ``geometry``;
file readers add ``kind_rule``, saying how each kind was found (see
:func:`classify_facilities`).

Facility lists exported from Amap or Baidu are in GCJ-02 / BD-09; pass ``crs="GCJ-02"``
or ``crs="BD-09"`` and the points are shifted to WGS84 (see :mod:`geoaccess.coords`).
Coordinates may be decimal degrees or degrees-minutes-seconds text
(:func:`geoaccess.points.parse_degrees`).
"""

from __future__ import annotations

import os
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from functools import lru_cache

import geopandas as gpd
import numpy as np
import pandas as pd

from ._paths import data_path
from .coords import crs_kind
from .errors import InputError
from .io import TABLE_SUFFIXES, VECTOR_SUFFIXES, check_input_file, read_table_lines, read_vector, require_columns
from .points import lonlat_points, points_from_vector

STANDARD_COLUMNS = ["facility_id", "name", "type", "kind", "capacity", "lon", "lat"]

# OSM tag values read as health facilities, and the `type` each becomes; the types are
# aliases in the facility vocabulary (centre -> community_health_centre, ...).
OSM_AMENITY_TYPES = {"hospital": "hospital", "clinic": "clinic", "doctors": "doctors", "pharmacy": "pharmacy"}
OSM_HEALTHCARE_TYPES = {"hospital": "hospital", "clinic": "clinic", "doctor": "doctors", "centre": "centre",
                        "pharmacy": "pharmacy"}

# A kind for facilities the user deliberately leaves out of every target.
OTHER_KIND = "other"
# Trailing bracketed remarks ("县人民医院（东院区）") are not part of the type.
_TRAILING_REMARK = re.compile(r"\s*[(（【\[][^()（）【】\[\]]*[)）】\]]\s*$")
_CODE = re.compile(r"^[A-Z]\d{1,4}$")


@lru_cache(maxsize=1)
def _vocabulary() -> dict:
    with open(data_path("facility_types.toml"), "rb") as fh:
        return tomllib.load(fh)


def load_facility_types() -> dict[str, dict]:
    """The facility vocabulary: kind id -> its table in ``data/facility_types.toml``.

    Returns
    -------
    dict
        ``{kind_id: {"name_zh", "name_en", "tier", "medical_point", "aliases"}}``
        (the file's ``rules`` and ``codes`` tables are not kinds and are left out).
    """
    return {k: dict(v) for k, v in _vocabulary().items() if isinstance(v, dict) and "name_en" in v}


def name_rules() -> list[dict]:
    """The built-in rules for Chinese facility names, in the order they are tried.

    Returns
    -------
    list of dict
        ``{"label", "pattern", "kind"}``: ``pattern`` is a regular expression searched
        in the normalised text (see :func:`normalise_type`), ``label`` how messages name it.
    """
    return [dict(r) for r in _vocabulary().get("rules", [])]


def category_codes() -> dict[str, str]:
    """The WS 218-2002 health-institution category codes geoaccess maps to kinds.

    Returns
    -------
    dict
        ``{code: kind}``; a value matches a code when it equals it or equals it followed
        by two digits (``A1`` matches ``A1`` and ``A100``–``A199``).
    """
    return dict(_vocabulary().get("codes", {}))


def normalise_type(values: pd.Series) -> pd.Series:
    """The form type values are compared in: NFKC (full-width to ASCII), trimmed,
    inner whitespace collapsed, case-folded. Missing values stay missing.

    Parameters
    ----------
    values : pandas.Series
        Raw type (or name) values.

    Returns
    -------
    pandas.Series of string dtype, same index.
    """
    text = values.astype("string")
    text = text.map(lambda v: unicodedata.normalize("NFKC", v), na_action="ignore").astype("string")
    return text.str.strip().str.replace(r"\s+", " ", regex=True).str.casefold()


def check_type_mapping(mapping: Mapping[str, str], where: str = "[facilities.types]") -> dict[str, str]:
    """Check a user's mapping of type values to kinds; return it keyed by normalised value.

    Parameters
    ----------
    mapping : mapping of str to str
        ``{value as written in the type column: kind id}``; the kind may also be
        ``"other"`` (leave those facilities out of every target, knowingly).
    where : str
        Names the setting in messages.

    Returns
    -------
    dict
        ``{normalised value: kind}``.

    Raises
    ------
    InputError
        Naming the key whose kind is unknown (listing the kinds) or not text.
    """
    kinds = list(load_facility_types())
    out: dict[str, str] = {}
    for key, kind in mapping.items():
        if not isinstance(kind, str) or kind not in kinds + [OTHER_KIND]:
            raise InputError(f"{where} {key!r} = {kind!r}: not a facility kind; use one of "
                             f"{', '.join(kinds)} (or {OTHER_KIND!r} to leave those facilities out of every target)."
                             " `geoaccess targets` lists the kinds with their names")
        norm = normalise_type(pd.Series([str(key)])).iloc[0]
        if norm in out and out[norm] != kind:
            raise InputError(f"{where} maps {key!r} to {kind!r}, but a spelling of the same value to {out[norm]!r}; "
                             "keep one")
        out[norm] = kind
    return out


def classify_facilities(types: pd.Series, names: pd.Series | None = None, mapping: Mapping[str, str] | None = None,
                        codes: pd.Series | None = None) -> pd.DataFrame:
    """Vocabulary kind of every facility, and how it was found.

    Tried in order, the first that matches wins:

    1. ``mapping``: the user's own values (``[facilities.types]``);
    2. exact alias: the type equals a kind id or one of its aliases;
    3. category code: the type (or the ``codes`` column) holds a WS 218-2002 code
       listed in ``data/facility_types.toml`` (``A1`` 综合医院, ``B1`` 社区卫生服务中心…);
    4. name rule on the type (``…中心卫生院``, ``…卫生院``, ``…社区卫生服务站``…);
    5. name rule on the facility name, when ``names`` is given and the type did not match.

    Values are compared after :func:`normalise_type`; a trailing bracketed remark is
    ignored by the rules.

    Parameters
    ----------
    types : pandas.Series
        Raw type values.
    names : pandas.Series, optional
        Facility names (same index), for step 5.
    mapping : mapping of str to str, optional
        User values to kinds, as checked by :func:`check_type_mapping`.
    codes : pandas.Series, optional
        A column of category codes (same index), for step 3.

    Returns
    -------
    pandas.DataFrame
        Same index; ``kind`` (kind id, or ``"other"`` when nothing matched) and
        ``kind_rule``: ``"mapping"``, ``"alias"``, ``"code A1"``, ``"type rule …卫生院"``,
        ``"name rule …卫生院"``, or ``"unmatched"``.

    Raises
    ------
    InputError
        If ``mapping`` names an unknown kind.
    """
    norm = normalise_type(types)
    kind = pd.Series(pd.NA, index=types.index, dtype="string")
    rule = pd.Series("unmatched", index=types.index, dtype=object)

    def assign(mask: pd.Series, kinds: pd.Series | str, how: pd.Series | str) -> None:
        todo = mask.fillna(False).astype(bool) & kind.isna()
        kind[todo] = kinds[todo] if isinstance(kinds, pd.Series) else kinds
        rule[todo] = how[todo] if isinstance(how, pd.Series) else how

    if mapping:
        user = check_type_mapping(mapping)
        assign(norm.isin(list(user)), norm.map(user), "mapping")
    lookup: dict[str, str] = {}
    for k, table in load_facility_types().items():
        for alias in [k, *table.get("aliases", [])]:
            lookup.setdefault(normalise_type(pd.Series([str(alias)])).iloc[0], k)
    assign(norm.isin(list(lookup)), norm.map(lookup), "alias")
    for column in ([normalise_type(codes).str.upper()] if codes is not None else []) + [norm.str.upper()]:
        for code, code_kind in category_codes().items():
            hit = (column == code) | column.str.fullmatch(re.escape(code) + r"\d\d")
            assign(hit, code_kind, f"code {code}")
    for source, text in (("type", norm), ("name", normalise_type(names) if names is not None else None)):
        if text is None:
            continue
        text = text.str.replace(_TRAILING_REMARK, "", regex=True)
        for r in name_rules():
            assign(text.str.contains(r["pattern"], regex=True), r["kind"], f"{source} rule {r['label']}")
    return pd.DataFrame({"kind": kind.fillna(OTHER_KIND).astype(object), "kind_rule": rule}, index=types.index)


def kind_from_type(values: pd.Series) -> pd.Series:
    """Map raw facility type values to vocabulary kind ids.

    A value matches a kind when, normalised (:func:`normalise_type`), it equals the kind
    id or one of its aliases, is one of its category codes, or matches one of the name
    rules (see :func:`classify_facilities`). Values that match nothing (and missing
    values) become ``"other"``.

    Parameters
    ----------
    values : pandas.Series
        Raw type values, e.g. ``"卫生院"``, ``"Hospital "``, ``"village_clinic"``.

    Returns
    -------
    pandas.Series of str
        Kind ids, same index as ``values``.
    """
    return classify_facilities(values)["kind"]


def type_warnings(facilities: pd.DataFrame, wanted: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Messages on facility types: values that match no kind, and kinds found by a rule.

    Parameters
    ----------
    facilities : pandas.DataFrame
        As returned by :func:`facilities_from_file` (``type``, ``kind``, ``kind_rule``).
    wanted : mapping
        ``{target id: facility_types}`` of the targets evaluated; a type value a target
        lists literally is not reported as unmatched.

    Returns
    -------
    list of str
        At most two messages: the unmatched values with their row counts and what each
        target counts, with the fix; and how many rows each mapping, code or rule
        classified. Empty when every row matched an alias.
    """
    if "kind_rule" not in facilities:
        return []
    out = []
    literal = {t.strip().casefold() for types in wanted.values() for t in types}
    raw = facilities["type"].astype("string").str.strip()
    lost = (facilities["kind_rule"] == "unmatched") & ~raw.str.casefold().isin(literal).fillna(False)
    if lost.any():
        counts = raw[lost].fillna("").value_counts()
        listed = [f"{n} row{'s' if n > 1 else ''} typed {v!r}" if v else f"{n} row{'s' if n > 1 else ''} with no type"
                  for v, n in counts.head(10).items()]
        more = f" and {len(counts) - 10} other values" if len(counts) > 10 else ""
        counted = "; ".join(f"{tid} counts {', '.join(types)}" for tid, types in wanted.items())
        example = next((v for v in counts.index if v), None)
        fix = (f"Map them under [facilities.types] in the scenario, e.g. \"{example}\" = \"village_clinic\" "
               f"(`geoaccess targets` lists the kinds; \"{example}\" = \"other\" leaves them out knowingly)."
               if example else "Fill in their type (`geoaccess targets` lists the kinds).")
        out.append(f"{int(lost.sum())} facilit{'y matches' if lost.sum() == 1 else 'ies match'} no facility kind and "
                   f"count{'s' if lost.sum() == 1 else ''} for no target: {', '.join(listed)}{more}. {counted}. {fix}")
    inferred = ~facilities["kind_rule"].isin(["alias", "unmatched"])
    if inferred.any():
        groups = facilities[inferred].groupby(["kind_rule", "kind"], sort=False).size()
        groups = groups.sort_values(ascending=False, kind="stable")
        text = ", ".join(f"{n} by {'your [facilities.types]' if how == 'mapping' else how} → {k}"
                         for (how, k), n in groups.items())
        out.append(f"facility kinds not given by an exact vocabulary name: {text}. Check them; a value mapped "
                   "under [facilities.types] overrides the rules.")
    return out


def facilities_from_file(path: str | os.PathLike, x: str = "lon", y: str = "lat", type: str = "type",
                         name: str | None = "name", capacity: str | None = None, id: str | None = None,
                         crs: str = "EPSG:4326", sheet: str | int | None = None, layer: str | None = None,
                         encoding: str | None = None, types: Mapping[str, str] | None = None,
                         code: str | None = None, classify_names: bool = True) -> gpd.GeoDataFrame:
    """Read a facility list from .csv, .xlsx, GeoJSON, GeoPackage or Shapefile.

    Parameters
    ----------
    path : str or path-like
        The facility file.
    x, y : str
        Columns with longitude/latitude (or easting/northing in metres for a projected
        ``crs``); tables only, vector files use their geometry. Degrees may be decimal
        or degrees-minutes-seconds text (``116°48'30.5"E``, ``东经116度48分30秒``; see
        :func:`geoaccess.points.parse_degrees`).
    type : str
        Column with the facility type; mapped to ``kind`` by :func:`classify_facilities`.
    name : str or None
        Column with the facility name; None when the file has no names.
    capacity : str, optional
        Column with a capacity (beds, staff, ...); non-negative numbers, empty = unknown.
    id : str, optional
        Column with unique facility ids; by default ids are "F0001", "F0002", ... in
        file order.
    crs : str
        CRS of x/y: "EPSG:4326" (default), "CGCS2000", "GCJ-02" (Amap/Tencent), "BD-09"
        (Baidu) or any EPSG code. For vector files the file's own CRS is used, unless
        the file has none or ``crs`` is GCJ-02/BD-09 (Amap/Baidu exports are labelled
        EPSG:4326 but hold shifted coordinates).
    sheet : str or int, optional
        Worksheet of an .xlsx file (first by default).
    layer : str, optional
        Layer of a GeoPackage.
    encoding : str, optional
        Force the text encoding of a CSV or Shapefile (default: UTF-8, falling back to GBK).
    types : mapping of str to str, optional
        The user's type values mapped to kinds (``{"村卫生所": "village_clinic"}``); they
        take precedence over the built-in vocabulary.
    code : str, optional
        Column with WS 218-2002 category codes (``A1``, ``B1``, ``C21``...).
    classify_names : bool
        When the type matches nothing, try the name rules on the facility name.

    Returns
    -------
    geopandas.GeoDataFrame
        Points in EPSG:4326 with the standard columns (see module docstring) first,
        then ``kind_rule`` and all other original columns. Polygons become their
        representative point (a point guaranteed to lie inside). The x/y columns are
        replaced by ``lon``/``lat`` in WGS84; original columns named like a standard
        column are replaced by it.

    Raises
    ------
    InputError
        Missing file or unknown suffix, no rows, missing x/y/type/name/capacity/id/code
        column, missing, unreadable or invalid coordinates or geometries (file lines
        and values listed), negative or non-numeric capacity, missing or duplicate ids,
        a mapping to an unknown kind.
    """
    what = "facility file"
    p = check_input_file(path, what, TABLE_SUFFIXES + VECTOR_SUFFIXES)
    crs_kind(crs)  # fail on an unknown crs before reading the file
    if types:
        check_type_mapping(types)
    text_columns = tuple(c for c in (id, type, name, code) if c is not None)
    columns = {"type": type, "name": name, "capacity": capacity, "id": id, "code": code}
    if p.name.lower().endswith(TABLE_SUFFIXES):
        df, lines = read_table_lines(p, what, sheet=sheet, encoding=encoding, text_columns=text_columns)
        require_columns(df, what, {"x": x, "y": y, **columns})
        points = lonlat_points(df[x].to_numpy(dtype=object), df[y].to_numpy(dtype=object), crs,
                               f"{what} {p.name} (columns {x!r}, {y!r})", lines=lines)
        df = df.drop(columns=[x, y])
    else:
        gdf = read_vector(p, what, layer=layer, encoding=encoding)
        if gdf.empty:
            raise InputError(f"{what} has no rows: {p}")
        require_columns(gdf, what, columns)
        points = points_from_vector(gdf, crs, f"{what} {p.name}")
        df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        lines = None
    df = df.reset_index(drop=True)
    names = df[name] if name is not None else None
    classes = classify_facilities(df[type], names if classify_names else None, types,
                                  df[code] if code is not None else None)
    std = pd.DataFrame({
        "facility_id": _ids(df, id, what, p.name, lines),
        "name": names.astype(object) if names is not None else pd.Series(None, index=df.index, dtype=object),
        "type": df[type].astype(object),
        "kind": classes["kind"],
        "capacity": _capacity(df, capacity, what, p.name, lines),
        "lon": points.x.to_numpy(),
        "lat": points.y.to_numpy(),
        "kind_rule": classes["kind_rule"],
    })
    own = {type, name, capacity, id} | set(std.columns)
    rest = df.drop(columns=[c for c in df.columns if c in own])
    return gpd.GeoDataFrame(pd.concat([std, rest], axis=1), geometry=points.to_numpy(), crs="EPSG:4326")


def _row_list(mask: np.ndarray, lines: np.ndarray | None) -> str:
    """'rows 1, 2 (0-based; file lines 3, 4)' for the True positions of ``mask`` (first 10)."""
    idx = np.flatnonzero(mask)[:10]
    text = "rows " + ", ".join(str(i) for i in idx)
    if lines is not None:
        text += f" (0-based; file line{'s' if idx.size > 1 else ''} {', '.join(str(int(n)) for n in lines[idx])})"
    return text


def _ids(df: pd.DataFrame, id: str | None, what: str, fname: str, lines: np.ndarray | None = None) -> pd.Series:
    if id is None:
        width = max(4, len(str(len(df))))
        return pd.Series([f"F{i:0{width}d}" for i in range(1, len(df) + 1)], index=df.index, dtype=object)
    ids = df[id].astype("string").str.strip()
    missing = (ids.isna() | (ids == "")).to_numpy(dtype=bool)
    if missing.any():
        raise InputError(f"{what} {fname} has empty ids in column {id!r}, {_row_list(missing, lines)}; "
                         "fill them or set id=None")
    dup = ids[ids.duplicated(keep=False)]
    if not dup.empty:
        shown = ", ".join(map(repr, dup.unique()[:10]))
        where = f" ({_row_list(ids.duplicated(keep=False).to_numpy(), lines)})"
        raise InputError(f"{what} {fname} has duplicate ids in column {id!r}: {shown}{where}; ids must be unique")
    return ids.astype(object)


def _capacity(df: pd.DataFrame, capacity: str | None, what: str, fname: str,
              lines: np.ndarray | None = None) -> pd.Series:
    if capacity is None:
        return pd.Series(np.nan, index=df.index, dtype=float)
    raw = df[capacity]
    values = pd.to_numeric(raw, errors="coerce")
    blank = raw.isna() | (raw.astype("string").str.strip() == "")
    bad = ((values.isna() & ~blank) | (values < 0)).to_numpy(dtype=bool)
    if bad.any():
        shown = ", ".join(repr(v) for v in raw[bad].head(5))
        raise InputError(f"{what} {fname} has non-numeric or negative values in capacity column {capacity!r},"
                         f" {_row_list(bad, lines)}: {shown}; use non-negative numbers, or leave the cell empty"
                         " when unknown")
    return values.astype(float)


def facilities_from_osm(path: str | os.PathLike) -> gpd.GeoDataFrame:
    """Health facilities from an OpenStreetMap .osm.pbf extract.

    Reads features tagged ``amenity`` = hospital / clinic / doctors / pharmacy or
    ``healthcare`` = hospital / clinic / doctor / centre / pharmacy, as nodes and as
    building polygons (ways and multipolygon relations). Other ``healthcare`` values
    (laboratory, physiotherapist, blood donation, ...) are not places of care for the
    plan targets and are left out. ``type`` comes from ``amenity`` when it is one of
    the values above, else from ``healthcare`` (``doctor`` -> ``doctors``), so that
    :func:`kind_from_type` gives hospital, clinic, doctors, community_health_centre
    or pharmacy.

    Duplicates: mappers often tag a facility both as a node and on its building. A
    node that lies inside a facility polygon is dropped as the same facility when the
    two names match (one contains the other, case-insensitively, e.g. "Centre Cardio
    Thoracique" inside "Centre Cardio Thoracique de Monaco") or, when either has no
    name, when their types are equal. The polygon is kept; it takes the node's name
    if it has none, and ``emergency`` is true if either was tagged ``emergency=yes``.

    Parameters
    ----------
    path : str or path-like
        An .osm.pbf file.

    Returns
    -------
    geopandas.GeoDataFrame
        Points in EPSG:4326 (polygons -> representative point), sorted by OSM type and
        id, with the standard columns (``facility_id`` is "node/123", "way/456",
        "relation/789", stable across runs; ``capacity`` is NaN) plus ``osm_id`` (int),
        ``osm_type``, ``emergency`` (bool), ``amenity`` and ``healthcare`` (raw tags).

    Raises
    ------
    InputError
        Missing or unreadable file, or no health facilities in it.
    """
    import pyrosm  # heavy import; only needed for OSM input

    p = check_input_file(path, "OSM file", (".osm.pbf", ".pbf"))
    try:
        pois = pyrosm.OSM(str(p)).get_pois(custom_filter={
            "amenity": list(OSM_AMENITY_TYPES), "healthcare": list(OSM_HEALTHCARE_TYPES)})
    except Exception as exc:  # pyrosm raises bare errors on corrupt files
        raise InputError(f"could not read OSM file {p}: {exc}") from None
    if pois is None or pois.empty:
        raise InputError(f"OSM file {p} has no health facilities (amenity=hospital/clinic/doctors/pharmacy or "
                         "healthcare=*); use facilities_from_file with the county's own facility list")
    pois = pois.reset_index(drop=True)
    for col in ("amenity", "healthcare", "name", "tags", "emergency"):
        if col not in pois.columns:
            pois[col] = None
    facility_type = (pois["amenity"].map(OSM_AMENITY_TYPES)
                     .fillna(pois["healthcare"].map(OSM_HEALTHCARE_TYPES)))
    emergency = pois["emergency"].astype("string").str.strip().str.lower().eq("yes").fillna(False)
    emergency |= pois["tags"].astype("string").str.contains(r'"emergency"\s*:\s*"yes"', regex=True).fillna(False)
    gdf = gpd.GeoDataFrame({
        "type": facility_type,
        "name": pois["name"].astype(object),
        "osm_id": pois["id"].astype("int64"),
        "osm_type": pois["osm_type"].astype(str),
        "emergency": emergency.astype(bool),
        "amenity": pois["amenity"].astype(object),
        "healthcare": pois["healthcare"].astype(object),
    }, geometry=pois.geometry, crs="EPSG:4326")
    gdf = _drop_tagged_twice(gdf[gdf["type"].notna()])
    gdf = gdf.sort_values(["osm_type", "osm_id"]).reset_index(drop=True)
    points = gdf.geometry.where(gdf.geom_type == "Point", gdf.geometry.representative_point())
    std = pd.DataFrame({
        "facility_id": gdf["osm_type"] + "/" + gdf["osm_id"].astype(str),
        "name": gdf["name"],
        "type": gdf["type"],
        "kind": kind_from_type(gdf["type"]),
        "capacity": np.nan,
        "lon": points.x,
        "lat": points.y,
    })
    rest = gdf[["osm_id", "osm_type", "emergency", "amenity", "healthcare"]]
    return gpd.GeoDataFrame(pd.concat([std, rest], axis=1), geometry=points.to_numpy(), crs="EPSG:4326")


def _drop_tagged_twice(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Drop nodes that duplicate the facility polygon they lie in (see facilities_from_osm)."""
    is_point = (gdf.geom_type == "Point").to_numpy()
    nodes, polys = gdf[is_point], gdf[~is_point]
    if nodes.empty or polys.empty:
        return gdf
    pairs = gpd.sjoin(nodes[["name", "type", "emergency", "geometry"]],
                      polys[["name", "type", "geometry"]], predicate="within", how="inner")
    name_n = pairs["name_left"].astype("string").str.strip().str.casefold()
    name_p = pairs["name_right"].astype("string").str.strip().str.casefold()
    both = (name_n.notna() & name_p.notna()).to_numpy()
    a = name_n.fillna("").to_numpy(dtype=str)
    b = name_p.fillna("").to_numpy(dtype=str)
    contains = (np.char.find(a, b) >= 0) | (np.char.find(b, a) >= 0)
    same_type = (pairs["type_left"] == pairs["type_right"]).to_numpy()
    dup = pairs[np.where(both, contains, same_type)]
    if dup.empty:
        return gdf
    dup = dup[~dup.index.duplicated()]  # a node inside nested polygons merges into the first
    out = gdf.drop(index=dup.index).copy()
    target = dup["index_right"].to_numpy()
    merged = pd.DataFrame({"poly": target, "name": dup["name_left"].to_numpy(),
                           "emergency": dup["emergency"].to_numpy()}).groupby("poly")
    out.loc[merged.groups.keys(), "emergency"] |= merged["emergency"].any()
    out.loc[merged.groups.keys(), "name"] = out.loc[merged.groups.keys(), "name"].fillna(merged["name"].first())
    return out
