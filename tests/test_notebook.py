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
