"""Per-process reference states, expected outcomes and checks of multi-rank cases.

A multi-rank check (vocab_parallel, sharded) starts from one *full table*: the
``(num_embeddings, embedding_dim)`` table of the unsharded layer, rows in token-id
order. Every process of a :class:`~embedspec.conformance.case.World` loads its shard
of that table (:func:`process_states`), runs the case, and reports a
:class:`~embedspec.conformance.case.RankOutcome`. What each process must observe
(:class:`Expected`, from :func:`expected_outcomes`) comes from the reference
simulating the same world in one process, loaded with the same per-process states
(:func:`embedspec.reference.vocab_parallel.world_forward`,
:func:`embedspec.reference.sharded.world_forward` and ``grid_forward``), so an
expectation depends only on the :class:`Case`. :func:`check_world` runs a case and
compares every process's outcome with the tolerance policy of
:mod:`~embedspec.conformance.tolerance`.

Model-parallel rules (``world.dp_size == 1``):

* vocab_parallel: rank r loads ``shard_full_weight(table, config, r, P)`` (its base
  and added rows in local order), with every vocab padding row set to the scenario's
  ``vocab_padding_fill`` (a correct layer never reads a padding row, so a non-zero
  fill exposes one that does). Every rank returns the all-reduced output, bitwise the
  rows of the ids; rank r's gradient is its shard of the unsharded gradient of *its
  own* output gradient (identity backward of the all-reduce), padding rows exactly
  zero. The weight is unchanged by a forward.
* sharded: rank r loads the column block ``column_range(D, r, P, partition)`` of the
  table. It returns the full rows (``gather_output``) or its block, bitwise; its
  gradient is the column block of the gradient of its own output gradient (slice
  backward of the all-gather). With ``max_norm`` the stored shards hold the rows
  renormalised by the *full-row* norm (reduced across shards, within the renorm
  bound; rows whose norm is within rounding of ``max_norm`` may go either way), every
  other row bitwise as loaded, and the output is bitwise the stored rows.

Data-parallel grid rules (sharded only, ``world.dp_size > 1``; process
``proc = dp_rank * world.size + rank``; replica 0 is the owner):

* every replica's rank r loads the owner's shard of rank r, so all replicas start
  identical;
* every replica looks up *its own* input in the owner's shards: process ``(d, r)``
  returns what rank r of a plain world returns for replica d's input;
* with ``max_norm``, the owner renormalises once the union of the rows referenced by
  every replica's input, and every replica's output reads those rows;
* the owner's gradient is the sum over replicas of each replica's gradient of the
  shard (:func:`~embedspec.reference.sharded.owner_gradient`), each computed from that
  process's own output gradient (and its own ``scale_grad_by_freq`` counts);
  non-owner gradients are not checked;
* the owner's state after the forward is checked, non-owner states are not (the spec
  leaves what a replica stores open), except after an error.

Errors: an invalid input (index dtype, S0.2; id range, S0.3) makes every process
raise the reference's error class and leaves every process's state exactly as
loaded (S0.4); a grid where only some replicas see an invalid input is outside the
spec and rejected here. A bad configuration raises ``ValueError`` on every process
(S0.5); a bad checkpoint makes ``weight_loader`` raise ``ValueError`` on every rank,
leaving every shard unchanged (S3.9). Every process must report, so a backend that
leaves a rank waiting fails with the runner's timeout.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from embedspec.backends.registry import load_backend
from embedspec.conformance import repro, tolerance
from embedspec.conformance.assertions import (
    assert_error,
    assert_exact,
    assert_no_error,
    assert_rows_unchanged_except,
    assert_same_meta,
    assert_state_unchanged,
    assert_within,
)
from embedspec.conformance.case import Case, LocalRunner, RankOutcome, World
from embedspec.conformance.harness import Target
from embedspec.reference import sharded as ref_sharded
from embedspec.reference import vocab_parallel as ref_vocab
from embedspec.reference.configs import LayerConfig, ShardedConfig, VocabParallelConfig
from embedspec.reference.partition import column_range
from embedspec.reference.validation import check_indices, normalize_padding_idx
from embedspec.reference.vocab_parallel_sizes import VocabLayout

__all__ = [
    "Expected",
    "Scenario",
    "check_world",
    "column_block",
    "compare_world",
    "expected_outcomes",
    "forward_case",
    "output_widths",
    "process_states",
    "vocab_row_map",
    "world_repro_snippet",
    "world_target",
]

MultiRankConfig = VocabParallelConfig | ShardedConfig


def _check_family(config: LayerConfig) -> None:
    if not isinstance(config, VocabParallelConfig | ShardedConfig):
        raise TypeError(f"config must be a VocabParallelConfig or a ShardedConfig, "
                        f"got {type(config).__name__}")


def _check_world(config: MultiRankConfig, world: World) -> None:
    if config.family == "vocab_parallel" and world.dp_size != 1:
        raise ValueError(f"vocab_parallel has no data-parallel replicas; got world {world}")


# ---------------------------------------------------------------------------------------
# Scenarios and states


@dataclass
class Scenario:
    """The data of one multi-rank forward case, before it becomes a :class:`Case`.

    ``table``: the full ``(num_embeddings, D)`` table every shard is cut from.
    ``inputs``/``grad_outputs``: one per process (see the module docstring).
    ``vocab_padding_fill``: value of every vocab padding row (vocab_parallel only).
    """

    config: MultiRankConfig
    world: World
    table: torch.Tensor
    inputs: list[torch.Tensor]
    grad_outputs: list[torch.Tensor] | None = None
    vocab_padding_fill: float = 0.0

    def __post_init__(self) -> None:
        _check_family(self.config)
        _check_world(self.config, self.world)
        if len(self.inputs) != self.world.nprocs:
            raise ValueError(f"inputs must hold one tensor per process ({self.world.nprocs}), "
                             f"got {len(self.inputs)}")

    def states(self) -> list[dict[str, torch.Tensor]]:
        return process_states(self.config, self.world, self.table,
                              vocab_padding_fill=self.vocab_padding_fill)


def column_block(config: ShardedConfig, world_size: int, rank: int) -> tuple[int, int]:
    """The columns ``[start, end)`` that ``rank`` of ``world_size`` stores (S4.1)."""
    return column_range(config.embedding_dim, rank, world_size, config.partition)


def _vocab_layout(config: VocabParallelConfig, world_size: int) -> VocabLayout:
    return VocabLayout.create(config.num_embeddings, config.org_num_embeddings,
                              config.padding_size, world_size)


def vocab_row_map(config: VocabParallelConfig, world_size: int, rank: int) -> torch.Tensor:
    """For each local row of ``rank``: the token id it stores, or ``-1`` for a vocab
    padding row (S3.2)."""
    layout = _vocab_layout(config, world_size)
    s = layout.shard_indices(rank)
    rows = torch.full((layout.num_embeddings_per_partition,), -1, dtype=torch.int64)
    rows[:s.num_org_elements] = torch.arange(s.org_vocab_start_index, s.org_vocab_end_index)
    first_added = s.num_org_elements_padded
    rows[first_added:first_added + s.num_added_elements] = torch.arange(
        s.added_vocab_start_index, s.added_vocab_end_index)
    return rows


def process_states(config: MultiRankConfig, world: World, table: torch.Tensor, *,
                   vocab_padding_fill: float = 0.0) -> list[dict[str, torch.Tensor]]:
    """The state dict every process loads, in process order (see the module docstring).

    Replicas of a grid load the owner's shard: the state of process ``(d, r)`` is the
    state of rank r.
    """
    _check_family(config)
    _check_world(config, world)
    per_rank = []
    for rank in range(world.size):
        if config.family == "vocab_parallel":
            local = ref_vocab.shard_full_weight(table, config, rank, world.size)
            local[vocab_row_map(config, world.size, rank) < 0] = vocab_padding_fill
        else:
            local = table[:, slice(*column_block(config, world.size, rank))].clone()
        per_rank.append(local)
    return [{"weight": per_rank[world.coords(proc)[1]].clone()} for proc in range(world.nprocs)]


def output_widths(config: MultiRankConfig, world: World) -> list[int]:
    """The last dim of each process's output: ``D``, or the rank's block when a sharded
    layer does not gather."""
    if config.family == "sharded" and not config.gather_output:
        blocks = [column_block(config, world.size, r) for r in range(world.size)]
        return [blocks[world.coords(p)[1]][1] - blocks[world.coords(p)[1]][0]
                for p in range(world.nprocs)]
    return [config.embedding_dim] * world.nprocs


def forward_case(scenario: Scenario, device: str = "cpu") -> Case:
    """The :class:`Case` every process of the scenario's world runs."""
    return Case(
        config=scenario.config,
        states=scenario.states(),
        inputs=[x.clone() for x in scenario.inputs],
        grad_outputs=None if scenario.grad_outputs is None
        else [g.clone() for g in scenario.grad_outputs],
        world=scenario.world,
        device=device,
        action="forward",
    )


# ---------------------------------------------------------------------------------------
# Expected outcomes


@dataclass
class Expected:
    """What one process must observe; a field left None is not checked.

    ``grad_bounds``: per gradient, the allowed difference (S0.7). ``renorm``: set when
    ``max_norm`` renormalised rows; it bounds the full table after the renorm (the
    owner's shards are checked against their columns of it, S1.2/S4), and ``output``
    is then checked against the rows the backend itself stored rather than bitwise
    against the reference's. ``state_before``: what the process loaded.
    """

    error: type[BaseException] | None = None
    output: torch.Tensor | None = None
    grads: dict[str, torch.Tensor] | None = None
    grad_bounds: dict[str, tolerance.Bound] | None = None
    state_after: dict[str, torch.Tensor] | None = None
    state_before: dict[str, torch.Tensor] | None = None
    renorm: tolerance.RenormBound | None = None


def _reference_layer(config: MultiRankConfig, rank: int, world_size: int) -> torch.nn.Module:
    _check_family(config)
    cls = (ref_vocab.VocabParallelEmbedding if config.family == "vocab_parallel"
           else ref_sharded.ShardedEmbedding)
    return cls.from_config(config, rank=rank, world_size=world_size, device="meta")


def _reference_world(config: MultiRankConfig, size: int,
                     states: Sequence[dict[str, torch.Tensor]]) -> list[torch.nn.Module]:
    """Reference layers of ranks ``0..size-1`` holding ``states`` (one per rank)."""
    layers = []
    for rank in range(size):
        layer = _reference_layer(config, rank, size)
        layer.load_state_dict({k: v.clone() for k, v in states[rank].items()}, assign=True)
        layers.append(layer)
    return layers


def _error_of(call: Callable[[], object]) -> type[BaseException] | None:
    """The class of the exception ``call()`` raises, or None."""
    try:
        call()
    except Exception as exc:  # the reference's error class is the expectation
        return type(exc)
    return None


def expected_outcomes(case: Case) -> list[Expected]:
    """Every process's :class:`Expected` for ``case`` (actions build, forward,
    weight_loader), from the reference."""
    _check_family(case.config)
    _check_world(case.config, case.world)
    if case.action == "build":
        return _expected_build(case)
    if case.action == "forward":
        return _expected_forward(case)
    if case.action == "weight_loader":
        return _expected_weight_loader(case)
    raise ValueError(f"no multi-rank expectation for action {case.action!r}")


def _expected_build(case: Case) -> list[Expected]:
    world = case.world
    errors = [_error_of(lambda rank=rank: _reference_layer(case.config, rank, world.size))
              for rank in range(world.size)]
    return [Expected(error=errors[world.coords(p)[1]]) for p in range(world.nprocs)]


def _replica_inputs(case: Case) -> list[torch.Tensor]:
    return [case.inputs[d * case.world.size] for d in range(case.world.dp_size)]


def _expected_forward(case: Case) -> list[Expected]:
    config, world = case.config, case.world
    build_errors = [e.error for e in _expected_build(case)]
    if any(build_errors):
        return [Expected(error=e) for e in build_errors]
    inputs = _replica_inputs(case)
    errors = [_error_of(lambda x=x: check_indices(x, config.num_embeddings)) for x in inputs]
    if any(errors):
        if not all(errors):
            raise ValueError("a grid where only some replicas see an invalid input is outside "
                             "the spec; give every replica an invalid input or none")
        return [Expected(error=errors[world.coords(p)[0]], state_before=case.states[p])
                for p in range(world.nprocs)]
    grid = [_reference_world(config, world.size, case.states[d * world.size:][:world.size])
            for d in range(world.dp_size)]
    if config.family == "vocab_parallel":
        outputs = [ref_vocab.world_forward(grid[0], inputs[0])]
    elif world.dp_size == 1:
        outputs = [ref_sharded.world_forward(grid[0], inputs[0])]
    else:
        outputs = ref_sharded.grid_forward(grid, inputs)
    owner = grid[0]
    renorm = None
    if config.family == "sharded" and config.max_norm is not None:
        full_before = torch.cat([case.states[r]["weight"] for r in range(world.size)], dim=1)
        union = torch.cat([x.reshape(-1).to(torch.int64) for x in inputs])
        renorm = tolerance.renormalisation(full_before, union, config.max_norm,
                                           config.norm_type)
    expected = []
    for proc in range(world.nprocs):
        dp_rank, rank = world.coords(proc)
        is_owner = dp_rank == 0
        expected.append(Expected(
            output=outputs[dp_rank][rank].detach(),
            state_after={"weight": owner[rank].weight.detach().clone()} if is_owner else None,
            state_before=case.states[proc], renorm=renorm))
    if case.grad_outputs is not None:
        for rank in range(world.size):
            grads, bounds = _owner_gradient(case, inputs, owner[rank], outputs, rank)
            expected[rank].grads = {"weight": grads}
            expected[rank].grad_bounds = {"weight": bounds}
    return expected


def _grad_of(output: torch.Tensor, weight: torch.Tensor,
             grad_output: torch.Tensor) -> torch.Tensor:
    (grad,) = torch.autograd.grad(output, weight, grad_output, allow_unused=True)
    return torch.zeros_like(weight) if grad is None else grad.detach()


def _owner_gradient(case: Case, inputs: list[torch.Tensor], layer: torch.nn.Module,
                    outputs: list[list[torch.Tensor]],
                    rank: int) -> tuple[torch.Tensor, tolerance.Bound]:
    """Rank ``rank``'s expected gradient (summed over replicas in a grid) and its bound."""
    config, world = case.config, case.world
    replica_grads, bound = [], tolerance.Bound()
    for dp_rank, indices in enumerate(inputs):
        grad_output = case.grad_outputs[dp_rank * world.size + rank]
        replica_grads.append(_grad_of(outputs[dp_rank][rank], layer.weight, grad_output))
        bound = bound + _gradient_bound(config, world.size, rank, indices, grad_output,
                                        layer.weight.dtype)
    total = ref_sharded.owner_gradient(replica_grads)
    if len(replica_grads) > 1:
        magnitude = sum(g.to(torch.float64).abs() for g in replica_grads)
        bound = bound + tolerance.Bound.of(float(len(replica_grads) - 1), magnitude,
                                           layer.weight.dtype)
    return total, bound


def _gradient_bound(config: MultiRankConfig, world_size: int, rank: int,
                    indices: torch.Tensor, grad_output: torch.Tensor,
                    dtype: torch.dtype) -> tolerance.Bound:
    """The S0.7 bound of one process's gradient of its shard, from the unsharded bound."""
    if grad_output.shape[-1] == 0:
        return tolerance.Bound()  # a rank without columns: nothing to bound
    if config.family == "vocab_parallel":
        full = tolerance.weight_gradient(indices, grad_output, config.num_embeddings,
                                         dtype=dtype)
        return _local_rows(full, vocab_row_map(config, world_size, rank))
    full = tolerance.weight_gradient(
        indices, grad_output, config.num_embeddings,
        padding_idx=normalize_padding_idx(config.padding_idx, config.num_embeddings),
        scale_grad_by_freq=config.scale_grad_by_freq, dtype=dtype)
    if config.gather_output:
        return _columns(full, *column_block(config, world_size, rank))
    return full


def _local_rows(bound: tolerance.Bound, row_map: torch.Tensor) -> tolerance.Bound:
    """A bound on a full table mapped to local rows (``-1``: a row that must be zero)."""
    keep = (row_map >= 0).to(torch.float64).unsqueeze(1)
    rows = row_map.clamp(min=0)
    parts = []
    for part in bound.parts:
        terms = part.terms if part.terms.dim() == 0 else part.terms[rows] * keep
        magnitude = part.magnitude if part.magnitude.dim() == 0 else part.magnitude[rows] * keep
        parts.append(tolerance.Part(terms, magnitude, part.dtype))
    return tolerance.Bound(tuple(parts))


def _columns(bound: tolerance.Bound, start: int, end: int) -> tolerance.Bound:
    """The bound of columns ``[start, end)`` of a ``(V, D)`` bound."""
    def cut(t: torch.Tensor) -> torch.Tensor:
        return t[..., start:end] if t.dim() and t.shape[-1] > 1 else t

    return tolerance.Bound(tuple(tolerance.Part(cut(p.terms), cut(p.magnitude), p.dtype)
                                 for p in bound.parts))


def _expected_weight_loader(case: Case) -> list[Expected]:
    """Per rank: the reference's ``weight_loader(weight, loaded_weight)`` on a layer
    holding the rank's state: its error class and the state it leaves (S3.9)."""
    if case.config.family != "vocab_parallel":
        raise ValueError("weight_loader is a vocab_parallel method")
    build_errors = [e.error for e in _expected_build(case)]
    if any(build_errors):
        return [Expected(error=e) for e in build_errors]
    layers = _reference_world(case.config, case.world.size, case.states)
    expected = []
    for rank, layer in enumerate(layers):
        error = _error_of(lambda layer=layer: layer.weight_loader(
            layer.weight, case.loaded_weight.clone()))
        expected.append(Expected(
            error=error, state_before=case.states[rank],
            state_after=None if error else {"weight": layer.weight.detach().clone()}))
    return expected


# ---------------------------------------------------------------------------------------
# Comparison


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
    referenced = want.renorm.referenced.nonzero().reshape(-1)
    assert_rows_unchanged_except(before, after, referenced,
                                 what="stored shard after the forward (rows not referenced)")
    target = _nearer_renorm_choice(case, want, after, start, end)
    assert_within(after, target, _columns(want.renorm.bound, start, end),
                  what=f"stored shard (columns [{start}, {end})) after the max_norm renorm, "
                       "full-row norm (referenced rows)")


def _nearer_renorm_choice(case: Case, want: Expected, after: torch.Tensor, start: int,
                          end: int) -> torch.Tensor:
    """The reference's shard after the renorm, where each ambiguous row (full norm within
    rounding of ``max_norm``) takes whichever acceptable value is nearer the backend's."""
    config = case.config
    expected = want.state_after["weight"].clone()
    rows = want.renorm.ambiguous.nonzero().reshape(-1)
    if rows.numel() == 0:
        return expected
    world = case.world
    full_before = torch.cat([case.states[r]["weight"] for r in range(world.size)], dim=1)
    norms = tolerance.row_norms(full_before[rows], config.norm_type).unsqueeze(1)
    before = want.state_before["weight"][rows]
    renormed = (before.to(torch.float64) * (config.max_norm / (norms + 1e-7))).to(before.dtype)
    reference_renormed = expected[rows].ne(before).any(dim=1, keepdim=True)
    other = torch.where(reference_renormed, before, renormed)
    if after.shape[1] == 0:
        return expected
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


# ---------------------------------------------------------------------------------------
# Checks


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

