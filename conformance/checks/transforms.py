"""Running a forward under a program transform (``Case.transform``): what each process
does for the composability checks (``docs/spec/composability.md``).

Each function takes the layer the backend built (its state loaded), the process's
indices and output gradient on the case's device, and fills the
:class:`~embedspec.conformance.checks.case.RankOutcome`; exceptions are the backend's
and become the outcome's error in
:func:`~embedspec.conformance.checks.execute.execute`.

* ``compile``: ``torch.compile(layer, fullgraph=True, dynamic=False)`` with the case's
  ``compiler`` backend, after ``torch._dynamo.reset()`` (so no earlier graph or
  recompile limit applies), called once; then the backward through the compiled graph.
  A call that compiled no frame is an error: the layer ran eagerly.
* ``export``: ``torch.export.export(layer, (indices,))``, then the exported program's
  module called on the same indices (grad mode restored afterwards: an exported graph
  that raises inside a no-grad region of its own would leave it off); the state
  reported is the program's. No backward: an exported program is a forward.
* ``forward_ad``: ``torch.func.jvp`` of ``functional_call(layer, params, (indices,))``
  with respect to every parameter, in the directions ``tangents``; the tangent of the
  output goes to ``extra["tangent"]``.
* ``vmap``: ``torch.func.vmap`` of the layer over dim 0 of the indices (the parameters
  unbatched), and the per-sample gradients ``vmap(vjp)`` of the trainable parameters
  for the rows of the output gradient: ``grads[name][b]`` is the gradient of sample
  ``b``.
* ``double_backward``: the backward with ``create_graph=True`` (first-order gradients in
  ``grads``), then the derivative of ``sum(grads[name] * tangents[name])`` with respect
  to the output gradient (``extra["second_order"]["grad_output"]``) and to every
  trainable parameter (``extra["second_order"][name]``; zeros where it does not depend
  on one).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from embedspec.conformance.checks.case import Case, RankOutcome
from torch import nn

#: What a transformed forward gives back: the module whose state is reported.
Runner = Callable[[nn.Module, Case, int, torch.Tensor, torch.Tensor | None, RankOutcome],
                  nn.Module]


def run_transformed(layer: nn.Module, case: Case, proc: int, device: torch.device,
                    outcome: RankOutcome) -> nn.Module:
    """Run the case's forward under ``case.transform`` as process ``proc``; returns the
    module whose state the outcome reports (the exported program's, for ``export``)."""
    try:
        run = RUNNERS[case.transform]
    except KeyError:
        raise ValueError(f"unknown transform {case.transform!r}; known: "
                         f"{', '.join(RUNNERS)}") from None
    indices = case.inputs[proc]
    if isinstance(indices, torch.Tensor):
        indices = indices.to(device)
    grad = None if case.grad_outputs is None else case.grad_outputs[proc].to(device)
    layer.zero_grad(set_to_none=True)
    return run(layer, case, proc, indices, grad, outcome)


def _record_output(outcome: RankOutcome, out: torch.Tensor) -> None:
    outcome.output = out.detach().cpu().clone()
    outcome.extra["output_device"] = str(out.device)


def _gradients(layer: nn.Module) -> dict[str, torch.Tensor | None]:
    return {name: None if p.grad is None else p.grad.detach().cpu().clone()
            for name, p in layer.named_parameters()}


def _compiled(layer: nn.Module, case: Case, proc: int, indices: torch.Tensor,
              grad: torch.Tensor | None, outcome: RankOutcome) -> nn.Module:
    from torch._dynamo.testing import CompileCounterWithBackend

    torch._dynamo.reset()
    counter = CompileCounterWithBackend(case.compiler)
    compiled = torch.compile(layer, fullgraph=True, dynamic=False, backend=counter)
    out = compiled(indices)
    if counter.frame_count == 0:
        raise RuntimeError(f"torch.compile(backend={case.compiler!r}) compiled no frame: "
                           "the layer ran eagerly")
    _record_output(outcome, out)
    if grad is not None:
        if out.requires_grad:
            out.backward(grad)
        outcome.grads = _gradients(layer)
    return layer


def _exported(layer: nn.Module, case: Case, proc: int, indices: torch.Tensor,
              grad: torch.Tensor | None, outcome: RankOutcome) -> nn.Module:
    program = torch.export.export(layer, (indices,))
    module = program.module()
    # An exported graph switches grad mode with calls of its own (for a no_grad region
    # such as a renorm): an error inside the region would leave it switched off.
    with torch.set_grad_enabled(torch.is_grad_enabled()):
        _record_output(outcome, module(indices))
    return module


def _parameters(layer: nn.Module, *, trainable: bool = False) -> dict[str, torch.Tensor]:
    return {name: p.detach() for name, p in layer.named_parameters()
            if p.requires_grad or not trainable}


def _forward_ad(layer: nn.Module, case: Case, proc: int, indices: torch.Tensor,
                grad: torch.Tensor | None, outcome: RankOutcome) -> nn.Module:
    params = _parameters(layer)
    device = next(iter(params.values())).device if params else indices.device
    tangents = {name: case.tangents[proc][name].to(device) for name in params}

    def forward(p: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.func.functional_call(layer, p, (indices,))

    out, tangent = torch.func.jvp(forward, (params,), (tangents,))
    _record_output(outcome, out)
    outcome.extra["tangent"] = tangent.detach().cpu().clone()
    return layer


def _vmapped(layer: nn.Module, case: Case, proc: int, indices: torch.Tensor,
             grad: torch.Tensor | None, outcome: RankOutcome) -> nn.Module:
    params = _parameters(layer, trainable=True)

    def forward(p: dict[str, torch.Tensor], ids: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(layer, p, (ids,))

    out = torch.func.vmap(forward, in_dims=(None, 0))(params, indices)
    _record_output(outcome, out)
    if grad is not None:
        def sample_gradient(ids: torch.Tensor, g: torch.Tensor) -> dict[str, torch.Tensor]:
            _, pull = torch.func.vjp(lambda p: forward(p, ids), params)
            return pull(g)[0]

        per_sample = torch.func.vmap(sample_gradient)(indices, grad) if params else {}
        outcome.grads = {name: per_sample[name].detach().cpu().clone() if name in per_sample
                         else None for name, _ in layer.named_parameters()}
    return layer


def _double_backward(layer: nn.Module, case: Case, proc: int, indices: torch.Tensor,
                     grad: torch.Tensor | None, outcome: RankOutcome) -> nn.Module:
    if grad is None:
        raise ValueError("a double_backward case needs grad_outputs")
    params = {name: p for name, p in layer.named_parameters() if p.requires_grad}
    out = layer(indices)
    _record_output(outcome, out)
    grad = grad.detach().clone().requires_grad_(True)
    first = torch.autograd.grad(out, list(params.values()), grad, create_graph=True)
    outcome.grads = {name: None for name, _ in layer.named_parameters()}
    outcome.grads.update({name: g.detach().cpu().clone() for name, g in zip(params, first,
                                                                              strict=True)})
    directions = [case.tangents[proc][name].to(g.device) for name, g in zip(params, first,
                                                                           strict=True)]
    second = torch.autograd.grad(first, [grad, *params.values()], directions,
                                 allow_unused=True)
    wrt = [("grad_output", grad), *params.items()]
    outcome.extra["second_order"] = {
        name: (torch.zeros_like(value) if derivative is None else derivative).detach().cpu()
        .clone() for (name, value), derivative in zip(wrt, second, strict=True)}
    return layer


RUNNERS: dict[str, Runner] = {
    "compile": _compiled,
    "export": _exported,
    "forward_ad": _forward_ad,
    "vmap": _vmapped,
    "double_backward": _double_backward,
}
