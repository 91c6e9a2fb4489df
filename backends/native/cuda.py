"""The CUDA kernels of the ``embedspec`` operators, for the CUDA dispatch key.

When a GPU is present, the library of :mod:`.cuda_build` is loaded with ctypes and each
operator gets a CUDA kernel: a Python function that allocates the outputs with torch,
passes raw pointers, sizes, strides, dtype codes and the current stream to the C ABI
(``cuda/embedspec_cuda.h``) and checks ids before anything is written (the range is read
back synchronously, so an out-of-range id is an ``IndexError`` at the call, S0.3).

Covered: the embedding and sharded families (gather, dense and sparse backward, renorm,
norm terms, row scaling) and the vocab-parallel masked lookup. The stable and binary
operators have CPU kernels only, so the backend does not declare them on CUDA.
"""

from __future__ import annotations

import ctypes
from typing import Any

import torch

from .cuda_build import build_cuda_library

CUDA_FAMILIES: tuple[str, ...] = ("embedding", "sharded", "vocab_parallel")
DTYPE_CODES = {torch.float32: 0, torch.float64: 1, torch.float16: 2, torch.bfloat16: 3}
MAX_DIMS = 8

_I64, _PTR, _INT, _F64 = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int, ctypes.c_double
SIGNATURES: dict[str, tuple] = {
    "es_flatten_ids": (_PTR, _INT, _INT, _PTR, _PTR, _I64, _PTR, _PTR),
    "es_id_range": (_PTR, _I64, _PTR, _PTR),
    "es_gather": (_PTR, _INT, _I64, _I64, _I64, _PTR, _I64, _PTR, _PTR),
    "es_dense_backward": (_PTR, _INT, _PTR, _I64, _I64, _I64, _I64, _INT, _PTR, _PTR),
    "es_select_positions": (_PTR, _I64, _I64, _PTR, _PTR, _PTR),
    "es_take_ids": (_PTR, _PTR, _I64, _PTR, _PTR),
    "es_renorm": (_PTR, _INT, _I64, _I64, _I64, _I64, _PTR, _I64, _F64, _F64, _INT, _PTR),
    "es_norm_terms": (_PTR, _INT, _I64, _I64, _I64, _PTR, _I64, _F64, _PTR, _PTR),
    "es_scale_rows": (_PTR, _INT, _I64, _I64, _I64, _PTR, _I64, _PTR, _PTR),
    "es_vocab_rows": (_PTR, _I64, _I64, _I64, _I64, _I64, _I64, _PTR, _PTR),
}


class CudaKernels:
    """The loaded C ABI; each method enqueues on the current stream of the tensors' device."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self.library = library
        for name, argtypes in SIGNATURES.items():
            function = getattr(library, name)
            function.argtypes = argtypes
            function.restype = ctypes.c_int

    def __call__(self, name: str, *args: Any) -> None:
        status = getattr(self.library, name)(*args, _stream())
        if status != 0:
            raise RuntimeError(f"{name} failed with CUDA error {status}")

    def flat_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """The ids as contiguous int64, every stride honoured."""
        if ids.dim() > MAX_DIMS:
            ids = ids.contiguous()
        flat = torch.empty(ids.numel(), dtype=torch.int64, device=ids.device)
        sizes = (ctypes.c_int64 * max(ids.dim(), 1))(*ids.shape)
        strides = (ctypes.c_int64 * max(ids.dim(), 1))(*ids.stride())
        code = 1 if ids.dtype == torch.int64 else 0
        self("es_flatten_ids", ids.data_ptr(), code, ids.dim(), ctypes.addressof(sizes),
             ctypes.addressof(strides), ids.numel(), flat.data_ptr())
        return flat

    def checked_ids(self, ids: torch.Tensor, num_valid: int, name: str = "input") -> torch.Tensor:
        """Flat ids, once every one lies in ``[0, num_valid)`` (``IndexError`` otherwise)."""
        if ids.dtype not in (torch.int32, torch.int64):
            raise TypeError(f"{name} must have dtype int32 or int64, got {ids.dtype}")
        flat = self.flat_ids(ids)
        if flat.numel():
            bounds = torch.empty(2, dtype=torch.int64, device=flat.device)
            self("es_id_range", flat.data_ptr(), flat.numel(), bounds.data_ptr())
            lo, hi = bounds.tolist()
            if lo < 0 or hi >= num_valid:
                bad = lo if lo < 0 else hi
                raise IndexError(f"{name} holds id {bad}, outside the valid range "
                                 f"[0, {num_valid})")
        return flat

    def gather(self, table: torch.Tensor, flat: torch.Tensor) -> torch.Tensor:
        out = table.new_empty((flat.numel(), table.shape[1]))
        self("es_gather", table.data_ptr(), DTYPE_CODES[table.dtype], table.shape[1],
             table.stride(0), table.stride(1), flat.data_ptr(), flat.numel(), out.data_ptr())
        return out

    def dense(self, grad: torch.Tensor, flat: torch.Tensor, rows: int, padding_idx: int,
              scale: bool) -> torch.Tensor:
        dim = grad.shape[-1]
        grad = grad.reshape(flat.numel(), dim).contiguous()
        out = grad.new_empty((rows, dim))
        self("es_dense_backward", grad.data_ptr(), DTYPE_CODES[grad.dtype], flat.data_ptr(),
             flat.numel(), rows, dim, padding_idx, int(scale), out.data_ptr())
        return out


def _stream() -> ctypes.c_void_p:
    return ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)


def _with_shape(out: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    return out.view(*ids.shape, out.shape[-1])


def _register(k: CudaKernels) -> None:
    def impl(name: str):
        return torch.library.impl(f"embedspec::{name}", "CUDA")

    @impl("lookup")
    def _(weight, ids, padding_idx, scale_grad_by_freq, sparse):
        return _with_shape(k.gather(weight, k.checked_ids(ids, weight.shape[0])), ids)

    @impl("dense_backward")
    def _(grad, ids, num_weights, padding_idx, scale_grad_by_freq):
        return k.dense(grad, k.flat_ids(ids), num_weights, padding_idx, scale_grad_by_freq)

    @impl("sparse_backward")
    def _(grad, ids, padding_idx):
        flat = k.flat_ids(ids)
        dim = grad.shape[-1]
        kept = torch.empty(flat.numel(), dtype=torch.int64, device=flat.device)
        count = torch.zeros(1, dtype=torch.int64, device=flat.device)
        if dim > 0:
            k("es_select_positions", flat.data_ptr(), flat.numel(), padding_idx,
              kept.data_ptr(), count.data_ptr())
        kept = kept[:int(count.item())]
        indices = torch.empty(kept.numel(), dtype=torch.int64, device=flat.device)
        k("es_take_ids", flat.data_ptr(), kept.data_ptr(), kept.numel(), indices.data_ptr())
        values = k.gather(grad.reshape(flat.numel(), dim).contiguous(), kept)
        return indices.view(1, -1), values

    @impl("renorm_")
    def _(weight, ids, max_norm, norm_type, rounding):
        flat = k.checked_ids(ids, weight.shape[0])
        k("es_renorm", weight.data_ptr(), DTYPE_CODES[weight.dtype], weight.shape[0],
          weight.shape[1], weight.stride(0), weight.stride(1), flat.data_ptr(), flat.numel(),
          max_norm, norm_type, rounding)

    @impl("norm_terms")
    def _(weight, rows, norm_type):
        flat = k.flat_ids(rows)
        terms = torch.empty(flat.numel(), dtype=torch.float64, device=weight.device)
        k("es_norm_terms", weight.data_ptr(), DTYPE_CODES[weight.dtype], weight.shape[1],
          weight.stride(0), weight.stride(1), flat.data_ptr(), flat.numel(), norm_type,
          terms.data_ptr())
        return terms

    @impl("scale_rows_")
    def _(weight, rows, factors):
        flat = k.flat_ids(rows)
        factors = factors.reshape(-1).to(torch.float64).contiguous()
        k("es_scale_rows", weight.data_ptr(), DTYPE_CODES[weight.dtype], weight.shape[1],
          weight.stride(0), weight.stride(1), flat.data_ptr(), flat.numel(),
          factors.data_ptr())

    def local_rows(flat: torch.Tensor, shard: tuple) -> torch.Tensor:
        rows = torch.empty_like(flat)
        k("es_vocab_rows", flat.data_ptr(), flat.numel(), *shard, rows.data_ptr())
        return rows

    @impl("vocab_lookup")
    def _(weight, ids, num_valid, *shard):
        flat = k.checked_ids(ids, num_valid, "input_")
        return _with_shape(k.gather(weight, local_rows(flat, shard)), ids)

    @impl("vocab_backward")
    def _(grad, ids, num_weights, *shard):
        return k.dense(grad, local_rows(k.flat_ids(ids), shard), num_weights, -1, False)


def register_if_available() -> tuple[str, ...]:
    """Load and register the CUDA kernels when a GPU is present; the families they cover
    (none without a GPU, or when the library cannot be built)."""
    if not torch.cuda.is_available():
        return ()
    _register(CudaKernels(ctypes.CDLL(str(build_cuda_library()))))
    return CUDA_FAMILIES
