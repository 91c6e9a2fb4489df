"""Every exit status of ``embedspec check``, ``report`` and ``bench``, from real runs:
a passing and a failing third-party backend given as ``module:attr``, one whose run
crashes, unknown backends, ``--device cuda`` without a GPU, usage errors and output
paths that cannot be written. Each run selects one test (``-k``) of the quick profile;
the runs start together (module fixtures) and each test reads its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from embedspec.conformance.cli import exits

from .runner import TEST, run_together, spec, write_backends
from .test_outputs import unwritable_folder

QUICK = ("--profile", "quick", "-k", TEST)

#: key -> (command line, exit status, the end of the one line it fails with)
UP_FRONT = {
    "unknown check": (["check", "--backend", "no_such_backend"], exits.BACKEND_UNUSABLE,
                      "unknown backend 'no_such_backend'"),
    "unknown spec": (["report", "--backends", "eager,embedspec_cli_backends:Missing",
                      "--out", "{tmp}/unknown"], exits.BACKEND_UNUSABLE,
                     "has no attribute 'Missing'"),
    "unknown bench": (["bench", "--backend", "no_such_backend", "--out", "{tmp}/bench"],
                      exits.BACKEND_UNUSABLE, "unknown backend 'no_such_backend'"),
    "cuda check": (["check", "--backend", "eager", "--device", "cuda"], exits.USAGE,
                   "--device cuda: no CUDA device is visible here"),
    "cuda report": (["report", "--device", "cuda", "--out", "{tmp}/c"], exits.USAGE,
                    "--device cuda: no CUDA device is visible here"),
    "cuda bench": (["bench", "--backend", "eager", "--device", "cuda", "--out", "{tmp}/cb"],
                   exits.USAGE, "--device cuda: no CUDA device is visible here"),
    "bad profile": (["report", "--profile", "nonsense"], exits.USAGE,
                    "argument --profile: invalid choice: 'nonsense'"),
    "bad -k": (["report", "-k", "forward and (", "--out", "{tmp}/k"], exits.USAGE,
               "-k 'forward and (': not a pytest -k expression"),
    "accept": (["check", "--backend", spec("Good"), "--accept"], exits.USAGE,
               "--accept needs --expectations PATH: backend 'cli_good' declares no "
               "expectations_path"),
    "expectations": (["check", "--backend", "eager", "--expectations", "/no/such/file.json"],
                     exits.USAGE, "--expectations /no/such/file.json: no such file"),
    "nothing selected": (["check", "--backend", "eager", "--profile", "quick", "-k",
                          "no_test_is_called_this"], exits.USAGE,
                         "no test was selected by -k 'no_test_is_called_this'"),
    "out is a file": (["report", "--out", "{tmp}/a-file"], exits.USAGE,
                      "--out {tmp}/a-file: exists and is not a folder"),
    "out is read-only": (["report", "--out", "{read_only}/reports"], exits.USAGE,
                         "--out {read_only}/reports: cannot create the folder"),
    "results read-only": (["check", "--backend", spec("Good"), "--results",
                           "{read_only}/r.json"], exits.USAGE,
                          "--results {read_only}/r.json: cannot write in the folder {read_only}"),
    "bench out is a file": (["bench", "--backend", "eager", "--out", "{tmp}/a-file"],
                            exits.USAGE, "--out {tmp}/a-file: exists and is not a folder"),
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("statuses")
    (tmp / "a-file").write_text("not a folder")
    return {"tmp": str(tmp), "read_only": str(unwritable_folder(tmp)),
            "env": write_backends(tmp), "root": tmp}


@pytest.fixture(scope="module")
def up_front(folders):
    import torch

    commands = {key: [arg.format(**folders) for arg in argv]
                for key, (argv, _, _) in UP_FRONT.items()
                if not (key.startswith("cuda") and torch.cuda.is_available())}
    return run_together(commands, env=folders["env"])


@pytest.fixture(scope="module")
def real_runs(folders):
    tmp = folders["tmp"]
    return run_together({
        "check good": ["check", "--backend", spec("Good"), *QUICK, "--results",
                       f"{tmp}/good.json"],
        "check failing": ["check", "--backend", spec("Failing"), *QUICK],
        "report good": ["report", "--no-comparisons", "--backends", spec("Good"), *QUICK,
                        "--out", f"{tmp}/good"],
        "report failing": ["report", "--no-comparisons", "--backends",
                           f"{spec('Failing')},{spec('Crashing')}", *QUICK, "--out",
                           f"{tmp}/failing"],
    }, env=folders["env"])


@pytest.mark.parametrize("key", list(UP_FRONT))
def test_problems_found_up_front_exit_with_their_status_in_one_line(up_front, folders, key):
    if key not in up_front:
        pytest.skip("this machine has a GPU")
    _, status, message = UP_FRONT[key]
    result = up_front[key]
    assert result.returncode == status, result.stdout + result.stderr
    err = result.stderr.strip()
    assert "Traceback" not in err and "embedspec-" not in err, err  # the CLI's own flags
    assert message.format(**folders) in err.splitlines()[-1], err


def test_nothing_is_written_by_a_run_refused_up_front(up_front, folders):
    root: Path = folders["root"]
    for folder in ("unknown", "bench", "c", "cb", "k"):
        written = {p.name for p in (root / folder).glob("*")}
        assert not written & {"report.md", "report.json", "report.html", "results", "logs",
                              "history.jsonl", "bench.json"}, (folder, written)
    assert (root / "a-file").read_text() == "not a folder"


def test_check_exits_0_when_all_pass(real_runs, folders):
    result = real_runs["check good"]
    assert result.returncode == exits.OK, result.stdout[-2000:] + result.stderr
    results = json.loads((folders["root"] / "good.json").read_text())
    assert results["complete"] is True and results["summary"]["passed"] == 1


def test_check_exits_1_on_a_failure(real_runs):
    result = real_runs["check failing"]
    assert result.returncode == exits.FAILED, result.stdout[-2000:] + result.stderr
    assert "1 failed" in result.stdout


def test_report_exits_0_when_every_result_is_expected(real_runs, folders):
    result = real_runs["report good"]
    assert result.returncode == exits.OK, result.stdout + result.stderr
    md = (folders["root"] / "good" / "report.md").read_text()
    assert "cli_good" in md


def test_report_exits_1_for_a_failing_spec_backend_and_a_crash(real_runs, folders):
    result = real_runs["report failing"]
    assert result.returncode == exits.FAILED, result.stdout + result.stderr
    out = folders["root"] / "failing"
    columns = {c["backend"]: c for c in json.loads((out / "report.json").read_text())[
        "columns"]}
    assert columns["cli_failing"]["status"] == "ok"
    assert columns["cli_failing"]["counts"]["failed"] == 1
    assert columns["cli_failing"]["spec"] == spec("Failing")
    assert columns["cli_crashing"]["status"] == "crash"
    assert "killed by SIGKILL" in columns["cli_crashing"]["message"]
    assert (out / "logs" / "cli_crashing.log").is_file()
