"""What an element of a compared tensor is in the spec, for failure messages.

An assertion names the first element that differs by its index; a *role* (a function
of that index) adds what the spec says that element is, when it says anything:
"row 5: the padding row", "local row 3 holds id 9: an added-vocab id", "position (2,)
looks up id 7: held by rank 1, not this rank's shard", "row 7: renormed by max_norm".
The comparison (:mod:`~embedspec.conformance.checks.compare`) builds one role per
compared tensor from the case and the process (:func:`table_role` for a stored table
and its gradient, :func:`output_role` for an output); the facts are computed only
when an assertion fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from embedspec.conformance.checks.case import Case
from embedspec.conformance.checks.states import column_block, vocab_row_map
from embedspec.reference.validation import normalize_padding_idx

if TYPE_CHECKING:
    from embedspec.conformance.checks.expected.model import Renorm

#: The role of the element at an index, or None when the spec gives it none.
Role = Callable[[tuple[int, ...]], str | None]


def padding_row(case: Case) -> int | None:
    """The case's padding row as a row number, or None (no padding, or a padding_idx
    the configuration rejects)."""
    padding = getattr(case.config, "padding_idx", None)
    if padding is None:
        return None
    try:
        return normalize_padding_idx(padding, case.config.num_embeddings)
    except (ValueError, IndexError, TypeError):
        return None


def _ids(value: object) -> torch.Tensor | None:
    """``value`` as a flat int64 tensor of ids, or None when it is not an index tensor."""
    if not isinstance(value, torch.Tensor) or value.dtype not in (torch.int32, torch.int64):
        return None
    return value.reshape(-1).to(torch.int64)


def _looked_up(case: Case) -> torch.Tensor | None:
    """Every id the world's inputs look up (each replica's input once)."""
    replicas = [_ids(case.inputs[d * case.world.size])
                for d in range(case.world.dp_size) if d * case.world.size < len(case.inputs)]
    if not replicas or any(ids is None for ids in replicas):
        return None
    return torch.cat(replicas)


def _vocab_owner(case: Case, token: int) -> int | None:
    """The model-parallel rank whose shard holds ``token`` (vocab_parallel)."""
    for rank in range(case.world.size):
        if bool((vocab_row_map(case.config, case.world.size, rank) == token).any()):
            return rank
    return None


def _id_facts(case: Case, proc: int, token: int, renorm: Renorm | None) -> list[str]:
    """What the spec says about id ``token`` as seen by process ``proc``."""
    config, facts = case.config, []
    if token == padding_row(case):
        facts.append("the padding row")
    if config.family == "vocab_parallel":
        org = config.org_num_embeddings or config.num_embeddings
        if token >= org:
            facts.append("an added-vocab id")
        owner = _vocab_owner(case, token)
        rank = case.world.coords(proc)[1]
        if owner is not None and case.world.size > 1:
            facts.append("in this rank's shard" if owner == rank
                         else f"held by rank {owner}, not this rank's shard")
    if renorm is not None:
        if bool((renorm.ambiguous == token).any()):
            facts.append("its norm is within rounding of max_norm (renormed or not)")
        elif bool((renorm.may_change == token).any()):
            facts.append("renormed by max_norm")
        else:
            facts.append("not renormed (must stay as loaded)")
    return facts


def _times(ids: torch.Tensor | None, token: int) -> str | None:
    if ids is None:
        return None
    n = int((ids == token).sum())
    return "not looked up by the input" if n == 0 else \
        f"looked up {n} time{'s' if n > 1 else ''} by the input"


def table_role(case: Case, proc: int = 0, renorm: Renorm | None = None, *,
               lookups: bool = False) -> Role:
    """The role of element ``(row, column)`` of process ``proc``'s stored table (or its
    gradient): the id the row holds and what the spec says of it, with how often the
    input looks it up when ``lookups``; for a sharded table, the column of the full
    row it is."""

    def role(index: tuple[int, ...]) -> str | None:
        if len(index) != 2:
            return None
        row, column = index
        config, rank = case.config, case.world.coords(proc)[1]
        if config.family == "vocab_parallel":
            token = int(vocab_row_map(config, case.world.size, rank)[row])
            if token < 0:
                return f"local row {row} of rank {rank}: a vocab padding row"
            name = f"local row {row} holds id {token}"
        else:
            token, name = row, f"row {row}"
        facts = _id_facts(case, proc, token, renorm)
        if lookups:
            facts.append(_times(_looked_up(case), token))
        if config.family == "sharded" and case.world.size > 1:
            start = column_block(config, case.world.size, rank)[0]
            facts.append(f"column {column} of rank {rank}'s block is column {start + column} "
                         "of the full row")
        facts = [f for f in facts if f]
        return f"{name}: {', '.join(facts)}" if facts else None

    return role


def on_rows(role: Role | None, rows: list[int]) -> Role | None:
    """The role of element ``(i, column)`` of a tensor holding rows ``rows`` of a table
    (a sparse gradient's values), from ``role``, that of the table's elements."""
    if role is None:
        return None
    return lambda index: role((rows[index[0]], *index[1:])) if index else None


def output_role(case: Case, proc: int = 0, renorm: Renorm | None = None) -> Role:
    """The role of element ``(*position, column)`` of process ``proc``'s output: the
    id that position looks up and what the spec says of it."""

    def role(index: tuple[int, ...]) -> str | None:
        indices = case.inputs[proc] if proc < len(case.inputs) else None
        if not isinstance(indices, torch.Tensor) or len(index) != indices.dim() + 1:
            return None
        position = index[:-1]
        token = int(indices[position]) if position else int(indices)
        facts = _id_facts(case, proc, token, renorm)
        looks_up = (f"position {position} looks up id {token}" if position
                    else f"the 0-d input looks up id {token}")
        return f"{looks_up}: {', '.join(facts)}" if facts else looks_up

    return role
