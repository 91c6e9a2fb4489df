"""The notes a failing test's result carries (``TestResult.notes``), and how to tell
them apart (:func:`failure_parts`):

* the repro snippet the checks attach (:data:`REPRO_HEADER`, then Python source that
  runs as is); for a backend named ``package.module:attr`` its first line is a comment
  naming the folder that must be on ``PYTHONPATH`` (:func:`pythonpath_comment`);
* hypothesis's failing example: the test's arguments and what it drew
  (:data:`EXAMPLE_HEADERS`), text rather than code;
* the other notes: the rules of the spec the outcome breaks, the process it happened
  on, the backend's own traceback.

The report renders each part in its place (only the snippet in a code block); this
module imports neither torch nor the checks, so the report does not either.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

#: The first line of the note holding a repro snippet.
REPRO_HEADER = "Reproduce with:"
#: How hypothesis's notes of the failing example begin (the test's arguments, its draws).
EXAMPLE_HEADERS = ("Falsifying example", "Falsifying explicit example", "Failing test case",
                   "Draw ")
_PYTHONPATH_LINE = re.compile(r"^# run with PYTHONPATH=(\S+|'[^']*')")


def pythonpath_comment(folder: str, spec: str, module: str) -> str:
    """The comment that opens the snippet of a backend imported by ``spec`` from
    ``folder``: ``# run with PYTHONPATH=<folder> ...``, read back by
    :func:`snippet_pythonpath`."""
    return (f"# run with PYTHONPATH={shlex.quote(folder)} (backend {spec!r} imports module "
            f"{module!r} from that folder)")


def snippet_pythonpath(snippet: str) -> str | None:
    """The folder a snippet's opening comment says must be on ``PYTHONPATH``, or None."""
    first = snippet.lstrip("\n").split("\n", 1)[0]
    match = _PYTHONPATH_LINE.match(first)
    return shlex.split(match.group(1))[0] if match else None


@dataclass
class FailureParts:
    """A failing test's notes, sorted: hypothesis's failing example, the repro snippet
    (Python source only, no header), and the other notes."""

    example: str | None = None
    repro: str | None = None
    other: list[str] = field(default_factory=list)

    @property
    def pythonpath(self) -> str | None:
        """The folder the snippet needs on ``PYTHONPATH``, if it names one."""
        return None if self.repro is None else snippet_pythonpath(self.repro)

    @property
    def command(self) -> str | None:
        """The repro as a shell command: ``python -c '<snippet>'``, preceded by
        ``PYTHONPATH=<folder>`` when the snippet needs one."""
        if self.repro is None:
            return None
        env = f"PYTHONPATH={shlex.quote(self.pythonpath)} " if self.pythonpath else ""
        return f"{env}python -c {shlex.quote(self.repro)}"


def failure_parts(notes: list[str]) -> FailureParts:
    """Sort ``notes`` into a :class:`FailureParts` (the first snippet is the repro; a
    note saying no snippet could be written is one of the other notes)."""
    parts = FailureParts()
    for note in notes:
        text = note.strip()
        if text.startswith(REPRO_HEADER) and parts.repro is None:
            snippet = text[len(REPRO_HEADER):].strip("\n")
            if snippet.strip() and not snippet.startswith(" (no snippet"):
                parts.repro = snippet
            else:
                parts.other.append(text)
        elif text.startswith(EXAMPLE_HEADERS):
            parts.example = text if parts.example is None else f"{parts.example}\n{text}"
        else:
            parts.other.append(text)
    return parts
