"""README figures a new user checks in minutes: the demo's printed table, files and map sizes,
measured here by running the demo as the README says (the CLI), not taken from the code."""

import contextlib
import io
import re
from pathlib import Path

import pandas as pd
import pytest
import rasterio

from geoaccess.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory):
    """`geoaccess demo` and `geoaccess demo --cdn`: their output folders and what each printed."""
    out = {}
    for name, extra in (("inline", []), ("cdn", ["--cdn"])):
        folder = tmp_path_factory.mktemp(name)
        buffer = io.StringIO()  # capsys is function-scoped: captured by hand for the module's two runs
        with contextlib.redirect_stdout(buffer):
            assert main(["demo", "--out", str(folder), *extra]) == 0
        out[name] = (folder, buffer.getvalue())
    return out


def test_readme_cdn_saving_is_the_measured_map_size_difference(demo_runs):
    more, full, small = map(int, re.search(r"Leaflet inside \(about (\d+) kB more: the demo's map is (\d+) kB,\s+"
                                           r"(\d+) kB\s+with `--cdn`\)", README).groups())
    inline = (demo_runs["inline"][0] / "map.html").stat().st_size / 1000
    cdn = (demo_runs["cdn"][0] / "map.html").stat().st_size / 1000
    assert inline - cdn == pytest.approx(more, rel=0.03)
    assert inline == pytest.approx(full, rel=0.03) and cdn == pytest.approx(small, rel=0.05)


def test_readme_demo_output_is_what_the_demo_prints(demo_runs):
    block = re.search(r"```\ngeoaccess · demo\n(.*?)```", README, re.S).group(1)
    printed = demo_runs["inline"][1]
    squeeze = lambda text: " ".join(text.split())  # noqa: E731  (the console pads columns)
    table = [line for line in block.splitlines() if line and not line.startswith(("wrote", "  "))]
    for line in table:  # header and one row per target, figures as printed
        assert squeeze(line) in squeeze(printed), line
    files = re.findall(r"^  maps/demo/(\S+)$", block, re.M)
    folder = demo_runs["inline"][0]
    assert f"wrote {len(files)} files in" in block and f"wrote {len(files)} files in" in printed
    assert sorted(files) == sorted(p.name for p in folder.iterdir() if p.name != "geoaccess-run.json")
    n_all = int(re.search(r"manifest `geoaccess-run.json` \((\d+) files in all\)", README).group(1))
    assert n_all == len(list(folder.iterdir())) == len(files) + 1


def test_readme_demo_inputs_are_counted_right():
    facilities = int(re.search(r"the (\d+) health facilities tagged in the same extract", README).group(1))
    assert facilities == len(pd.read_csv(ROOT / "data" / "demo" / "facilities.csv"))
    residents = int(re.search(r"scaled to Monaco's ([\d,]+) residents", README).group(1).replace(",", ""))
    with rasterio.open(ROOT / "data" / "demo" / "population.tif") as src:
        band = src.read(1, masked=True)
    assert float(band.sum()) == pytest.approx(residents, rel=1e-6)
