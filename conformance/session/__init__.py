"""One run of the conformance suite: its profile, the worlds it uses, its fixtures, its
expected failures and the results it writes."""
