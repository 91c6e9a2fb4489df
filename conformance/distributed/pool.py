"""A pool of connected workers that runs cases, and how its failures are reported.

A :class:`WorkerPool` holds one connection per worker process, in process order.
Running a case sends it to the workers and collects one answer from each within
the case timeout: the first case of a world goes to every worker (making the
world's process groups is collective over all of them, members or not), later
ones only to the processes of that world. What a backend raises is an observation
(``RankOutcome.error``); what breaks the pool is a :class:`WorkerFailure`, raised with
a message naming the process, its pid and host, and what happened to it:

* it died (its connection closed): exit status and the tail of its log;
* it hung (no answer within the timeout): where it was stuck, from the Python
  stacks it dumps on request (local workers), and what the other processes did;
* it failed itself (setup, pickling, process groups): its traceback.

A failed pool is no longer usable; its owner tears it down and starts another.
"""

from __future__ import annotations

import contextlib
import pickle
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, Listener, wait

import torch
from embedspec.conformance.checks.case import Case, RankOutcome, World
from embedspec.conformance.distributed.messages import (
    Done,
    Fatal,
    Hello,
    Ready,
    RunCase,
    Setup,
    Shutdown,
    encode,
    receive,
    send,
)
from embedspec.conformance.distributed.processes import SpawnedWorker, describe_exit

#: Seconds a connecting worker has to say hello before the driver drops it.
HELLO_TIMEOUT_S = 30.0
#: Seconds a worker asked for its stacks gets to write them before it is killed.
STACK_DUMP_WAIT_S = 5.0


class WorkerFailure(RuntimeError):
    """A worker died, hung or failed: the case has no outcome; the pool is unusable.

    ``kind`` is ``"died"``, ``"hung"``, ``"fatal"`` (the worker failed outside the
    backend), ``"startup"`` (the pool did not come up in time) or ``"setup"`` (a worker
    could not set itself up, e.g. load the backend: retrying would fail the same way);
    ``procs`` lists the processes concerned.
    """

    def __init__(self, message: str, kind: str, procs: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.kind = kind
        self.procs = procs


@dataclass(eq=False)
class Endpoint:
    """The driver's side of one worker: its connection, what it said, its process."""

    conn: Connection
    hello: Hello
    spawned: SpawnedWorker | None = None

    @property
    def proc(self) -> int:
        return self.hello.proc

    def describe(self, world: World | None = None) -> str:
        where = f"pid {self.hello.pid} on {self.hello.host}"
        if world is None or self.proc >= world.nprocs:
            return f"process {self.proc} ({where})"
        dp_rank, rank = world.coords(self.proc)
        if world.dp_size > 1:
            return f"process {self.proc} (dp_rank {dp_rank}, rank {rank}; {where})"
        return f"rank {rank} ({where})"


class Acceptor:
    """Accepts authenticated worker connections in a background thread and files
    each under the pool token of its :class:`Hello`."""

    def __init__(self, address: tuple[str, int], authkey: bytes) -> None:
        self._listener = Listener(address, backlog=128, authkey=authkey)
        self.address: tuple[str, int] = self._listener.address
        self._arrivals: dict[str, list[Endpoint]] = defaultdict(list)
        self._changed = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="embedspec-acceptor",
                                        daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closed:
            try:
                conn = self._listener.accept()
            except Exception:
                continue  # a failed handshake (wrong key, dropped client) or closing
            if self._closed:
                conn.close()
                return
            try:
                hello = receive(conn) if conn.poll(HELLO_TIMEOUT_S) else None
            except Exception:
                hello = None
            if not isinstance(hello, Hello):
                conn.close()
                continue
            with self._changed:
                self._arrivals[hello.pool].append(Endpoint(conn, hello))
                self._changed.notify_all()

    def collect(self, pool: str, count: int, deadline: float,
                abort: Callable[[], str | None] = lambda: None) -> list[Endpoint]:
        """Wait until ``count`` workers of ``pool`` have arrived (``count = 0``: as many as
        the first one's ``nprocs``) and take them; ``WorkerFailure`` when ``deadline``
        (``time.monotonic``) passes or ``abort()`` returns a reason."""
        with self._changed:
            while True:
                arrived = self._arrivals[pool]
                want = count or (arrived[0].hello.nprocs if arrived else 0)
                if want and len(arrived) >= want:
                    taken, self._arrivals[pool] = arrived[:want], arrived[want:]
                    return taken
                reason = abort()
                if reason is None and time.monotonic() > deadline:
                    reason = (f"only {len(arrived)} of {want or 'the'} workers connected to "
                              f"{self.address[0]}:{self.address[1]} in time")
                if reason is not None:
                    for endpoint in self._arrivals.pop(pool, []):
                        endpoint.conn.close()
                    raise WorkerFailure(reason, "startup")
                self._changed.wait(timeout=0.2)

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            socket.create_connection(self.address, timeout=1).close()
        self._listener.close()
        with self._changed:
            for endpoints in self._arrivals.values():
                for endpoint in endpoints:
                    endpoint.conn.close()
            self._arrivals.clear()


class WorkerPool:
    """Connected workers, one per process of a group of ``len(endpoints)``."""

    def __init__(self, endpoints: list[Endpoint], label: str) -> None:
        self.endpoints = sorted(endpoints, key=lambda e: e.proc)
        procs = [e.proc for e in self.endpoints]
        if procs != list(range(len(procs))):
            for endpoint in self.endpoints:
                endpoint.conn.close()
            raise WorkerFailure(f"{label}: workers reported processes {procs}, expected "
                                f"0..{len(procs) - 1} once each", "startup")
        self.label = label
        self._seq = 0
        self._shut_down = False
        #: Worlds whose process groups every worker has made.
        self._grouped: set[World] = set()
        #: True while a case is out: an interruption then leaves the workers mid-case.
        self.in_flight = False

    @property
    def nprocs(self) -> int:
        return len(self.endpoints)

    def setup(self, setup: Setup, deadline: float) -> str:
        """Send ``setup`` to every worker and wait until each is ready; the backend's name."""
        frame = encode(setup)
        for endpoint in self.endpoints:
            self._send(endpoint, frame, None, "starting")
        names = {}
        for endpoint, reply in self._collect(deadline, None, "starting",
                                             self.endpoints).items():
            if isinstance(reply, Fatal):
                raise WorkerFailure(f"{self.label}: {endpoint.describe()} failed to set up:\n"
                                    f"{reply.traceback}", "setup", (endpoint.proc,))
            if not isinstance(reply, Ready):
                raise WorkerFailure(f"{self.label}: {endpoint.describe()} answered the setup "
                                    f"with {type(reply).__name__}", "startup", (endpoint.proc,))
            names[endpoint.proc] = reply.backend_name
        return names[0]

    def run(self, case: Case, timeout_s: float) -> list[RankOutcome]:
        """Every process's outcome of ``case``, in process order."""
        if case.world.nprocs > self.nprocs:
            raise ValueError(f"world {case.world} needs {case.world.nprocs} processes; "
                             f"{self.label} has {self.nprocs}")
        try:
            payload = pickle.dumps(case, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise TypeError(f"the case cannot be sent to the workers: {exc} (a multi-process "
                            "case must be picklable: no lambdas or local functions)") from exc
        self._seq += 1
        frame = encode(RunCase(self._seq, payload, torch.random.get_rng_state().numpy().tobytes()))
        targets = self.endpoints[:case.world.nprocs] if case.world in self._grouped \
            else self.endpoints
        self.in_flight = True
        for endpoint in targets:
            self._send(endpoint, frame, case.world, f"receiving case {self._seq}")
        answers = self._collect(time.monotonic() + timeout_s, case.world,
                                f"running case {self._seq}", targets)
        self.in_flight = False
        outcomes: dict[int, RankOutcome] = {}
        for endpoint, reply in answers.items():
            if isinstance(reply, Fatal):
                raise WorkerFailure(
                    f"{self.label}: {endpoint.describe(case.world)} failed outside the backend "
                    f"while running case {self._seq}:\n{reply.traceback}", "fatal",
                    (endpoint.proc,))
            if not isinstance(reply, Done) or reply.seq != self._seq:
                raise WorkerFailure(
                    f"{self.label}: {endpoint.describe(case.world)} answered case {self._seq} "
                    f"with {reply!r}", "fatal", (endpoint.proc,))
            if endpoint.proc < case.world.nprocs:
                outcomes[endpoint.proc] = reply.outcome
        self._grouped.add(case.world)
        return [outcomes[proc] for proc in range(case.world.nprocs)]

    def _send(self, endpoint: Endpoint, frame: bytes, world: World | None,
              doing: str) -> None:
        try:
            endpoint.conn.send_bytes(frame)
        except OSError:
            raise self._died(endpoint, world, doing, {}) from None

    def _collect(self, deadline: float, world: World | None, doing: str,
                 endpoints: list[Endpoint]) -> dict[Endpoint, object]:
        pending = {e.conn: e for e in endpoints}
        answers: dict[Endpoint, object] = {}
        while pending:
            ready = wait(list(pending), timeout=max(0.0, deadline - time.monotonic()))
            if not ready:
                raise self._hung(list(pending.values()), world, doing, answers)
            for conn in ready:
                endpoint = pending.pop(conn)
                try:
                    answers[endpoint] = receive(conn)
                except (EOFError, OSError):
                    raise self._died(endpoint, world, doing, answers) from None
        return answers

    def _died(self, endpoint: Endpoint, world: World | None, doing: str,
              answers: dict[Endpoint, object]) -> WorkerFailure:
        text = f"{self.label}: {endpoint.describe(world)} died while {doing}"
        if endpoint.spawned is not None:
            text += f" ({describe_exit(endpoint.spawned.exit_code(wait_s=5.0))})"
        else:
            text += " (its connection closed)"
        text += _others(answers, world) + _log(endpoint)
        return WorkerFailure(text, "died", (endpoint.proc,))

    def _hung(self, hung: list[Endpoint], world: World | None, doing: str,
              answers: dict[Endpoint, object]) -> WorkerFailure:
        for endpoint in hung:
            if endpoint.spawned is not None:
                endpoint.spawned.dump_stacks(STACK_DUMP_WAIT_S)
        names = ", ".join(e.describe(world) for e in hung)
        text = (f"{self.label}: timed out while {doing}: no answer from {names} (hung, "
                "e.g. in a collective that other processes never entered or in a loop)")
        text += _others(answers, world) + "".join(_log(e) for e in hung)
        return WorkerFailure(text, "hung", tuple(e.proc for e in hung))

    def shut_down(self) -> None:
        """Tell every worker to exit (without waiting: see :meth:`close`)."""
        if self._shut_down:
            return
        self._shut_down = True
        for endpoint in self.endpoints:
            with contextlib.suppress(OSError):
                send(endpoint.conn, Shutdown())

    def close(self, graceful: bool = True) -> None:
        """Let the workers exit (``graceful``: after :meth:`shut_down`, waiting a few
        seconds each) or kill them; then close the connections. No worker remains."""
        if graceful:
            self.shut_down()
            for endpoint in self.endpoints:
                if endpoint.spawned is not None:
                    endpoint.spawned.exit_code(wait_s=5.0)
        for endpoint in self.endpoints:
            endpoint.conn.close()
            if endpoint.spawned is not None:
                endpoint.spawned.kill()


def _others(answers: dict[Endpoint, object], world: World | None) -> str:
    if not answers:
        return ""
    lines = []
    for endpoint, reply in sorted(answers.items(), key=lambda item: item[0].proc):
        lines.append(f"  {endpoint.describe(world)}: {_summary(reply)}")
    return "\nThe other processes answered:\n" + "\n".join(lines)


def _summary(reply: object) -> str:
    if isinstance(reply, Done):
        if reply.outcome is None:
            return "not in this world"
        error = reply.outcome.error
        return "finished" if error is None else f"raised {error.type}: {error.message}"
    if isinstance(reply, Fatal):
        return "failed: " + reply.traceback.strip().splitlines()[-1]
    return type(reply).__name__


def _log(endpoint: Endpoint) -> str:
    if endpoint.spawned is None:
        return ""
    tail = endpoint.spawned.log_tail()
    if not tail:
        return ""
    indented = "\n".join("  | " + line for line in tail.splitlines())
    return f"\nEnd of the log of process {endpoint.proc}:\n{indented}"
