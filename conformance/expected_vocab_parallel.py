"""What every rank of a vocab-parallel case must observe (S3), from the reference
simulating the world (:func:`embedspec.reference.vocab_parallel.world_forward`).

Forward: every rank returns the all-reduced output, bitwise the rows of the ids; rank
r's gradient is its shard of the unsharded gradient of *its own* output gradient
(identity backward of the all-reduce), within the S0.7 bound, vocab padding rows
exactly zero. The weight is unchanged by a forward.

``weight_loader``: a bad checkpoint makes ``weight_loader`` raise ``ValueError`` on
every rank, leaving every shard unchanged; a good one leaves each rank holding what
the reference's rank holds after loading it (S3.9).

Errors of a bad configuration or input are those of
:mod:`~embedspec.conformance.expected_world`.
"""

from __future__ import annotations

import torch
from embedspec.conformance import tolerance
from embedspec.conformance.case import Case
from embedspec.conformance.expected_world import (
    Expected,
    error_of,
    expected_build,
    expected_errors,
    grad_of,
    reference_world,
)
from embedspec.conformance.world_states import vocab_row_map
from embedspec.reference import vocab_parallel as ref_vocab
from embedspec.reference.configs import VocabParallelConfig


def expected_forward(case: Case) -> list[Expected]:
    """Every rank's :class:`Expected` for a forward (and backward) of ``case``."""
    errors = expected_errors(case)
    if errors is not None:
        return errors
    config, world = case.config, case.world
    layers = reference_world(config, world.size, case.states[:world.size])
    outputs = ref_vocab.world_forward(layers, case.inputs[0])
    expected = [Expected(output=outputs[rank].detach(),
                         state_after={"weight": layers[rank].weight.detach().clone()},
                         state_before=case.states[rank])
                for rank in range(world.size)]
    if case.grad_outputs is not None:
        for rank, layer in enumerate(layers):
            grad_output = case.grad_outputs[rank]
            expected[rank].grads = {"weight": grad_of(outputs[rank], layer.weight,
                                                      grad_output)}
            expected[rank].grad_bounds = {"weight": gradient_bound(
                config, world.size, rank, case.inputs[0], grad_output, layer.weight.dtype)}
    return expected


def gradient_bound(config: VocabParallelConfig, world_size: int, rank: int,
                   indices: torch.Tensor, grad_output: torch.Tensor,
                   dtype: torch.dtype) -> tolerance.Bound:
    """The S0.7 bound of a rank's gradient of its shard, from the unsharded bound."""
    if grad_output.shape[-1] == 0:
        return tolerance.Bound()  # nothing to bound
    full = tolerance.weight_gradient(indices, grad_output, config.num_embeddings, dtype=dtype)
    return _local_rows(full, vocab_row_map(config, world_size, rank))


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


def expected_weight_loader(case: Case) -> list[Expected]:
    """Per rank: the reference's ``weight_loader(weight, loaded_weight)`` on a layer
    holding the rank's state: its error class and the state it leaves (S3.9)."""
    if case.config.family != "vocab_parallel":
        raise ValueError("weight_loader is a vocab_parallel method")
    build_errors = [e.error for e in expected_build(case)]
    if any(build_errors):
        return [Expected(error=e) for e in build_errors]
    layers = reference_world(case.config, case.world.size, case.states)
    expected = []
    for rank, layer in enumerate(layers):
        error = error_of(lambda layer=layer: layer.weight_loader(
            layer.weight, case.loaded_weight.clone()))
        expected.append(Expected(
            error=error, state_before=case.states[rank],
            state_after=None if error else {"weight": layer.weight.detach().clone()}))
    return expected
