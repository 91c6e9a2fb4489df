"""Compiling the CUDA kernels (``cuda/*.cu``) with nvcc into one shared library for sm_80 and
sm_90, cached like the CPU library (:mod:`.build`). The sources include no torch header:
they implement the C ABI of ``cuda/embedspec_cuda.h``, so they build with the CUDA toolkit
alone, on machines whose torch has no CUDA headers."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from .build import NativeBuildError, _say, cache_root

CUDA_DIR = Path(__file__).with_name("cuda")
CUDA_SOURCES: tuple[Path, ...] = tuple(sorted(CUDA_DIR.glob("*.cu")))
ARCHITECTURES: tuple[str, ...] = ("80", "90")
NVCC_FLAGS: tuple[str, ...] = (
    "-std=c++17", "-O3", "-Xcompiler", "-fPIC",
    *(f"-gencode=arch=compute_{a},code=sm_{a}" for a in ARCHITECTURES))
LIBRARY_NAME = "libembedspec_cuda.so"


def nvcc() -> str | None:
    """The nvcc to use: ``$NVCC``, the one on PATH, or ``$CUDA_HOME/bin/nvcc``."""
    explicit = os.environ.get("NVCC")
    if explicit:
        return explicit
    found = shutil.which("nvcc")
    if found:
        return found
    home = Path(os.environ.get("CUDA_HOME", "/usr/local/cuda")) / "bin" / "nvcc"
    return str(home) if home.exists() else None


def compile_command(sources: Sequence[Path], output: Path, *,
                    flags: Sequence[str] = NVCC_FLAGS) -> list[str]:
    """The nvcc command building ``sources`` into the shared library ``output``."""
    compiler = nvcc()
    if compiler is None:
        raise NativeBuildError("nvcc not found (set NVCC or CUDA_HOME)")
    return [compiler, *flags, "-shared", "-o", str(output), *map(str, sources)]


def build_cuda_library() -> Path:
    """The CUDA kernels' shared library, compiled on first use and cached."""
    command = compile_command(CUDA_SOURCES, Path(LIBRARY_NAME))
    digest = hashlib.sha256()
    for path in sorted([*CUDA_SOURCES, *CUDA_DIR.glob("*.h"), *CUDA_DIR.glob("*.cuh")]):
        digest.update(path.name.encode() + path.read_bytes())
    digest.update(" ".join(NVCC_FLAGS).encode())
    digest.update(_nvcc_version(command[0]).encode())
    directory = cache_root() / f"embedspec_cuda-{digest.hexdigest()[:16]}"
    library = directory / LIBRARY_NAME
    if library.exists():
        return library
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f"{LIBRARY_NAME}.{os.getpid()}.tmp"
    start = time.monotonic()
    _say(f"compiling the CUDA kernels ({len(CUDA_SOURCES)} sources, sm_"
         f"{', sm_'.join(ARCHITECTURES)}) into {directory}")
    done = subprocess.run(compile_command(CUDA_SOURCES, partial), capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise NativeBuildError(f"nvcc failed:\n{done.stderr[-4000:]}")
    partial.replace(library)
    _say(f"compiled the CUDA kernels in {time.monotonic() - start:.0f} s")
    return library


def _nvcc_version(compiler: str) -> str:
    try:
        return subprocess.run([compiler, "--version"], capture_output=True, text=True,
                              check=False).stdout
    except OSError as exc:
        raise NativeBuildError(f"running {compiler} failed: {exc}") from exc
