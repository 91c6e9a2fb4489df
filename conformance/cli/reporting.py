"""``embedspec report``: the checks made before anything runs, then the run.

In order, each failing with one line: the options (``-k``, ``--device``), the output
folder (it must be or become a writable folder), its lock (one run per folder,
:class:`~.outputs.FolderLock`: exit 75 when another run holds it) and the backends
(:mod:`.selection`: exit 2 for one that cannot run). The options and the folder are
checked before the suite's modules (and torch) are imported, so those mistakes are
told at once. The run itself: :mod:`.report_run`.
"""

from __future__ import annotations

import argparse

from embedspec.conformance.cli.outputs import FolderLock, prepare_folder
from embedspec.conformance.cli.validation import require_device, require_keyword


def run(args: argparse.Namespace) -> int:
    require_keyword(args.keyword)
    out = prepare_folder(args.out, "--out")
    require_device(args.device)
    with FolderLock(out):
        from embedspec.backends.registry import discover
        from embedspec.conformance.cli.report_run import report
        from embedspec.conformance.cli.selection import parse_backends, select_backends

        selection = select_backends(discover(), parse_backends(args.backends),
                                    comparisons=not args.no_comparisons,
                                    include=parse_backends(args.include))
        return report(args, out, selection)
