"""The reference under PyTorch's program transforms (docs/spec/composability.md).

The lookup's Jacobian is one in every mode: ``J[i, k] = c_i`` when ``ids[i] == k``, with
``c_i = 0`` at padding positions, ``1 / count`` of the id with ``scale_grad_by_freq``,
else 1. Where it is the derivative of the forward (no padding position, no repeated id
under frequency scaling), ``gradcheck`` confirms it against finite differences in every
mode; everywhere it is compared with explicit Jacobians. The backward is linear in the
output gradient, so ``gradgradcheck`` applies with padding positions and repeated ids.
"""

from __future__ import annotations

import pytest
import torch
from embedspec.reference import (
    BinaryEmbedding,
    Embedding,
    StableEmbedding,
    binary_embedding,
    embedding,
    lookup,
    pack,
)
from embedspec.reference.operators import VMAP_RENORM_MESSAGE
from torch.autograd import gradcheck, gradgradcheck
from torch.func import functional_call, jacfwd, jacrev, jvp, vjp, vmap

V, D = 6, 3
#: Ids with repeats (0 twice, 2 three times), every row but 5 referenced.
REPEATED = torch.tensor([[0, 2, 2], [4, 2, 0], [1, 3, 2]])
#: Distinct ids that avoid row 5.
DISTINCT = torch.tensor([[0, 2], [4, 1]])
PADDING = 2


def table(seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.randn(V, D, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def spec_jacobian(ids: torch.Tensor, padding_idx: int | None,
                  scale_grad_by_freq: bool) -> torch.Tensor:
    """``J[i, k]`` of the module docstring, shape ``ids.shape + (V,)``."""
    flat = ids.reshape(-1)
    jacobian = torch.nn.functional.one_hot(flat, V).to(torch.float64)
    if scale_grad_by_freq:
        jacobian = jacobian / torch.bincount(flat, minlength=V)[flat].unsqueeze(1)
    if padding_idx is not None:
        jacobian[flat == padding_idx] = 0
    return jacobian.reshape(*ids.shape, V)


OPTIONS = [pytest.param(p, f, id=f"padding={p}-freq={f}")
           for p in (None, PADDING) for f in (False, True)]


@pytest.mark.parametrize(("padding_idx", "scale_grad_by_freq"), OPTIONS)
def test_gradcheck_in_every_mode(padding_idx, scale_grad_by_freq):
    """Backward, forward-mode AD and batched gradients against finite differences, the
    padding row held constant (its gradient is zero by rule, S1.1), on distinct ids
    (where frequency scaling divides by 1)."""
    weight = table()
    pad_row = weight[PADDING:PADDING + 1]

    def forward(free: torch.Tensor) -> torch.Tensor:
        full = torch.cat([free[:PADDING], pad_row, free[PADDING:]]) \
            if padding_idx is not None else free
        return lookup(ids, full, padding_idx=padding_idx, scale_grad_by_freq=scale_grad_by_freq)

    ids = torch.tensor([[0, 2, 3], [4, 1, 5]]) if padding_idx is not None else DISTINCT
    free = torch.cat([weight[:PADDING], weight[PADDING + 1:]]) if padding_idx is not None \
        else weight
    assert gradcheck(forward, (free.clone().requires_grad_(),), check_batched_grad=True,
                     check_forward_ad=True, check_backward_ad=True,
                     check_batched_forward_grad=True)


@pytest.mark.parametrize(("padding_idx", "scale_grad_by_freq"), OPTIONS)
def test_gradgradcheck_with_padding_and_repeated_ids(padding_idx, scale_grad_by_freq):
    """The backward is linear in the output gradient and does not depend on the weight:
    its derivatives (reverse over reverse, forward over reverse, batched) match finite
    differences with padding positions and repeated ids."""
    def forward(weight: torch.Tensor) -> torch.Tensor:
        return lookup(REPEATED, weight, padding_idx=padding_idx,
                      scale_grad_by_freq=scale_grad_by_freq)

    assert gradgradcheck(forward, (table().requires_grad_(),), check_batched_grad=True,
                         check_fwd_over_rev=True, check_rev_over_rev=True)


@pytest.mark.parametrize(("padding_idx", "scale_grad_by_freq"), OPTIONS)
def test_every_mode_has_the_spec_jacobian(padding_idx, scale_grad_by_freq):
    """jacrev, jacfwd, jvp and the double backward all apply ``J`` (padding positions and
    repeated ids included)."""
    def forward(weight: torch.Tensor) -> torch.Tensor:
        return lookup(REPEATED, weight, padding_idx=padding_idx,
                      scale_grad_by_freq=scale_grad_by_freq)

    weight, tangent = table(0), table(1)
    jacobian = spec_jacobian(REPEATED, padding_idx, scale_grad_by_freq)
    expected = torch.einsum("...k,de->...dke", jacobian, torch.eye(D, dtype=torch.float64))
    assert torch.equal(jacrev(forward)(weight), expected)
    assert torch.equal(jacfwd(forward)(weight), expected)
    _, out_tangent = jvp(forward, (weight,), (tangent,))
    assert torch.allclose(out_tangent, torch.einsum("...k,kd->...d", jacobian, tangent),
                          rtol=1e-15, atol=0)
    leaf = weight.clone().requires_grad_()
    grad_output = torch.randn(*REPEATED.shape, D, dtype=torch.float64, requires_grad=True)
    (grad_weight,) = torch.autograd.grad(forward(leaf), leaf, grad_output, create_graph=True)
    wrt_grad_output, wrt_weight = torch.autograd.grad(grad_weight, (grad_output, leaf), tangent,
                                                      allow_unused=True)
    assert wrt_weight is None  # the backward does not depend on the weight
    assert torch.equal(wrt_grad_output, out_tangent)


def test_padding_tangent_is_an_exact_zero():
    """A padding position's tangent is exactly zero, even for a non-finite tangent row."""
    tangent = table(1)
    tangent[PADDING] = float("inf")
    _, out = jvp(lambda w: lookup(REPEATED, w, padding_idx=PADDING), (table(),), (tangent,))
    padded = out[REPEATED == PADDING]
    assert padded.shape == (4, D) and torch.equal(padded, torch.zeros_like(padded))


def test_vmap_equals_stacking_in_both_directions():
    """vmap over index tensors is the stacked lookups; per-sample gradients (vmap of vjp)
    are the per-sample backwards, sparse-free and exact in float64."""
    weight = table()
    layer = lambda w, ids: lookup(ids, w, padding_idx=PADDING, scale_grad_by_freq=True)  # noqa: E731
    assert torch.equal(vmap(layer, in_dims=(None, 0))(weight, REPEATED), weight[REPEATED])
    grads = torch.randn(*REPEATED.shape, D, dtype=torch.float64)

    def sample_gradient(ids: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return vjp(lambda w: layer(w, ids), weight)[1](g)[0]

    per_sample = vmap(sample_gradient)(REPEATED, grads)
    for b in range(REPEATED.shape[0]):
        leaf = weight.clone().requires_grad_()
        layer(leaf, REPEATED[b]).backward(grads[b])
        assert torch.equal(per_sample[b], leaf.grad)


def test_vmap_over_tables():
    """A batch of tables, one index tensor: the stacked lookups."""
    tables = torch.stack([table(0), table(1)])
    out = vmap(lambda w: lookup(REPEATED, w, padding_idx=PADDING))(tables)
    assert torch.equal(out, tables[:, REPEATED])


# -- max_norm under the transforms --------------------------------------------------------


def large_table() -> torch.Tensor:
    return table() * 4  # every row's norm above 1


def test_max_norm_under_forward_ad_renormalises_the_primal_only():
    """The renorm updates the stored table in place, as eagerly, and does not enter the
    tangent (S1.2): the tangent is the lookup of the table's tangent."""
    weight, tangent = large_table(), table(1)
    eager = weight.clone()
    expected = embedding(REPEATED, eager, max_norm=1.0)
    out, out_tangent = jvp(lambda w: embedding(REPEATED, w, max_norm=1.0), (weight,), (tangent,))
    assert torch.equal(out, expected)
    assert torch.equal(weight, eager)
    assert torch.equal(out_tangent, tangent[REPEATED])


@pytest.mark.parametrize("transform", [jacfwd, jacrev], ids=["jacfwd", "jacrev"])
def test_max_norm_under_jacobians(transform):
    weight = large_table()
    eager = weight.clone()
    embedding(REPEATED, eager, max_norm=1.0)
    jacobian = transform(lambda w: embedding(REPEATED, w, max_norm=1.0))(weight)
    assert torch.equal(weight, eager)
    assert torch.equal(jacobian.sum(dim=(-1, -2)), torch.ones(*REPEATED.shape, D,
                                                              dtype=torch.float64))


def test_max_norm_under_vmap_raises_and_changes_nothing():
    weight = large_table()
    before = weight.clone()
    with pytest.raises(RuntimeError, match="max_norm"):
        vmap(lambda ids: embedding(ids, weight, max_norm=1.0))(REPEATED)
    with pytest.raises(RuntimeError, match="max_norm"):
        vmap(lambda w: embedding(REPEATED, w, max_norm=1.0))(torch.stack([weight, weight]))
    assert torch.equal(weight, before)
    assert "max_norm" in VMAP_RENORM_MESSAGE


def test_index_error_under_vmap():
    weight = table()
    with pytest.raises(IndexError, match="id 6"):
        vmap(lambda ids: lookup(ids, weight))(torch.tensor([[0, 1], [2, 6]]))


# -- compile and export -------------------------------------------------------------------


def layer_pair(cls: type, **options: object) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    layer = cls(V, D, **options)
    with torch.no_grad():
        layer.weight.mul_(4)
    twin = cls(V, D, **options)
    twin.load_state_dict(layer.state_dict())
    return layer, twin


def grads(layer: torch.nn.Module) -> list[torch.Tensor]:
    return [p.grad for p in layer.parameters()]


@pytest.mark.parametrize("compiler", ["aot_eager", "inductor"])
def test_compiled_embedding_equals_eager(compiler):
    """fullgraph=True traces the whole layer (checks and renorm are operators); the
    compiled output is bitwise the eager one, and so are the gradients and the
    renormalised table."""
    torch._dynamo.reset()
    compiled, eager = layer_pair(Embedding, padding_idx=PADDING, max_norm=1.0,
                                 scale_grad_by_freq=True)
    run = torch.compile(compiled, fullgraph=True, dynamic=False, backend=compiler)
    out, expected = run(REPEATED), eager(REPEATED)
    assert torch.equal(out, expected)
    out.sum().backward()
    expected.sum().backward()
    assert torch.equal(compiled.weight, eager.weight)
    assert all(torch.equal(a, b) for a, b in zip(grads(compiled), grads(eager), strict=True))
    before = compiled.weight.detach().clone()
    with pytest.raises(IndexError, match="id 6"):
        run(torch.tensor([[0, 1, 6], [1, 1, 1], [0, 0, 0]]))
    assert torch.equal(compiled.weight, before)


@pytest.mark.parametrize("cls", [StableEmbedding, BinaryEmbedding])
def test_compiled_stable_and_binary_equal_eager(cls):
    torch._dynamo.reset()
    compiled, eager = layer_pair(cls, padding_idx=PADDING)
    out = torch.compile(compiled, fullgraph=True, dynamic=False, backend="aot_eager")(REPEATED)
    expected = eager(REPEATED)
    assert torch.equal(out, expected)
    out.square().sum().backward()
    expected.square().sum().backward()
    assert all(torch.equal(a, b) for a, b in zip(grads(compiled), grads(eager), strict=True))


@pytest.mark.parametrize("cls", [Embedding, StableEmbedding])
def test_exported_program_renormalises_and_checks(cls):
    """The exported program holds the id check and the in-place renorm: it gives the
    eager output and table, and raises IndexError."""
    exported, eager = layer_pair(cls, max_norm=1.0)
    program = torch.export.export(exported, (REPEATED,)).module()
    assert torch.equal(program(REPEATED), eager(REPEATED))
    assert torch.equal(program.state_dict()["weight"], eager.weight.detach())
    with pytest.raises(IndexError, match="id 6"):
        program(torch.tensor([[0, 1, 6], [1, 1, 1], [0, 0, 0]]))


# -- the stable and binary families -------------------------------------------------------


def test_stable_gradcheck_in_every_mode():
    """The stable layer (a lookup, then a layer norm) against finite differences, in
    every mode, with respect to the table and the norm parameters."""
    layer = StableEmbedding(V, D, dtype=torch.float64)
    norm_weight = torch.rand(D, dtype=torch.float64) + 0.5
    norm_bias = torch.randn(D, dtype=torch.float64)

    def forward(w: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        params = {"weight": w, "norm.weight": gamma, "norm.bias": beta}
        return functional_call(layer, params, (DISTINCT,))

    inputs = tuple(t.clone().requires_grad_() for t in (table(), norm_weight, norm_bias))
    assert gradcheck(forward, inputs, check_batched_grad=True, check_forward_ad=True,
                     check_backward_ad=True)


def test_stable_forward_ad_matches_reverse_mode():
    """jacfwd equals jacrev with padding positions (the padding row's derivative is
    zero in both modes)."""
    layer = StableEmbedding(V, D, padding_idx=PADDING, dtype=torch.float64)
    params = {k: v.detach() for k, v in layer.named_parameters()}
    forward = lambda p: functional_call(layer, p, (REPEATED,))  # noqa: E731
    forward_mode, reverse_mode = jacfwd(forward)(params), jacrev(forward)(params)
    for name in params:
        assert torch.allclose(forward_mode[name], reverse_mode[name], rtol=1e-12, atol=1e-14)
    assert torch.equal(forward_mode["weight"][..., PADDING, :],
                       torch.zeros_like(forward_mode["weight"][..., PADDING, :]))


def test_binary_tangent_is_the_straight_through_jacobian():
    """The tangent at id r is scale[r] * tangent[r], zero at padding positions; jacfwd
    equals jacrev, and the double backward applies the same map to the direction."""
    weight, tangent = table(), table(1)
    _, scale = pack(weight, PADDING)
    forward = lambda w: binary_embedding(REPEATED, w, PADDING)  # noqa: E731
    _, out = jvp(forward, (weight,), (tangent,))
    expected = tangent[REPEATED] * scale[REPEATED].to(torch.float64).unsqueeze(-1)
    assert torch.equal(out, expected)
    assert torch.equal(jacfwd(forward)(weight), jacrev(forward)(weight))
    leaf = weight.clone().requires_grad_()
    grad_output = torch.randn(*REPEATED.shape, D, dtype=torch.float64, requires_grad=True)
    (grad_weight,) = torch.autograd.grad(forward(leaf), leaf, grad_output, create_graph=True)
    (wrt_grad_output,) = torch.autograd.grad(grad_weight, grad_output, tangent)
    assert torch.equal(wrt_grad_output, expected)
