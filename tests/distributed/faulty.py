"""A multi-process backend that misbehaves on request, for the runner's fault tests.

It is the distributed backend, except for configurations whose ``embedding_dim`` is
one of the trigger values below, where rank 1's forward misbehaves:

* :data:`DIE_DIM`: it kills its own process (SIGKILL) before the all-reduce;
* :data:`HANG_DIM`: it sleeps far longer than any case timeout before the all-reduce
  (rank 0 then waits in the all-reduce: both hang);
* :data:`RAISE_DIM`: it raises ``RuntimeError`` after the all-reduce (an ordinary
  observation: nobody waits for it).
"""

from __future__ import annotations

import os
import signal
import time

import torch
from embedspec.backends.contract import BuildContext
from embedspec.backends.distributed import DistributedBackend
from embedspec.reference.configs import LayerConfig
from torch import nn

DIE_DIM = 13
HANG_DIM = 14
RAISE_DIM = 15


class FaultyBackend(DistributedBackend):
    name = "distributed_faulty"

    def build(self, config: LayerConfig, context: BuildContext) -> nn.Module:
        layer = super().build(config, context)
        if context.rank != 1 or config.embedding_dim not in (DIE_DIM, HANG_DIM, RAISE_DIM):
            return layer
        original = layer.forward
        trigger = config.embedding_dim

        def forward(input: torch.Tensor) -> torch.Tensor:
            if trigger == DIE_DIM:
                os.kill(os.getpid(), signal.SIGKILL)
            if trigger == HANG_DIM:
                time.sleep(3600)
            original(input)
            raise RuntimeError("rank 1 raises after the all-reduce")

        layer.forward = forward
        return layer
