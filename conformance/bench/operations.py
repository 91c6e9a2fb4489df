"""The operations a scenario times, as data: which layer configuration a table gives,
which capability a backend must declare, whether gradients flow, and how a call is
made.

* ``forward``: ``embedding``; ``layer(ids)`` under ``no_grad``;
* ``fwd_bwd``: ``embedding``; ``layer(ids).backward(g)``, dense weight gradient;
* ``sparse_bwd``: ``embedding`` with ``sparse=True``; ``layer(ids).backward(g)``;
* ``max_norm``: ``embedding`` with ``max_norm=1``; ``layer(ids)`` under ``no_grad``
  (the referenced rows renormalised in place);
* ``stable``: ``stable``; ``layer(ids).backward(g)`` (lookup, layer norm, gradients);
* ``binary``: ``binary``; ``layer(ids)`` under ``no_grad``, the packed sign form of
  the rows;
* ``vocab_parallel``: ``vocab_parallel`` with 256 added ids; ``layer(ids)`` at world
  size 1, the rank's local lookup.

``g`` is a fixed random output gradient. Before each call every gradient is dropped
(``set_to_none``), so a call allocates and fills its gradient like a training step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from embedspec.reference.configs import (
    BinaryConfig,
    EmbeddingConfig,
    LayerConfig,
    StableEmbeddingConfig,
    VocabParallelConfig,
)
from torch import nn

from .scenarios import Table

#: Added ids of the vocab-parallel scenarios (LoRA-style extra vocabulary).
ADDED_VOCAB = 256
#: ``max_norm`` of the renormalising scenarios; N(0, 1) rows of D >= 64 all exceed it.
MAX_NORM = 1.0


@dataclass(frozen=True)
class Operation:
    """How a scenario's layer is built and called.

    ``gradient``: ``None`` (forward only), ``"dense"`` or ``"sparse"``. ``mutates``: the
    call changes the weight (each implementation then gets its own copy). ``exact``: the
    output must equal the reference bit for bit (a gather); otherwise it is compared
    with ``torch.testing.assert_close``'s default tolerance for the dtype."""

    name: str
    description: str
    config: Callable[[Table], LayerConfig]
    capabilities: tuple[tuple[str, str], ...]
    gradient: str | None = None
    mutates: bool = False
    exact: bool = True

    @property
    def family(self) -> str:
        return self.capabilities[0][0]


def _embedding(**options: object) -> Callable[[Table], LayerConfig]:
    return lambda t: EmbeddingConfig(t.num_embeddings, t.embedding_dim, dtype=t.dtype,
                                     **options)


OPERATIONS: dict[str, Operation] = {op.name: op for op in (
    Operation("forward", "gather", _embedding(), (("embedding", "forward"),)),
    Operation("fwd_bwd", "gather, dense backward", _embedding(),
              (("embedding", "backward"),), gradient="dense"),
    Operation("sparse_bwd", "gather, sparse backward", _embedding(sparse=True),
              (("embedding", "sparse"),), gradient="sparse"),
    Operation("max_norm", "renormalise referenced rows, gather", _embedding(max_norm=MAX_NORM),
              (("embedding", "max_norm"),), mutates=True, exact=False),
    Operation("stable", "gather, layer norm, dense backward",
              lambda t: StableEmbeddingConfig(t.num_embeddings, t.embedding_dim, dtype=t.dtype),
              (("stable", "backward"),), gradient="dense", exact=False),
    Operation("binary", "packed sign rows of the latent table",
              lambda t: BinaryConfig(t.num_embeddings, t.embedding_dim, dtype=t.dtype),
              (("binary", "forward"),)),
    Operation("vocab_parallel", "local lookup, added vocabulary, world size 1",
              lambda t: VocabParallelConfig(t.num_embeddings + ADDED_VOCAB, t.embedding_dim,
                                            org_num_embeddings=t.num_embeddings,
                                            params_dtype=t.dtype),
              (("vocab_parallel", "forward"), ("vocab_parallel", "added_vocab"))),
)}


def id_range(operation: Operation, table: Table) -> int:
    """The number of valid ids of the operation's layer (the added ids included)."""
    return table.num_embeddings + (ADDED_VOCAB if operation.name == "vocab_parallel" else 0)


Step = Callable[[], torch.Tensor]


def make_step(module: nn.Module | Callable[[torch.Tensor], torch.Tensor], operation: Operation,
              ids: Iterator[torch.Tensor], grad_output: torch.Tensor | None,
              parameters: list[nn.Parameter]) -> Step:
    """One call of ``operation`` on ``module`` with the next ids; returns the output.

    ``parameters`` are the gradients' owners, dropped before each call."""
    if operation.gradient is None:
        def forward() -> torch.Tensor:
            with torch.no_grad():
                return module(next(ids))
        return forward

    def train() -> torch.Tensor:
        for p in parameters:
            p.grad = None
        out = module(next(ids))
        out.backward(grad_output)
        return out
    return train
