"""How a single-process check is run and judged: tests say *what*, the harness says *how*.

A test draws a configuration, a state and inputs, wraps them in a
:class:`~embedspec.conformance.case.Case` (:func:`make_case`) and calls one check:

* :func:`check_against_reference`: run the case on the backend (through the
  ``runner`` fixture) and on the reference layer, and compare everything the spec
  defines (error class, output meta and values, gradients, state after, packed form)
  with the tolerance policy of :mod:`~embedspec.conformance.tolerance`, plus any named
  :data:`PROPERTIES` the test asks for;
* :func:`check_error`: the backend must raise the given class (S0.2, S0.3, S0.5) and
  leave its state exactly as loaded (S0.4);
* :func:`check_repeatable`: determinism (S0.6);
* :func:`check_packed_agreement`: a binary layer's latent path agrees with its own
  packed table (S5);
* :func:`check_initialisation`: a freshly built layer's state, statistically (S1.7).

Every check runs inside :func:`~embedspec.conformance.repro.reporting`, so its
failure carries a snippet that calls the same check on the same case.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import hypothesis
import pytest
import torch
from embedspec.backends.contract import Availability, Backend, BuildContext, Capabilities
from embedspec.conformance import tolerance
from embedspec.conformance.assertions import (
    assert_error,
    assert_exact,
    assert_no_error,
    assert_rows_unchanged_except,
    assert_same_meta,
    assert_sparse_grad_equal,
    assert_state_unchanged,
    assert_within,
    assert_zero_where,
    error_class,
)
from embedspec.conformance.case import Case, LocalRunner, RankOutcome, Runner, execute
from embedspec.conformance.repro import reporting
from embedspec.reference.binary import BinaryEmbedding, pack, unpack
from embedspec.reference.configs import LayerConfig
from embedspec.reference.embedding import RENORM_EPS, Embedding
from embedspec.reference.init import init_bound
from embedspec.reference.stable import LAYER_NORM_EPS, StableEmbedding
from embedspec.reference.validation import normalize_padding_idx
from torch import nn

#: The reference layer of each single-process family.
REFERENCE_LAYERS: Mapping[str, type[nn.Module]] = {
    "embedding": Embedding,
    "stable": StableEmbedding,
    "binary": BinaryEmbedding,
}


def reference_layer_class(family: str) -> type[nn.Module]:
    try:
        return REFERENCE_LAYERS[family]
    except KeyError:
        raise ValueError(f"no single-process reference layer for family {family!r}; known: "
                         f"{', '.join(REFERENCE_LAYERS)}") from None


def build_reference(config: LayerConfig, *, device: str | torch.device = "cpu") -> nn.Module:
    """The reference layer ``config`` describes (initialised from the global torch RNG)."""
    return reference_layer_class(config.family).from_config(config, device=device)


@functools.lru_cache(maxsize=512)
def state_layout(config: LayerConfig) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """``{key: (shape, dtype)}`` of the reference layer's state dict (no data allocated)."""
    layer = build_reference(config, device="meta")
    return {k: (tuple(v.shape), v.dtype) for k, v in layer.state_dict().items()}


class _SpecBackend(Backend):
    """The reference layers behind the backend contract: the source of expected outcomes."""

    name = "embedspec-spec"
    description = "expected outcomes of the conformance harness"

    def availability(self) -> Availability:
        return Availability.yes()

    def capabilities(self) -> Capabilities:
        return Capabilities()

    def build(self, config: LayerConfig, context: BuildContext) -> nn.Module:
        return build_reference(config, device=context.device)


SPEC = _SpecBackend()


# -- targets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What a check runs against: the runner, the backend, the device, and the spec the
    backend was named by (written into repro snippets)."""

    runner: Runner
    backend: Backend
    device: str = "cpu"
    spec: str = ""

    @property
    def backend_spec(self) -> str:
        return self.spec or self.backend.name

    def case(self, config: LayerConfig, state: Mapping[str, torch.Tensor] | None = None,
             indices: torch.Tensor | None = None, grad_output: torch.Tensor | None = None,
             **fields: Any) -> Case:
        """:func:`make_case` on this target's device."""
        return make_case(config, state, indices, grad_output, device=self.device, **fields)


def local_target(backend: Backend, *, device: str = "cpu", spec: str = "") -> Target:
    """A target running cases in this process (as repro snippets do)."""
    return Target(LocalRunner(backend), backend, device, spec)


def target_fixture() -> Callable[..., Target]:
    """A ``target`` fixture built from the plugin's session fixtures; a test module
    declares it with ``target = harness.target_fixture()``."""

    def target(runner: Runner, backend: Backend, backend_spec: str, device: str) -> Target:
        return Target(runner, backend, device, backend_spec)

    return pytest.fixture(name="target", scope="module")(target)


# -- cases ----------------------------------------------------------------------------------


def make_case(config: LayerConfig, state: Mapping[str, torch.Tensor] | None = None,
              indices: torch.Tensor | None = None, grad_output: torch.Tensor | None = None, *,
              device: str = "cpu", **fields: Any) -> Case:
    """A one-process case: ``state`` loaded, then ``indices`` looked up (and backward with
    ``grad_output``); ``fields`` set any other :class:`Case` field (``action``, ...)."""
    return Case(config=config,
                states=[dict(state)] if state is not None else [],
                inputs=[indices] if indices is not None else [],
                grad_outputs=[grad_output] if grad_output is not None else None,
                device=device, **fields)


def reference_state(config: LayerConfig, seed: int) -> dict[str, torch.Tensor]:
    """The state of a reference layer built after ``torch.manual_seed(seed)`` (the
    global RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = build_reference(config)
    return {k: v.detach().clone() for k, v in layer.state_dict().items()}


def run(target: Target, case: Case) -> RankOutcome:
    """The backend's outcome of a one-process case."""
    outcomes = target.runner.run(case)
    if len(outcomes) != 1:
        raise AssertionError(f"a one-process case gave {len(outcomes)} outcomes")
    return outcomes[0]


def expected_outcome(case: Case) -> RankOutcome:
    """The reference's outcome of ``case`` (always computed on the CPU)."""
    return execute(SPEC, dataclasses.replace(case, device="cpu"), 0, BuildContext())


@dataclass
class Result:
    """A checked case with both outcomes."""

    case: Case
    actual: RankOutcome
    expected: RankOutcome


# -- what the spec fixes, per family -----------------------------------------------------------


def _padding_idx(config: LayerConfig) -> int | None:
    return normalize_padding_idx(config.padding_idx, config.num_embeddings)


def _ids(case: Case) -> torch.Tensor:
    return case.inputs[0].reshape(-1).to(torch.int64)


def _output_device(outcome: RankOutcome) -> str | None:
    device = outcome.extra.get("output_device")
    return None if device is None else torch.device(device).type


def _compare_output_meta(case: Case, actual: RankOutcome, expected: RankOutcome) -> None:
    expected_device = None if _output_device(expected) is None else torch.device(
        case.device).type
    if actual.output is None:
        raise AssertionError("the backend returned no output")
    assert_same_meta(actual.output, expected.output, what="output",
                     actual_device=_output_device(actual), expected_device=expected_device)


def _compare_state_meta(actual: Mapping[str, torch.Tensor],
                        expected: Mapping[str, torch.Tensor]) -> None:
    if set(actual) != set(expected):
        raise AssertionError(f"state dict keys {sorted(actual)}, expected {sorted(expected)} "
                             "(backends keep the reference's layout)")
    for key in expected:
        assert_same_meta(actual[key], expected[key], what=f"state {key!r}")


def _renormalised_alternative(before: torch.Tensor, rows: torch.Tensor, max_norm: float,
                              norm_type: float) -> torch.Tensor:
    """``before`` rows renormalised in float64 (the other side of an ambiguous decision)."""
    selected = before[rows].to(torch.float64)
    norms = tolerance.row_norms(before[rows], norm_type).unsqueeze(1)
    return (selected * (max_norm / (norms + RENORM_EPS))).to(before.dtype)


def _expected_weight_after(case: Case, actual: RankOutcome, expected: RankOutcome,
                           renorm: tolerance.RenormBound) -> torch.Tensor:
    """The reference's weight after the forward, where each ambiguous row (norm within
    rounding of ``max_norm``) takes whichever acceptable value is nearer the backend's."""
    before = case.states[0]["weight"]
    want = expected.state_after["weight"].clone()
    rows = renorm.ambiguous.nonzero().reshape(-1)
    if rows.numel() == 0:
        return want
    got = actual.state_after["weight"][rows].to(torch.float64)
    config = case.config
    renormed = want[rows].to(torch.float64).ne(before[rows].to(torch.float64)).any(dim=1)
    other = torch.where(renormed.unsqueeze(1), before[rows],
                        _renormalised_alternative(before, rows, config.max_norm,
                                                  config.norm_type))
    closer = ((got - other.to(torch.float64)).abs().amax(dim=1)
              < (got - want[rows].to(torch.float64)).abs().amax(dim=1))
    want[rows[closer]] = other[closer]
    return want


def _compare_weight_state(case: Case, actual: RankOutcome, expected: RankOutcome) -> None:
    """The table after a forward: untouched without max_norm; with it, only referenced
    rows may change, each within the renorm bound of the reference's (S1.2)."""
    for key in expected.state_after:
        if key != "weight" or case.config.max_norm is None:
            assert_exact(actual.state_after[key], expected.state_after[key],
                         what=f"state {key!r} after the forward")
    if case.config.max_norm is None:
        return
    before = case.states[0]["weight"]
    renorm = tolerance.renormalisation(before, case.inputs[0], case.config.max_norm,
                                       case.config.norm_type)
    after = actual.state_after["weight"]
    renormed = (expected.state_after["weight"].to(torch.float64)
                != before.to(torch.float64)).any(dim=1)
    may_change = (renormed | renorm.ambiguous).nonzero().reshape(-1)
    assert_rows_unchanged_except(
        before, after, may_change,
        what="weight after the forward (rows not referenced, or with a norm clearly "
             "<= max_norm)")
    assert_within(after, _expected_weight_after(case, actual, expected, renorm), renorm.bound,
                  what="weight after the max_norm renorm (referenced rows)")


def _compare_embedding(case: Case, actual: RankOutcome, expected: RankOutcome) -> None:
    _compare_weight_state(case, actual, expected)
    _compare_output_meta(case, actual, expected)
    if case.config.max_norm is None:
        assert_exact(actual.output, expected.output, what="output (a gather)")
    else:
        rows = actual.state_after["weight"][case.inputs[0].to(torch.int64)]
        assert_exact(actual.output, rows,
                     what="output (a gather of the rows the backend renormalised and stored)")
    if case.grad_outputs is None:
        return
    config = case.config
    bound = tolerance.weight_gradient(
        case.inputs[0], case.grad_outputs[0], config.num_embeddings,
        padding_idx=_padding_idx(config), scale_grad_by_freq=config.scale_grad_by_freq,
        dtype=expected.grads["weight"].dtype)
    _compare_grads(actual, expected, {"weight": bound})


def _compare_grads(actual: RankOutcome, expected: RankOutcome,
                   bounds: Mapping[str, tolerance.Bound]) -> None:
    if set(actual.grads) != set(expected.grads):
        raise AssertionError(f"gradients of {sorted(actual.grads)}, expected "
                             f"{sorted(expected.grads)}")
    for name, want in expected.grads.items():
        got = actual.grads[name]
        what = f"gradient of {name!r}"
        if want is None or got is None:
            if (want is None) != (got is None):
                raise AssertionError(f"{what}: got {'None' if got is None else 'a tensor'}, "
                                     f"expected {'None' if want is None else 'a tensor'}")
            continue
        if want.layout == torch.sparse_coo:
            assert_sparse_grad_equal(got, want, bounds[name], what=f"sparse {what}")
        else:
            assert_within(got, want, bounds[name], what=what)


def _compare_stable(case: Case, actual: RankOutcome, expected: RankOutcome) -> None:
    _compare_weight_state(case, actual, expected)
    _compare_output_meta(case, actual, expected)
    config = case.config
    state = case.states[0]
    rows = expected.state_after["weight"][case.inputs[0].to(torch.int64)]
    bound = tolerance.layer_norm_output(
        rows, state["norm.weight"], state["norm.bias"], LAYER_NORM_EPS,
        dtype=expected.output.dtype, compute_dtype=state["norm.weight"].dtype,
        renorm_dtype=rows.dtype if config.max_norm is not None else None)
    assert_within(actual.output, expected.output, bound,
                  what="output (layer norm of the looked-up rows)")
    if case.grad_outputs is None:
        return
    bounds = tolerance.layer_norm_gradients(
        rows, state["norm.weight"], case.grad_outputs[0], case.inputs[0],
        config.num_embeddings, LAYER_NORM_EPS, padding_idx=_padding_idx(config),
        scale_grad_by_freq=config.scale_grad_by_freq, dtype=expected.grads["weight"].dtype,
        norm_dtype=expected.grads["norm.weight"].dtype)
    _compare_grads(actual, expected, bounds)


def _reference_pack(case: Case) -> tuple[torch.Tensor, torch.Tensor]:
    config = case.config
    return pack(case.states[0]["weight"], config.padding_idx, centre=config.centre)


def _compare_binary(case: Case, actual: RankOutcome, expected: RankOutcome) -> None:
    assert_state_unchanged(expected.state_after, actual.state_after,
                           what="state after the forward")
    _compare_output_meta(case, actual, expected)
    config = case.config
    _, scale = _reference_pack(case)
    bound = tolerance.binary_output(scale, config.embedding_dim, dtype=expected.output.dtype)
    assert_within(actual.output, expected.output, bound.rows(case.inputs[0]),
                  what="output (±scale per bit)")
    if case.grad_outputs is None:
        return
    grad = tolerance.binary_gradient(scale, case.inputs[0], case.grad_outputs[0],
                                     config.num_embeddings, padding_idx=_padding_idx(config),
                                     dtype=expected.grads["weight"].dtype)
    _compare_grads(actual, expected, {"weight": grad})


def _compare_packed(case: Case, actual: RankOutcome, expected: RankOutcome) -> None:
    got = actual.extra.get("packed")
    want = expected.extra["packed"]
    if not isinstance(got, Mapping) or set(got) != set(want):
        raise AssertionError(f"packed(): got {sorted(got) if isinstance(got, Mapping) else got},"
                             f" expected the fields {sorted(want)}")
    assert_exact(got["qweight"], want["qweight"], what="packed qweight (normative layout)")
    assert_within(got["scale"], want["scale"],
                  tolerance.binary_scale(want["scale"], case.config.embedding_dim),
                  what="packed scale (mean |w| per row)")


_FORWARD_COMPARISONS: Mapping[str, Callable[[Case, RankOutcome, RankOutcome], None]] = {
    "embedding": _compare_embedding,
    "stable": _compare_stable,
    "binary": _compare_binary,
}


def _tensors(outcome: RankOutcome) -> list[torch.Tensor]:
    found = [outcome.output] if outcome.output is not None else []
    for grad in outcome.grads.values():
        if grad is not None:
            found.append(grad.coalesce().values() if grad.layout == torch.sparse_coo else grad)
    found.extend(outcome.state_after.values())
    found.extend(outcome.extra.get("packed", {}).values())
    return found


def reject_overflow(expected: RankOutcome) -> None:
    """Discard (as a hypothesis example outside the domain) a case whose reference
    outcome overflows its dtype: the tolerance policy is stated for finite results, and
    where a result overflows, legitimate accumulation orders disagree on inf or NaN."""
    if not all(bool(torch.isfinite(t).all()) for t in _tensors(expected)
               if t.is_floating_point()):
        hypothesis.reject()


def compare(case: Case, actual: RankOutcome, expected: RankOutcome) -> None:
    """Compare a backend's outcome with the reference's as the spec and S0.7 say."""
    if expected.error is not None:
        assert_error(actual, error_class(expected.error.type))
        if case.states:
            assert_state_unchanged(case.states[0], actual.state_after,
                                   what="state after the error (S0.4)")
        return
    assert_no_error(actual)
    _compare_state_meta(actual.state_after, expected.state_after)
    if case.action == "forward":
        _FORWARD_COMPARISONS[case.config.family](case, actual, expected)
    elif case.action == "forward_packed":
        _compare_binary(case, actual, expected)
    elif case.action == "packed":
        _compare_packed(case, actual, expected)
    elif case.action != "build":
        raise ValueError(f"the single-process harness has no comparison for action "
                         f"{case.action!r}")


# -- named properties a test can ask for on top of the comparison --------------------------


def _padding_mask(case: Case) -> torch.Tensor:
    padding = _padding_idx(case.config)
    if padding is None:
        raise ValueError("this property needs a configuration with padding_idx")
    return case.inputs[0] == padding


def _padding_gradient_is_zero(case: Case, actual: RankOutcome, expected: RankOutcome) -> None:
    grad = actual.grads["weight"]
    if grad.layout == torch.sparse_coo:
        grad = grad.to_dense()
    rows = torch.zeros(grad.shape[0], dtype=torch.bool)
    rows[_padding_idx(case.config)] = True
    assert_zero_where(grad, rows.unsqueeze(1), what="gradient of the padding row")


def _padding_output_is_zero(case: Case, actual: RankOutcome, expected: RankOutcome) -> None:
    assert_zero_where(actual.output, _padding_mask(case).unsqueeze(-1),
                      what="output at padding positions")


def _padding_output_is_stored_row(case: Case, actual: RankOutcome,
                                  expected: RankOutcome) -> None:
    positions = _padding_mask(case)
    stored = case.states[0]["weight"][_padding_idx(case.config)]
    assert_exact(actual.output[positions], stored.expand(int(positions.sum()), -1),
                 what="output at padding positions (the stored padding row)")


def _unused_bits_are_zero(case: Case, actual: RankOutcome, expected: RankOutcome) -> None:
    qweight = actual.extra["packed"]["qweight"]
    used = case.config.embedding_dim % 8
    if used and qweight.numel():
        assert_zero_where(qweight[:, -1] >> used, torch.ones((), dtype=torch.bool),
                          what=f"unused high bits of the last byte (D % 8 = {used})")


def _state_unchanged(case: Case, actual: RankOutcome, expected: RankOutcome) -> None:
    assert_state_unchanged(case.states[0], actual.state_after, what="state after the forward")


PROPERTIES: Mapping[str, Callable[[Case, RankOutcome, RankOutcome], None]] = {
    "padding_gradient_is_zero": _padding_gradient_is_zero,
    "padding_output_is_zero": _padding_output_is_zero,
    "padding_output_is_stored_row": _padding_output_is_stored_row,
    "unused_bits_are_zero": _unused_bits_are_zero,
    "state_unchanged": _state_unchanged,
}
"""Properties a test may require in addition to the reference comparison, by name."""


# -- checks ----------------------------------------------------------------------------------


def _reporting(target: Target, case: Case, check: str, **options: Any):
    return reporting(case, target.backend_spec, check=check, options=options,
                     device=target.device)


def _options(**options: Any) -> dict[str, Any]:
    return {k: v for k, v in options.items() if v not in (None, ())}


def check_against_reference(target: Target, case: Case, *,
                            properties: tuple[str, ...] = ()) -> Result:
    """Run ``case`` on the backend and the reference and compare all outcomes, then
    assert each named property of :data:`PROPERTIES`."""
    unknown = [p for p in properties if p not in PROPERTIES]
    if unknown:
        raise ValueError(f"unknown properties {unknown}; known: {', '.join(PROPERTIES)}")
    with _reporting(target, case, "check_against_reference",
                    **_options(properties=tuple(properties))):
        expected = expected_outcome(case)
        reject_overflow(expected)
        actual = run(target, case)
        compare(case, actual, expected)
        for name in properties:
            PROPERTIES[name](case, actual, expected)
    return Result(case, actual, expected)


def check_error(target: Target, case: Case, expected: type[BaseException], *,
                mentions: str | None = None) -> Result:
    """The backend raises ``expected`` (naming ``mentions`` if given) and its state is
    exactly the state it was given (S0.4). The reference must agree (a check of the
    check)."""
    with _reporting(target, case, "check_error",
                    **_options(expected=expected, mentions=mentions)):
        reference = expected_outcome(case)
        if reference.error is None or not reference.error.is_a(expected):
            raise RuntimeError(f"the reference itself does not raise {expected.__name__} for "
                               f"this case (got {reference.error}); the check is wrong")
        actual = run(target, case)
        assert_error(actual, expected, mentions=mentions)
        if case.states:
            assert_state_unchanged(case.states[0], actual.state_after,
                                   what="state after the error (S0.4)")
    return Result(case, actual, reference)


def check_repeatable(target: Target, case: Case) -> Result:
    """Determinism (S0.6): two runs of ``case`` both match the reference; within a run
    the repeated forwards agree bitwise, and so do the two runs' outputs; the two runs'
    gradients agree bitwise for a backend declaring ``deterministic_backward`` (others
    are held to the accumulation bound by the reference comparison)."""
    with _reporting(target, case, "check_repeatable"):
        expected = expected_outcome(case)
        reject_overflow(expected)
        first = run(target, case)
        second = run(target, case)
        compare(case, first, expected)
        compare(case, second, expected)
        outputs = first.extra.get("outputs", [first.output])
        for i, output in enumerate(outputs[1:], start=2):
            assert_exact(output, outputs[0], what=f"output of forward {i} of {len(outputs)}")
        assert_exact(second.output, first.output, what="output of a second run")
        if tolerance.requires_bitwise_backward(target.backend.deterministic_backward):
            for name, grad in first.grads.items():
                _assert_same_gradient(second.grads[name], grad,
                                      what=f"gradient of {name!r} in a second run "
                                           "(deterministic_backward)")
    return Result(case, first, expected)


def _assert_same_gradient(again: torch.Tensor | None, grad: torch.Tensor | None, *,
                          what: str) -> None:
    if grad is None or again is None:
        if (grad is None) != (again is None):
            raise AssertionError(f"{what}: present in one run only")
        return
    if grad.layout == torch.sparse_coo:
        grad, again = grad.coalesce(), again.coalesce()
        assert_exact(again.indices(), grad.indices(), what=f"{what}, indices")
        assert_exact(again.values(), grad.values(), what=f"{what}, values")
        return
    assert_exact(again, grad, what=what)


def check_packed_agreement(target: Target, case: Case) -> Result:
    """A binary layer's two paths agree bitwise (S5): its latent forward equals its
    ``forward_packed()`` and the dequantised rows of its own ``packed()`` table,
    ``unpack(qweight)[id] * scale[id]`` cast to the layer dtype.
    The result holds the forward outcome as ``actual`` and the packed one as ``expected``."""
    with _reporting(target, case, "check_packed_agreement"):
        forward = run(target, dataclasses.replace(case, action="forward"))
        packed = run(target, dataclasses.replace(case, action="packed", inputs=[]))
        packed_forward = run(target, dataclasses.replace(case, action="forward_packed",
                                                         grad_outputs=None))
        assert_no_error(forward, what="the backend's forward")
        assert_no_error(packed, what="the backend's packed()")
        assert_no_error(packed_forward, what="the backend's forward_packed()")
        assert_exact(packed_forward.output, forward.output,
                     what="forward_packed() output (the runner must support the "
                          "'forward_packed' action) vs the latent forward")
        table = packed.extra["packed"]
        dim = case.config.embedding_dim
        ids = _ids(case)
        rows = unpack(table["qweight"], dim)[ids] * table["scale"][ids].unsqueeze(1)
        dequantised = rows.to(forward.output.dtype).reshape(forward.output.shape)
        assert_exact(forward.output, dequantised,
                     what="latent forward vs the backend's own packed table")
    return Result(case, forward, packed)


# -- initialisation ----------------------------------------------------------------------------


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


def assert_follows(sample: torch.Tensor, law: Distribution, *, alpha: float,
                   what: str = "initialised weight") -> None:
    """``sample`` (i.i.d. draws) is consistent with ``law`` at false-alarm rate ``alpha``:
    mean and variance within the z bound, every value within a uniform law's bound, and
    a Kolmogorov-Smirnov test."""
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
        outside = x.abs() > law.bound * (1 + 1e-2)
        if bool(outside.any()):
            raise AssertionError(f"{what}: {int(outside.sum())} values outside ±{law.bound:.6g} "
                                 f"({law.name}), e.g. {float(x[outside][0]):.6g}")
    ordered = x.sort().values
    cdf = law.cdf(ordered)
    ranks = torch.arange(1, n + 1, dtype=torch.float64)
    statistic = float(torch.maximum(ranks / n - cdf, cdf - (ranks - 1) / n).max())
    pvalue = kolmogorov_pvalue(statistic, n)
    if pvalue < alpha / 3:
        raise AssertionError(f"{what}: Kolmogorov-Smirnov statistic {statistic:.4f} over {n} "
                             f"values, p = {pvalue:.3g} < {alpha / 3:.3g}: not {law.name}")


def check_initialisation(target: Target, case: Case, *, seed: int) -> Result:
    """A layer the backend builds after ``torch.manual_seed(seed)`` (S1.7): the reference's
    state layout; the padding row exactly zero; a named scheme's elements consistent with
    its law; every other state entry, and a user callable's table, exactly the
    reference's (they are deterministic)."""
    if case.action != "build":
        raise ValueError("an initialisation check builds only: use action='build'")
    with _reporting(target, case, "check_initialisation", seed=seed):
        torch.manual_seed(seed)
        actual = run(target, case)
        torch.manual_seed(seed)
        expected = expected_outcome(case)
        assert_no_error(actual)
        _compare_state_meta(actual.state_after, expected.state_after)
        config = case.config
        weight = actual.state_after["weight"]
        padding = _padding_idx(config)
        keep = torch.ones(weight.shape[0], dtype=torch.bool)
        if padding is not None:
            keep[padding] = False
            assert_zero_where(weight, ~keep.unsqueeze(1), what="padding row after init")
        for key in expected.state_after:
            if key != "weight" or not isinstance(config.init, str):
                assert_exact(actual.state_after[key], expected.state_after[key],
                             what=f"state {key!r} after init (deterministic)")
        if isinstance(config.init, str):
            law = scheme_distribution(config.init, config.num_embeddings,
                                      config.embedding_dim)
            assert_follows(weight[keep], law, alpha=tolerance.STATISTICAL_ALPHA,
                           what=f"weight initialised by {config.init!r} (padding row excluded)")
    return Result(case, actual, expected)


def fill_with_constant(weight: torch.Tensor) -> None:
    """A user init callable for checks: every element ``0.5`` (exact in every dtype)."""
    weight.fill_(0.5)
