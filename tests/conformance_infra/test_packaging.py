"""Packaging: every subpackage is listed in pyproject.toml, and a regular wheel holds the
``embedspec`` namespace only."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _packages_on_disk() -> set[str]:
    found = set()
    for package, folder in _setuptools()["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((package, *rel)))
    return found


def test_every_package_folder_is_listed_and_every_listed_package_exists():
    listed = set(_setuptools()["packages"])
    on_disk = _packages_on_disk()
    assert not on_disk - listed, f"add to [tool.setuptools] packages: {sorted(on_disk - listed)}"
    assert not listed - on_disk, f"listed without an __init__.py: {sorted(listed - on_disk)}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """A regular (non-editable) wheel built from a copy of the source tree."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for folder in _setuptools()["package-dir"].values():
        shutil.copytree(ROOT / folder, source / folder, ignore=SKIP)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--quiet", "--wheel-dir", str(root / "dist"), str(source)],
        check=True, capture_output=True, text=True, timeout=300)
    (path,) = (root / "dist").glob("embedspec-*.whl")
    with zipfile.ZipFile(path) as zf:
        yield zf


def test_wheel_holds_the_embedspec_namespace_only(wheel):
    names = wheel.namelist()
    top = {n.split("/", 1)[0] for n in names}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert top - dist_info == {"embedspec"}, f"unexpected top-level entries: {top - dist_info}"
    assert "embedspec/__init__.py" not in names  # a namespace shared with nothing else


def test_wheel_holds_every_package_and_the_suite_files(wheel):
    names = set(wheel.namelist())
    for package in _setuptools()["packages"]:
        assert package.replace(".", "/") + "/__init__.py" in names, package
    for path in ("embedspec/reference/configs.py", "embedspec/backends/registry.py",
                 "embedspec/conformance/conftest.py", "embedspec/conformance/plugin.py",
                 "embedspec/conformance/cli/__init__.py",
                 "embedspec/conformance/report/markdown.py"):
        assert path in names, path
    for source in (ROOT / "conformance" / "expectations").glob("*.json"):
        assert f"embedspec/conformance/expectations/{source.name}" in names, source.name


def test_wheel_declares_the_console_script(wheel):
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode()
    assert "embedspec = embedspec.conformance.cli:main" in text
