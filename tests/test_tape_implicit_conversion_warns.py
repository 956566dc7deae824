"""SPEC §4: inside an active tape, converting a watched Tensor or Variable to a NumPy array implicitly
(``np.asarray``, ``np.array``, a SciPy function that calls them) warns — once per tape — that the gradient
path is cut there; ``.numpy()`` and ``float()`` are the explicit path-breakers and stay silent.

The same holds for a ForwardAccumulator (the tangent is cut there), once per accumulator.
"""

import warnings

import numpy as np
import pytest
import scipy.special

import autodiff as ad

MESSAGE = "converted to a NumPy array implicitly"


def test_scipy_function_on_a_watched_variable_warns_and_its_term_is_missing():
    v = ad.Variable([1.0, 2.0, 3.0])
    with ad.GradientTape() as tape:
        with pytest.warns(UserWarning, match=MESSAGE):
            lse = scipy.special.logsumexp(v)     # a plain number: its derivative is lost
        y = np.sum(v ** 2) + lse
    # only the v**2 term reaches the gradient, as the warning said
    np.testing.assert_allclose(tape.gradient(y, v).numpy(), [2.0, 4.0, 6.0])


@pytest.mark.parametrize("convert", [np.asarray, np.array, lambda t: np.array([t, t])],
                         ids=["asarray", "array", "array of tensors"])
def test_numpy_conversions_of_watched_values_warn(convert):
    v = ad.Variable([1.0, 2.0])
    c = ad.constant(3.0)
    with ad.GradientTape() as tape:
        tape.watch(c)
        with pytest.warns(UserWarning, match=MESSAGE):
            convert(v)                           # a watched Variable
    with ad.GradientTape() as tape:
        tape.watch(c)
        with pytest.warns(UserWarning, match=MESSAGE):
            convert(c)                           # a watched constant
    with ad.GradientTape() as tape:
        h = v * 2.0
        with pytest.warns(UserWarning, match=MESSAGE):
            convert(h)                           # an intermediate result recorded by the tape


def test_the_warning_is_given_once_per_tape():
    v = ad.Variable([1.0, 2.0])
    with ad.GradientTape() as tape:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            np.asarray(v)
            np.asarray(v * 3.0)
            scipy.special.logsumexp(v)
    assert [str(w.message).count(MESSAGE) for w in caught] == [1]
    with ad.GradientTape() as tape:              # a new tape warns again
        with pytest.warns(UserWarning, match=MESSAGE):
            np.asarray(v)
    tape.gradient(v * 1.0, v)


def test_explicit_path_breakers_and_unwatched_values_stay_silent():
    v = ad.Variable([1.0, 2.0])
    s = ad.Variable(2.0)
    frozen = ad.Variable([5.0, 6.0], trainable=False)
    c = ad.constant([1.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with ad.GradientTape() as tape:
            v.numpy()
            (v * 2.0).numpy()
            float(s)
            float(s * s)
            np.asarray(frozen)                   # not watched
            np.asarray(c)                        # not watched
            y = np.sum(v * v)
        np.asarray(v)                            # outside every tape
        np.asarray(y)
        tape.gradient(y, v)
        with ad.GradientTape(watch_accessed_variables=False):
            np.asarray(v)                        # not watched by this tape


def test_nested_tapes_each_warn_once():
    v = ad.Variable([1.0, 2.0])
    with ad.GradientTape() as outer:
        with ad.GradientTape() as inner:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                np.asarray(v * v)
                np.asarray(v)
    assert sum(MESSAGE in str(w.message) for w in caught) == 2   # one per tape
    del outer, inner


def test_forward_accumulator_warns_once():
    v = ad.Variable([1.0, 2.0])
    with ad.ForwardAccumulator(v, np.ones(2)) as acc:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            np.asarray(v)
            y = np.sum(v * v) + scipy.special.logsumexp(v * 1.0)
    assert sum("ForwardAccumulator" in str(w.message) for w in caught) == 1
    assert acc.jvp(y).numpy() == pytest.approx(6.0)   # only the v*v term, as the warning said


def test_conversion_inside_a_functional_transformation_still_raises():
    with pytest.raises(TypeError, match="NumPy array"):
        ad.grad(lambda x: np.sum(np.asarray(ad.constant(x))))(np.ones(2))
