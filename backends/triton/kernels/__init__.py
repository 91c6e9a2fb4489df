"""The Triton kernels of the Triton backend, one module per operation, each with its
``@triton.jit`` kernel(s) and a host-side launcher taking and returning torch tensors.

Import this package only after :func:`embedspec.backends.triton.runtime.runtime` has
run: Triton reads ``TRITON_INTERPRET`` when the kernels are decorated.

Launchers trust their arguments: the layers validate ids, dtypes and options before
any kernel writes (S0.2-S0.5). Every kernel computes in float32 (float64 for float64
data) and rounds once when it stores, as torch rounds (:mod:`.rounding`).
"""

from ..runtime import runtime

runtime()  # sets TRITON_INTERPRET=1 without a CUDA device, before any kernel is decorated
