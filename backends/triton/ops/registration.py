"""Registering launchers as torch operators.

Every operator is a ``torch.library.triton_op`` in the ``embedspec_triton`` namespace
whose body launches its kernels through ``wrap_triton``: natively on CUDA,
``torch.compile`` decomposes it and sees the kernels themselves (no graph break).
Interpreted kernels cannot be traced (``wrap_triton`` returns them unchanged), so under
the interpreter each operator stays opaque to functionalization, like a
``torch.library.custom_op``: compiled graphs call it as one node, and its fake
implementation is the same body with the launches skipped (:func:`..kernels.host.launch`).
"""

from collections.abc import Callable, Iterable

from torch._subclasses.functional_tensor import FunctionalTensorMode
from torch.library import triton_op

from ..runtime import interpreting

NAMESPACE = "embedspec_triton"


def _opaque(mode, op, types, args, kwargs):
    return mode.__torch_dispatch__(op, types, args, kwargs)


def define(name: str, mutates_args: Iterable[str] = (), namespace: str = NAMESPACE
           ) -> Callable[[Callable], Callable]:
    """Decorator: register the annotated function as ``namespace::name``."""

    def register(fn: Callable) -> Callable:
        op = triton_op(f"{namespace}::{name}", mutates_args=tuple(mutates_args))(fn)
        if interpreting():
            op.register_torch_dispatch(FunctionalTensorMode, _opaque)
        return op

    return register
