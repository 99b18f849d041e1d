"""The house: imports point one way (docs/architecture.md), no cycles, small modules,
and ``import geoaccess as ga`` gives the documented API."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "geoaccess"

# Stage of every module, in the order data flows (docs/architecture.md). A module may import
# only from its own stage or earlier ones. A new module gets a row here and in the doc.
STAGES = [
    ("base", {"_version", "_paths", "errors", "io", "outputset", "coords", "points", "speedlimits", "osmtags", "roadclasses",
              "grids", "modes"}),
    ("load", {"roadnet", "osm", "osmgraph", "osmfiles", "roadfiles", "network", "facilitytypes", "facilities", "demand", "buildings", "admin", "water", "snapping", "inputchecks", "synthetic"}),
    ("travel times", {"modegraph", "routing", "isoraster", "isochrones", "service"}),
    ("targets", {"targets", "scenario"}),
    ("gaps & siting", {"gaps", "siting"}),
    ("results", {"results"}),
    ("outputs", {"maplayers", "demandraster", "staticmap", "maps", "comparemap", "tables", "report"}),
    ("orchestration", {"candidates", "proposals", "curve", "comparison", "outputfiles", "pipeline", "region", "cli"}),
]
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every geoaccess module ``name`` imports, at any depth of the file (function-level and
    TYPE_CHECKING imports included: a cycle there is still a cycle in the design)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
            elif node.module and node.module.split(".")[0] == "geoaccess":
                base = []
            else:
                continue
            mod = ".".join(base + (node.module.split(".") if node.module else []))
            mod = mod.removeprefix("geoaccess.").removeprefix("geoaccess")
            for alias in node.names:
                sub = f"{mod}.{alias.name}" if mod else alias.name
                found.add(sub if sub in modules else mod)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "geoaccess":
                    found.add(alias.name.removeprefix("geoaccess").lstrip("."))
    found.discard(name)
    return found


def _graph() -> nx.DiGraph:
    modules = _modules()
    graph = nx.DiGraph()
    for name, path in modules.items():
        graph.add_node(name)
        for target in _imports(name, path, modules):
            graph.add_edge(name, target)
    return graph


def _stage(name: str) -> int:
    top = name.split(".")[0]
    for i, (_, members) in enumerate(STAGES):
        if top in members:
            return i
    raise AssertionError(f"module geoaccess.{name} has no stage: add it to STAGES here and to "
                         "docs/architecture.md")


def test_no_import_cycle():
    graph = _graph()
    graph.remove_node("")  # the front door imports (lazily) everything; nothing imports it
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert cycles == []


def test_nothing_imports_the_front_door():
    graph = _graph()
    assert sorted(graph.predecessors("")) == []


def test_imports_point_one_way():
    graph = _graph()
    graph.remove_node("")
    backwards = [f"{a} ({STAGES[_stage(a)][0]}) imports {b} ({STAGES[_stage(b)][0]})"
                 for a, b in graph.edges if _stage(b) > _stage(a)]
    assert backwards == []


def test_the_checker_sees_a_cycle_and_a_backward_import(tmp_path, monkeypatch):
    # The tests above must be able to fail: a fake package with a cycle and a backward import.
    pkg = tmp_path / "geoaccess"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "network.py").write_text("from .maps import x\n")
    (pkg / "maps.py").write_text("def f():\n    from geoaccess import network\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    graph = _graph()
    assert {"network", "maps"} in [set(c) for c in nx.strongly_connected_components(graph)]
    assert _stage("network") < _stage("maps")


def test_modules_are_small():
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in _modules().items()}
    over = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert over == {}


def test_front_door_exports_the_documented_api():
    import geoaccess as ga

    missing = [name for name in ga.__all__ if not hasattr(ga, name)]
    assert missing == []
    for name in ("run", "network_from_file", "nearest_facility", "site", "RunResult", "compute_isochrones"):
        assert callable(getattr(ga, name)), name
    # every public function documents itself (numpydoc-ish: a summary line at least)
    undocumented = [name for name in ga.__all__ if name != "__version__" and not (getattr(ga, name).__doc__ or "").strip()]
    assert undocumented == []


def test_cli_help_does_not_load_the_heavy_libraries():
    code = ("import sys, geoaccess.cli as c\n"
            "heavy = [m for m in ('osmnx', 'folium', 'highspy', 'geopandas') if m in sys.modules]\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _loaded_after(code: str, modules: tuple[str, ...]) -> tuple[list[str], str]:
    code += f"\nimport sys\nprint('|' + ','.join(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    printed, _, loaded = out.rpartition("|")
    return [m for m in loaded.strip().split(",") if m], printed


def test_targets_command_lists_targets_without_the_data_stack():
    # Issue 15: `geoaccess targets` starts well under a second (targets.py loaded geopandas through network).
    loaded, printed = _loaded_after("from geoaccess.cli import main\nmain(['targets'])",
                                    ("pandas", "geopandas", "networkx", "scipy", "shapely", "folium"))
    assert loaded == []
    assert "medical_point_15min" in printed and "township_health_centre" in printed


def test_reading_inputs_does_not_load_the_map_or_graph_libraries():
    # What `geoaccess check` imports: the map (folium, matplotlib) and graph (networkx, osmnx) libraries
    # load only when a map is drawn or a graph built.
    loaded, _ = _loaded_after("import geoaccess.pipeline", ("folium", "matplotlib", "networkx", "osmnx", "highspy"))
    assert loaded == []


@pytest.mark.parametrize("name", ["run", "site", "nearest_facility"])
def test_front_door_is_the_real_function(name):
    import geoaccess as ga
    from geoaccess import pipeline, routing

    real = {"run": pipeline.run, "site": pipeline.site_target, "nearest_facility": routing.nearest_facility}[name]
    assert getattr(ga, name) is real
