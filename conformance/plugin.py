"""The pytest plugin that turns the conformance tests into a check of one backend.

Loaded by ``conformance/conftest.py`` (or with ``-p embedspec.conformance.plugin``,
which ``embedspec check`` passes so that the options are known before collection).
It provides

* the ``--embedspec-*`` options (see ``docs/conformance.md``);
* the fixtures ``target`` (what every check runs against), ``backend``,
  ``backend_spec``, ``device``, ``profile``, ``seed``, ``runner`` and ``worlds`` (in
  :mod:`embedspec.conformance.session.fixtures`);
* the ``spec(family, feature)`` marker every conformance test carries;
* capability skips: a test whose (family, feature, dtype, device) the backend does
  not declare is skipped as ``unsupported: family / feature / dtype / device``;
* world eligibility: each test gets the worlds of the run its (family, feature) may
  use (``worlds`` fixture, :mod:`embedspec.conformance.session.worlds`); a test no
  world fits is skipped with the reason;
* expected failures from the backend's expectations file (strict: an expected
  failure that passes fails the run), with stale entries reported;
* the hypothesis profile of the chosen run profile and the seed of every
  hypothesis test, plus ``torch.manual_seed(seed)`` before every test, and one torch
  intra-op thread (:data:`TORCH_THREADS`); the tests of a feature the profile caps
  (``feature_examples``) run that many examples;
* the results JSON (``--embedspec-results``) and ``--embedspec-accept``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import _pytest
import hypothesis
import pluggy
import pytest
import torch
from embedspec.backends.contract import FEATURES, Backend, dtype_name
from embedspec.backends.registry import BUILTIN_BACKENDS, BackendLoadError, load_backend
from embedspec.conformance.checks.case import World
from embedspec.conformance.session import expectations as expect
from embedspec.conformance.session.profiles import (
    DEFAULT_PROFILE,
    PROFILES,
    Profile,
    get_profile,
    register_hypothesis_profiles,
)
from embedspec.conformance.session.results import (
    UNEXPECTED_OUTCOMES,
    ResultsWriter,
    RunHeader,
    RunResults,
    TestRef,
    TestResult,
    machine,
    tolerance_policy,
    versions,
)
from embedspec.conformance.session.worlds import eligible_worlds, no_world_reason, run_worlds

if TYPE_CHECKING:
    from _pytest._code.code import Traceback

#: The session fixtures live in their own module, registered with this plugin.
pytest_plugins = ("embedspec.conformance.session.fixtures",)

#: The folder of the ``embedspec.conformance`` package: test ids are relative to it.
PACKAGE_DIR = Path(__file__).resolve().parent
UNSUPPORTED_PREFIX = "unsupported: "
DEFAULT_BACKEND = "eager"
#: torch's intra-op threads in a conformance run (as in every distributed worker): the
#: cases are tiny, and an operator that splits even a few rows across threads (the
#: CPU LayerNorm backward does) waits milliseconds for a second thread on a busy
#: machine.
TORCH_THREADS = 1


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("embedspec", "embedspec conformance")
    group.addoption("--embedspec-backend", default=DEFAULT_BACKEND, metavar="SPEC",
                    help="backend name from the registry, or 'package.module:attr' "
                         f"(default: {DEFAULT_BACKEND})")
    group.addoption("--embedspec-profile", default=DEFAULT_PROFILE, choices=list(PROFILES),
                    help=f"how hard to search (default: {DEFAULT_PROFILE})")
    group.addoption("--embedspec-device", default="cpu", choices=["cpu", "cuda"],
                    help="device the layers are built on (default: cpu)")
    group.addoption("--embedspec-seed", default=0, type=int, metavar="INT",
                    help="seed of every hypothesis test and of torch (default: 0)")
    group.addoption("--embedspec-results", default=None, metavar="PATH",
                    help="write per-test results as JSON to PATH")
    group.addoption("--embedspec-expectations", default=None, metavar="PATH",
                    help="the expectations file (default: the backend's own, else "
                         "conformance/expectations/<backend>.json)")
    group.addoption("--embedspec-accept", action="store_true", default=False,
                    help="rewrite the expectations file from this run's failures")
    group.addoption("--embedspec-external", default=None, metavar="HOST:PORT[:NPROCS]",
                    help="multi-process backends: drive workers launched by torchrun that "
                         "connect to HOST:PORT, instead of local worker pools")


@dataclass
class _ItemInfo:
    """What the plugin decided about one collected test."""

    ref: TestRef
    problem: str | None = None
    unsupported: bool = False
    worlds: tuple[World, ...] = ()
    expectation: expect.Expectation | None = None
    phases: list[tuple[str, pytest.TestReport, pytest.ExceptionInfo | None]] = field(
        default_factory=list)


@dataclass
class ConformanceRun:
    """The state of one conformance session, kept in ``config.stash``."""

    spec: str
    backend: Backend
    profile: Profile
    device: str
    seed: int
    expectations: expect.Expectations | None
    expectations_path: Path | None
    accept: bool
    writer: ResultsWriter | None
    header: RunHeader
    worlds: tuple[World, ...] = ()
    started: float = field(default_factory=time.monotonic)
    collected: dict[str, TestRef] = field(default_factory=dict)
    results: dict[str, TestResult] = field(default_factory=dict)
    stale: list[str] = field(default_factory=list)
    #: tests whose spec marker is missing or wrong: suite bugs, never accepted
    invalid: set[str] = field(default_factory=set)
    accept_summary: expect.AcceptSummary | None = None
    results_written: Path | None = None


_RUN = pytest.StashKey[ConformanceRun]()
_ITEM = pytest.StashKey[_ItemInfo]()


def conformance_run(config: pytest.Config) -> ConformanceRun:
    return config.stash[_RUN]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "spec(family, feature): the (family, feature) of embedspec.backends.contract.FEATURES "
        "a conformance test checks; decides capability skips and report rows",
    )
    if _RUN in config.stash or config.getoption("help", False):
        return
    register_hypothesis_profiles()
    config.stash[_RUN] = run = _start_run(config)
    hypothesis.settings.load_profile(run.profile.hypothesis_profile)
    torch.manual_seed(run.seed)
    torch.set_num_threads(TORCH_THREADS)


def _start_run(config: pytest.Config) -> ConformanceRun:
    spec = config.getoption("embedspec_backend")
    try:
        backend = load_backend(spec)
    except BackendLoadError as exc:
        raise pytest.UsageError(f"embedspec: cannot use backend {spec!r}: {exc}") from None
    device = config.getoption("embedspec_device")
    if device == "cuda" and not torch.cuda.is_available():
        raise pytest.UsageError("embedspec: --embedspec-device cuda, but CUDA is not available")
    profile = get_profile(config.getoption("embedspec_profile"))
    seed = config.getoption("embedspec_seed")
    accept = config.getoption("embedspec_accept")
    path = _expectations_path(backend, config.getoption("embedspec_expectations"), accept)
    expectations = None
    if path is not None and path.exists():
        try:
            expectations = expect.load_expectations(path)
        except expect.ExpectationsError as exc:
            raise pytest.UsageError(f"embedspec: {exc}") from None
        if expectations.backend != backend.name:
            raise pytest.UsageError(
                f"embedspec: {path} lists the expectations of backend "
                f"{expectations.backend!r}, not of {backend.name!r}")
    elif config.getoption("embedspec_expectations") and not accept:
        raise pytest.UsageError(f"embedspec: expectations file {path} does not exist")
    header = RunHeader(
        backend={"name": backend.name, "spec": spec, "version": str(backend.version),
                 "description": backend.description, "multi_process": backend.multi_process},
        profile=profile.name, seed=seed, device=device, versions=versions(),
        machine=machine(device), tolerance=tolerance_policy(),
        expectations=str(path) if expectations is not None else None,
    )
    results_path = config.getoption("embedspec_results")
    writer = ResultsWriter(results_path) if results_path else None
    if writer:
        writer.header(header)
    worlds = run_worlds(backend, profile, device=device,
                        external=config.getoption("embedspec_external"))
    return ConformanceRun(spec, backend, profile, device, seed, expectations, path, accept,
                          writer, header, worlds)


def _expectations_path(backend: Backend, option: str | None, accept: bool) -> Path | None:
    if option:
        return Path(option)
    if backend.expectations_path is not None:
        return Path(backend.expectations_path)
    builtin = expect.EXPECTATIONS_DIR / f"{backend.name}.json"
    if builtin.exists() or backend.name in BUILTIN_BACKENDS:
        return builtin
    if accept:
        raise pytest.UsageError(
            f"embedspec: --embedspec-accept needs --embedspec-expectations PATH: backend "
            f"{backend.name!r} declares no expectations_path")
    return None


# -- collection: ids, capability skips, expectations, seeds -------------------------------


def conformance_test_id(item: pytest.Item) -> str:
    """The node id relative to the conformance package, e.g.
    ``test_embedding_max_norm.py::test_renorm_rows[float32]``."""
    try:
        rel = item.path.resolve().relative_to(PACKAGE_DIR).as_posix()
    except ValueError:
        return item.nodeid
    _, sep, rest = item.nodeid.partition("::")
    return rel + sep + rest


def _describe_item(item: pytest.Item) -> tuple[TestRef, str | None, int]:
    """The test's (family, feature, dtype), the problem with its marker, if any, and the
    fewest model-parallel ranks it needs (the marker's ``min_ranks``, default 1)."""
    callspec = getattr(item, "callspec", None)
    dtype = callspec.params.get("dtype", "float32") if callspec else "float32"
    if isinstance(dtype, torch.dtype):
        dtype = dtype_name(dtype)
    tid = conformance_test_id(item)
    marker = item.get_closest_marker("spec")
    if marker is None:
        return TestRef(tid, None, None, str(dtype)), (
            "a conformance test must carry @pytest.mark.spec(family, feature)"), 1
    args = dict(zip(("family", "feature"), marker.args, strict=False)) | marker.kwargs
    family, feature = args.get("family"), args.get("feature")
    ref = TestRef(tid, family, feature, str(dtype))
    min_ranks = args.get("min_ranks", 1)
    if family not in FEATURES:
        return ref, (f"@pytest.mark.spec: unknown family {family!r}; known: "
                     f"{', '.join(FEATURES)}"), min_ranks
    if feature not in FEATURES[family]:
        return ref, (f"@pytest.mark.spec: unknown feature {feature!r} of family {family!r}; "
                     f"known: {', '.join(FEATURES[family])}"), min_ranks
    if not isinstance(min_ranks, int) or min_ranks < 1:
        return ref, f"@pytest.mark.spec: min_ranks must be an int >= 1, got {min_ranks!r}", 1
    return ref, None, min_ranks


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Runs before -k/-m deselection, so stale detection sees every test."""
    run = conformance_run(config)
    capabilities = run.backend.capabilities()
    for item in items:
        ref, problem, min_ranks = _describe_item(item)
        info = _ItemInfo(ref, problem)
        item.stash[_ITEM] = info
        run.collected[ref.id] = ref
        if problem is not None:
            run.invalid.add(ref.id)
        elif not capabilities.supports(ref.family, ref.feature, ref.dtype, run.device):
            info.unsupported = True
            item.add_marker(pytest.mark.skip(
                reason=f"{UNSUPPORTED_PREFIX}{ref.family} / {ref.feature} / {ref.dtype} / "
                       f"{run.device}"))
        elif _place_in_worlds(item, info, run, min_ranks) and run.expectations is not None:
            info.expectation = run.expectations.get(ref.id)
            if info.expectation is not None:
                item.add_marker(pytest.mark.xfail(
                    reason=f"expected failure: {info.expectation.reason}", strict=True))
        function = getattr(getattr(item, "obj", None), "__func__", getattr(item, "obj", None))
        if getattr(function, "is_hypothesis_test", False):
            hypothesis.seed(run.seed)(function)
            _cap_examples(function, run, ref.feature)
    if run.expectations is not None:
        run.stale = run.expectations.stale(run.collected)


#: The attribute marking a test function whose examples :func:`_cap_examples` capped
#: (hypothesis refuses a second settings decorator on one function).
_CAPPED = "_embedspec_capped_examples"


def _cap_examples(function: object, run: ConformanceRun, feature: str | None) -> None:
    """Give a property test of a feature the profile caps (``feature_examples``) its
    capped number of examples, once per test function."""
    examples = run.profile.examples_of(feature)
    current = hypothesis.settings.default
    if examples >= current.max_examples or hasattr(function, _CAPPED):
        return
    hypothesis.settings(current, max_examples=examples)(function)
    setattr(function, _CAPPED, examples)


def _place_in_worlds(item: pytest.Item, info: _ItemInfo, run: ConformanceRun,
                     min_ranks: int) -> bool:
    """Give the test its worlds; False (and a skip with the reason) when none fits."""
    ref = info.ref
    info.worlds = eligible_worlds(run.worlds, ref.family, ref.feature, min_ranks=min_ranks)
    if info.worlds:
        return True
    item.add_marker(pytest.mark.skip(reason=no_world_reason(ref.family, ref.feature,
                                                            min_ranks)))
    return False


def item_worlds(item: pytest.Item) -> tuple[World, ...]:
    """The worlds the plugin gave a collected test."""
    info = item.stash.get(_ITEM, None)
    if info is None or not info.worlds:
        raise RuntimeError(f"{item.nodeid}: the embedspec plugin gave this test no world")
    return info.worlds


def pytest_collection_finish(session: pytest.Session) -> None:
    run = conformance_run(session.config)
    if run.writer:
        run.writer.collected([item.stash[_ITEM].ref for item in session.items
                              if _ITEM in item.stash])


def pytest_runtest_setup(item: pytest.Item) -> None:
    info = item.stash.get(_ITEM, None)
    if info is not None and info.problem is not None:
        pytest.fail(info.problem, pytrace=False)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    del nextitem
    run = conformance_run(item.config)
    info = item.stash.get(_ITEM, None)
    if run.writer and info is not None:
        run.writer.started(info.ref.id)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo) -> Iterator[None]:
    report = yield
    info = item.stash.get(_ITEM, None)
    if info is None:
        return report
    info.phases.append((call.when, report, call.excinfo))
    if call.when == "teardown":
        run = conformance_run(item.config)
        result = _result(info, run.device)
        run.results[info.ref.id] = result
        if run.writer:
            run.writer.result(result)
        info.phases.clear()
    return report


def _result(info: _ItemInfo, device: str) -> TestResult:
    """One test's outcome from its setup, call and teardown reports."""
    outcome, message, failure, notes, duration = None, "", "", [], 0.0
    for when, rep, excinfo in info.phases:
        exc = excinfo.value if excinfo is not None else None
        duration += rep.duration
        if outcome is not None and not rep.failed:
            continue
        if rep.skipped and hasattr(rep, "wasxfail"):
            outcome, message = "xfailed", info.expectation.reason if info.expectation else ""
            failure, notes = _failure_text(excinfo, rep), _notes(exc)
        elif rep.skipped:
            outcome = "unsupported" if info.unsupported else "skipped"
            message = _skip_reason(rep)
        elif rep.passed and when == "call":
            outcome = "xpassed" if hasattr(rep, "wasxfail") else "passed"
        elif rep.failed and when == "call" and exc is None and info.expectation is not None:
            outcome = "xpassed"  # strict xfail that passed
            message = f"expected to fail ({info.expectation.reason}) but passed"
        elif rep.failed and outcome in (None, "passed", "xpassed"):
            outcome = "failed" if when == "call" else "error"
            message = _first_line(exc, rep)
            failure, notes = _failure_text(excinfo, rep), _notes(exc)
    return TestResult(
        id=info.ref.id, family=info.ref.family, feature=info.ref.feature, dtype=info.ref.dtype,
        device=device, outcome=outcome or "passed", duration_s=round(duration, 4),
        message=message, failure=failure, notes=notes,
    )


def _failure_text(excinfo: pytest.ExceptionInfo | None, rep: pytest.TestReport) -> str:
    """A short traceback with the exception's notes, whatever ``--tb`` the terminal uses,
    without the frames of pytest and pluggy (nor hidden ones)."""
    if excinfo is None or isinstance(excinfo.value, pytest.fail.Exception):
        return rep.longreprtext
    return str(excinfo.getrepr(style="short", chain=True, tbfilter=_own_frames))


#: Folders whose frames a failure's traceback leaves out.
_FRAMEWORK_DIRS = tuple(str(Path(m.__file__).resolve().parent) for m in (pytest, pluggy))
_FRAMEWORK_DIRS += (str(Path(_pytest.__file__).resolve().parent),)


def _own_frames(excinfo: pytest.ExceptionInfo) -> Traceback:
    return excinfo.traceback.filter(excinfo).filter(
        lambda entry: not str(entry.path).startswith(_FRAMEWORK_DIRS))


def _first_line(exc: BaseException | None, rep: pytest.TestReport) -> str:
    text = f"{type(exc).__name__}: {exc}" if exc is not None else rep.longreprtext
    text = text.strip()
    return text.splitlines()[0] if text else "failed"


def _skip_reason(rep: pytest.TestReport) -> str:
    longrepr = rep.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _notes(exc: BaseException | None) -> list[str]:
    """The notes of ``exc`` and of the exceptions it groups, in order, without repeats."""
    found: list[str] = []
    stack = [exc] if exc is not None else []
    while stack:
        e = stack.pop(0)
        for note in getattr(e, "__notes__", ()):
            if note not in found:
                found.append(str(note))
        stack.extend(getattr(e, "exceptions", ()))
    return found


# -- session end: results, accept, summary ------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    run = conformance_run(session.config)
    if run.accept and run.expectations_path is not None:
        observed = {
            tid: expect.Observation(r.outcome in ("failed", "error", "xfailed"), r.message)
            for tid, r in run.results.items()
            if r.outcome not in ("unsupported", "skipped") and tid not in run.invalid
        }
        updated, run.accept_summary = expect.accept(
            run.expectations, run.backend.name, observed, run.collected)
        expect.write_expectations(updated, run.expectations_path)
    if run.writer:
        results = RunResults(
            header=run.header, tests=list(run.results.values()), stale_expectations=run.stale,
            duration_s=round(time.monotonic() - run.started, 3), exit_status=int(exitstatus),
        )
        run.writer.finish(results)
        run.results_written = run.writer.path


def pytest_report_header(config: pytest.Config) -> list[str]:
    run = conformance_run(config)
    h = run.header
    lines = [
        f"embedspec: backend {h.backend['name']} {h.backend['version']} ({run.spec}), "
        f"profile {h.profile} (max_examples={run.profile.max_examples}), seed {h.seed}, "
        f"device {h.device}",
    ]
    if h.expectations:
        lines.append(f"embedspec: expectations {h.expectations}")
    return lines


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    del exitstatus
    run = conformance_run(config)
    tr = terminalreporter
    tr.section("embedspec conformance")
    counts = RunResults(run.header, list(run.results.values())).counts()
    tr.write_line(f"backend {run.backend.name}: " + (", ".join(
        f"{n} {outcome}" for outcome, n in counts.items() if n) or "no tests ran"))
    unexpected = [r for r in run.results.values() if r.outcome in UNEXPECTED_OUTCOMES]
    xpassed = [r.id for r in unexpected if r.outcome == "xpassed"]
    if xpassed:
        tr.write_line(f"expected failures that passed ({len(xpassed)}); remove them from "
                      f"{run.expectations_path} or run with --embedspec-accept:", red=True)
        for tid in xpassed:
            tr.write_line(f"  {tid}")
    if run.stale:
        tr.write_line(f"stale expectations in {run.expectations_path} ({len(run.stale)}): "
                      "these tests no longer exist", yellow=True)
        for tid in run.stale:
            tr.write_line(f"  {tid}")
    if run.accept_summary is not None:
        tr.write_line(f"expectations written to {run.expectations_path}: {run.accept_summary}")
    if run.results_written is not None:
        tr.write_line(f"results written to {run.results_written}")
