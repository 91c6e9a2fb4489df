"""Where the Triton backends run, as they declare it: the interpreter on CPU without a
CUDA device, CUDA natively otherwise, unavailable with the reason when they cannot run."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import torch
from embedspec.backends.registry import load_backend
from embedspec.backends.triton import runtime as runtime_module
from embedspec.backends.triton.runtime import runtime


def _decide(monkeypatch, *, env: str | None = None, triton: bool = True,
            cuda: bool = False) -> runtime_module.Runtime:
    """A fresh decision (``runtime`` is cached per process) in a patched environment."""
    if env is None:
        monkeypatch.delenv(runtime_module.INTERPRET_ENV, raising=False)
    else:
        monkeypatch.setenv(runtime_module.INTERPRET_ENV, env)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(runtime_module.importlib.util, "find_spec",
                        lambda name, *a: None if name == "triton" and not triton
                        else real_find_spec(name, *a))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    return runtime_module.runtime.__wrapped__()


def test_without_cuda_the_interpreter_is_chosen_and_set(monkeypatch):
    found = _decide(monkeypatch)
    assert (found.mode, found.device, found.where) == ("interpreter", "cpu", "cpu (interpreter)")
    assert runtime_module.os.environ[runtime_module.INTERPRET_ENV] == "1"


def test_with_cuda_kernels_run_natively(monkeypatch):
    found = _decide(monkeypatch, cuda=True)
    assert (found.mode, found.device, found.where) == ("cuda", "cuda", "cuda (native)")


def test_unavailable_without_triton(monkeypatch):
    assert "triton is not installed" in _decide(monkeypatch, triton=False).reason


def test_unavailable_without_cuda_when_the_interpreter_is_refused(monkeypatch):
    assert "TRITON_INTERPRET=0" in _decide(monkeypatch, env="0").reason


def test_backends_declare_where_they_run():
    for name, deterministic in (("triton", False), ("triton-deterministic", True)):
        backend = load_backend(name)
        assert backend.deterministic_backward is deterministic
        assert backend.version.endswith(runtime().where)
        devices = {point.device for point in backend.capabilities()._points}
        assert devices == {runtime().device}


def test_triton_imported_first_makes_the_backend_unavailable_with_the_reason():
    """A process that imports torch._dynamo (hence triton) before the backend decides
    its mode cannot use the interpreter; the registry says so."""
    code = ("import os, torch._dynamo\n"
            "from embedspec.backends.registry import discover\n"
            "print([e.reason for e in discover() if e.name == 'triton'][0])\n")
    env = {k: v for k, v in runtime_module.os.environ.items()
           if k != runtime_module.INTERPRET_ENV}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120, check=True)
    if runtime().mode == "interpreter":
        assert "imported before TRITON_INTERPRET could be set" in done.stdout
