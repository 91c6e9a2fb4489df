"""Vocab-parallel sizes, shard indices and the sharded-to-full mapping (S3.1-S3.3, S3.7)."""

from __future__ import annotations

import pytest
import torch
from embedspec.reference.configs import VocabParallelConfig
from embedspec.reference.vocab_parallel import VocabParallelEmbedding, build_world
from embedspec.reference.vocab_parallel_sizes import (
    DEFAULT_VOCAB_PADDING_SIZE,
    VocabLayout,
    VocabParallelEmbeddingShardIndices,
    pad_vocab_size,
    vocab_range_from_global_vocab_size,
    vocab_range_from_per_partition_vocab_size,
)


def test_default_padding_size_is_64():
    assert DEFAULT_VOCAB_PADDING_SIZE == 64


@pytest.mark.parametrize(("size", "pad_to", "expected"), [
    (0, 64, 0), (1, 64, 64), (64, 64, 64), (65, 64, 128), (1010, 64, 1024), (1040, 64, 1088),
    (5, 4, 8), (7, 1, 7),
])
def test_pad_vocab_size(size, pad_to, expected):
    assert pad_vocab_size(size, pad_to) == expected


@pytest.mark.parametrize(("size", "pad_to", "name"), [
    (-1, 64, "vocab_size"), (10, 0, "pad_to"), (10, -8, "pad_to"), (True, 64, "vocab_size"),
    (10.0, 64, "vocab_size"),
])
def test_pad_vocab_size_rejects_bad_arguments(size, pad_to, name):
    with pytest.raises(ValueError, match=name):
        pad_vocab_size(size, pad_to)


def test_vocab_ranges():
    assert tuple(vocab_range_from_per_partition_vocab_size(16, 2)) == (32, 48)
    assert tuple(vocab_range_from_per_partition_vocab_size(16, 2, offset=10)) == (42, 58)
    assert tuple(vocab_range_from_global_vocab_size(64, 1, 4)) == (16, 32)
    assert tuple(vocab_range_from_global_vocab_size(32, 1, 2, offset=1010)) == (1026, 1042)


def test_global_vocab_range_needs_divisibility_and_a_valid_rank():
    with pytest.raises(ValueError, match="not divisible by world_size"):
        vocab_range_from_global_vocab_size(64, 0, 3)
    with pytest.raises(ValueError, match="rank"):
        vocab_range_from_global_vocab_size(64, 4, 4)
    with pytest.raises(ValueError, match="world_size"):
        vocab_range_from_global_vocab_size(64, 0, 0)


def _indices(**fields: int) -> VocabParallelEmbeddingShardIndices:
    return VocabParallelEmbeddingShardIndices(**fields)


def test_worked_example_f3_3():
    """org 1010, added 16, padding 64, world 2 (S3.3)."""
    layout = VocabLayout.create(1026, 1010, 64, 2)
    assert (layout.org_vocab_size, layout.num_added_embeddings) == (1010, 16)
    assert (layout.org_vocab_size_padded, layout.num_embeddings_padded) == (1024, 1088)
    assert layout.num_embeddings_per_partition == 544
    assert layout.shard_indices(0) == _indices(
        padded_org_vocab_start_index=0, padded_org_vocab_end_index=512,
        padded_added_vocab_start_index=1010, padded_added_vocab_end_index=1042,
        org_vocab_start_index=0, org_vocab_end_index=512,
        added_vocab_start_index=1010, added_vocab_end_index=1026)
    assert layout.shard_indices(1) == _indices(
        padded_org_vocab_start_index=512, padded_org_vocab_end_index=1024,
        padded_added_vocab_start_index=1042, padded_added_vocab_end_index=1074,
        org_vocab_start_index=512, org_vocab_end_index=1010,
        added_vocab_start_index=1026, added_vocab_end_index=1026)
    r0, r1 = layout.shard_indices(0), layout.shard_indices(1)
    assert (r0.num_org_elements, r0.num_org_elements_padded, r0.num_org_vocab_padding) == \
        (512, 512, 0)
    assert (r0.num_added_elements, r0.num_added_elements_padded, r0.num_added_vocab_padding) == \
        (16, 32, 16)
    assert (r1.num_org_elements, r1.num_org_elements_padded, r1.num_org_vocab_padding) == \
        (498, 512, 14)
    assert (r1.num_added_elements, r1.num_added_elements_padded, r1.num_added_vocab_padding) == \
        (0, 32, 32)
    assert r0.num_elements_padded == r1.num_elements_padded == 544


def test_worked_example_layer_attributes():
    layer = VocabParallelEmbedding(1026, 3, org_num_embeddings=1010, tp_rank=1, tp_size=2)
    assert layer.weight.shape == (544, 3)
    assert layer.org_vocab_size == 1010
    assert layer.org_vocab_size_padded == 1024
    assert layer.num_embeddings_padded == 1088
    assert layer.num_added_embeddings == 16
    assert layer.num_embeddings_per_partition == 544
    assert layer.num_org_embeddings_per_partition == 498
    assert layer.num_added_embeddings_per_partition == 0
    assert layer.shard_indices == VocabLayout.create(1026, 1010, 64, 2).shard_indices(1)


def test_vocab_10_over_world_4_gives_empty_real_ranges_to_ranks_1_to_3():
    layout = VocabLayout.create(10, None, 64, 4)
    assert layout.num_embeddings_per_partition == 16
    s0 = layout.shard_indices(0)
    assert (s0.org_vocab_start_index, s0.org_vocab_end_index) == (0, 10)
    assert (s0.padded_org_vocab_start_index, s0.padded_org_vocab_end_index) == (0, 16)
    assert s0.num_org_vocab_padding == 6
    for rank in (1, 2, 3):
        s = layout.shard_indices(rank)
        assert (s.org_vocab_start_index, s.org_vocab_end_index) == (10, 10)
        assert (s.padded_org_vocab_start_index, s.padded_org_vocab_end_index) == \
            (16 * rank, 16 * rank + 16)
        assert (s.num_org_elements, s.num_org_vocab_padding, s.num_added_elements) == (0, 16, 0)
    world = build_world(VocabParallelConfig(10, 2), 4)
    assert [layer.weight.shape[0] for layer in world] == [16] * 4


def test_org_num_embeddings_defaults_to_num_embeddings():
    layout = VocabLayout.create(100)
    assert (layout.org_vocab_size, layout.num_added_embeddings) == (100, 0)
    assert layout.num_embeddings_padded == layout.org_vocab_size_padded == 128


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"num_embeddings": 10, "org_num_embeddings": 11}, "org_num_embeddings"),
    ({"num_embeddings": 10, "org_num_embeddings": 0}, "org_num_embeddings"),
    ({"num_embeddings": -1}, "num_embeddings"),
    ({"num_embeddings": 10, "padding_size": 0}, "padding_size"),
    ({"num_embeddings": 10, "padding_size": 2.5}, "padding_size"),
    ({"num_embeddings": 10, "tp_size": 0}, "tp_size"),
    ({"num_embeddings": 10, "tp_size": 3}, "padded base vocab size 64"),
    ({"num_embeddings": 13, "org_num_embeddings": 12, "padding_size": 6, "tp_size": 4},
     "padded vocab size 18"),
])
def test_layout_preconditions_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VocabLayout.create(**kwargs)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"tp_rank": 2, "tp_size": 2}, "tp_rank"),
    ({"tp_rank": -1, "tp_size": 2}, "tp_rank"),
    ({"embedding_dim": -1}, "embedding_dim"),
    ({"params_dtype": torch.int32}, "params_dtype"),
    ({"org_num_embeddings": 40}, "org_num_embeddings"),
    ({"padding_size": 7, "tp_size": 2}, "tp_size"),
    ({"device": "nowhere"}, "device"),
])
def test_layer_rejects_bad_configuration(kwargs, message):
    args = {"num_embeddings": 32, "embedding_dim": 4, **kwargs}
    with pytest.raises(ValueError, match=message):
        VocabParallelEmbedding(**args)


@pytest.mark.parametrize(("fields", "message"), [
    ({"org_vocab_start_index": 5, "org_vocab_end_index": 4}, "exceeds org_vocab_end_index"),
    ({"org_vocab_end_index": 20}, "exceeds padded_org_vocab_end_index"),
    ({"org_vocab_start_index": 1}, "exceeds padded_org_vocab_start_index"),
    ({"added_vocab_end_index": 40}, "exceeds padded_added_vocab_end_index"),
    ({"padded_added_vocab_start_index": 33}, "exceeds padded_added_vocab_end_index"),
    ({"org_vocab_start_index": -1}, "org_vocab_start_index"),
])
def test_shard_indices_invariants(fields, message):
    valid = {"padded_org_vocab_start_index": 0, "padded_org_vocab_end_index": 16,
             "padded_added_vocab_start_index": 10, "padded_added_vocab_end_index": 32,
             "org_vocab_start_index": 0, "org_vocab_end_index": 10,
             "added_vocab_start_index": 10, "added_vocab_end_index": 12}
    _indices(**valid)
    with pytest.raises(ValueError, match=message):
        _indices(**{**valid, **fields})


@pytest.mark.parametrize(("num", "org", "padding", "tp"), [
    (1026, 1010, 64, 2), (10, None, 64, 4), (12, 10, 8, 2), (50, 30, 8, 4), (9, 9, 1, 3),
    (0, None, 64, 2),
])
def test_every_rank_satisfies_the_layout(num, org, padding, tp):
    layout = VocabLayout.create(num, org, padding, tp)
    owned = []
    for rank in range(tp):
        s = layout.shard_indices(rank)
        assert s.num_elements_padded == layout.num_embeddings_per_partition
        owned.extend(range(s.org_vocab_start_index, s.org_vocab_end_index))
        owned.extend(range(s.added_vocab_start_index, s.added_vocab_end_index))
    assert sorted(owned) == list(range(num))


def test_sharded_to_full_mapping_hand_computed():
    """num 12 (org 10), padding 8, world 2: rank 0 holds ids 0-7, then ids 10-11, then two
    padding rows; rank 1 holds ids 8-9, six base padding rows and four added padding rows."""
    layer = VocabParallelEmbedding(12, 2, org_num_embeddings=10, padding_size=8, tp_size=2)
    assert layer.get_sharded_to_full_mapping() == [
        0, 1, 2, 3, 4, 5, 6, 7, 12, 13,       # base rows, rank by rank
        8, 9,                                 # added rows
        10, 11, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,  # padding rows
    ]


def test_sharded_to_full_mapping_is_none_below_world_size_2():
    assert VocabParallelEmbedding(12, 2, org_num_embeddings=10).get_sharded_to_full_mapping() \
        is None


@pytest.mark.parametrize(("num", "org", "padding", "tp"), [
    (1026, 1010, 64, 2), (10, None, 64, 4), (12, 10, 8, 2), (50, 30, 8, 4), (23, 17, 4, 4),
])
def test_reindexing_gathered_shards_restores_token_order(num, org, padding, tp):
    torch.manual_seed(0)
    world = build_world(VocabParallelConfig(num, 3, org, padding), tp)
    gathered = torch.cat([layer.weight.detach() for layer in world])
    mapping = world[0].get_sharded_to_full_mapping()
    assert sorted(mapping) == list(range(len(gathered)))
    torch.manual_seed(0)
    full = torch.empty(num, 3).normal_()
    reordered = gathered[mapping]
    assert torch.equal(reordered[:num], full)
    assert not reordered[num:].any()
