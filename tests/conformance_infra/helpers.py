"""Helpers of the infrastructure tests: throwaway backend modules and entry points."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

#: A module with backends in every form a spec may name, and objects that are not backends.
FAKE_BACKENDS = '''
import torch
from embedspec.backends.contract import Availability, Backend, Capabilities


class GoodBackend(Backend):
    name = "{name}"
    description = "a backend of the registry tests"

    def availability(self):
        return Availability.yes()

    def capabilities(self):
        return Capabilities.declare({{"embedding": {{"features": ["forward"]}}}})

    def build(self, config, context):
        return torch.nn.Embedding(config.num_embeddings, config.embedding_dim)


class UnavailableBackend(GoodBackend):
    name = "{name}_unavailable"

    def availability(self):
        return Availability.no("needs a device this machine lacks")


class RaisingAvailability(GoodBackend):
    name = "{name}_raising"

    def availability(self):
        raise RuntimeError("probe failed")


class Nameless(GoodBackend):
    name = ""


instance = GoodBackend()


class Holder:
    backend = GoodBackend


def factory():
    return GoodBackend()


def bad_factory():
    return 42


def crashing_factory():
    raise OSError("no such library")


class NotABackend:
    pass


not_a_backend = 3
'''


def write_module(directory: Path, name: str, source: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")


def add_fake_backends(monkeypatch: pytest.MonkeyPatch, directory: Path, module: str,
                      backend_name: str) -> None:
    """Make ``module`` (holding FAKE_BACKENDS named ``backend_name``) importable."""
    write_module(directory, module, FAKE_BACKENDS.format(name=backend_name))
    monkeypatch.syspath_prepend(str(directory))


def add_entry_points(monkeypatch: pytest.MonkeyPatch, directory: Path, distribution: str,
                     entry_points: dict[str, str]) -> None:
    """Install a fake distribution declaring ``entry_points`` in the embedspec.backends group."""
    info = directory / f"{distribution}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n", encoding="utf-8")
    lines = "".join(f"{name} = {spec}\n" for name, spec in entry_points.items())
    (info / "entry_points.txt").write_text(f"[embedspec.backends]\n{lines}", encoding="utf-8")
    monkeypatch.syspath_prepend(str(directory))
