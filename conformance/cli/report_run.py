"""Running the backends of ``embedspec report`` and writing the report (the checks
before anything runs are in :mod:`.reporting`).

Each backend runs in its own process
(:func:`~embedspec.conformance.report.runs.run_backend`), several at once where the
cores allow (:mod:`.schedule`), its output going to ``DIR/logs/<backend>.log`` while
the report prints progress lines with the time left. The reference column runs on
``--reference-profile`` (default quick: it checks the spec against itself).

Ctrl-C or SIGTERM stops every run (:mod:`.interrupts`); the report of what finished
is still written, the stopped backends marked "interrupted", those never started
listed as not run, and the run is not appended to the history. The files are written
atomically. Exit status: :mod:`.exits`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from embedspec.conformance.cli import exits
from embedspec.conformance.cli.estimate import recorded_durations
from embedspec.conformance.cli.interrupts import signals_cancel
from embedspec.conformance.cli.listing import describe_entry
from embedspec.conformance.cli.outputs import write_atomically
from embedspec.conformance.cli.progress import ProgressPrinter
from embedspec.conformance.cli.schedule import Job, Started, run_jobs
from embedspec.conformance.cli.selection import Selected, Selection
from embedspec.conformance.report.model import BackendRun, Report
from embedspec.conformance.report.runs import Cancel, run_backend
from embedspec.conformance.session.results import UNEXPECTED_OUTCOMES, partial_progress

#: pytest's exit statuses a completed backend run may end with: passed, failed, none
#: of its tests selected by ``-k``.
FINE_PYTEST_STATUSES = (0, 1, 5)
NO_TESTS = 5
NEVER_STARTED = "the report was interrupted before this backend started"


def report(args: argparse.Namespace, out: Path, selection: Selection) -> int:
    """Run the selected backends and write the report into ``out`` (checked, locked)."""
    from embedspec.conformance.report.history import HISTORY_FILE

    capacity = args.jobs or available_cores()
    recorded = recorded_durations(out / HISTORY_FILE, device=args.device)
    jobs = [make_job(s, i, profile_for(s.name, args), capacity, recorded)
            for i, s in enumerate(selection.selected)]
    _print_plan(args, jobs, selection, capacity)
    cancel = Cancel()
    with signals_cancel(cancel) as received:
        finished, never = _run_backends(args, out, jobs, selection, capacity, cancel, received)
        runs = [finished[s.name] for s in selection.selected if s.name in finished]
        built = _build(args, runs, selection, [(j.name, NEVER_STARTED) for j in never])
    if args.bench and not cancel.requested.is_set() and not _bench(built, selection, args,
                                                                   out):
        cancel.requested.set()
        received.append(signal.SIGINT)
    with signals_cancel(cancel) as late:  # a signal now waits until the files are whole
        write_report(built, out, append_history=not cancel.requested.is_set())
    names = ", ".join(str(out / f) for f in ("report.html", "report.md", "report.json"))
    stopped = [r.name for r in runs if r.status == "interrupted"] + [j.name for j in never]
    print(f"embedspec report: wrote {names}"
          + (f" (interrupted: {', '.join(stopped)} did not finish)" if stopped else ""),
          flush=True)
    if cancel.requested.is_set():
        return exits.interrupted([*received, *late][0])
    return report_status(runs, args.keyword)


def _run_backends(args: argparse.Namespace, out: Path, jobs: list[Job], selection: Selection,
                  capacity: int, cancel: Cancel, received: list[int]
                  ) -> tuple[dict[str, BackendRun], list[Job]]:
    """Run every job, printing progress; see :func:`~.schedule.run_jobs`."""
    for folder in ("results", "logs"):
        (out / folder).mkdir(exist_ok=True)
    env = child_environment(capacity)
    versions = {s.name: _version(s) for s in selection.selected}

    def launch(job: Job) -> BackendRun:
        with log_path(out, job).open("w", encoding="utf-8") as log:
            return run_backend(job.name, spec=job.spec, profile=job.profile, device=args.device,
                               seed=args.seed, timeout_s=args.timeout,
                               results=results_path(out, job), out=log,
                               version=versions[job.name], keyword=args.keyword, env=env,
                               cancel=cancel)

    def stopping(running: list[Started]) -> None:
        names = ", ".join(s.job.name for s in running) or "nothing"
        printer.line(f"embedspec report: interrupted by {_signal_name(received[0])}; stopping "
                     f"{names} and writing the report of what finished")

    printer = ProgressPrinter(len(jobs), capacity, sys.stdout,
                              lambda job: partial_progress(results_path(out, job)),
                              lambda job: log_path(out, job))
    return run_jobs(jobs, capacity=capacity, launch=launch, cancel=cancel,
                    on_start=printer.start, on_finish=printer.finish, on_tick=printer.tick,
                    tick_every_s=args.progress_every, on_cancel=stopping)


def report_status(runs: Sequence[BackendRun], keyword: str | None) -> int:
    """FAILED when a run failed, crashed or timed out (or nothing ran), USAGE when
    ``-k`` selected no test of any backend, else OK."""
    if not runs:
        return exits.FAILED
    if any(run_failed(r) for r in runs):
        return exits.FAILED
    if keyword and all(r.results is not None and r.results.exit_status == NO_TESTS
                       for r in runs):
        print(f"embedspec report: -k {keyword!r} selects no test of any backend",
              file=sys.stderr)
        return exits.USAGE
    return exits.OK


def run_failed(run: BackendRun) -> bool:
    """Whether a backend's run counts against the report: it did not complete, a test
    failed unexpectedly, or its check ended with an unexpected pytest status."""
    if run.status != "ok" or run.results is None:
        return True
    results = run.results
    return (any(results.counts()[o] for o in UNEXPECTED_OUTCOMES)
            or results.exit_status not in (*FINE_PYTEST_STATUSES, None))


def profile_for(name: str, args: argparse.Namespace) -> str:
    return args.reference_profile if name == "reference" else args.profile


def make_job(selected: Selected, index: int, profile: str, capacity: int,
             recorded: dict[tuple[str, str], float]) -> Job:
    """The job of one backend: a multi-process backend takes a core per rank of its
    profile's largest world, up to ``capacity``."""
    from embedspec.conformance.session.profiles import get_profile

    chosen = get_profile(profile)
    slots = 1
    if selected.backend is not None and selected.backend.multi_process:
        slots = max(1, min(capacity, max(w.nprocs for w in chosen.worlds)))
    return Job(selected.name, selected.spec, profile, slots,
               recorded.get((selected.name, profile)), index, chosen.max_examples)


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def child_environment(capacity: int) -> dict[str, str]:
    """Variables for each backend's run: with several runs at once, one intra-op
    thread per core share, so they do not oversubscribe the cores (unless
    OMP_NUM_THREADS is set already)."""
    if capacity <= 1 or "OMP_NUM_THREADS" in os.environ:
        return {}
    return {"OMP_NUM_THREADS": str(max(1, available_cores() // capacity))}


def results_path(out: Path, job: Job) -> Path:
    return out / "results" / f"{file_stem(job.name)}.json"


def log_path(out: Path, job: Job) -> Path:
    return out / "logs" / f"{file_stem(job.name)}.log"


def file_stem(name: str) -> str:
    """A backend name as a file name (characters other than letters, digits, '.', '_'
    and '-' become '_')."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"


def write_report(report: Report, out: Path, *, append_history: bool = True) -> None:
    """Record the run in ``out/history.jsonl`` (what changed since the previous entry;
    the entry is appended unless ``append_history`` is False), then write the page, the
    Markdown and the JSON, each atomically."""
    from embedspec.conformance.report import (
        record_history,
        render_html,
        render_markdown,
        report_to_json,
    )

    record_history(report, out, append=append_history)
    write_atomically(out / "report.html", render_html(report))
    write_atomically(out / "report.md", render_markdown(report))
    write_atomically(out / "report.json", json.dumps(report_to_json(report), indent=1) + "\n")


def documented_divergences(selected: Sequence[Selected]) -> dict[str, tuple]:
    """The departures from the spec each backend documents
    (:meth:`~embedspec.backends.contract.Backend.divergences`), for those that publish
    any; a backend whose declaration fails publishes none (its run shows why)."""
    found = {}
    for s in selected:
        try:
            published = tuple(s.backend.divergences()) if s.backend else ()
        except Exception:
            published = ()
        if published:
            found[s.name] = published
    return found


def _build(args: argparse.Namespace, runs: list[BackendRun], selection: Selection,
           never: list[tuple[str, str]]) -> Report:
    from embedspec.conformance.report import build_report
    from embedspec.conformance.report.provenance import project_commit
    from embedspec.conformance.session.results import machine, tolerance_policy, versions

    return build_report(
        runs, profile=args.profile, seed=args.seed, device=args.device, versions=versions(),
        machine=machine(args.device), tolerance=tolerance_policy(),
        generated=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        not_run=[*selection.not_run, *never],
        divergences=documented_divergences(selection.selected), git_commit=project_commit())


def _bench(report: Report, selection: Selection, args: argparse.Namespace, out: Path) -> bool:
    """``--bench``: each backend's quick set; False when interrupted (no section)."""
    from embedspec.conformance.bench.report_section import bench_backends
    from embedspec.conformance.report.performance_data import load_bench_results

    try:
        folders, report.bench_not_run = bench_backends(
            [s.spec for s in selection.selected], device=args.device, out=out,
            timeout_s=args.timeout)
    except KeyboardInterrupt:
        return False
    report.bench = load_bench_results(folders)
    return True


def _print_plan(args: argparse.Namespace, jobs: list[Job], selection: Selection,
                capacity: int) -> None:
    names = ", ".join(j.name for j in jobs) or "none"
    lighter = [f"{j.name} on {j.profile}" for j in jobs if j.profile != args.profile]
    print(f"embedspec report: {len(jobs)} backends ({names}), profile {args.profile}"
          + (f" ({', '.join(lighter)})" if lighter else "")
          + f", device {args.device}, seed {args.seed}"
          + (f", -k {args.keyword!r}" if args.keyword else "")
          + f", up to {capacity} cores at once, {args.timeout:g} s each; output of each "
            f"run in {Path(args.out) / 'logs'}", flush=True)
    for name, reason in selection.not_run:
        print(f"  not run: {name}: {reason}", flush=True)


def _version(selected: Selected) -> str:
    from embedspec.backends.registry import BackendEntry

    entry = BackendEntry(selected.name, selected.spec, selected.backend, True, "")
    return describe_entry(entry)[0]


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
