"""A traced computation returns exactly NumPy's values (SPEC section 2), bit for bit.

Two halves of one invariant:

- every registered primitive, on samples drawn from its test domain, under jvp (one direction and a batch),
  vjp (the tape), jacfwd and jacrev: the property ``"traced value"`` of autodiff.testing (so it also shows
  as a column of docs/coverage.md);
- every NumPy adapter (the ``@implements`` functions, which compose primitives and so are invisible to the
  registry), in the positional form of tests/_adapter_cases.py, each output of the multi-output ones
  (eigh, svd, qr, slogdet, split, ...) compared on its own.

An adapter may legitimately reach NumPy's value by another route (``np.mean`` as a sum divided by a count),
so "bitwise" is the claim being tested, not an assumption: where it fails the case is listed below with
the helper who owns the fix.
"""

import os

import numpy as np
import pytest
from _adapter_cases import CASES, case_id, flat_outputs, xfail_if_rounded
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from autodiff import registry
from autodiff.testing import assert_bitwise_equal, check_property, package_primitives, traced_values

NAMES = [p.name for p in package_primitives()]
EXAMPLES = int(os.environ.get("AUTODIFF_TRACED_VALUE_EXAMPLES", "4"))


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=EXAMPLES, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          report_multiple_bugs=False)
@given(seed=st.integers(0, 2**32 - 1))
def test_traced_primitive_values_equal_numpy_bitwise(name, seed):
    check_property(registry[name], "traced value", seed)


@pytest.mark.parametrize("case", [xfail_if_rounded(c) for c in CASES], ids=case_id)
def test_traced_adapter_values_equal_numpy_bitwise(case):
    want = flat_outputs(case.call(*case.inputs))
    fun = lambda *xs: flat_outputs(case.call(*xs))  # noqa: E731
    for mode, got in traced_values(fun, case.inputs, np.random.default_rng(1)).items():
        assert len(got) == len(want), f"{case.name} under {mode}: {len(got)} outputs, NumPy {len(want)}"
        for k, (g, w) in enumerate(zip(got, want)):
            if isinstance(w, (np.ndarray, np.generic, float, int, complex, bool)):
                assert_bitwise_equal(f"{case.name}, output {k}, under {mode}", g, w)
            else:
                assert g == w, f"{case.name}, output {k}, under {mode}: {g!r} != {w!r}"


def test_the_bitwise_check_sees_a_one_ulp_difference():
    x = np.array([1.0, 2.0])
    with pytest.raises(AssertionError, match="differs from NumPy"):
        assert_bitwise_equal("probe", np.nextafter(x, 3.0), x)
    with pytest.raises(AssertionError, match="dtype"):
        assert_bitwise_equal("probe", x.astype(np.float32), x)
