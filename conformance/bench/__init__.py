"""Performance gates: ``embedspec bench``.

A backend's layers are timed on scenarios from real models and workloads
(:mod:`.scenarios`), interleaved in rounds with the baselines (``torch.nn``,
``torch.compile`` of it, the ``eager`` backend) on the same weights and ids
(:mod:`.timing`, :mod:`.candidates`), after their outputs were checked against the
reference (:mod:`.guards`). Each time is related to the bytes the operation must move
and to a copy of as many bytes timed in the same run (:mod:`.roofline`); an A/A pair
gives the run's noise band (:mod:`.noise`); the backend's gates (:mod:`.gates`) decide
the exit status. :mod:`.command` is the CLI, :mod:`.render` the tables.

Submodules are imported on use, so that ``import embedspec.conformance.bench`` stays
cheap.
"""

#: The baselines every backend is timed against, in the order of the table's columns.
BASELINES = ("torch.nn", "torch.compile", "eager")
