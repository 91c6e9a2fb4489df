"""How the runner handles workers that raise, die or hang, and that no worker outlives it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from embedspec.conformance.checks.case import Case, World
from embedspec.conformance.distributed import PoolRunner, WorkerFailure
from embedspec.reference import vocab_parallel as ref_vocab
from embedspec.reference.configs import ShardedConfig, VocabParallelConfig

from .conftest import ROOT, process_alive
from .faulty import DIE_DIM, HANG_DIM, RAISE_DIM

TIMEOUT_S = 6.0
WORLD = World(2)
INPUT = torch.tensor([[0, 7], [3, 3]])


@pytest.fixture(scope="module")
def runner() -> Iterator[PoolRunner]:
    with PoolRunner("tests.distributed.faulty:FaultyBackend", timeout_s=TIMEOUT_S) as pool:
        yield pool


def case(embedding_dim: int) -> Case:
    return Case(VocabParallelConfig(8, embedding_dim, padding_size=2),
                inputs=[INPUT] * WORLD.nprocs, world=WORLD)


def assert_correct(runner: PoolRunner) -> None:
    """A healthy case: both ranks return the reference output."""
    config = VocabParallelConfig(8, 4, padding_size=2)
    torch.manual_seed(5)
    outcomes = runner.run(Case(config, inputs=[INPUT] * 2, world=WORLD))
    torch.manual_seed(5)
    expected = ref_vocab.world_forward(ref_vocab.build_world(config, 2), INPUT)
    for outcome, want in zip(outcomes, expected, strict=True):
        assert outcome.error is None, outcome.error
        assert torch.equal(outcome.output, want.detach())


def test_a_rank_that_raises_is_an_observation(runner: PoolRunner) -> None:
    assert_correct(runner)
    pids = runner.worker_pids()
    outcomes = runner.run(case(RAISE_DIM))
    assert outcomes[0].error is None
    assert outcomes[1].error is not None and outcomes[1].error.is_a(RuntimeError)
    assert runner.worker_pids() == pids, "an exception in the backend must not restart the pool"
    assert_correct(runner)


def test_a_rank_that_dies_fails_the_case_and_the_next_case_runs(runner: PoolRunner) -> None:
    assert_correct(runner)
    pids = runner.worker_pids()
    started = time.monotonic()
    with pytest.raises(WorkerFailure) as failure:
        runner.run(case(DIE_DIM))
    assert time.monotonic() - started < TIMEOUT_S
    assert failure.value.kind == "died" and failure.value.procs == (1,)
    message = str(failure.value)
    assert "rank 1" in message and "killed by SIGKILL" in message
    assert not any(process_alive(pid) for pid in pids), "the failed pool must be killed"
    assert_correct(runner)
    assert set(runner.worker_pids()).isdisjoint(pids)


def test_a_rank_that_hangs_times_out_with_its_stack(runner: PoolRunner) -> None:
    assert_correct(runner)
    pids = runner.worker_pids()
    started = time.monotonic()
    with pytest.raises(WorkerFailure) as failure:
        runner.run(case(HANG_DIM))
    elapsed = time.monotonic() - started
    assert TIMEOUT_S <= elapsed < TIMEOUT_S + 15
    assert failure.value.kind == "hung" and set(failure.value.procs) == {0, 1}
    message = str(failure.value)
    assert "timed out" in message and "rank 1" in message
    assert "faulty.py" in message, "the hung rank's stack must show where it was stuck"
    assert "all_reduce" in message, "rank 0's stack must show the collective it waits in"
    assert not any(process_alive(pid) for pid in pids)
    assert_correct(runner)


def test_a_case_that_cannot_be_sent_is_refused_in_the_driver(runner: PoolRunner) -> None:
    assert_correct(runner)
    pids = runner.worker_pids()
    config = ShardedConfig(6, 4, init=lambda weight: weight.fill_(1.0))
    with pytest.raises(TypeError, match="picklable"):
        runner.run(Case(config, inputs=[INPUT] * 2, world=WORLD))
    assert runner.worker_pids() == pids
    assert_correct(runner)


def test_a_backend_that_cannot_load_fails_fast_with_the_reason() -> None:
    with PoolRunner("tests.distributed.no_such_module:Backend", timeout_s=TIMEOUT_S) as runner:
        with pytest.raises(WorkerFailure) as failure:
            runner.run(case(4))
        assert failure.value.kind == "setup"
        assert "no_such_module" in str(failure.value)
        started = time.monotonic()
        with pytest.raises(WorkerFailure):
            runner.run(case(4))
        assert time.monotonic() - started < 1.0, "a setup failure is not retried"
        assert runner.worker_pids() == []


def test_no_worker_remains_after_close() -> None:
    runner = PoolRunner("distributed", timeout_s=60)
    for world in (World(1), World(2)):
        config = VocabParallelConfig(8, 4, padding_size=2)
        runner.run(Case(config, inputs=[INPUT] * world.nprocs, world=world))
    pids = runner.worker_pids()
    assert len(pids) == 3 and all(process_alive(pid) for pid in pids)
    runner.close()
    assert not any(process_alive(pid) for pid in pids)


DRIVER = textwrap.dedent("""
    import sys, torch
    from embedspec.conformance.checks.case import Case, World
    from embedspec.conformance.distributed import PoolRunner
    from embedspec.reference.configs import ShardedConfig, VocabParallelConfig
    runner = PoolRunner("distributed", timeout_s=60)
    runner.run(Case(VocabParallelConfig(8, 4, padding_size=2),
                    inputs=[torch.tensor([1, 2])] * 2, world=World(2)))
    print(*runner.worker_pids(), flush=True)
    if sys.argv[1] == "wait":
        sys.stdin.read()
""")


def test_no_worker_remains_after_the_driver_exits_without_closing(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", DRIVER, "exit"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert done.returncode == 0, done.stderr
    pids = [int(pid) for pid in done.stdout.split()]
    assert len(pids) == 2
    assert not any(process_alive(pid) for pid in pids)
    assert list(tmp_path.iterdir()) == [], "the workers' log folder must be removed at exit"


def test_no_worker_remains_after_the_driver_is_killed(tmp_path: Path) -> None:
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, "wait"], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, TMPDIR=str(tmp_path)))
    try:
        pids = [int(pid) for pid in driver.stdout.readline().split()]
        assert len(pids) == 2 and all(process_alive(pid) for pid in pids)
    finally:
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
    deadline = time.monotonic() + 10
    while any(process_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(process_alive(pid) for pid in pids)
