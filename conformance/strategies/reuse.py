"""Strategy factories that build each strategy once.

The case strategies draw their parts from strategies made on the spot (a table of the
drawn shape, the ids of the drawn count, ...), so a plain factory builds new strategy
objects for every example, and hypothesis validates each new object and walks its
whole tree for its properties before the first draw: a large share of a run's time
for strategies this small. :func:`reused` caches a factory by its arguments instead.
A strategy is an immutable description, so the cached one draws exactly what a new
one would: the same choices, the same values, the same examples.

Arguments key the cache by type and value, recursively (``False``, ``0`` and ``0.0``
are three keys, and so are ``0.0`` and ``-0.0``), so two calls share a strategy only
when they would build the same one.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Hashable
from typing import ParamSpec, TypeVar

import torch
from hypothesis import strategies as st

P = ParamSpec("P")
S = TypeVar("S", bound=st.SearchStrategy)

#: Strategies kept per factory (the distinct argument tuples a run meets are far fewer;
#: past this, the oldest go first).
CACHE_SIZE = 4096
#: Values that key the cache as they are (compared by type and value).
_PLAIN = (str, int, bool, type(None), torch.dtype, st.SearchStrategy)


class _Uncacheable(Exception):
    """An argument that cannot key the cache: the call builds a new strategy."""


def cache_key(value: object) -> Hashable:
    """``value`` as a key that two arguments share only when they are the same value of
    the same type; :class:`_Uncacheable` for values compared by identity or not at all
    (lists, dicts, functions, tensors)."""
    if isinstance(value, float):
        return float, value.hex()
    if isinstance(value, _PLAIN):
        return type(value), value
    if isinstance(value, tuple):
        return type(value), tuple(cache_key(v) for v in value)
    if isinstance(value, range):
        return range, (value.start, value.stop, value.step)
    if dataclasses.is_dataclass(value) and not isinstance(value, type) \
            and type(value).__hash__ is not None:
        return type(value), tuple(cache_key(getattr(value, f.name))
                                  for f in dataclasses.fields(value))
    raise _Uncacheable(type(value).__name__)


def reused(factory: Callable[P, S]) -> Callable[P, S]:
    """``factory`` with its strategies cached by argument (:func:`cache_key`); a call
    with an argument that cannot key the cache builds a new strategy, as before."""
    cache: dict[Hashable, S] = {}

    @functools.wraps(factory)
    def build(*args: P.args, **kwargs: P.kwargs) -> S:
        try:
            key = cache_key((args, tuple(sorted(kwargs.items()))))
        except _Uncacheable:
            return factory(*args, **kwargs)
        found = cache.get(key)
        if found is None:
            if len(cache) >= CACHE_SIZE:
                del cache[next(iter(cache))]
            found = cache[key] = factory(*args, **kwargs)
        return found

    return build


#: ``st.sampled_from``, built once per tuple of values (hypothesis builds it anew on
#: every call, and the case strategies call it for every example).
sampled_from = reused(st.sampled_from)
