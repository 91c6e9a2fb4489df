"""The eager backend's contract: its capability table, what ``build`` accepts and
returns, and the spec points where it departs from plain PyTorch."""

from __future__ import annotations

import pytest
import torch
from embedspec.backends.contract import DTYPES, FEATURES, BuildContext, Capabilities, Capability
from embedspec.backends.eager import EagerBackend
from embedspec.backends.eager.backend import capability_table
from embedspec.backends.kernels import EmbeddingKernels
from embedspec.reference.configs import (
    BinaryConfig,
    EmbeddingConfig,
    LayerConfig,
    ShardedConfig,
    StableEmbeddingConfig,
    VocabParallelConfig,
)

CONFIGS: dict[str, LayerConfig] = {
    "embedding": EmbeddingConfig(10, 4, padding_idx=1),
    "stable": StableEmbeddingConfig(10, 4),
    "vocab_parallel": VocabParallelConfig(10, 4, org_num_embeddings=7, padding_size=4),
    "sharded": ShardedConfig(10, 4, partition="even"),
    "binary": BinaryConfig(10, 4),
}
STATE_KEYS = {
    "embedding": ["weight"], "stable": ["weight", "norm.weight", "norm.bias"],
    "vocab_parallel": ["weight"], "sharded": ["weight"], "binary": ["weight"],
}


@pytest.fixture(scope="module")
def backend() -> EagerBackend:
    return EagerBackend()


def test_identity_and_availability(backend: EagerBackend) -> None:
    assert backend.name == "eager"
    assert not backend.multi_process
    assert backend.availability().available
    assert isinstance(backend.kernels(), EmbeddingKernels)


def test_capabilities_cover_every_single_process_point(backend: EagerBackend) -> None:
    caps = backend.capabilities()
    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    expected = {
        Capability(family, feature, dtype, device)
        for family, features in FEATURES.items() for feature in features
        for dtype in DTYPES for device in devices
        if (family, feature) != ("sharded", "data_parallel")
    }
    assert set(caps) == expected
    assert caps.families() == sorted(FEATURES)


def test_capability_table_is_plain_data() -> None:
    table = capability_table(("cpu",))
    assert set(table) == set(FEATURES)
    assert "data_parallel" not in table["sharded"]["features"]
    assert table["embedding"]["features"] == list(FEATURES["embedding"])
    assert len(Capabilities.declare(table)) == sum(
        len(row["features"]) * len(row["dtypes"]) for row in table.values())


@pytest.mark.parametrize("family", sorted(CONFIGS))
def test_build_gives_the_reference_state_layout(backend: EagerBackend, family: str) -> None:
    layer = backend.build(CONFIGS[family], BuildContext())
    assert sorted(layer.state_dict()) == sorted(STATE_KEYS[family])
    rows = 12 if family == "vocab_parallel" else 10  # pad(pad(7, 4) + 3 added, 4)
    assert layer.state_dict()["weight"].shape == (rows, 4)
    out = layer(torch.tensor([[0, 9], [3, 3]], dtype=torch.int32))
    assert out.shape == (2, 2, 4)


@pytest.mark.parametrize("context", [BuildContext(rank=1, world_size=2),
                                     BuildContext(world_size=2),
                                     BuildContext(dp_size=2)])
def test_build_rejects_worlds_of_several_processes(backend: EagerBackend,
                                                   context: BuildContext) -> None:
    with pytest.raises(ValueError, match="single-process"):
        backend.build(CONFIGS["sharded"], context)


def test_build_rejects_what_is_not_a_configuration(backend: EagerBackend) -> None:
    with pytest.raises(TypeError, match="config must be one of"):
        backend.build({"num_embeddings": 3}, BuildContext())  # type: ignore[arg-type]


@pytest.mark.parametrize("config", [
    EmbeddingConfig(5, 2, sparse=True, scale_grad_by_freq=True),
    EmbeddingConfig(5, 2, padding_idx=5),
    EmbeddingConfig(5, 2, max_norm=-1.0),
    EmbeddingConfig(5, 2, norm_type=0.0),
    StableEmbeddingConfig(5, 2, init="uniform"),
    ShardedConfig(5, 2, partition="rows"),
    VocabParallelConfig(5, 2, org_num_embeddings=6),
    VocabParallelConfig(5, 2, padding_size=0),
    BinaryConfig(5, -1),
])
def test_bad_configuration_is_a_value_error_at_construction(backend: EagerBackend,
                                                            config: LayerConfig) -> None:
    with pytest.raises(ValueError):
        backend.build(config, BuildContext())


@pytest.mark.parametrize("family", ["embedding", "stable", "sharded"])
def test_an_out_of_range_id_leaves_the_weight_unrenormalised(backend: EagerBackend,
                                                             family: str) -> None:
    layer = backend.build(CONFIGS[family].replace(max_norm=0.01), BuildContext())
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    with pytest.raises(IndexError):
        layer(torch.tensor([0, -1]))
    with pytest.raises(TypeError):
        layer(torch.tensor([0, 1], dtype=torch.int16))
    for key, value in layer.state_dict().items():
        assert torch.equal(value, before[key])


def test_vocab_parallel_maps_added_ids_past_the_base_padding(backend: EagerBackend) -> None:
    layer = backend.build(CONFIGS["vocab_parallel"], BuildContext())
    weight = layer.weight.detach()
    assert torch.equal(layer(torch.tensor([6, 7, 9])), weight[[6, 8, 10]])
    assert torch.count_nonzero(weight[[7, 11]]) == 0  # base and added padding
    assert layer.get_sharded_to_full_mapping() is None
    with pytest.raises(IndexError):
        layer(torch.tensor([10]))


def test_vocab_parallel_weight_loader(backend: EagerBackend) -> None:
    layer = backend.build(CONFIGS["vocab_parallel"], BuildContext())
    full = torch.arange(40, dtype=torch.float32).view(10, 4) + 1
    layer.weight_loader(layer.weight, full)
    assert torch.equal(layer(torch.arange(10)), full)
    layer.weight_loader(layer.weight, full[:7])
    assert torch.equal(layer(torch.arange(7)), full[:7])
    assert torch.count_nonzero(layer.weight[7:]) == 0
    before = layer.weight.detach().clone()
    for bad in (full[:8], full[:, :3], full.view(-1), full.long()):
        with pytest.raises(ValueError):
            layer.weight_loader(layer.weight, bad)
    assert torch.equal(layer.weight, before)
