"""Validation shared by every family.

Every public entry point validates *all* of its inputs before it touches any
parameter (spec S0.4), using these helpers so that every family raises the same
error class with the same kind of message:

* indices of the wrong type or dtype -> ``TypeError`` (S0.2);
* ids outside the valid set -> ``IndexError`` (S0.3);
* bad configuration -> ``ValueError`` naming the argument (S0.5).
"""

from __future__ import annotations

import math
import numbers

import torch

from . import operators

INDEX_DTYPES = (torch.int32, torch.int64)


def check_index_dtype(indices: object, name: str = "input") -> torch.Tensor:
    """Return ``indices`` if it is an int32/int64 tensor, else raise ``TypeError``."""
    if not isinstance(indices, torch.Tensor):
        kind = type(indices).__name__
        raise TypeError(f"{name} must be a torch.Tensor of int32 or int64, got {kind}")
    if indices.dtype not in INDEX_DTYPES:
        raise TypeError(f"{name} must have dtype int32 or int64, got {indices.dtype}")
    return indices


def check_ids_in_range(indices: torch.Tensor, num_valid: int, name: str = "input") -> None:
    """Raise ``IndexError`` unless every id of ``indices`` lies in ``[0, num_valid)``.

    The range check is the operator :func:`.operators.check_ids`, so it holds in compiled,
    exported and vmapped calls too (a Python branch on the ids' values would break them).
    """
    check_index_dtype(indices, name)
    operators.check_ids(indices, num_valid, name)


def check_indices(indices: object, num_valid: int, name: str = "input") -> torch.Tensor:
    """Validate dtype (TypeError) and range (IndexError) of an index tensor."""
    tensor = check_index_dtype(indices, name)
    check_ids_in_range(tensor, num_valid, name)
    return tensor


def check_int(name: str, value: object, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int; ``ValueError`` if it is not an integer or below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def normalize_padding_idx(padding_idx: object, num_embeddings: int) -> int | None:
    """Spec S1.1: ``padding_idx`` in ``[-V, V-1]``; a negative value is stored as ``V + p``."""
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral):
        raise ValueError(f"padding_idx must be an integer or None, got {padding_idx!r}")
    p = int(padding_idx)
    if not -num_embeddings <= p < num_embeddings:
        raise ValueError(
            f"padding_idx must be within [-{num_embeddings}, {num_embeddings - 1}] "
            f"for num_embeddings={num_embeddings}, got {p}"
        )
    return p + num_embeddings if p < 0 else p


def check_max_norm(max_norm: object, norm_type: object) -> tuple[float | None, float]:
    """Spec S1.2: finite ``max_norm >= 0`` (or None) and ``norm_type > 0`` (inf allowed)."""
    if isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real):
        raise ValueError(f"norm_type must be a real number > 0, got {norm_type!r}")
    p = float(norm_type)
    if math.isnan(p) or p <= 0:
        raise ValueError(f"norm_type must be > 0 (inf allowed), got {norm_type!r}")
    if max_norm is None:
        return None, p
    if isinstance(max_norm, bool) or not isinstance(max_norm, numbers.Real):
        raise ValueError(f"max_norm must be a finite real number >= 0 or None, got {max_norm!r}")
    m = float(max_norm)
    if not math.isfinite(m) or m < 0:
        raise ValueError(f"max_norm must be a finite real number >= 0 or None, got {max_norm!r}")
    return m, p


def check_sparse_options(sparse: object, scale_grad_by_freq: object) -> tuple[bool, bool]:
    """Spec S1.4: ``sparse`` with ``scale_grad_by_freq`` is a configuration error."""
    if not isinstance(sparse, bool):
        raise ValueError(f"sparse must be a bool, got {sparse!r}")
    if not isinstance(scale_grad_by_freq, bool):
        raise ValueError(f"scale_grad_by_freq must be a bool, got {scale_grad_by_freq!r}")
    if sparse and scale_grad_by_freq:
        raise ValueError("sparse=True cannot be combined with scale_grad_by_freq=True")
    return sparse, scale_grad_by_freq


def check_float_dtype(name: str, dtype: object) -> torch.dtype | None:
    """Accept None or a floating-point torch dtype."""
    if dtype is None:
        return None
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"{name} must be a floating-point torch.dtype, got {dtype!r}")
    return dtype


def check_rank(rank: object, world_size: object, *, rank_name: str = "rank",
               size_name: str = "world_size") -> tuple[int, int]:
    """``world_size >= 1`` and ``0 <= rank < world_size``."""
    size = check_int(size_name, world_size, minimum=1)
    r = check_int(rank_name, rank, minimum=0)
    if r >= size:
        raise ValueError(f"{rank_name} must be < {size_name}={size}, got {r}")
    return r, size


def check_weight(weight: object, name: str = "weight") -> torch.Tensor:
    """Return ``weight`` if it is a 2-D floating-point tensor ``(V, D)``, else ``ValueError``."""
    if not isinstance(weight, torch.Tensor):
        raise ValueError(f"{name} must be a 2-D floating-point tensor, got {type(weight).__name__}")
    if weight.dim() != 2:
        raise ValueError(f"{name} must be 2-D (num_embeddings, embedding_dim), "
                         f"got shape {tuple(weight.shape)}")
    if not weight.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {weight.dtype}")
    return weight


def check_device(device: object) -> torch.device | None:
    """None or ``device`` parsed as a ``torch.device``; ``ValueError`` if it does not parse."""
    if device is None:
        return None
    try:
        return torch.device(device)  # type: ignore[arg-type]
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device must be a torch.device or device string, got {device!r}") \
            from error
