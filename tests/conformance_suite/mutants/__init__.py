"""Deliberately wrong backends: each is the eager backend with exactly one spec rule broken.

They exist to prove that the conformance suite catches real bugs:
``tests/conformance_suite/test_mutants_caught.py`` runs the suite on each and checks
that it fails, in the feature whose rule is broken. They are test material, never
backends to use. Each module holds one backend.
"""
