"""The memory one call allocates: the peak, above what was allocated before the call,
of the bytes the call's allocations hold at once (its output included, since it is
still alive when the call returns).

* CUDA: ``torch.cuda.reset_peak_memory_stats``, then ``max_memory_allocated`` minus
  the bytes allocated before the call (the caching allocator's own accounting).
* CPU: torch's CPU allocator keeps no statistics, so the call runs once under
  ``torch.profiler`` with ``profile_memory=True``; its allocation and free events,
  replayed in order, give the running total and its peak. Only allocations made
  through torch's allocator count (tensors; not Python objects or a library's own
  ``malloc``). ``None`` when the profiler does not expose the events.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator

import torch


def peak_bytes(step: Callable[[], object], device: torch.device) -> int | None:
    """Peak bytes allocated during one call of ``step`` (see the module docstring)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        result = step()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - before
        del result
        return peak
    return _cpu_peak(step)


def _cpu_peak(step: Callable[[], object]) -> int | None:
    from torch.profiler import ProfilerActivity, profile

    try:
        with _native_stderr_silenced(), \
                profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            result = step()
        events = prof.profiler.kineto_results.events()  # type: ignore[union-attr]
        changes = sorted((e.start_ns(), e.nbytes()) for e in events if e.name() == "[memory]")
    except (AttributeError, RuntimeError):
        return None
    del result
    total = peak = 0
    for _, nbytes in changes:
        total += nbytes
        peak = max(peak, total)
    return peak


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Route file descriptor 2 to the null device: the profiler's native start/stop
    lines would otherwise interleave with the bench's table."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def available_bytes(device: torch.device) -> int | None:
    """Free memory of ``device``: CUDA's free bytes, or Linux's ``MemAvailable``; None
    when unknown."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def needed_bytes(weight_bytes: int, output_bytes: int, *, copies: int,
                 dense_gradient: bool) -> int:
    """A scenario's footprint: ``copies`` tables alive at once (the backend's, one being
    built, per-implementation copies of a mutated table), a dense gradient for the
    implementation being timed and the reference's, and a few outputs."""
    return weight_bytes * (copies + (2 if dense_gradient else 0)) + 8 * output_bytes
