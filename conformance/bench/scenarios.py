"""Benchmark scenarios as data: a model's table, an id distribution, an operation.

A scenario is named ``<table>/<operation>/<ids>``, e.g. ``gpt2/forward/8192``. Its
table is a real model's embedding (GPT-2, BERT-base, T5, Llama-3-8B), a recommender
table with Zipf-distributed ids, or a small high-contention table; its operation is a
key of :data:`embedspec.conformance.bench.operations.OPERATIONS`; ``num_ids`` ids of
shape ``(num_ids,)`` are drawn per call from the table's distribution.

Two sets: ``quick`` (about two minutes on a two-core machine) and ``full`` (every
table with every operation, a superset of ``quick``). :func:`select` turns the
``--scenarios`` argument into scenarios.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

import torch

SETS = ("quick", "full")


@dataclass(frozen=True)
class Table:
    """An embedding table of a real model or workload and how its ids are distributed:
    ``"uniform"`` over the rows, or ``"zipf"`` (row of rank k drawn with probability
    proportional to ``k ** -alpha``, ranks scattered over the rows)."""

    name: str
    model: str
    num_embeddings: int
    embedding_dim: int
    dtype: torch.dtype = torch.float32
    distribution: str = "uniform"
    alpha: float = 1.15

    @property
    def weight_bytes(self) -> int:
        return self.num_embeddings * self.embedding_dim * self.dtype.itemsize


TABLES: dict[str, Table] = {t.name: t for t in (
    Table("gpt2", "GPT-2", 50257, 768),
    Table("bert", "BERT-base", 30522, 768),
    Table("t5", "T5", 32128, 512),
    Table("llama3-8b", "Llama-3-8B", 128256, 4096, torch.bfloat16),
    Table("rec-1m-64", "recommender", 1_000_000, 64, distribution="zipf"),
    Table("rec-1m-128", "recommender", 1_000_000, 128, distribution="zipf"),
    Table("rec-4m-64", "recommender", 4_000_000, 64, distribution="zipf"),
    Table("rec-4m-128", "recommender", 4_000_000, 128, distribution="zipf"),
    Table("contention-1k", "high contention", 1000, 128),
)}


@dataclass(frozen=True)
class Scenario:
    """One benchmark: ``operation`` on ``table`` with ``num_ids`` ids per call."""

    table: Table
    operation: str
    num_ids: int
    sets: tuple[str, ...] = ("full",)

    @property
    def name(self) -> str:
        return f"{self.table.name}/{self.operation}/{self.num_ids}"

    def describe(self) -> str:
        t = self.table
        dtype = str(t.dtype).removeprefix("torch.")
        ids = "uniform" if t.distribution == "uniform" else f"Zipf {t.alpha:g}"
        return (f"{t.model} {t.num_embeddings} x {t.embedding_dim} {dtype}, "
                f"{self.operation}, {self.num_ids} ids ({ids})")


def _scenario(table: str, operation: str, num_ids: int, quick: bool = False) -> Scenario:
    return Scenario(TABLES[table], operation, num_ids, ("quick", "full") if quick else ("full",))


#: The quick set: one realistic batch per operation, the forward on several models.
QUICK: tuple[Scenario, ...] = (
    _scenario("gpt2", "forward", 8192, quick=True),
    _scenario("bert", "forward", 4096, quick=True),
    _scenario("t5", "forward", 2048, quick=True),
    _scenario("rec-1m-64", "forward", 65536, quick=True),
    _scenario("gpt2", "fwd_bwd", 8192, quick=True),
    _scenario("contention-1k", "fwd_bwd", 100_000, quick=True),
    _scenario("rec-1m-64", "sparse_bwd", 16384, quick=True),
    _scenario("bert", "max_norm", 4096, quick=True),
    _scenario("bert", "stable", 4096, quick=True),
    _scenario("t5", "binary", 2048, quick=True),
    _scenario("gpt2", "vocab_parallel", 8192, quick=True),
)

#: Operations each kind of table gets in the full set.
_MODEL_OPERATIONS = ("forward", "fwd_bwd", "sparse_bwd", "max_norm", "stable", "binary",
                     "vocab_parallel")
_RECOMMENDER_OPERATIONS = ("forward", "fwd_bwd", "sparse_bwd")


def _full() -> tuple[Scenario, ...]:
    quick = {s.name: s for s in QUICK}
    extra: list[Scenario] = []
    for table in ("gpt2", "bert", "t5", "llama3-8b"):
        extra += [_scenario(table, op, 8192) for op in _MODEL_OPERATIONS]
        extra += [_scenario(table, "forward", n) for n in (1, 100_000)]
    for table in ("rec-1m-64", "rec-1m-128", "rec-4m-64", "rec-4m-128"):
        extra += [_scenario(table, op, 65536) for op in _RECOMMENDER_OPERATIONS]
    extra += [_scenario("contention-1k", op, n) for op in ("forward", "fwd_bwd", "sparse_bwd")
              for n in (1000, 100_000)]
    return (*QUICK, *(s for s in dict.fromkeys(extra) if s.name not in quick))


FULL: tuple[Scenario, ...] = _full()
#: Every scenario by name.
CATALOGUE: dict[str, Scenario] = {s.name: s for s in FULL}


def select(spec: str, catalogue: Iterable[Scenario] | None = None) -> list[Scenario]:
    """The scenarios ``spec`` names: ``quick``, ``full``, or comma-separated names and
    glob patterns (``gpt2/*``, ``*/forward/*``). ``ValueError`` naming what matches
    nothing. ``catalogue`` defaults to :data:`FULL`."""
    scenarios = list(FULL if catalogue is None else catalogue)
    spec = spec.strip()
    if spec in SETS:
        return [s for s in scenarios if spec in s.sets]
    chosen: dict[str, Scenario] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        matched = [s for s in scenarios if fnmatch.fnmatchcase(s.name, part)]
        if not matched:
            raise ValueError(f"no scenario matches {part!r}; sets: {', '.join(SETS)}; "
                             f"names look like {scenarios[0].name!r} "
                             "(embedspec bench --list shows them)")
        chosen.update((s.name, s) for s in matched)
    if not chosen:
        raise ValueError(f"--scenarios {spec!r} names no scenario")
    return list(chosen.values())
