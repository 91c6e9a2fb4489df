"""A pytest plugin for runs of the conformance suite on the mutants.

``-p tests.conformance_suite.mutants.selection`` adds two options and one behaviour:

* ``--spec-features family/feature,...`` runs only the tests whose
  ``@pytest.mark.spec(family, feature)`` is listed (the rest are deselected);
* ``--spec-dtypes name,...`` runs only those ``dtype`` parametrizations (tests without
  a ``dtype`` parameter always run);
* hypothesis stops a failing property at its first counterexample (no shrinking): a
  mutant only has to be caught, not minimised, and shrinking is most of a failing
  run's time.
"""

from __future__ import annotations

import hypothesis
import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("embedspec-mutants", "selection for runs on the mutants")
    group.addoption("--spec-features", default=None, metavar="FAMILY/FEATURE,...",
                    help="run only the tests tagged with one of these (family, feature)")
    group.addoption("--spec-dtypes", default=None, metavar="NAME,...",
                    help="run only these dtype parametrizations")


def _listed(text: str | None) -> set[str] | None:
    return None if text is None else {part.strip() for part in text.split(",") if part.strip()}


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    first_failure = hypothesis.settings(
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.reuse, hypothesis.Phase.generate])
    hypothesis.settings.register_profile("embedspec-mutants", first_failure)
    hypothesis.settings.load_profile("embedspec-mutants")


def _spec(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("spec")
    if marker is None or len(marker.args) < 2:
        return None
    return f"{marker.args[0]}/{marker.args[1]}"


def _dtype(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return None if callspec is None else callspec.params.get("dtype")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    features = _listed(config.getoption("spec_features"))
    dtypes = _listed(config.getoption("spec_dtypes"))
    keep, drop = [], []
    for item in items:
        wanted = (features is None or _spec(item) in features) and \
                 (dtypes is None or _dtype(item) in (None, *dtypes))
        (keep if wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
