"""``distributed-native``: the distributed backend's collectives over the native kernels."""

from __future__ import annotations

from embedspec.backends.distributed import DistributedBackend


class DistributedNativeBackend(DistributedBackend):
    """:class:`DistributedBackend` whose per-rank work is the native backend's kernels."""

    name = "distributed-native"
    description = "torch.distributed (gloo on CPU, NCCL on CUDA) over the native kernels"

    def __init__(self) -> None:
        super().__init__(compute="native")
