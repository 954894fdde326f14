"""Shared test setup: hypothesis profiles.

- ``ci`` (selected by ./scripts/test when CI=true): derandomized and bounded so CI is reproducible.
- ``dev`` (default): a few more examples, still quick.
- ``long``: run by hand for deep searches, e.g. ``HYPOTHESIS_PROFILE=long ./scripts/test tests/consensus``.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, max_examples=40, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "long", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
