"""Repro snippets: every failing check carries a short program that reproduces it.

:func:`repro_snippet` turns a :class:`~embedspec.conformance.checks.case.Case` into Python
source that imports what it needs, writes the configuration, the per-process states
(tensors as exact literals when small, as exact bytes otherwise), the indices (with
their strides when they are a non-contiguous view), the output gradients, and then
calls the same :mod:`~embedspec.conformance.checks` check that failed, on the backend
named as on the command line (a registered name, or the ``package.module:attr`` spec
it was loaded by, with a first comment naming the folder to put on ``PYTHONPATH``),
through :func:`~embedspec.conformance.checks.target.target_for` (so the same snippet
serves a one-process case and a world of several processes). Run as is (``python -c``),
it raises the same ``AssertionError``.

:func:`reporting` attaches the snippet (``add_note``) to any exception raised inside
it; every check runs inside it.
"""

from __future__ import annotations

import base64
import builtins
import dataclasses
import importlib.util
import math
import sys
import sysconfig
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from embedspec.conformance.checks.case import Case, World
from embedspec.conformance.session.failure_notes import REPRO_HEADER, pythonpath_comment

#: Tensors with at most this many elements are written as literal lists.
LITERAL_LIMIT = 64
NOTE_HEADER = REPRO_HEADER


class _Source:
    """Python source for values, collecting the imports they need."""

    def __init__(self) -> None:
        self.imports: set[str] = {"import torch"}

    def value(self, value: Any) -> str:
        if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
            return repr(value)
        if isinstance(value, float):
            return self.float(value)
        if isinstance(value, torch.dtype):
            return str(value)
        if isinstance(value, torch.Tensor):
            return self.tensor(value)
        if isinstance(value, World):
            self.imports.add("from embedspec.conformance.checks.case import World")
            return repr(value)
        if isinstance(value, type) and issubclass(value, BaseException):
            if getattr(builtins, value.__name__, None) is value:
                return value.__name__
            return self._imported(value)
        if isinstance(value, (list, tuple)):
            items = ", ".join(self.value(v) for v in value)
            if isinstance(value, list):
                return f"[{items}]"
            return f"({items},)" if len(value) == 1 else f"({items})"
        if isinstance(value, Mapping):
            return "{" + ", ".join(f"{self.value(k)}: {self.value(v)}"
                                   for k, v in value.items()) + "}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self.dataclass(value)
        if callable(value) and hasattr(value, "__module__") and hasattr(value, "__qualname__"):
            return self._imported(value)
        raise TypeError(f"cannot write {type(value).__name__} values as source")

    def float(self, value: float) -> str:
        if math.isnan(value):
            self.imports.add("import math")
            return "math.nan"
        if math.isinf(value):
            self.imports.add("import math")
            return "math.inf" if value > 0 else "-math.inf"
        return repr(value)

    def _imported(self, obj: Any) -> str:
        module, qualname = obj.__module__, obj.__qualname__
        if "<" in qualname:
            raise TypeError(f"{qualname} is not importable; use a module-level function")
        top = qualname.split(".")[0]
        self.imports.add(f"from {module} import {top}")
        return qualname

    def dataclass(self, value: Any) -> str:
        cls = type(value)
        self.imports.add(f"from {cls.__module__} import {cls.__qualname__}")
        args = []
        for field in dataclasses.fields(value):
            current = getattr(value, field.name)
            if field.default is not dataclasses.MISSING and _same(current, field.default):
                continue
            args.append(f"{field.name}={self.value(current)}")
        return f"{cls.__qualname__}({', '.join(args)})"

    def tensor(self, tensor: torch.Tensor) -> str:
        tensor = tensor.detach().cpu()
        if tensor.layout != torch.strided:
            raise TypeError(f"cannot write a {tensor.layout} tensor as source")
        if tensor.is_contiguous() or tensor.numel() == 0:
            return self._contiguous(tensor.contiguous())
        storage = torch.empty(0, dtype=tensor.dtype).set_(
            tensor.untyped_storage(), 0, (tensor.untyped_storage().nbytes()
                                          // tensor.element_size(),))
        return (f"{self._contiguous(storage)}.as_strided({tuple(tensor.shape)}, "
                f"{tensor.stride()}, {tensor.storage_offset()})")

    def _contiguous(self, tensor: torch.Tensor) -> str:
        dtype = str(tensor.dtype)
        if tensor.numel() <= LITERAL_LIMIT:
            if tensor.dim() > 0 and tensor.numel() == 0:
                return f"torch.empty({tuple(tensor.shape)}, dtype={dtype})"
            return f"torch.tensor({self._nested(tensor.tolist())}, dtype={dtype})"
        self.imports.add("import base64")
        data = base64.b64encode(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
        return (f"torch.frombuffer(bytearray(base64.b64decode({data.decode()!r})), "
                f"dtype={dtype}).reshape({tuple(tensor.shape)})")

    def _nested(self, values: Any) -> str:
        if isinstance(values, list):
            return "[" + ", ".join(self._nested(v) for v in values) + "]"
        if isinstance(values, float):
            return self.float(values)
        return repr(values)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return type(a) is type(b) and bool(a == b)
    except (RuntimeError, TypeError):
        return False


def _case_source(src: _Source, case: Case) -> list[str]:
    lines = [f"config = {src.value(case.config)}"]
    args = ["config"]
    if case.states:
        for proc, state in enumerate(case.states):
            lines.append(f"state{proc or ''} = {src.value(dict(state))}")
        args.append("states=[" + ", ".join(f"state{p or ''}" for p in range(len(case.states)))
                    + "]")
    if case.inputs:
        for proc, indices in enumerate(case.inputs):
            lines.append(f"indices{proc or ''} = {src.value(indices)}")
        args.append("inputs=[" + ", ".join(f"indices{p or ''}" for p in range(len(case.inputs)))
                    + "]")
    if case.grad_outputs is not None:
        for proc, grad in enumerate(case.grad_outputs):
            lines.append(f"grad_output{proc or ''} = {src.value(grad)}")
        args.append("grad_outputs=[" + ", ".join(
            f"grad_output{p or ''}" for p in range(len(case.grad_outputs))) + "]")
    handled = {"config", "states", "inputs", "grad_outputs"}
    for field in dataclasses.fields(case):
        if field.name in handled:
            continue
        current = getattr(case, field.name)
        default = (field.default_factory() if field.default_factory is not dataclasses.MISSING
                   else field.default)
        if isinstance(current, torch.Tensor) or not _same(current, default):
            args.append(f"{field.name}={src.value(current)}")
    src.imports.add("from embedspec.conformance.checks.case import Case")
    lines.append(f"case = Case({', '.join(args)})")
    return lines


def _what_runs(case: Case) -> str:
    steps = {
        "build": "layer = backend.build(config, context)",
        "forward": "layer.load_state_dict(state); output = layer(indices)"
                   + ("; output.backward(grad_output)" if case.grad_outputs is not None else ""),
        "forward_packed": "layer.load_state_dict(state); output = layer.forward_packed(indices)",
        "packed": "layer.load_state_dict(state); layer.packed()",
        "weight_loader": "layer.weight_loader(layer.weight, loaded_weight)",
    }
    action = steps.get(case.action, f"action {case.action!r}")
    who = (f"each of the {case.world.nprocs} processes runs" if case.world.nprocs > 1
           else "the backend runs")
    if case.action == "build":
        return f"# {who}: {action}"
    return f"# {who}: layer = backend.build(config, context); {action}"


def repro_snippet(case: Case, backend_spec: str, *, check: str = "check",
                  options: Mapping[str, Any] | None = None, seed: int | None = None,
                  device: str | None = None) -> str:
    """Python source reproducing ``check`` (a function of
    :mod:`embedspec.conformance.checks`) of ``case`` on the backend named
    ``backend_spec``; ``options`` are the check's keyword arguments and ``seed`` the
    torch seed set right before it (initialisation checks)."""
    src = _Source()
    src.imports.add("from embedspec.conformance import checks")
    folder = import_folder(backend_spec)
    opening = [] if folder is None else [
        pythonpath_comment(folder, backend_spec, backend_spec.partition(":")[0].strip())]
    body = _case_source(src, case)
    body.append(_what_runs(case))
    device = device or case.device
    body.append(f"with checks.target_for({backend_spec!r}, device={device!r}) as target:")
    if seed is not None:
        body.append(f"    torch.manual_seed({seed})")
    kwargs = "".join(f", {k}={src.value(v)}" for k, v in (options or {}).items())
    body.append(f"    checks.{check}(target, case{kwargs})")
    return "\n".join([*opening, *sorted(src.imports, key=_import_order), "", *body])


def import_folder(backend_spec: str) -> str | None:
    """For a ``package.module:attr`` spec, the folder its module is imported from (the
    one holding its top-level package) when that folder must be put on ``PYTHONPATH``;
    None for a registered name, a module that cannot be found, or one that an
    installation provides (site-packages, an editable install's finder)."""
    name, colon, _ = backend_spec.partition(":")
    name = name.strip()
    if not colon or not name:
        return None
    module = sys.modules.get(name)
    try:
        found = getattr(module, "__spec__", None) or importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if found is None or not found.origin or not Path(found.origin).is_file():
        return None
    origin = Path(found.origin).resolve()
    parts = name.split(".")
    relative = Path(*parts, "__init__.py") if found.submodule_search_locations \
        else Path(*parts[:-1], origin.name)
    if origin.parts[-len(relative.parts):] != relative.parts:
        return None  # not laid out as on a path entry: an installation's import hook
    folder = Path(*origin.parts[:-len(relative.parts)])
    installed = {Path(sysconfig.get_path(k)).resolve() for k in ("purelib", "platlib")}
    return None if folder in installed else str(folder)


def _import_order(line: str) -> tuple[int, str]:
    return (0 if line.startswith("import ") else 1, line)


def repro_note(case: Case, backend_spec: str, **kwargs: Any) -> str:
    """The note attached to a failure: a header line and the snippet."""
    try:
        snippet = repro_snippet(case, backend_spec, **kwargs)
    except Exception as exc:  # a note must never hide the failure it documents
        return f"{NOTE_HEADER} (no snippet: {type(exc).__name__}: {exc})"
    return f"{NOTE_HEADER}\n{snippet}"


@contextmanager
def reporting(case: Case, backend_spec: str, **kwargs: Any) -> Iterator[None]:
    """Attach :func:`repro_note` to any exception raised inside the block (once)."""
    try:
        yield
    except Exception as exc:
        if not any(str(n).startswith(NOTE_HEADER) for n in getattr(exc, "__notes__", ())):
            exc.add_note(repro_note(case, backend_spec, **kwargs))
        raise
