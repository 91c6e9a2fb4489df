"""Tests of the distributed backend and of the multi-process runner."""
