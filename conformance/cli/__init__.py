"""The ``embedspec`` command: list backends, check one, report on all, bench one.

``embedspec list``
    the registered backends: name, available (or why not), version, families,
    description and spec (:mod:`.listing`).
``embedspec check --backend SPEC``
    runs the conformance suite on one backend in this process (:mod:`.checking`).
``embedspec report``
    runs the suite on every available backend, each in its own process with a time
    limit, several at once where the cores allow, and writes ``report.html``,
    ``report.md`` and ``report.json`` (default folder ``reports/``), appending the run to
    the folder's ``history.jsonl`` (:mod:`.reporting`).
``embedspec bench --backend SPEC``
    times a backend against the baselines (:mod:`embedspec.conformance.bench.command`).

Every command exits with the statuses of :mod:`.exits`. Problems found before
anything runs (bad options, unusable output paths, unknown backends) print one line,
``embedspec <command>: <problem>``, never a traceback. This module imports nothing
heavy, so ``embedspec --help`` answers at once; each command imports what it needs.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from embedspec.conformance.cli.exits import CommandError, interrupted

#: command -> the module of this package whose ``run(args)`` carries it out.
COMMANDS = {"list": "listing", "check": "checking", "report": "reporting", "bench": "benching"}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    from embedspec.conformance.cli.parser import build_parser

    args = build_parser().parse_args(argv)
    module = importlib.import_module(f"{__name__}.{COMMANDS[args.command]}")
    try:
        return int(module.run(args))
    except CommandError as exc:
        print(f"embedspec {args.command}: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print(f"embedspec {args.command}: interrupted", file=sys.stderr)
        return interrupted()


def __getattr__(name: str) -> object:
    """``write_report`` on first use, without importing the report at start-up."""
    if name == "write_report":
        from embedspec.conformance.cli.report_run import write_report

        return write_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
