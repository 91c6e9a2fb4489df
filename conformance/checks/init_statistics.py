"""The statistics of an initialisation check (S1.7): the law a named init scheme's
elements follow (:func:`scheme_distribution`) and a test that a sample is consistent
with it at a given false-alarm rate (:func:`assert_follows`)."""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import torch
from embedspec.reference.init import init_bound


def _normal_cdf(x: torch.Tensor, std: float) -> torch.Tensor:
    return 0.5 * (1 + torch.erf(x / (std * math.sqrt(2))))


def _uniform_cdf(x: torch.Tensor, bound: float) -> torch.Tensor:
    return ((x + bound) / (2 * bound)).clamp(0, 1)


def kolmogorov_pvalue(statistic: float, n: int) -> float:
    """P(D_n >= statistic) for the one-sample Kolmogorov-Smirnov statistic (asymptotic
    distribution with Stephens' small-sample correction)."""
    if n <= 0:
        raise ValueError("the sample is empty")
    x = statistic * (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n))
    if x < 0.2:
        return 1.0
    total = sum((-1) ** (k - 1) * math.exp(-2 * k * k * x * x) for k in range(1, 101))
    return min(1.0, max(0.0, 2 * total))


@dataclass(frozen=True)
class Distribution:
    """A named init scheme's law: its CDF, mean, variance, fourth central moment and,
    for a uniform law, its bound."""

    name: str
    cdf: Callable[[torch.Tensor], torch.Tensor]
    variance: float
    fourth_moment: float
    bound: float | None = None


def scheme_distribution(scheme: str, num_embeddings: int, embedding_dim: int) -> Distribution:
    """The law every element of a table initialised by ``scheme`` follows (S1.7)."""
    spread = init_bound(scheme, num_embeddings, embedding_dim)
    if scheme == "xavier_uniform":
        return Distribution(scheme, functools.partial(_uniform_cdf, bound=spread),
                            spread**2 / 3, spread**4 / 5, spread)
    return Distribution(scheme, functools.partial(_normal_cdf, std=spread), spread**2,
                        3 * spread**4)


def bound_in_dtype(bound: float, dtype: torch.dtype) -> float:
    """The smallest value of ``dtype`` that is ``>= bound``: the largest magnitude a
    uniform draw on ``[-bound, bound]`` can take once rounded to ``dtype`` (a draw within
    the bound rounds to nearest, so never past it)."""
    if not dtype.is_floating_point or dtype == torch.float64:
        return bound
    limit = torch.tensor(bound, dtype=torch.float64).to(dtype)
    if float(limit) < bound:
        limit = torch.nextafter(limit, torch.tensor(math.inf, dtype=dtype))
    return float(limit)


def assert_follows(sample: torch.Tensor, law: Distribution, *, alpha: float,
                   what: str = "initialised weight") -> None:
    """``sample`` (i.i.d. draws) is consistent with ``law`` at false-alarm rate ``alpha``:
    mean and variance within the z bound, every value within a uniform law's bound
    (rounded up to the sample's dtype, :func:`bound_in_dtype`), and a Kolmogorov-Smirnov
    test."""
    x = sample.reshape(-1).to(torch.float64)
    n = x.numel()
    if n < 100:
        raise ValueError(f"a statistical check needs at least 100 values, got {n}")
    z = statistics.NormalDist().inv_cdf(1 - alpha / 6)
    mean = float(x.mean())
    if abs(mean) > z * math.sqrt(law.variance / n):
        errors = abs(mean) / math.sqrt(law.variance / n)
        raise AssertionError(f"{what}: mean {mean:.6g} of {n} values is {errors:.1f} standard "
                             f"errors from 0 ({law.name}, variance {law.variance:.6g}); "
                             f"allowed {z:.1f}")
    variance = float(((x - mean) ** 2).mean())
    spread = math.sqrt((law.fourth_moment - law.variance**2) / n)
    if abs(variance - law.variance) > z * spread:
        raise AssertionError(f"{what}: variance {variance:.6g} of {n} values, expected "
                             f"{law.variance:.6g} ({law.name}); allowed ±{z * spread:.3g}")
    if law.bound is not None:
        limit = bound_in_dtype(law.bound, sample.dtype)
        outside = x.abs() > limit
        if bool(outside.any()):
            raise AssertionError(f"{what}: {int(outside.sum())} values outside ±{limit!r} "
                                 f"(the bound {law.bound!r} rounded up to {sample.dtype}; "
                                 f"{law.name}), e.g. {float(x[outside][0])!r}")
    ordered = x.sort().values
    cdf = law.cdf(ordered)
    ranks = torch.arange(1, n + 1, dtype=torch.float64)
    statistic = float(torch.maximum(ranks / n - cdf, cdf - (ranks - 1) / n).max())
    pvalue = kolmogorov_pvalue(statistic, n)
    if pvalue < alpha / 3:
        raise AssertionError(f"{what}: Kolmogorov-Smirnov statistic {statistic:.4f} over {n} "
                             f"values, p = {pvalue:.3g} < {alpha / 3:.3g}: not {law.name}")
