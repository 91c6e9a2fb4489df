"""Run profiles and their hypothesis settings."""

from __future__ import annotations

import pytest
from embedspec.conformance.session.profiles import PROFILES, get_profile
from hypothesis import HealthCheck, Phase


@pytest.mark.parametrize("name", list(PROFILES))
def test_every_profile_is_derandomized_without_database_or_deadline(name):
    profile = get_profile(name)
    settings = profile.hypothesis_settings()
    assert settings.max_examples == profile.max_examples
    assert settings.derandomize and settings.database is None and settings.deadline is None
    assert {HealthCheck.too_slow, HealthCheck.data_too_large} <= set(
        settings.suppress_health_check)
    assert (Phase.shrink in settings.phases) == profile.shrink


def test_quick_does_not_shrink_and_thorough_explains():
    assert Phase.shrink not in PROFILES["quick"].hypothesis_settings().phases
    assert Phase.explain in PROFILES["thorough"].hypothesis_settings().phases


def test_unknown_profile_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown profile 'fast'; known profiles: quick, "
                                         "default, thorough"):
        get_profile("fast")


def test_feature_caps_lower_the_examples_of_their_features_only():
    quick = PROFILES["quick"]
    assert quick.examples_of("compile") == 2
    assert quick.examples_of("forward") == quick.max_examples
    assert quick.examples_of(None) == quick.max_examples
    for profile in PROFILES.values():
        assert profile.compiler == "aot_eager"
        assert all(profile.examples_of(f) <= profile.max_examples
                   for f in profile.feature_examples)
