"""The ``geoaccess`` command line: run, check, demo, site, compare, targets, init.

Exit codes: 0 the run completed (targets may have failed), 2 bad input (the message says
what to fix), 3 a target failed and ``--fail-on-miss`` was given.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._version import __version__
from ._paths import data_path
from .errors import InputError

console = Console(stderr=False, highlight=False, log_path=False)  # log lines without "cli.py:160"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="geoaccess", description="Health-facility accessibility planning.")
    parser.add_argument("--version", action="version", version=f"geoaccess {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="evaluate the targets of a scenario file and write maps and tables")
    run.add_argument("scenario", type=Path, help="scenario TOML file")
    _output_args(run)
    run.add_argument("--targets", help="comma-separated target ids to evaluate (default: the scenario's)")
    run.add_argument("--fail-on-miss", action="store_true", help="exit with status 3 when a target fails")
    run.add_argument("--with-sites", nargs="+", type=Path, metavar="FILE", help="evaluate the plan: add the sites of "
                     "these sites_<target>.csv files (written by `site`) to the facilities first")

    check = sub.add_parser("check", help="dry run: read and check every input, print what will be used; "
                                         "no routing, nothing written")
    check.add_argument("scenario", type=Path, help="scenario TOML file")
    check.add_argument("--out", type=Path, help="output folder the run would use (checked, not created)")

    demo = sub.add_parser("demo", help="run the embedded demo (Monaco, real OpenStreetMap data)")
    _output_args(demo)
    demo.add_argument("--county", action="store_true",
                      help="run on a synthetic rural county instead (exercises the 30-minute circle and 120)")
    demo.add_argument("--fail-on-miss", action="store_true", help="exit with status 3 when a target fails")

    site = sub.add_parser("site", help="propose new facility sites for a target (gap list, sites_<target>.csv, map)")
    site.add_argument("scenario", type=Path, help="scenario TOML file")
    site.add_argument("--target", required=True, help="target id to site for")
    how = site.add_mutually_exclusive_group(required=True)
    how.add_argument("--add", type=int, metavar="N", help="number of new sites to place")
    how.add_argument("--cover", type=float, metavar="SHARE", help="share of people to cover (0-1): fewest sites")
    how.add_argument("--curve", type=int, metavar="N", help="best solution for 1..N new sites: how many are enough "
                                                             "(curve_<target>.csv and .png)")
    site.add_argument("--model", choices=("mclp", "lscp", "pmedian", "pcenter"),
                      help="default: mclp with --add, lscp with --cover, pmedian for mean-time targets")
    where = site.add_mutually_exclusive_group()
    where.add_argument("--candidates", type=Path, help="CSV/XLSX of candidate sites (lon, lat, id, name), relative to "
                                                       "the scenario's folder; default: road nodes in and near the gaps")
    where.add_argument("--candidates-from", metavar="KINDS",
                       help="upgrade existing facilities of these kinds (comma-separated, e.g. township_health_centre)")
    site.add_argument("--spacing", type=float, default=500.0, help="spacing of generated candidates, metres (default: %(default)g)")
    site.add_argument("--time-limit", type=float, default=60.0, help="solver time limit, seconds (default: %(default)g)")
    _output_args(site)

    region = sub.add_parser("run-region", help="evaluate every county of a region (province) on Dask")
    region.add_argument("region", type=Path, help="region TOML file ([region] + county scenario keys)")
    region.add_argument("--out", type=Path, help="output folder (default: maps/<region name>/)")
    region.add_argument("--workers", type=int, help="LocalCluster worker processes (default: number of cores)")
    region.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://host:8786")
    region.add_argument("--force", action="store_true", help="partition again and re-run counties already done")
    region.add_argument("--counties", help="comma-separated county ids to run (default: all)")
    region.add_argument("--lang", choices=("zh", "en"), help="language of the maps and reports")
    region.add_argument("--self-contained", action="store_true", default=None, help="inline Leaflet in the maps")

    cmp = sub.add_parser("compare", help="current vs planned: two output folders compared per target and township "
                                         "(compare.csv, compare.html, compare_map.html)")
    cmp.add_argument("run_a", type=Path, help="output folder of the current state")
    cmp.add_argument("run_b", type=Path, help="output folder of a run of the planned scenario (`run "
                                              "--with-sites`; a `site` output is not one)")
    cmp.add_argument("--out", type=Path, help="folder for compare.csv/.html (default: compare-<A>-vs-<B> beside RUN_B)")
    cmp.add_argument("--lang", choices=("zh", "en"), default="zh", help="language of compare.html and compare_map.html")

    sub.add_parser("targets", help="list the built-in target definitions and the facility kinds")

    init = sub.add_parser("init", help="write a commented scenario template into a folder")
    init.add_argument("directory", type=Path)

    args = parser.parse_args(argv)
    try:
        if args.command == "targets":
            return _targets()
        if args.command == "init":
            return _init(args.directory)
        if args.command == "demo":
            return _run(_county_scenario(args.out) if args.county else data_path("demo", "scenario.toml"), args, None)
        if args.command == "site":
            return _site(args)
        if args.command == "check":
            return _check(args)
        if args.command == "run-region":
            return _run_region(args)
        if args.command == "compare":
            return _compare(args)
        only = [t.strip() for t in args.targets.split(",")] if args.targets else None
        return _run(args.scenario, args, only)
    except InputError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        console.print("interrupted; no partial output was left behind")
        return 130


def _output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, help="output folder (default: maps/<scenario name>/)")
    p.add_argument("--lang", choices=("zh", "en"), help="language of the map labels (default: the scenario's, zh)")
    leaflet = p.add_mutually_exclusive_group()
    leaflet.add_argument("--self-contained", dest="self_contained", action="store_true", default=None,
                         help="inline Leaflet so the map opens offline (the default; only basemap tiles need the network)")
    leaflet.add_argument("--cdn", dest="self_contained", action="store_false", default=None,
                         help="load Leaflet from a CDN: a smaller map.html that is blank without internet")
    p.add_argument("--basemap", choices=("osm", "light", "tianditu", "amap", "none"),
                   help="basemap (tianditu needs [map] tianditu_key; amap shifts overlays to GCJ-02)")


def _run(scenario_path: Path, args: argparse.Namespace, only: list[str] | None) -> int:
    from .pipeline import output_dir, run_scenario
    from .scenario import load_scenario

    started = time.perf_counter()
    scenario = load_scenario(scenario_path)
    if only:
        unknown = [t for t in only if t not in scenario.targets]
        if unknown:
            raise InputError(f"--targets names target(s) not in the scenario: {', '.join(unknown)}; "
                             f"scenario targets: {', '.join(scenario.targets)}")
        scenario.targets = {t: scenario.targets[t] for t in only}
    sites = None
    if getattr(args, "with_sites", None):  # read and checked before the minutes of routing
        from .candidates import read_site_files

        sites = read_site_files(args.with_sites, list(scenario.targets))
    _say_output_dir(scenario, args.out)
    with console.status("starting…") as status:
        def progress(message: str) -> None:
            status.update(message)
            console.log(escape(message))

        result = run_scenario(scenario, out_dir=args.out, progress=progress, lang=args.lang,
                              self_contained=args.self_contained, basemap=args.basemap,
                              carry=_carry(scenario_path, output_dir(scenario, args.out)), sites=sites)
    console.print(results_table(result.evaluations, scenario.name))
    for line in fail_reasons(result.evaluations):
        console.print(line, soft_wrap=True)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    console.print(f"wrote {len(result.files)} files in {time.perf_counter() - started:.1f} s:")
    for path in result.files.values():
        console.print(f"  {escape(str(path))}", soft_wrap=True)
    if args.fail_on_miss and not all(e.passed for e in result.evaluations):
        return 3
    return 0


def results_table(evaluations, title: str) -> Table:
    """The run's results as a rich table that fits an 80-column terminal (no wrapped rows)."""
    from .results import goal_text, value_text

    # no box and one space between columns: 6 columns of built-in targets fit in 77 characters
    table = Table(title=f"geoaccess · {title}", box=None, padding=(0, 1, 0, 0), pad_edge=False, title_justify="left",
                  header_style="bold underline")
    table.add_column("target", no_wrap=True)
    table.add_column("value", no_wrap=True, justify="right")
    table.add_column("goal", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("covered/people", no_wrap=True, justify="right")
    table.add_column("unreach.", no_wrap=True, justify="right")
    for e in evaluations:
        verdict = "[dim]n/a[/]" if e.passed is None else ("[green]PASS[/]" if e.passed else "[red]FAIL[/]")
        table.add_row(e.target.id, value_text(e.value, e.target, "en"),
                      escape(goal_text(e.target, "en").replace(" within ", " in ")), verdict,
                      f"{e.population_covered:,.0f}/{e.population_total:,.0f}", f"{e.population_unreachable:,.0f}")
    return table


def fail_reasons(evaluations: list) -> list[str]:
    """Rich lines for under the results table, one per :class:`~geoaccess.targets.Evaluation`
    whose value meets its goal but fails, saying why (e.g. "ems_120 FAIL: meets the goal, but
    fails: 1.5% of the people cannot reach any facility (rule: at most 1%)")."""
    from .results import fail_reason

    return [f"[red]{escape(e.target.id)} FAIL[/]: {escape(why)}" for e in evaluations if (why := fail_reason(e))]


def _run_region(args: argparse.Namespace) -> int:
    import json

    from .region import load_region
    from .results import goal_text, unreachable_note, value_text
    from .region.run import run_region

    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    only = [c.strip() for c in args.counties.split(",") if c.strip()] if args.counties else None
    with console.status("starting…") as status:
        def tick(s: dict) -> None:
            status.update(f"counties: done {s['done']}/{s['total']} · running {s['running']} · failed {s['failed']}"
                          f" · left {s['left']} · {s['elapsed']:.0f} s")

        try:
            run = run_region(args.region, args.out, workers=args.workers, scheduler=args.scheduler,
                             force=args.force, counties=only, lang=args.lang, self_contained=args.self_contained,
                             say=lambda m: console.log(escape(m)), tick=tick)
        except KeyboardInterrupt:
            console.print("interrupted: the counties that finished are kept; run the same command again to resume")
            return 130
    summary = json.loads(run.files["region_summary"].read_text(encoding="utf-8"))
    targets = load_region(args.region).scenario.targets
    table = Table(title=f"geoaccess · {summary['region']} · {summary['counties']} counties")
    for col in ("target", "province value", "goal", "result", "unreachable", "counties passing"):
        table.add_column(col)
    for t in summary["targets"]:
        tg = targets[t["id"]]
        table.add_row(t["id"], value_text(t["value"], tg, "en"), goal_text(tg, "en"),
                      "[green]PASS[/]" if t["passed"] else ("[red]FAIL[/]" if t["passed"] is False else "–"),
                      f"{t['population_unreachable']:,.0f} / {t['population_total']:,.0f}",
                      f"{t['counties_passing']} / {t['counties_evaluated']}")
    console.print(table)
    for t in summary["targets"]:  # a FAIL beside a value meeting its goal, explained as for one county
        why = unreachable_note(t["value"], t["passed"], targets[t["id"]], "en", t["population_unreachable"],
                               t["population_total"])
        if why:
            console.print(f"[red]{escape(t['id'])} FAIL[/]: {escape(why)}", soft_wrap=True)
    by_status = ", ".join(f"{k} {v}" for k, v in summary["counties_by_status"].items())
    console.print(f"counties: {by_status}; ran {len(run.ran)}, skipped {len(run.skipped)} already done")
    for rec in run.records.values():
        if rec["status"] != "ok":
            console.print(f"[yellow]{escape(rec['id'])} {escape(rec['name'])}: {rec['status']}[/] "
                          f"{escape(rec.get('note') or '')}", soft_wrap=True)
    for warning in run.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    console.print(f"wrote in {run.seconds:.1f} s: {escape(str(run.root))}/"
                  "{counties.csv, region_summary.json, map.html, report.html, counties/<id>/}", soft_wrap=True)
    return 0


def _site(args: argparse.Namespace) -> int:
    from .candidates import candidates_from_file
    from .outputset import check_output_dir
    from .pipeline import output_dir, run_scenario, write_outputs
    from .proposals import read_proposals
    from .scenario import load_scenario

    started = time.perf_counter()
    if args.cover is not None and not 0 < args.cover <= 1:
        raise InputError(f"--cover is a share between 0 and 1 (e.g. 0.9), got {args.cover}")
    for flag, n in (("--add", args.add), ("--curve", args.curve)):
        if n is not None and n < 1:
            raise InputError(f"{flag} must be at least 1, got {n}")
    for flag, v, unit in (("--time-limit", args.time_limit, "seconds, e.g. 60"), ("--spacing", args.spacing, "metres, e.g. 500")):
        if not 0 < v < float("inf"):  # also NaN: checked before the minutes of routing
            raise InputError(f"{flag} must be a positive number of {unit}; got {v:g}")
    scenario = load_scenario(args.scenario)
    if args.target not in scenario.targets:
        raise InputError(f"--target {args.target!r} is not a target of this scenario; "
                         f"choose from {', '.join(scenario.targets)}")
    out = output_dir(scenario, args.out)
    carry = _carry(args.scenario, out)
    check_output_dir(out, carry)  # before computing
    candidates = None
    if args.candidates:  # read and checked before the minutes of routing
        candidates = candidates_from_file(_scenario_relative(args.scenario, args.candidates, "--candidates"),
                                          "EPSG:4326")
    _say_output_dir(scenario, args.out)
    with console.status("starting…") as status:
        def progress(message: str) -> None:
            status.update(message)
            console.log(escape(message))

        check = None  # an unknown --candidates-from kind is said before the minutes of routing
        if args.candidates_from is not None:
            from functools import partial

            from .candidates import check_upgrade_kinds

            check = partial(check_upgrade_kinds, kinds=args.candidates_from)
        result = run_scenario(scenario, progress=progress, write=False, check_facilities=check)
        kept = read_proposals(result, out, keep_out=() if args.curve else (args.target,))
        if candidates is not None:
            candidates = candidates.to_crs(result.demand.crs)
        progress(f"siting for {args.target} (time limit {args.time_limit:g} s)")
        options = dict(model=args.model, candidates=candidates, candidates_from=args.candidates_from,
                       spacing_m=args.spacing, time_limit_s=args.time_limit, progress=progress)
        if args.curve:
            from .curve import site_curve

            curve = site_curve(result, args.target, args.curve, **options)
            kept += result.siting[args.target]["curve_messages"]
        else:
            from .proposals import site_target

            sites = site_target(result, args.target, n_new=args.add, cover_share=args.cover, **options)
        result.files = write_outputs(result, out, lang=args.lang or scenario.map["lang"], progress=progress,
                                     self_contained=args.self_contained, basemap=args.basemap, carry=carry)
    for line in kept:
        console.print(f"note: {escape(line)}", soft_wrap=True)
    if args.curve:
        _print_curve(curve, scenario.targets[args.target])
    else:
        _print_proposal(sites, result.siting[args.target], scenario.targets[args.target])
    console.print(f"wrote {len(result.files)} files in {time.perf_counter() - started:.1f} s:")
    for path in result.files.values():
        console.print(f"  {escape(str(path))}", soft_wrap=True)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from .comparison import COUNTY, compare, value_cell, write_comparison
    from .outputset import safe_folder_name

    comparison = compare(args.run_a, args.run_b)
    a, b = Path(args.run_a).resolve(), Path(args.run_b).resolve()
    out = args.out or b.parent / safe_folder_name(f"compare-{a.name}-vs-{b.name}")
    files = write_comparison(comparison, out, lang=args.lang)
    for tid, rows in comparison.table.groupby("target", sort=False):
        table = Table(title=f"现状 vs 规划 · {escape(tid)}: {escape(a.name)} → {escape(b.name)}")
        for col in ("township", "current", "planned", "verdict", "+ covered", "− uncovered"):
            table.add_column(col, no_wrap=col != "township")
        for r in rows.itertuples():
            bold = "[bold]" if r.unit == COUNTY else ""
            table.add_row(bold + escape(str(r.unit)), value_cell(r.value_before, r.metric),
                          value_cell(r.value_after, r.metric), escape(r.verdict), f"{r.newly_covered:,.0f}",
                          f"{r.newly_uncovered:,.0f}")
        console.print(table)
    for note in comparison.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    console.print("wrote " + ", ".join(escape(str(p)) for p in files.values()), soft_wrap=True)
    return 0


def _scenario_relative(scenario_path: Path, path: Path, flag: str) -> Path:
    """``path`` as the scenario's own paths are read: a relative one against the scenario's folder."""
    path = Path(path).expanduser()
    if path.is_absolute():
        return path
    base = Path(scenario_path).resolve().parent
    found = base / path
    if not found.exists() and path.exists():
        raise InputError(f"{flag} {path}: relative paths are read from the scenario's folder {base}, where there is "
                         f"no {path}; give it as {path.resolve()} (absolute) or move it beside the scenario")
    return found


def _print_proposal(sites, info: dict, target) -> None:
    from .results import goal_text, value_text

    table = Table(title=f"new sites for {target.id} ({info['model']}, {info['status']}, "
                        f"gap {info['mip_gap']:.2%}, {info['n_candidates']} candidates)")
    gain_unit = "min" if "minutes" in info["measure"] else "people"
    for col in ("rank", "site", "name", "township", f"gain ({gain_unit})", info["measure"]):
        table.add_column(col)
    fmt = (lambda v: f"{v:,.1f}") if gain_unit == "min" else (lambda v: f"{v:,.0f}")
    for row in sites.itertuples():
        name = f"{row.name} ({row.kind})" if getattr(row, "kind", "") else str(row.name)
        table.add_row(str(row.rank), escape(str(row.site_id)), escape(name), escape(str(row.township)),
                      ("−" if gain_unit == "min" else "+") + fmt(row.gain), fmt(row.cumulative))
    console.print(table)
    verdict = "[green]met[/]" if info["passed_after"] else "[red]still not met[/]"
    console.print(f"{target.id}: {value_text(info['value_before'], target, 'en')} now → "
                  f"{value_text(info['value_after'], target, 'en')} with {len(sites)} new site(s); "
                  f"goal {escape(goal_text(target, 'en'))}: {verdict}")
    if info["model"] == "pcenter":
        console.print(f"worst-case time: {info['worst_minutes_before']:.1f} min now → "
                      f"{info['worst_minutes_after']:.1f} min")
    for message in info["messages"]:
        console.print(f"[yellow]note:[/] {escape(message)}", soft_wrap=True)


def _print_curve(curve, target) -> None:
    from .results import value_text

    table = Table(title=f"how many new sites for {target.id}")
    for col in ("new sites", "value", "people covered", "goal", "solver", "sites"):
        table.add_column(col)
    for row in curve.itertuples():
        table.add_row(str(row.n_sites), value_text(row.value, target, "en"), f"{row.covered:,.0f}",
                      "[green]met[/]" if row.passed else "[red]not met[/]",
                      f"{row.status} {row.mip_gap:.2%}" if row.n_sites else "–", escape(row.sites))
    console.print(table)
    met = curve[curve["passed"]]
    console.print(f"goal met with {int(met['n_sites'].iloc[0])} new site(s)" if len(met) else
                  f"goal not met with up to {int(curve['n_sites'].max())} new site(s)")


def _carry(scenario_path: Path, out: Path) -> tuple[str, ...]:
    """The entry of ``out`` holding the scenario file (the synthetic county's ``input``), kept across runs."""
    try:
        inside = Path(scenario_path).resolve().relative_to(Path(out).resolve())
    except ValueError:
        return ()
    return inside.parts[:1] if len(inside.parts) > 1 else ()


def _say_output_dir(scenario, out: Path | None) -> None:
    """Say so when the scenario name had to be changed to make the default output folder."""
    from .outputset import safe_folder_name

    if out is None and not scenario.output["dir"] and safe_folder_name(scenario.name) != scenario.name:
        console.print(f"note: the scenario name {escape(repr(scenario.name))} is not a safe folder name; outputs go "
                      f"to {escape(str(Path('maps') / safe_folder_name(scenario.name)))}", soft_wrap=True)


def _check(args: argparse.Namespace) -> int:
    """``geoaccess check``: read every input as ``run`` does, print what will be used, route nothing."""
    from .outputset import check_output_dir
    from .pipeline import describe_inputs, load_inputs, output_dir
    from .scenario import load_scenario

    started = time.perf_counter()
    scenario = load_scenario(args.scenario)
    out = output_dir(scenario, args.out)
    check_output_dir(out, _carry(args.scenario, out))
    inputs = load_inputs(scenario, search_demand=False)  # nothing is snapped
    for line in describe_inputs(inputs, out):
        console.print(escape(line), soft_wrap=True)
    for warning in inputs.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    console.print(f"inputs OK ({time.perf_counter() - started:.1f} s; nothing routed, nothing written): "
                  f"geoaccess run {escape(str(args.scenario))}", soft_wrap=True)
    return 0


def _county_scenario(out: Path | None) -> Path:
    """Generate the synthetic county (seed 0, 600 km², ~30k road nodes) once and return its scenario."""
    from .synthetic import generate_county

    folder = (out or Path("maps") / "synthetic-county") / "input"
    scenario = folder / "scenario.toml"
    if not scenario.exists():
        console.log(f"generating the synthetic county in {escape(str(folder))}")
        generate_county(folder, seed=0, area_km2=600.0, n_nodes=30_000)
    return scenario


def _targets() -> int:
    from .results import goal_text
    from .targets import load_targets

    console.print(f"built-in targets ({escape(str(data_path('targets.toml')))}):\n")
    for t in load_targets().values():
        modes = t.mode if t.mode_for(True) == t.mode_for(False) else f"urban {t.mode_for(True)}, rural {t.mode_for(False)}"
        delay = f", +{t.dispatch_delay_min:g} min dispatch" if t.dispatch_delay_min else ""
        console.print(f"[bold]{t.id}[/]  {escape(t.name_zh)} / {escape(t.name_en)}\n"
                      f"  {t.metric} {escape(goal_text(t, 'en'))} · {modes} · {t.direction}{delay} · population {t.population}\n"
                      f"  facilities: {', '.join(t.facility_types)}\n", soft_wrap=True)
    _vocabulary()
    return 0


def _vocabulary() -> None:
    """The facility kinds, briefly: what [facilities.types] may map to and what each matches."""
    from .facilitytypes import category_codes, load_facility_types, name_rules

    console.print(f"facility kinds ({escape(str(data_path('facility_types.toml')))}); map your own type values "
                  "to them under \\[facilities.types]:\n")
    codes = category_codes()
    for kind, t in load_facility_types().items():
        own = [c for c, k in codes.items() if k == kind]
        rules = [r["label"] for r in name_rules() if r["kind"] == kind]
        extra = (f"; codes {', '.join(own)}" if own else "") + (f"; names {' '.join(rules)}" if rules else "")
        console.print(f"[bold]{kind}[/]  {escape(t['name_zh'])} / {escape(t['name_en'])}"
                      f"{'' if t.get('medical_point') else ' (not a medical point)'}\n"
                      f"  aliases: {escape(', '.join(t.get('aliases', [])))}{escape(extra)}", soft_wrap=True)


def _init(directory: Path) -> int:
    from .io import write_atomic
    from .scenario import TEMPLATE

    target = directory / "scenario.toml"
    if target.exists():
        raise InputError(f"{target} already exists; choose another folder or remove it")
    with write_atomic(target) as fh:
        fh.write(TEMPLATE)
    console.print(f"wrote {target}: edit the paths and columns, then run  geoaccess run {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
