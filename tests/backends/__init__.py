"""Tests of the backends shipped with embedspec."""
