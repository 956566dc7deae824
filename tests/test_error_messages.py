"""Unclear errors made clear: writing a traced value into a NumPy array, plain SciPy functions on traced
values, ndarray-style methods with ndarray's signatures, and vjp_fn given a non-numeric cotangent."""

import numpy as np
import pytest
import scipy.integrate
import scipy.linalg
import scipy.special
import scipy.stats

import autodiff as ad

X = np.array([0.5, -1.0, 2.0])


# ---- y[i] = traced ---------------------------------------------------------------------------------

def _store_scalar(x):
    y = np.zeros(3)
    y[0] = x[0]
    return np.sum(y)


def _store_row(x):
    y = np.zeros((2, 3))
    y[1] = x
    return np.sum(y)


def _store_slice(x):
    y = np.zeros(5)
    y[1:4] = x
    return np.sum(y)


@pytest.mark.parametrize("store", [_store_scalar, _store_row, _store_slice])
@pytest.mark.parametrize("transform", [ad.grad, ad.jacfwd])
def test_writing_a_traced_value_into_a_numpy_array_points_to_index_update(store, transform):
    with pytest.raises(TypeError, match="index_update"):
        transform(store)(X)


def test_a_traced_value_still_indexes_iterates_and_reverses():
    def f(x):
        first, *rest = x
        return first * sum(reversed(rest)) + x[1:].sum() + len(x)

    np.testing.assert_allclose(ad.grad(f)(X), [1.0, 1.5, 1.5], rtol=1e-14)


def test_explicit_conversions_keep_their_own_message():
    with pytest.raises(TypeError, match=r"float\(\)"):
        ad.grad(lambda x: float(x))(1.0)
    with pytest.raises(TypeError, match="np.asarray"):
        ad.grad(lambda x: np.sum(np.asarray(x)))(X)


# ---- plain SciPy functions ------------------------------------------------------------------------

@pytest.mark.parametrize("call, name, counterpart", [
    (lambda x: scipy.special.logsumexp(x), "scipy.special.logsumexp", "autodiff.scipy.special.logsumexp"),
    (lambda x: np.sum(scipy.linalg.expm(np.outer(x, x))), "scipy.linalg.expm", "autodiff.scipy.linalg.expm"),
    (lambda x: np.sum(scipy.linalg.solve_triangular(np.eye(3) * 2, x)), "scipy.linalg.solve_triangular",
     "autodiff.scipy.linalg.solve_triangular"),
])
def test_a_scipy_function_names_itself_and_its_autodiff_counterpart(call, name, counterpart):
    for transform in (ad.grad, ad.jacfwd):
        with pytest.raises(TypeError, match=rf"{name}.*Use {counterpart}"):
            transform(call)(X)


def test_a_scipy_function_without_counterpart_says_so():
    with pytest.raises(TypeError, match="scipy.integrate.trapezoid.*no differentiable version"):
        ad.grad(lambda x: scipy.integrate.trapezoid(x))(X)
    with pytest.raises(TypeError, match="scipy.stats.norm.logpdf"):
        ad.grad(lambda x: np.sum(scipy.stats.norm.logpdf(x, scale=x[0] ** 2)))(X)


# ---- ndarray methods: ndarray's signatures --------------------------------------------------------

def test_item_takes_ndarrays_arguments_and_raises_the_conversion_error():
    for args in ((), (0,), (1,)):
        with pytest.raises(TypeError, match=r"\.item\(\) of a traced value"):
            ad.grad(lambda x, a=args: x.item(*a) + np.sum(x))(X)


def test_methods_take_ndarrays_positional_arguments():
    A = np.arange(6.0).reshape(2, 3) / 4

    def f(a):
        return (a.sum(0, None, None, True).sum() + a.mean(1, None, None, True).sum()
                + a.max(1, None, True).sum() + a.std(0, None, None, 1, True).sum()
                + a.cumsum(1, None).sum() + a.reshape((3, 2), order="C").sum() + a.take([0, 2], 1).sum()
                + a.clip(0.1, 1.0).sum() + a.astype(np.float64, "K").sum() + a.copy("C").sum()
                + a.var(None, None, None, 0).sum() + a.dot(np.ones(3), None).sum())

    def g(a):
        return (a.sum(0, keepdims=True).sum() + a.mean(1, keepdims=True).sum() + a.max(1).sum()
                + a.std(0, ddof=1).sum() + np.cumsum(a, 1).sum() + a.sum() + a[:, [0, 2]].sum()
                + np.clip(a, 0.1, 1.0).sum() + a.sum() + a.sum() + np.var(a) + (a @ np.ones(3)).sum())

    np.testing.assert_allclose(ad.grad(f)(A), ad.grad(g)(A), rtol=1e-13)
    assert ad.grad(lambda a: a.sum(0, None, None, True).shape[0] * np.sum(a))(A).shape == A.shape


def test_out_arguments_and_fill_are_refused_clearly():
    out = np.zeros(3)
    with pytest.raises(TypeError, match="out="):
        ad.grad(lambda x: x.sum(0, None, out))(X)
    with pytest.raises(TypeError, match="immutable"):
        ad.grad(lambda x: x.fill(0.0))(X)


# ---- vjp_fn's cotangent ---------------------------------------------------------------------------

def test_vjp_fn_says_what_a_cotangent_must_be():
    _, vjp_fn = ad.vjp(np.sin, 1.0)
    with pytest.raises(TypeError, match=r"array shaped like the output.*float.*got str"):
        vjp_fn("a")
    _, vjp_fn = ad.vjp(np.sin, X)
    with pytest.raises(ValueError, match=r"shape \(2,\).*\(3,\)"):
        vjp_fn(np.ones(2))
    np.testing.assert_allclose(vjp_fn(np.array([1, 2, 3]))[0], np.cos(X) * [1, 2, 3])   # integers: fine


def test_more_ndarray_methods_and_attributes():
    def f(x):
        return np.sum(x * x.round(1)) + x.all() + x.any(0) + x.nbytes + x.itemsize + round(x[0])

    np.testing.assert_allclose(ad.grad(f)(np.array([1.23, 2.0])), [1.2, 2.0], rtol=1e-14)
    with pytest.raises(TypeError, match=r"np\.sort"):
        ad.grad(lambda x: x.sort())(X)


def test_every_kind_of_traced_value_is_refused_by_a_numpy_store():
    y = np.zeros(3)
    with pytest.raises(TypeError, match="index_update"):
        y[0] = ad.Dual(1.0, 1.0)                                    # a free dual number
    with pytest.raises(TypeError, match="index_update"):            # inside a checkpoint
        ad.grad(lambda x: np.sum(ad.checkpoint(_store_scalar)(x)))(X)
    with pytest.raises(TypeError, match="index_update"):            # forward over reverse
        ad.hessian(_store_scalar)(X)
