"""The eager backend's own vocab layout and column shards equal the spec's, exhaustively
over small sizes (the conformance suite checks the layers; this pins the arithmetic)."""

from __future__ import annotations

import pytest
import torch
from embedspec.backends.eager.column_shards import column_range, column_sizes
from embedspec.backends.eager.vocab_layout import VocabLayout
from embedspec.reference import column_range as spec_column_range
from embedspec.reference import get_masked_input_and_mask, partition_sizes
from embedspec.reference.vocab_parallel_sizes import VocabLayout as SpecLayout

LAYOUTS = [(v, org, pad, tp) for v in (0, 1, 5, 10, 13) for org in (None, 1, 4, 10)
           for pad in (1, 2, 4, 6) for tp in (1, 2, 3, 4)
           if (org is None or org <= v) and not (v == 0 and org is None and tp > 1)]


def _spec_layout(v: int, org: int | None, pad: int, tp: int) -> SpecLayout | None:
    try:
        return SpecLayout.create(v, org, pad, tp)
    except ValueError:
        return None


@pytest.mark.parametrize(("v", "org", "pad", "tp"), LAYOUTS)
def test_vocab_layout_matches_the_spec(v: int, org: int | None, pad: int, tp: int) -> None:
    spec = _spec_layout(v, org, pad, tp)
    if spec is None:
        with pytest.raises(ValueError):
            VocabLayout.create(v, org, pad, tp)
        return
    ours = VocabLayout.create(v, org, pad, tp)
    assert (ours.org_vocab_size_padded, ours.num_embeddings_padded,
            ours.num_embeddings_per_partition) == (
        spec.org_vocab_size_padded, spec.num_embeddings_padded,
        spec.num_embeddings_per_partition)
    assert ours.sharded_to_full_mapping() == spec.sharded_to_full_mapping()
    ids = torch.arange(-2, spec.num_embeddings_padded + 2)
    full = torch.randn(v, 3)
    for rank in range(tp):
        s, shard = spec.shard_indices(rank), ours.shard(rank)
        want_rows, want_mask = get_masked_input_and_mask(
            ids, s.org_vocab_start_index, s.org_vocab_end_index, s.num_org_vocab_padding,
            s.added_vocab_start_index, s.added_vocab_end_index)
        rows, mask = shard.masked_rows(ids)
        assert torch.equal(rows, want_rows) and torch.equal(mask, want_mask)
        owned = ids[(ids >= 0) & (ids < v)][~want_mask[2:2 + v]]
        assert torch.equal(shard.owned_rows(owned), want_rows[2:2 + v][~want_mask[2:2 + v]])
        local = shard.cut(full)
        assert local.shape == (spec.num_embeddings_per_partition, 3)
        assert torch.equal(local[rows[~mask]], full[ids[~mask]])
        unused = torch.ones(local.shape[0], dtype=torch.bool)
        unused[rows[~mask]] = False
        assert not local[unused].any()


@pytest.mark.parametrize("world_size", [1, 2, 3, 4, 7])
def test_column_shards_match_the_spec(world_size: int) -> None:
    for dim in range(0, 12):
        assert column_sizes(dim, world_size) == partition_sizes(dim, world_size)
        for rank in range(world_size):
            assert column_range(dim, rank, world_size) == spec_column_range(dim, rank,
                                                                            world_size)
