"""``embedspec bench``: carried out by :mod:`embedspec.conformance.bench.command`."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from embedspec.conformance.bench.command import main

    return main(args)
