"""Timing: clocks, and interleaved rounds of every implementation of a scenario.

Each implementation is a zero-argument *step* (one call on the next ids). After two
warm-up calls each, a step's block size is calibrated (from the fastest of three single
calls) so that one block lasts at least ``min_block_s``; then, for ``rounds`` rounds,
every step times one block, in an order shuffled afresh each round (seeded), so that
load from other processes, the machine's thermal state and the predecessor whose data
is left in cache bias no implementation. Before each block the clock's
:meth:`Clock.prepare` runs, untimed: on CPU it writes a buffer twice the size of the
last-level cache, so every block starts from the same cold cache whatever ran before
it (the implementations share their weights). A sample is a block's time per call;
the statistics are the min, median and max over the rounds. Every ratio (speedup,
roofline fraction, A/A) uses the min, :data:`RATIO_STATISTIC`: load from other processes
only ever adds time, so an implementation's fastest round is the least disturbed
estimate of its cost, and on a shared machine it moves far less between runs than the
median does.

Clocks:

* ``wall``: ``time.perf_counter`` (CPU, every thread torch uses);
* ``cpu``: ``time.process_time``, this process's CPU time, meant for one thread
  (``--cpu-time`` sets ``torch.set_num_threads(1)``): the work done, not the latency,
  steady on a machine shared with other work;
* ``cuda``: CUDA events around the block, after a synchronisation; the ``cuda-cold``
  variant times each call alone, after writing a buffer twice the size of the L2
  cache, so that no call finds its predecessor's data in cache.

The CUDA clocks are written for GPU machines; they cannot run where there is no GPU.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

Step = Callable[[], object]
#: The statistic of :class:`Stats` that ratios use.
RATIO_STATISTIC = "min"
#: Single calls whose fastest sets the block size (one call may have been descheduled).
CALIBRATION_CALLS = 3
#: Most calls in one block, however fast a call is.
MAX_BLOCK = 10_000


@dataclass(frozen=True)
class Stats:
    """Seconds per call over the rounds."""

    min: float
    median: float
    max: float
    rounds: int
    calls_per_round: int

    @property
    def best(self) -> float:
        """The statistic ratios use (:data:`RATIO_STATISTIC`)."""
        return getattr(self, RATIO_STATISTIC)

    @classmethod
    def of(cls, samples: list[float], calls_per_round: int) -> Stats:
        return cls(min(samples), statistics.median(samples), max(samples), len(samples),
                   calls_per_round)


#: Where Linux states the last-level cache's size, and the size assumed when it does not.
LLC_SIZE_FILE = Path("/sys/devices/system/cpu/cpu0/cache/index3/size")
DEFAULT_LLC_BYTES = 32 * 2 ** 20


def last_level_cache_bytes() -> int:
    """The CPU's last-level cache size (``32K``/``64M`` as Linux writes it), or 32 MiB."""
    try:
        text = LLC_SIZE_FILE.read_text().strip().upper()
    except OSError:
        return DEFAULT_LLC_BYTES
    scale = {"K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30}.get(text[-1:], 1)
    digits = text.rstrip("KMG")
    return int(digits) * scale if digits.isdigit() else DEFAULT_LLC_BYTES


class Clock:
    """Seconds per call of ``number`` back-to-back calls of a step."""

    name = "wall"

    def __init__(self, timer: Callable[[], float] = time.perf_counter) -> None:
        self.timer = timer
        self._evict = torch.empty(2 * last_level_cache_bytes(), dtype=torch.uint8)

    def prepare(self) -> None:
        """Untimed, before each block: evict the caches (write a buffer twice the LLC)."""
        self._evict.fill_(1)

    def block(self, step: Step, number: int) -> float:
        start = self.timer()
        for _ in range(number):
            step()
        return (self.timer() - start) / number


class CpuTimeClock(Clock):
    name = "cpu"

    def __init__(self) -> None:
        super().__init__(time.process_time)


class CudaEventClock(Clock):
    """CUDA events around the calls; ``cold``: each call alone, after an L2 flush."""

    def __init__(self, device: torch.device, cold: bool = False) -> None:
        self.timer = time.perf_counter
        self.device = device
        self.cold = cold
        self.name = "cuda-cold" if cold else "cuda"
        l2 = getattr(torch.cuda.get_device_properties(device), "L2_cache_size", 0) or 2 ** 26
        self.flush_buffer = torch.empty(2 * l2, dtype=torch.uint8, device=device)

    def prepare(self) -> None:
        """Nothing: the warm variant keeps the L2 as the previous block left it."""

    def block(self, step: Step, number: int) -> float:
        torch.cuda.synchronize(self.device)
        if not self.cold:
            return self._events(step, number) / number
        total = 0.0
        for _ in range(number):
            self.flush_buffer.zero_()
            total += self._events(step, 1)
        return total / number

    def _events(self, step: Step, number: int) -> float:
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(number):
            step()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3


def make_clock(device: torch.device, *, cpu_time: bool = False, cold: bool = False) -> Clock:
    """The clock for ``device``: wall or CPU time on CPU, CUDA events on CUDA.
    ``ValueError`` for an option the device does not have."""
    if device.type == "cuda":
        if cpu_time:
            raise ValueError("--cpu-time measures CPU work; use it with --device cpu")
        return CudaEventClock(device, cold=cold)
    if cold:
        raise ValueError("--cold (L2 flushed between calls) is a CUDA timing variant")
    return CpuTimeClock() if cpu_time else Clock()


def calls_per_block(seconds_per_call: float, min_block_s: float) -> int:
    """Calls that make a block of at least ``min_block_s``."""
    if seconds_per_call <= 0:
        return MAX_BLOCK
    return max(1, min(MAX_BLOCK, math.ceil(min_block_s / seconds_per_call)))


def interleaved(steps: Mapping[str, Step], clock: Clock, *, rounds: int, min_block_s: float,
                after_block: Mapping[str, Callable[[], object]] | None = None,
                seed: int = 0) -> dict[str, Stats]:
    """Stats of every step, timed in interleaved rounds (see the module docstring).

    ``after_block[name]``, if given, runs untimed after each block of ``name`` (to drop
    the gradients the block left)."""
    after_block = after_block or {}
    names = list(steps)
    for name in names:
        for _ in range(2):
            steps[name]()
        after_block.get(name, _nothing)()
    number = {}
    for name in names:
        single = min(clock.block(steps[name], 1) for _ in range(CALIBRATION_CALLS))
        number[name] = calls_per_block(single, min_block_s)
        after_block.get(name, _nothing)()
    samples: dict[str, list[float]] = {name: [] for name in names}
    order = random.Random(seed)
    for _ in range(rounds):
        for name in order.sample(names, len(names)):
            clock.prepare()
            samples[name].append(clock.block(steps[name], number[name]))
            after_block.get(name, _nothing)()
    return {name: Stats.of(samples[name], number[name]) for name in names}


def _nothing() -> None:
    return None
