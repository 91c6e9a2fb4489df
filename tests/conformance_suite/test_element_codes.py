"""The element codes behind drawn float tensors: every code decodes to a finite value
exact in its dtype and in its range, zero bytes decode to zeros, and the "any" range
reaches the values that break kernels (both zeros, subnormals, extremes)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from embedspec.conformance import strategies as xs
from embedspec.conformance.strategies.element_codes import code_size, decode, exponent_order


def every_code(name: str, values: str, count: int = 4096) -> bytes:
    """``count`` codes: each kind byte with varied payloads (a fixed generator)."""
    size = code_size(name, values)
    codes = np.random.default_rng(0).integers(0, 256, size=(count, size), dtype=np.uint8)
    codes[:256, 0] = np.arange(256)
    return codes.tobytes()


def decoded(name: str, values: str, raw: bytes) -> torch.Tensor:
    count = len(raw) // code_size(name, values)
    array = decode(raw, count, name, values, xs.MODERATE_RANGES[name])
    return torch.from_numpy(np.ascontiguousarray(array)).double()


@pytest.mark.parametrize("values", xs.VALUE_RANGES)
@pytest.mark.parametrize("name", xs.DTYPE_NAMES)
def test_codes_decode_to_finite_values_exact_in_the_dtype(name, values):
    values_ = decoded(name, values, every_code(name, values))
    assert bool(values_.isfinite().all())
    assert torch.equal(values_.to(xs.torch_dtype(name)).double(), values_)
    if values == "moderate":
        low, high = xs.MODERATE_RANGES[name]
        magnitudes = values_.abs()[values_ != 0]
        assert float(magnitudes.min()) >= low and float(magnitudes.max()) < high


@pytest.mark.parametrize("values", xs.VALUE_RANGES)
@pytest.mark.parametrize("name", xs.DTYPE_NAMES)
def test_zero_bytes_decode_to_positive_zeros(name, values):
    values_ = decoded(name, values, bytes(3 * code_size(name, values)))
    assert values_.tolist() == [0.0] * 3
    assert not bool(values_.signbit().any())


@pytest.mark.parametrize("name", xs.DTYPE_NAMES)
def test_any_codes_reach_signed_zeros_subnormals_and_extremes(name):
    values_ = decoded(name, "any", every_code(name, "any"))
    info = torch.finfo(xs.torch_dtype(name))
    zeros = values_[values_ == 0]
    assert bool(zeros.signbit().any()) and not bool(zeros.signbit().all())
    nonzero = values_.abs()[values_ != 0]
    assert bool((nonzero < info.tiny).any()), "no subnormal"
    assert float(nonzero.max()) == info.max
    assert bool((values_ < 0).any()) and bool((values_ > 0).any())


def test_exponents_are_simplest_first_and_within_the_range():
    order = exponent_order(2.0**-6, 2.0**6).tolist()
    assert order[:4] == [0, -1, 1, -2]
    assert sorted(order) == list(range(-6, 6))
    assert math.ldexp(2.0 - 2.0**-10, max(order)) < 2.0**6


def test_a_code_string_of_the_wrong_length_is_an_error():
    with pytest.raises(ValueError, match="need 6 code bytes, got 7"):
        decode(bytes(7), 2, "float16", "any", xs.MODERATE_RANGES["float16"])
    with pytest.raises(ValueError, match="values must be"):
        code_size("float32", "huge")
