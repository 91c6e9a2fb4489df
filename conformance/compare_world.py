"""Every process's outcome of a multi-rank case against its :class:`Expected`
(:func:`compare_world`): the reference's error class with the state left as loaded
(S0.4), or no error, the state after (exact, or for a sharded ``max_norm`` forward
within the renorm bound of the full-row norm), the output (exact, or a gather of the
rows the owner stored) and the gradients within their S0.7 bounds."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from embedspec.conformance import tolerance
from embedspec.conformance.assertions import (
    assert_error,
    assert_exact,
    assert_no_error,
    assert_rows_unchanged_except,
    assert_same_meta,
    assert_state_unchanged,
    assert_within,
)
from embedspec.conformance.case import Case, RankOutcome, World
from embedspec.conformance.expected_sharded import columns
from embedspec.conformance.expected_world import Expected
from embedspec.conformance.world_states import column_block
from embedspec.reference.embedding_functional import RENORM_EPS


def _where(proc: int, world: World) -> str:
    dp_rank, rank = world.coords(proc)
    return f"rank {rank}" + (f" of replica {dp_rank}" if world.dp_size > 1 else "") + \
        f" (world {world})"


def compare_world(case: Case, outcomes: Sequence[RankOutcome],
                  expected: Sequence[Expected]) -> None:
    """Every process's outcome against its expectation (see the module docstring)."""
    world = case.world
    if len(outcomes) != world.nprocs:
        raise AssertionError(f"world {world} has {world.nprocs} processes, the runner "
                             f"returned {len(outcomes)} outcomes")
    for proc, (actual, want) in enumerate(zip(outcomes, expected, strict=True)):
        try:
            _compare_process(case, proc, outcomes, actual, want)
        except AssertionError as exc:
            exc.add_note(f"at process {proc}: {_where(proc, world)}")
            raise


def _compare_process(case: Case, proc: int, outcomes: Sequence[RankOutcome],
                     actual: RankOutcome, want: Expected) -> None:
    if want.error is not None:
        assert_error(actual, want.error)
        if want.state_before is not None:
            assert_state_unchanged(want.state_before, actual.state_after,
                                   what="state after the error (S0.4)")
        return
    assert_no_error(actual)
    if want.state_after is not None:
        _compare_state(case, proc, actual, want)
    if want.output is not None:
        _compare_output(case, proc, outcomes, actual, want)
    if want.grads is not None:
        _compare_grads(actual, want)


def _compare_state(case: Case, proc: int, actual: RankOutcome, want: Expected) -> None:
    if set(actual.state_after) != set(want.state_after):
        raise AssertionError(f"state dict keys {sorted(actual.state_after)}, expected "
                             f"{sorted(want.state_after)} (backends keep the reference's "
                             "layout)")
    for key, value in want.state_after.items():
        assert_same_meta(actual.state_after[key], value, what=f"state {key!r}")
    if want.renorm is None:
        for key, value in want.state_after.items():
            assert_exact(actual.state_after[key], value, what=f"state {key!r} after the "
                         f"{case.action}")
        return
    start, end = column_block(case.config, case.world.size, case.world.coords(proc)[1])
    before = want.state_before["weight"]
    after = actual.state_after["weight"]
    renormed = (want.state_after["weight"].to(torch.float64)
                != before.to(torch.float64)).any(dim=1)
    may_change = (renormed | want.renorm.ambiguous).nonzero().reshape(-1)
    assert_rows_unchanged_except(
        before, after, may_change,
        what="stored shard after the forward (rows not referenced, or with a full-row norm "
             "clearly <= max_norm)")
    target = _nearer_renorm_choice(case, want, after, start, end)
    assert_within(after, target, columns(want.renorm.bound, start, end),
                  what=f"stored shard (columns [{start}, {end})) after the max_norm renorm, "
                       "full-row norm (referenced rows)")


def _nearer_renorm_choice(case: Case, want: Expected, after: torch.Tensor, start: int,
                          end: int) -> torch.Tensor:
    """The reference's shard after the renorm, where each ambiguous row (full norm within
    rounding of ``max_norm``) takes whichever acceptable value is nearer the backend's."""
    expected = want.state_after["weight"].clone()
    if after.shape[1] == 0:
        return expected
    config = case.config
    rows = want.renorm.ambiguous.nonzero().reshape(-1)
    if rows.numel() == 0:
        return expected
    world = case.world
    full_before = torch.cat([case.states[r]["weight"] for r in range(world.size)], dim=1)
    norms = tolerance.row_norms(full_before[rows], config.norm_type).unsqueeze(1)
    before = want.state_before["weight"][rows]
    factor = config.max_norm / (norms + RENORM_EPS)
    renormed = (before.to(torch.float64) * factor).to(before.dtype)
    reference_renormed = expected[rows].ne(before).any(dim=1, keepdim=True)
    other = torch.where(reference_renormed, before, renormed)
    got = after[rows].to(torch.float64)
    closer = ((got - other.to(torch.float64)).abs().amax(dim=1)
              < (got - expected[rows].to(torch.float64)).abs().amax(dim=1))
    expected[rows[closer]] = other[closer]
    return expected


def _compare_output(case: Case, proc: int, outcomes: Sequence[RankOutcome],
                    actual: RankOutcome, want: Expected) -> None:
    if actual.output is None:
        raise AssertionError("the backend returned no output")
    if want.renorm is None:
        assert_exact(actual.output, want.output, what="output (a gather)")
        return
    world = case.world
    owner_states = [outcomes[r].state_after.get("weight") for r in range(world.size)]
    if any(state is None for state in owner_states):
        raise AssertionError("an owner process reported no stored 'weight' to check the "
                             "output against")
    stored = torch.cat(owner_states, dim=1)
    rank = world.coords(proc)[1]
    rows = stored[case.inputs[proc].to(torch.int64)]
    if not case.config.gather_output:
        rows = rows[..., slice(*column_block(case.config, world.size, rank))]
    assert_same_meta(actual.output, want.output, what="output")
    assert_exact(actual.output, rows, what="output (a gather of the rows the owner "
                 "renormalised and stored)")


def _compare_grads(actual: RankOutcome, want: Expected) -> None:
    if set(actual.grads) != set(want.grads):
        raise AssertionError(f"gradients of {sorted(actual.grads)}, expected "
                             f"{sorted(want.grads)}")
    for name, value in want.grads.items():
        got = actual.grads[name]
        if got is None:
            raise AssertionError(f"gradient of {name!r}: got None, expected a tensor")
        assert_within(got, value, want.grad_bounds[name], what=f"gradient of {name!r}")

