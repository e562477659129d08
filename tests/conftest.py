"""Shared pytest setup: Hypothesis profiles.

``default`` keeps the suite fast; ``fuzz`` is the longer session recorded in
docs/robustness.md: ``scripts/test tests/test_properties.py --hypothesis-profile=fuzz``.
"""

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=100, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.register_profile("fuzz", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile("default")


@pytest.fixture
def torch_one_thread():
    """Run a test with one PyTorch thread (reproducible timings of small models in CI)."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
