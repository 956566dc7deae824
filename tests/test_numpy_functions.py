"""NumPy's everyday functions on traced values: NumPy's values, exact derivatives, JAX's derivatives.

Most of these functions are adapters over existing primitives (autodiff/rules/numeric.py,
statistics.py, arrays.py, fft_nd.py, ufunc_methods.py), which the registry property tests do not see.
For every case here:

- the traced call returns NumPy's values bit for bit (the primal of jvp and of vjp, every output);
- ``check_grads`` (finite differences, forward and reverse, order 2) passes at a random point;
- gradients of a random linear functional, and JVPs in random directions, match JAX's (x64).

Points are drawn away from kinks (ties, knots, branch switches); the conventions at kinks (SPEC §2:
ties share the derivative evenly, the mean of the one-sided slopes at a knot, 0 where the limit is 0)
are tested one by one at the end.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import autodiff as ad
from autodiff.pytree import tree_flatten
from autodiff.testing import check_grads

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
jax.config.update("jax_enable_x64", True)

XP = np.array([-1.0, -0.3, 0.4, 0.9, 1.6])


def _spread(rng, shape, low=-1.5, step=0.37):
    """Distinct values at least ~0.3 apart (no ties, so sort-based functions are smooth here)."""
    size = int(np.prod(shape, dtype=int))
    return (rng.permutation(size) * step + rng.uniform(-0.05, 0.05, size) + low).reshape(shape)


def _off_knots(rng, shape, knots, low, high):
    x = rng.uniform(low, high, size=shape)
    near = np.abs(x[..., None] - knots).min(axis=-1) < 0.06
    return np.where(near, x + 0.13, x)


def _with_nans(rng, shape):
    x = rng.uniform(-1.5, 1.5, size=shape)
    x.reshape(-1)[[1, 4]] = np.nan
    return x


def normal(*shapes):
    return lambda rng: tuple(rng.uniform(-1.5, 1.5, size=s) for s in shapes)


def spread(*shapes):
    return lambda rng: tuple(_spread(rng, s) for s in shapes)


def _away(x, points, gap=0.08):
    for p in points:
        x = np.where(np.abs(x - p) < gap, p + 2 * gap, x)
    return x


# name -> (f(m, *args) with m = numpy or jax.numpy, args(rng), compare with JAX)
CASES = {
    # ---- numeric ----
    "diff": (lambda m, x: m.diff(x, n=2, axis=0), normal((5, 3)), True),
    "diff_prepend_append": (lambda m, x: m.diff(x, axis=1, prepend=x[:, :1] * 2, append=0.5),
                            normal((3, 4)), True),
    "ediff1d": (lambda m, x: m.ediff1d(x, to_begin=np.array([1.0]), to_end=x[:2]), normal((2, 3)), True),
    "gradient": (lambda m, x: m.gradient(x), normal((6,)), True),
    "gradient_2d_spacing": (lambda m, x: m.gradient(x, 0.5, np.array([0.0, 0.3, 0.9, 1.0, 1.7])),
                            normal((4, 5)), True),
    "gradient_traced_coordinates": (lambda m, x, c: m.gradient(x, m.cumsum(c)),
                                    lambda rng: (rng.uniform(-1, 1, 6), rng.uniform(0.5, 1.5, 6)), True),
    "gradient_edge_order_2": (lambda m, x: m.gradient(x, np.array([0.0, 0.3, 0.9, 1.0, 1.7, 2.0]),
                                                      edge_order=2), normal((6,)), False),
    "gradient_edge_order_2_uniform": (lambda m, x: m.gradient(x, 0.25, axis=1, edge_order=2),
                                      normal((2, 5)), False),
    "copy": (lambda m, x: m.copy(x) * x, normal((3,)), True),
    "trapezoid_x": (lambda m, y, x: m.trapezoid(y, x=m.cumsum(x)),
                    lambda rng: (rng.uniform(-1, 1, (2, 5)), rng.uniform(0.1, 1, 5)), True),
    "trapezoid_dx": (lambda m, y: m.trapezoid(y, dx=0.3, axis=0), normal((4, 3)), True),
    "polyval": (lambda m, p, x: m.polyval(p, x), normal((4,), (3,)), True),
    "linspace": (lambda m, a, b: m.linspace(a, b, 7), normal((), ()), True),
    "linspace_arrays": (lambda m, a, b: m.linspace(a, b, 5, endpoint=False, axis=1), normal((2,), (2,)),
                        True),
    "linspace_retstep": (lambda m, a, b: m.linspace(a, b, 4, retstep=True), normal((), ()), True),
    "interp_x_fp": (lambda m, x, fp: m.interp(x, XP, fp),
                    lambda rng: (_off_knots(rng, (2, 4), XP, -1.5, 2.0), rng.uniform(-1, 1, 5)), True),
    "interp_xp": (lambda m, x, xp, fp: m.interp(x, m.cumsum(xp), fp),
                  lambda rng: (np.array([0.2, 1.1, 1.9, 2.6]), np.array([0.1, 0.7, 0.8, 0.9, 0.6]),
                               rng.uniform(-1, 1, 5)), True),
    "interp_left_right": (lambda m, x, fp: m.interp(x, XP, fp, left=-1.0, right=2.0),
                          lambda rng: (_off_knots(rng, (5,), XP, -1.5, 2.0), rng.uniform(-1, 1, 5)), True),
    "interp_period": (lambda m, x, fp: m.interp(x, XP, fp, period=3.0),
                      lambda rng: (_off_knots(rng, (5,), np.concatenate([XP, XP + 3, XP - 3]), -2, 4),
                                   rng.uniform(-1, 1, 5)), True),
    "convolve_full": (lambda m, a, v: m.convolve(a, v), normal((5,), (3,)), True),
    "convolve_same_swapped": (lambda m, a, v: m.convolve(a, v, mode="same"), normal((2,), (4,)), True),
    "convolve_valid": (lambda m, a, v: m.convolve(a, v, mode="valid"), normal((3,), (6,)), True),
    "correlate_valid": (lambda m, a, v: m.correlate(a, v), normal((5,), (2,)), True),
    "correlate_same_swapped": (lambda m, a, v: m.correlate(a, v, mode="same"), normal((2,), (4,)), True),
    "correlate_full": (lambda m, a, v: m.correlate(a, v, mode="full"), normal((3,), (5,)), True),
    "angle_complex": (lambda m, x, y: m.angle(x + 1j * y, deg=True), normal((3,), (3,)), True),
    "angle_real": (lambda m, x: m.angle(x) * x, normal((3,)), True),
    "degrees": (lambda m, x: m.degrees(x), normal((3,)), True),
    "radians": (lambda m, x: m.radians(x), normal((2, 2)), True),
    # ---- statistics ----
    "median_odd": (lambda m, x: m.median(x), spread((5,)), True),
    "median_even_axis": (lambda m, x: m.median(x, axis=0), spread((4, 3)), True),
    "median_axes_keepdims": (lambda m, x: m.median(x, axis=(0, 2), keepdims=True), spread((2, 3, 2)), True),
    "percentile": (lambda m, x: m.percentile(x, 37.0, axis=1), spread((3, 5)), True),
    "percentile_traced_q": (lambda m, x, q: m.percentile(x, q),
                            lambda rng: (_spread(rng, (6,)), np.array([13.0, 52.0, 81.0])), True),
    "quantile_traced_q": (lambda m, x, q: m.quantile(x, q, axis=0),
                          lambda rng: (_spread(rng, (5, 2)), np.array(0.43)), True),
    **{f"quantile_{method}": (lambda m, x, _method=method: m.quantile(x, np.array([0.1, 0.55, 0.93]), axis=-1,
                                                                       method=_method),
                              spread((2, 7)), method in ("linear", "lower", "higher", "midpoint", "nearest"))
       for method in ("linear", "lower", "higher", "midpoint", "nearest", "hazen", "weibull",
                      "median_unbiased", "normal_unbiased", "inverted_cdf", "averaged_inverted_cdf",
                      "closest_observation", "interpolated_inverted_cdf")},
    "cov": (lambda m, x: m.cov(x), normal((3, 6)), True),
    "cov_y_columns": (lambda m, x, y: m.cov(x, y, rowvar=False), normal((6, 2), (6, 1)), True),
    "cov_weights": (lambda m, x: m.cov(x, fweights=np.array([1, 2, 1, 3, 1, 2]),
                                       aweights=np.array([0.5, 1.0, 2.0, 1.0, 0.3, 1.1])),
                    normal((2, 6)), True),
    "cov_bias_ddof": (lambda m, x: m.cov(x, bias=True) + m.cov(x, ddof=2), normal((2, 5)), True),
    "corrcoef": (lambda m, x: m.corrcoef(x), normal((3, 6)), True),
    "nanmax": (lambda m, x: m.nanmax(x, axis=1), lambda rng: (_with_nans(rng, (2, 4)),), True),
    "nanmin": (lambda m, x: m.nanmin(x), lambda rng: (_with_nans(rng, (2, 4)),), True),
    "nanprod": (lambda m, x: m.nanprod(x, axis=0), lambda rng: (_with_nans(rng, (3, 4)),), True),
    "nanvar": (lambda m, x: m.nanvar(x, axis=1, ddof=1), lambda rng: (_with_nans(rng, (2, 5)),), True),
    "nanstd": (lambda m, x: m.nanstd(x), lambda rng: (_with_nans(rng, (2, 5)),), True),
    "nanstd_keepdims": (lambda m, x: m.nanstd(x, axis=0, keepdims=True),
                        lambda rng: (_with_nans(rng, (4, 3)),), True),
    "nancumsum": (lambda m, x: m.nancumsum(x, axis=1), lambda rng: (_with_nans(rng, (2, 4)),), True),
    # ---- arrays ----
    # (a function of the partition that does not depend on the order within each side, which is NumPy's
    # algorithm's and differs in JAX)
    "partition": (lambda m, x: (lambda p: p[2] * 2 + (p[:2] ** 2).sum() + (p[3:] ** 3).sum())(
        m.partition(x, 2)), spread((6,)), True),
    "partition_axis0": (lambda m, x: (lambda p: (p[1] * m.arange(3.0)).sum() + (p[0] ** 2).sum())(
        m.partition(x, 1, axis=0)), spread((4, 3)), True),
    "atleast_3d": (lambda m, x, y: m.atleast_3d(x, y), normal((3,), (2, 2)), True),
    "rollaxis": (lambda m, x: m.rollaxis(x, 2, 0), normal((2, 3, 4)), True),
    "dsplit": (lambda m, x: m.dsplit(x, 2), normal((2, 3, 4)), True),
    "select": (lambda m, x: m.select([x > 0.3, x < -0.2], [x ** 2, m.sin(x)], default=x * 0.5),
               lambda rng: (_away(rng.uniform(-1.5, 1.5, (3, 4)), (0.3, -0.2)),), True),
    "rot90": (lambda m, x: m.rot90(x), normal((2, 3)), True),
    "rot90_k3_axes": (lambda m, x: m.rot90(x, k=3, axes=(1, 2)), normal((2, 3, 4)), True),
    "rot90_k2": (lambda m, x: m.rot90(x, k=2), normal((3, 2)), True),
    "append_axis": (lambda m, x, y: m.append(x, y, axis=0), normal((2, 3), (1, 3)), True),
    "append_flat": (lambda m, x, y: m.append(x, y), normal((2, 3), (2,)), True),
    "meshgrid": (lambda m, x, y: m.meshgrid(x, y), normal((3,), (2,)), True),
    "meshgrid_ij_sparse": (lambda m, x, y, z: m.meshgrid(x, y, z, indexing="ij", sparse=True),
                           normal((3,), (2,), (2,)), True),
    # ---- ufunc methods ----
    "add_outer": (lambda m, x, y: m.add.outer(x, y), normal((3,), (2, 2)), True),
    "multiply_outer": (lambda m, x, y: m.multiply.outer(x, y), normal((3,), (2,)), True),
    "arctan2_outer": (lambda m, x, y: m.arctan2.outer(x, y), normal((2,), (3,)), False),  # not in JAX
    "subtract_reduce": (lambda m, x: m.subtract.reduce(x, axis=1), normal((2, 4)), True),
    "divide_reduce": (lambda m, x: m.divide.reduce(x), lambda rng: (rng.uniform(0.5, 2, (3, 2)),), False),
    "logaddexp_reduce": (lambda m, x: m.logaddexp.reduce(x, axis=0), normal((4, 3)), True),
    # several axes of a reorderable ufunc are reduced in memory order: a transposed input tells
    "logaddexp_reduce_transposed": (lambda m, x: m.logaddexp.reduce(x.T, axis=None), normal((4, 5)), True),
    "logaddexp_reduce_axes": (lambda m, x: m.logaddexp.reduce(m.transpose(x, (1, 0, 2)), axis=(0, 1)),
                              normal((3, 4, 2)), True),
    "hypot_reduce_keepdims": (lambda m, x: m.hypot.reduce(x, axis=1, keepdims=True),
                              lambda rng: (rng.uniform(0.5, 2, (2, 3)),), False),
    "maximum_reduce": (lambda m, x: m.maximum.reduce(x, axis=0), spread((3, 4)), True),
    "maximum_accumulate": (lambda m, x: m.maximum.accumulate(x, axis=1), spread((2, 5)), True),
    "minimum_accumulate": (lambda m, x: m.minimum.accumulate(x), spread((5, 2)), True),
    "fmax_accumulate": (lambda m, x: m.fmax.accumulate(x), spread((6,)), False),
    "subtract_accumulate": (lambda m, x: m.subtract.accumulate(x), normal((4,)), True),
    "add_accumulate": (lambda m, x: m.add.accumulate(x, axis=1), normal((2, 3)), True),
    "add_reduceat": (lambda m, x: m.add.reduceat(x, np.array([0, 2, 1, 4]), axis=0), normal((6, 3)), True),
    "multiply_reduceat": (lambda m, x: m.multiply.reduceat(x, np.array([0, 3])), normal((5,)), True),
    "maximum_reduceat": (lambda m, x: m.maximum.reduceat(x, np.array([0, 2, 5]), axis=1), spread((2, 7)),
                         True),
    # ---- numpy.fft ----
    "fft2": (lambda m, x: m.fft.fft2(x), normal((3, 4)), True),
    "ifft2_norm": (lambda m, x: m.fft.ifft2(x, norm="ortho"), normal((2, 3, 4)), True),
    "fftn_s_axes": (lambda m, x: m.fft.fftn(x, s=(4, 6), axes=(0, 2)), normal((3, 2, 5)), True),
    "ifftn": (lambda m, x: m.fft.ifftn(x), normal((2, 3, 2)), True),
    "rfft2": (lambda m, x: m.fft.rfft2(x), normal((3, 5)), True),
    "irfft2": (lambda m, x: m.fft.irfft2(x), normal((3, 4)), True),
    "rfftn": (lambda m, x: m.fft.rfftn(x, axes=(0, 1), norm="forward"), normal((4, 3, 2)), True),
    "irfftn_s": (lambda m, x: m.fft.irfftn(x, s=(4, 7), axes=(0, 1)), normal((3, 4)), True),
    "fftshift": (lambda m, x: m.fft.fftshift(x), normal((3, 4)), True),
    "fftshift_axis": (lambda m, x: m.fft.fftshift(x, axes=1), normal((3, 5)), True),
    "ifftshift": (lambda m, x: m.fft.ifftshift(x, axes=(0,)), normal((5, 2)), True),
}

NAMES = sorted(CASES)


def _args(name):
    return CASES[name][1](np.random.default_rng(zlib.crc32(name.encode())))


def _numpy_f(name):
    f = CASES[name][0]
    return lambda *args: f(np, *args)


def _leaves(out):
    return [np.asarray(v) for v in tree_flatten(out)[0]]


def _assert_bitwise(got, want, what):
    got_leaves, want_leaves = _leaves(got), _leaves(want)
    assert len(got_leaves) == len(want_leaves), what
    for g, w in zip(got_leaves, want_leaves):
        assert (g.shape, g.dtype) == (w.shape, w.dtype), f"{what}: {g.shape} {g.dtype} vs {w.shape} {w.dtype}"
        parts = [(np.real(g), np.real(w)), (np.imag(g), np.imag(w))] if np.iscomplexobj(w) else [(g, w)]
        same = all(np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a), np.signbit(b))
                   for a, b in parts)
        assert same, f"{what}: traced values differ from NumPy's by {np.nanmax(np.abs(g - w))}"


@pytest.mark.parametrize("name", NAMES)
def test_traced_values_are_numpys_bit_for_bit(name):
    f, args = _numpy_f(name), _args(name)
    want = f(*args)
    tangents = tuple(np.ones_like(a) for a in args)
    _assert_bitwise(ad.jvp(f, args, tangents)[0], want, f"{name} (forward mode)")
    _assert_bitwise(ad.vjp(f, *args)[0], want, f"{name} (reverse mode)")


@pytest.mark.parametrize("name", NAMES)
def test_derivatives_match_finite_differences_to_second_order(name):
    check_grads(_numpy_f(name), _args(name), order=2)


def _functional(f, outs_like, rng, real, imag):
    """A random real linear functional of f's outputs (real and imaginary parts weighted apart)."""
    weights = [(rng.standard_normal(np.shape(o)), rng.standard_normal(np.shape(o))) for o in outs_like]

    def loss(*args):
        total = 0.0
        for (u, w), o in zip(weights, _flat(f(*args))):
            total = total + (real(o) * u).sum() + (imag(o) * w).sum()
        return total
    return loss


def _flat(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


@pytest.mark.parametrize("name", [n for n in NAMES if CASES[n][2]])
def test_gradients_and_jvps_match_jax(name):
    f, args = CASES[name][0], _args(name)
    f_np = _numpy_f(name)

    def f_jax(*a):
        return f(jnp, *a)

    outs = _flat(f_np(*args))
    argnums = tuple(range(len(args)))
    tangents = tuple(np.random.default_rng(2).standard_normal(np.shape(a)) for a in args)
    loss_np = _functional(f_np, outs, np.random.default_rng(1), np.real, np.imag)
    loss_jax = _functional(f_jax, outs, np.random.default_rng(1), jnp.real, jnp.imag)

    @jax.jit   # one XLA compilation per case instead of one per operation
    def jax_derivatives(a, t):
        return jax.grad(loss_jax, argnums=argnums)(*a), _flat(jax.jvp(f_jax, a, t)[1])

    grads, jvps = jax_derivatives(args, tangents)
    ours = ad.grad(loss_np, argnums=argnums)(*args)
    for i, (g, h) in enumerate(zip(ours, grads)):
        np.testing.assert_allclose(g, np.asarray(h), rtol=1e-9, atol=1e-11, err_msg=f"{name}: grad {i}")
    ours = _flat(ad.jvp(f_np, args, tangents)[1])
    for i, (t, s) in enumerate(zip(ours, jvps)):
        np.testing.assert_allclose(t, np.asarray(s), rtol=1e-9, atol=1e-11, err_msg=f"{name}: jvp output {i}")


# ---- conventions at kinks (SPEC §2), in both modes -------------------------------------------------------


def _both_modes(f, x):
    """The Jacobian of f at x from forward mode and from reverse mode (they must agree)."""
    fwd, rev = ad.jacfwd(f)(x), ad.jacrev(f)(x)
    np.testing.assert_allclose(fwd, rev, rtol=1e-14, atol=1e-15)
    return fwd


def test_median_of_an_even_count_is_the_mean_of_the_middle_pair():
    x = np.array([3.0, 1.0, 4.0, 2.0])
    np.testing.assert_array_equal(_both_modes(np.median, x), [0.5, 0.0, 0.0, 0.5])


@pytest.mark.parametrize("x, want", [
    ([1.0, 2.0, 2.0, 3.0], [0.0, 0.5, 0.5, 0.0]),
    ([2.0, 2.0, 2.0], [1 / 3, 1 / 3, 1 / 3]),
    ([5.0, 2.0, 1.0, 2.0, 2.0], [0.0, 1 / 3, 0.0, 1 / 3, 1 / 3]),
])
def test_tied_order_statistics_share_the_derivative_evenly(x, want):
    np.testing.assert_allclose(_both_modes(np.median, np.array(x)), want, rtol=1e-15)


def test_percentile_interpolates_between_neighbours_in_a_and_in_q():
    x = np.array([0.0, 1.0, 4.0, 9.0, 16.0])
    np.testing.assert_allclose(_both_modes(lambda a: np.percentile(a, 30.0), x), [0, 0.8, 0.2, 0, 0])
    # between sorted values: the slope between the neighbours, times d(virtual index)/dq = (n - 1) / 100
    np.testing.assert_allclose(_both_modes(lambda q: np.percentile(x, q), np.array(30.0)), 3 * 0.04)


@pytest.mark.parametrize("q, want", [(25.0, 0.5 * (1 + 3) * 0.04), (0.0, 1 * 0.04), (100.0, 7 * 0.04)])
def test_percentile_on_a_data_point_takes_the_mean_of_the_one_sided_slopes_in_q(q, want):
    x = np.array([0.0, 1.0, 4.0, 9.0, 16.0])
    np.testing.assert_allclose(_both_modes(lambda q: np.percentile(x, q), np.array(q)), want, rtol=1e-14)
    assert ad.jvp(lambda q: np.percentile(x, q), (q,), (1.0,))[0] == np.percentile(x, q)


def test_interp_at_a_knot_takes_the_mean_of_the_two_slopes():
    xp, fp = np.array([0.0, 1.0, 3.0]), np.array([0.0, 2.0, 3.0])
    slopes = [0.0, 2.0, 0.5, 0.0]            # flat outside [xp[0], xp[-1]]
    for k, x in enumerate(xp):
        got = _both_modes(lambda x: np.interp(x, xp, fp), np.array(x))
        np.testing.assert_allclose(got, 0.5 * (slopes[k] + slopes[k + 1]), rtol=1e-15)
    # and in xp at a knot: shifting the knot and the point together changes nothing
    dxp = ad.grad(lambda xp: np.interp(1.0, xp, fp))(xp)
    np.testing.assert_allclose(dxp, [0.0, -1.25, 0.0])


def test_running_maximum_splits_its_derivative_between_tied_entries():
    x = np.array([1.0, 3.0, 3.0, 2.0, 5.0])
    want = [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0.5, 0.5, 0, 0], [0, 0.5, 0.5, 0, 0], [0, 0, 0, 0, 1]]
    np.testing.assert_array_equal(_both_modes(np.maximum.accumulate, x), want)


def test_nanstd_of_a_single_value_has_derivative_zero():
    x = np.array([np.nan, 2.0, np.nan])
    assert np.nanstd(x) == 0.0
    np.testing.assert_array_equal(_both_modes(np.nanstd, x), [0.0, 0.0, 0.0])


def test_nan_entries_get_no_derivative():
    x = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, 2.0]])
    jac = _both_modes(lambda a: np.nanvar(a, axis=1), x)
    assert np.all(jac[:, np.isnan(x)] == 0) and np.all(np.isfinite(jac))


# ---- errors ---------------------------------------------------------------------------------------------


def test_ufunc_at_points_to_index_add():
    with pytest.raises(NotImplementedError) as info:
        ad.grad(lambda x: np.add.at(x, [0], 1.0))(np.ones(3))
    message = str(info.value)
    assert "np.add.at" in message and "autodiff.index_add(x, index, values)" in message
    assert "primitive(at)" not in message        # a name that does not exist (the old message)


def test_unsupported_ufunc_method_names_the_ufunc_and_what_to_register():
    with pytest.raises(NotImplementedError) as info:
        ad.grad(lambda x: np.gcd.reduce(x))(np.ones(3))
    message = str(info.value)
    assert "np.gcd.reduce" in message and "autodiff.primitive(np.gcd)" in message
    assert "primitive(reduce)" not in message
    # every registered binary ufunc has all four methods; a ufunc registered later by the user does not:
    from autodiff.core import _missing_method_message
    message = _missing_method_message(np.add, "reduceat")
    assert "np.add.reduceat" in message
    assert "autodiff.core.implements_ufunc_method(np.add, 'reduceat')" in message


def test_complex_signals_and_knots_say_what_is_not_differentiable():
    with pytest.raises(NotImplementedError, match="real and imaginary parts"):
        ad.grad(lambda x: np.convolve(x + 1j, x).real.sum())(np.ones(3))
    with pytest.raises(NotImplementedError, match="complex fp"):
        ad.grad(lambda x: np.interp(0.5, [0.0, 1.0], x + 1j).real)(np.ones(2))


def test_concatenate_takes_its_axis_positionally():
    # regression: the adapter of np.concat (the same function as np.concatenate in NumPy 2) made axis
    # keyword-only, so np.concatenate([x, y], 1) raised TypeError on traced values
    x = np.arange(6.0).reshape(2, 3)
    g = ad.grad(lambda x: (np.concatenate([x, x ** 2], 1) * np.arange(12.0).reshape(2, 6)).sum())(x)
    w = np.arange(12.0).reshape(2, 6)
    np.testing.assert_allclose(g, w[:, :3] + 2 * x * w[:, 3:])


@pytest.mark.parametrize("name", NAMES)
def test_float32_inputs_give_numpys_float32_values(name):
    f = _numpy_f(name)
    args = tuple(a.astype(np.float32) for a in _args(name))
    with np.errstate(all="ignore"):
        want = f(*args)
    _assert_bitwise(ad.vjp(f, *args)[0], want, f"{name} (float32)")


def test_every_registered_binary_ufunc_has_the_four_methods():
    from autodiff.core import _ufunc_methods
    binary = {p.fn for p in ad.registry.values()
              if isinstance(p.fn, np.ufunc) and p.fn.nin == 2 and p.fn.nout == 1}
    missing = [(u.__name__, m) for u in binary for m in ("outer", "reduce", "accumulate", "reduceat")
               if (u, m) not in _ufunc_methods]
    assert not missing and len(binary) > 20
