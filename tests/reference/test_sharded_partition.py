"""Splitting the embedding dimension over ranks (S4.1)."""

from __future__ import annotations

import pytest
from embedspec.reference.partition import PARTITIONS, column_range, partition_sizes
from embedspec.reference.sharded import ShardedEmbedding


def test_partitions():
    assert PARTITIONS == ("balanced", "even")


def test_balanced_split_of_10_over_4():
    assert partition_sizes(10, 4, "balanced") == [3, 3, 2, 2]
    assert [column_range(10, r, 4, "balanced") for r in range(4)] == \
        [(0, 3), (3, 6), (6, 8), (8, 10)]
    assert [ShardedEmbedding(5, 10, rank=r, world_size=4).weight.shape[1]
            for r in range(4)] == [3, 3, 2, 2]


def test_balanced_with_fewer_columns_than_ranks():
    assert partition_sizes(2, 4) == [1, 1, 0, 0]
    assert [column_range(2, r, 4) for r in range(4)] == [(0, 1), (1, 2), (2, 2), (2, 2)]
    assert partition_sizes(0, 3) == [0, 0, 0]


@pytest.mark.parametrize("dim", range(0, 14))
@pytest.mark.parametrize("world_size", range(1, 7))
def test_balanced_rule(dim, world_size):
    """Rank i holds D div P columns plus one if i < D mod P, starting at
    (D div P) * i + min(i, D mod P); the blocks tile [0, D) in rank order."""
    q, m = divmod(dim, world_size)
    end = 0
    for rank in range(world_size):
        start, stop = column_range(dim, rank, world_size)
        assert start == q * rank + min(rank, m) == end
        assert stop - start == q + (rank < m)
        end = stop
    assert end == dim


def test_even_split():
    assert partition_sizes(12, 4, "even") == [3, 3, 3, 3]
    assert column_range(12, 2, 4, "even") == (6, 9)


@pytest.mark.parametrize(("dim", "world_size"), [(12, 4), (8, 2), (6, 6), (5, 1), (0, 3)])
def test_even_equals_balanced_where_it_divides(dim, world_size):
    assert partition_sizes(dim, world_size, "even") == partition_sizes(dim, world_size)


def test_even_split_needs_divisibility():
    with pytest.raises(ValueError, match=r"embedding_dim=10.*partition='even'"):
        partition_sizes(10, 4, "even")
    with pytest.raises(ValueError, match=r"embedding_dim=10.*partition='even'"):
        ShardedEmbedding(5, 10, partition="even", world_size=4)


@pytest.mark.parametrize(("args", "name"), [
    ((10, 0), "world_size"), ((-1, 2), "embedding_dim"), ((10, 2, "cyclic"), "partition"),
])
def test_bad_arguments(args, name):
    with pytest.raises(ValueError, match=name):
        partition_sizes(*args)


def test_column_range_checks_the_rank():
    with pytest.raises(ValueError, match="rank"):
        column_range(10, 4, 4)
