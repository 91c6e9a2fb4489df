"""embedspec.backends.support against the spec's own checks, rule by rule, on edge values:
the same verdict (the same value, or the same error class) for every input, and
messages that name the argument and the value."""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import torch
from embedspec.backends import support
from embedspec.reference import VocabParallelEmbedding
from embedspec.reference import init as spec_init
from embedspec.reference import partition as spec_partition
from embedspec.reference import validation as spec
from embedspec.reference.vocab_parallel_sizes import VocabLayout

ODD = [None, True, False, "3", 2.0, 2.5, float("nan"), float("inf"), -float("inf"),
       torch.tensor(2), np.int64(3), np.float32(1.5), Fraction(3, 2), [1], object()]
INTS = [-(2 ** 70), -3, -1, 0, 1, 2, 7, 2 ** 70]


def verdict(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args, **kwargs)
    except Exception as error:
        return "error", type(error)


def same(ours: Callable[..., Any], theirs: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    got, want = verdict(ours, *args, **kwargs), verdict(theirs, *args, **kwargs)
    assert got == want, (args, kwargs, got, want)
    return got


INDEX_CASES = [
    torch.tensor([0, 4]), torch.tensor([0, 4], dtype=torch.int32), torch.tensor(4),
    torch.empty(0, 3, dtype=torch.int64), torch.tensor([[1, 2], [3, 4]]).t(),
    torch.tensor([-1, 0]), torch.tensor([5]), torch.tensor([0, 5, -3]),
    torch.tensor([2 ** 40]), torch.tensor([True]), torch.tensor([1], dtype=torch.uint8),
    torch.tensor([1], dtype=torch.int8), torch.tensor([1], dtype=torch.int16),
    torch.tensor([1.0]), torch.tensor([1], dtype=torch.float16), [0, 1], 3, None,
    np.array([0, 1]),
]


@pytest.mark.parametrize("indices", INDEX_CASES)
@pytest.mark.parametrize("num_valid", [0, 1, 5])
def test_index_checks_match_the_spec(indices: object, num_valid: int) -> None:
    kind, value = same(support.check_ids, spec.check_indices, indices, num_valid)
    if kind == "ok":
        assert value is indices  # never cast, never copied
    same(support.check_index_dtype, spec.check_index_dtype, indices)


def test_index_errors_name_the_argument_the_id_and_the_range() -> None:
    with pytest.raises(IndexError, match=r"input_ holds id -3, outside the valid range \[0, 5\)"):
        support.check_ids(torch.tensor([0, 5, -3]), 5, "input_")
    with pytest.raises(IndexError, match=r"input holds id 9, outside .*\[0, 5\)"):
        support.check_ids(torch.tensor([[1, 9], [5, 2]]), 5)
    with pytest.raises(TypeError, match=r"ids must have dtype int32 or int64, got torch\.bool"):
        support.check_ids(torch.tensor([True]), 5, "ids")
    with pytest.raises(TypeError, match=r"input must be a torch\.Tensor .* got list"):
        support.check_ids([0], 5)


@pytest.mark.parametrize("indices", INDEX_CASES)
@pytest.mark.parametrize("rows", [0, 1, 5])
def test_gather_checking_ids_raises_what_check_ids_raises(indices: object, rows: int) -> None:
    """The gather's own bounds check stands in for the range check, with the spec's
    errors and messages; the gather sees the indices uncast."""
    table = torch.arange(rows * 2.0).reshape(rows, 2)
    seen = []

    def gather(ids: torch.Tensor) -> torch.Tensor:
        seen.append(ids)
        return torch.embedding(table, ids)

    ours = verdict(support.gather_checking_ids, gather, indices, table)
    kind, value = verdict(lambda i: torch.embedding(table, support.check_ids(i, rows)),
                          indices)
    assert ours[0] == kind, (indices, ours, kind)
    if kind == "ok":
        assert seen[-1] is indices and torch.equal(ours[1], value)
    else:
        with pytest.raises(value) as ours:
            support.gather_checking_ids(gather, indices, table)
        with pytest.raises(value) as spec_error:
            support.check_ids(indices, rows)
        assert str(ours.value) == str(spec_error.value)


def test_gather_checking_ids_checks_first_under_program_transforms() -> None:
    """Under vmap the ids are checked before the gather runs (its batched form need not
    check bounds)."""
    table = torch.ones(5, 2)
    calls = []

    def gather(ids: torch.Tensor) -> torch.Tensor:
        calls.append(ids)
        return torch.embedding(table, ids.clamp(0, 4))

    with pytest.raises(IndexError, match="id 7"):
        torch.func.vmap(lambda i: support.gather_checking_ids(gather, i, table))(
            torch.tensor([[0, 1], [7, 2]]))
    assert calls == []


def test_index_check_holds_under_program_transforms() -> None:
    """Under vmap and in a compiled or exported function the range check is an operator:
    the IndexError survives (it is neither a graph break nor dead code)."""
    def lookup(ids: torch.Tensor) -> torch.Tensor:
        support.check_ids(ids, 5)
        return torch.ones(5, 2)[ids]

    with pytest.raises(IndexError, match="id 7"):
        torch.func.vmap(lookup)(torch.tensor([[0, 1], [7, 2]]))
    torch._dynamo.reset()
    compiled = torch.compile(lookup, fullgraph=True, dynamic=False, backend="aot_eager")
    assert compiled(torch.tensor([1, 4])).shape == (2, 2)
    with pytest.raises(IndexError, match="id -1"):
        compiled(torch.tensor([-1, 4]))

    class Lookup(torch.nn.Module):
        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return lookup(ids)

    program = torch.export.export(Lookup(), (torch.tensor([1, 4]),)).module()
    with pytest.raises(IndexError, match="id 5"):
        program(torch.tensor([5, 4]))
    assert not support.under_transform(torch.tensor([1]))


@pytest.mark.parametrize("value", INTS + ODD)
@pytest.mark.parametrize("minimum", [None, 0, 1])
def test_int_checks_match_the_spec(value: object, minimum: int | None) -> None:
    same(support.check_int, spec.check_int, "size", value, minimum=minimum)
    if verdict(support.check_int, "size", value, minimum=minimum)[0] == "error":
        with pytest.raises(ValueError, match=r"^size must be "):
            support.check_int("size", value, minimum=minimum)


@pytest.mark.parametrize("value", INTS + ODD)
def test_size_and_flag_checks(value: object) -> None:
    for args in ((value, 3), (3, value)):
        same(support.check_sizes, lambda v, d: (spec.check_int("num_embeddings", v, minimum=0),
                                                spec.check_int("embedding_dim", d, minimum=0)),
             *args)
    kind = verdict(support.check_bool, "gather_output", value)
    assert kind == (("ok", value) if isinstance(value, bool) else ("error", ValueError))


@pytest.mark.parametrize("padding_idx", INTS + ODD + [-5, -6, 4, 5])
@pytest.mark.parametrize("num_embeddings", [0, 1, 5])
def test_padding_idx_matches_the_spec(padding_idx: object, num_embeddings: int) -> None:
    same(support.normalize_padding_idx, spec.normalize_padding_idx, padding_idx, num_embeddings)


def test_padding_idx_rules_of_s1_1() -> None:
    assert support.normalize_padding_idx(-1, 5) == 4
    assert support.normalize_padding_idx(-5, 5) == 0
    assert support.normalize_padding_idx(None, 0) is None
    for bad in (-6, 5, True, 1.0, "1", torch.tensor(1)):
        with pytest.raises(ValueError, match="padding_idx"):
            support.normalize_padding_idx(bad, 5)
    with pytest.raises(ValueError, match=r"padding_idx must be within \[-0, -1\].* got 0"):
        support.normalize_padding_idx(0, 0)


NORMS = [None, 0, 0.0, -0.0, 1, 1.5, -1, -1e-300, 1e300, float("nan"), float("inf"),
         -float("inf"), True, "1", np.float64(2.0), Fraction(1, 3), torch.tensor(1.0)]


@pytest.mark.parametrize("max_norm", NORMS)
@pytest.mark.parametrize("norm_type", NORMS)
def test_max_norm_and_norm_type_match_the_spec(max_norm: object, norm_type: object) -> None:
    same(support.check_max_norm, spec.check_max_norm, max_norm, norm_type)


def test_max_norm_errors_name_the_argument_and_value() -> None:
    with pytest.raises(ValueError, match=r"max_norm .* got nan"):
        support.check_max_norm(float("nan"), 2.0)
    with pytest.raises(ValueError, match=r"norm_type must be > 0 \(inf allowed\), got 0"):
        support.check_max_norm(1.0, 0)
    assert support.check_max_norm(0, float("inf")) == (0.0, math.inf)


FLAGS = [True, False, 0, 1, None, "yes", np.bool_(True)]


@pytest.mark.parametrize("sparse", FLAGS)
@pytest.mark.parametrize("scale_grad_by_freq", FLAGS)
def test_sparse_options_match_the_spec(sparse: object, scale_grad_by_freq: object) -> None:
    same(support.check_sparse_options, spec.check_sparse_options, sparse, scale_grad_by_freq)


@pytest.mark.parametrize("dtype", [None, torch.float16, torch.bfloat16, torch.float32,
                                   torch.float64, torch.int64, torch.bool, torch.complex64,
                                   "float32", float, np.float32])
def test_dtype_matches_the_spec(dtype: object) -> None:
    same(support.check_dtype, lambda d, name: spec.check_float_dtype(name, d)
         or torch.get_default_dtype(), dtype, "params_dtype")
    if dtype is None:
        with torch.device("cpu"):
            previous = torch.get_default_dtype()
            torch.set_default_dtype(torch.float64)
            try:
                assert support.check_dtype(None) == torch.float64
            finally:
                torch.set_default_dtype(previous)
    elif verdict(support.check_dtype, dtype)[0] == "error":
        with pytest.raises(ValueError, match="params_dtype must be a floating-point"):
            support.check_dtype(dtype, "params_dtype")


@pytest.mark.parametrize("device", [None, "cpu", "cpu:0", torch.device("cpu"), "meta",
                                    "nonsense", 3.5, object()])
def test_device_matches_the_spec(device: object) -> None:
    same(support.check_device, spec.check_device, device)


@pytest.mark.parametrize("init", ["normal", "xavier_uniform", "scaled_normal", "uniform", "",
                                  None, 3, torch.nn.init.zeros_, lambda w: None])
def test_init_matches_the_spec(init: object) -> None:
    same(support.check_init, spec_init.check_init_scheme, init)
    assert set(support.INIT_SCHEMES) == set(spec_init.INIT_SCHEMES)


@pytest.mark.parametrize("rank", [-1, 0, 1, 2, True, 1.0])
@pytest.mark.parametrize("world_size", [0, 1, 2, 3, True])
def test_rank_matches_the_spec(rank: object, world_size: object) -> None:
    same(support.check_rank, spec.check_rank, rank, world_size)


@pytest.mark.parametrize("partition", ["balanced", "even", "uneven", None, 1])
@pytest.mark.parametrize(("embedding_dim", "world_size"), [(0, 1), (6, 3), (7, 3), (2, 4)])
def test_partition_matches_the_spec(partition: object, embedding_dim: int,
                                    world_size: int) -> None:
    same(support.check_partition, spec_partition.check_partition, partition, embedding_dim,
         world_size)


SIZES = [0, 1, 5, 10, 64, 65, -1, True, 2.0]


@pytest.mark.parametrize("num_embeddings", SIZES)
@pytest.mark.parametrize("org_num_embeddings", [None, 0, 1, 4, 10, 11, True])
@pytest.mark.parametrize("padding_size", [1, 3, 4, 64, 0, -2, 1.0])
@pytest.mark.parametrize("tp_size", [1, 2, 3, 0])
def test_vocab_sizes_match_the_spec(num_embeddings: object, org_num_embeddings: object,
                                    padding_size: object, tp_size: object) -> None:
    args = (num_embeddings, org_num_embeddings, padding_size, tp_size)
    kind, value = verdict(support.check_vocab_sizes, *args)
    want_kind, want = verdict(VocabLayout.create, *args)
    assert kind == want_kind and (kind == "ok" or value is want), (args, value, want)
    if kind == "ok":
        assert value == (want.num_embeddings, want.org_vocab_size, want.padding_size,
                         want.tp_size)


def test_vocab_divisibility_error_names_padding_size_and_tp_size() -> None:
    with pytest.raises(ValueError, match=r"padded base vocab size 6 \(padding_size=3\) is "
                                         r"not divisible by tp_size=4"):
        support.check_vocab_sizes(5, None, 3, 4)


def _loaders() -> tuple[VocabParallelEmbedding, Callable[[object, object], Any]]:
    layer = VocabParallelEmbedding(10, 3, org_num_embeddings=8, padding_size=4)

    def ours(param: object, loaded: object) -> Any:
        return support.check_loaded_weight(param, layer.weight, loaded, org_vocab_size=8,
                                           num_embeddings=10, embedding_dim=3)
    return layer, ours


LOADED = [torch.randn(8, 3), torch.randn(10, 3), torch.randn(10, 3, dtype=torch.float64),
          torch.randn(10, 3).t().contiguous().t(), torch.randn(9, 3), torch.randn(8, 4),
          torch.randn(10), torch.randn(1, 10, 3), torch.zeros(10, 3, dtype=torch.int64),
          torch.zeros(8, 3, dtype=torch.bool), [[0.0] * 3] * 8, None,
          np.zeros((8, 3), dtype=np.float32)]


@pytest.mark.parametrize("loaded", LOADED)
def test_loaded_weight_checks_match_the_spec_loader(loaded: object) -> None:
    layer, ours = _loaders()
    before = layer.weight.detach().clone()
    kind, _ = verdict(ours, layer.weight, loaded)
    want_kind, want = verdict(layer.weight_loader, layer.weight, loaded)
    assert kind == want_kind and (kind == "ok" or want is ValueError)
    if kind == "error":
        assert torch.equal(layer.weight, before)
    other = torch.nn.Parameter(layer.weight.detach().clone())
    assert verdict(ours, other, loaded) == ("error", ValueError)


def test_loaded_weight_errors_name_the_shapes() -> None:
    layer, ours = _loaders()
    with pytest.raises(ValueError, match=r"loaded_weight must have shape \(8, 3\) \(base vocab "
                                         r"only\) or \(10, 3\) .* got \(9, 3\)"):
        ours(layer.weight, torch.randn(9, 3))
    with pytest.raises(ValueError, match=r"floating-point tensor, got dtype torch\.int64"):
        ours(layer.weight, torch.zeros(8, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="param must be this layer's weight"):
        ours(torch.nn.Parameter(torch.randn(12, 3)), torch.randn(8, 3))
    loaded = torch.randn(8, 3, requires_grad=True)
    checked = ours(layer.weight, loaded)
    assert not checked.requires_grad and checked.data_ptr() == loaded.data_ptr()


@pytest.mark.parametrize("options", [
    {}, {"padding_idx": -1, "max_norm": 1, "norm_type": 1}, {"sparse": True},
    {"sparse": True, "scale_grad_by_freq": True}, {"padding_idx": 5}, {"max_norm": -1},
    {"scale_grad_by_freq": 1}, {"norm_type": float("inf"), "max_norm": 0.0},
])
def test_lookup_options_validate_every_option(options: dict[str, object]) -> None:
    def spec_options(v: int, padding_idx: object = None, max_norm: object = None,
                     norm_type: object = 2.0, scale_grad_by_freq: object = False,
                     sparse: object = False) -> tuple[Any, ...]:
        padding = spec.normalize_padding_idx(padding_idx, v)
        norms = spec.check_max_norm(max_norm, norm_type)
        flags = spec.check_sparse_options(sparse, scale_grad_by_freq)
        return (padding, *norms, flags[1], flags[0])

    kind, value = verdict(support.LookupOptions.validate, 5, **options)
    want_kind, want = verdict(spec_options, 5, **options)
    assert kind == want_kind
    if kind == "ok":
        assert (value.padding_idx, value.max_norm, value.norm_type, value.scale_grad_by_freq,
                value.sparse) == want
    else:
        assert value is want


def test_support_is_written_without_the_reference_checks() -> None:
    source = support.__loader__.get_source(support.__name__)  # type: ignore[union-attr]
    imports = [line for line in source.splitlines() if "embedspec.reference" in line
               and line.startswith(("from", "import"))]
    assert imports == ["from embedspec.reference.configs import InitScheme, Partition"]
