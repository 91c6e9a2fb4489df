"""``get_masked_input_and_mask``: the id -> local row mapping of one rank (S3.4)."""

from __future__ import annotations

import pytest
import torch
from embedspec.reference.vocab_parallel_sizes import VocabLayout, get_masked_input_and_mask


def _mask_for(layout: VocabLayout, rank: int, ids: torch.Tensor):
    s = layout.shard_indices(rank)
    return get_masked_input_and_mask(ids, s.org_vocab_start_index, s.org_vocab_end_index,
                                     s.num_org_vocab_padding, s.added_vocab_start_index,
                                     s.added_vocab_end_index)


def test_hand_computed_rank_0_and_rank_1():
    """num 12 (org 10), padding 8, world 2. Rank 0: base ids 0-7 in rows 0-7, added ids
    10-11 in rows 8-9. Rank 1: base ids 8-9 in rows 0-1 (then 6 padding rows)."""
    layout = VocabLayout.create(12, 10, 8, 2)
    ids = torch.tensor([0, 7, 8, 9, 10, 11])
    masked, mask = _mask_for(layout, 0, ids)
    assert masked.tolist() == [0, 7, 0, 0, 8, 9]
    assert mask.tolist() == [False, False, True, True, False, False]
    masked, mask = _mask_for(layout, 1, ids)
    assert masked.tolist() == [0, 0, 0, 1, 0, 0]
    assert mask.tolist() == [True, True, False, False, True, True]


def test_added_ids_land_after_the_base_padding():
    """An added id t maps to t - added_start + num_org_elements + num_org_vocab_padding."""
    masked, mask = get_masked_input_and_mask(torch.tensor([3, 5, 20, 21, 22]), 3, 6, 2, 20, 22)
    assert masked.tolist() == [0, 2, 5, 6, 0]
    assert mask.tolist() == [False, False, False, False, True]


def test_worked_example_f3_3():
    layout = VocabLayout.create(1026, 1010, 64, 2)
    ids = torch.tensor([0, 511, 512, 1009, 1010, 1025])
    masked, mask = _mask_for(layout, 0, ids)
    assert masked.tolist() == [0, 511, 0, 0, 512, 527]
    assert mask.tolist() == [False, False, True, True, False, False]
    masked, mask = _mask_for(layout, 1, ids)
    assert masked.tolist() == [0, 0, 0, 497, 0, 0]
    assert mask.tolist() == [True, True, False, False, True, True]


def test_world_size_1_remaps_added_ids_too():
    """At tp_size 1 added ids still move past the base padding (S3.10; upstream reads
    the base padding rows instead)."""
    layout = VocabLayout.create(12, 10, 8, 1)
    masked, mask = _mask_for(layout, 0, torch.tensor([9, 10, 11]))
    assert masked.tolist() == [9, 16, 17]
    assert not mask.any()


def test_exactly_one_rank_owns_each_valid_id():
    layout = VocabLayout.create(50, 30, 8, 4)
    ids = torch.arange(50)
    owners = torch.stack([~_mask_for(layout, r, ids)[1] for r in range(4)])
    assert owners.sum(0).tolist() == [1] * 50


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
def test_shape_dtype_and_device_are_kept(dtype):
    ids = torch.tensor([[0, 11], [8, 10], [3, 9]], dtype=dtype).t()  # non-contiguous
    masked, mask = get_masked_input_and_mask(ids, 8, 10, 6, 10, 12)
    assert masked.dtype == dtype and masked.shape == ids.shape
    assert mask.dtype == torch.bool and mask.shape == ids.shape
    assert masked.tolist() == [[0, 0, 0], [9, 8, 1]]
    assert mask.tolist() == [[True, False, True], [False, False, False]]


def test_zero_dim_and_empty_inputs():
    masked, mask = get_masked_input_and_mask(torch.tensor(9), 8, 10, 6, 10, 12)
    assert masked.shape == () and masked.item() == 1 and not mask.item()
    masked, mask = get_masked_input_and_mask(torch.empty(0, 3, dtype=torch.int64), 0, 8, 0, 10, 12)
    assert masked.shape == mask.shape == (0, 3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.int16, torch.uint8, torch.bool])
def test_bad_index_dtype_raises_type_error(dtype):
    with pytest.raises(TypeError):
        get_masked_input_and_mask(torch.zeros(3, dtype=dtype), 0, 8, 0, 10, 12)


def test_bad_ranges_raise_value_error():
    with pytest.raises(ValueError, match="org_vocab_end_index"):
        get_masked_input_and_mask(torch.tensor([1]), 8, 4, 0, 10, 12)
    with pytest.raises(ValueError, match="num_org_vocab_padding"):
        get_masked_input_and_mask(torch.tensor([1]), 0, 8, -1, 10, 12)
    with pytest.raises(ValueError, match="added_vocab_end_index"):
        get_masked_input_and_mask(torch.tensor([1]), 0, 8, 0, 12, 10)
