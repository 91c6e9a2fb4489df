"""The embedspec command: backend selection, the pytest command line, list and report."""

from __future__ import annotations

import json

import pytest
from embedspec.conformance import cli
from embedspec.conformance.cli import checking, exits, parser, report_run
from embedspec.conformance.cli.exits import CommandError
from embedspec.conformance.cli.selection import parse_backends, select_backends
from embedspec.conformance.report.model import BackendRun

from .helpers import add_fake_backends
from .synthetic import crashed_run, ok_run


class _Entry:
    def __init__(self, name: str, available: bool = True, reason: str = "") -> None:
        self.name, self.available, self.reason = name, available, reason
        self.spec, self.backend = f"pkg:{name}", None


ENTRIES = [_Entry("eager"), _Entry("reference"), _Entry("torch_nn"),
           _Entry("distributed", False, "torch.distributed has no gloo here"), _Entry("demo")]


def _names(selection) -> list[str]:
    return [s.name for s in selection.selected]


def test_report_runs_every_available_backend_comparisons_first():
    selection = select_backends(ENTRIES, [])
    assert _names(selection) == ["reference", "torch_nn", "eager", "demo"]
    assert selection.not_run == [("distributed", "torch.distributed has no gloo here")]
    assert _names(select_backends(ENTRIES, [], comparisons=False)) == ["eager", "demo"]


def test_requested_backends_always_come_with_the_comparison_columns():
    selection = select_backends(ENTRIES, parse_backends("demo, eager,demo"))
    assert _names(selection) == ["reference", "torch_nn", "demo", "eager"]
    assert selection.not_run == []
    alone = select_backends(ENTRIES, ["demo", "reference"], comparisons=False)
    assert _names(alone) == ["reference", "demo"]


@pytest.mark.parametrize("requested, problem", [
    (["nope"], "nope: no backend of that name is registered"),
    (["distributed"], "distributed: torch.distributed has no gloo here"),
    (["demo", "bad.module:Thing"], "bad.module:Thing: importing 'bad.module'"),
])
def test_requested_backends_that_cannot_run_stop_the_report_up_front(requested, problem):
    with pytest.raises(CommandError) as error:
        select_backends(ENTRIES, requested)
    assert error.value.status == exits.BACKEND_UNUSABLE and problem in str(error.value)


def test_specs_get_columns_by_their_backend_name(tmp_path, monkeypatch):
    add_fake_backends(monkeypatch, tmp_path, "cli_specs_mod", "specced")
    selection = select_backends(ENTRIES, ["cli_specs_mod:GoodBackend"], comparisons=False)
    assert [(s.name, s.spec) for s in selection.selected] == [
        ("specced", "cli_specs_mod:GoodBackend")]
    with pytest.raises(CommandError) as error:
        select_backends(ENTRIES, ["cli_specs_mod:GoodBackend", "cli_specs_mod:factory"])
    assert error.value.status == exits.USAGE and "specced" in str(error.value)


def test_comparison_backends_are_skipped_silently_when_not_registered():
    selection = select_backends([_Entry("demo")], ["demo"])
    assert _names(selection) == ["demo"] and selection.not_run == []


def test_the_parser_knows_the_suite_profiles():
    from embedspec.conformance.session.profiles import DEFAULT_PROFILE, PROFILES

    assert tuple(PROFILES) == parser.PROFILE_NAMES
    assert parser.DEFAULT_PROFILE == DEFAULT_PROFILE


def test_check_runs_the_installed_package_isolated_from_local_config():
    args = parser.build_parser().parse_args([
        "check", "--backend", "eager", "--profile", "quick", "--seed", "5", "--results", "r.json",
        "--accept", "-k", "max_norm", "-x", "--", "--tb=short"])
    argv = checking.pytest_arguments(args)
    assert argv[:2] == ["-p", "embedspec.conformance.plugin"]
    assert argv[argv.index("--pyargs") + 1] == "embedspec.conformance"
    assert argv[argv.index("--rootdir") + 1] == str(checking.PACKAGE_DIR)
    assert (checking.PACKAGE_DIR / "plugin.py").is_file()
    assert "-c" in argv  # no pytest configuration of the current folder applies
    for flag, value in (("--embedspec-backend", "eager"), ("--embedspec-profile", "quick"),
                        ("--embedspec-seed", "5"), ("-k", "max_norm")):
        assert argv[argv.index(flag) + 1] == value
    assert argv[argv.index("--embedspec-results") + 1].endswith("r.json")
    assert "--embedspec-accept" in argv and "-x" in argv
    assert argv[-1] == "--tb=short"


def test_check_refuses_a_backend_that_cannot_load(capsys):
    assert cli.main(["check", "--backend", "no_such_backend"]) == exits.BACKEND_UNUSABLE
    err = capsys.readouterr().err
    assert err.startswith("embedspec check: --backend no_such_backend: cannot use this backend")
    assert "unknown backend 'no_such_backend'" in err and len(err.splitlines()) == 1


def test_list_prints_every_registered_backend_with_its_description(capsys):
    from embedspec.backends.eager import EagerBackend

    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("eager", "reference", "torch_nn", "distributed"):
        assert any(line.split()[:1] == [name] for line in out.splitlines()), name
    first_words = " ".join(EagerBackend.description.split()[:3])
    assert first_words in out


def test_list_wraps_long_reasons_and_descriptions():
    from embedspec.backends.registry import BackendEntry
    from embedspec.conformance.cli.listing import REASON_WIDTH, TEXT_WIDTH, list_rows

    reason = "needs a library " * 20
    rows = list_rows([BackendEntry("gone", "pkg:Gone", None, False, reason.strip())])
    lines = rows[0][2].splitlines()
    assert len(lines) > 1 and all(len(line) <= REASON_WIDTH for line in lines)
    assert " ".join(lines) == reason.strip()
    assert TEXT_WIDTH < REASON_WIDTH


def test_report_writes_markdown_and_json_and_prints_progress(tmp_path, monkeypatch, capsys):
    fakes = {"reference": ok_run(), "eager": crashed_run()}
    monkeypatch.setattr("embedspec.backends.registry.discover", lambda: [
        _Entry("reference"), _Entry("eager"), _Entry("gpu", False, "needs CUDA")])
    calls = []

    def fake_run(name, **kwargs) -> BackendRun:
        calls.append((name, kwargs["profile"], kwargs["timeout_s"], kwargs["keyword"]))
        run = fakes[name]
        run.name, run.profile = name, kwargs["profile"]
        return run

    monkeypatch.setattr(report_run, "run_backend", fake_run)
    status = cli.main(["report", "--profile", "default", "--timeout", "12", "--out",
                       str(tmp_path / "out"), "-k", "forward", "--jobs", "1"])
    assert status == exits.FAILED  # eager crashed, and the reference has a failure
    assert calls == [("eager", "default", 12.0, "forward"),  # a first run may be long
                     ("reference", "quick", 12.0, "forward")]  # the lighter reference
    out = capsys.readouterr().out
    assert "[2/2] reference: started (profile quick)" in out
    assert "[2/2] reference: finished in 4.0 s: 3 passed, 1 failed" in out
    assert "[1/2] eager: CRASH (the run was killed by SIGSEGV) in 2.0 s: 1 passed, 2 not run" \
        in out
    assert "not run: gpu: needs CUDA" in out
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| family" in md and "- gpu: needs CUDA" in md
    assert "The reference column ran on the quick profile, not default" in md
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [c["backend"] for c in data["columns"]] == ["reference", "eager"]
    assert [c["profile"] for c in data["columns"]] == ["quick", "default"]
    page = (tmp_path / "out" / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and 'class="matrix"' in page
    assert "first run recorded in history.jsonl" in page
    assert not list((tmp_path / "out").glob(".*.tmp")), "temporary files were left"
    entry = json.loads((tmp_path / "out" / "history.jsonl").read_text())
    assert entry["backends"]["reference"]["duration_s"] == 4.0
    assert entry["backends"]["reference"]["profile"] == "quick"
    calls.clear()
    # One job at a time, so the calls come in the schedule's order, not two threads' race.
    assert cli.main(["report", "--profile", "default", "--out", str(tmp_path / "out"),
                     "--jobs", "1"]) == 1
    assert [c[0] for c in calls] == ["eager", "reference"]  # eager's time is still unknown
    assert len((tmp_path / "out" / "history.jsonl").read_text().splitlines()) == 2
    assert "Nothing changed since the previous run" in (tmp_path / "out" / "report.md").read_text()


def test_report_status_counts_every_failure_kind():
    good = ok_run()
    good.results.tests = [t for t in good.results.tests
                          if t.outcome not in ("failed", "xpassed")]
    good.results.exit_status = 0
    assert report_run.report_status([good], None) == exits.OK
    assert report_run.report_status([ok_run()], None) == exits.FAILED
    assert report_run.report_status([good, crashed_run()], None) == exits.FAILED
    assert report_run.report_status([], None) == exits.FAILED
    good.results.exit_status = 5  # -k selected none of its tests
    assert report_run.report_status([good], "nothing") == exits.USAGE


@pytest.mark.parametrize("argv", [["check"], ["report", "--profile", "nope"], [],
                                  ["report", "--jobs", "0"], ["report", "--timeout", "-1"],
                                  ["bench", "--rounds", "many"]])
def test_bad_command_lines_are_usage_errors(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == exits.USAGE
    assert "embedspec-" not in capsys.readouterr().err  # names the CLI's flags, not pytest's


def test_help_lists_the_exit_statuses(capsys):
    for argv in (["--help"], ["report", "--help"], ["check", "--help"], ["bench", "--help"]):
        with pytest.raises(SystemExit) as exit_:
            cli.main(argv)
        assert exit_.value.code == 0
        out = capsys.readouterr().out
        for status in ("0", "1", "2", "64", "75", "130"):
            assert any(line.strip().startswith(status + " ") for line in out.splitlines()), \
                (argv, status)


def test_every_backend_that_documents_divergences_publishes_them_to_the_report():
    from embedspec.backends.divergences import Divergence
    from embedspec.backends.eager import EagerBackend
    from embedspec.backends.torch_nn import TorchNNBackend

    mine = Divergence("D-mine", "S0.2", "bool ids are accepted", (("embedding", "errors"),))

    class ThirdParty(EagerBackend):
        name = "thirdparty"

        def divergences(self):
            return (mine,)

    class Broken(EagerBackend):
        name = "broken"

        def divergences(self):
            raise RuntimeError("no list")

    entries = [_Entry("thirdparty"), _Entry("torch_nn"), _Entry("eager"), _Entry("broken")]
    for entry, backend in zip(entries, (ThirdParty(), TorchNNBackend(), EagerBackend(),
                                        Broken()), strict=True):
        entry.backend = backend
    published = report_run.documented_divergences(entries)
    assert published["thirdparty"] == (mine,)
    assert "D-index-dtype" in {d.id for d in published["torch_nn"]}
    assert set(published) == {"thirdparty", "torch_nn"}
