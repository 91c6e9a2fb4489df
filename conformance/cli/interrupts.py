"""Ctrl-C and SIGTERM during ``embedspec report``: a first signal asks every run to
stop (the runs stop their children, and the report is written from what finished); a
second one skips the grace period the children get to exit."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

from embedspec.conformance.report.runs import Cancel

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_cancel(cancel: Cancel) -> Iterator[list[int]]:
    """While inside, SIGINT and SIGTERM set ``cancel`` instead of stopping this process;
    yields the list of the signals received, in order. The handlers only set events,
    so the thread they interrupt carries on; the previous handlers come back after."""
    received: list[int] = []

    def handle(signum: int, frame: object) -> None:
        del frame
        received.append(signum)
        (cancel.urgent if cancel.requested.is_set() else cancel.requested).set()

    previous = {s: signal.signal(s, handle) for s in SIGNALS}
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
