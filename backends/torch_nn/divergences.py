"""Where the ``torch_nn`` backend departs from the spec, as data.

``torch_nn`` is plain ``torch.nn.Embedding`` (and bitsandbytes' ``StableEmbedding``
forward rebuilt from ``torch.nn.Embedding`` + ``torch.nn.LayerNorm``) with no fixes.
Each :class:`Divergence` below is one deliberate departure of the spec from PyTorch
(or bitsandbytes), with the id used in ``docs/spec/divergences.md``, the spec rule it
breaks and the report rows in which a check of that rule is expected to fail for this
backend on CPU. The compatibility report uses :data:`DIVERGENCES` to show that the
``torch_nn`` column departs exactly where the documentation says, and
``tests/backends/test_adapters.py`` demonstrates each one.

Divergences that PyTorch shows only on CUDA (device-side asserts for out-of-range ids,
norms without absolute values) are not listed: this backend declares CPU only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from embedspec.backends.contract import DTYPES, FEATURES


@dataclass(frozen=True)
class Divergence:
    """One departure of ``torch_nn`` from the spec.

    ``rows`` are ``(family, feature)`` rows of the compatibility report where it shows;
    ``dtypes`` restricts it to some dtypes (empty: every dtype).
    """

    id: str
    rule: str
    description: str
    rows: tuple[tuple[str, str], ...]
    dtypes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for family, feature in self.rows:
            if feature not in FEATURES.get(family, ()):
                raise ValueError(f"{self.id}: unknown report row {family} / {feature}")
        for dtype in self.dtypes:
            if dtype not in DTYPES:
                raise ValueError(f"{self.id}: unknown dtype {dtype!r}")

    def applies_to(self, family: str, feature: str, dtype: str) -> bool:
        """Whether a check of ``family / feature`` in ``dtype`` is expected to show it."""
        return (family, feature) in self.rows and (not self.dtypes or dtype in self.dtypes)


def _errors_of(*families: str) -> tuple[tuple[str, str], ...]:
    return tuple((family, "errors") for family in families)


BOTH = ("embedding", "stable")

DIVERGENCES: tuple[Divergence, ...] = (
    Divergence(
        "D-index-dtype", "S0.2",
        "indices of a dtype other than int32/int64 (int16, uint8, bool, floats) raise "
        "RuntimeError, not TypeError",
        _errors_of(*BOTH),
    ),
    Divergence(
        "D-error-atomicity", "S0.4",
        "with max_norm set, rows are renormalised before an out-of-range id raises: id -k "
        "renorms row V-k, and valid ids sorting below an id >= V are renormed",
        _errors_of(*BOTH),
    ),
    Divergence(
        "D-padding-idx-error", "S1.1",
        "padding_idx outside [-V, V-1] raises AssertionError, a float padding_idx "
        "IndexError, and a bool one is accepted; the spec raises ValueError for all",
        _errors_of(*BOTH),
    ),
    Divergence(
        "D-config-error", "S0.5",
        "negative sizes raise RuntimeError, non-integer sizes TypeError, a non-float dtype "
        "RuntimeError, and non-bool sparse/scale_grad_by_freq are accepted",
        _errors_of(*BOTH),
    ),
    Divergence(
        "D-max-norm-value", "S1.2",
        "a negative max_norm is accepted and flips the sign of every referenced row; "
        "inf and NaN are accepted (no renorm)",
        _errors_of(*BOTH),
    ),
    Divergence(
        "D-norm-type-value", "S1.2",
        "norm_type <= 0 or NaN is accepted (norm_type 0 counts non-zero entries and "
        "renormalises by that count)",
        _errors_of(*BOTH),
    ),
    Divergence(
        "D-sparse-freq", "S1.4",
        "sparse=True with scale_grad_by_freq=True builds and runs forward, then raises "
        "RuntimeError at backward",
        _errors_of(*BOTH),
    ),
    Divergence(
        "D-stable-norm-dtype", "S2",
        "the stable layer norm runs in the global default dtype (bitsandbytes), so float64 "
        "weights are normalised in float32",
        (("stable", "forward"), ("stable", "padding_idx"), ("stable", "max_norm"),
         ("stable", "backward"), ("stable", "init")),
        ("float64",),
    ),
    Divergence(
        "D-sparse-0d-padding", "S1.4",
        "with sparse=True and a padding_idx, the backward of a 0-d index raises IndexError "
        "('too many indices for tensor of dimension 0'); a 1-element index works",
        (("embedding", "sparse"),),
    ),
)

DIVERGENCE_IDS: frozenset[str] = frozenset(d.id for d in DIVERGENCES)


def by_id(divergence_id: str) -> Divergence:
    """The divergence with this id (``KeyError`` if ``torch_nn`` has none such)."""
    for divergence in DIVERGENCES:
        if divergence.id == divergence_id:
            return divergence
    raise KeyError(divergence_id)


def expected_at(family: str, feature: str, dtype: str,
                divergences: Iterable[Divergence] = DIVERGENCES) -> list[Divergence]:
    """The divergences a check of ``family / feature`` in ``dtype`` is expected to show."""
    return [d for d in divergences if d.applies_to(family, feature, dtype)]
