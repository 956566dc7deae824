"""Shared test configuration: Hypothesis profiles, selected by the HYPOTHESIS_PROFILE env var.

- ``dev`` (default): random examples, no deadline (the first call of a rule may be slow).
- ``ci`` (set by .ci/run): derandomized, so every run checks the same examples, and no example database.
"""

import os

# Tiny matrices everywhere: BLAS threads only add overhead, and on a busy 2-core machine OpenBLAS's
# spinning threads make a 3x3 scipy.linalg.solve_triangular take 20 ms instead of 70 µs. Set before
# NumPy/SciPy load their BLAS (subprocesses started by tests inherit it).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "dev", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci", max_examples=15, deadline=None, derandomize=True, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# Import the testing support now, before any test module registers a throwaway primitive: it records the
# package's own primitives, which the registry-driven tests and the coverage table are about.
import autodiff.testing  # noqa: E402, F401
