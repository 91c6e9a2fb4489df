"""Where the ``torch_compile`` backend departs from the spec, as data.

``torch_compile`` is ``torch_nn``'s layers with their forwards compiled by inductor
(``fullgraph=True``, CPU). Its constructors, ``from_pretrained``, ``reset_parameters`` and
stable layer norm are ``torch_nn``'s, so the divergences of those are ``torch_nn``'s own
entries (:data:`SHARED_WITH_TORCH_NN`, checked under compilation too: a negative
``max_norm`` still flips rows, ``norm_type`` 0 still counts non-zero entries). The errors
of a call differ: Dynamo raises its own ``RuntimeError`` subclasses while it traces, the
inductor kernel raises ``RuntimeError`` for an out-of-range id, and AOTAutograd traces the
backward when the forward compiles, so a backward that cannot be traced fails the
forward. A compiled call that fails leaves every parameter unchanged, ``max_norm``
included: compiled PyTorch does not show ``D-error-atomicity`` (inductor renormalises a
functional copy of the table and writes it back only after the lookup's bounds checks).

Each :class:`Divergence` carries the id used in ``docs/spec/divergences.md`` (section
"Compiled PyTorch"), the spec rule it breaks and the report rows where a check of that
rule is expected to fail for this backend; ``tests/backends/torch_compile/`` demonstrates
the compiled-specific ones.
"""

from __future__ import annotations

from embedspec.backends.divergences import Divergence
from embedspec.backends.torch_nn.divergences import by_id as torch_nn_divergence

__all__ = ["COMPILED", "DIVERGENCES", "DIVERGENCE_IDS", "SHARED_WITH_TORCH_NN"]

BOTH = ("embedding", "stable")
ERRORS = tuple((family, "errors") for family in BOTH)

#: ``torch_nn``'s divergences that the compiled layers show unchanged.
SHARED_WITH_TORCH_NN: tuple[str, ...] = (
    "D-padding-idx-error", "D-config-error", "D-max-norm-value", "D-norm-type-value",
    "D-stable-norm-dtype", "D-optimizer-hint", "D-stable-from-pretrained", "D-reset-normal",
)

COMPILED: tuple[Divergence, ...] = (
    Divergence(
        "D-index-dtype", "S0.2",
        "indices of a dtype other than int32/int64 raise torch._dynamo.exc.TorchRuntimeError "
        "and a Python list torch._dynamo.exc.Unsupported (RuntimeErrors raised while Dynamo "
        "traces), not TypeError, with or without max_norm",
        ERRORS,
    ),
    Divergence(
        "D-out-of-range", "S0.3",
        "an out-of-range id raises RuntimeError ('index out of bounds') from the inductor "
        "kernel, negative ids included; with max_norm set, ids >= V raise IndexError (the "
        "renorm's check) and negative ids RuntimeError",
        ERRORS,
    ),
    Divergence(
        "D-sparse-freq", "S1.4",
        "sparse=True with scale_grad_by_freq=True builds; its compiled forward raises "
        "BackendCompilerFailed (a RuntimeError) while gradients are recorded, because the "
        "backward is traced when the forward compiles",
        ERRORS,
    ),
    Divergence(
        "D-compile-sparse-padding", "S1.4",
        "sparse=True with a padding_idx cannot be compiled while gradients are recorded: "
        "BackendCompilerFailed (a data-dependent guard in the sparse backward); without "
        "fullgraph, torch.compile runs such a layer eagerly with only a log warning",
        (("embedding", "sparse"),),
    ),
)

DIVERGENCES: tuple[Divergence, ...] = (
    tuple(torch_nn_divergence(i) for i in SHARED_WITH_TORCH_NN) + COMPILED)

DIVERGENCE_IDS: frozenset[str] = frozenset(d.id for d in DIVERGENCES)

