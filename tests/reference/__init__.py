"""Tests of the reference implementation (embedspec.reference)."""
