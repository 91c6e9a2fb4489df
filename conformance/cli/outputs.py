"""Output paths of the commands: checked before anything runs, written atomically, and
one ``embedspec report`` at a time per output folder.

* :func:`prepare_folder`: the folder exists (or is created) and a file can be written
  in it; otherwise a :class:`~embedspec.conformance.cli.exits.CommandError` naming the
  option and the problem.
* :func:`prepare_file`: the same for the folder of an output file, which must not be a
  folder itself.
* :func:`write_atomically`: the text goes to a temporary file beside the target, which
  then replaces it, so a reader never sees half a file.
* :class:`FolderLock`: ``fcntl.flock`` on ``<folder>/.lock``, held for the run; a second
  run into the same folder fails at once with :data:`~embedspec.conformance.cli.exits.BUSY`,
  naming the PID of the run that holds it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path
from types import TracebackType

from embedspec.conformance.cli.exits import BUSY, CommandError

LOCK_FILE = ".lock"


def prepare_folder(path: str | Path, option: str) -> Path:
    """``path`` as a folder that exists (created with its parents when missing) and
    takes new files. Raises CommandError (usage) naming ``option`` otherwise."""
    return _usable_folder(Path(path), f"{option} {path}", "")


def prepare_file(path: str | Path, option: str) -> Path:
    """``path`` as a file that can be written: not a folder, in a folder that exists
    (or is created) and takes new files. Raises CommandError (usage) otherwise."""
    target = Path(path)
    where = f"{option} {path}"
    if target.is_dir():
        raise CommandError(f"{where}: is a folder, not a file")
    _usable_folder(target.parent, where, f" {target.parent}")
    if target.exists() and not os.access(target, os.W_OK):
        raise CommandError(f"{where}: the file is not writable")
    return target.resolve()


def _usable_folder(folder: Path, where: str, named: str) -> Path:
    """``folder``, created if missing, once a file could be made in it; the errors
    begin with ``where`` and call the folder "the folder" + ``named``."""
    if folder.exists() and not folder.is_dir():
        raise CommandError(f"{where}:{named} exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"{where}: cannot create the folder{named}: "
                           f"{_reason(exc)}") from None
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-probe-"):
            pass
    except OSError as exc:
        raise CommandError(f"{where}: cannot write in the folder{named}: "
                           f"{_reason(exc)}") from None
    return folder


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and
    ``os.replace``: the file is either the old one or the whole new one (created with
    the usual permissions, those the umask leaves of 0o666)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class FolderLock:
    """An exclusive lock on ``<folder>/.lock`` for the life of one run.

    ``acquire`` raises CommandError with status BUSY when another process holds it;
    the lock file holds the holder's PID, which the message names. The lock goes with
    the process, so a run that was killed never leaves the folder locked.
    """

    def __init__(self, folder: Path, option: str = "--out") -> None:
        self.path = folder / LOCK_FILE
        self.option = option
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise CommandError(f"{self.option} {self.path.parent}: cannot create "
                               f"{LOCK_FILE}: {_reason(exc)}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"PID {holder}" if holder else "another process"
            raise CommandError(
                f"{self.option} {self.path.parent} is in use by another embedspec report "
                f"({who}); wait for it to finish or choose another {self.option}", BUSY
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
