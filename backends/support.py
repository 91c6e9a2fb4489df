"""Validation every backend needs, for built-in and third-party backends alike.

A backend validates every input of a call before it changes anything (spec S0.4); these
functions raise exactly the errors the spec prescribes, with messages that name the
argument and the value:

* indices of the wrong type or dtype: ``TypeError`` (S0.2);
* ids outside the valid set: ``IndexError`` (S0.3);
* a bad constructor argument, option or checkpoint: ``ValueError`` (S0.5, S1.1-S1.7,
  S3.1, S3.9, S4.1, S4.2).

They check and normalise only; they compute no layer's values. The module is written
independently of :mod:`embedspec.reference` (it imports only the configuration types),
so a backend built on it is checked against the spec, not against itself.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, get_args

import torch
from embedspec.reference.configs import InitScheme, Partition
from torch.fx.node import has_side_effect

T = TypeVar("T")
#: The index dtypes the spec accepts (S0.2).
INDEX_DTYPES: tuple[torch.dtype, ...] = (torch.int32, torch.int64)
#: The named initialisation schemes (S1.7).
INIT_SCHEMES: tuple[str, ...] = ("normal", "xavier_uniform", "scaled_normal")
#: The column partitions of the sharded family (S4.1).
PARTITIONS: tuple[str, ...] = get_args(Partition)


def check_index_dtype(indices: object, name: str = "input") -> torch.Tensor:
    """Return ``indices`` if it is an int32 or int64 tensor; ``TypeError`` otherwise (S0.2).

    Indices are never cast: a bool, uint8 or floating tensor is an error, not ids.
    """
    if not isinstance(indices, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of int32 or int64, "
                        f"got {type(indices).__name__}")
    if indices.dtype not in INDEX_DTYPES:
        raise TypeError(f"{name} must have dtype int32 or int64, got {indices.dtype}")
    return indices


def check_ids(indices: object, num_valid: int, name: str = "input") -> torch.Tensor:
    """Return ``indices`` if it is an int32/int64 tensor with every id in ``[0, num_valid)``.

    ``TypeError`` for any other type or dtype (S0.2); ``IndexError`` naming the first
    offending extreme (the smallest id if it is negative, else the largest) and the valid
    range (S0.3). One ``aminmax`` pass and one host synchronisation; an empty tensor is
    always valid. Under a program transform (:func:`under_transform`) the range check is
    the operator :data:`check_id_range` instead of Python, so compiled, exported and
    vmapped layers keep the error.
    """
    ids = check_index_dtype(indices, name)
    if under_transform(ids):
        check_id_range(ids, num_valid, name)
    else:
        _check_id_range(ids, num_valid, name)
    return ids


def gather_checking_ids(gather: Callable[[torch.Tensor], T], indices: object,
                        table: torch.Tensor, name: str = "input") -> T:
    """``gather(ids)`` for a gather of rows of the CPU ``table`` whose own bounds check
    raises ``IndexError`` for any id outside ``[0, rows)`` before it writes anything
    (torch's CPU ``embedding`` and ``index_select`` do; Python indexing, which wraps
    negative ids, does not): the ids are then read once, by the gather,
    and an ``IndexError`` of the gather becomes the spec's (S0.3, naming the id and
    the valid range ``[0, table.shape[0])``). Indices of another device (moved to the
    table's), a table of no rows or off the CPU and program transforms get
    :func:`check_ids` first.
    ``TypeError`` for indices that are not int32/int64 tensors (S0.2)."""
    ids = check_index_dtype(indices, name)
    rows = table.shape[0]
    if (not rows or table.device.type != "cpu" or ids.device.type != "cpu"
            or under_transform(ids, table)):
        return gather(check_ids(ids, rows, name).to(table.device))
    try:
        return gather(ids)
    except IndexError:
        _check_id_range(ids, rows, name)
        raise


def under_transform(*tensors: torch.Tensor) -> bool:
    """True while ``torch.compile`` or ``torch.export`` traces, or when one of ``tensors``
    is a tensor of a ``torch.func`` transform (``vmap``, ``jvp``, ``grad``): then a layer's
    data-dependent Python steps (reading ids, looping over rows) must run as operators,
    which the tracer keeps as opaque nodes and the transforms give rules to
    (composability, ``docs/spec/composability.md``)."""
    return torch.compiler.is_compiling() or any(
        torch._C._functorch.is_functorch_wrapped_tensor(t) for t in tensors)


def _check_id_range(ids: torch.Tensor, num_valid: int, name: str) -> None:
    if ids.numel() == 0:
        return
    lo, hi = torch.stack(torch.aminmax(ids)).tolist()
    if lo < 0 or hi >= num_valid:
        bad = lo if lo < 0 else hi
        raise IndexError(f"{name} holds id {bad}, outside the valid range [0, {num_valid})")


@torch.library.custom_op("embedspec_support::check_id_range", mutates_args=())
def _check_id_range_op(ids: torch.Tensor, num_valid: int, name: str) -> None:
    """``IndexError`` unless every id of ``ids`` lies in ``[0, num_valid)`` (S0.3)."""
    _check_id_range(ids, num_valid, name)


@_check_id_range_op.register_fake
def _check_id_range_fake(ids: torch.Tensor, num_valid: int, name: str) -> None:
    return None


def _check_id_range_vmap(info: object, in_dims: tuple, ids: torch.Tensor, num_valid: int,
                         name: str) -> tuple[None, None]:
    _check_id_range(ids, num_valid, name)  # every sample of the batch at once
    return None, None


_check_id_range_op.register_vmap(_check_id_range_vmap)
#: The range check of :func:`check_ids` as an operator: a side effect no graph pass may
#: remove although nothing reads its (absent) output.
check_id_range = torch.ops.embedspec_support.check_id_range.default
has_side_effect(check_id_range)


def check_int(name: str, value: object, *, minimum: int | None = None) -> int:
    """``value`` as an int: an integer (a bool or a float is not one) ``>= minimum``
    when a minimum is given; ``ValueError`` naming ``name`` otherwise (S0.5)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    number = int(value)
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {number}")
    return number


def check_bool(name: str, value: object) -> bool:
    """``value`` if it is a bool (not merely truthy); ``ValueError`` naming ``name`` (S0.5)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be a bool, got {value!r}")
    return value


def check_sizes(num_embeddings: object, embedding_dim: object) -> tuple[int, int]:
    """``(num_embeddings, embedding_dim)`` as ints ``>= 0`` (0 is legal, S1.6)."""
    return (check_int("num_embeddings", num_embeddings, minimum=0),
            check_int("embedding_dim", embedding_dim, minimum=0))


def check_dtype(dtype: object, name: str = "dtype") -> torch.dtype:
    """A floating-point ``torch.dtype``; None means ``torch.get_default_dtype()`` now.
    Anything else (an integer or complex dtype, a string) is a ``ValueError`` (S0.5)."""
    if dtype is None:
        return torch.get_default_dtype()
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"{name} must be a floating-point torch.dtype, got {dtype!r}")
    return dtype


def check_device(device: object) -> torch.device | None:
    """None, or ``device`` parsed as a ``torch.device``; ``ValueError`` if it does not parse."""
    if device is None:
        return None
    try:
        return torch.device(device)  # type: ignore[arg-type]
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device must be a torch.device or device string, got {device!r}") \
            from error


def normalize_padding_idx(padding_idx: object, num_embeddings: int) -> int | None:
    """``padding_idx`` as a row of the table (S1.1): None stays None; an integer in
    ``[-V, V-1]`` becomes ``p`` or ``V + p`` when negative. A bool, a float, a string, a
    tensor or a value out of range (any value when ``V = 0``) is a ``ValueError``."""
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral):
        raise ValueError(f"padding_idx must be an integer or None, got {padding_idx!r}")
    row = int(padding_idx)
    if not -num_embeddings <= row < num_embeddings:
        raise ValueError(f"padding_idx must be within [-{num_embeddings}, {num_embeddings - 1}] "
                         f"for num_embeddings={num_embeddings}, got {row}")
    return row + num_embeddings if row < 0 else row


def check_max_norm(max_norm: object, norm_type: object) -> tuple[float | None, float]:
    """``(max_norm, norm_type)`` as floats (S1.2): ``max_norm`` None or a finite real
    ``>= 0``; ``norm_type`` a real ``> 0``, ``inf`` included. NaN, infinite ``max_norm``,
    bools and strings are ``ValueError``s naming the argument."""
    if isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real):
        raise ValueError(f"norm_type must be a real number > 0, got {norm_type!r}")
    p = float(norm_type)
    if math.isnan(p) or p <= 0:
        raise ValueError(f"norm_type must be > 0 (inf allowed), got {norm_type!r}")
    if max_norm is None:
        return None, p
    if isinstance(max_norm, bool) or not isinstance(max_norm, numbers.Real) \
            or not math.isfinite(limit := float(max_norm)) or limit < 0:
        raise ValueError(f"max_norm must be a finite real number >= 0 or None, got {max_norm!r}")
    return limit, p


def check_sparse_options(sparse: object, scale_grad_by_freq: object) -> tuple[bool, bool]:
    """``(sparse, scale_grad_by_freq)``: two bools, not both True (S1.4)."""
    sparse = check_bool("sparse", sparse)
    scale_grad_by_freq = check_bool("scale_grad_by_freq", scale_grad_by_freq)
    if sparse and scale_grad_by_freq:
        raise ValueError("sparse=True cannot be combined with scale_grad_by_freq=True")
    return sparse, scale_grad_by_freq


def check_init(init: object, name: str = "init") -> InitScheme:
    """``init`` if it is a name of :data:`INIT_SCHEMES` or a callable (S1.7)."""
    if (isinstance(init, str) and init in INIT_SCHEMES) or callable(init):
        return init  # type: ignore[return-value]
    raise ValueError(f"{name} must be one of {', '.join(sorted(INIT_SCHEMES))} or a callable, "
                     f"got {init!r}")


def check_rank(rank: object, world_size: object, *, rank_name: str = "rank",
               size_name: str = "world_size") -> tuple[int, int]:
    """``(rank, world_size)`` with ``world_size >= 1`` and ``0 <= rank < world_size``."""
    size = check_int(size_name, world_size, minimum=1)
    number = check_int(rank_name, rank, minimum=0)
    if number >= size:
        raise ValueError(f"{rank_name} must be < {size_name}={size}, got {number}")
    return number, size


def check_partition(partition: object, embedding_dim: int, world_size: int) -> str:
    """``partition`` if it names a partition of :data:`PARTITIONS` that applies to
    ``embedding_dim`` columns over ``world_size`` ranks: ``"even"`` needs ``world_size``
    to divide ``embedding_dim`` (S4.1)."""
    if not isinstance(partition, str) or partition not in PARTITIONS:
        raise ValueError(f"partition must be one of {', '.join(PARTITIONS)}, got {partition!r}")
    if partition == "even" and embedding_dim % world_size:
        raise ValueError(f"embedding_dim={embedding_dim} is not divisible by "
                         f"world_size={world_size}, which partition='even' requires; use "
                         "partition='balanced'")
    return partition


def check_vocab_sizes(num_embeddings: object, org_num_embeddings: object, padding_size: object,
                      tp_size: object = 1) -> tuple[int, int, int, int]:
    """The vocab-parallel size preconditions of S3.1, as
    ``(num_embeddings, org_vocab_size, padding_size, tp_size)``.

    ``num_embeddings >= 0``; ``org_num_embeddings`` None (``org_vocab_size =
    num_embeddings``) or an integer in ``[1, num_embeddings]``; ``padding_size >= 1``;
    ``tp_size >= 1``; and ``tp_size`` divides both padded sizes,
    ``pad(org_vocab_size)`` and ``pad(pad(org_vocab_size) + num_added_embeddings)``.
    """
    num_embeddings = check_int("num_embeddings", num_embeddings, minimum=0)
    padding_size = check_int("padding_size", padding_size, minimum=1)
    tp_size = check_int("tp_size", tp_size, minimum=1)
    if org_num_embeddings is None:
        org_vocab_size = num_embeddings
    else:
        org_vocab_size = check_int("org_num_embeddings", org_num_embeddings, minimum=1)
        if org_vocab_size > num_embeddings:
            raise ValueError(f"org_num_embeddings={org_vocab_size} exceeds "
                             f"num_embeddings={num_embeddings}")
    base_padded = -(-org_vocab_size // padding_size) * padding_size
    total = base_padded + num_embeddings - org_vocab_size
    for what, size in (("padded base vocab", base_padded),
                       ("padded vocab", -(-total // padding_size) * padding_size)):
        if size % tp_size:
            raise ValueError(f"the {what} size {size} (padding_size={padding_size}) is not "
                             f"divisible by tp_size={tp_size}; choose a padding_size that is "
                             "a multiple of tp_size")
    return num_embeddings, org_vocab_size, padding_size, tp_size


def check_pretrained(embeddings: object, name: str = "embeddings") -> torch.Tensor:
    """``embeddings`` if it is a 2-D floating-point tensor (ValueError otherwise): the
    table ``from_pretrained`` builds a layer on (S1.6)."""
    if not isinstance(embeddings, torch.Tensor) or embeddings.dim() != 2 \
            or not embeddings.is_floating_point():
        what = (f"a {embeddings.dim()}-D {embeddings.dtype} tensor"
                if isinstance(embeddings, torch.Tensor) else type(embeddings).__name__)
        raise ValueError(f"{name} must be a 2-D floating-point tensor, got {what}")
    return embeddings


def check_loaded_weight(param: object, weight: torch.Tensor, loaded_weight: object, *,
                        org_vocab_size: int, num_embeddings: int,
                        embedding_dim: int) -> torch.Tensor:
    """The checks of a vocab-parallel ``weight_loader(param, loaded_weight)`` (S3.9).

    ``param`` must be the layer's ``weight`` itself; ``loaded_weight`` a floating tensor of
    shape ``(org_vocab_size, D)`` (base vocab only) or ``(num_embeddings, D)`` (base then
    added). Anything else (another parameter, a non-tensor, an integer dtype, another
    shape) is a ``ValueError``, raised before the weight is touched. Returns
    ``loaded_weight`` detached.
    """
    if param is not weight:
        raise ValueError("param must be this layer's weight parameter")
    if not isinstance(loaded_weight, torch.Tensor) or not loaded_weight.is_floating_point():
        what = (f"dtype {loaded_weight.dtype}" if isinstance(loaded_weight, torch.Tensor)
                else type(loaded_weight).__name__)
        raise ValueError(f"loaded_weight must be a floating-point tensor, got {what}")
    shapes = ((org_vocab_size, embedding_dim), (num_embeddings, embedding_dim))
    if tuple(loaded_weight.shape) not in shapes:
        raise ValueError(f"loaded_weight must have shape {shapes[0]} (base vocab only) or "
                         f"{shapes[1]} (base then added vocab), "
                         f"got {tuple(loaded_weight.shape)}")
    return loaded_weight.detach()


@dataclass(frozen=True)
class LookupOptions:
    """The validated options of a section-1 table lookup, ``padding_idx`` normalised."""

    num_embeddings: int
    padding_idx: int | None = None
    max_norm: float | None = None
    norm_type: float = 2.0
    scale_grad_by_freq: bool = False
    sparse: bool = False

    @classmethod
    def validate(cls, num_embeddings: int, padding_idx: object = None, max_norm: object = None,
                 norm_type: object = 2.0, scale_grad_by_freq: object = False,
                 sparse: object = False) -> LookupOptions:
        """Check every option for a table of ``num_embeddings`` rows: ``padding_idx``
        (S1.1), ``max_norm``/``norm_type`` (S1.2), the flags and their combination (S1.4),
        each a ``ValueError`` naming it."""
        padding = normalize_padding_idx(padding_idx, num_embeddings)
        max_norm, norm_type = check_max_norm(max_norm, norm_type)
        sparse, scale_grad_by_freq = check_sparse_options(sparse, scale_grad_by_freq)
        return cls(num_embeddings, padding, max_norm, norm_type, scale_grad_by_freq, sparse)

    def extra_repr(self) -> str:
        """The options that differ from the defaults, as ``nn.Module.extra_repr`` shows them."""
        parts = []
        if self.padding_idx is not None:
            parts.append(f"padding_idx={self.padding_idx}")
        if self.max_norm is not None:
            parts.append(f"max_norm={self.max_norm}, norm_type={self.norm_type}")
        if self.scale_grad_by_freq:
            parts.append("scale_grad_by_freq=True")
        if self.sparse:
            parts.append("sparse=True")
        return ", ".join(parts)


__all__ = [
    "INDEX_DTYPES",
    "INIT_SCHEMES",
    "PARTITIONS",
    "LookupOptions",
    "check_bool",
    "check_device",
    "check_dtype",
    "check_ids",
    "check_index_dtype",
    "check_init",
    "check_int",
    "check_loaded_weight",
    "check_max_norm",
    "check_partition",
    "check_pretrained",
    "check_rank",
    "check_sizes",
    "check_sparse_options",
    "check_vocab_sizes",
    "normalize_padding_idx",
]
