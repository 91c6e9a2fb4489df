"""No backend borrows the spec: modules under ``backends/`` import from
``embedspec.reference`` only its public API (the names of ``embedspec.reference.__all__``)
and the configuration module ``embedspec.reference.configs``, never a private name."""

from __future__ import annotations

import ast
from pathlib import Path

import embedspec.reference
import pytest

BACKENDS = Path(__file__).resolve().parents[2] / "backends"
REFERENCE = "embedspec.reference"
#: The reference modules a backend may import from, and which of their names.
PUBLIC = {REFERENCE: frozenset(embedspec.reference.__all__),
          f"{REFERENCE}.configs": None}  # None: every public (non-underscore) name


def _absolute(node: ast.ImportFrom, package: str) -> str:
    """The absolute module of a ``from ... import`` in a module of ``package``."""
    if not node.level:
        return node.module or ""
    base = package.split(".")
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _allowed(module: str, name: str) -> bool:
    if name.startswith("_"):
        return False
    names = PUBLIC.get(module, frozenset())
    return names is None or name in names


def _reference_module(module: str) -> bool:
    return module == REFERENCE or module.startswith(REFERENCE + ".")


def violations(source: str, package: str = "embedspec.backends") -> list[str]:
    """Every import of a non-public reference module or name in ``source`` (a module of
    ``package``), as ``"line N: what"``; attribute access through an imported reference
    module and ``importlib.import_module``/``__import__`` of a constant name count too."""
    found: list[str] = []
    aliases: dict[str, str] = {}  # local name -> reference module it is bound to
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _reference_module(alias.name) and alias.name not in PUBLIC:
                    found.append(f"line {node.lineno}: import {alias.name}")
                elif _reference_module(alias.name):
                    aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, package)
            for alias in node.names:
                full = f"{module}.{alias.name}"
                if _reference_module(full) and not _reference_module(module):
                    # ``from embedspec import reference``: the package itself.
                    if full in PUBLIC:
                        aliases[alias.asname or alias.name] = full
                    else:
                        found.append(f"line {node.lineno}: from {module} import {alias.name}")
                elif _reference_module(module):
                    if full in PUBLIC:
                        aliases[alias.asname or alias.name] = full
                    elif not _allowed(module, alias.name):
                        found.append(f"line {node.lineno}: from {module} import {alias.name}")
        elif isinstance(node, ast.Call) and node.args \
                and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str) \
                and _reference_module(node.args[0].value) \
                and node.args[0].value not in PUBLIC:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__"):
                found.append(f"line {node.lineno}: {name}({node.args[0].value!r})")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            target = _dotted(node.value)
            module = aliases.get(target) if target else None
            if module is None and target in PUBLIC:
                module = target  # ``import embedspec.reference`` used by its full name
            if module is not None and f"{module}.{node.attr}" not in PUBLIC \
                    and not _allowed(module, node.attr):
                found.append(f"line {node.lineno}: {target}.{node.attr}")
    return found


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


def _package(path: Path) -> str:
    parts = path.relative_to(BACKENDS).with_suffix("").parts
    package = ("embedspec", "backends", *parts)
    return ".".join(package if path.name == "__init__.py" else package[:-1])


def test_no_backend_imports_a_non_public_reference_name() -> None:
    modules = sorted(BACKENDS.rglob("*.py"))
    assert len(modules) > 10
    problems = [f"{path.relative_to(BACKENDS.parent)}: {problem}" for path in modules
                for problem in violations(path.read_text(), _package(path))]
    assert problems == []


@pytest.mark.parametrize("source", [
    "from embedspec.reference.validation import check_indices",
    "from embedspec.reference.sharded_norm import full_norms",
    "from embedspec.reference import _private",
    "from embedspec.reference import Embedding, not_exported_name",
    "from embedspec.reference.configs import _helper",
    "import embedspec.reference.init",
    "import embedspec.reference.init as init",
    "from embedspec import reference\nreference.validation.check_int('a', 1)",
    "from embedspec import reference as ref\nref._impl",
    "import embedspec.reference\nembedspec.reference.partition",
    "from ...reference import validation",
    "from ...reference.sharded_layer import checked_options",
    "import importlib\nimportlib.import_module('embedspec.reference.validation')",
    "__import__('embedspec.reference.sharded_norm')",
])
def test_a_borrowed_reference_internal_is_reported(source: str) -> None:
    assert violations(source, "embedspec.backends.eager")


@pytest.mark.parametrize("source", [
    "from embedspec.reference import Collectives, ShardedEmbedding",
    "from embedspec.reference.configs import ShardedConfig, InitScheme",
    "import embedspec.reference.configs as configs\nconfigs.EmbeddingConfig",
    "from embedspec import reference\nreference.Embedding",
    "from ...reference import configs",
    "from ..support import check_ids",
    "from embedspec.backends import support\nsupport.check_ids",
    '"""Docstrings may name :mod:`embedspec.reference.validation`."""',
])
def test_the_public_api_is_allowed(source: str) -> None:
    assert violations(source, "embedspec.backends.eager") == []
