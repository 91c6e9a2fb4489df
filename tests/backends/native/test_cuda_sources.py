"""Every CUDA source of the native backend compiles with nvcc, for sm_80 and sm_90, into
the shared library the backend loads on a GPU machine (about 60 s on two cores; skipped
without nvcc). Running the kernels needs a GPU: the conformance suite does that with
``--device cuda`` where one is present."""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path

import pytest
from embedspec.backends.native import cuda, cuda_build


@pytest.mark.skipif(cuda_build.nvcc() is None, reason="nvcc is not installed here")
def test_cuda_sources_compile_into_one_library(tmp_path: Path) -> None:
    assert cuda_build.CUDA_SOURCES, "no .cu sources found"
    output = tmp_path / cuda_build.LIBRARY_NAME
    done = subprocess.run(cuda_build.compile_command(cuda_build.CUDA_SOURCES, output),
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-6000:]
    symbols = subprocess.run(["nm", "-D", "--defined-only", str(output)], capture_output=True,
                             text=True, check=False).stdout
    missing = [name for name in cuda.SIGNATURES if name not in symbols]
    assert not missing, f"C ABI functions missing from the library: {missing}"
    cuobjdump = Path(cuda_build.nvcc()).resolve().with_name("cuobjdump")
    if cuobjdump.exists():
        listing = subprocess.run([str(cuobjdump), "--list-elf", str(output)],
                                 capture_output=True, text=True, check=False).stdout
        for arch in cuda_build.ARCHITECTURES:
            assert f"sm_{arch}" in listing, listing


def test_cuda_sources_include_no_torch_header() -> None:
    for source in [*cuda_build.CUDA_SOURCES, *cuda_build.CUDA_DIR.glob("*.h*")]:
        text = source.read_text()
        assert "torch/" not in text and "ATen/" not in text and "c10/" not in text, source


def test_signatures_match_the_header() -> None:
    header = (cuda_build.CUDA_DIR / "embedspec_cuda.h").read_text()
    for name, argtypes in cuda.SIGNATURES.items():
        declaration = header[header.index(f"int {name}("):]
        declaration = declaration[:declaration.index(");")]
        assert declaration.count(",") + 1 == len(argtypes), name
    assert ctypes.sizeof(ctypes.c_int64) == 8
