"""``weight_loader``: base-only or full checkpoints, anything else rejected atomically (S3.9)."""

from __future__ import annotations

import pytest
import torch
from embedspec.reference.configs import VocabParallelConfig
from embedspec.reference.vocab_parallel import (
    VocabParallelEmbedding,
    build_world,
    full_weight,
    world_forward,
)

CONFIG = VocabParallelConfig(num_embeddings=12, embedding_dim=2, org_num_embeddings=10,
                             padding_size=8)


def _table(rows: int, dim: int = 2) -> torch.Tensor:
    """Row t holds t + 1 in every column, so a copied row names its id."""
    return (torch.arange(rows, dtype=torch.float32) + 1).unsqueeze(1).repeat(1, dim)


def _load(world, loaded):
    for layer in world:
        layer.weight_loader(layer.weight, loaded)


def _ids_in_rows(layer) -> list[int]:
    """The id each local row holds (0 for a zero row)."""
    return [int(v) - 1 if v else -1 for v in layer.weight.detach()[:, 0].tolist()]


def test_base_only_checkpoint_zero_fills_added_rows():
    world = build_world(CONFIG, 2)
    _load(world, _table(10))
    assert _ids_in_rows(world[0]) == [0, 1, 2, 3, 4, 5, 6, 7, -1, -1, -1, -1]
    assert _ids_in_rows(world[1]) == [8, 9] + [-1] * 10
    assert torch.equal(full_weight(world)[:10], _table(10))
    assert not full_weight(world)[10:].any()


def test_full_checkpoint_loads_base_then_added_rows():
    world = build_world(CONFIG, 2)
    _load(world, _table(12))
    assert _ids_in_rows(world[0]) == [0, 1, 2, 3, 4, 5, 6, 7, 10, 11, -1, -1]
    assert _ids_in_rows(world[1]) == [8, 9] + [-1] * 10
    assert torch.equal(full_weight(world), _table(12))
    ids = torch.tensor([11, 0, 9])
    assert all(torch.equal(out, _table(12)[ids]) for out in world_forward(world, ids))


def test_full_checkpoint_at_world_size_1():
    layer = build_world(CONFIG, 1)[0]
    layer.weight_loader(layer.weight, _table(12))
    assert _ids_in_rows(layer) == list(range(10)) + [-1] * 6 + [10, 11] + [-1] * 6
    assert torch.equal(layer(torch.tensor([10, 11])), _table(12)[10:12])


def test_loading_overwrites_padding_rows_with_zeros():
    layer = build_world(CONFIG, 1)[0]
    with torch.no_grad():
        layer.weight.fill_(5.0)
    layer.weight_loader(layer.weight, _table(10))
    assert not layer.weight.detach()[10:].any()


def test_without_added_vocab_only_one_shape_exists():
    layer = VocabParallelEmbedding(10, 2, padding_size=8)
    layer.weight_loader(layer.weight, _table(10))
    assert torch.equal(layer.weight.detach()[:10], _table(10))
    with pytest.raises(ValueError):
        layer.weight_loader(layer.weight, _table(12))


def test_loaded_values_are_cast_to_the_parameter_dtype():
    layer = VocabParallelEmbedding(**CONFIG.replace(params_dtype=torch.bfloat16).as_kwargs())
    layer.weight_loader(layer.weight, _table(12).double())
    assert layer.weight.dtype == torch.bfloat16
    assert torch.equal(layer(torch.tensor([11])), torch.full((1, 2), 12.0, dtype=torch.bfloat16))


@pytest.mark.parametrize("bad", [
    _table(11), _table(13), _table(12, 3), _table(10, 1), torch.ones(12), torch.ones(1, 12, 2),
    torch.ones(12, 2, dtype=torch.int64), [[1.0, 2.0]] * 12, None,
], ids=["11-rows", "13-rows", "dim-3", "base-dim-1", "1-d", "3-d", "int64", "list", "none"])
def test_any_other_checkpoint_is_rejected_without_touching_the_weights(bad):
    world = build_world(CONFIG, 2)
    before = [layer.weight.detach().clone() for layer in world]
    for layer in world:
        with pytest.raises(ValueError, match="loaded_weight"):
            layer.weight_loader(layer.weight, bad)
    assert all(torch.equal(layer.weight.detach(), b) for layer, b in zip(world, before,
                                                                          strict=True))


def test_param_must_be_the_layer_weight():
    a, b = build_world(CONFIG, 2)
    before = a.weight.detach().clone()
    with pytest.raises(ValueError, match="param"):
        a.weight_loader(b.weight, _table(12))
    assert torch.equal(a.weight.detach(), before)
