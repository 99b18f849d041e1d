"""Every third-party module the package imports is installed by ``pip install geoaccess``.

``osmium`` (every OSM road file is read with it) was once listed only among the test
extras: the tests passed, while a user's ``pip install -e . && geoaccess demo`` (the demo
reads a PBF) would have stopped on an ImportError.
"""
import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions, requires
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _imported_top_modules() -> dict[str, str]:
    found = {}
    for path in sorted((ROOT / "geoaccess").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "geoaccess":
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_imported_library_is_a_runtime_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {_name(r): set(re.findall(r"\[([^\]]*)\]", r)[0].split(",")) if "[" in r else set()
                for r in project["dependencies"]}
    # A library a declared dependency itself requires is installed with it (affine by rasterio;
    # distributed by dask[distributed]).
    installed_with = set(declared)
    for dist, extras in declared.items():
        for r in requires(dist) or []:
            extra = re.search(r"extra == ['\"]([^'\"]+)", r)
            if extra is None or extra.group(1) in {e.strip() for e in extras}:
                installed_with.add(_name(r))
    dists = packages_distributions()
    missing = {}
    for module, where in _imported_top_modules().items():
        names = {_name(d) for d in dists.get(module, [module])}
        if not names & installed_with:
            missing[module] = where
    assert "osmium" in _imported_top_modules()  # the check sees lazy imports inside functions
    assert not missing, f"imported but not installed by `pip install geoaccess`: {missing}; add to [project] dependencies"
