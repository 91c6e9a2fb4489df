"""The ``torch_compile`` backend's layers: the ``torch_nn`` modules with compiled forwards.

Each layer class is a subclass of the upstream module it compiles (``torch.nn.Embedding``,
:class:`~embedspec.backends.torch_nn.BitsandbytesStableEmbedding`): the same constructor,
``from_pretrained``, ``reset_parameters``, attributes and parameters, hence the same
``state_dict`` keys as the reference, where ``torch.compile(module)`` would key them
``_orig_mod.weight``. Only ``forward`` differs: it runs the upstream ``forward`` through
a :class:`~.compiled_forward.CompiledForward` of the layer's own.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import torch
from embedspec.backends.torch_nn import BitsandbytesStableEmbedding
from torch import nn

from .compiled_forward import CompiledForward

__all__ = ["CompiledEmbedding", "CompiledStableEmbedding", "StateKeysError",
           "check_state_keys", "upstream_state_keys"]


class StateKeysError(ValueError):
    """A built layer's ``state_dict`` keys are not its upstream module's."""


class _CompiledLayer:
    """Mixin placed before an upstream module class: ``forward`` is the upstream
    ``forward``, compiled per instance."""

    upstream: ClassVar[type[nn.Module]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.compiled_forward = CompiledForward()

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.compiled_forward(self, input)


class CompiledEmbedding(_CompiledLayer, nn.Embedding):
    """``torch.nn.Embedding`` whose forward runs compiled by inductor."""

    upstream = nn.Embedding


class CompiledStableEmbedding(_CompiledLayer, BitsandbytesStableEmbedding):
    """bitsandbytes' ``StableEmbedding`` forward (on ``torch.nn`` parts) compiled by inductor."""

    upstream = BitsandbytesStableEmbedding


@functools.cache
def upstream_state_keys(upstream: type[nn.Module]) -> tuple[str, ...]:
    """The ``state_dict`` keys of a 1 x 1 ``upstream`` module (built on the meta device,
    drawing no random numbers)."""
    with torch.random.fork_rng(devices=[]):
        module = upstream(1, 1, device="meta")
    return tuple(module.state_dict())


def check_state_keys(layer: nn.Module, upstream: type[nn.Module]) -> None:
    """``StateKeysError`` unless ``layer``'s ``state_dict`` keys are ``upstream``'s, the
    keys the conformance suite loads the reference's weights under."""
    keys = tuple(layer.state_dict())
    expected = upstream_state_keys(upstream)
    if keys != expected:
        raise StateKeysError(
            f"the compiled {upstream.__name__} has state_dict keys {list(keys)}, not "
            f"{list(expected)} (torch.compile(module) keys its state '_orig_mod.*'): "
            "reference weights would not load into it")
