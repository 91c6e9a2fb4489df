"""A running ``embedspec report``: a second one into the same folder fails at once,
naming the first's PID; SIGINT stops every child, writes the report of what finished
(the stopped backend marked interrupted), marks nothing complete that was not, and
leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from embedspec.conformance.cli import exits

from .runner import TEST, command, embedspec, spec, write_backends

DEADLINE_S = 120


def _processes_naming(text: str) -> list[int]:
    """PIDs of live processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def _wait_for(condition, what: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the report ended before {what}: {proc.communicate()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {DEADLINE_S} s")
        time.sleep(0.2)


def _complete(path: Path) -> bool:
    try:
        return json.loads(path.read_text())["complete"] is True
    except (OSError, ValueError, KeyError):
        return False


def _slow_test_started(partial: Path) -> bool:
    try:
        return '"kind": "start"' in partial.read_text()
    except OSError:
        return False


class Output:
    """The lines a running process prints, read as they come."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def has(self, text: str) -> bool:
        return any(text in line for line in self.lines)


@pytest.fixture(scope="module")
def running_report(tmp_path_factory):
    """A report of a quick backend and a slow one, two at once, with the quick one
    finished and the slow one inside its test."""
    root = tmp_path_factory.mktemp("interrupted")
    env = write_backends(root)
    out = root / "reports"
    proc = subprocess.Popen(
        command("report", "--no-comparisons", "--backends", f"{spec('Good')},{spec('Slow')}",
                "--profile", "quick", "-k", TEST, "--jobs", "2", "--out", str(out)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    output = Output(proc)
    try:
        _wait_for(lambda: output.has("cli_good: finished")
                  and _slow_test_started(out / "results" / "cli_slow.json.partial"),
                  "finished quick backend and started slow test", proc)
        yield proc, out, env, output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_a_second_report_into_the_same_folder_fails_at_once(running_report):
    proc, out, env, _ = running_report
    start = time.monotonic()
    second = embedspec("report", "--no-comparisons", "--backends", spec("Good"), "--out",
                       str(out), env=env, timeout=60)
    assert second.returncode == exits.BUSY, second.stdout + second.stderr
    assert f"is in use by another embedspec report (PID {proc.pid})" in second.stderr
    assert time.monotonic() - start < 30
    assert proc.poll() is None, "the first run goes on"


def test_sigint_writes_what_finished_and_stops_every_child(running_report):
    proc, out, _, output = running_report
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=DEADLINE_S)
    output.thread.join(timeout=10)
    stdout, stderr = "\n".join(output.lines), proc.stderr.read()
    assert proc.returncode == exits.interrupted(signal.SIGINT), stdout + stderr
    assert "Traceback" not in stdout + stderr
    assert [line for line in stdout.splitlines() if "interrupted by SIGINT" in line] == [
        "embedspec report: interrupted by SIGINT; stopping cli_slow and writing the report of "
        "what finished"]
    assert _processes_naming(str(out)) == [], "a child of the report is still running"
    columns = {c["backend"]: c for c in json.loads((out / "report.json").read_text())[
        "columns"]}
    assert columns["cli_good"]["status"] == "ok" and columns["cli_good"]["counts"]["passed"]
    assert columns["cli_slow"]["status"] == "interrupted"
    assert columns["cli_slow"]["running"] == f"test_embedding_forward.py::{TEST}[float32]"
    md = (out / "report.md").read_text()
    assert "### cli_slow: interrupted" in md and "**interrupted**" in md
    assert "cli_slow: interrupted" in (out / "report.html").read_text()
    slow = out / "results" / "cli_slow.json"
    assert not slow.exists() or json.loads(slow.read_text())["complete"] is False
    assert _complete(out / "results" / "cli_good.json")
    assert not (out / "history.jsonl").exists(), "an interrupted run is no baseline"
    assert output.has("embedspec report: wrote ") and output.has(
        "(interrupted: cli_slow did not finish)")
