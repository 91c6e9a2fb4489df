"""The exit statuses of ``embedspec check``, ``report`` and ``bench``, and the error
that carries one up to :func:`embedspec.conformance.cli.main`.

The statuses mean the same for every command, so a CI step can branch on them:

* :data:`OK` (0): every result was as expected;
* :data:`FAILED` (1): an unexpected failure (a test failed or errored, an expected
  failure passed, a gate failed), or a backend's run crashed or timed out;
* :data:`BACKEND_UNUSABLE` (2): a backend could not be loaded, is unavailable here, or
  a requested backend is unknown; checked before anything runs;
* :data:`USAGE` (64, ``EX_USAGE`` of sysexits.h): the command line is wrong: an unknown
  option or value, a bad option value (``--device cuda`` without a GPU, an output path
  that cannot be written, ``--accept`` without an expectations file), or ``-k`` selects
  no test; checked before anything runs;
* :data:`BUSY` (75, ``EX_TEMPFAIL``): another ``embedspec report`` is writing into the
  same output folder; try again when it has finished, or use another ``--out``;
* 128 + the signal number (130 for Ctrl-C, 143 for SIGTERM): the run was interrupted;
  ``report`` still writes what finished.
"""

from __future__ import annotations

import signal

OK = 0
FAILED = 1
BACKEND_UNUSABLE = 2
USAGE = 64
BUSY = 75

#: The epilog of ``embedspec --help`` and of each command's help.
EPILOG = """\
exit status (the same for check, report and bench):
  0    every result was as expected
  1    an unexpected failure, or a backend's run crashed or timed out
  2    a backend could not be loaded or is unavailable, or a requested backend
       is unknown (checked before anything runs)
  64   usage error: a bad option or value, an output path that cannot be
       written, --device cuda without a GPU, -k selecting no test
  75   report: another report run holds the output folder (--out)
  130  interrupted (Ctrl-C; 143 for SIGTERM): report writes what finished
"""


def interrupted(signum: int = signal.SIGINT) -> int:
    """The status of a run stopped by signal ``signum``: 128 + its number."""
    return 128 + int(signum)


class CommandError(Exception):
    """A problem found before (or instead of) running: ``main`` prints the message as
    one line, ``embedspec <command>: <message>``, and exits with ``status``."""

    def __init__(self, message: str, status: int = USAGE) -> None:
        super().__init__(message)
        self.status = status
