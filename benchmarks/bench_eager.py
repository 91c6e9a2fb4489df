"""Side-by-side timings of the eager backend, the reference and ``torch.nn``.

For a few realistic shapes, every implementation is built with the same weights and
timed in this one run with ``torch.utils.benchmark.Timer`` (``blocked_autorange``; the
best median over a few interleaved rounds): the forward alone, and the forward plus
backward. The table gives milliseconds per call and the eager speedup over the
reference and over ``torch.nn`` (``torch.nn.Embedding``, followed by
``torch.nn.LayerNorm`` for the stable family; there is no ``torch.nn`` binary layer).

Run: ``python benchmarks/bench_eager.py [--device cuda] [--min-run-time 0.1] [--rounds 5]
[--cpu-time]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import timeit
from collections.abc import Callable

import torch
from embedspec.backends.contract import BuildContext
from embedspec.backends.eager import EagerBackend
from embedspec.reference.binary import BinaryEmbedding
from embedspec.reference.configs import (
    BinaryConfig,
    EmbeddingConfig,
    LayerConfig,
    StableEmbeddingConfig,
    VocabParallelConfig,
)
from embedspec.reference.embedding import Embedding
from embedspec.reference.stable import StableEmbedding
from embedspec.reference.vocab_parallel import VocabParallelEmbedding
from tabulate import tabulate
from torch import nn
from torch.utils import benchmark

REFERENCE_LAYERS: dict[type[LayerConfig], Callable[..., nn.Module]] = {
    EmbeddingConfig: Embedding.from_config,
    StableEmbeddingConfig: StableEmbedding.from_config,
    VocabParallelConfig: VocabParallelEmbedding.from_config,
    BinaryConfig: BinaryEmbedding.from_config,
}


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One row group of the table: a layer configuration and an input shape."""

    label: str
    config: LayerConfig
    batch: tuple[int, int] = (4, 512)
    #: ``"train"``: forward and forward+backward; ``"inference"``: forward under no_grad.
    mode: str = "train"
    #: The method called for the forward, per implementation (default ``forward``).
    methods: tuple[tuple[str, str], ...] = ()


V, D = 32000, 512
SCENARIOS = (
    Scenario("embedding", EmbeddingConfig(V, D)),
    Scenario("embedding, padding_idx, freq scaling",
             EmbeddingConfig(V, D, padding_idx=0, scale_grad_by_freq=True)),
    Scenario("embedding, max_norm=1", EmbeddingConfig(V, D, max_norm=1.0)),
    Scenario("embedding, max_norm=1, p=3", EmbeddingConfig(V, D, max_norm=1.0, norm_type=3.0)),
    Scenario("embedding, V=50257, D=768, 8x1024 ids", EmbeddingConfig(50257, 768),
             batch=(8, 1024)),
    Scenario("stable", StableEmbeddingConfig(V, D)),
    Scenario("vocab_parallel, 64 added ids",
             VocabParallelConfig(V + 64, D, org_num_embeddings=V)),
    Scenario("binary (latent, straight-through)", BinaryConfig(V, D, padding_idx=0)),
    Scenario("binary inference (eager: forward, ref: forward_packed)",
             BinaryConfig(V, D, padding_idx=0), mode="inference",
             methods=(("reference", "forward_packed"),)),
    Scenario("binary forward_packed (whole table packed)", BinaryConfig(V, D, padding_idx=0),
             mode="inference", methods=(("eager", "forward_packed"),
                                        ("reference", "forward_packed"))),
)


class TorchNNStable(nn.Module):
    """``torch.nn.Embedding`` then ``torch.nn.LayerNorm``: bitsandbytes' composition."""

    def __init__(self, num_embeddings: int, embedding_dim: int, **options: object) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_embeddings, embedding_dim, **options)
        self.norm = nn.LayerNorm(embedding_dim)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.norm(self.embedding(input))


def torch_nn_layer(config: LayerConfig) -> nn.Module | None:
    """The plain ``torch.nn`` counterpart of ``config``, or None."""
    if isinstance(config, (EmbeddingConfig, StableEmbeddingConfig)):
        options = {k: getattr(config, k) for k in ("padding_idx", "max_norm", "norm_type",
                                                   "scale_grad_by_freq", "sparse")}
        cls = nn.Embedding if isinstance(config, EmbeddingConfig) else TorchNNStable
        return cls(config.num_embeddings, config.embedding_dim, **options)
    if isinstance(config, VocabParallelConfig):
        return nn.Embedding(config.num_embeddings, config.embedding_dim)
    return None


def layers_for(scenario: Scenario, device: torch.device) -> dict[str, nn.Module | None]:
    """Eager, reference and torch.nn layers holding the same table."""
    torch.manual_seed(0)
    eager = EagerBackend().build(scenario.config, BuildContext(device=device))
    reference = REFERENCE_LAYERS[type(scenario.config)](scenario.config, device=device)
    reference.load_state_dict(eager.state_dict())
    plain = torch_nn_layer(scenario.config)
    if plain is not None:
        plain = plain.to(device)
        with torch.no_grad():
            table = plain.embedding.weight if isinstance(plain, TorchNNStable) else plain.weight
            rows = min(table.shape[0], eager.weight.shape[0])
            table[:rows].copy_(eager.weight[:rows])
    return {"eager": eager, "reference": reference, "torch.nn": plain}


def forward_call(name: str, layer: nn.Module,
                 scenario: Scenario) -> Callable[[torch.Tensor], object]:
    call = getattr(layer, dict(scenario.methods).get(name, "forward"))
    if scenario.mode == "inference":
        def infer(ids: torch.Tensor) -> object:
            with torch.no_grad():
                return call(ids)
        return infer
    return call


def forward_backward_call(layer: nn.Module) -> Callable[[torch.Tensor, torch.Tensor], None]:
    def step(ids: torch.Tensor, grad: torch.Tensor) -> None:
        layer.zero_grad(set_to_none=True)
        layer(ids).backward(grad)
    return step


def time_ms(fns: dict[str, Callable[..., object] | None], args: tuple, device: torch.device,
            min_run_time: float, rounds: int,
            clock: Callable[[], float] = timeit.default_timer) -> dict[str, float | None]:
    """Milliseconds per call of each function: the best over ``rounds`` interleaved rounds
    of the median of a ``blocked_autorange``, so that load from other processes on a
    shared machine biases no implementation more than another."""
    timers = {}
    for name, fn in fns.items():
        if fn is not None:
            fn(*args)  # warm-up (and the one-time renorm of every referenced row)
            timers[name] = benchmark.Timer(stmt="fn(*args)", globals={"fn": fn, "args": args},
                                           timer=clock)
    if device.type == "cuda":
        torch.cuda.synchronize()
    best: dict[str, float | None] = dict.fromkeys(fns)
    for _ in range(rounds):
        for name, timer in timers.items():
            ms = timer.blocked_autorange(min_run_time=min_run_time).median * 1e3
            previous = best[name]
            best[name] = ms if previous is None else min(previous, ms)
    return best


def ratio(baseline: float | None, eager: float) -> str:
    return "-" if baseline is None else f"{baseline / eager:.2f}x"


def run(device: torch.device, min_run_time: float, rounds: int,
        clock: Callable[[], float]) -> list[list[object]]:
    rows = []
    for scenario in SCENARIOS:
        layers = layers_for(scenario, device)
        ids = torch.randint(0, scenario.config.num_embeddings, scenario.batch, device=device)
        dtype = scenario.config.dtype
        grad = torch.randn(*scenario.batch, scenario.config.embedding_dim, device=device,
                           dtype=dtype)
        passes = [("fwd", lambda name, layer, s=scenario: forward_call(name, layer, s), (ids,))]
        if scenario.mode == "train":
            passes.append(("fwd+bwd", lambda name, layer: forward_backward_call(layer),
                           (ids, grad)))
        for pass_name, make, args in passes:
            fns = {name: None if layer is None else make(name, layer)
                   for name, layer in layers.items()}
            times = time_ms(fns, args, device, min_run_time, rounds, clock)
            eager = times["eager"]
            rows.append([scenario.label, pass_name, f"{eager:.3f}",
                         f"{times['reference']:.3f}",
                         "-" if times["torch.nn"] is None else f"{times['torch.nn']:.3f}",
                         ratio(times["reference"], eager), ratio(times["torch.nn"], eager)])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--min-run-time", type=float, default=0.1,
                        help="seconds of timed runs per measurement (default: 0.1)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleaved rounds; the best median is kept (default: 5)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="measure this process's CPU time on one thread instead of wall "
                             "time (steadier on a machine shared with other work)")
    args = parser.parse_args()
    device = torch.device(args.device)
    clock = timeit.default_timer
    if args.cpu_time:
        if device.type != "cpu":
            parser.error("--cpu-time measures CPU work; use it with --device cpu")
        torch.set_num_threads(1)
        clock = time.process_time
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, "
          f"{'CPU' if args.cpu_time else 'wall'} time, float32, ids of shape (batch, seq), "
          f"V={V}, D={D} unless stated")
    headers = ["case", "pass", "eager ms", "reference ms", "torch.nn ms",
               "vs reference", "vs torch.nn"]
    print(tabulate(run(device, args.min_run_time, args.rounds, clock), headers=headers,
                   tablefmt="github"))
    print("speedup = baseline time / eager time (higher is better for eager)")


if __name__ == "__main__":
    main()
