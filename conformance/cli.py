"""The ``embedspec`` command: list backends, check one, report on all.

``embedspec list``
    a table of the registered backends: name, available, reason, version, families.
``embedspec check --backend SPEC``
    runs the conformance suite on one backend (``pytest --pyargs
    embedspec.conformance`` in this process). Exit status: 0 when every result was
    expected, pytest's non-zero status otherwise (1: unexpected failures or expected
    failures that passed), 2 when the backend cannot be loaded.
``embedspec report``
    runs the suite on every available backend, each in its own process with a time
    limit, and writes ``report.html``, ``report.md`` and ``report.json`` (default
    folder ``reports/``), appending the run to the folder's ``history.jsonl``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from embedspec.backends.registry import BackendEntry, BackendLoadError, discover, load_backend
from embedspec.conformance.report import (
    BackendRun,
    build_report,
    record_history,
    render_html,
    render_markdown,
    run_backend,
    write_json,
)
from embedspec.conformance.report.model import Report
from embedspec.conformance.report.provenance import project_commit
from embedspec.conformance.session.profiles import DEFAULT_PROFILE, PROFILES
from embedspec.conformance.session.results import machine, tolerance_policy, versions
from tabulate import tabulate

#: Backends every report compares against when they are available.
COMPARISON_BACKENDS = ("reference", "torch_nn")
PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_REPORT_DIR = "reports"
DEFAULT_REPORT_TIMEOUT_S = 1800.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    return int(args.command(args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="embedspec",
        description="Check embedding-layer backends against the embedspec reference.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="list the registered backends and whether they run here")
    p.set_defaults(command=cmd_list)

    p = sub.add_parser("check", help="run the conformance suite on one backend")
    p.add_argument("--backend", required=True, metavar="SPEC",
                   help="a registered backend name, or 'package.module:attr'")
    _run_options(p)
    p.add_argument("--accept", action="store_true",
                   help="rewrite the expectations file from this run's failures")
    p.add_argument("--expectations", metavar="PATH",
                   help="the expectations file (default: the backend's own)")
    p.add_argument("--results", metavar="PATH", help="write per-test results as JSON")
    p.add_argument("--external", metavar="HOST:PORT[:NPROCS]",
                   help="multi-process backends: drive workers launched by torchrun "
                        "(see docs/distributed.md) instead of local worker pools")
    p.add_argument("-k", dest="keyword", metavar="EXPR",
                   help="only run tests matching EXPR (pytest -k)")
    p.add_argument("-x", "--exitfirst", action="store_true", help="stop at the first failure")
    p.add_argument("-q", "--quiet", action="store_true", help="less output")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per test")
    p.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS",
                   help="further pytest arguments, after '--'")
    p.set_defaults(command=cmd_check)

    p = sub.add_parser("report", help="run every available backend and write the "
                                      "compatibility report")
    _run_options(p)
    p.add_argument("--backends", metavar="A,B",
                   help="only these backends (the reference and torch_nn columns are always "
                        "included when available)")
    p.add_argument("--timeout", type=float, default=DEFAULT_REPORT_TIMEOUT_S, metavar="S",
                   help=f"seconds each backend may run (default: {DEFAULT_REPORT_TIMEOUT_S:g})")
    p.add_argument("--out", default=DEFAULT_REPORT_DIR, metavar="DIR",
                   help=f"output folder (default: {DEFAULT_REPORT_DIR}/)")
    p.add_argument("--bench", action="store_true",
                   help="add a performance section: each backend's quick bench set")
    p.set_defaults(command=cmd_report)

    p = sub.add_parser("bench", help="time a backend against the baselines and judge its "
                                     "performance gates")
    _bench_arguments(p)
    p.set_defaults(command=cmd_bench)
    return parser


def _run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default=DEFAULT_PROFILE, choices=list(PROFILES),
                   help=f"how hard to search (default: {DEFAULT_PROFILE})")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="device to build layers on (default: cpu)")
    p.add_argument("--seed", type=int, default=0, help="hypothesis and torch seed (default: 0)")


# -- list -------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    del args
    rows = [[e.name, "yes" if e.available else "no", e.reason, *_describe(e)]
            for e in discover()]
    print(tabulate(rows, headers=["backend", "available", "reason", "version", "families",
                                  "spec"], tablefmt="simple"))
    return 0


def _describe(entry: BackendEntry) -> tuple[str, str, str]:
    """(version, families, spec) of an entry; a backend that fails to say is shown as '?'."""
    if entry.backend is None:
        return "", "", entry.spec
    try:
        version = str(entry.backend.version)
    except Exception as exc:
        version = f"? ({type(exc).__name__})"
    try:
        families = ", ".join(entry.backend.capabilities().families())
    except Exception as exc:
        families = f"? (capabilities() raised {type(exc).__name__}: {exc})"
    return version, families, entry.spec


# -- check ------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    try:
        load_backend(args.backend)
    except BackendLoadError as exc:
        print(f"embedspec: cannot use backend {args.backend!r}: {exc}", file=sys.stderr)
        return 2
    import pytest

    return int(pytest.main(pytest_arguments(args)))


def pytest_arguments(args: argparse.Namespace) -> list[str]:
    """The pytest command line of ``embedspec check``: the installed conformance package,
    isolated from any pytest configuration of the current folder."""
    argv = [
        "-p", "embedspec.conformance.plugin", "-p", "no:cacheprovider",
        "-c", os.devnull, "--rootdir", str(PACKAGE_DIR),
        # the backend was loaded before pytest started, possibly importing hypothesis
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
        "--pyargs", "embedspec.conformance",
        "--embedspec-backend", args.backend, "--embedspec-profile", args.profile,
        "--embedspec-device", args.device, "--embedspec-seed", str(args.seed),
    ]
    if args.results:
        argv += ["--embedspec-results", str(Path(args.results).resolve())]
    if args.expectations:
        argv += ["--embedspec-expectations", str(Path(args.expectations).resolve())]
    if args.accept:
        argv.append("--embedspec-accept")
    if args.external:
        argv += ["--embedspec-external", args.external]
    if args.keyword:
        argv += ["-k", args.keyword]
    if args.exitfirst:
        argv.append("-x")
    if args.quiet:
        argv.append("-q")
    if args.verbose:
        argv.append("-v")
    return argv + list(args.pytest_args)


# -- bench ------------------------------------------------------------------------------


def _bench_arguments(p: argparse.ArgumentParser) -> None:
    from embedspec.conformance.bench.command import add_arguments

    add_arguments(p)


def cmd_bench(args: argparse.Namespace) -> int:
    from embedspec.conformance.bench.command import main as bench_main

    return bench_main(args)


# -- report -----------------------------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> int:
    entries = discover()
    selected, not_run = select_backends(entries, args.backends)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = ", ".join(e.name for e in selected) or "none"
    print(f"embedspec report: {len(selected)} backends ({names}), profile {args.profile}, "
          f"device {args.device}, seed {args.seed}, {args.timeout:g} s each", flush=True)
    for name, reason in not_run:
        print(f"  not run: {name}: {reason}", flush=True)
    runs = []
    for i, entry in enumerate(selected, 1):
        tag = f"[{i}/{len(selected)}] {entry.name}"
        print(f"{tag}: started", flush=True)
        run = run_backend(entry.name, profile=args.profile, device=args.device, seed=args.seed,
                          timeout_s=args.timeout, results=out / "results" / f"{entry.name}.json",
                          out=sys.stdout, version=_describe(entry)[0])
        print(f"{tag}: {_summary(run)}", flush=True)
        runs.append(run)
    report = build_report(
        runs, profile=args.profile, seed=args.seed, device=args.device, versions=versions(),
        machine=machine(args.device), tolerance=tolerance_policy(),
        generated=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        not_run=not_run, divergences=documented_divergences(selected),
        git_commit=project_commit(),
    )
    if args.bench:
        from embedspec.conformance.bench.report_section import bench_backends
        from embedspec.conformance.report.performance_data import load_bench_results

        folders, report.bench_not_run = bench_backends(
            [e.name for e in selected], device=args.device, out=out, timeout_s=args.timeout)
        report.bench = load_bench_results(folders)
    write_report(report, out)
    print(f"embedspec report: wrote {out / 'report.html'}, {out / 'report.md'} and "
          f"{out / 'report.json'}")
    return 0 if runs else 1


def write_report(report: Report, out: Path) -> None:
    """Record the run in ``out/history.jsonl`` (what changed since the previous entry),
    then write the page, the Markdown and the JSON."""
    record_history(report, out)
    (out / "report.html").write_text(render_html(report), encoding="utf-8")
    (out / "report.md").write_text(render_markdown(report), encoding="utf-8")
    write_json(report, out / "report.json")


def documented_divergences(entries: Sequence[BackendEntry]) -> dict[str, tuple]:
    """The departures from the spec each backend documents
    (:meth:`~embedspec.backends.contract.Backend.divergences`), for those that publish
    any; a backend whose declaration fails publishes none (its run shows why)."""
    found = {}
    for entry in entries:
        try:
            published = tuple(entry.backend.divergences()) if entry.backend else ()
        except Exception:
            published = ()
        if published:
            found[entry.name] = published
    return found


def select_backends(entries: list[BackendEntry], requested: str | None
                    ) -> tuple[list[BackendEntry], list[tuple[str, str]]]:
    """The entries to run, comparison backends first, and (name, reason) of those not run:
    unavailable ones, and requested names that are not registered."""
    by_name = {e.name: e for e in entries}
    if requested:
        wanted = [n.strip() for n in requested.split(",") if n.strip()]
        wanted = [n for n in COMPARISON_BACKENDS if n not in wanted] + wanted
    else:
        wanted = list(by_name)
    ordered = [n for n in COMPARISON_BACKENDS if n in wanted] + \
              [n for n in wanted if n not in COMPARISON_BACKENDS]
    selected, not_run = [], []
    for name in ordered:
        entry = by_name.get(name)
        if entry is None:
            if requested and name not in COMPARISON_BACKENDS:
                not_run.append((name, "no backend of that name is registered"))
        elif entry.available:
            selected.append(entry)
        else:
            not_run.append((name, entry.reason))
    return selected, not_run


def _summary(run: BackendRun) -> str:
    if run.results is None:
        counts = ""
    else:
        c = run.results.counts()
        counts = ": " + ", ".join(f"{n} {outcome}" for outcome, n in c.items() if n)
        if run.results.pending:
            counts += f", {len(run.results.pending)} not run"
    status = "finished" if run.status == "ok" else f"{run.status.upper()} ({run.message})"
    return f"{status} in {run.duration_s:.1f} s{counts}"


if __name__ == "__main__":
    sys.exit(main())
