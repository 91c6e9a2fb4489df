"""Assertions shared by every conformance test.

Each raises ``AssertionError`` with a precise message: what was compared, the first
mismatching index with both values, how many elements mismatch, the largest
absolute difference and, for tolerances, the bound that was allowed and how it was
made (terms, magnitude, dtype; see :mod:`embedspec.conformance.checks.tolerance`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from embedspec.conformance.checks.case import ErrorInfo, RankOutcome
from embedspec.conformance.checks.roles import Role, on_rows
from embedspec.conformance.checks.tolerance import Bound

_BITS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def _index(flat: int, shape: torch.Size) -> tuple[int, ...]:
    index = []
    for size in reversed(shape):
        index.append(flat % size)
        flat //= size
    return tuple(reversed(index))


def _value(tensor: torch.Tensor, index: tuple[int, ...]) -> str:
    value = tensor[index].item() if tensor.dim() else tensor.item()
    return repr(value)


def _first(mask: torch.Tensor) -> tuple[int, ...]:
    flat = int(mask.reshape(-1).nonzero()[0, 0])
    return _index(flat, mask.shape)


def _at(index: tuple[int, ...], role: Role | None) -> str:
    """``index``, and the role of its element when ``role`` names one (a role that
    fails names nothing: it must never hide the failure it explains)."""
    try:
        described = role(index) if role is not None else None
    except Exception:
        described = None
    return f"{index} ({described})" if described else str(index)


def _meta(tensor: torch.Tensor) -> str:
    return f"shape {tuple(tensor.shape)}, dtype {tensor.dtype}, layout {tensor.layout}"


def _require_tensor(value: object, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise AssertionError(f"{what}: expected a tensor, got {type(value).__name__}")
    return value


def assert_same_meta(actual: torch.Tensor, expected: torch.Tensor, *, what: str = "output",
                     actual_device: str | None = None,
                     expected_device: str | None = None) -> None:
    """Same shape, dtype and layout; and the same device when the devices are given
    (outcomes carry tensors moved to the CPU, so the devices they came from are passed
    separately)."""
    actual = _require_tensor(actual, what)
    if (actual.shape, actual.dtype, actual.layout) != (expected.shape, expected.dtype,
                                                       expected.layout):
        raise AssertionError(f"{what}: got {_meta(actual)}, expected {_meta(expected)}")
    if actual_device != expected_device:
        raise AssertionError(f"{what}: on device {actual_device}, expected {expected_device}")


def _bits(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.dtype == torch.bool:
        return tensor.to(torch.uint8)
    if tensor.is_floating_point() or tensor.is_complex():
        return tensor.contiguous().view(_BITS[tensor.element_size()])
    return tensor


def assert_exact(actual: torch.Tensor, expected: torch.Tensor, *, what: str = "output",
                 role: Role | None = None) -> None:
    """Bitwise equality (a gather, S0.7): same meta and the same bits in every element,
    so ``-0.0`` differs from ``0.0`` and a NaN must carry the same payload. ``role``
    names what the first differing element is (:mod:`.roles`)."""
    assert_same_meta(actual, expected, what=what)
    differs = _bits(actual) != _bits(expected)
    if not bool(differs.any()):
        return
    index = _first(differs)
    message = (f"{what}: {int(differs.sum())} of {differs.numel()} elements are not bitwise "
               f"equal; first at index {_at(index, role)}: got {_value(actual, index)}, "
               f"expected {_value(expected, index)}")
    if actual.is_floating_point():
        diff = (actual.double() - expected.double()).abs().nan_to_num(nan=float("inf"))
        message += f"; max |diff| {float(diff.max()):.6g}"
    raise AssertionError(message)


def assert_within(actual: torch.Tensor, expected: torch.Tensor, bound: Bound, *,
                  what: str = "output", role: Role | None = None) -> None:
    """``|actual - expected| <= bound`` element by element, computed in float64.

    Non-finite expected values must be matched exactly (same infinity, NaN for NaN).
    Where the bound is zero the values must be numerically equal (exact zeros stay zero).
    """
    assert_same_meta(actual, expected, what=what)
    a = actual.to(torch.float64)
    e = expected.to(torch.float64)
    limit = bound.allowed(a.shape)
    diff = (a - e).abs()
    finite = torch.isfinite(e)
    same_special = (a == e) | (torch.isnan(a) & torch.isnan(e))
    bad = torch.where(finite, ~(diff <= limit), ~same_special)
    if not bool(bad.any()):
        return
    index = _first(bad)
    max_diff = float(diff.nan_to_num(nan=float("inf")).max())
    raise AssertionError(
        f"{what}: {int(bad.sum())} of {bad.numel()} elements differ beyond the allowed bound; "
        f"first at index {_at(index, role)}: got {_value(actual, index)}, expected "
        f"{_value(expected, index)}, |diff| {float(diff[index]):.6g} > allowed "
        f"{float(limit[index]):.6g} ({bound.describe_at(index, a.shape)}); "
        f"max |diff| {max_diff:.6g}"
    )


def assert_zero_where(actual: torch.Tensor, mask: torch.Tensor, *, what: str = "value",
                      role: Role | None = None) -> None:
    """Every element of ``actual`` selected by ``mask`` (broadcast) is exactly zero."""
    actual = _require_tensor(actual, what)
    selected = mask.to(torch.bool).expand_as(actual)
    nonzero = selected & (actual != 0)
    if bool(nonzero.any()):
        index = _first(nonzero)
        raise AssertionError(
            f"{what}: {int(nonzero.sum())} elements that must be exactly zero are not; first "
            f"at index {_at(index, role)}: got {_value(actual, index)}")


def assert_sparse_grad_equal(actual: torch.Tensor, expected: torch.Tensor, bound: Bound, *,
                             what: str = "sparse gradient", role: Role | None = None) -> None:
    """Two sparse COO gradients equal after coalescing (S1.4): the same shape, dtype and
    rows, and values within ``bound`` (a bound on the dense ``(V, D)`` gradient);
    ``role`` is that of an element ``(row, column)`` of the dense gradient."""
    actual = _require_tensor(actual, what)
    if actual.layout != torch.sparse_coo:
        raise AssertionError(f"{what}: got a {actual.layout} tensor, expected torch.sparse_coo")
    if (actual.shape, actual.dtype) != (expected.shape, expected.dtype):
        raise AssertionError(f"{what}: got {_meta(actual)}, expected {_meta(expected)}")
    a = actual.coalesce()
    e = expected.coalesce()
    a_rows = a.indices()[0].tolist()
    e_rows = e.indices()[0].tolist()
    if a.indices().shape[0] != 1 or a_rows != e_rows:
        missing = sorted(set(e_rows) - set(a_rows))
        extra = sorted(set(a_rows) - set(e_rows))
        raise AssertionError(
            f"{what}: after coalescing, holds rows {a_rows}, expected {e_rows} "
            f"(missing {missing}, unexpected {extra})")
    rows = e.indices()[0]
    assert_within(a.values(), e.values(), bound.rows(rows), what=f"{what} (values of rows "
                  f"{e_rows})", role=on_rows(role, e_rows))


def assert_state_unchanged(before: Mapping[str, torch.Tensor],
                           after: Mapping[str, torch.Tensor], *, what: str = "state") -> None:
    """The same keys and every tensor bitwise equal (S0.4)."""
    if set(before) != set(after):
        raise AssertionError(
            f"{what}: keys changed from {sorted(before)} to {sorted(after)}")
    for key in before:
        assert_exact(after[key], before[key], what=f"{what} {key!r}")


def assert_rows_unchanged_except(before: torch.Tensor, after: torch.Tensor,
                                 rows: Iterable[int] | torch.Tensor, *,
                                 what: str = "weight", role: Role | None = None) -> None:
    """Every row of a ``(V, D)`` table not in ``rows`` is bitwise unchanged."""
    assert_same_meta(after, before, what=what)
    keep = torch.ones(before.shape[0], dtype=torch.bool)
    allowed_rows = torch.as_tensor(list(rows) if not isinstance(rows, torch.Tensor) else rows,
                                   dtype=torch.int64).reshape(-1)
    keep[allowed_rows] = False
    differs = (_bits(after) != _bits(before)) & keep.unsqueeze(1)
    if bool(differs.any()):
        changed = sorted(set(differs.any(dim=1).nonzero().reshape(-1).tolist()))
        index = _first(differs)
        raise AssertionError(
            f"{what}: rows {changed} changed but only rows {sorted(allowed_rows.tolist())} may; "
            f"first at index {_at(index, role)}: now {_value(after, index)}, was "
            f"{_value(before, index)}")


def _raised(error: ErrorInfo) -> str:
    where = " while building the layer" if error.during == "build" else ""
    return f"{error.type}{where}: {error.message}"


def _failure(message: str, error: ErrorInfo | None) -> AssertionError:
    """An ``AssertionError`` carrying the backend's own traceback as a note."""
    failure = AssertionError(message)
    if error is not None and error.traceback:
        failure.add_note(f"the backend's traceback (innermost last):\n{error.traceback}")
    return failure


def assert_no_error(outcome: RankOutcome, *, what: str = "the backend") -> None:
    """The outcome records no error."""
    if outcome.error is not None:
        raise _failure(f"{what} raised {_raised(outcome.error)}", outcome.error)


def assert_error(outcome: RankOutcome, expected_cls: type[BaseException], *,
                 mentions: str | None = None) -> None:
    """The outcome records an error that is an ``expected_cls`` (subclasses count) and,
    when ``mentions`` is given, whose message names it (S0.5: the argument)."""
    error = outcome.error
    if error is None:
        raise AssertionError(f"expected {expected_cls.__name__}, but no error was raised")
    if not error.is_a(expected_cls):
        raise _failure(f"expected {expected_cls.__name__}, got {_raised(error)}", error)
    if mentions is not None and mentions not in error.message:
        raise AssertionError(
            f"{error.type} must name {mentions!r}; its message is {error.message!r}")
