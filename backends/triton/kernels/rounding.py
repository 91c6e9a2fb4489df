"""Rounding to a storage dtype exactly as torch rounds, on GPUs and in the interpreter.

Kernels compute in float32 or float64 and round once when they store. torch rounds a
float32 value to bfloat16 to the nearest even, and a float64 value to float16 or
bfloat16 through float32 (c10's half types are built from floats). Triton's interpreter
truncates float32 to bfloat16 (and has no bfloat16 arithmetic), so bfloat16 is rounded
here with integer operations, identically on every device.
"""

import triton
import triton.language as tl


@triton.jit
def round_to(x, dtype: tl.constexpr):
    """``x`` (float32 or float64) rounded to ``dtype`` as ``torch.Tensor.to`` rounds."""
    if dtype == tl.float64:
        return x.to(tl.float64)
    elif dtype == tl.bfloat16:
        x32 = x.to(tl.float32)
        bits = x32.to(tl.uint32, bitcast=True)
        rounded = bits + (0x7FFF + ((bits >> 16) & 1))
        rounded = tl.where(x32 != x32, bits | 0x400000, rounded)  # NaN stays a quiet NaN
        return (rounded >> 16).to(tl.uint16).to(tl.bfloat16, bitcast=True)
    else:
        return x.to(tl.float32).to(dtype)


@triton.jit
def sqrt(x):
    """The correctly rounded square root of float32 or float64 ``x``, as torch's."""
    if x.dtype == tl.float64:
        return tl.sqrt(x)
    else:
        return tl.sqrt_rn(x)
