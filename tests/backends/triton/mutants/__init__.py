"""Deliberately wrong Triton backends: the real backends with one kernel launch swapped,
each caught by the quick conformance profile in its own feature
(``tests/backends/triton/test_mutants.py``)."""

MUTANT_NAMESPACE = "embedspec_triton_mutants"
