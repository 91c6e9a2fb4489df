"""Which backends ``embedspec report`` runs, decided before anything runs.

Without ``--backends``, every registered backend that is available here, the
comparison columns (:data:`COMPARISON_BACKENDS`) first; the unavailable ones are
listed as not run, with the reason. With ``--backends a,b``, exactly those, plus the
comparison columns; ``--no-comparisons`` leaves those out unless named. Each
requested backend is a registered name or a ``package.module:attr`` spec (importable:
installed or on PYTHONPATH); a requested backend that is unknown, cannot be loaded
or is unavailable here stops the report up front with
:data:`~embedspec.conformance.cli.exits.BACKEND_UNUSABLE`. A backend with an
``opt_in_reason`` (a column far slower than the others) runs only when ``--backends``
or ``--include`` names it; otherwise it is listed as not run, with that reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from embedspec.backends.contract import Backend
from embedspec.backends.registry import BackendEntry, BackendLoadError, load_backend
from embedspec.conformance.cli.exits import BACKEND_UNUSABLE, USAGE, CommandError

#: Backends every report compares against when they are available.
COMPARISON_BACKENDS = ("reference", "torch_nn")


@dataclass(frozen=True)
class Selected:
    """A backend the report runs: its column ``name``, the ``spec`` its run loads it by
    (the registered name, or the ``module:attr`` given), and the loaded backend."""

    name: str
    spec: str
    backend: Backend | None


@dataclass
class Selection:
    selected: list[Selected]
    #: (name, reason) of the registered backends that are not run
    not_run: list[tuple[str, str]]


def parse_backends(text: str | None) -> list[str]:
    """The names and specs of ``--backends a,b``, in order, once each."""
    if text is None:
        return []
    return list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


def select_backends(entries: Sequence[BackendEntry], requested: Sequence[str], *,
                    comparisons: bool = True, include: Sequence[str] = (),
                    load: Callable[[str], Backend] = load_backend) -> Selection:
    """The backends to run (comparison columns first) and those not run; raises
    CommandError(BACKEND_UNUSABLE) naming every requested backend that cannot run,
    CommandError(USAGE) when two requested backends would share a column name.
    ``include`` adds opt-in backends to the default set."""
    by_name = {e.name: e for e in entries}
    opt_in = {n: _opt_in_reason(e) for n, e in by_name.items() if _opt_in_reason(e)}
    named = list(dict.fromkeys([*requested, *include]))
    if requested:
        wanted = list(named)
    else:
        wanted = [n for n in by_name if n not in opt_in or n in include]
        wanted += [n for n in include if n not in wanted]
    if comparisons:
        wanted = [n for n in COMPARISON_BACKENDS if n in by_name and n not in wanted] + wanted
    else:
        wanted = [n for n in wanted if n not in COMPARISON_BACKENDS or n in named]
    ordered = [n for n in COMPARISON_BACKENDS if n in wanted] + \
              [n for n in wanted if n not in COMPARISON_BACKENDS]
    selected: list[Selected] = []
    not_run: list[tuple[str, str]] = []
    problems: list[str] = []
    for name in ordered:
        if ":" in name:
            try:
                backend = load(name)
            except BackendLoadError as exc:
                problems.append(f"{name}: {exc}")
                continue
            selected.append(Selected(backend.name, name, backend))
            continue
        entry = by_name.get(name)
        if entry is None:
            known = ", ".join(by_name) or "none"
            problems.append(f"{name}: no backend of that name is registered (registered: "
                            f"{known}; an unregistered backend is given as "
                            "'package.module:attr')")
        elif entry.available:
            selected.append(Selected(entry.name, entry.name, entry.backend))
        elif name in named:
            problems.append(f"{name}: {entry.reason}")
        else:
            not_run.append((name, entry.reason))
    if not requested:
        not_run += [(n, reason) for n, reason in opt_in.items()
                    if n not in wanted and by_name[n].available]
    if problems:
        raise CommandError("--backends: cannot run " + "; ".join(problems), BACKEND_UNUSABLE)
    names = [s.name for s in selected]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        specs = "; ".join(f"{n}: " + ", ".join(s.spec for s in selected if s.name == n)
                          for n in twice)
        raise CommandError(f"--backends: several backends call themselves the same: {specs}",
                           USAGE)
    return Selection(selected, not_run)


def _opt_in_reason(entry: BackendEntry) -> str:
    """Why ``entry`` is not in the default set of ``report`` (empty when it is)."""
    return str(getattr(entry.backend, "opt_in_reason", "") or "") if entry.backend else ""
