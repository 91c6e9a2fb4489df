"""The command line of ``embedspec``: its commands, options and help.

Building the parser imports nothing heavy (no torch, hypothesis, pytest or tabulate),
so ``embedspec --help`` answers at once; each command imports what it needs when it
runs. A usage error (an unknown option, a bad value) exits with
:data:`~embedspec.conformance.cli.exits.USAGE`, not argparse's 2, which means "a backend
cannot be loaded" here.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from embedspec.conformance.cli.exits import EPILOG, USAGE

#: The run profiles, in order (``embedspec.conformance.session.profiles.PROFILES``, named
#: here so the parser need not import the suite; a test checks they agree).
PROFILE_NAMES = ("quick", "default", "thorough")
DEFAULT_PROFILE = "default"
#: The profile of the reference column unless ``--reference-profile`` says otherwise.
DEFAULT_REFERENCE_PROFILE = "quick"
DEVICES = ("cpu", "cuda")
DEFAULT_REPORT_DIR = "reports"
DEFAULT_REPORT_TIMEOUT_S = 1800.0


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors exit with USAGE; its subcommand parsers too."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> Parser:
    parser = Parser(prog="embedspec", epilog=EPILOG,
                    formatter_class=argparse.RawDescriptionHelpFormatter,
                    description="Check embedding-layer backends against the embedspec "
                                "reference.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> Parser:
        return sub.add_parser(name, help=help_text, description=help_text[0].upper()
                              + help_text[1:] + ".", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    p = command("list", "list the registered backends and whether they run here")
    p.set_defaults(command="list")

    p = command("check", "run the conformance suite on one backend")
    p.add_argument("--backend", required=True, metavar="SPEC",
                   help="a registered backend name, or 'package.module:attr' (importable: "
                        "installed, or on PYTHONPATH)")
    _run_options(p)
    p.add_argument("--accept", action="store_true",
                   help="rewrite the expectations file from this run's failures")
    p.add_argument("--expectations", metavar="PATH",
                   help="the expectations file (default: the backend's own)")
    p.add_argument("--results", metavar="PATH", help="write per-test results as JSON")
    p.add_argument("--external", metavar="HOST:PORT[:NPROCS]",
                   help="multi-process backends: drive workers launched by torchrun "
                        "(see docs/distributed.md) instead of local worker pools")
    _keyword_option(p)
    p.add_argument("-x", "--exitfirst", action="store_true", help="stop at the first failure")
    p.add_argument("-q", "--quiet", action="store_true", help="less output")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per test")
    p.add_argument("pytest_args", nargs="*", metavar="-- PYTEST_ARGS",
                   help="further pytest arguments, after '--'")
    p.set_defaults(command="check")

    p = command("report", "run every available backend and write the compatibility report")
    _run_options(p)
    p.add_argument("--backends", metavar="A,B",
                   help="only these backends: registered names or 'package.module:attr' "
                        "specs (the reference and torch_nn columns are included when "
                        "available, unless --no-comparisons)")
    p.add_argument("--include", metavar="A,B",
                   help="add these opt-in backends (e.g. torch_compile, whose column takes "
                        "far longer) to the default set")
    p.add_argument("--no-comparisons", action="store_true",
                   help="leave out the reference and torch_nn columns unless --backends "
                        "names them")
    p.add_argument("--reference-profile", choices=PROFILE_NAMES,
                   default=DEFAULT_REFERENCE_PROFILE,
                   help="profile of the reference column, which checks the spec against "
                        f"itself (default: {DEFAULT_REFERENCE_PROFILE})")
    p.add_argument("-j", "--jobs", type=_positive_int, default=None, metavar="N",
                   help="cores the backends' runs may use at once; a multi-process backend "
                        "takes one per rank, up to N (default: the cores of this machine)")
    p.add_argument("--timeout", type=_positive_float, default=DEFAULT_REPORT_TIMEOUT_S,
                   metavar="S",
                   help=f"seconds each backend may run (default: {DEFAULT_REPORT_TIMEOUT_S:g})")
    p.add_argument("--out", default=DEFAULT_REPORT_DIR, metavar="DIR",
                   help=f"output folder, one run at a time (default: {DEFAULT_REPORT_DIR}/)")
    _keyword_option(p)
    p.add_argument("--bench", action="store_true",
                   help="add a performance section: each backend's quick bench set")
    p.add_argument("--progress-every", type=_positive_float, default=30.0, metavar="S",
                   help=argparse.SUPPRESS)
    p.set_defaults(command="report")

    p = command("bench", "time a backend against the baselines and judge its performance "
                         "gates")
    from embedspec.conformance.bench.command import add_arguments

    add_arguments(p)
    p.set_defaults(command="bench")
    return parser


def _run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default=DEFAULT_PROFILE, choices=PROFILE_NAMES,
                   help=f"how hard to search (default: {DEFAULT_PROFILE})")
    p.add_argument("--device", default="cpu", choices=DEVICES,
                   help="device to build layers on (default: cpu)")
    p.add_argument("--seed", type=int, default=0, help="hypothesis and torch seed (default: 0)")


def _keyword_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("-k", dest="keyword", metavar="EXPR",
                   help="only run tests matching EXPR (pytest -k)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value
