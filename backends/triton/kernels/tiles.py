"""Tile sizes of the kernels, per device kind.

On a GPU, tiles are sized for occupancy (at most 128 columns, about 4096 elements per
program). Under the interpreter every program is a Python call and every tile a numpy
array, so tiles are as large as possible (up to 16384 elements) and a call on the
suite's small tensors is a single program.
"""

import triton

from ..runtime import interpreting

GPU_MAX_COLUMNS = 128
GPU_TILE_ELEMENTS = 4096
INTERPRETER_TILE_ELEMENTS = 1 << 14


MAX_BYTES = 16


def pow2(n: int) -> int:
    """The smallest power of two ``>= max(n, 1)``."""
    return triton.next_power_of_2(max(int(n), 1))


def _static(n: int, cap: int) -> int:
    """``n`` as an int. A size ``torch.compile`` traces symbolically is specialised when
    kernels are compiled (their tile sizes are compile-time constants); under the
    interpreter traced launches never run, so ``cap`` stands in."""
    if isinstance(n, int):
        return n
    return cap if interpreting() else int(n)


def column_block(dim: int) -> int:
    """Columns per tile for rows of ``dim`` columns; depends on ``dim`` only, so every
    kernel reduces a row in the same order whatever the number of rows."""
    cap = INTERPRETER_TILE_ELEMENTS if interpreting() else GPU_MAX_COLUMNS
    return min(pow2(_static(dim, cap)), cap)


def byte_block(width: int) -> int:
    """Bytes per tile for packed rows of ``width`` bytes (each byte is 8 columns)."""
    return min(pow2(_static(width, MAX_BYTES)), MAX_BYTES)


def row_block(rows: int, block_d: int) -> int:
    """Rows (or positions) per tile beside ``block_d`` columns. A symbolic count (a
    data-dependent size while ``torch.compile`` traces) gets the full budget, so tracing
    never guards on it."""
    budget = max(1, (INTERPRETER_TILE_ELEMENTS if interpreting() else GPU_TILE_ELEMENTS)
                 // block_d)
    if not isinstance(rows, int):
        return budget
    return min(pow2(rows), budget)


def whole_row_block(dim: int) -> int:
    """Columns per tile for kernels that hold a whole row (layer norm): ``pow2(dim)``."""
    return pow2(_static(dim, 1))
