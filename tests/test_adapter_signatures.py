"""Every NumPy adapter (an ``@implements`` function) takes NumPy's own signature.

A user calls ``np.concatenate((a, b), 1)`` with traced values exactly as with arrays; NumPy hands the
call to the adapter with the arguments as given, so an adapter whose parameters differ from NumPy's
(names, order, positional-only or keyword-only) breaks that call, or — worse — silently ignores an
argument. The checks here:

- each adapter accepts NumPy's parameters, by position where NumPy allows it and by name (from
  ``inspect.signature`` of NumPy's function);
- no NumPy function is claimed by two adapters (``np.concat is np.concatenate`` in NumPy 2: a second
  registration replaced the first with a narrower signature, which is how the positional axis broke);
- every adapter is called in its positional form (tests/_adapter_cases.py) under forward and reverse
  mode, and gives NumPy's value.
"""

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest
from _adapter_cases import CASES, case_id, flat_outputs, xfail_if_known

import autodiff as ad
from autodiff import core
from autodiff.testing import check_grads, traced_values

RULES = Path(ad.__file__).parent / "rules"
P = inspect.Parameter
POSITIONAL = (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)


def _adapters():
    """(NumPy function, adapter) for every adapter the rule modules register."""
    return [(f, a) for f, a in core._dispatch.items()
            if not isinstance(a, core.Primitive) and a.__module__.startswith("autodiff.rules")]


def _signature_problems(fn, adapter):
    try:
        theirs = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    ours = inspect.signature(adapter).parameters
    if any(p.kind == P.VAR_POSITIONAL for p in ours.values()):
        positional_ok = True
    else:
        want = [p.name for p in theirs.parameters.values() if p.kind in POSITIONAL]
        have = [p.name for p in ours.values() if p.kind in POSITIONAL]
        positional_ok = have[:len(want)] == want
    problems = [] if positional_ok else [f"positional parameters {have} instead of NumPy's {want}"]
    takes_any_keyword = any(p.kind == P.VAR_KEYWORD for p in ours.values())
    for p in theirs.parameters.values():
        if p.kind not in (P.POSITIONAL_OR_KEYWORD, P.KEYWORD_ONLY):
            continue
        if p.name not in ours and not takes_any_keyword:
            problems.append(f"no parameter {p.name!r}")
        elif p.name in ours and ours[p.name].kind == P.POSITIONAL_ONLY:
            problems.append(f"{p.name!r} is positional-only, NumPy's is not")
    return problems


@pytest.mark.parametrize("fn, adapter", _adapters(), ids=lambda x: getattr(x, "__name__", "?"))
def test_adapter_takes_numpys_signature(fn, adapter):
    if isinstance(fn, np.ufunc):
        return  # ufuncs reach adapters through __array_ufunc__, which passes the inputs only
    problems = _signature_problems(fn, adapter)
    assert not problems, f"{fn.__module__}.{fn.__name__}: {adapter.__name__} has " + "; ".join(problems)


def _implements_targets(tree):
    """(line, source text) of every NumPy function named in an ``implements(...)`` call."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "implements":
            for arg in node.args:
                yield node.lineno, ast.unparse(arg)


def test_no_numpy_function_is_claimed_by_two_adapters():
    seen = {}
    clashes = []
    for path in sorted(RULES.glob("*.py")):
        for line, text in _implements_targets(ast.parse(path.read_text(encoding="utf-8"))):
            fn = eval(text, {"np": np})  # noqa: S307  (our own source: np.<name> expressions)
            where = f"{path.name}:{line} ({text})"
            if id(fn) in seen and seen[id(fn)][0] != (path.name, line):
                clashes.append(f"{where} and {seen[id(fn)][1]} are the same function")
            seen[id(fn)] = ((path.name, line), where)
    assert not clashes, "; ".join(clashes)


def test_every_adapter_is_called_by_a_case():
    called = {id(c.fn) for c in CASES}
    missing = sorted(f"{f.__module__}.{f.__name__}" for f, a in core._dispatch.items()
                     if not isinstance(a, core.Primitive) and id(f) not in called)
    assert not missing, f"adapters without a case in tests/_adapter_cases.py: {missing}"


@pytest.mark.parametrize("case", [xfail_if_known(c) for c in CASES], ids=case_id)
def test_positional_call_gives_numpys_value_in_both_modes(case):
    want = flat_outputs(case.call(*case.inputs))
    fun = lambda *xs: flat_outputs(case.call(*xs))  # noqa: E731
    for mode, got in traced_values(fun, case.inputs, np.random.default_rng(0)).items():
        assert len(got) == len(want), mode
        for g, w in zip(got, want):
            if isinstance(w, (np.ndarray, np.generic, float, int, complex)):
                np.testing.assert_allclose(np.asarray(core.lower(g)), w, rtol=1e-13, atol=1e-13,
                                           err_msg=f"{case.name} under {mode}")
            else:   # a dtype, a shape entry, a boolean answer
                assert g == w, f"{case.name} under {mode}: {g!r} != {w!r}"


def test_concatenate_with_a_positional_axis_differentiates():
    a, b = np.arange(4.0).reshape(2, 2), np.ones((2, 3))
    np.testing.assert_array_equal(ad.grad(lambda a: np.sum(np.concatenate((a, b), 1) ** 2))(a), 2 * a)
    _, t = ad.jvp(lambda a: np.concatenate((a, b), 1, None), (a,), (np.ones_like(a),))
    np.testing.assert_array_equal(t, np.concatenate((np.ones((2, 2)), np.zeros((2, 3))), 1))


@pytest.mark.parametrize("call", [
    lambda x: np.concatenate((x, x), 0, np.empty((4, 3))),
    lambda x: np.stack((x, x), 0, np.empty((2, 2, 3))),
    lambda x: np.outer(x, x, np.empty((6, 6))),
    lambda x: np.clip(x, 0, 1, np.empty((2, 3))),
    lambda x: np.linalg.multi_dot([x, x.T], out=np.empty((2, 2))),
], ids=["concatenate", "stack", "outer", "clip", "multi_dot"])
def test_out_argument_is_refused_not_ignored(call):
    with pytest.raises(TypeError, match="out="):
        ad.grad(lambda x: np.sum(call(x)))(np.ones((2, 3)))


def _differentiable(case):
    outs = flat_outputs(case.call(*case.inputs))
    return (all(isinstance(o, np.ndarray) and o.dtype == np.float64 for o in outs)
            and all(np.isrealobj(x) and np.all(np.isfinite(x)) for x in case.inputs))


@pytest.mark.parametrize("case", [xfail_if_known(c) for c in CASES if _differentiable(c)], ids=case_id)
def test_positional_call_differentiates_like_finite_differences(case):
    check_grads(lambda *xs: flat_outputs(case.call(*xs)), case.inputs, order=1)
