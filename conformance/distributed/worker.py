"""A worker process of a multi-process conformance run.

Run by the driver for a local pool, or by ``torchrun`` to join a run from
another node::

    EMBEDSPEC_AUTHKEY=<hex secret> torchrun --nnodes N --nproc-per-node K ... \\
        -m embedspec.conformance.distributed.worker --driver HOST:PORT

A worker connects to the driver (retrying until ``--connect-timeout``), says who
it is, receives its :class:`~.messages.Setup`, joins the ``torch.distributed``
process group (a ``FileStore`` for local pools; ``env://``, i.e.
``MASTER_ADDR``/``MASTER_PORT``/``RANK``/``WORLD_SIZE``, under ``torchrun``),
loads the backend and then runs every case it receives with
:func:`embedspec.conformance.checks.execute.execute`, as the process ``proc`` of the
case's world, until told to shut down.

The worker never outlives its driver or its launcher: it exits when the driver's
connection closes, and a watchdog thread exits it as soon as its parent process
is gone. ``SIGUSR1`` dumps every thread's Python stack to stderr (the driver
asks for it before killing a worker that hangs, to show where it was stuck).
"""

from __future__ import annotations

import argparse
import datetime
import faulthandler
import hashlib
import os
import pickle
import signal
import socket
import sys
import threading
import time
import traceback
from multiprocessing.connection import Client, Connection

from embedspec.conformance.distributed.messages import (
    AUTHKEY_ENV,
    Done,
    Fatal,
    Hello,
    Ready,
    RunCase,
    Setup,
    Shutdown,
    encode,
    parse_address,
    receive,
    send,
)

#: Exit status when the driver went away (connection closed or parent gone).
EXIT_DRIVER_GONE = 3
#: Exit status when setup failed (the driver received a Fatal message).
EXIT_SETUP_FAILED = 4


def read_authkey() -> bytes:
    value = os.environ.get(AUTHKEY_ENV, "")
    try:
        key = bytes.fromhex(value)
    except ValueError:
        key = b""
    if not key:
        raise SystemExit(f"{AUTHKEY_ENV} must hold the driver's connection secret as hex: "
                         "export the same value for the driver and every worker")
    return key


def connect(address: tuple[str, int], authkey: bytes, timeout_s: float) -> Connection:
    """Connect to the driver, retrying while it is not listening yet."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return Client(address, authkey=authkey)
        except (TimeoutError, ConnectionRefusedError, ConnectionResetError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def exit_with_parent() -> None:
    """Exit at once when the parent process (driver or launcher) is gone."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(EXIT_DRIVER_GONE)

    threading.Thread(target=watch, name="embedspec-parent-watchdog", daemon=True).start()


class Worker:
    """One process of the worker group: its identity, groups and backend."""

    def __init__(self, conn: Connection, proc: int, nprocs: int) -> None:
        self.conn = conn
        self.proc = proc
        self.nprocs = nprocs
        self.backend = None
        self._worlds: dict = {}

    def setup(self, setup: Setup) -> None:
        import torch
        import torch.distributed as dist
        from embedspec.backends.registry import load_backend

        torch.set_num_threads(setup.threads)
        for entry in setup.sys_path:
            if entry not in sys.path:
                sys.path.append(entry)
        cuda = torch.cuda.is_available() and dist.is_nccl_available()
        if cuda:
            local_rank = int(os.environ.get("LOCAL_RANK", self.proc))
            torch.cuda.set_device(local_rank % torch.cuda.device_count())
        timeout = datetime.timedelta(seconds=setup.pg_timeout_s)
        pg_backend = "cpu:gloo,cuda:nccl" if cuda else "gloo"
        if setup.store_path is None:
            dist.init_process_group(pg_backend, init_method="env://", timeout=timeout)
        else:
            store = dist.FileStore(setup.store_path, self.nprocs)
            dist.init_process_group(pg_backend, store=store, rank=self.proc,
                                    world_size=self.nprocs, timeout=timeout)
        self.backend = load_backend(setup.backend_spec)

    def run(self, message: RunCase) -> Done:
        import torch
        from embedspec.conformance.checks.execute import execute
        from embedspec.conformance.distributed.groups import world_groups

        case = pickle.loads(message.case)
        groups = self._worlds.get(case.world)
        if groups is None:
            groups = self._worlds[case.world] = world_groups(case.world, self.proc, self.nprocs)
        if not groups.member:
            return Done(message.seq, None)
        torch.random.set_rng_state(torch.frombuffer(bytearray(message.rng_state),
                                                    dtype=torch.uint8))
        if torch.cuda.is_available():
            # Every rank seeds its GPU alike, so a layer drawn on CUDA is one table too.
            digest = hashlib.sha256(message.rng_state).digest()
            torch.cuda.manual_seed_all(int.from_bytes(digest[:8], "little"))
        device = torch.device(case.device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        return Done(message.seq, execute(self.backend, case, self.proc, groups.context(device)))

    def serve(self) -> int:
        """Answer cases until ``Shutdown``; the exit status."""
        while True:
            try:
                message = receive(self.conn)
            except (EOFError, OSError):
                return EXIT_DRIVER_GONE
            if isinstance(message, Shutdown):
                return 0
            try:
                reply = self.run(message)
                frame = encode(reply)
            except Exception:
                frame = encode(Fatal(getattr(message, "seq", -1), traceback.format_exc()))
            try:
                self.conn.send_bytes(frame)
            except OSError:
                return EXIT_DRIVER_GONE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m embedspec.conformance.distributed.worker",
        description="Join a multi-process embedspec conformance run as one worker.")
    parser.add_argument("--driver", required=True, metavar="HOST:PORT",
                        help="where the driver listens")
    parser.add_argument("--connect-timeout", type=float, default=300.0, metavar="SECONDS",
                        help="how long to keep trying to reach the driver (default 300)")
    parser.add_argument("--pool", default="", help=argparse.SUPPRESS)
    parser.add_argument("--proc", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--nprocs", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.proc is None:
        try:
            args.proc, args.nprocs = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        except KeyError as missing:
            parser.error(f"{missing} is not set: launch with torchrun, which sets RANK and "
                         "WORLD_SIZE")
    authkey = read_authkey()
    address = parse_address(args.driver)
    exit_with_parent()
    faulthandler.register(signal.SIGUSR1, all_threads=True)

    conn = connect(address, authkey, args.connect_timeout)
    send(conn, Hello(args.pool, args.proc, args.nprocs, os.getpid(), socket.gethostname()))
    try:
        setup = receive(conn)
    except (EOFError, OSError):
        return EXIT_DRIVER_GONE
    worker = Worker(conn, args.proc, args.nprocs)
    try:
        worker.setup(setup)
    except Exception:
        send(conn, Fatal(-1, traceback.format_exc()))
        return EXIT_SETUP_FAILED
    send(conn, Ready(worker.backend.name))
    return worker.serve()


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Every peer leaves at the same time: tearing down the process group and the
    # interpreter (seconds with torch loaded) would only delay the driver's close().
    os._exit(status)
