"""Failure messages name what the first differing element is in the spec: the padding
row, a vocab padding row, an added-vocab id, an id outside the rank's shard, a row the
renorm changed or had to leave alone, the column of the full row a shard stores."""

from __future__ import annotations

import pytest
import torch
from embedspec.conformance.checks import Case, RankOutcome, World
from embedspec.conformance.checks.compare import compare
from embedspec.conformance.checks.expected import Expected, Renorm
from embedspec.conformance.checks.roles import output_role, table_role
from embedspec.conformance.checks.tolerance import Bound
from embedspec.reference.configs import EmbeddingConfig, ShardedConfig, VocabParallelConfig

#: 10 ids, 8 of them base vocab; at world 2 rank 0 holds ids 0-3 and the added ids 8, 9,
#: rank 1 ids 4-7 and two vocab padding rows.
VOCAB = VocabParallelConfig(num_embeddings=10, embedding_dim=2, org_num_embeddings=8,
                            padding_size=4)


def test_the_padding_row_of_a_gradient_is_named_in_the_message():
    config = EmbeddingConfig(4, 2, padding_idx=-1)
    indices = torch.tensor([3, 3, 1])
    case = Case(config, states=[{"weight": torch.ones(4, 2)}], inputs=[indices],
                grad_outputs=[torch.ones(3, 2)])
    want = torch.zeros(4, 2)
    want[1] = 1.0
    got = want.clone()
    got[3] = 2.0
    outcome = RankOutcome(output=torch.ones(3, 2), grads={"weight": got},
                          state_after={"weight": torch.ones(4, 2)},
                          extra={"output_device": "cpu"})
    expected = Expected(output=torch.ones(3, 2), state_after={"weight": torch.ones(4, 2)},
                        grads={"weight": want}, grad_bounds={"weight": Bound()})
    with pytest.raises(AssertionError, match=r"first at index \(3, 0\) \(row 3: the padding "
                                             r"row, looked up 2 times by the input\)"):
        compare(case, [outcome], [expected])


def test_an_output_position_names_the_id_it_looks_up():
    case = Case(EmbeddingConfig(5, 2, padding_idx=2), inputs=[torch.tensor([[0, 2]])])
    role = output_role(case)
    assert role((0, 1, 0)) == "position (0, 1) looks up id 2: the padding row"
    assert role((0, 0, 1)) == "position (0, 0) looks up id 0"
    assert output_role(Case(EmbeddingConfig(5, 2), inputs=[torch.tensor(4)]))((1,)) == \
        "the 0-d input looks up id 4"


def test_vocab_parallel_ids_are_named_by_their_shard():
    case = Case(VOCAB, inputs=[torch.tensor([9, 5])] * 2, world=World(2))
    assert output_role(case, 0)((0, 0)) == ("position (0,) looks up id 9: an added-vocab id, "
                                            "in this rank's shard")
    assert output_role(case, 0)((1, 0)) == ("position (1,) looks up id 5: held by rank 1, "
                                            "not this rank's shard")
    assert table_role(case, 1)((4, 1)) == "local row 4 of rank 1: a vocab padding row"
    assert table_role(case, 0, lookups=True)((5, 0)) == (
        "local row 5 holds id 9: an added-vocab id, in this rank's shard, looked up 1 time "
        "by the input")


def test_renormed_rows_are_named():
    table = torch.ones(4, 2)
    renorm = Renorm(loaded=table, may_change=torch.tensor([1, 3]), ambiguous=torch.tensor([3]),
                    alternative=table, bound=Bound())
    case = Case(EmbeddingConfig(4, 2, max_norm=1.0), states=[{"weight": table}],
                inputs=[torch.tensor([1, 3])])
    role = table_role(case, 0, renorm, lookups=True)
    assert role((1, 0)) == "row 1: renormed by max_norm, looked up 1 time by the input"
    assert role((3, 0)).startswith("row 3: its norm is within rounding of max_norm")
    assert role((0, 1)) == ("row 0: not renormed (must stay as loaded), not looked up by the "
                            "input")


def test_a_shard_column_is_named_in_the_full_row():
    case = Case(ShardedConfig(3, 5, padding_idx=0), inputs=[torch.tensor([1])] * 2,
                world=World(2))
    assert table_role(case, 1)((0, 1)) == ("row 0: the padding row, column 1 of rank 1's block "
                                           "is column 4 of the full row")


def test_a_role_that_fails_never_hides_the_failure():
    from embedspec.conformance.checks.assertions import assert_exact

    def broken(index):
        raise RuntimeError("no role")

    with pytest.raises(AssertionError, match=r"first at index \(0,\): got 1.0"):
        assert_exact(torch.ones(1), torch.zeros(1), role=broken)


def test_a_sparse_gradient_names_the_table_row_of_its_values():
    from embedspec.conformance.checks.compare import compare_grads

    case = Case(EmbeddingConfig(6, 2, padding_idx=4), inputs=[torch.tensor([1, 4])])
    def sparse(values):
        return torch.sparse_coo_tensor([[1, 4]], torch.tensor(values), (6, 2),
                                       check_invariants=True)

    want, got = sparse([[1.0, 1.0], [0.0, 0.0]]), sparse([[1.0, 1.0], [0.0, 3.0]])
    with pytest.raises(AssertionError, match=r"first at index \(1, 1\) \(row 4: the padding "
                                             r"row, looked up 1 time by the input\)"):
        compare_grads({"weight": got}, {"weight": want}, {},
                      role=table_role(case, lookups=True))
