"""The embedspec command: backend selection, the pytest command line, list and report."""

from __future__ import annotations

import json

import pytest
from embedspec.conformance import cli
from embedspec.conformance.report.model import BackendRun

from .synthetic import crashed_run, ok_run


class _Entry:
    def __init__(self, name: str, available: bool = True, reason: str = "") -> None:
        self.name, self.available, self.reason = name, available, reason
        self.spec, self.backend = f"pkg:{name}", None


ENTRIES = [_Entry("eager"), _Entry("reference"), _Entry("torch_nn"),
           _Entry("distributed", False, "torch.distributed has no gloo here"), _Entry("demo")]


def test_report_runs_every_available_backend_comparisons_first():
    selected, not_run = cli.select_backends(ENTRIES, None)
    assert [e.name for e in selected] == ["reference", "torch_nn", "eager", "demo"]
    assert not_run == [("distributed", "torch.distributed has no gloo here")]


def test_requested_backends_always_come_with_the_comparison_columns():
    selected, not_run = cli.select_backends(ENTRIES, "demo, distributed,nope")
    assert [e.name for e in selected] == ["reference", "torch_nn", "demo"]
    assert not_run == [("distributed", "torch.distributed has no gloo here"),
                       ("nope", "no backend of that name is registered")]


def test_comparison_backends_are_skipped_silently_when_not_registered():
    selected, not_run = cli.select_backends([_Entry("demo")], "demo")
    assert [e.name for e in selected] == ["demo"] and not_run == []


def test_check_runs_the_installed_package_isolated_from_local_config():
    args = cli._parser().parse_args([
        "check", "--backend", "eager", "--profile", "quick", "--seed", "5", "--results", "r.json",
        "--accept", "-k", "max_norm", "-x", "--", "--tb=short"])
    argv = cli.pytest_arguments(args)
    assert argv[:2] == ["-p", "embedspec.conformance.plugin"]
    assert argv[argv.index("--pyargs") + 1] == "embedspec.conformance"
    assert argv[argv.index("--rootdir") + 1] == str(cli.PACKAGE_DIR)
    assert "-c" in argv  # no pytest configuration of the current folder applies
    for flag, value in (("--embedspec-backend", "eager"), ("--embedspec-profile", "quick"),
                        ("--embedspec-seed", "5"), ("-k", "max_norm")):
        assert argv[argv.index(flag) + 1] == value
    assert argv[argv.index("--embedspec-results") + 1].endswith("r.json")
    assert "--embedspec-accept" in argv and "-x" in argv
    assert argv[-1] == "--tb=short"


def test_check_refuses_a_backend_that_cannot_load(capsys):
    assert cli.main(["check", "--backend", "no_such_backend"]) == 2
    assert "unknown backend 'no_such_backend'" in capsys.readouterr().err


def test_list_prints_every_registered_backend(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("eager", "reference", "torch_nn", "distributed"):
        assert any(line.split()[:1] == [name] for line in out.splitlines()), name


def test_report_writes_markdown_and_json_and_prints_progress(tmp_path, monkeypatch, capsys):
    fakes = {"reference": ok_run(), "eager": crashed_run()}
    monkeypatch.setattr(cli, "discover", lambda: [_Entry("reference"), _Entry("eager"),
                                                  _Entry("gpu", False, "needs CUDA")])
    calls = []

    def fake_run(name, **kwargs) -> BackendRun:
        calls.append((name, kwargs["profile"], kwargs["timeout_s"]))
        run = fakes[name]
        run.name = name
        return run

    monkeypatch.setattr(cli, "run_backend", fake_run)
    status = cli.main(["report", "--profile", "quick", "--timeout", "12", "--out",
                       str(tmp_path / "out")])
    assert status == 0
    assert calls == [("reference", "quick", 12.0), ("eager", "quick", 12.0)]
    out = capsys.readouterr().out
    assert "[1/2] reference: started" in out
    assert "[1/2] reference: finished in 4.0 s: 3 passed, 1 failed" in out
    assert "[2/2] eager: CRASH (the run was killed by SIGSEGV) in 2.0 s: 1 passed, 2 not run" \
        in out
    assert "not run: gpu: needs CUDA" in out
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| family" in md and "- gpu: needs CUDA" in md
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [c["backend"] for c in data["columns"]] == ["reference", "eager"]
    page = (tmp_path / "out" / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and 'class="matrix"' in page
    assert "first run recorded in history.jsonl" in page
    assert cli.main(["report", "--profile", "quick", "--out", str(tmp_path / "out")]) == 0
    assert len((tmp_path / "out" / "history.jsonl").read_text().splitlines()) == 2
    assert "Nothing changed since the previous run" in (tmp_path / "out" / "report.md").read_text()


@pytest.mark.parametrize("argv", [["check"], ["report", "--profile", "nope"], []])
def test_bad_command_lines_are_usage_errors(argv):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2


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
    published = cli.documented_divergences(entries)
    assert published["thirdparty"] == (mine,)
    assert "D-index-dtype" in {d.id for d in published["torch_nn"]}
    assert set(published) == {"thirdparty", "torch_nn"}
