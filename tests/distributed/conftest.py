"""Fixtures of the distributed tests: worker pools and process bookkeeping."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from embedspec.conformance.distributed import PoolRunner

ROOT = Path(__file__).resolve().parents[2]
# Workers load the test backends as "tests.distributed.<module>:<Backend>"; they get
# the driver's sys.path, so the repository root must be on it.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


@pytest.fixture(scope="session")
def distributed_runner() -> Iterator[PoolRunner]:
    """The distributed backend's pools, shared by every test of the session."""
    with PoolRunner("distributed", timeout_s=120) as runner:
        yield runner
