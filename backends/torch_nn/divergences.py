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

from embedspec.backends.divergences import Divergence, expected_at

__all__ = ["DIVERGENCES", "DIVERGENCE_IDS", "Divergence", "by_id", "expected_at"]


def _errors_of(*families: str) -> tuple[tuple[str, str], ...]:
    return tuple((family, "errors") for family in families)


BOTH = ("embedding", "stable")

DIVERGENCES: tuple[Divergence, ...] = (
    Divergence(
        "D-index-dtype", "S0.2",
        "indices of a dtype other than int32/int64 (int16, uint8, bool, floats) raise "
        "RuntimeError, not TypeError; with max_norm, a Python list raises AttributeError",
        _errors_of(*BOTH),
    ),
    Divergence(
        "D-error-atomicity", "S0.4",
        "with max_norm set, rows are renormalised before an out-of-range id raises: id -k "
        "renorms row V-k, and valid ids sorting below an id >= V are renormed (in an "
        "exported program too)",
        (*_errors_of(*BOTH), ("embedding", "export"), ("stable", "export")),
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
        "the stable layer norm runs in the global default dtype (bitsandbytes): float64 "
        "weights are normalised in float32, and a layer built under another default dtype "
        "keeps norm parameters of that dtype",
        (("stable", "forward"), ("stable", "padding_idx"), ("stable", "max_norm"),
         ("stable", "backward"), ("stable", "init"), ("stable", "forward_ad"),
         ("stable", "vmap")),
    ),
    Divergence(
        "D-optimizer-hint", "S1.8",
        "no optimizer-state hint: torch.nn.Embedding declares none, bitsandbytes registers "
        "the weight with its global manager instead of on the layer",
        (("embedding", "init"), ("stable", "init")),
    ),
    Divergence(
        "D-stable-from-pretrained", "S1.6",
        "StableEmbedding.from_pretrained raises TypeError: the inherited constructor call "
        "passes _weight/_freeze, which bitsandbytes' __init__ does not take",
        (("stable", "init"), ("stable", "errors")),
    ),
    Divergence(
        "D-integer-table", "S1.6",
        "integer and bool tables are accepted: from_pretrained(freeze=True) and the "
        "functional weight gather them (RuntimeError only once a gradient or a max_norm "
        "needs floats); the spec raises ValueError",
        (("embedding", "errors"),),
    ),
    Divergence(
        "D-weight-dim-error", "S1.6",
        "a table that is not 2-D raises AssertionError in from_pretrained and _weight, "
        "RuntimeError in the functional form; the spec raises ValueError",
        _errors_of(*BOTH),
    ),
    Divergence(
        "D-forward-ad", "S6.2",
        "the forward-mode derivative is the lookup of the tangent as is: padding "
        "positions get the padding row's tangent and scale_grad_by_freq is ignored, so "
        "jacfwd and jacrev disagree",
        (("embedding", "forward_ad"), ("stable", "forward_ad")),
    ),
    Divergence(
        "D-double-backward", "S6.4",
        "the derivative of the dense backward ignores scale_grad_by_freq (the output "
        "gradient is not divided by the counts) and raises RuntimeError for an empty "
        "index tensor",
        (("embedding", "double_backward"),),
    ),
    Divergence(
        "D-reset-normal", "S1.7",
        "reset_parameters() draws N(0, 1) whatever init scheme the table was drawn with",
        (("embedding", "init"),),
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
