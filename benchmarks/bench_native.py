"""Speed of the native backend against torch.nn and the eager backend: every ratio of the
native backend's targets, measured in this one run and printed beside its target.

Each measurement is a function returning rows; every timing is the median of interleaved
repetitions (:func:`median_ms`), on 1 and 2 threads, float32, CPU. Ratios are
baseline time / native time (higher is better) except the bandwidth row, which is the
fraction of this machine's measured copy bandwidth the gather reaches. Beside the
forward and max_norm ratios the note gives the most any kernel could reach here
(:func:`bound_note`); beside each dense backward, the ratio with one full read of the
gradient after it (the deferred cost of its zero pages).

On a CUDA device with the native CUDA kernels loaded it adds the GPU targets: the
forward's fraction of the device's copy bandwidth (>= 64 MB moved) and the dense
backward against torch's, timed with CUDA events.

Run: ``python benchmarks/bench_native.py [--threads 1,2] [--repeats 15]
[--devices cpu,cuda]``.
"""

from __future__ import annotations

import argparse
import statistics
from functools import partial

import torch
from embedspec.backends.contract import BuildContext
from embedspec.backends.eager import EagerBackend
from embedspec.backends.native import NativeBackend
from embedspec.reference.configs import BinaryConfig, EmbeddingConfig, StableEmbeddingConfig
from native_cuda import DEVICE_MEASUREMENTS, cuda_unavailable
from native_rows import SHAPES, Row, bandwidth_row, make_ids, median_ms, row, times_ms
from tabulate import tabulate
from torch import nn

REPEATS = 15

#: Outputs from this size up come from fresh mappings on some calls and not others, so
#: even the best time of a call moves with page faults run to run: no bound is printed.
BOUND_MAX_BYTES = 16 << 20


def with_bound(layer: nn.Module, reference: nn.Module, ids: torch.Tensor,
               repeats: int) -> dict[str, float]:
    """Median times of ``layer`` and ``reference`` on ``ids``; for an output under
    :data:`BOUND_MAX_BYTES`, also the best times of ``reference`` (``torch_best``) and of
    the two calls :func:`bound_note` compares it with: ``one_row``, ``layer`` on ids that
    are all 0, and ``copy``, a copy of the output's bytes into a fresh tensor."""
    functions = {"native": partial(layer, ids), "torch": partial(reference, ids)}
    bounded = ids.numel() * layer.embedding_dim * layer.weight.element_size() < BOUND_MAX_BYTES
    if bounded:
        source = torch.randn(ids.numel(), layer.embedding_dim, dtype=layer.weight.dtype)
        functions |= {"one_row": partial(layer, torch.zeros_like(ids)),
                      "copy": partial(torch.clone, source)}
    times = times_ms(functions, repeats)
    medians = {"native": statistics.median(times["native"]),
               "torch": statistics.median(times["torch"])}
    if not bounded:
        return medians
    return medians | {"torch_best": min(times["torch"]), "one_row": min(times["one_row"]),
                      "copy": min(times["copy"])}


def build(config, backend=NativeBackend) -> nn.Module:
    return backend().build(config, BuildContext())


def torch_embedding(layer: nn.Module, **options) -> nn.Embedding:
    reference = nn.Embedding(layer.num_embeddings, layer.embedding_dim, **options)
    with torch.no_grad():
        reference.weight.copy_(layer.weight)
    return reference


def bound_note(times: dict[str, float]) -> str:
    """The ratios no kernel could beat, as the baseline's best time over the best time of
    each of two calls (page faults and other tenants only ever add to a time): the same
    call on ids that are all 0 (the same allocation, dispatch and stores, reading one
    cached row: a bound for any ids), and a copy of the output's bytes into a fresh tensor
    (the bytes a gather of distinct rows must read and write, with no dispatch or checks:
    a bound for ids without repeats). ``times`` from :func:`with_bound`."""
    if "copy" not in times:
        return "no bound: outputs this large are bound by page faults that vary run to run"
    best = times["torch_best"]
    return (f"bound {best / times['one_row']:.1f}x: the call on ids all 0 takes "
            f"{times['one_row']:.3f} ms; {best / times['copy']:.1f}x: a fresh copy of "
            f"the output's bytes takes {times['copy']:.3f} ms (best times)")


def forward_vs_torch(threads: int, repeats: int) -> list[Row]:
    """Forward (autograd on) against torch.nn.Embedding: >= 1.0x, >= 1.3x at <= 512 ids."""
    rows = []
    for label, (vocab, dim, shape) in SHAPES.items():
        layer = build(EmbeddingConfig(num_embeddings=vocab, embedding_dim=dim))
        reference = torch_embedding(layer)
        target = 1.3 if int(torch.tensor(shape).prod()) <= 512 else 1.0
        for distribution in ("uniform", "zipf"):
            ids = make_ids(vocab, shape, distribution)
            t = with_bound(layer, reference, ids, repeats)
            note = bound_note(t)
            rows.append(row(f"forward {label} {distribution}", threads, t["native"],
                            t["torch"], target, note))
    return rows


def forward_bandwidth(threads: int, repeats: int) -> list[Row]:
    """The gather into a preallocated output against a plain copy of as many bytes
    (read + write, >= 64 MB moved): >= 0.8 of the copy bandwidth."""
    vocab, dim, shape = 50257, 768, (16, 1024)
    weight = torch.randn(vocab, dim)
    ids = make_ids(vocab, shape, "uniform")
    out = torch.empty(ids.numel(), dim)
    source, target = torch.randn(ids.numel(), dim), torch.empty(ids.numel(), dim)
    moved = 2 * out.nbytes
    t = median_ms({"native": lambda: torch.ops.embedspec.lookup_out(weight, ids, out),
                   "copy": lambda: target.copy_(source)}, repeats)
    return [bandwidth_row(f"forward into out, {moved / 1e6:.0f} MB moved", threads,
                          t["native"], t["copy"], moved)]


def dense_backward(threads: int, repeats: int) -> list[Row]:
    """The dense weight gradient against torch's (aten.embedding_dense_backward): >= 3x;
    the first-touch floor of a fresh (V, D) gradient printed beside. The native gradient
    of few referenced rows comes from zero pages, whose untouched pages fault when first
    read, so a second row times each gradient followed by one full read (``sum``)."""
    rows = []
    for label, (vocab, dim, shape) in list(SHAPES.items())[:2]:
        for distribution in ("uniform", "zipf"):
            ids = make_ids(vocab, shape, distribution)
            grad = torch.randn(*shape, dim)
            preallocated = torch.empty(vocab, dim)
            arguments = (grad, ids, vocab, -1, False)
            native = partial(torch.ops.embedspec.dense_backward, *arguments)
            baseline = partial(torch.ops.aten.embedding_dense_backward, *arguments)
            t = median_ms({
                "native": native, "torch": baseline,
                "native_read": lambda native=native: native().sum(),
                "torch_read": lambda baseline=baseline: baseline().sum(),
                "zeros": partial(torch.zeros, vocab, dim),
                "zero_": preallocated.zero_,
            }, repeats)
            rows.append(row(f"dense backward {label} {distribution}", threads, t["native"],
                            t["torch"], 3.0, f"floor: torch.zeros {t['zeros']:.1f} ms, "
                            f"zero_() {t['zero_']:.1f} ms"))
            rows.append(row(f"  then read whole, {label} {distribution}", threads,
                            t["native_read"], t["torch_read"], None,
                            "the zero pages' deferred cost included"))
    return rows


def max_norm_forward(threads: int, repeats: int) -> list[Row]:
    """Forward with max_norm against torch.nn.Embedding(max_norm=...): >= 10x."""
    rows = []
    for label, (vocab, dim, shape) in list(SHAPES.items())[:2]:
        layer = build(EmbeddingConfig(num_embeddings=vocab, embedding_dim=dim, max_norm=1.0))
        reference = torch_embedding(layer, max_norm=1.0)
        ids = make_ids(vocab, shape, "zipf")
        t = with_bound(layer, reference, ids, max(3, repeats // 3))
        rows.append(row(f"max_norm forward {label} zipf", threads, t["native"], t["torch"], 10.0,
                        "steady state (the warm-up renormalised the rows); "
                        + bound_note(t)))
    return rows


def binary_packed_forward(threads: int, repeats: int) -> list[Row]:
    """forward_packed (pack the table, look ids up) against the eager backend's: >= 5x."""
    config = BinaryConfig(num_embeddings=32000, embedding_dim=512)
    native = build(config)
    eager = build(config, EagerBackend)
    eager.load_state_dict(native.state_dict())
    ids = make_ids(32000, (4, 512), "uniform")
    t = median_ms({"native": lambda: native.forward_packed(ids),
                   "eager": lambda: eager.forward_packed(ids)}, max(3, repeats // 3))
    return [row("binary packed forward 32000x512", threads, t["native"], t["eager"], 5.0,
                "baseline: eager backend")]


def stable_train_step(threads: int, repeats: int) -> list[Row]:
    """Stable forward + backward against torch.nn.Embedding + torch.nn.LayerNorm: >= 1.5x."""
    vocab, dim, shape = SHAPES["32000x512"]
    native = build(StableEmbeddingConfig(num_embeddings=vocab, embedding_dim=dim))
    embedding, norm = torch_embedding(native), nn.LayerNorm(dim)
    ids = make_ids(vocab, shape, "zipf")
    grad = torch.randn(*shape, dim)

    def native_step() -> None:
        native.zero_grad(set_to_none=True)
        native(ids).backward(grad)

    def torch_step() -> None:
        embedding.zero_grad(set_to_none=True)
        norm.zero_grad(set_to_none=True)
        norm(embedding(ids)).backward(grad)

    t = median_ms({"native": native_step, "torch": torch_step}, repeats)
    return [row("stable fwd+bwd 32000x512 zipf", threads, t["native"], t["torch"], 1.5)]


MEASUREMENTS = (forward_vs_torch, forward_bandwidth, dense_backward, max_norm_forward,
                binary_packed_forward, stable_train_step)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--devices", default="cpu,cuda",
                        help="cpu (the rows above, per thread count) and/or cuda")
    args = parser.parse_args()
    devices = args.devices.split(",")
    torch.manual_seed(0)
    NativeBackend().availability()
    table = []
    if "cpu" in devices:
        for threads in (int(t) for t in args.threads.split(",")):
            torch.set_num_threads(threads)
            for measure in MEASUREMENTS:
                rows = measure(threads, args.repeats)
                table.extend(rows)
                print(tabulate(rows, tablefmt="plain"), flush=True)
    if "cuda" in devices:
        if (reason := cuda_unavailable()) is not None:
            print(f"CUDA rows (forward >= 0.8 of copy, dense backward >= 1.5x torch's) not "
                  f"measured: {reason}")
        else:
            for measure in DEVICE_MEASUREMENTS:
                rows = measure(torch.device("cuda"), args.repeats)
                table.extend(rows)
                print(tabulate(rows, tablefmt="plain"), flush=True)
    print()
    print(tabulate(table, headers=["measurement", "threads/device", "native ms", "baseline ms",
                                   "ratio", "target", "met", "note"]))


if __name__ == "__main__":
    main()
