"""Tests of the Triton backends: skipped without triton. The runtime is chosen at import
(setting ``TRITON_INTERPRET=1`` without a CUDA device) before anything imports triton."""

import pytest

pytest.importorskip("triton")

from embedspec.backends.triton.runtime import runtime

runtime()
