"""Loads the conformance plugin (options, fixtures, markers, capability skips, expectations,
results) for the tests of this package; see embedspec.conformance.plugin."""

pytest_plugins = ("embedspec.conformance.plugin",)
