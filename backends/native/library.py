"""Loading the native operators: the compiled CPU library (built on first use, see
:mod:`.build`), their Python registrations (:mod:`.ops`) and, when a GPU is present, the
CUDA kernels (:mod:`.cuda`)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from . import ops
from .build import NativeBuildError, load_library

CSRC = Path(__file__).with_name("csrc")
#: The C++ sources of the operator library, one per operation family.
SOURCES: tuple[Path, ...] = tuple(CSRC / f"{name}.cpp" for name in (
    "gather", "backward", "renorm", "stable", "binary", "vocab"))
LIBRARY_NAME = "embedspec_native"

_lock = threading.Lock()
_state: dict[str, object] = {}


def load() -> None:
    """Make the ``torch.ops.embedspec`` operators usable (compiling them the first time).
    Raises :class:`NativeBuildError` with the reason when they cannot be built here."""
    with _lock:
        if "error" in _state:
            raise NativeBuildError(str(_state["error"]))
        if "loaded" in _state:
            return
        try:
            load_library(LIBRARY_NAME, SOURCES)
        except NativeBuildError as exc:
            _state["error"] = exc
            raise
        ops.register_all()
        from . import cuda

        try:
            _state["cuda"] = cuda.register_if_available()
        except (NativeBuildError, OSError) as exc:
            _state["cuda"] = ()
            print(f"embedspec: the native CUDA kernels are not used: {exc}", file=sys.stderr)
        _state["loaded"] = True


def cuda_families() -> tuple[str, ...]:
    """The families whose CUDA kernels are registered (none without a GPU)."""
    load()
    return _state["cuda"]  # type: ignore[return-value]
