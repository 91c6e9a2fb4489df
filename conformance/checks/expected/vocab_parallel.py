"""What every rank of a vocab-parallel case must observe (S3), from the reference
simulating the world (:func:`embedspec.reference.vocab_parallel.world_forward`).

* ``build``: a bad configuration raises the reference constructor's ``ValueError`` on
  every rank (S0.5).
* A forward: an invalid input makes every rank raise, shards unchanged (S0.2-S0.4);
  otherwise every rank returns the all-reduced output, bitwise the rows of the ids;
  rank r's gradient is its shard of the unsharded gradient of *its own* output gradient
  (identity backward of the all-reduce), within the S0.7 bound, vocab padding rows
  exactly zero. The weight is unchanged by a forward.
* ``mapping``: every rank's ``get_sharded_to_full_mapping()`` is the reference's (S3.7).
* ``weight_loader``: a bad checkpoint makes ``weight_loader`` raise ``ValueError`` on
  every rank, leaving every shard unchanged; a good one leaves each rank holding what
  the reference's rank holds after loading it (S3.9).
"""

from __future__ import annotations

import torch
from embedspec.conformance.checks import tolerance
from embedspec.conformance.checks.case import Case
from embedspec.conformance.checks.expected.common import (
    error_of,
    errors_on_every_process,
    grad_of,
    input_errors,
    multi_rank_build_errors,
    multi_rank_layer,
    reference_world,
)
from embedspec.conformance.checks.expected.model import Expected
from embedspec.conformance.checks.states import vocab_row_map
from embedspec.reference import vocab_parallel as ref_vocab
from embedspec.reference.configs import VocabParallelConfig


def expected(case: Case) -> list[Expected]:
    """Every rank's :class:`Expected` of a vocab-parallel ``case``."""
    if case.world.dp_size != 1:
        raise ValueError(f"vocab_parallel has no data-parallel replicas; got world "
                         f"{case.world}")
    build = errors_on_every_process(case, multi_rank_build_errors(case), keep_state=False)
    if build is not None or case.action == "build":
        return build or [Expected() for _ in range(case.world.nprocs)]
    if case.action == "weight_loader":
        return _weight_loader(case)
    if case.action == "mapping":
        layers = reference_world(case.config, case.world.size, case.states) if case.states \
            else [multi_rank_layer(case.config, r, case.world.size)
                  for r in range(case.world.size)]
        return [Expected(reports={"mapping": layer.get_sharded_to_full_mapping()})
                for layer in layers]
    if case.action != "forward":
        raise ValueError(f"vocab_parallel has no expectation for action {case.action!r}")
    return input_errors(case) or _forward(case)


def _forward(case: Case) -> list[Expected]:
    config, world = case.config, case.world
    layers = reference_world(config, world.size, case.states[:world.size])
    outputs = ref_vocab.world_forward(layers, case.inputs[0])
    expected = [Expected(output=outputs[rank].detach(),
                         state_after={"weight": layers[rank].weight.detach().clone()})
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
    """The S0.7 bound of a rank's gradient of its shard, from the unsharded bound mapped
    to the rank's local rows (a vocab padding row must be exactly zero)."""
    if grad_output.shape[-1] == 0:
        return tolerance.Bound()  # nothing to bound
    full = tolerance.weight_gradient(indices, grad_output, config.num_embeddings, dtype=dtype)
    row_map = vocab_row_map(config, world_size, rank)
    keep = (row_map >= 0).to(torch.float64).unsqueeze(1)
    rows = row_map.clamp(min=0)

    def local(t: torch.Tensor) -> torch.Tensor:
        return t if t.dim() == 0 else t[rows] * keep

    return tolerance.Bound(tuple(tolerance.Part(local(p.terms), local(p.magnitude), p.dtype)
                                 for p in full.parts))


def _weight_loader(case: Case) -> list[Expected]:
    layers = reference_world(case.config, case.world.size, case.states)
    expected = []
    for rank, layer in enumerate(layers):
        error = error_of(lambda layer=layer: layer.weight_loader(
            layer.weight, case.loaded_weight.clone()))
        expected.append(Expected(
            error=error, state_before=case.states[rank],
            state_after=None if error else {"weight": layer.weight.detach().clone()}))
    return expected
