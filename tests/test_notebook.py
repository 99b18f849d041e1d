"""The quick-start notebook runs top to bottom (its code cells executed in order)."""

import json
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


def test_quickstart_notebook_runs(capsys):
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    namespace: dict = {}
    for source in code:
        exec(compile(source, str(NOTEBOOK), "exec"), namespace)
    out = capsys.readouterr().out
    assert "medical_point_15min" in out and "walk: median" in out
    info = namespace["result"].siting["medical_point_15min"]
    assert info["value_after"] >= info["value_before"]


def test_notebooks_use_only_the_public_api():
    # Notebooks are what users copy: only `import geoaccess as ga` and `ga.<public name>`.
    import re

    import geoaccess as ga

    for path in sorted(NOTEBOOK.parent.glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        assert not re.search(r"^\s*(from geoaccess\b|import geoaccess\.)", code, re.M), path.name
        used = set(re.findall(r"\bga\.(\w+)", code))
        assert used <= set(ga.__all__), (path.name, sorted(used - set(ga.__all__)))


SITING = NOTEBOOK.parent / "02_siting.ipynb"


def test_siting_notebook_runs_on_the_public_api_only(capsys):
    cells = json.loads(SITING.read_text(encoding="utf-8"))["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    assert not any("from geoaccess" in c or "geoaccess." in c.replace("ga.", "") for c in code)
    namespace: dict = {}
    for source in code:
        exec(compile(source, str(SITING), "exec"), namespace)
    assert "10-minute circle" in capsys.readouterr().out
    # the planned run, computed from scratch, gains exactly the people the proposal says
    circle = namespace["circle"]
    county = namespace["cmp"].table.set_index(["target", "unit"]).loc[("sub_centre_10min", "(whole area)")]
    assert county["newly_covered"] - county["newly_uncovered"] == \
        pytest.approx(circle["covered_after"] - circle["covered_before"], rel=1e-9)
    assert county["value_after"] == pytest.approx(circle["value_after"], rel=1e-9)
    assert namespace["curve"]["value"].is_monotonic_increasing


COUNTY = NOTEBOOK.with_name("01_county_assessment.ipynb")


def test_county_assessment_notebook_runs_on_the_public_api_only(capsys):
    cells = json.loads(COUNTY.read_text(encoding="utf-8"))["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    imports = [line.strip() for source in code for line in source.splitlines() if "geoaccess" in line
               and line.strip().startswith(("import", "from"))]
    assert imports == ["import geoaccess as ga"]  # the front door, nothing private
    namespace: dict = {}
    for source in code:
        exec(compile(source, str(COUNTY), "exec"), namespace)
    out = capsys.readouterr().out
    result, files = namespace["result"], namespace["files"]
    for e in result.evaluations:
        assert e.target.id in out
    failing = namespace["failing"]
    assert set(failing["name"]) <= set(result.units["unit"])
    assert (failing["passed"] == False).all()  # noqa: E712
    assert {"report", "map", "units", "facilities"} <= set(files) and all(p.exists() for p in files.values())
    assert "Leaflet 1.9.4" in files["map"].read_text(encoding="utf-8")  # offline map by default
    assert namespace["fmap"]._repr_html_()  # the inline map renders


def test_siting_notebook_plans_with_with_sites_not_a_hand_edited_facility_file():
    cells = json.loads(SITING.read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "with_sites=" in code
    assert "shutil" not in code and "to_csv" not in code  # no copy of the inputs edited by hand
