"""Link targets of the report's sections, shared by the Markdown and the page: lower
case letters, digits, ``_`` and ``-``, one per (kind, backend, row)."""

from __future__ import annotations

import re


def anchor(*parts: str) -> str:
    """A link target made of ``parts``: lower case letters, digits, ``_`` and ``-``."""
    return re.sub(r"[^a-z0-9_]+", "-", "-".join(parts).lower()).strip("-")


def failure_anchor(backend: str, row: tuple[str, str]) -> str:
    return anchor("fail", backend, *row)


def expected_anchor(backend: str, row: tuple[str, str]) -> str:
    return anchor("xfail", backend, *row)


def stopped_anchor(backend: str) -> str:
    return anchor("stopped", backend)


def skips_anchor(backend: str, row: tuple[str, str]) -> str:
    return anchor("skip", backend, *row)


def cell_anchor(backend: str, row: tuple[str, str]) -> str:
    return anchor("cell", backend, *row)
