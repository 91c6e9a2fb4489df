"""Whole cases of the single-process families (embedding, stable, binary): a
configuration, a state and, for a forward, an index tensor and an output gradient,
drawn together as one :class:`~embedspec.conformance.checks.case.Case` of a
one-process world. Multi-rank families draw theirs in :mod:`.parallel`.

Every test body then reads::

    check(target, data.draw(xs.embedding_cases(dtype, max_norm=True), label="case"))

Keyword options of a case strategy are either the case's (``values``, ``indices``,
``include_padding``, ``invalid_indices``, ``backward`` and any other
:class:`~embedspec.conformance.checks.case.Case` field such as ``action``, ``repeat``,
``write_output``, ``transform``, ``compiler``) or the configuration's (everything else,
passed to the family's configuration strategy of :mod:`.configs`: ``max_norm=True``,
``padding=True``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from embedspec.conformance.checks.case import Case
from embedspec.conformance.checks.expected.common import padding_row
from hypothesis import strategies as st

from .configs import configs, rule_breaking_configs
from .indices import bad_dtype_index_tensors, index_tensors, out_of_range_index_tensors
from .reuse import reused
from .tensors import grad_outputs_for, states, tangents_for


@reused
def _python_lists(num_embeddings: int) -> st.SearchStrategy[list]:
    return index_tensors(num_embeddings, layouts=("contiguous",)).map(lambda t: t.tolist())


#: The invalid inputs a case may hold, by kind: an id outside ``[0, V)`` (S0.3), an
#: index dtype other than int32/int64 or no tensor at all (S0.2).
INVALID_INDICES = {"out_of_range": out_of_range_index_tensors,
                   "bad_dtype": bad_dtype_index_tensors,
                   "not_a_tensor": _python_lists}


@reused
@st.composite
def family_cases(draw: st.DrawFn, family: str, dtype: str = "float32", *,
                 values: str = "moderate", indices: Mapping[str, Any] | None = None,
                 include_padding: bool = False, invalid_indices: str | None = None,
                 backward: bool = False, action: str = "forward",
                 **options: Any) -> Case:
    """A case of ``family`` in ``dtype``.

    ``values``: the state's value range (:func:`.tensors.states`). ``indices``: options
    of :func:`.indices.index_tensors` (layouts, distributions, ids to include);
    ``include_padding``: the ids include the padding row; ``invalid_indices``: a kind of
    :data:`INVALID_INDICES` instead. ``backward``: also an output gradient. ``action``
    ``"packed"`` draws no indices. A ``transform`` of ``forward_ad`` or
    ``double_backward`` also draws ``tangents`` (:func:`.tensors.tangents_for`). Other
    options: :class:`Case` fields if they name one, else options of the configuration
    strategy.
    """
    fields = {k: options.pop(k) for k in list(options) if k in Case.__dataclass_fields__}
    config = draw(configs(family, dtype, **options), label="config")
    state = draw(states(config, values=values), label="state")
    if action == "packed":
        return Case(config=config, states=[state], action=action, **fields)
    if invalid_indices is not None:
        ids = draw(INVALID_INDICES[invalid_indices](config.num_embeddings), label="indices")
    else:
        index_options = dict(indices or {})
        if include_padding:
            index_options["include"] = (padding_row(config),)
        ids = draw(index_tensors(config.num_embeddings, **index_options), label="indices")
    grad = draw(grad_outputs_for(config, ids), label="grad_output") if backward else None
    if fields.get("transform") in ("forward_ad", "double_backward"):
        fields["tangents"] = [draw(tangents_for(config), label="tangents")]
    return Case(config=config, states=[state], inputs=[ids],
                grad_outputs=None if grad is None else [grad], action=action, **fields)


def renorm_would_show(case: Case) -> bool:
    """Whether a ``max_norm`` renorm of the rows the case's valid ids reference would
    change one (a row whose norm exceeds ``max_norm``): the cases in which a layer that
    renormalises before it raises (S0.4) is seen to. True for a layer without ``max_norm``
    or indices that are not an integer tensor."""
    config = case.config
    max_norm = getattr(config, "max_norm", None)
    ids = case.inputs[0] if case.inputs else None
    if max_norm is None or not isinstance(ids, torch.Tensor) or ids.is_floating_point():
        return True
    flat = ids.reshape(-1).long()
    valid = flat[(flat >= 0) & (flat < config.num_embeddings)]
    rows = case.states[0]["weight"][valid].double()
    norms = torch.linalg.vector_norm(rows, ord=config.norm_type, dim=1)
    return bool((norms > max_norm).any())


@reused
def embedding_cases(dtype: str = "float32", **options: Any) -> st.SearchStrategy[Case]:
    """A case of the embedding family (S1); see :func:`family_cases`."""
    return family_cases("embedding", dtype, **options)


@reused
def stable_cases(dtype: str = "float32", **options: Any) -> st.SearchStrategy[Case]:
    """A case of the stable family (S2); see :func:`family_cases`."""
    return family_cases("stable", dtype, **options)


@reused
def binary_cases(dtype: str = "float32", **options: Any) -> st.SearchStrategy[Case]:
    """A case of the binary family (S5); see :func:`family_cases`."""
    return family_cases("binary", dtype, **options)


@dataclass(frozen=True)
class InvalidConfigCase:
    """A build of a configuration with one bad argument, and the argument's name, which
    the ``ValueError`` must mention (S0.5)."""

    case: Case
    argument: str


@reused
@st.composite
def invalid_config_cases(draw: st.DrawFn, family: str, rule: str,
                         dtype: str = "float32") -> InvalidConfigCase:
    """A ``build`` case of ``family`` whose configuration breaks ``rule`` (a name of
    :data:`.configs.CONFIG_RULES`)."""
    invalid = draw(rule_breaking_configs(family, rule, dtype), label="invalid_config")
    return InvalidConfigCase(Case(config=invalid.config, action="build"), invalid.argument)
