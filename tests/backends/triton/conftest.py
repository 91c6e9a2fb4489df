"""Tests of the Triton backends: skipped without triton. The runtime is chosen here, at
collection (setting ``TRITON_INTERPRET=1`` without a CUDA device), before anything
imports triton: importing it first would leave Triton's own language helpers compiled-mode."""

import importlib.util

import pytest
from embedspec.backends.triton.runtime import runtime

if importlib.util.find_spec("triton") is None:
    pytest.skip("triton is not installed", allow_module_level=True)
runtime()
