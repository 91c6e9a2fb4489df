"""Where the Triton backend runs: natively on CUDA, or through Triton's interpreter on CPU.

Triton compiles kernels for GPUs only. On a machine without a CUDA device, its
interpreter (``TRITON_INTERPRET=1``) runs the same kernels on CPU tensors, program by
program, with numpy. Triton reads ``TRITON_INTERPRET`` when a kernel is decorated with
``@triton.jit``, so :func:`prepare` must run before the kernel modules are imported:
when no CUDA device is visible and the variable is unset, it sets
``TRITON_INTERPRET=1`` for the process (documented in docs/triton.md). A user who set
``TRITON_INTERPRET=0`` on such a machine gets an unavailable backend with the reason.

This module imports neither triton nor the kernels at import time, so that the
registry can list the backend (and say why it is unavailable) without triton.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass

import torch

INTERPRET_ENV = "TRITON_INTERPRET"


@dataclass(frozen=True)
class Runtime:
    """How kernels run here: ``mode`` is ``"cuda"`` or ``"interpreter"``; ``reason``
    is non-empty when they cannot run at all."""

    mode: str
    triton_version: str
    reason: str = ""

    @property
    def device(self) -> str:
        """The one device the backend's layers live on in this mode."""
        return "cuda" if self.mode == "cuda" else "cpu"

    @property
    def where(self) -> str:
        """``"cuda (native)"`` or ``"cpu (interpreter)"``, for listings and reports."""
        return "cuda (native)" if self.mode == "cuda" else "cpu (interpreter)"


def _interpret_requested() -> bool | None:
    value = os.environ.get(INTERPRET_ENV)
    if value is None or not value.strip():
        return None
    return value.strip().lower() in ("1", "true", "on", "yes")


@functools.cache
def runtime() -> Runtime:
    """Decide, once per process, how the kernels run, setting ``TRITON_INTERPRET=1``
    when there is no CUDA device and the variable is unset."""
    if importlib.util.find_spec("triton") is None:
        return Runtime("none", "", "triton is not installed (pip install 'embedspec[triton]')")
    version = importlib.metadata.version("triton")
    requested = _interpret_requested()
    if torch.cuda.is_available() and not requested:
        return Runtime("cuda", version)
    if requested is False:
        return Runtime("none", version, f"{INTERPRET_ENV}=0 and no CUDA device: Triton has "
                       "nothing to run its kernels on (unset it to use the interpreter)")
    os.environ[INTERPRET_ENV] = "1"
    return Runtime("interpreter", version)


def interpreting() -> bool:
    """True when kernels run through Triton's interpreter."""
    return runtime().mode == "interpreter"


def check_kernels_follow_mode() -> str:
    """Empty if the decorated kernels match the runtime mode, else why not (a triton that
    read ``TRITON_INTERPRET`` before :func:`prepare` could set it)."""
    from triton.runtime.interpreter import InterpretedFunction

    from .kernels.gather import gather_kernel

    interpreted = isinstance(gather_kernel, InterpretedFunction)
    if interpreted == interpreting():
        return ""
    return (f"the Triton kernels were decorated {'with' if interpreted else 'without'} "
            f"the interpreter but the backend runs in {runtime().mode} mode: triton was "
            f"imported and configured before {INTERPRET_ENV} could be set; set "
            f"{INTERPRET_ENV}=1 before starting Python")
