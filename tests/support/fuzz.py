"""The fuzz suite's budget: every property-based test (hypothesis, schemathesis) takes its example
count from here, so `make test` runs a short budget and `make fuzz` a long one.

``MMNET_FUZZ_EXAMPLES`` sets the examples per test (default 60: the whole suite stays within
two minutes on two cores). Tests of the suite carry the ``fuzz`` marker.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("MMNET_FUZZ_EXAMPLES", "60"))

# No deadline: these machines are noisy, and a slow example is not a failure. Derandomised so a
# CI failure reproduces; the long budget (`make fuzz`) explores further with the same seed
# schedule extended.
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    database=None,
)
