"""A run's output set written: tables, demand times, map and report, swapped in as one set.

:func:`write_outputs` is what ``geoaccess run``, ``site`` and a region's county tasks end
with. ``demand_times.gpkg`` (200k points on a county, the largest file) can be written by a
helper process (:class:`geoaccess.helperproc.Helper`) while the map and the report are
made here: the same call (:func:`geoaccess.tables.write_demand_times`), so the same file,
on the second core.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

from .gaps import write_target_gaps
from .helperproc import Helper, submit
from .io import write_json
from .outputset import OutputSet
from .proposals import write_sites
from .results import RunResult, summary_dict

Progress = Callable[[str], None]


def write_outputs(result: RunResult, out: Path, lang: str = "zh", progress: Progress | None = None,
                  self_contained: bool | None = None, basemap: str | None = None,
                  carry: tuple[str, ...] = (), helper: Helper | None = None) -> dict[str, Path]:
    """Write the run's output set into the folder ``out``, replacing the previous set whole.

    The set (summary.json, units.csv, facilities.csv, demand_times.gpkg, gaps.csv/.geojson,
    sites.csv and sites_<target>.csv when sited, curve_<target>.csv/.png with a curve, map.html,
    report.html and the manifest ``geoaccess-run.json``) is written into
    a staging folder beside ``out`` and swapped in with two renames, so ``out`` holds the old
    set or the new one at every instant, and files of an earlier run (an old sites.csv) do
    not survive. ``out`` must hold only files geoaccess wrote; ``carry`` names entries kept.
    With ``helper`` (a helper process), ``demand_times.gpkg`` is written there while the map
    and the report are made here; the set is swapped in when both are done.

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
        files = _write_files(result, staged.dir, lang, progress, self_contained, basemap, helper)
        staged.commit(result.scenario.name)
    return {key: Path(out) / path.name for key, path in files.items()}  # as the user named the folder


def _write_files(result: RunResult, out: Path, lang: str, progress: Progress | None, self_contained: bool | None,
                 basemap: str | None, helper: Helper | None = None) -> dict[str, Path]:
    from .maps import write_map
    from .report import write_report

    say = progress or (lambda msg: None)
    files, finish = _write_tables(result, out, lang, helper)
    say("writing the web map and the report")
    files["map"] = write_map(result, out / "map.html", lang=lang, self_contained=self_contained, basemap=basemap)
    files["report"] = write_report(result, out / "report.html", lang=lang, map_path=files["map"])
    finish()
    return files


def _write_tables(result: RunResult, out: Path, lang: str = "zh",
                  helper: Helper | None = None) -> tuple[dict[str, Path], Callable[[], None]]:
    """The run's tables (summary, units, facilities, demand times, gaps, sites, curves) into ``out``.

    Returns the files and a call that returns once ``demand_times.gpkg`` is in place (at
    once without ``helper``; with it, when the helper process has written it).
    """
    from .curve import write_curves
    from .tables import facilities_table, units_table, write_csv

    files = {"summary": write_json(out / "summary.json", summary_dict(result))}
    files["units"] = write_csv(units_table(result), out / "units.csv")
    files["facilities"] = write_csv(facilities_table(result, lang), out / "facilities.csv")
    files["demand_times"] = out / "demand_times.gpkg"
    finish = _write_demand_times(result, files["demand_times"], helper)
    if result.gaps:
        files["gaps"], files["gaps_geojson"] = write_target_gaps(result.gaps, out)
    if result.sites:
        files.update(write_sites(result.sites, out))
    files.update(write_curves(result, out, lang))
    return files, finish


def _write_demand_times(result: RunResult, path: Path, helper: Helper | None) -> Callable[[], None]:
    from .tables import write_demand_times

    # Under a temporary name, renamed when complete (as io.write_with does).
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    os.unlink(tmp)  # the GPKG driver refuses to overwrite an existing (empty) file
    job = submit(helper, write_demand_times, result.demand, result.facilities[["facility_id", "name"]], tmp)

    def finish() -> None:
        try:
            job.result()
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    if helper is None:
        finish()  # written now, in order, as before
        return lambda: None
    return finish
