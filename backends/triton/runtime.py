"""Where the Triton backend runs: natively on CUDA, or through Triton's interpreter on CPU.

Triton compiles kernels for GPUs only. On a machine without a CUDA device, its
interpreter (``TRITON_INTERPRET=1``) runs the same kernels on CPU tensors, program by
program, with numpy. Triton reads ``TRITON_INTERPRET`` when a kernel is decorated with
``@triton.jit``, so :func:`runtime` must run before the kernel modules are imported:
when no CUDA device is visible and the variable is unset, it sets
``TRITON_INTERPRET=1`` for the process (documented in docs/triton.md). A user who set
``TRITON_INTERPRET=0`` on such a machine gets an unavailable backend with the reason.

Triton's own language helpers (``tl.zeros``, ``tl.sum``) are decorated when
``triton.language`` is first imported, so the variable must be set before anything
imports triton (``torch._dynamo`` does): :func:`check_kernels_follow_mode` reports a
process where that happened, and the backend is then unavailable with that reason.

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
    """Empty if Triton's language helpers and the backend's kernels were decorated for the
    runtime mode, else why not: a process that imported triton (``torch._dynamo`` does)
    before :func:`runtime` could set ``TRITON_INTERPRET=1`` has compiled-mode helpers,
    which the interpreter cannot call."""
    import triton.language as tl
    from triton.runtime.interpreter import InterpretedFunction

    from .kernels.gather import gather_kernel

    for what, fn in (("triton.language", tl.zeros), ("the backend's kernels", gather_kernel)):
        if isinstance(fn, InterpretedFunction) != interpreting():
            decorated = "compiled" if interpreting() else "interpreted"
            return (f"{what} are set up as {decorated} kernels but the backend runs in "
                    f"{runtime().mode} mode: triton was imported before {INTERPRET_ENV} "
                    f"could be set (torch._dynamo imports it); set {INTERPRET_ENV}=1 before "
                    "starting Python, or load the backend before anything imports triton")
    return ""
