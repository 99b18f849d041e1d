"""Scenario files: a county described in TOML, checked key by key.

A scenario names the road network, the facility list, the population, the admin units
and the targets to evaluate. Relative paths resolve against the scenario file's folder.
Unknown keys and wrong types are refused with the key's name and what is allowed.
``geoaccess init DIR`` writes a commented template (:data:`TEMPLATE`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError
from .io import RASTER_SUFFIXES, VECTOR_SUFFIXES
from .roadclasses import DESIGN_SPEED_CHOICES, check_classes
from .facilitytypes import check_type_mapping
from .targets import Target, load_targets, target_from_dict

# section -> key -> (accepted Python types, default); a default of ... means required.
_SCHEMA: dict[str, dict[str, tuple[tuple[type, ...], Any]]] = {
    "scenario": {"name": ((str,), ...), "crs": ((str,), None), "description": ((str,), "")},
    "network": {"source": ((str,), None), "place": ((str,), None), "bbox": ((list,), None),
                "speeds": ((dict,), {}), "min_component_nodes": ((int,), None),
                "class": ((str,), None), "oneway": ((str,), None), "maxspeed": ((str,), None),
                "classes": ((dict,), {}), "design_speed": ((str,), "none"), "layer": ((str,), None)},
    "facilities": {"path": ((str,), ...), "x": ((str,), "lon"), "y": ((str,), "lat"), "type": ((str,), "type"),
                   "name": ((str,), "name"), "capacity": ((str,), None), "id": ((str,), None),
                   "crs": ((str,), "EPSG:4326"), "sheet": ((str, int), None), "layer": ((str,), None),
                   "encoding": ((str,), None), "types": ((dict,), {}), "code": ((str,), None),
                   "classify_names": ((bool,), True)},
    "population": {"path": ((str,), ...), "x": ((str,), "lon"), "y": ((str,), "lat"), "pop": ((str,), "pop"),
                   "crs": ((str,), "EPSG:4326"), "band": ((int,), 1), "layer": ((str,), None)},
    "admin": {"path": ((str,), None), "name": ((str,), "name"), "urban": ((str,), None), "layer": ((str,), None),
              "encoding": ((str,), None), "urban_density": ((int, float), 1500.0)},
    "targets": {"use": ((list,), None), "file": ((str,), None), "override": ((dict,), {}),
                "define": ((list,), [])},
    "output": {"dir": ((str,), None)},
    "map": {"lang": ((str,), "zh"), "basemap": ((str,), "osm"), "tianditu_key": ((str,), None),
            "self_contained": ((bool,), True)},
}
_REQUIRED_SECTIONS = ("scenario", "network", "facilities", "population")


@dataclass
class Scenario:
    """A parsed scenario: one dict of settings per section, paths made absolute."""

    path: Path | None
    scenario: dict[str, Any]
    network: dict[str, Any]
    facilities: dict[str, Any]
    population: dict[str, Any]
    admin: dict[str, Any]
    targets: dict[str, Target]
    output: dict[str, Any]
    map: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.scenario["name"]


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario TOML file."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"scenario file not found: {p}")
    return scenario_from_dict(read_toml(p, "scenario"), base_dir=p.parent, path=p)


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file as a dict; UTF-8 with or without a BOM (Windows Notepad writes one), or
    UTF-16 with its byte-order mark (Notepad's "Unicode"), which says the encoding outright.

    Raises
    ------
    InputError
        Another encoding (UTF-16 without a BOM, GBK/"ANSI"): which one and how to save the
        file as UTF-8. Not TOML: tomllib's line and column, and for a Windows path in
        double quotes (whose backslashes TOML reads as escapes, ``"C:\\Users\\…"``) that path
        rewritten in single quotes and with forward slashes.
    """
    text = _decode_toml(path, what)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{what} {path.name} is not valid TOML: {exc}{_escape_hint(text, str(exc))}") from None
    _refuse_escaped_paths(raw, f"{what} {path.name}")
    return raw


def _decode_toml(path: Path, what: str) -> str:
    """The text of a TOML file, or an :class:`InputError` naming the encoding found and the fix."""
    data = path.read_bytes()
    resave = ("open it in Notepad, File → Save As, Encoding: UTF-8, Save (or "
              f"`iconv -f {{}} -t UTF-8 {path.name} > {path.stem}_utf8{path.suffix}`)")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # a BOM: UTF-16 for sure, and which byte order
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise InputError(f"{what} {path.name} starts as UTF-16 text but is cut or damaged at byte "
                             f"{exc.start:,}: {resave.format('UTF-16')}") from None
    try:
        # utf-8-sig: a leading BOM is no TOML, but Notepad saves one; any other byte is as written
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        if b"\x00" in data:  # ASCII in UTF-16 is every other byte NUL; UTF-8 text holds none
            found, source = "in UTF-16 without a byte-order mark (it holds NUL bytes)", "UTF-16"
        elif _decodes(data, "gbk"):
            found, source = "in GBK (Notepad's \"ANSI\" on Chinese Windows)", "GBK"
        elif _decodes(data, "gb18030"):
            found, source = "in GB18030", "GB18030"
        else:
            found, source = f"neither UTF-8 nor GBK (byte 0x{data[exc.start]:02x} on line {line})", ""
        fix = (resave.format(source) if source else
               "save it again as UTF-8 in the editor that wrote it (Notepad: File → Save As, Encoding: UTF-8)")
        raise InputError(f"{what} {path.name} must be saved as UTF-8 text; it is {found}: {fix}") from None


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


#: tomllib's words for a bad escape in a double-quoted string (\d, \x, \N; \U or \u not
#: followed by hex digits; hex digits that name no character).
_ESCAPE_ERRORS = ("Unescaped '\\'", "Invalid hex value", "not a Unicode scalar value")
_BASIC_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')


def _escape_hint(text: str, error: str) -> str:
    """For a bad escape in a double-quoted string holding a backslash (a Windows path): how
    to write that string, rewritten from the user's own text; else ``""``."""
    if not any(e in error for e in _ESCAPE_ERRORS):
        return ""
    at = re.search(r"at line (\d+), column (\d+)", error)
    lines = text.split("\n")
    if not at or int(at[1]) > len(lines):
        return ""
    column = int(at[2]) - 1
    written = next((m[1] for m in _BASIC_STRING.finditer(lines[int(at[1]) - 1].rstrip("\r"))
                    if m.start() < column <= m.end() and "\\" in m[1]), None)
    if written is None:
        return ""
    # "C:\\data\Users": the doubled backslashes were meant as one; a UNC path keeps its leading two
    unc = "\\\\" if written.startswith("\\\\") else ""
    return "; " + _path_advice(unc + written.removeprefix(unc).replace("\\\\", "\\"))


def _path_advice(path: str) -> str:
    """The fix for a Windows path written in double quotes: single quotes or forward slashes."""
    quoted = f"in single quotes ('{path}') or " if "'" not in path else ""
    slashes = path.replace("\\", "/")
    return (f"\"{path}\" is a Windows path in double quotes, where TOML reads each backslash as an escape "
            f"(\\U, \\t, \\d …): write it {quoted}with forward slashes (\"{slashes}\")")


_CONTROL = {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}  # what TOML escapes turn into
_PATH_LIKE = re.compile(r"^[A-Za-z]:|\.[A-Za-z][A-Za-z0-9]{1,4}$")


def _refuse_escaped_paths(table: dict[str, Any], where: str, prefix: str = "") -> None:
    """Refuse a path whose backslashes TOML read as escapes that exist (``"D:\\tmp\\roads.gpkg"``
    parses, as ``D:<tab>mp<carriage return>oads.gpkg``): no file name holds such characters."""
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            _refuse_escaped_paths(value, where, name)
        elif isinstance(value, list):  # tables of an array ([[targets.define]]) and lists of paths
            for item in value:
                _refuse_escaped_paths({key: item}, where, prefix)
        elif isinstance(value, str) and any(chr(c) in value for c in _CONTROL) and _PATH_LIKE.search(value):
            section, _, key_name = name.rpartition(".")
            raise InputError(f"{where}, [{section}] {key_name}: {_path_advice(value.translate(_CONTROL))}")


def _check_population_keys(population: dict[str, Any], given: dict[str, Any]) -> None:
    """Refuse [population] keys the file's kind never reads (silently ignored before): a raster
    carries its own CRS and cells; tables and vector files have no bands."""
    raster = str(population["path"]).lower().endswith(RASTER_SUFFIXES)
    unread = [k for k in (("crs", "x", "y") if raster else ("band",)) if k in given]
    if not unread:
        return
    keys = ", ".join(unread)
    name = Path(str(population["path"])).name
    why = (f"{name} is a raster: its cells are placed by its own CRS (a raster without one is "
           "refused: set it in GIS software, e.g. gdal_edit.py -a_srs EPSG:4326)" if raster
           else f"{name} is not a raster; band applies to GeoTIFF population files only")
    raise InputError(f"[population] {keys} would be ignored: {why}. Remove the key{'s' if len(unread) > 1 else ''}.")


def scenario_from_dict(raw: dict[str, Any], base_dir: str | Path = ".", path: Path | None = None) -> Scenario:
    """Check a scenario given as nested dicts (as parsed from TOML)."""
    unknown = sorted(set(raw) - set(_SCHEMA))
    if unknown:
        raise InputError(f"unknown scenario section(s) [{'], ['.join(unknown)}]; allowed: "
                         f"{', '.join('[' + s + ']' for s in _SCHEMA)}")
    missing = [s for s in _REQUIRED_SECTIONS if s not in raw]
    if missing:
        raise InputError(f"the scenario lacks section(s) {', '.join('[' + s + ']' for s in missing)}")
    base = Path(base_dir)
    sections = {name: _check_section(name, raw.get(name, {})) for name in _SCHEMA}
    net = sections["network"]
    given = [k for k in ("source", "place", "bbox") if net.get(k) is not None]
    if len(given) != 1:
        raise InputError("[network] needs exactly one of source (a file), place (a place name to download) or "
                         f"bbox ([west, south, east, north]); got {', '.join(given) or 'none'}")
    if net.get("bbox") is not None and (len(net["bbox"]) != 4 or not all(isinstance(v, (int, float)) for v in net["bbox"])):
        raise InputError(f"[network] bbox must be [west, south, east, north] in degrees, got {net['bbox']!r}")
    _check_roads_columns(net)
    for section, key in (("network", "source"), ("facilities", "path"), ("population", "path"), ("admin", "path"),
                         ("targets", "file"), ("output", "dir")):
        value = sections[section].get(key)
        if value is not None:
            sections[section][key] = _resolve(base, value)
    _check_analysis_crs(sections["scenario"]["crs"])
    _check_population_keys(sections["population"], raw.get("population", {}))
    if sections["map"]["lang"] not in ("zh", "en"):
        raise InputError(f"[map] lang must be 'zh' or 'en', got {sections['map']['lang']!r}")
    check_type_mapping(sections["facilities"]["types"], "[facilities.types]")
    targets = _targets(sections["targets"])
    return Scenario(path=path, targets=targets, **{k: v for k, v in sections.items() if k != "targets"})


def _check_analysis_crs(crs: str | None) -> None:
    """[scenario] crs: a projected CRS pyproj knows (metres), or unset (the network's UTM zone)."""
    if crs is None:
        return
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        parsed = CRS.from_user_input(crs)
    except CRSError:
        raise InputError(f"[scenario] crs {crs!r} is no coordinate system pyproj knows; give a projected EPSG code "
                         "in metres such as \"EPSG:32650\" (UTM 50N) or \"EPSG:4547\" (CGCS2000 3-degree GK, CM "
                         "114E), or leave crs out for the network's UTM zone") from None
    if not parsed.is_projected:
        raise InputError(f"[scenario] crs must be projected (metres); {crs!r} is in degrees. Give a projected EPSG "
                         "code such as \"EPSG:32650\" (UTM 50N), or leave crs out for the network's UTM zone")
    units = {axis.unit_name for axis in parsed.axis_info}
    if units != {"metre"}:
        # Every distance of a run (snapping caps, grids, search radii) is in metres: a foot CRS
        # would read 1,000 m as 1,000 ft and change verdicts without a word.
        raise InputError(f"[scenario] crs {crs!r} ({parsed.name}) measures in {', '.join(sorted(units))}, not "
                         "metres; give a projected EPSG code in metres such as \"EPSG:32650\" (UTM 50N), or "
                         "leave crs out for the network's UTM zone")


def _check_roads_columns(net: dict[str, Any]) -> None:
    """The roads-file keys of [network]: only with a roads vector file, classes known."""
    given = [k for k in ("class", "oneway", "maxspeed", "classes") if net.get(k)]
    if net["design_speed"] != "none":
        given.append("design_speed")
    if net["design_speed"] not in DESIGN_SPEED_CHOICES:
        raise InputError(f"[network] design_speed must be one of {', '.join(DESIGN_SPEED_CHOICES)}; "
                         f"got {net['design_speed']!r}")
    source = net.get("source") or ""
    if given and not source.lower().endswith(VECTOR_SUFFIXES):
        what = Path(source).name if source else "an OpenStreetMap download (place/bbox)"
        raise InputError(f"[network] {', '.join(given)} name columns of a roads file ({', '.join(VECTOR_SUFFIXES)}); "
                         f"the network here is {what}, whose OSM highway/oneway/maxspeed tags are read as they are. "
                         "Remove those keys.")
    check_classes(net["classes"], net["speeds"])


def _check_section(name: str, table: Any) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise InputError(f"[{name}] must be a table of keys, got {table!r}")
    schema = _SCHEMA[name]
    unknown = sorted(set(table) - set(schema))
    if unknown:
        raise InputError(f"unknown key(s) in [{name}]: {', '.join(unknown)}; allowed: {', '.join(schema)}")
    out = {}
    for key, (types, default) in schema.items():
        if key not in table:
            if default is ...:
                raise InputError(f"[{name}] lacks the required key {key!r}")
            out[key] = default.copy() if isinstance(default, (dict, list)) else default
            continue
        value = table[key]
        if isinstance(value, bool) and bool not in types:
            raise InputError(f"[{name}] {key} must be {_type_names(types)}, got {value!r}")
        if not isinstance(value, types):
            raise InputError(f"[{name}] {key} must be {_type_names(types)}, got {type(value).__name__} {value!r}")
        out[key] = value
    return out


def _type_names(types: tuple[type, ...]) -> str:
    names = {str: "text", int: "an integer", float: "a number", list: "a list", dict: "a table", bool: "true/false"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _resolve(base: Path, value: str) -> str:
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def _targets(section: dict[str, Any]) -> dict[str, Target]:
    library = load_targets()
    if section["file"]:  # read as the scenario is: BOM, UTF-16, Windows paths in double quotes
        p = Path(section["file"])
        if not p.is_file():
            raise InputError(f"targets file not found: {p} (set by [targets] file; relative paths resolve against "
                             "the scenario file's folder)")
        library.update({tid: target_from_dict(tid, table) for tid, table in read_toml(p, "targets file").items()})
    defined: dict[str, Target] = {}
    for table in section["define"]:
        if not isinstance(table, dict) or not isinstance(table.get("id"), str):
            raise InputError("each [[targets.define]] needs an id = \"...\" and the target's fields")
        defined[table["id"]] = target_from_dict(table["id"], table)
    library.update(defined)
    for tid, fields_ in section["override"].items():
        if tid not in library:
            raise InputError(f"[targets.override] names unknown target {tid!r}; known: {', '.join(library)}")
        library[tid] = target_from_dict(tid, fields_, base=library[tid])
    use = section["use"]
    if use is None:
        use = [t for t in ("medical_point_15min", "health_circle_30min", "ems_120")] + list(defined)
    else:
        use = list(use) + [tid for tid in defined if tid not in use]
    if not use:
        raise InputError(f"[targets] use is empty: name at least one target ({', '.join(library)}; "
                         "`geoaccess targets` lists them), or leave use out for the default three")
    unknown = [tid for tid in use if tid not in library]
    if unknown:
        raise InputError(f"[targets] use names unknown target(s) {', '.join(unknown)}; known: {', '.join(library)}")
    return {tid: library[tid] for tid in use}


TEMPLATE = """\
# geoaccess scenario — edit the paths and columns, then run:  geoaccess run scenario.toml
# Relative paths resolve against this file's folder.

[scenario]
name = "my-county"                 # used for the output folder maps/<name>/
# crs = "EPSG:32650"               # analysis CRS in metres; default: the UTM zone of the network
#                                  # (metres, at most 1 % scale error over the roads: a UTM/GK zone holding them)

[network]
source = "roads.osm"               # .osm.pbf / .osm / .graphml / .gpkg / .shp / .geojson
# place = "泗县, 宿州市, 安徽省"       # or download from OpenStreetMap (needs internet)
# bbox = [117.6, 33.3, 118.2, 33.7] # or a box: west, south, east, north (degrees)
# min_component_nodes = 500        # road fragments smaller than this are not snapped to
#                                  # (default: 5% of the main network, at least 10 nodes)
# class = "等级"                     # roads files (.gpkg/.shp): the road class column; values
#                                  # 国道/省道/县道/乡道/村道/专用公路 (or G/S/X/Y/C/Z),
#                                  # 高速公路/一级公路/…/等外公路, OSM highway values built in
# oneway = "单行"                   # one-way column: yes/no/-1, 是/否, 单向/双向/正向/反向
# maxspeed = "限速"                  # speed limit column (km/h, or "30 mph")
# design_speed = "lowest"          # use JTG B01-2014 design speeds of technical grades where
#                                  # there is no limit: lowest (hilly) | highest | none (default)
# [network.classes]                # your file's other class values -> OSM highway class
# "乡村道路" = "unclassified"
# [network.speeds.drive.kmh]       # override speeds (km/h) per mode and highway class
# primary = 70

[facilities]
path = "facilities.csv"            # .csv / .xlsx / .geojson / .gpkg / .shp
x = "lon"                          # column names in your file
y = "lat"
type = "type"                      # vocabulary ids (see `geoaccess targets`) or values as written
name = "name"
# capacity = "beds"                # beds, doctors… for per_1000 targets and popups
crs = "EPSG:4326"                  # or "GCJ-02" (Amap, Tencent), "BD-09" (Baidu), "EPSG:4490"
# code = "类别代码"                  # a column of WS 218-2002 category codes (A1, B1, C21...)
# classify_names = true            # an unmatched type: try the name rules on the name
# [facilities.types]               # your own type values -> kinds (`geoaccess targets`)
# "村卫生所" = "village_clinic"
# "体检中心" = "other"              # counts for no target, knowingly

[population]
path = "population.tif"            # GeoTIFF (WorldPop), points (.csv x/y, .gpkg) or polygons
# x = "lon"
# y = "lat"
# pop = "pop"                      # population field for points / polygons

# [admin]                          # townships / streets for per-unit verdicts
# path = "townships.gpkg"
# name = "name"
# urban = "urban"                  # a true/false column; without it names ending in 街道 are
#                                  # urban and 镇/乡 rural, else a density rule:
# urban_density = 1500             # persons per km² of a demand cell above which it is urban

[targets]
use = ["medical_point_15min", "health_circle_30min", "ems_120"]
# [targets.override.health_circle_30min]
# goal = 0.95

# [[targets.define]]               # your own target, no code needed
# id = "clinic_5min_drive"
# name_zh = "5分钟车程诊所"
# name_en = "Clinic within 5 min by car"
# facility_types = ["clinic"]
# mode = "drive"
# direction = "to_facility"
# threshold_min = 5
# population = "all"
# metric = "share_within"
# goal = 0.9

# [output]
# dir = "out"                      # default: maps/<scenario name>/

# [map]
# lang = "zh"                      # zh | en
# tianditu_key = "..."             # your 天地图 key enables the Tianditu basemap
# self_contained = true            # Leaflet inside map.html (opens offline); false or --cdn: from a CDN
"""
