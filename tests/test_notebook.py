"""The quick-start notebook runs top to bottom (its code cells executed in order)."""

import json
from pathlib import Path

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
