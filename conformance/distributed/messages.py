"""The messages between the driver and its workers, and how they travel.

Every message is a small dataclass pickled with the standard pickler and sent
as one frame over an authenticated ``multiprocessing.connection`` connection.
The standard pickler copies tensors by value (``torch.multiprocessing``'s
shared-memory reductions only work between a process and its own children,
which a worker launched by ``torchrun`` on another node is not).

Conversation::

    worker -> driver   Hello
    driver -> worker   Setup
    worker -> driver   Ready | Fatal
    driver -> worker   RunCase ...   worker -> driver   Done | Fatal   (one per case)
    driver -> worker   Shutdown
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

#: Environment variable holding the connection secret (hex) shared by driver and workers.
AUTHKEY_ENV = "EMBEDSPEC_AUTHKEY"


@dataclass(frozen=True)
class Hello:
    """First message of a worker: who it is.

    ``pool`` is the token the driver gave a worker it spawned, or ``""`` for a
    worker launched by ``torchrun``. ``proc`` and ``nprocs`` are its rank and the
    size of its process group (from ``RANK``/``WORLD_SIZE`` under ``torchrun``).
    """

    pool: str
    proc: int
    nprocs: int
    pid: int
    host: str


@dataclass(frozen=True)
class Setup:
    """What a worker needs before its first case.

    ``store_path`` is the file of the pool's ``torch.distributed.FileStore`` (local
    pools: a rendezvous without any network listener), or None when the worker joins
    through ``env://`` (``torchrun``). ``sys_path`` entries are appended to the
    worker's ``sys.path`` (local pools pass the driver's, so backends importable by
    the driver import in workers).
    """

    backend_spec: str
    store_path: str | None
    pg_timeout_s: float
    threads: int
    sys_path: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ready:
    """The worker joined its process group and loaded the backend."""

    backend_name: str


@dataclass(frozen=True)
class RunCase:
    """Run ``case`` (a pickled :class:`~embedspec.conformance.checks.case.Case`).

    ``rng_state`` is the driver's CPU generator state at the time of the call (the
    bytes of ``torch.random.get_rng_state()``): each rank starts the case from it,
    so every rank draws what the driver would have drawn (a fresh layer's one
    full-table draw is the same on every rank and equal to the reference's under
    the same seed).
    """

    seq: int
    case: bytes
    rng_state: bytes


@dataclass(frozen=True)
class Done:
    """The worker's :class:`~embedspec.conformance.checks.case.RankOutcome` for case ``seq``;
    None when the worker lies outside the case's world (it only took part in
    creating the world's process groups)."""

    seq: int
    outcome: Any = None


@dataclass(frozen=True)
class Fatal:
    """The worker itself failed (not the backend): setup, (un)pickling, groups."""

    seq: int
    traceback: str


@dataclass(frozen=True)
class Shutdown:
    """Leave the process group and exit with status 0."""

    reason: str = field(default="")


def parse_address(text: str) -> tuple[str, int]:
    """``"HOST:PORT"`` -> ``(host, port)``; ``ValueError`` naming the problem."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def encode(message: object) -> bytes:
    """One frame: ``message`` pickled (encode once, send the frame to many workers)."""
    return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def send(conn: Connection, message: object) -> None:
    conn.send_bytes(encode(message))


def receive(conn: Connection) -> Any:
    return pickle.loads(conn.recv_bytes())
