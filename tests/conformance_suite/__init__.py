"""Tests of the conformance suite itself: its strategies, assertions and wrong backends."""
