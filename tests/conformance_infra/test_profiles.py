"""Run profiles and their hypothesis settings."""

from __future__ import annotations

import pytest
from embedspec.conformance.case import World
from embedspec.conformance.profiles import PROFILES, get_profile
from hypothesis import HealthCheck, Phase


def test_profiles_grow_in_effort():
    quick, default, thorough = (PROFILES[n] for n in ("quick", "default", "thorough"))
    assert quick.max_examples < default.max_examples < thorough.max_examples
    assert quick.timeout_s <= default.timeout_s <= thorough.timeout_s


@pytest.mark.parametrize("name", list(PROFILES))
def test_every_profile_is_derandomized_without_database_or_deadline(name):
    profile = get_profile(name)
    settings = profile.hypothesis_settings()
    assert settings.max_examples == profile.max_examples
    assert settings.derandomize and settings.database is None and settings.deadline is None
    assert {HealthCheck.too_slow, HealthCheck.data_too_large} <= set(
        settings.suppress_health_check)
    assert (Phase.shrink in settings.phases) == profile.shrink
    assert profile.worlds == (World(1), World(2), World(3), World(4), World(2, dp_size=2))


def test_quick_does_not_shrink_and_thorough_explains():
    assert Phase.shrink not in PROFILES["quick"].hypothesis_settings().phases
    assert Phase.explain in PROFILES["thorough"].hypothesis_settings().phases


def test_unknown_profile_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown profile 'fast'; known profiles: quick, "
                                         "default, thorough"):
        get_profile("fast")
