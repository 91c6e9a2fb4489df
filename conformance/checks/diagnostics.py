"""Diagnostic notes: when a comparison fails, name the rules of the spec the outcome
breaks, so a reader sees "S1.1: the padding row's gradient must be exactly zero"
beside the first differing element.

Each rule looks at the case and every process's outcome and returns a sentence when
the outcome breaks it (None otherwise). They never decide a verdict: the comparison
with the reference already has; they only explain it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch
from embedspec.conformance.checks.case import Case, RankOutcome
from embedspec.conformance.checks.roles import padding_row

Rule = Callable[[Case, Sequence[RankOutcome]], str | None]


def padding_gradient_is_zero(case: Case, outcomes: Sequence[RankOutcome]) -> str | None:
    """S1.1: the padding row's gradient is exactly zero, dense and sparse alike."""
    row = padding_row(case)
    if row is None:
        return None
    for proc, outcome in enumerate(outcomes):
        grad = outcome.grads.get("weight")
        if grad is None:
            continue
        dense = grad.to_dense() if grad.layout == torch.sparse_coo else grad
        if row < dense.shape[0] and bool((dense[row] != 0).any()):
            return (f"S1.1 broken: the gradient of the padding row {row} must be exactly "
                    f"zero (process {proc})")
    return None


def forward_leaves_state(case: Case, outcomes: Sequence[RankOutcome]) -> str | None:
    """S0.1, S1: a forward without ``max_norm`` leaves every parameter bitwise as loaded."""
    if case.action not in ("forward", "forward_packed") or not case.states \
            or getattr(case.config, "max_norm", None) is not None:
        return None
    for proc, outcome in enumerate(outcomes):
        if outcome.error is not None or proc >= len(case.states):
            continue
        for key, before in case.states[proc].items():
            after = outcome.state_after.get(key)
            if after is not None and after.shape == before.shape \
                    and not torch.equal(after.nan_to_num(), before.nan_to_num()):
                return (f"S0.1 broken: a forward without max_norm must leave state {key!r} "
                        f"as loaded (process {proc} changed it)")
    return None


def unused_bits_are_zero(case: Case, outcomes: Sequence[RankOutcome]) -> str | None:
    """S5: the unused high bits of a packed row's last byte are zero."""
    used = getattr(case.config, "embedding_dim", 0) % 8
    for outcome in outcomes:
        qweight = outcome.extra.get("packed", {}).get("qweight")
        if used and qweight is not None and qweight.numel() and qweight.dim() == 2 \
                and bool((qweight[:, -1].to(torch.int64) >> used).any()):
            return f"S5 broken: the unused high bits of the last byte (D % 8 = {used}) " \
                   "must be zero"
    return None


def binary_padding_outputs_zero(case: Case, outcomes: Sequence[RankOutcome]) -> str | None:
    """S5: padding positions of a binary layer output exact zeros."""
    row = padding_row(case)
    if case.config.family != "binary" or row is None or not case.inputs:
        return None
    output = outcomes[0].output
    positions = case.inputs[0] == row
    if output is not None and output.shape[:-1] == positions.shape \
            and bool((output[positions] != 0).any()):
        return "S5 broken: padding positions of a binary layer must output exact zeros"
    return None


RULES: tuple[Rule, ...] = (padding_gradient_is_zero, forward_leaves_state,
                           unused_bits_are_zero, binary_padding_outputs_zero)
"""The rules a failing comparison is explained by, in the order their notes appear."""


def broken_rules(case: Case, outcomes: Sequence[RankOutcome]) -> list[str]:
    """The sentences of every rule of :data:`RULES` the outcomes break."""
    notes = []
    for rule in RULES:
        try:
            note = rule(case, outcomes)
        except Exception as exc:  # a note must never hide the failure it explains
            note = f"(rule {rule.__name__} could not be evaluated: {type(exc).__name__}: {exc})"
        if note:
            notes.append(note)
    return notes


@contextlib.contextmanager
def annotate(case: Case, outcomes: Sequence[RankOutcome]) -> Iterator[None]:
    """Add a note per broken rule to an ``AssertionError`` raised inside the block."""
    try:
        yield
    except AssertionError as exc:
        for note in broken_rules(case, outcomes):
            exc.add_note(note)
        raise
