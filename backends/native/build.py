"""Compiling the native kernels on first use, and caching the result.

A library is built from its C++ sources with ``torch.utils.cpp_extension.load`` (the
torch already installed: no build step installs anything) into a directory keyed by a
hash of the sources and headers, the torch and Python versions and the compiler flags,
under the user cache directory (``$EMBEDSPEC_CACHE_DIR``, else
``$XDG_CACHE_HOME/embedspec``, else ``~/.cache/embedspec``). A later process whose key
matches loads the cached library without compiling. While compiling, progress goes to
stderr. Every failure (no compiler, no ninja, a compile error) is a
:class:`NativeBuildError` carrying the reason, so the backend can report itself
unavailable instead of crashing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import sysconfig
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import torch

#: Flags of every native build: optimised, OpenMP for at::parallel_for.
CXX_FLAGS: tuple[str, ...] = ("-O3", "-fopenmp", "-Wall", "-Wno-unused-function")
LD_FLAGS: tuple[str, ...] = ("-fopenmp",)
PROGRESS_INTERVAL_S = 5.0


class NativeBuildError(RuntimeError):
    """A native library cannot be built or loaded here; the message says why."""


def cache_root() -> Path:
    """Where built libraries are cached."""
    explicit = os.environ.get("EMBEDSPEC_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "embedspec"


def build_key(sources: Sequence[Path], flags: Sequence[str],
              include_dirs: Sequence[Path] = ()) -> str:
    """A hash of the sources (and every header beside them or in ``include_dirs``),
    torch's and Python's versions and the flags: equal keys mean an identical build."""
    digest = hashlib.sha256()
    files = set(sources)
    for folder in {s.parent for s in sources} | set(include_dirs):
        files.update(folder.glob("*.h"))
    for path in sorted(files):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(torch.__version__.encode())
    digest.update(sysconfig.get_config_var("SOABI").encode() if sysconfig.get_config_var(
        "SOABI") else sys.version.encode())
    digest.update("\0".join(flags).encode())
    return digest.hexdigest()[:16]


def missing_tools() -> str | None:
    """Why nothing can be compiled here, or None when a C++ compiler and ninja exist."""
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        return f"no C++ compiler: {compiler!r} is not on PATH (set CXX to one)"
    try:
        from torch.utils.cpp_extension import verify_ninja_availability

        verify_ninja_availability()
    except Exception as exc:
        return f"ninja is required to compile the native kernels: {exc}"
    return None


_LOADED: dict[str, Path] = {}
_LOCK = threading.Lock()


def load_library(name: str, sources: Sequence[Path], *,
                 include_dirs: Sequence[Path] = ()) -> Path:
    """Build (once, cached) and load the operator library ``name`` from ``sources``; the
    operators it registers appear under ``torch.ops``. Returns the shared library's path."""
    with _LOCK:
        if name in _LOADED:
            return _LOADED[name]
        flags = (*CXX_FLAGS, *(f"-I{d}" for d in include_dirs))
        key = build_key(sources, CXX_FLAGS, include_dirs)
        directory = cache_root() / f"{name}-{key}"
        library = directory / f"{name}_{key}.so"
        if not library.exists():
            _compile(name, key, sources, flags, directory)
        try:
            torch.ops.load_library(str(library))
        except Exception as exc:
            raise NativeBuildError(f"loading {library} failed: {exc}") from exc
        _LOADED[name] = library
        return library


def _compile(name: str, key: str, sources: Sequence[Path], flags: Sequence[str],
             directory: Path) -> None:
    reason = missing_tools()
    if reason:
        raise NativeBuildError(reason)
    from torch.utils.cpp_extension import load

    directory.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    _say(f"compiling {name} ({len(sources)} sources) into {directory}; "
         "this happens once per source and torch version")
    done = threading.Event()
    watcher = threading.Thread(target=_report_progress,
                               args=(name, directory, len(sources), start, done), daemon=True)
    watcher.start()
    try:
        load(name=f"{name}_{key}", sources=[str(s) for s in sources],
             extra_cflags=list(flags), extra_ldflags=list(LD_FLAGS),
             build_directory=str(directory), is_python_module=False, verbose=False)
    except Exception as exc:
        raise NativeBuildError(f"compiling {name} failed: {_first_lines(exc)}") from exc
    finally:
        done.set()
        watcher.join()
    _say(f"compiled {name} in {time.monotonic() - start:.0f} s")


def _report_progress(name: str, directory: Path, total: int, start: float,
                     done: threading.Event) -> None:
    while not done.wait(PROGRESS_INTERVAL_S):
        objects = len(list(directory.glob("*.o")))
        _say(f"compiling {name}: {objects}/{total} sources compiled, "
             f"{time.monotonic() - start:.0f} s")


def _say(message: str) -> None:
    print(f"embedspec: {message}", file=sys.stderr, flush=True)


def _first_lines(exc: BaseException, limit: int = 20) -> str:
    lines = str(exc).strip().splitlines()
    return "\n".join(lines[:limit] + (["..."] if len(lines) > limit else []))
