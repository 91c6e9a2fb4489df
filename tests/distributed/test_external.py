"""External worlds: workers launched as torchrun launches them join the driver.

The launcher is emulated here (this test hosts the rendezvous store, bound to
127.0.0.1, and starts the workers with torchrun's environment: RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT, TORCHELASTIC_USE_AGENT_STORE), so the workers
take exactly the path they take under torchrun: env:// rendezvous, then connect to
the driver given by --driver.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from embedspec.conformance.checks.case import World
from embedspec.conformance.distributed import PoolRunner, WorkerFailure
from embedspec.conformance.distributed.messages import AUTHKEY_ENV
from embedspec.conformance.distributed.processes import WORKER_MODULE, loopback_interface
from embedspec.reference.configs import ShardedConfig, VocabParallelConfig

from . import checks
from .conftest import ROOT, process_alive

NPROCS = 3
IDS = torch.tensor([[0, 9, 3], [8, 8, 1]])


@contextmanager
def launched_workers(driver_port: int, log_dir: Path) -> Iterator[list[subprocess.Popen]]:
    """NPROCS workers with torchrun's environment around a loopback-only store."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(NPROCS)
    port = listener.getsockname()[1]
    # The store takes over the bound socket: it listens on 127.0.0.1 only.
    store = dist.TCPStore("127.0.0.1", port, None, True, master_listen_fd=listener.detach(),
                          wait_for_workers=False)
    workers = []
    for rank in range(NPROCS):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(NPROCS), LOCAL_RANK=str(rank),
                   LOCAL_WORLD_SIZE=str(NPROCS), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                   TORCHELASTIC_USE_AGENT_STORE="True", GLOO_SOCKET_IFNAME=loopback_interface(),
                   OMP_NUM_THREADS="1")
        log = open(log_dir / f"worker{rank}-{port}.log", "wb")  # noqa: SIM115
        workers.append(subprocess.Popen(
            [sys.executable, "-m", WORKER_MODULE, "--driver", f"127.0.0.1:{driver_port}"],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        log.close()
    try:
        yield workers
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
            worker.wait()
        del store


@pytest.fixture()
def runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[PoolRunner]:
    monkeypatch.setenv(AUTHKEY_ENV, secrets.token_hex(16))
    with PoolRunner("distributed", external=f"127.0.0.1:0:{NPROCS}", timeout_s=60,
                    startup_timeout_s=120) as pool:
        yield pool


def test_an_external_world_runs_every_world_that_fits(runner: PoolRunner,
                                                      tmp_path: Path) -> None:
    assert runner.supports(World(3)) and runner.supports(World(1))
    assert not runner.supports(World(2, dp_size=2))
    _, port = runner.listen()
    with launched_workers(port, tmp_path) as workers:
        for size in (1, 2, 3):
            config = VocabParallelConfig(10, 3, org_num_embeddings=8, padding_size=2 * size)
            assert checks.vocab_parallel(runner, config, size, IDS) == []
        assert checks.sharded(runner, ShardedConfig(9, 5, max_norm=1.0), World(3),
                              [IDS % 9]) == []
        assert checks.sharded(runner, ShardedConfig(9, 5), World(1, dp_size=2),
                              [IDS % 9, IDS % 7]) == []
        runner.close()
        assert [worker.wait(timeout=30) for worker in workers] == [0] * NPROCS


def test_an_external_world_reports_a_lost_worker_and_takes_a_relaunched_set(
        runner: PoolRunner, tmp_path: Path) -> None:
    _, port = runner.listen()
    config = VocabParallelConfig(10, 3, org_num_embeddings=8, padding_size=6)
    with launched_workers(port, tmp_path) as first:
        assert checks.vocab_parallel(runner, config, 3, IDS) == []
        os.kill(first[1].pid, signal.SIGKILL)
        first[1].wait()
        with pytest.raises(WorkerFailure) as failure:
            checks.vocab_parallel(runner, config, 3, IDS)
        assert failure.value.kind == "died" and failure.value.procs == (1,)
        assert "process 1" in str(failure.value) or "rank 1" in str(failure.value)
        # The survivors lose the driver and exit non-zero, as torchrun needs to restart.
        assert all(worker.wait(timeout=30) != 0 for worker in first)
    with launched_workers(port, tmp_path) as second:
        assert checks.vocab_parallel(runner, config, 3, IDS) == []
        pids = [worker.pid for worker in second]
    assert not any(process_alive(pid) for pid in pids)
