"""The multi-rank checks (vocab_parallel, sharded): :func:`check_world` runs a
:class:`~embedspec.conformance.case.Case` on every process of its
:class:`~embedspec.conformance.case.World` and compares every process's
:class:`~embedspec.conformance.case.RankOutcome` with what the reference says it must
observe (:func:`expected_outcomes`), with the tolerance policy of
:mod:`~embedspec.conformance.tolerance`. Its failures carry a repro snippet
(:func:`world_repro_snippet`) that reruns the check through :func:`world_target`.

The rules live with the code that states them:

* what every process loads (full table, shards, replicas):
  :mod:`~embedspec.conformance.world_states`;
* errors (S0.2-S0.5) and the shared expectation machinery:
  :mod:`~embedspec.conformance.expected_world`;
* vocab_parallel (forward and ``weight_loader``, S3):
  :mod:`~embedspec.conformance.expected_vocab_parallel`;
* sharded, model-parallel and data-parallel grid (S4):
  :mod:`~embedspec.conformance.expected_sharded`;
* the per-process comparison: :mod:`~embedspec.conformance.compare_world`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from embedspec.backends.registry import load_backend
from embedspec.conformance import expected_sharded, expected_vocab_parallel, repro
from embedspec.conformance.case import Case, LocalRunner, RankOutcome
from embedspec.conformance.compare_world import compare_world
from embedspec.conformance.expected_world import Expected, expected_build
from embedspec.conformance.target import Target
from embedspec.conformance.world_states import (
    require_multi_rank,
    require_world_fits,
)

__all__ = [
    "check_world",
    "expected_outcomes",
    "world_repro_snippet",
    "world_target",
]


def expected_outcomes(case: Case) -> list[Expected]:
    """Every process's :class:`Expected` for ``case`` (actions build, forward,
    weight_loader), from the reference."""
    require_multi_rank(case.config)
    require_world_fits(case.config, case.world)
    if case.action == "build":
        return expected_build(case)
    if case.action == "forward":
        family = (expected_vocab_parallel if case.config.family == "vocab_parallel"
                  else expected_sharded)
        return family.expected_forward(case)
    if case.action == "weight_loader":
        return expected_vocab_parallel.expected_weight_loader(case)
    raise ValueError(f"no multi-rank expectation for action {case.action!r}")


def check_world(target: Target, case: Case, *,
                error: type[BaseException] | None = None) -> list[RankOutcome]:
    """Run ``case`` on every process of its world and compare each outcome with the
    reference's expectation. ``error``: the error class the test states every process
    must raise; the reference must agree (a check of the check)."""
    with _reporting(target, case, "check_world", error=error):
        expected = expected_outcomes(case)
        if error is not None:
            wrong = [e.error for e in expected if e.error is None or not issubclass(e.error,
                                                                                    error)]
            if wrong:
                raise RuntimeError(f"the reference itself does not raise {error.__name__} on "
                                   f"every process (got {wrong}); the check is wrong")
        outcomes = target.runner.run(case)
        compare_world(case, outcomes, expected)
    return outcomes


@contextlib.contextmanager
def world_target(backend_spec: str, *, device: str = "cpu") -> Iterator[Target]:
    """A :class:`Target` running cases of any world on the backend named ``backend_spec``
    (as repro snippets do): in this process for a single-process backend, in a pool of
    worker processes (closed on exit) for a multi-process one."""
    backend = load_backend(backend_spec)
    if not backend.multi_process:
        yield Target(LocalRunner(backend), backend, device, backend_spec)
        return
    from embedspec.conformance.distributed import PoolRunner

    with PoolRunner(backend_spec, device=device) as runner:
        yield Target(runner, backend, device, backend_spec)


def world_repro_snippet(case: Case, backend_spec: str, *, check: str = "check_world",
                        options: dict[str, Any] | None = None, device: str | None = None) -> str:
    """Python source that reruns ``check`` of this module on ``case`` with the backend
    named ``backend_spec``, on every process of the case's world."""
    src = repro._Source()
    src.imports.add("from embedspec.conformance import worlds")
    body = repro._case_source(src, case)
    kwargs = "".join(f", {k}={src.value(v)}" for k, v in (options or {}).items())
    body.append(f"with worlds.world_target({backend_spec!r}, "
                f"device={(device or case.device)!r}) as target:")
    body.append(f"    worlds.{check}(target, case{kwargs})")
    imports = sorted(src.imports, key=lambda line: (not line.startswith("import "), line))
    return "\n".join([*imports, "", *body])


@contextlib.contextmanager
def _reporting(target: Target, case: Case, check: str, **options: Any) -> Iterator[None]:
    """Attach a repro snippet of ``check`` to any exception raised inside the block."""
    try:
        yield
    except Exception as exc:
        if any(str(n).startswith(repro.NOTE_HEADER) for n in getattr(exc, "__notes__", ())):
            raise
        kwargs = {k: v for k, v in options.items() if v is not None}
        try:
            note = world_repro_snippet(case, target.backend_spec, check=check,
                                       options=kwargs, device=target.device)
            exc.add_note(f"{repro.NOTE_HEADER}\n{note}")
        except Exception as failure:  # a note must never hide the failure it documents
            exc.add_note(f"{repro.NOTE_HEADER} (no snippet: {type(failure).__name__}: "
                         f"{failure})")
        raise
