"""Run profiles: how hard the conformance suite searches.

A profile fixes the number of hypothesis examples per property, the worlds a
multi-process backend is checked on, and the time a multi-process runner allows
one case. Every profile is derandomized: the same seed gives the same examples,
so a CI run never flakes.

* ``quick``: CI and pre-commit; minutes on a laptop. It does not shrink failing
  examples (shrinking one stubborn failure can take minutes): a failure reports the
  first failing example, and ``--profile default`` reruns it with shrinking.
* ``default``: the everyday run; failing examples are shrunk to minimal ones.
* ``thorough``: before a release, or when hunting a rare failure; failures are also
  explained (hypothesis's explain phase: which lines only failing examples ran).

Two settings concern the composability features (``docs/spec/composability.md``):
``feature_examples`` caps the examples of the tests of some features below
``max_examples`` (each example of a ``compile`` test traces and compiles a graph), and
``compiler`` is the ``torch.compile`` backend those tests use. Every profile uses
``aot_eager``: Dynamo's whole-graph trace, fake kernels, functionalised mutations and
the autograd formulas, which are what a backend controls, without inductor's code
generation, which is PyTorch's, costs seconds per graph and a minute or more cold on a
two-core machine, and would make a test's outcome depend on the profile (compiled
``torch.nn.Embedding`` raises ``RuntimeError`` for out-of-range ids under inductor only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from embedspec.conformance.checks.case import World

if TYPE_CHECKING:
    from hypothesis import settings

# hypothesis is imported only when settings are made: `embedspec check` reads PROFILES
# before it starts pytest, which must be the first to import its hypothesis plugin.

#: Worlds a multi-process backend is checked on: 1 to 4 model-parallel ranks and a
#: 2 x 2 grid of data-parallel replicas of 2-rank shards.
MULTI_PROCESS_WORLDS: tuple[World, ...] = (
    World(1), World(2), World(3), World(4), World(2, dp_size=2),
)


@dataclass(frozen=True)
class Profile:
    """``max_examples`` per hypothesis property; ``timeout_s`` per multi-process case;
    ``shrink``/``explain``: whether hypothesis shrinks / explains failing examples;
    ``feature_examples``: the example cap of the tests of some features (the smaller of
    it and ``max_examples`` applies); ``compiler``: the ``torch.compile`` backend of the
    ``compile`` feature's tests."""

    name: str
    max_examples: int
    worlds: tuple[World, ...]
    timeout_s: float
    shrink: bool = True
    explain: bool = False
    feature_examples: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    compiler: str = "aot_eager"

    def examples_of(self, feature: str | None) -> int:
        """How many examples a property test of ``feature`` runs in this profile."""
        return min(self.max_examples, self.feature_examples.get(feature, self.max_examples))

    @property
    def hypothesis_profile(self) -> str:
        """The name this profile's hypothesis settings are registered under."""
        return f"embedspec-{self.name}"

    def hypothesis_settings(self) -> settings:
        from hypothesis import HealthCheck, Phase, settings

        phases = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target]
        phases += [Phase.shrink] * self.shrink + [Phase.explain] * self.explain
        return settings(
            max_examples=self.max_examples,
            phases=phases,
            deadline=None,
            derandomize=True,
            database=None,
            # The one function-scoped fixture conformance tests take is ``worlds``: an
            # immutable value the plugin fixes per test at collection time.
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                   HealthCheck.function_scoped_fixture],
        )


#: The quick profile's caps: a compile example traces and compiles a graph; the
#: transforms of torch.func cost tens of milliseconds an example, per dtype.
QUICK_FEATURE_EXAMPLES: Mapping[str, int] = MappingProxyType({
    "compile": 2, "export": 3, "vmap": 3, "forward_ad": 4, "double_backward": 4})

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("quick", max_examples=8, worlds=MULTI_PROCESS_WORLDS, timeout_s=60.0,
                shrink=False, feature_examples=QUICK_FEATURE_EXAMPLES),
        Profile("default", max_examples=50, worlds=MULTI_PROCESS_WORLDS, timeout_s=120.0,
                feature_examples=MappingProxyType({"compile": 10, "export": 20})),
        Profile("thorough", max_examples=400, worlds=MULTI_PROCESS_WORLDS, timeout_s=300.0,
                explain=True, feature_examples=MappingProxyType({"compile": 50,
                                                                 "export": 100})),
    )
}
DEFAULT_PROFILE = "default"


def get_profile(name: str) -> Profile:
    """The profile called ``name``; ``ValueError`` listing the known ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown profile {name!r}; known profiles: {', '.join(PROFILES)}"
        ) from None


def register_hypothesis_profiles() -> None:
    """Register ``embedspec-<name>`` hypothesis settings profiles for every profile."""
    from hypothesis import settings

    for profile in PROFILES.values():
        settings.register_profile(profile.hypothesis_profile, profile.hypothesis_settings())
