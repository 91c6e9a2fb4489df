"""Which worlds a conformance run uses, and which of them each test runs on.

Decided at collection time, as capabilities are: a test of a multi-rank family gets
the worlds of the run its (family, feature) may use (:func:`eligible_worlds`); a test
no world fits is skipped by the plugin with the reason, never inside its body.
Single-process families always run on a world of one process.
"""

from __future__ import annotations

from collections.abc import Sequence

from embedspec.backends.contract import FEATURES, Backend
from embedspec.conformance.checks.case import World
from embedspec.conformance.session.profiles import Profile

#: The families whose layers span several ranks.
MULTI_RANK_FAMILIES: tuple[str, ...] = ("vocab_parallel", "sharded")


def run_worlds(backend: Backend, profile: Profile, *, device: str = "cpu",
               external: str | None = None) -> tuple[World, ...]:
    """The worlds a run of ``backend`` uses: one process for a single-process backend;
    otherwise the profile's worlds that its runner can start (all local worlds up to
    the pool's size; an external world's size; on CUDA one GPU per process)."""
    if not backend.multi_process:
        return (World(1),)
    from embedspec.conformance.distributed.runner import fits, parse_external

    parsed = None if external is None else parse_external(external)
    return tuple(w for w in profile.worlds if fits(w, device=device, external=parsed))


def eligible_worlds(worlds: Sequence[World], family: str, feature: str, *,
                    min_ranks: int = 1) -> tuple[World, ...]:
    """The worlds of ``worlds`` a test of ``family``/``feature`` runs on.

    Single-process families: the one-process world. Data-parallel replicas
    (``dp_size > 1``) exist only for the sharded family's ``data_parallel`` feature,
    which uses nothing else; every other multi-rank check runs on model-parallel worlds
    of at least ``min_ranks`` ranks.
    """
    if feature not in FEATURES.get(family, ()):
        raise ValueError(f"unknown feature {feature!r} of family {family!r}")
    if family not in MULTI_RANK_FAMILIES:
        return (World(1),)
    wants_grid = family == "sharded" and feature == "data_parallel"
    fitting = (w for w in worlds if (w.dp_size > 1) == wants_grid and w.size >= min_ranks)
    return tuple(sorted(fitting, key=lambda w: (w.nprocs, w.size)))


def no_world_reason(family: str, feature: str, min_ranks: int) -> str:
    """Why a test runs on no world of this run."""
    ranks = f" with at least {min_ranks} ranks" if min_ranks > 1 else ""
    return f"no world of this run fits {family} / {feature}{ranks}"
