"""``embedspec bench``: time a backend against the baselines and judge its gates.

Exit status (:mod:`embedspec.conformance.cli.exits`, as for ``check`` and ``report``):
0 when every gate holds (and no scenario was rejected or failed), 1 when a gate fails
or the backend's output was wrong, 2 when the backend cannot be loaded or is
multi-process, 64 when the command line, the gate file or the output folder is
unusable (checked before anything is timed). Writes ``DIR/bench.json`` and
``DIR/bench.md`` (default ``DIR``: ``reports/bench/<backend>``), each atomically, and
prints the table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import BASELINES

DEFAULT_OUT = Path("reports") / "bench"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", metavar="SPEC",
                   help="a registered backend name, or 'package.module:attr'")
    p.add_argument("--scenarios", default="quick", metavar="quick|full|NAME,...",
                   help="a set, or scenario names and globs (default: quick)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="device to build layers on (default: cpu)")
    p.add_argument("--cpu-time", action="store_true",
                   help="CPU time of this process on one thread instead of wall time "
                        "(steadier on a shared machine)")
    p.add_argument("--cold", action="store_true",
                   help="CUDA: flush the L2 cache before each timed call")
    p.add_argument("--out", metavar="DIR",
                   help=f"output folder (default: {DEFAULT_OUT}/<backend>)")
    p.add_argument("--gates", metavar="PATH", help="the gate file (default: the backend's)")
    p.add_argument("--baselines", metavar="A,B", default=",".join(BASELINES),
                   help=f"the baselines to time (default: {','.join(BASELINES)})")
    p.add_argument("--rounds", type=int, default=9, help="interleaved rounds (default: 9)")
    p.add_argument("--min-block", type=float, default=0.02, metavar="S",
                   help="seconds each timed block lasts at least (default: 0.02)")
    p.add_argument("--seed", type=int, default=0, help="weights and ids seed (default: 0)")
    p.add_argument("--no-growth", action="store_true", help="leave the growth tables out")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")


def main(args: argparse.Namespace) -> int:
    from embedspec.conformance.cli.exits import BACKEND_UNUSABLE, USAGE, CommandError
    from embedspec.conformance.cli.outputs import prepare_folder, write_atomically

    try:  # a folder named on the command line is checked before anything is imported
        if args.out and not args.list:
            prepare_folder(args.out, "--out")
    except CommandError as error:
        return _refuse(str(error), error.status)
    import torch
    from embedspec.backends.registry import BackendLoadError, load_backend

    from .gates import GateFileError, default_gates_path, load_gates
    from .render import render_markdown
    from .runner import Settings
    from .scenarios import FULL, select
    from .session import run_bench
    from .timing import make_clock

    if args.list:
        for s in FULL:
            print(f"{s.name:40} {'quick' if 'quick' in s.sets else 'full ':5}  {s.describe()}")
        return 0
    if not args.backend:
        return _refuse("--backend SPEC is required", USAGE)
    if args.device == "cuda" and not torch.cuda.is_available():
        return _refuse("--device cuda: no CUDA device is visible here", USAGE)
    try:
        backend = load_backend(args.backend)
    except BackendLoadError as error:
        return _refuse(f"cannot use backend {args.backend!r}: {error}", BACKEND_UNUSABLE)
    if backend.multi_process:
        return _refuse(f"backend {backend.name!r} is multi-process; bench builds single-process "
                       "layers (benchmark its compute backend's kernels instead)",
                       BACKEND_UNUSABLE)
    baselines = tuple(b.strip() for b in args.baselines.split(",") if b.strip())
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown or not args.rounds > 0 or not args.min_block > 0:
        return _refuse(f"unknown baselines {unknown}; known: {', '.join(BASELINES)}" if unknown
                       else "--rounds and --min-block must be positive", USAGE)
    out = Path(args.out) if args.out else DEFAULT_OUT / backend.name
    try:
        prepare_folder(out, "--out")
    except CommandError as error:
        return _refuse(str(error), error.status)
    try:
        scenarios = select(args.scenarios)
        if args.cpu_time:
            torch.set_num_threads(1)
        device = torch.device(args.device)
        clock = make_clock(device, cpu_time=args.cpu_time, cold=args.cold)
        path = Path(args.gates) if args.gates else default_gates_path(backend)
        gate_file = load_gates(path) if path is not None else None
    except (ValueError, GateFileError) as error:
        return _refuse(str(error), USAGE)
    settings = Settings(rounds=args.rounds, min_block_s=args.min_block, seed=args.seed,
                        baselines=baselines)
    print(f"embedspec bench: {backend.name}, {len(scenarios)} scenarios, device {device}, "
          f"{clock.name} clock, {torch.get_num_threads()} threads", flush=True)
    run = run_bench(backend, scenarios, device=device, clock=clock, settings=settings,
                    gate_file=gate_file, growth=not args.no_growth,
                    progress=lambda line: print(f"  {line}", flush=True))
    text = render_markdown(run)
    write_atomically(out / "bench.md", text)
    write_atomically(out / "bench.json", json.dumps(run.to_json(), indent=1) + "\n")
    print()
    print(text)
    failed = [g for g in run.gates if g.failed]
    status = run.exit_status
    print(f"embedspec bench: {len(failed)} gates failed, "
          f"{sum(s.status == 'rejected' for s in run.scenarios)} scenarios rejected; "
          f"wrote {out / 'bench.md'} and {out / 'bench.json'}; exit {status}")
    return status


def _refuse(message: str, status: int) -> int:
    print(f"embedspec bench: {message}", file=sys.stderr)
    return status
