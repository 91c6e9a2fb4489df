"""The tolerance policy of the conformance suite (spec S0.7), in one place.

Tolerances come from the operation, not only from the dtype:

* **Gathers are exact.** A lookup returns stored rows: bitwise equal in every dtype
  (``-0.0`` stays ``-0.0``). Rows a check does not expect to change must stay
  bitwise unchanged.
* **Accumulations get a bound** growing with the number of rounding steps feeding a
  value (``terms``) and the magnitude of what was accumulated (``magnitude``, the sum
  of the absolute values of the terms, or a larger quantity where cancellation can
  amplify rounding, as in a layer norm). For one element::

      |actual - expected| <= FACTOR * terms * (eps(dtype) * magnitude + tiny(dtype))

  where ``eps`` is the machine epsilon of ``dtype`` and ``tiny`` its smallest
  subnormal (the absolute error of an underflowing step; counted only where
  ``magnitude > 0``). ``FACTOR = 2`` covers both sides: the reference and the
  backend each carry at most ``terms * eps * magnitude`` (the classical bound for a
  sum in any order, with ``eps = 2u``).
* **Exact zeros stay exact.** Where the magnitude is zero (a padding row's gradient, a
  row no id references, a padding row's binary output) the bound is zero: the
  backend must produce exactly zero, of either sign (a computed zero's sign bit is
  not part of the spec; a stored ``-0.0`` returned by a gather is, above).
* **Determinism.** Forward is bitwise deterministic everywhere; a backend declaring
  ``deterministic_backward`` must also repeat its gradients bitwise, others within
  the accumulation bound (S0.6).
* **Statistics.** Initialisation is checked statistically with a false-alarm rate of
  :data:`STATISTICAL_ALPHA` per test, on fixed seeds.

The functions below state, per operation of the spec, which terms and magnitudes
apply; the expectation of each family (:mod:`~embedspec.conformance.checks.expected`) only
picks the operation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

#: Both the reference and the backend may carry the single-implementation error bound.
FACTOR = 2.0
#: False-alarm probability of one statistical check of an initialisation.
STATISTICAL_ALPHA = 1e-9
#: Rounding steps of a max_norm renormalisation beyond the ``D`` terms of the norm:
#: the power/root of the norm, the factor and the product.
RENORM_EXTRA_TERMS = 3
#: Rounding steps of a layer norm beyond the ``D`` terms of its mean and variance.
LAYER_NORM_EXTRA_TERMS = 6


def eps(dtype: torch.dtype) -> float:
    """Machine epsilon of a floating dtype (``2u``, twice the unit roundoff)."""
    return float(torch.finfo(dtype).eps)


def tiny(dtype: torch.dtype) -> float:
    """The smallest positive subnormal of a floating dtype: the absolute error of one
    underflowing rounding step."""
    info = torch.finfo(dtype)
    return float(info.smallest_normal) * float(info.eps)


def allowed(terms: torch.Tensor | float, magnitude: torch.Tensor | float,
            dtype: torch.dtype) -> torch.Tensor:
    """The allowed absolute difference ``FACTOR * terms * (eps * magnitude + tiny)``
    (float64, broadcast of ``terms`` and ``magnitude``; zero where either is zero)."""
    terms = torch.as_tensor(terms, dtype=torch.float64)
    magnitude = torch.as_tensor(magnitude, dtype=torch.float64)
    if bool((terms < 0).any()) or bool((magnitude < 0).any()):
        raise ValueError("terms and magnitude must be >= 0")
    underflow = (magnitude > 0).to(torch.float64) * tiny(dtype)
    return FACTOR * terms * (eps(dtype) * magnitude + underflow)


@dataclass(frozen=True)
class Part:
    """One source of rounding: ``terms`` steps in ``dtype`` over ``magnitude``."""

    terms: torch.Tensor
    magnitude: torch.Tensor
    dtype: torch.dtype

    def allowed(self) -> torch.Tensor:
        return allowed(self.terms, self.magnitude, self.dtype)

    def describe_at(self, index: tuple[int, ...], shape: Sequence[int]) -> str:
        terms = float(self.terms.expand(tuple(shape))[index])
        magnitude = float(self.magnitude.expand(tuple(shape))[index])
        name = str(self.dtype).removeprefix("torch.")
        return f"{terms:g} terms in {name} over magnitude {magnitude:.6g}"


@dataclass(frozen=True)
class Bound:
    """A per-element bound: the sum of its parts' allowed differences.

    An empty bound (no parts) allows no difference at all (numeric equality).
    """

    parts: tuple[Part, ...] = ()

    @classmethod
    def of(cls, terms: torch.Tensor | float, magnitude: torch.Tensor | float,
           dtype: torch.dtype) -> Bound:
        return cls((Part(torch.as_tensor(terms, dtype=torch.float64),
                         torch.as_tensor(magnitude, dtype=torch.float64), dtype),))

    def __add__(self, other: Bound) -> Bound:
        return Bound(self.parts + other.parts)

    def allowed(self, shape: Sequence[int] | None = None) -> torch.Tensor:
        """The allowed absolute difference per element, broadcast to ``shape`` if given."""
        total = torch.zeros((), dtype=torch.float64)
        for part in self.parts:
            total = total + part.allowed()
        return total.expand(tuple(shape)) if shape is not None else total

    def rows(self, indices: torch.Tensor) -> Bound:
        """The bound of ``table[indices]`` for a bound on a ``(V, D)`` table: every part's
        per-row terms and magnitudes gathered (shape ``indices.shape + (D,)``)."""
        ids = indices.reshape(-1).to(torch.int64)
        parts = []
        for p in self.parts:
            parts.append(Part(_gather_rows(p.terms, ids, indices.shape),
                              _gather_rows(p.magnitude, ids, indices.shape), p.dtype))
        return Bound(tuple(parts))

    def describe_at(self, index: tuple[int, ...], shape: Sequence[int]) -> str:
        """How the bound of element ``index`` of a ``shape`` tensor is made (for messages)."""
        if not self.parts:
            return "exact zero difference"
        return " + ".join(p.describe_at(index, shape) for p in self.parts)


def _gather_rows(tensor: torch.Tensor, ids: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    if tensor.dim() == 0:
        return tensor
    if tensor.dim() == 1:  # one value per row
        tensor = tensor.unsqueeze(1)
    gathered = tensor.index_select(0, ids)
    return gathered.reshape(*shape, gathered.shape[-1])


# -- per operation ------------------------------------------------------------------------


def _counts(ids: torch.Tensor, num_embeddings: int) -> torch.Tensor:
    return torch.bincount(ids, minlength=num_embeddings).to(torch.float64)


def weight_gradient(indices: torch.Tensor, grad_output: torch.Tensor, num_embeddings: int, *,
                    padding_idx: int | None = None, scale_grad_by_freq: bool = False,
                    dtype: torch.dtype) -> Bound:
    """Bound of an embedding weight gradient ``(V, D)`` (S1.3-S1.5).

    Row ``k`` sums the ``n_k`` output gradients of the non-padding positions with id
    ``k``: ``n_k - 1`` additions (a single contribution is exact), plus two roundings
    per term when each is divided by the count (``scale_grad_by_freq``). The magnitude
    is the sum of the absolute contributions. Rows with no contribution (the padding
    row, unreferenced rows) must be exactly zero.
    """
    ids = indices.reshape(-1).to(torch.int64)
    dim = grad_output.shape[-1]
    grads = grad_output.reshape(-1, dim).to(torch.float64).abs()
    counts_all = _counts(ids, num_embeddings)
    if scale_grad_by_freq:
        grads = grads / counts_all[ids].unsqueeze(1)
    if padding_idx is not None:
        keep = ids != padding_idx
        ids, grads = ids[keep], grads[keep]
    magnitude = torch.zeros(num_embeddings, dim, dtype=torch.float64).index_add_(0, ids, grads)
    counts = _counts(ids, num_embeddings)
    terms = (counts - 1).clamp(min=0)
    if scale_grad_by_freq:
        terms = torch.where(counts > 0, counts + 1, counts)
    return Bound.of(terms.unsqueeze(1), magnitude, dtype)


def row_norms(rows: torch.Tensor, norm_type: float) -> torch.Tensor:
    """The ``norm_type``-norms of ``rows`` in float64, on absolute values (S1.2)."""
    values = rows.to(torch.float64).abs()
    if values.shape[-1] == 0:
        return torch.zeros(values.shape[:-1], dtype=torch.float64)
    return torch.linalg.vector_norm(values, ord=norm_type, dim=-1)


@dataclass(frozen=True)
class RenormBound:
    """What a ``max_norm`` renormalisation allows for a ``(V, D)`` table (S1.2).

    ``bound``: per element, for the referenced rows (exact elsewhere).
    ``referenced``: rows the input references (the only rows that may change).
    ``ambiguous``: referenced rows whose norm lies within rounding of ``max_norm``:
    an implementation may decide either way, so both the renormalised and the
    untouched row are acceptable.
    """

    bound: Bound
    referenced: torch.Tensor
    ambiguous: torch.Tensor


def renormalisation(weight_before: torch.Tensor, indices: torch.Tensor, max_norm: float,
                    norm_type: float) -> RenormBound:
    """Bound of the rows a ``max_norm`` renorm may change (S1.2).

    A renormalised element carries the rounding of the ``D``-term norm and of
    :data:`RENORM_EXTRA_TERMS` further steps, relative to the row's original values.
    A row whose float64 norm differs from ``max_norm`` by less than the norm's own
    rounding is ambiguous; a norm exactly equal to ``max_norm`` is not (``>`` is strict).
    """
    num_embeddings, dim = weight_before.shape
    dtype = weight_before.dtype
    ids = torch.unique(indices.reshape(-1).to(torch.int64))
    referenced = torch.zeros(num_embeddings, dtype=torch.bool)
    referenced[ids] = True
    terms = torch.where(referenced, float(dim + RENORM_EXTRA_TERMS), 0.0).to(torch.float64)
    magnitude = weight_before.to(torch.float64).abs() * referenced.unsqueeze(1)
    norms = row_norms(weight_before, norm_type)
    slack = allowed(float(dim + RENORM_EXTRA_TERMS), norms, dtype)
    distance = (norms - max_norm).abs()
    ambiguous = referenced & (distance > 0) & (distance <= slack)
    return RenormBound(Bound.of(terms.unsqueeze(1), magnitude, dtype), referenced, ambiguous)


@dataclass(frozen=True)
class LayerNormStats:
    """Per position of ``rows`` ``(..., D)``, in float64: ``sigma = sqrt(var + eps)``, the
    normalised row ``xhat``, its largest ``|xhat|`` and the cancellation ratio
    ``r = max|x| / sigma`` (the last three with a trailing dimension of 1 or D)."""

    sigma: torch.Tensor
    xhat: torch.Tensor
    xhat_max: torch.Tensor
    ratio: torch.Tensor

    @classmethod
    def of(cls, rows: torch.Tensor, eps_ln: float) -> LayerNormStats:
        x = rows.to(torch.float64)
        if x.shape[-1] == 0:
            ones = torch.ones((*x.shape[:-1], 1), dtype=torch.float64)
            return cls(ones, x, ones * 0, ones * 0)
        centred = x - x.mean(dim=-1, keepdim=True)
        sigma = (centred.square().mean(dim=-1, keepdim=True) + eps_ln).sqrt()
        xhat = centred / sigma
        return cls(sigma, xhat, xhat.abs().amax(dim=-1, keepdim=True),
                   x.abs().amax(dim=-1, keepdim=True) / sigma)


def layer_norm_output(rows: torch.Tensor, norm_weight: torch.Tensor, norm_bias: torch.Tensor,
                      eps_ln: float, *, dtype: torch.dtype, compute_dtype: torch.dtype,
                      renorm_dtype: torch.dtype | None = None) -> Bound:
    """Bound of ``layer_norm(rows) * gamma + beta`` computed in ``compute_dtype`` and cast to
    ``dtype`` (S2), for numerically stable algorithms (two-pass or Welford statistics).

    In the compute dtype, ``D + LAYER_NORM_EXTRA_TERMS`` steps over ``|gamma| (r + |xhat|) +
    |beta|``: the mean's rounding is amplified by ``r = max|x| / sigma`` (large for rows
    whose mean is large against their spread), the variance's by ``|xhat|``. Then one
    rounding to ``dtype`` of the result. With ``renorm_dtype``, the rows were renormalised
    (S1.2) in that dtype first: ``D + RENORM_EXTRA_TERMS`` more steps over the same
    ``|gamma| (r + |xhat|)``.
    """
    dim = rows.shape[-1]
    stats = LayerNormStats.of(rows, eps_ln)
    gamma = norm_weight.to(torch.float64).abs()
    beta = norm_bias.to(torch.float64).abs()
    amplified = gamma * (stats.ratio + stats.xhat.abs())
    value = (stats.xhat * norm_weight.to(torch.float64) + norm_bias.to(torch.float64)).abs()
    bound = (Bound.of(float(dim + LAYER_NORM_EXTRA_TERMS), amplified + beta, compute_dtype)
             + Bound.of(1.0, value, dtype))
    if renorm_dtype is not None:
        bound = bound + Bound.of(float(dim + RENORM_EXTRA_TERMS), amplified, renorm_dtype)
    return bound


def layer_norm_gradients(rows: torch.Tensor, norm_weight: torch.Tensor,
                         grad_output: torch.Tensor, indices: torch.Tensor, num_embeddings: int,
                         eps_ln: float, *, padding_idx: int | None = None,
                         scale_grad_by_freq: bool = False, dtype: torch.dtype,
                         norm_dtype: torch.dtype) -> dict[str, Bound]:
    """Bounds of the gradients of a stable embedding (S2): ``weight``, ``norm.weight``,
    ``norm.bias``, for numerically stable layer-norm algorithms.

    ``rows``: the looked-up rows, one per position; ``grad_output`` the output gradient
    ``g``; the norm computes in ``norm_dtype``, the table is in ``dtype``.

    * ``norm.bias``: the sum of ``g`` over all positions (padding included).
    * ``norm.weight``: the sum of ``g * xhat``; each ``xhat`` carries the mean's
      rounding amplified by ``r``.
    * ``weight``: row ``k`` sums, over the non-padding positions with id ``k``, the input
      gradient ``(1/sigma)(gamma g - mean(gamma g) - xhat mean(gamma g xhat))``, bounded by
      ``(A/sigma)(2 + 2 X^2)`` with ``A = max |gamma g|`` and ``X = max |xhat|``; its
      rounding in ``norm_dtype`` is bounded over ``(A/sigma)(2 + 2 (r + X) X)``, then it is
      cast to ``dtype`` and summed there.
    """
    dim = rows.shape[-1]
    x = rows.reshape(-1, dim)
    g = grad_output.reshape(-1, dim).to(torch.float64).abs()
    positions = x.shape[0]
    stats = LayerNormStats.of(x, eps_ln)
    bias_bound = Bound.of(float(positions), g.sum(dim=0), norm_dtype)
    weight_mag = (g * (stats.ratio + stats.xhat.abs())).sum(dim=0)
    norm_weight_bound = Bound.of(float(positions + dim + LAYER_NORM_EXTRA_TERMS), weight_mag,
                                 norm_dtype)
    scaled = norm_weight.to(torch.float64).abs() * g
    largest = scaled.amax(dim=-1, keepdim=True) if dim else torch.zeros(positions, 1,
                                                                       dtype=torch.float64)
    size = (largest / stats.sigma) * (2 + 2 * stats.xhat_max.square())
    rounding = (largest / stats.sigma) * (2 + 2 * (stats.ratio + stats.xhat_max)
                                          * stats.xhat_max)
    size, rounding = size.expand(positions, dim), rounding.expand(positions, dim)
    ids = indices.reshape(-1).to(torch.int64)
    if scale_grad_by_freq:
        counts_all = _counts(ids, num_embeddings)[ids].unsqueeze(1)
        size, rounding = size / counts_all, rounding / counts_all
    if padding_idx is not None:
        keep = ids != padding_idx
        ids, size, rounding = ids[keep], size[keep], rounding[keep]
    zeros = torch.zeros(num_embeddings, dim, dtype=torch.float64)
    size_sum = zeros.index_add(0, ids, size)
    rounding_sum = zeros.index_add(0, ids, rounding)
    counts = _counts(ids, num_embeddings).unsqueeze(1)
    computed = torch.where(counts > 0, float(2 * dim + 2 * LAYER_NORM_EXTRA_TERMS), 0.0)
    summed = counts + 1 + (2 if scale_grad_by_freq else 0)
    weight_bound = (Bound.of(computed, rounding_sum, norm_dtype)
                    + Bound.of(summed, size_sum, dtype))
    return {"weight": weight_bound, "norm.weight": norm_weight_bound, "norm.bias": bias_bound}


def layer_norm_tangent(rows: torch.Tensor, norm_weight: torch.Tensor,
                       row_tangents: torch.Tensor, weight_tangent: torch.Tensor,
                       bias_tangent: torch.Tensor, eps_ln: float, *, dtype: torch.dtype,
                       compute_dtype: torch.dtype,
                       rows_rounded_in: torch.dtype | None = None) -> Bound:
    """Bound of the forward-mode tangent of a stable embedding's output (S2,
    composability): ``dy = dgamma xhat + dbeta + gamma dxhat`` with ``dxhat = (dx -
    mean(dx) - xhat mean(xhat dx)) / sigma``, computed in ``compute_dtype`` and cast to
    ``dtype``.

    ``rows`` are the looked-up rows ``(..., D)``, ``row_tangents`` their tangents ``dx``
    (the lookup's tangent), ``weight_tangent``/``bias_tangent`` those of ``gamma`` and
    ``beta``. As for the input gradient of :func:`layer_norm_gradients`, ``|gamma dxhat|``
    is bounded over ``|gamma| (A/sigma)(2 + 2 (r + X) X)`` with ``A = max |dx|`` of the
    row, and ``dgamma xhat`` carries the mean's rounding amplified by ``r``: ``D +
    LAYER_NORM_EXTRA_TERMS`` steps in the compute dtype, then one rounding to ``dtype``.
    ``rows_rounded_in``: the row tangents were divided by their ids' counts in that dtype
    first (``scale_grad_by_freq``), one more step over ``|gamma| (A/sigma)(2 + 2 X^2)``.
    """
    dim = rows.shape[-1]
    stats = LayerNormStats.of(rows, eps_ln)
    gamma = norm_weight.to(torch.float64).abs()
    dx = row_tangents.to(torch.float64).abs()
    largest = dx.amax(dim=-1, keepdim=True) if dim else torch.zeros_like(stats.sigma)
    spread = gamma * (largest / stats.sigma)
    through_norm = spread * (2 + 2 * (stats.ratio + stats.xhat_max) * stats.xhat_max)
    direct = (weight_tangent.to(torch.float64).abs() * (stats.ratio + stats.xhat.abs())
              + bias_tangent.to(torch.float64).abs())
    dgamma = weight_tangent.to(torch.float64)
    value = (dgamma * stats.xhat + bias_tangent.to(torch.float64)).abs() + spread \
        * (2 + 2 * stats.xhat_max.square())
    bound = (Bound.of(float(dim + LAYER_NORM_EXTRA_TERMS), through_norm + direct, compute_dtype)
             + Bound.of(1.0, value, dtype))
    if rows_rounded_in is not None:
        bound = bound + Bound.of(1.0, spread * (2 + 2 * stats.xhat_max.square()),
                                 rows_rounded_in)
    return bound


#: The dtype of a packed binary table's scale (S5).
BINARY_SCALE_DTYPE = torch.float32


def binary_scale(scale: torch.Tensor, embedding_dim: int) -> Bound:
    """Bound of a packed binary ``scale`` ``(V,)`` (S5): a mean of ``D`` absolute values
    (no cancellation) rounded to float32. A zero scale (padding row) is exact."""
    return Bound.of(float(embedding_dim + 2), scale.to(torch.float64).abs(), BINARY_SCALE_DTYPE)


def binary_output(scale: torch.Tensor, embedding_dim: int, *, dtype: torch.dtype) -> Bound:
    """Bound of a binary embedding table's rows ``±scale[r]`` ``(V, 1)`` cast to ``dtype``:
    the scale's accumulation plus one rounding to the output dtype. Gather it with
    :meth:`Bound.rows`."""
    magnitude = scale.to(torch.float64).abs().unsqueeze(1)
    return (Bound.of(float(embedding_dim + 2), magnitude, BINARY_SCALE_DTYPE)
            + Bound.of(1.0, magnitude, dtype))


def binary_gradient(scale: torch.Tensor, indices: torch.Tensor, grad_output: torch.Tensor,
                    num_embeddings: int, *, padding_idx: int | None = None,
                    dtype: torch.dtype) -> Bound:
    """Bound of the straight-through gradient ``scale[r] * sum of output gradients at
    id r`` (S5): the sum's additions and the cast in ``dtype``, the scale's accumulation
    in float32. The padding row and unreferenced rows are exact zeros."""
    dim = grad_output.shape[-1]
    sums = weight_gradient(indices, grad_output, num_embeddings, padding_idx=padding_idx,
                           dtype=dtype).parts[0]
    magnitude = sums.magnitude * scale.to(torch.float64).abs().unsqueeze(1)
    return (Bound.of(sums.terms + 1, magnitude, dtype)
            + Bound.of(float(dim + 2), magnitude, BINARY_SCALE_DTYPE))



def binary_tangent(scale_rows: torch.Tensor, tangent_rows: torch.Tensor, *,
                   embedding_dim: int, dtype: torch.dtype) -> Bound:
    """Bound of a binary embedding's forward-mode tangent ``scale[r] * tangent[r]`` (S5,
    composability) at positions whose ids have scales ``scale_rows`` ``(...)`` and whose
    table tangents are ``tangent_rows`` ``(..., D)``: the scale's accumulation in float32
    and one rounding to ``dtype``. A padding position (scale 0) is an exact zero."""
    magnitude = scale_rows.to(torch.float64).abs().unsqueeze(-1) \
        * tangent_rows.to(torch.float64).abs()
    return (Bound.of(float(embedding_dim + 2), magnitude, BINARY_SCALE_DTYPE)
            + Bound.of(1.0, magnitude, dtype))


def lookup_tangent(indices: torch.Tensor, tangent: torch.Tensor, num_embeddings: int, *,
                   scale_grad_by_freq: bool = False) -> Bound:
    """Bound of a lookup's forward-mode tangent ``tangent`` (``indices.shape + (D,)``,
    composability; also the derivative of its backward with respect to the output
    gradient): a gather of the table's tangent, exact, except that with
    ``scale_grad_by_freq`` a position whose id occurs ``count > 1`` times is divided by
    ``count``: one rounding, which a backend may do as a product with a rounded
    reciprocal."""
    ids = indices.reshape(-1).to(torch.int64)
    if not scale_grad_by_freq or ids.numel() == 0:
        return Bound()
    counts = _counts(ids, num_embeddings)[ids].reshape(*indices.shape, 1)
    return Bound.of((counts > 1).to(torch.float64), tangent.to(torch.float64).abs(),
                    tangent.dtype)


def stack(bounds: Sequence[Bound], shape: Sequence[int]) -> Bound:
    """The bound of ``torch.stack(values)`` for per-sample values of ``shape``, each with
    its bound in ``bounds`` (all made by the same rule, so with the same parts): every
    part's terms and magnitudes broadcast to ``shape`` and stacked along a new dim 0."""
    if not bounds:
        raise ValueError("stack needs at least one bound")
    counts = {len(b.parts) for b in bounds}
    if len(counts) != 1:
        raise ValueError(f"bounds made by different rules: {sorted(counts)} parts")
    parts = []
    for index in range(counts.pop()):
        column = [b.parts[index] for b in bounds]
        dtypes = {p.dtype for p in column}
        if len(dtypes) != 1:
            raise ValueError(f"part {index} of the bounds has several dtypes: {dtypes}")
        terms = torch.stack([p.terms.expand(tuple(shape)) for p in column])
        magnitude = torch.stack([p.magnitude.expand(tuple(shape)) for p in column])
        parts.append(Part(terms, magnitude, dtypes.pop()))
    return Bound(tuple(parts))


def describe() -> str:
    """The policy in a few lines, for reports."""
    return "\n".join([
        "Tolerance policy (spec S0.7):",
        "- gathers (lookups, untouched rows, packed bits): bitwise exact in every dtype;",
        f"- accumulations: |actual - expected| <= {FACTOR:g} * terms * (eps(dtype) * magnitude"
        " + tiny(dtype)), terms = rounding steps feeding the value, magnitude = sum of |terms|"
        " (amplified by max|x|/sigma for layer norms); a case whose reference result"
        " overflows its dtype is outside the domain and discarded;",
        "  weight gradients: n_k - 1 additions (+2 per term with scale_grad_by_freq);"
        " max_norm renorm: D + 3 steps on the row's magnitude, and rows whose norm is within"
        " rounding of max_norm may be renormalised or not;"
        f" layer norm (stable algorithms): D + {LAYER_NORM_EXTRA_TERMS} steps in the compute"
        " dtype over |gamma|(max|x|/sigma + |xhat|) + |beta|, then one rounding to the output"
        " dtype; binary scale: D + 2 steps in float32;",
        "- values with zero magnitude (padding rows, unreferenced rows, padding outputs of"
        " binary layers) must be exactly zero;",
        "- forward is bitwise deterministic; backward repeats bitwise only for backends"
        " declaring deterministic_backward, else within the accumulation bound (S0.6);",
        f"- initialisation: statistical checks with false-alarm rate {STATISTICAL_ALPHA:g} per"
        " test, on fixed seeds.",
    ])

