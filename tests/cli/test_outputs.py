"""Output paths: checked before a run, written atomically, one report per folder."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from embedspec.conformance.cli import exits
from embedspec.conformance.cli.exits import CommandError
from embedspec.conformance.cli.outputs import (
    FolderLock,
    prepare_file,
    prepare_folder,
    write_atomically,
)


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in (root ignores permission bits, so
    it then takes a sysfs folder), or skip."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError:
        return folder
    for candidate in (Path("/sys/kernel"), Path("/proc/self")):
        try:
            with tempfile.NamedTemporaryFile(dir=candidate):
                pass
        except OSError:
            if candidate.is_dir():
                return candidate
    pytest.skip("no folder here refuses new files to this user")


def test_missing_folders_are_created(tmp_path):
    assert prepare_folder(tmp_path / "a" / "b", "--out").is_dir()
    assert prepare_file(tmp_path / "c" / "r.json", "--results").parent.is_dir()


@pytest.mark.parametrize("make, problem", [
    (lambda p: p.write_text("x") and p, "exists and is not a folder"),
    (lambda p: unwritable_folder(p.parent), "cannot write in the folder"),
    (lambda p: p.parent.joinpath("file").write_text("x") and p.parent / "file" / "sub",
     "cannot create the folder"),
])
def test_unusable_folders_are_refused_with_the_option_named(tmp_path, make, problem):
    path = make(tmp_path / "target")
    with pytest.raises(CommandError) as error:
        prepare_folder(path, "--out")
    assert error.value.status == exits.USAGE
    assert str(error.value).startswith(f"--out {path}: ") and problem in str(error.value)


def test_an_output_file_must_not_be_a_folder_and_its_folder_must_take_files(tmp_path):
    with pytest.raises(CommandError, match="is a folder, not a file"):
        prepare_file(tmp_path, "--results")
    with pytest.raises(CommandError, match="cannot write in the folder"):
        prepare_file(unwritable_folder(tmp_path) / "r.json", "--results")


def test_atomic_writes_replace_the_whole_file_and_leave_no_temporary(tmp_path):
    target = tmp_path / "report.md"
    target.write_text("old")
    write_atomically(target, "new text")
    assert target.read_text() == "new text"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]


def test_a_locked_folder_refuses_a_second_run_naming_the_holder(tmp_path):
    with FolderLock(tmp_path):
        holder = subprocess.run(
            [sys.executable, "-c", "import sys\n"
             "from embedspec.conformance.cli.outputs import FolderLock\n"
             "from embedspec.conformance.cli.exits import CommandError\n"
             "try:\n    FolderLock(__import__('pathlib').Path(sys.argv[1])).acquire()\n"
             "except CommandError as e:\n    print(e.status, e)\n", str(tmp_path)],
            capture_output=True, text=True, check=True).stdout
        assert holder.startswith(f"{exits.BUSY} --out {tmp_path} is in use")
        assert f"PID {os.getpid()}" in holder
    with FolderLock(tmp_path):  # released: the next run takes it
        pass
