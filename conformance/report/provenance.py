"""Which embedspec a report was made with: the git commit of the checkout, when the
package runs from one (an editable install); None for an installed distribution."""

from __future__ import annotations

import subprocess
from pathlib import Path

#: The folder of the ``embedspec.conformance`` package; its parent is the checkout's root.
PACKAGE_DIR = Path(__file__).resolve().parent.parent


def project_commit(folder: Path = PACKAGE_DIR) -> str | None:
    """``<full sha>``, with `` (with uncommitted changes)`` when the work tree differs
    from it, of the git checkout holding ``folder``; None when it is not in one, or git
    is missing."""
    try:
        top = _git(folder, "rev-parse", "--show-toplevel")
        if top is None or not (Path(top) / "pyproject.toml").is_file():
            return None
        sha = _git(folder, "rev-parse", "HEAD")
        if sha is None:
            return None
        dirty = _git(folder, "status", "--porcelain", "--untracked-files=no")
    except OSError:
        return None
    return sha + (" (with uncommitted changes)" if dirty else "")


def _git(folder: Path, *args: str) -> str | None:
    proc = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                          timeout=30, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None
