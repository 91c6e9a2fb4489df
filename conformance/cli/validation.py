"""Checks the commands make before anything runs, each failing with one line that
names the option the user typed (never the pytest option it becomes)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from embedspec.conformance.cli.exits import BACKEND_UNUSABLE, CommandError
from embedspec.conformance.cli.outputs import prepare_file

if TYPE_CHECKING:
    from embedspec.backends.contract import Backend


def require_device(device: str) -> None:
    """``--device cuda`` needs a GPU that torch sees."""
    if device != "cuda":
        return
    import torch

    if not torch.cuda.is_available():
        raise CommandError("--device cuda: no CUDA device is visible here "
                           "(torch.cuda.is_available() is False)")


def load_or_refuse(spec: str, option: str = "--backend") -> Backend:
    """The backend ``spec`` names, or CommandError(BACKEND_UNUSABLE) saying why not."""
    from embedspec.backends.registry import BackendLoadError, load_backend

    try:
        return load_backend(spec)
    except BackendLoadError as exc:
        raise CommandError(f"{option} {spec}: cannot use this backend: {exc}",
                           BACKEND_UNUSABLE) from None


def require_keyword(expression: str | None) -> None:
    """``-k EXPR`` must be an expression pytest can read."""
    if expression is None:
        return
    try:
        from _pytest.mark.expression import Expression
    except ImportError:  # pytest moved it: pytest itself will judge the expression
        return
    try:
        Expression.compile(expression)
    except Exception as exc:
        raise CommandError(f"-k {expression!r}: not a pytest -k expression: {exc}") from None


def require_expectations_file(args: argparse.Namespace) -> None:
    """``--expectations PATH`` must exist, unless ``--accept`` writes it."""
    if args.expectations and not args.accept and not Path(args.expectations).is_file():
        raise CommandError(f"--expectations {args.expectations}: no such file")


def require_accept_target(args: argparse.Namespace, backend: Backend) -> None:
    """``--accept`` needs a file it can write: ``--expectations``, the backend's
    ``expectations_path``, or the built-in location of a built-in backend (the rules
    of the plugin's ``--embedspec-accept``)."""
    from embedspec.backends.registry import BUILTIN_BACKENDS
    from embedspec.conformance.session.expectations import EXPECTATIONS_DIR

    if not args.accept:
        return
    if args.expectations:
        target = Path(args.expectations)
    elif backend.expectations_path is not None:
        target = Path(backend.expectations_path)
    else:
        target = EXPECTATIONS_DIR / f"{backend.name}.json"
        if not target.exists() and backend.name not in BUILTIN_BACKENDS:
            raise CommandError(f"--accept needs --expectations PATH: backend "
                               f"{backend.name!r} declares no expectations_path")
    prepare_file(target, "--expectations" if args.expectations else "--accept")
