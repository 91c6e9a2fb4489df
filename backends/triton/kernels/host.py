"""Host-side helpers shared by the launchers: launching, accumulation dtypes."""

import torch
import triton.language as tl
from torch._subclasses.fake_tensor import is_fake
from torch.library import wrap_triton

from ..runtime import interpreting


def launch(kernel, grid: tuple[int, ...], *args, **meta) -> None:
    """Run ``kernel[grid](*args, **meta)`` through ``wrap_triton``, so that
    ``torch.compile`` records natively compiled kernels in its graph.

    Interpreted kernels cannot be traced (``wrap_triton`` hands them back unchanged): the
    ops are then opaque to compilers (:mod:`..ops.registration`), and shape propagation
    with fake tensors runs the launchers without launching anything.
    """
    if interpreting() and any(isinstance(a, torch.Tensor) and is_fake(a) for a in args):
        return
    if any(isinstance(size, int) and size <= 0 for size in grid):
        return
    wrap_triton(kernel)[grid](*args, **meta)


def accumulate_dtype(dtype: torch.dtype) -> tl.dtype:
    """The Triton dtype kernels accumulate ``dtype`` data in: float64 for float64, float32
    for every other floating dtype (S0.7's accumulation rule)."""
    return tl.float64 if dtype == torch.float64 else tl.float32

