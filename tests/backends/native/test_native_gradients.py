"""The native weight gradients of tables large enough to come from zero pages
(``csrc/zero_pages.h``: a fresh mapping of which only the referenced rows are written) and
of tables whose rows a batch mostly references (one pass writing every row), against the
eager backend's; strided binary packing; and the lookup's C++ autograd kernel.

The conformance profiles draw small tables, which never take the zero-pages path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from embedspec.backends.contract import BuildContext
from embedspec.backends.eager import EagerBackend
from embedspec.backends.native import NativeBackend, library
from embedspec.reference.configs import (
    BinaryConfig,
    EmbeddingConfig,
    LayerConfig,
    StableEmbeddingConfig,
    VocabParallelConfig,
)

library.load()

#: 4096 x 96 float32 is 1.5 MiB, over the 1 MiB from which a gradient may come from zero
#: pages; 24 ids reference at most 24 rows of it, 8192 ids nearly every row.
ROWS, DIM = 4096, 96
FEW_IDS, MANY_IDS = 24, 8192

CONFIGS: dict[str, LayerConfig] = {
    "embedding": EmbeddingConfig(ROWS, DIM, padding_idx=5),
    "embedding-freq": EmbeddingConfig(ROWS, DIM, padding_idx=5, scale_grad_by_freq=True),
    "embedding-float16": EmbeddingConfig(2 * ROWS, DIM, dtype=torch.float16),
    "stable": StableEmbeddingConfig(ROWS, DIM, padding_idx=5),
    "binary": BinaryConfig(ROWS, DIM, padding_idx=5),
    "vocab_parallel": VocabParallelConfig(ROWS + 64, DIM, org_num_embeddings=ROWS - 30,
                                          padding_size=64),
}

#: The stable layer norm's row gradients are summed in another order than the eager
#: backend's; a row of the gradient sums a few of them.
TOLERANCE = {"stable": {"rtol": 1e-4, "atol": 1e-4}}


def _ids(count: int, rows: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(count)
    ids = torch.randint(0, rows, (count,), generator=generator)
    ids[:4] = torch.tensor([5, 5, 7, 7])  # the padding row and a row repeated, always
    return ids


@pytest.mark.parametrize("count", [FEW_IDS, MANY_IDS], ids=["few-rows", "most-rows"])
@pytest.mark.parametrize("family", sorted(CONFIGS))
def test_large_table_gradient_matches_eager(family: str, count: int) -> None:
    """For a half-precision table the eager layer runs in float64: the native gradient sums
    in float32 and rounds once, which a half-precision sum would not match."""
    config = CONFIGS[family]
    torch.manual_seed(0)
    native = NativeBackend().build(config, BuildContext())
    dtype = native.weight.dtype
    oracle = config if dtype == torch.float32 else config.replace(dtype=torch.float64)
    eager = EagerBackend().build(oracle, BuildContext())
    eager.load_state_dict(native.state_dict())
    ids = _ids(count, config.num_embeddings)
    direction = torch.randn(count, DIM).to(dtype)
    grads = []
    for layer in (native, eager):
        (layer(ids) * direction.to(layer.weight.dtype)).sum().backward()
        grads.append(layer.weight.grad)
    torch.testing.assert_close(grads[0], grads[1].to(dtype), **TOLERANCE.get(family, {}))
    untouched = grads[1].eq(0).all(dim=1)
    assert untouched.sum() > grads[1].shape[0] // 10 or count == MANY_IDS
    assert grads[0][untouched].eq(0).all(), "a row the eager gradient leaves zero is nonzero"


def _status_kib(field: str) -> int:
    """A ``/proc/self/status`` figure (``VmSize``, ``RssAnon``) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


linux_only = pytest.mark.skipif(not Path("/proc/self/status").exists(),
                                reason="needs /proc/self/status")


@linux_only
def test_few_referenced_rows_fault_in_few_pages() -> None:
    """A 16 MiB gradient of 24 referenced rows is backed by their pages only; written
    whole it would add 16 MiB of resident memory."""
    rows, dim = 8192, 512
    ids, grad = _ids(FEW_IDS, rows), torch.randn(FEW_IDS, dim)
    before = _status_kib("RssAnon")
    out = torch.ops.embedspec.dense_backward(grad, ids, rows, -1, False)
    assert _status_kib("RssAnon") - before < 4096, "the untouched pages were written"
    torch.testing.assert_close(out, torch.ops.aten.embedding_dense_backward(grad, ids, rows,
                                                                             -1, False))


@linux_only
def test_zero_pages_gradients_are_released_and_behave_as_tensors() -> None:
    ids = _ids(FEW_IDS, ROWS)
    grad = torch.randn(FEW_IDS, DIM)
    expected = torch.ops.aten.embedding_dense_backward(grad, ids, ROWS, -1, False)
    before = _status_kib("VmSize")
    for _ in range(200):  # 300 MiB of mappings if none were released
        out = torch.ops.embedspec.dense_backward(grad, ids, ROWS, -1, False)
    assert _status_kib("VmSize") - before < 64 * 1024, "the gradients' mappings were kept"
    torch.testing.assert_close(out, expected)
    out.add_(1.0)  # writable everywhere, the pages no row was written to included
    torch.testing.assert_close(out, expected + 1.0)
    out.resize_(ROWS * 2, DIM)  # a resizable storage, its contents kept
    torch.testing.assert_close(out[:ROWS], expected + 1.0)
    torch.testing.assert_close(torch.ops.embedspec.dense_backward(grad, ids, ROWS, -1, False)
                               .clone(), expected)


@pytest.mark.parametrize("centre", [False, True])
def test_binary_pack_of_strided_rows_matches_contiguous(centre: bool) -> None:
    """Rows of stride 1 are packed eight entries at a time, others entry by entry."""
    strided = torch.randn(37, 29).t()  # rows of stride 29, D = 37 not a multiple of 8
    bits, scale = torch.ops.embedspec.binary_pack(strided, 3, centre)
    contiguous_bits, contiguous_scale = torch.ops.embedspec.binary_pack(strided.contiguous(),
                                                                        3, centre)
    assert torch.equal(bits, contiguous_bits)
    torch.testing.assert_close(scale, contiguous_scale)


def _lookup(weight: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    return torch.ops.embedspec.lookup(weight, ids, -1, False, False)


def test_lookup_graph_node() -> None:
    """A node only where the weight requires a gradient; compiled autograd runs it."""
    weight = torch.randn(10, 4, requires_grad=True)
    ids = torch.tensor([1, 2, 2])
    with torch.no_grad():
        assert _lookup(weight, ids).grad_fn is None
    assert _lookup(weight.detach(), ids).grad_fn is None
    out = _lookup(weight, ids)
    out.sum().backward()
    torch.testing.assert_close(weight.grad[2], torch.full((4,), 2.0))
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        out.sum().backward()
    from torch._dynamo import compiled_autograd

    weight.grad = None
    with compiled_autograd._enable(torch.compile(backend="eager")):
        _lookup(weight, ids).sum().backward()
    torch.testing.assert_close(weight.grad[2], torch.full((4,), 2.0))


def test_lookup_refuses_a_forward_mode_tangent() -> None:
    weight, ids = torch.randn(10, 4), torch.tensor([1, 2])
    message = re.escape("embedspec::lookup has no forward-mode derivative")
    with pytest.raises(NotImplementedError, match=message):
        torch.func.jvp(lambda w: _lookup(w, ids), (weight,), (torch.ones(10, 4),))
