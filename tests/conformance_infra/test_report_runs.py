"""Running backends in child processes for the report: results, crashes, timeouts."""

from __future__ import annotations

import io
import json
import os
import sys
import textwrap
import threading
import time

import pytest
from embedspec.conformance.report import runs
from embedspec.conformance.report.runs import run_backend

from .synthetic import header

WRITE_EVENTS = """
import os, signal, subprocess, sys, time
from embedspec.conformance.session.results import (ResultsWriter, RunHeader, RunResults,
                                                 TestRef, TestResult)
path = sys.argv[1]
writer = ResultsWriter(path)
head = RunHeader(**{header!r})
writer.header(head)
refs = [TestRef("test_f.py::test_a", "embedding", "forward", "float32"),
        TestRef("test_f.py::test_b", "embedding", "backward", "float32")]
writer.collected(refs)
writer.started("test_f.py::test_a")
done = TestResult("test_f.py::test_a", "embedding", "forward", "float32", "cpu", "passed")
writer.result(done)
print("..", end="", flush=True)
writer.started("test_f.py::test_b")
"""

ENDINGS = {
    "finish": (
        "last = TestResult('test_f.py::test_b', 'embedding', 'backward', 'float32', 'cpu', "
        "'failed')\n"
        "writer.result(last)\n"
        "writer.finish(RunResults(head, [done, last], exit_status=1)); print(' finished')\n"
        "sys.exit(1)\n"),
    "finish_early": "writer.finish(RunResults(head, [done], exit_status=1)); sys.exit(1)\n",
    "crash": "print('dying'); os.kill(os.getpid(), signal.SIGKILL)\n",
    "exit": "sys.exit(3)\n",
    "hang": (
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "open(path + '.child', 'w').write(str(child.pid))\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "time.sleep(600)\n"
    ),
}


@pytest.fixture
def fake_check(monkeypatch, tmp_path):
    """Replace the check command by a script that records events and then ``ending``."""
    def use(ending: str) -> None:
        source = WRITE_EVENTS.format(header=vars(header("fake"))) + ENDINGS[ending]
        script = tmp_path / f"fake_{ending}.py"
        script.write_text(textwrap.dedent(source), encoding="utf-8")
        monkeypatch.setattr(runs, "check_command",
                            lambda backend, *, results, **options:
                            [sys.executable, str(script), str(results)])
        monkeypatch.setattr(runs, "GRACE_S", 1.0)
    return use


def _run(tmp_path, timeout_s=60.0):
    out = io.StringIO()
    run = run_backend("fake", profile="quick", device="cpu", seed=0, timeout_s=timeout_s,
                      results=tmp_path / "results" / "fake.json", out=out)
    return run, out.getvalue()


def test_finished_run_reads_its_results_and_streams_output(fake_check, tmp_path):
    fake_check("finish")
    run, output = _run(tmp_path)
    assert run.status == "ok" and run.message == ""
    assert run.results.complete
    assert [t.id for t in run.results.tests] == ["test_f.py::test_a", "test_f.py::test_b"]
    assert output.startswith("..") and "finished" in output
    assert not (tmp_path / "results" / "fake.json.partial").exists()


def test_killed_run_is_a_crash_with_what_it_recorded(fake_check, tmp_path):
    fake_check("crash")
    run, output = _run(tmp_path)
    assert run.status == "crash"
    assert run.message == "the run was killed by SIGKILL before it finished"
    assert not run.results.complete
    assert [t.id for t in run.results.tests] == ["test_f.py::test_a"]
    assert [t.id for t in run.results.pending] == ["test_f.py::test_b"]
    assert run.results.running == "test_f.py::test_b"
    assert "dying" in run.output_tail and "dying" in output


def test_exit_without_results_is_a_crash(fake_check, tmp_path):
    fake_check("exit")
    run, _ = _run(tmp_path)
    assert run.status == "crash"
    assert run.message == "the run exited with status 3 without writing its results"


def test_results_file_of_a_run_that_left_tests_is_incomplete_and_a_crash(fake_check, tmp_path):
    fake_check("finish_early")
    run, _ = _run(tmp_path)
    assert run.status == "crash" and "before every test finished" in run.message
    assert not run.results.complete
    assert [t.id for t in run.results.pending] == ["test_f.py::test_b"]
    data = json.loads((tmp_path / "results" / "fake.json").read_text())
    assert data["complete"] is False and data["running"] == "test_f.py::test_b"


def test_cancelled_run_is_interrupted_with_its_workers_stopped(fake_check, tmp_path):
    fake_check("hang")
    cancel = runs.Cancel()
    threading.Timer(2.0, cancel.requested.set).start()
    threading.Timer(2.5, cancel.urgent.set).start()
    start = time.monotonic()
    run = run_backend("fake", profile="quick", device="cpu", seed=0, timeout_s=60,
                      results=tmp_path / "results" / "fake.json", out=io.StringIO(),
                      cancel=cancel)
    assert time.monotonic() - start < 20
    assert run.status == "interrupted" and "interrupted" in run.message
    assert not run.results.complete and run.results.running == "test_f.py::test_b"
    worker = int((tmp_path / "results" / "fake.json.child").read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(worker):
        time.sleep(0.1)
    assert not _alive(worker), "the interrupted run's worker process was left running"


def test_hanging_run_is_stopped_with_its_workers(fake_check, tmp_path):
    fake_check("hang")
    start = time.monotonic()
    run, _ = _run(tmp_path, timeout_s=3.0)
    assert time.monotonic() - start < 30
    assert run.status == "timeout"
    assert run.message == "no result after 3 s; the run was stopped"
    assert [t.id for t in run.results.pending] == ["test_f.py::test_b"]
    worker = int((tmp_path / "results" / "fake.json.child").read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(worker):
        time.sleep(0.1)
    assert not _alive(worker), "the hung run's worker process was left running"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie of an exited worker counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def test_check_command_runs_the_cli_with_the_run_options(tmp_path):
    command = runs.check_command("eager", profile="quick", device="cpu", seed=3,
                                 results=tmp_path / "r.json")
    assert command[:4] == [sys.executable, "-m", "embedspec.conformance.cli", "check"]
    for flag, value in (("--backend", "eager"), ("--profile", "quick"), ("--seed", "3"),
                        ("--results", str(tmp_path / "r.json"))):
        assert command[command.index(flag) + 1] == value
    assert "-k" not in command
    selected = runs.check_command("m:B", profile="quick", device="cpu", seed=3,
                                  results=tmp_path / "r.json", keyword="forward")
    assert selected[selected.index("-k") + 1] == "forward"
    assert selected.index("-k") < selected.index("--")


def test_a_results_file_reads_complete_only_when_it_says_so_and_nothing_is_pending(tmp_path):
    from embedspec.conformance.session.results import RunResults, TestRef, load_results

    path = tmp_path / "r.json"
    data = RunResults(header("fake")).to_json()
    for complete, pending, expected in ((True, [], True), (None, [], False),
                                        (True, [vars(TestRef("t", None, None, "float32"))],
                                         False)):
        data["complete"], data["pending"] = complete, pending
        if complete is None:
            del data["complete"]
        path.write_text(json.dumps(data))
        assert load_results(path).complete is expected, (complete, pending)
