"""Every operand-rank combination of matmul, with batched tangents: the shape traps of the fast paths.

The registry's property tests sample matmul's domain at random; this runs every pair of its shapes
(vector/matrix/stacked on either side, broadcast stacks) through the same per-primitive checks, so the
one-GEMM fast paths (a 1-D or 2-D partner) and the general stacked path are all exercised every run.
"""

import numpy as np
import pytest

import autodiff as ad
from autodiff import testing
from autodiff.core import Sample, registry

SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
          ((3,), (5, 3, 2)), ((5, 2, 3), (5, 3, 2)), ((1, 2, 3), (4, 3, 2)), ((2, 3), (4, 3, 2)),
          ((4, 2, 3), (3,)), ((3,), (4, 3, 2))]


@pytest.mark.parametrize("shape_a, shape_b", SHAPES)
def test_matmul_rules_on_every_rank_pair(shape_a, shape_b):
    rng = np.random.default_rng(1)
    sample = Sample((rng.uniform(-2, 2, shape_a), rng.uniform(-2, 2, shape_b)))
    for check in (testing.check_jvp, testing.check_vjp, testing.check_batched, testing.check_second_order):
        check(registry["matmul"], sample, rng)
    a, b = sample.args
    forward = ad.jacfwd(np.matmul, argnums=(0, 1))(a, b)
    backward = ad.jacrev(np.matmul, argnums=(0, 1))(a, b)
    for jf, jr in zip(forward, backward):
        np.testing.assert_allclose(jf, jr, rtol=1e-12, atol=1e-12)
