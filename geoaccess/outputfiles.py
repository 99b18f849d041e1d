"""A run's output set written: tables, demand times, map and report, swapped in as one set.

:func:`write_outputs` is what ``geoaccess run``, ``site`` and a region's county tasks end
with (moved here from :mod:`geoaccess.pipeline`, which re-exports it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .gaps import write_target_gaps
from .io import write_json, write_with
from .outputset import OutputSet
from .proposals import write_sites
from .results import RunResult, summary_dict

Progress = Callable[[str], None]


def write_outputs(result: RunResult, out: Path, lang: str = "zh", progress: Progress | None = None,
                  self_contained: bool | None = None, basemap: str | None = None,
                  carry: tuple[str, ...] = ()) -> dict[str, Path]:
    """Write the run's output set into the folder ``out``, replacing the previous set whole.

    The set (summary.json, units.csv, facilities.csv, demand_times.gpkg, gaps.csv/.geojson,
    sites.csv and sites_<target>.csv when sited, curve_<target>.csv/.png with a curve, map.html,
    report.html and the manifest ``geoaccess-run.json``) is written into
    a staging folder beside ``out`` and swapped in with two renames, so ``out`` holds the old
    set or the new one at every instant, and files of an earlier run (an old sites.csv) do
    not survive. ``out`` must hold only files geoaccess wrote; ``carry`` names entries kept.

    Returns
    -------
    dict
        File key → final path under ``out``.

    Raises
    ------
    InputError
        ``out`` cannot be written or holds files geoaccess did not write.
    """
    with OutputSet(out, carry) as staged:
        result.warnings.extend(staged.notes)
        files = _write_files(result, staged.dir, lang, progress, self_contained, basemap)
        staged.commit(result.scenario.name)
    return {key: Path(out) / path.name for key, path in files.items()}  # as the user named the folder


def _write_files(result: RunResult, out: Path, lang: str, progress: Progress | None, self_contained: bool | None,
                 basemap: str | None) -> dict[str, Path]:
    from .maps import write_map
    from .report import write_report

    say = progress or (lambda msg: None)
    files = _write_tables(result, out, lang)
    say("writing the web map and the report")
    files["map"] = write_map(result, out / "map.html", lang=lang, self_contained=self_contained, basemap=basemap)
    files["report"] = write_report(result, out / "report.html", lang=lang, map_path=files["map"])
    return files


def _write_tables(result: RunResult, out: Path, lang: str = "zh") -> dict[str, Path]:
    """The run's tables (summary, units, facilities, demand times, gaps, sites, curves) into ``out``."""
    from .curve import write_curves
    from .tables import facilities_table, units_table, write_csv, write_demand_times

    files = {"summary": write_json(out / "summary.json", summary_dict(result))}
    files["units"] = write_csv(units_table(result), out / "units.csv")
    files["facilities"] = write_csv(facilities_table(result, lang), out / "facilities.csv")
    files["demand_times"] = write_with(out / "demand_times.gpkg", lambda tmp: write_demand_times(
        result.demand, result.facilities, tmp))
    if result.gaps:
        files["gaps"], files["gaps_geojson"] = write_target_gaps(result.gaps, out)
    if result.sites:
        files.update(write_sites(result.sites, out))
    files.update(write_curves(result, out, lang))
    return files

