"""``torch.library.opcheck`` on every ``embedspec`` operator: schema, fake kernel, autograd
registration and AOT dispatch, with and without inputs that require grad, in every dtype."""

from __future__ import annotations

import pytest
import torch
from embedspec.backends.native import library

from .samples import DTYPES, Sample, samples

library.load()

OPERATORS = sorted({s.op for s in samples(torch.float32)})
CASES = [(dtype, sample) for dtype in DTYPES for sample in samples(dtype)]


def test_every_operator_has_samples() -> None:
    defined = {name for name in dir(torch.ops.embedspec) if not name.startswith("_")
               and isinstance(getattr(torch.ops.embedspec, name), torch._ops.OpOverloadPacket)}
    assert defined, "no embedspec operator is registered"
    assert defined <= set(OPERATORS), f"operators without samples: {defined - set(OPERATORS)}"


@pytest.mark.parametrize(("dtype", "sample"), CASES,
                         ids=[f"{str(d)[6:]}-{s}" for d, s in CASES])
def test_opcheck(dtype: torch.dtype, sample: Sample) -> None:
    op = getattr(torch.ops.embedspec, sample.op).default
    torch.library.opcheck(op, sample.args)
