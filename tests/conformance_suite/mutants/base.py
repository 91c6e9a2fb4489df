"""The base of the deliberately wrong backends: eager, with one rule broken per family."""

from __future__ import annotations

from typing import ClassVar

from embedspec.backends.contract import BuildContext
from embedspec.backends.eager import EagerBackend
from embedspec.reference.configs import LayerConfig
from torch import nn


class MutantBackend(EagerBackend):
    """The eager backend whose layers of ``families`` get :meth:`mutate` applied.

    Subclasses set ``name`` (unique, so no expectations file of a real backend
    applies), ``broken_rule`` (the spec rule they break) and ``families``.
    Capabilities are eager's: the mutant claims to be correct everywhere.
    """

    families: ClassVar[tuple[str, ...]] = ()
    broken_rule: ClassVar[str] = ""

    def build(self, config: LayerConfig, context: BuildContext) -> nn.Module:
        layer = super().build(config, context)
        if config.family in self.families:
            self.mutate(layer, config)
        return layer

    def mutate(self, layer: nn.Module, config: LayerConfig) -> None:
        """Break the rule on ``layer`` (built correctly from ``config``) in place."""
        raise NotImplementedError(f"{type(self).__name__} must implement mutate")
