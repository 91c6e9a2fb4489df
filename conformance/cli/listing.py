"""``embedspec list``: the registered backends as a table.

One row per registered backend: its name, whether it runs here and, when not, why
(wrapped to :data:`REASON_WIDTH` columns), its version, families and description (the
contract's ``Backend.description``), and the spec it is loaded from.
"""

from __future__ import annotations

import argparse
import textwrap

from embedspec.backends.registry import BackendEntry

#: Columns the reason a backend is unavailable is wrapped to.
REASON_WIDTH = 60
#: Columns the description and the families are wrapped to.
TEXT_WIDTH = 40
HEADERS = ("backend", "available", "reason", "version", "families", "description", "spec")


def run(args: argparse.Namespace) -> int:
    del args
    from embedspec.backends.registry import discover
    from tabulate import tabulate

    print(tabulate(list_rows(discover()), headers=HEADERS, tablefmt="simple"))
    return 0


def list_rows(entries: list[BackendEntry]) -> list[list[str]]:
    """The table's rows: long texts wrapped, so every cell fits a terminal."""
    rows = []
    for entry in entries:
        version, families, description = describe_entry(entry)
        rows.append([entry.name, "yes" if entry.available else "no",
                     wrap(entry.reason, REASON_WIDTH), version, wrap(families, TEXT_WIDTH),
                     wrap(description, TEXT_WIDTH), entry.spec])
    return rows


def describe_entry(entry: BackendEntry) -> tuple[str, str, str]:
    """(version, families, description) of an entry; what a backend fails to say is
    shown as '?' with the error."""
    backend = entry.backend
    if backend is None:
        return "", "", ""
    try:
        version = str(backend.version)
    except Exception as exc:
        version = f"? ({type(exc).__name__})"
    try:
        families = ", ".join(backend.capabilities().families())
    except Exception as exc:
        families = f"? (capabilities() raised {type(exc).__name__}: {exc})"
    return version, families, str(getattr(backend, "description", "") or "")


def wrap(text: str, width: int) -> str:
    """``text`` in lines of at most ``width`` columns (words longer than that are cut)."""
    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False)) if text else ""
