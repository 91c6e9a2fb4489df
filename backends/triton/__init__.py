"""The Triton backends (``triton``, ``triton-deterministic``): Triton kernels for every
single-process family, natively on CUDA or through Triton's interpreter on CPU.

Importing this package does not import triton; building a layer does (see
:mod:`.runtime`).
"""

from embedspec.backends.triton.backend import TritonBackend, TritonDeterministicBackend

__all__ = ["TritonBackend", "TritonDeterministicBackend"]
