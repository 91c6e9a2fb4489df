"""The native backend: C++ CPU and CUDA kernels behind ``torch.library`` operators.

Importing this package compiles nothing; the kernels are built (once, cached) when the
backend is first used. See docs/native.md.
"""

from embedspec.backends.native.backend import NativeBackend
from embedspec.backends.native.distributed import DistributedNativeBackend
from embedspec.backends.native.kernels import NativeKernels

__all__ = ["DistributedNativeBackend", "NativeBackend", "NativeKernels"]
