"""Shared pytest setup: Hypothesis profiles.

``default`` keeps the suite fast; ``fuzz`` is the longer session recorded in
docs/robustness.md: ``scripts/test tests/test_properties.py --hypothesis-profile=fuzz``.
"""

from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=100, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.register_profile("fuzz", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile("default")
