"""A layer's forward compiled by ``torch.compile`` (inductor) that never runs eagerly.

``torch.compile`` falls back to eager execution in ways that are easy to miss, and a
column that measures "compiled PyTorch" must not measure eager PyTorch instead:

* **Skipped frames.** Dynamo does not trace frames of ``torch.nn`` itself when they are
  the compiled entry point: ``nn.Module.compile()`` compiles ``Module._call_impl`` and, in
  torch 2.13, runs every call eagerly with no warning. A disabled compiler
  (``TORCHDYNAMO_DISABLE=1``, ``torch.compiler.set_stance("force_eager")``) does the same.
  :class:`CompiledForward` compiles a function of its own module (which Dynamo traces,
  inlining the upstream ``forward``) and checks on every call that a compiled graph ran:
  a call that ran none raises :class:`EagerFallbackError`.
* **The recompile limit.** Dynamo keeps compiled graphs, and counts recompilations, per
  *code object*: after ``torch._dynamo.config.recompile_limit`` (8) recompilations of
  one code object, and after ``accumulated_recompile_limit`` (256) compilations of it in
  all, it runs the function eagerly with only a log warning. Each
  :class:`CompiledForward` therefore compiles its own copy of the code object (a layer
  recompiles only for its own guard failures: index dtype, rank, grad mode), traces with
  ``dynamic=True`` (no recompilation for new sizes) and ``fullgraph=True``, and runs with
  ``fail_on_recompile_limit_hit``: hitting the limit raises :class:`RecompileLimitError`.

Errors of the compiled code itself (an out-of-range id in an inductor kernel, an index
dtype rejected while Dynamo traces) propagate unchanged: they are what compiled PyTorch
does. An error raised while no compiled graph ran and Dynamo did not raise it is eager
code's, and is wrapped in :class:`EagerFallbackError`.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Sequence
from typing import Any

import torch
from embedspec.backends.triton.runtime import runtime as triton_runtime

# Importing torch._dynamo imports triton, whose mode (compiled or interpreter) is fixed
# at that import: the Triton backends' runtime decides it first, so that loading this
# backend does not leave them unavailable in the same process.
triton_runtime()

import torch._dynamo  # noqa: E402
from torch import nn  # noqa: E402

__all__ = [
    "RECOMPILE_LIMIT_OPTION",
    "CompiledForward",
    "CompiledForwardError",
    "EagerFallbackError",
    "RecompileLimitError",
    "compiler_missing",
]


def _recompile_limit_option() -> str | None:
    """The name of Dynamo's "raise when the recompile limit is hit" option in this torch."""
    for name in ("fail_on_recompile_limit_hit", "fail_on_cache_limit_hit"):
        if hasattr(torch._dynamo.config, name):
            return name
    return None


#: Dynamo's option that makes hitting the recompile limit an error (None: this torch has none).
RECOMPILE_LIMIT_OPTION = _recompile_limit_option()


class CompiledForwardError(RuntimeError):
    """A compiled forward could not run as compiled code; the message says why."""


class EagerFallbackError(CompiledForwardError):
    """A call of a compiled forward ran no compiled graph: Dynamo ran it eagerly."""


class RecompileLimitError(CompiledForwardError):
    """Dynamo hit its recompile limit for a compiled forward and would run it eagerly."""


def compiler_missing() -> str:
    """Why ``torch.compile`` with inductor cannot run here on CPU, or ``""`` when it can."""
    if not torch._dynamo.is_dynamo_supported():
        return "torch.compile (Dynamo) is not supported on this Python / platform"
    if RECOMPILE_LIMIT_OPTION is None:
        return (f"torch {torch.__version__} has no option to make Dynamo's recompile limit "
                "an error (fail_on_recompile_limit_hit)")
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler

        get_cpp_compiler()
    except Exception as exc:
        return f"inductor finds no C++ compiler for CPU kernels: {type(exc).__name__}: {exc}"
    return ""


def _call_upstream(layer: nn.Module, input: Any) -> Any:
    """The upstream forward of ``layer`` (its class attribute ``upstream``, a module
    class), the function Dynamo traces."""
    return layer.upstream.forward(layer, input)


def _own_copy(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with a code object of its own, so that Dynamo's per-code-object graph
    cache and recompile counts belong to one compiled forward."""
    code = function.__code__.replace()
    return types.FunctionType(code, function.__globals__, function.__name__,
                              function.__defaults__, function.__closure__)


class CompiledForward:
    """``torch.compile(backend="inductor", fullgraph=True, dynamic=True)`` of
    ``layer.upstream.forward``, with its own graph cache, that raises instead of running
    eagerly.

    Call it as ``compiled(layer, input)``. Every graph it compiles is wrapped so that its
    runs are counted; a call during which no graph ran raises :class:`EagerFallbackError`
    (or wraps an eager error in one), and hitting Dynamo's recompile limit raises
    :class:`RecompileLimitError`.
    """

    def __init__(self) -> None:
        self.graph_runs = 0
        self.graphs_compiled = 0
        self._function = torch.compile(_own_copy(_call_upstream), backend=self._compile_graph,
                                       fullgraph=True, dynamic=True)

    def _compile_graph(self, graph: torch.fx.GraphModule,
                       example_inputs: Sequence[Any]) -> Callable[..., Any]:
        """Inductor's compilation of ``graph``, wrapped to count its runs."""
        compiled = torch._dynamo.lookup_backend("inductor")(graph, example_inputs)
        self.graphs_compiled += 1

        def run(*args: Any) -> Any:
            self.graph_runs += 1
            return compiled(*args)

        return run

    def __call__(self, layer: nn.Module, input: Any) -> Any:
        runs = self.graph_runs
        try:
            with torch._dynamo.config.patch({RECOMPILE_LIMIT_OPTION: True}):
                output = self._function(layer, input)
        except torch._dynamo.exc.FailOnRecompileLimitHit as exc:
            raise RecompileLimitError(
                f"Dynamo hit its recompile limit (recompile_limit="
                f"{torch._dynamo.config.recompile_limit}) compiling the forward of "
                f"{type(layer).__name__} and would run it eagerly from now on") from exc
        except torch._dynamo.exc.TorchDynamoException:
            raise  # raised while compiling: compiled PyTorch's own error
        except Exception as exc:
            if self.graph_runs == runs:
                raise EagerFallbackError(
                    f"the forward of {type(layer).__name__} raised {type(exc).__name__} "
                    "from eager code: no compiled graph ran") from exc
            raise
        if self.graph_runs == runs:
            raise EagerFallbackError(
                f"the forward of {type(layer).__name__} ran no compiled graph: Dynamo ran "
                "it eagerly (a skipped frame, a disabled compiler or a force_eager stance)")
        return output
