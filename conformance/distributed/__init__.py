"""Running conformance cases on multi-process backends.

:class:`PoolRunner` keeps pools of worker processes (local, on 127.0.0.1) or
drives workers launched by ``torchrun`` (on any nodes), ships each case to every
process of its world and collects their outcomes. See docs/distributed.md.
"""

from embedspec.conformance.distributed.pool import WorkerFailure
from embedspec.conformance.distributed.runner import PoolRunner, parse_external

__all__ = ["PoolRunner", "WorkerFailure", "parse_external"]
