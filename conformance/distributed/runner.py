"""The runner of multi-process backends: persistent worker pools, driven from here.

:class:`PoolRunner` runs each :class:`~embedspec.conformance.checks.case.Case` on every
process of its world and returns the outcomes in process order. Hypothesis, the
reference and every comparison stay in the driver (this process); workers only
build the backend's layer and run the case (:func:`embedspec.conformance.checks.case.execute`).

Local worlds (the default). One pool of ``world.nprocs`` worker processes per
world, spawned on first use and kept for the whole run, so each worker imports
torch once and joins its gloo process group once; or, with ``pool_size``, one
pool of that many workers for every world of at most that many processes (each
world runs on the first processes, in its own process groups, the others sitting
it out, as in an external world): a run over several worlds then starts each
worker once, not once per world. Everything stays on 127.0.0.1:
the driver's connection listener binds port 0 there, so the OS picks a free port
atomically (no race between choosing a port and binding it); the workers meet
through a ``FileStore`` (a file, no listening socket; a ``TCPStore`` server would
listen on every interface); and gloo is pinned to the loopback interface.
A worker that dies or hangs fails the case with a :class:`WorkerFailure` within
the case timeout; its pool is killed and the next case of that world starts a
fresh one.

External worlds (``external="HOST:PORT[:NPROCS]"``). The driver listens on
HOST:PORT and waits for the workers that ``torchrun`` launches, on this node or
others, with ``python -m embedspec.conformance.distributed.worker --driver
HOST:PORT``; they join their own process group through ``env://`` and run every
world of at most NPROCS processes (processes beyond a case's world sit it out).
After a failure the driver drops the connections and waits for a fresh set of
workers (``torchrun --max-restarts`` relaunches them); see docs/distributed.md.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import shutil
import sys
import tempfile
import time
import weakref
from pathlib import Path

from embedspec.conformance.checks.case import Case, RankOutcome, World
from embedspec.conformance.distributed.messages import AUTHKEY_ENV, Setup, parse_address
from embedspec.conformance.distributed.pool import Acceptor, WorkerFailure, WorkerPool
from embedspec.conformance.distributed.processes import (
    describe_exit,
    spawn_worker,
)

LOOPBACK = "127.0.0.1"
#: Seconds added to the case timeout for the workers' own process-group timeout, so a
#: remote worker stuck in a collective frees itself after the driver gave up on it.
PG_TIMEOUT_MARGIN_S = 30.0

_runners: weakref.WeakSet[PoolRunner] = weakref.WeakSet()


def parse_external(text: str) -> tuple[str, int, int]:
    """``"[external:]HOST:PORT[:NPROCS]"`` -> ``(host, port, nprocs)``; ``nprocs = 0``
    means "as many as ``torchrun``'s ``WORLD_SIZE``". ``ValueError`` otherwise."""
    spec = text.removeprefix("external:")
    parts = spec.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        host, port, nprocs = parts[0], int(parts[1]), int(parts[2])
        if nprocs < 1:
            raise ValueError(f"external world {text!r}: NPROCS must be >= 1")
        return host, port, nprocs
    try:
        host, port = parse_address(spec)
    except ValueError:
        raise ValueError(f"external world must be HOST:PORT or HOST:PORT:NPROCS, "
                         f"got {text!r}") from None
    return host, port, 0


#: The largest world a local pool starts by default.
DEFAULT_MAX_NPROCS = 8


def fits(world: World, *, device: str = "cpu", external: tuple[str, int, int] | None = None,
         max_nprocs: int = DEFAULT_MAX_NPROCS) -> bool:
    """Whether a pool runner with these options can run ``world``: an external world of
    ``NPROCS`` processes runs worlds up to that size (any, for ``NPROCS = 0``); a local
    pool up to ``max_nprocs`` processes, and on CUDA one GPU per process."""
    if external:
        nprocs = external[2]
        return nprocs == 0 or world.nprocs <= nprocs
    if device == "cuda":
        import torch

        return world.nprocs <= min(max_nprocs, torch.cuda.device_count())
    return world.nprocs <= max_nprocs


class PoolRunner:
    """Runs the cases of multi-process backend ``backend_spec`` (a registry name or
    ``"package.module:attr"``, loaded in every worker).

    Options: ``timeout_s`` per case; ``startup_timeout_s`` for a pool to come up
    (spawn, import, process group, backend); ``device`` the cases run on (``"cuda"``
    limits worlds to the visible GPUs: NCCL needs one per process); ``external`` an
    external world (see the module docstring); ``max_nprocs`` the largest local world;
    ``pool_size`` the workers of the one local pool every world shares (None: one pool
    per world, of its size; see the module docstring); ``threads`` torch's intra-op
    threads per worker.
    """

    def __init__(self, backend_spec: str, *, timeout_s: float = 120.0,
                 startup_timeout_s: float = 300.0, device: str = "cpu",
                 external: str | None = None, max_nprocs: int = DEFAULT_MAX_NPROCS,
                 pool_size: int | None = None, threads: int = 1) -> None:
        if not isinstance(backend_spec, str) or not backend_spec:
            raise ValueError(f"backend_spec must be a backend name or 'package.module:attr', "
                             f"got {backend_spec!r}")
        for name, value in (("timeout_s", timeout_s), ("startup_timeout_s", startup_timeout_s)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        if device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
        if pool_size is not None and not (isinstance(pool_size, int) and
                                          1 <= pool_size <= max_nprocs):
            raise ValueError(f"pool_size must be an int in [1, max_nprocs={max_nprocs}], "
                             f"got {pool_size!r}")
        if pool_size is not None and external is not None:
            raise ValueError("pool_size is for local pools; an external world's size is "
                             "torchrun's")
        self.backend_spec = backend_spec
        self.timeout_s = float(timeout_s)
        self.startup_timeout_s = float(startup_timeout_s)
        self.device = device
        self.max_nprocs = max_nprocs
        self.pool_size = pool_size
        self.threads = threads
        self.external = None if external is None else parse_external(external)
        if self.external is None:
            self._authkey = os.urandom(32)
        else:
            try:
                self._authkey = bytes.fromhex(os.environ.get(AUTHKEY_ENV, ""))
            except ValueError:
                self._authkey = b""
            if not self._authkey:
                raise ValueError(
                    f"an external world needs a shared secret: set {AUTHKEY_ENV} to the same "
                    "hex string for the driver and every torchrun node, e.g. "
                    f"export {AUTHKEY_ENV}=$(python -c 'import secrets; "
                    "print(secrets.token_hex(16))')")
        self._acceptor: Acceptor | None = None
        self._pools: dict[World | None, WorkerPool] = {}
        self._broken: dict[World | None, WorkerFailure] = {}
        self._tokens = itertools.count()
        self._log_dir = Path(tempfile.mkdtemp(prefix="embedspec-workers-"))
        self._closed = False
        _runners.add(self)

    # -- the Runner protocol -------------------------------------------------------------

    def supports(self, world: World) -> bool:
        """Whether this runner can run ``world``."""
        return fits(world, device=self.device, external=self.external,
                    max_nprocs=self.pool_size or self.max_nprocs)

    def run(self, case: Case) -> list[RankOutcome]:
        """Every process's :class:`RankOutcome` of ``case``, in process order.

        Raises :class:`WorkerFailure` when a worker dies, hangs past ``timeout_s`` or
        fails outside the backend; the pool concerned is torn down first.
        """
        if self._closed:
            raise RuntimeError("this PoolRunner is closed")
        if not self.supports(case.world):
            raise ValueError(f"world {case.world} is not supported by this runner "
                             f"(see supports())")
        key = self._pool_key(case.world)
        pool = self._pools.get(key) or self._start(case.world)
        try:
            return pool.run(case, self.timeout_s)
        except WorkerFailure as failure:
            self._discard(key, pool)
            note = ("the external workers were disconnected; the next case waits for "
                    "torchrun to relaunch them" if self.external else
                    f"{pool.label} was killed; the next case starts a new one")
            failure.add_note(note)
            raise
        except BaseException:
            if pool.in_flight:  # interrupted while the workers run the case
                self._discard(key, pool)
            raise

    def _discard(self, key: World | None, pool: WorkerPool) -> None:
        self._pools.pop(key, None)
        pool.close(graceful=False)

    def close(self) -> None:
        """Shut every pool down; no worker process remains afterwards."""
        if self._closed:
            return
        self._closed = True
        for pool in self._pools.values():
            pool.shut_down()
        for pool in self._pools.values():
            pool.close(graceful=True)
        self._pools.clear()
        if self._acceptor is not None:
            self._acceptor.close()
        shutil.rmtree(self._log_dir, ignore_errors=True)

    def __enter__(self) -> PoolRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- pools ---------------------------------------------------------------------------

    def listen(self) -> tuple[str, int]:
        """Start listening for workers now (otherwise the first case does) and return the
        address: for an external world given port 0, the port to pass to the workers."""
        return self._listening().address

    def worker_pids(self) -> list[int]:
        """Pids of the live local workers (empty for an external world)."""
        return [e.spawned.pid for pool in self._pools.values() for e in pool.endpoints
                if e.spawned is not None]

    def _listening(self) -> Acceptor:
        if self._acceptor is None:
            address = self.external[:2] if self.external else (LOOPBACK, 0)
            self._acceptor = Acceptor(address, self._authkey)
        return self._acceptor

    def _pool_key(self, world: World) -> World | None:
        """The pool that runs ``world``: its own, or (None) the one every world shares."""
        return None if self.external or self.pool_size else world

    def _start(self, world: World) -> WorkerPool:
        key = self._pool_key(world)
        if key in self._broken:
            raise self._broken[key]
        deadline = time.monotonic() + self.startup_timeout_s
        try:
            if self.external:
                pool = self._join_external(deadline)
            elif self.pool_size:
                pool = self._spawn(self.pool_size, f"the shared worker pool of {self.pool_size} "
                                                   "processes", deadline)
            else:
                pool = self._spawn(world.nprocs, f"the worker pool of world {world}", deadline)
        except WorkerFailure as failure:
            # Retrying would fail the same way (a worker cannot set itself up) or wait as
            # long again for workers that nobody is launching: later cases fail at once.
            if failure.kind == "setup" or self.external:
                self._broken[key] = failure
            raise
        self._pools[key] = pool
        return pool

    def _setup(self, store_path: str | None, sys_path: tuple[str, ...]) -> Setup:
        return Setup(self.backend_spec, store_path, self.timeout_s + PG_TIMEOUT_MARGIN_S,
                     self.threads, sys_path)

    def _spawn(self, nprocs: int, label: str, deadline: float) -> WorkerPool:
        acceptor = self._listening()
        token = f"pool{next(self._tokens)}-procs{nprocs}"
        spawned = [spawn_worker(proc, nprocs, token, acceptor.address, self._authkey,
                                self._log_dir) for proc in range(nprocs)]

        def exited() -> str | None:
            for worker in spawned:
                code = worker.exit_code()
                if code is not None:
                    return (f"{label}: worker process {worker.proc} (pid {worker.pid}) exited "
                            f"while starting ({describe_exit(code)}); its log:\n"
                            f"{worker.log_tail()}")
            return None

        endpoints = []
        try:
            endpoints = acceptor.collect(token, nprocs, deadline, exited)
            by_pid = {worker.pid: worker for worker in spawned}
            for endpoint in endpoints:
                endpoint.spawned = by_pid.get(endpoint.hello.pid)
            pool = WorkerPool(endpoints, label)
            sys_path = tuple(dict.fromkeys(os.path.abspath(p or os.curdir) for p in sys.path))
            pool.setup(self._setup(str(self._log_dir / f"{token}.store"), sys_path), deadline)
        except WorkerFailure:
            for endpoint in endpoints:
                endpoint.conn.close()
            for worker in spawned:
                worker.kill()
            raise
        return pool

    def _join_external(self, deadline: float) -> WorkerPool:
        host, port, nprocs = self.external
        acceptor = self._listening()
        endpoints = acceptor.collect("", nprocs, deadline)
        sizes = {e.hello.nprocs for e in endpoints}
        if sizes != {len(endpoints)}:
            for endpoint in endpoints:
                endpoint.conn.close()
            raise WorkerFailure(f"the external workers report WORLD_SIZE {sorted(sizes)}, but "
                                f"{len(endpoints)} connected to {host}:{port}", "startup")
        pool = WorkerPool(endpoints, f"the external world at {host}:{port}")
        try:
            pool.setup(self._setup(None, ()), deadline)
        except WorkerFailure:
            pool.close(graceful=False)
            raise
        return pool


def _close_all() -> None:
    for runner in list(_runners):
        with contextlib.suppress(Exception):
            runner.close()


atexit.register(_close_all)
