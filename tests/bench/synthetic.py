"""Synthetic backends and tiny scenarios for the bench machinery's tests."""

from __future__ import annotations

import time

import torch
from embedspec.backends.contract import Availability, Backend, BuildContext, Capabilities
from embedspec.backends.eager import EagerBackend
from embedspec.conformance.bench.scenarios import Scenario, Table
from embedspec.reference.configs import EmbeddingConfig, LayerConfig
from torch import nn

TINY = Table("tiny", "test", 64, 8)
TINY_FORWARD = Scenario(TINY, "forward", 16, ("quick", "full"))
TINY_BACKWARD = Scenario(TINY, "fwd_bwd", 16, ("quick", "full"))
TINY_SET = (TINY_FORWARD, TINY_BACKWARD)
#: Seconds the slow backend sleeps per call: hundreds of times a 16-id gather.
SLEEP_S = 0.003


class _ForwardOnly(Backend):
    def availability(self) -> Availability:
        return Availability.yes()

    def capabilities(self) -> Capabilities:
        return Capabilities.declare({"embedding": {"features": ["forward", "backward"]}})


class _Zeros(nn.Module):
    def __init__(self, config: EmbeddingConfig) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(config.num_embeddings, config.embedding_dim))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.weight.new_zeros(*ids.shape, self.weight.shape[1])


class FastWrongBackend(_ForwardOnly):
    """Returns zeros without reading the table: fast, and wrong."""

    name = "fast_wrong"

    def build(self, config: LayerConfig, context: BuildContext) -> nn.Module:
        assert isinstance(config, EmbeddingConfig)
        return _Zeros(config).to(context.device)


class _Sleepy(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def state_dict(self, *args, **kwargs):  # the reference layout: the inner layer's keys
        return self.inner.state_dict(*args, **kwargs)

    def named_parameters(self, *args, **kwargs):
        return self.inner.named_parameters(*args, **kwargs)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        time.sleep(SLEEP_S)
        return self.inner(ids)


class SlowBackend(_ForwardOnly):
    """The eager layer, with a sleep in its forward: right, and slow."""

    name = "slow"

    def build(self, config: LayerConfig, context: BuildContext) -> nn.Module:
        return _Sleepy(EagerBackend().build(config, context))


class CorrectBackend(_ForwardOnly):
    """The eager layer as it is."""

    name = "correct"

    def build(self, config: LayerConfig, context: BuildContext) -> nn.Module:
        return EagerBackend().build(config, context)


class InterpretedBackend(CorrectBackend):
    """The eager layer, declaring that its CPU times would not measure kernels (as a
    backend whose kernels run in an interpreter there does); it must never be built."""

    name = "interpreted"
    caveat = "its kernels run in an interpreter on CPU tensors"

    def timing_caveat(self, device: str) -> str:
        return self.caveat if device == "cpu" else ""

    def build(self, config: LayerConfig, context: BuildContext) -> nn.Module:
        raise AssertionError("a backend whose times do not measure its kernels was built")
