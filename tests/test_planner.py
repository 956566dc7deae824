"""The planner: the cost model, the work it reads off the recorded graph, the cache, measure=True and
the reason it gives (SPEC §5)."""

from __future__ import annotations

import numpy as np
import pytest

import autodiff as ad
from autodiff import planner
from autodiff.jacobians import _reason
from autodiff.pytree import tree_flatten
from reverse.vjp import Recording

RNG = np.random.default_rng(3)


def _chain(n, m, depth=4):
    A = RNG.standard_normal((m, n)) / np.sqrt(n)

    def f(x):
        y = A @ x
        for _ in range(depth):
            y = np.sin(y) * 0.5 + y
        return y

    return f, RNG.standard_normal(n)


def _costs(f, x):
    rec = Recording(f, tree_flatten((x,))[1], [x], keep_nodes=True)
    return planner.graph_costs(rec.tape.nodes, rec.in_nodes, rec.out_nodes, x.size, rec.values[0].size)


def test_cost_model_is_measured_once_and_positive():
    model = planner.cost_model()
    assert planner.cost_model() is model
    for value in (*model.call.values(), *model.op.values(), model.elem, model.elem_large, model.fill,
                  model.flop, model.flop_large):
        assert 0 < value < 1e-2


def test_diagonal_seeds_are_counted_where_the_sweep_keeps_them():
    # reverse: the output's identity (m >= 100) stays diagonal back through all 12 elementwise steps and
    # reaches the matrix product diagonal (a row scaling there); forward: n = 20 is below the threshold
    costs = _costs(*_chain(20, 150))
    assert costs.diagonal == {"forward": 0, "reverse": 13}
    costs = _costs(*_chain(150, 20))       # forward: the input's identity meets the product at once
    assert costs.diagonal == {"forward": 1, "reverse": 0}
    costs = _costs(*_chain(20, 50))          # below diagonal.MIN_SIZE: no diagonal seed at all
    assert costs.diagonal == {"forward": 0, "reverse": 0}


def test_matrix_product_work_scales_with_directions_unless_the_seed_is_diagonal():
    W = RNG.standard_normal((64, 30))
    costs = _costs(lambda x: W @ x, RNG.standard_normal(30))
    # one product of 64 x 30 multiply-adds per direction, in each mode
    assert costs.per_direction["forward"]["flops"] + costs.per_direction["forward"]["flops_large"] == 64 * 30
    assert costs.per_direction["reverse"]["flops"] + costs.per_direction["reverse"]["flops_large"] == 64 * 30
    W = RNG.standard_normal((64, 300))
    costs = _costs(lambda x: W @ x, RNG.standard_normal(300))
    # forward: the diagonal seed turns the product into a row scaling (64 entries per direction)
    assert costs.per_direction["forward"]["flops"] + costs.per_direction["forward"]["flops_large"] == 0
    assert costs.per_direction["forward"]["elems"] + costs.per_direction["forward"]["elems_large"] == 64


def test_predicted_time_is_directions_times_cost_plus_fixed():
    f, x = _chain(30, 90)
    plan = ad.plan_jacobian(f, x)
    for mode in ("forward", "reverse"):
        assert plan.predicted[mode] == pytest.approx(
            plan.predicted_fixed[mode] + plan.passes[mode] * plan.predicted_per_direction[mode])
    assert plan.mode == min(plan.predicted, key=plan.predicted.get)


def test_plan_is_cached_per_shape_signature():
    calls = []
    A = RNG.standard_normal((20, 5))

    def f(x):
        calls.append(1)
        return np.tanh(A @ x[:5])

    first = ad.plan_jacobian(f, np.ones(5))
    per_plan = len(calls)        # one recorded evaluation, and one index-set trace for the sparsity report
    assert per_plan == 2
    assert ad.plan_jacobian(f, np.zeros(5)) is first and len(calls) == per_plan
    other = ad.plan_jacobian(f, np.ones(8))
    assert other is not first and other.n_inputs == 8 and len(calls) == 2 * per_plan


def test_measure_times_each_mode_on_f():
    f, x = _chain(40, 60)
    plan = ad.plan_jacobian(f, x, measure=True)
    assert plan.measured and "timed" in plan.reason and "timed" in str(plan)
    assert set(plan.predicted) == {"forward", "reverse"}
    assert all(0 < t < 1 for t in plan.predicted.values())
    assert plan.mode == min(plan.predicted, key=plan.predicted.get)
    assert not ad.plan_jacobian(f, x).measured       # estimate and measurement are cached apart


def test_reason_says_where_and_why_the_choice_departs_from_the_rule():
    passes = {"forward": 300, "reverse": 4}
    text = _reason(300, 4, "forward", "reverse", {"forward": 5e-5, "reverse": 1.4e-4},
                   {"forward": 4e-5, "reverse": 1e-4}, {"forward": 3e-8, "reverse": 1e-5}, passes,
                   {"forward": 1, "reverse": 0}, False, 1000)
    assert "rule takes reverse mode (4 directions against 300)" in text
    assert "departs from the rule because" in text and "diagonal" in text and "fixed cost" in text
    text = _reason(3, 50, "forward", "forward", {"forward": 1e-5, "reverse": 4e-5},
                   {"forward": 1e-5, "reverse": 1e-5}, {"forward": 1e-7, "reverse": 6e-7},
                   {"forward": 3, "reverse": 50}, {}, False, 2048)
    assert "The rule holds" in text and "no tape" in text


def test_executor_none_is_in_process_and_a_non_executor_is_refused():
    f, x = _chain(5, 7)
    np.testing.assert_allclose(ad.jacobian(f, executor=None)(x), ad.jacfwd(f)(x), rtol=1e-13)
    with pytest.raises(TypeError, match="submit"):
        ad.jacobian(f, executor=object())


def test_plan_reports_a_sparse_pattern_and_its_colors():
    def bratu(u):
        inner = u[:-2] - 2 * u[1:-1] + u[2:] + 0.5 * np.exp(u[1:-1])
        return np.concatenate([u[:1], inner, u[-1:]])

    plan = ad.plan_jacobian(bratu, np.ones(200))
    assert plan.sparsity["nnz"] == 3 * 198 + 2
    assert plan.sparsity["n_colors_forward"] == 3 and plan.sparsity["n_colors_reverse"] == 3
    assert "sparse_jacobian would need 3 JVPs" in plan.reason and "sparse: 596 non-zeros" in str(plan)
    assert ad.plan_jacobian(bratu, np.ones(200), sparsity=False).sparsity is None
    W = np.random.default_rng(0).standard_normal((30, 20))
    assert ad.plan_jacobian(lambda x: np.tanh(W @ x), np.ones(20)).sparsity is None   # dense: no report


def test_forward_mode_pays_for_transposing_its_columns_unless_they_come_out_column_major(monkeypatch):
    """Forward mode's tangents are the Jacobian's columns: the C-ordered result is a transposing copy
    (``fixed["forward"]["transposed"]``), except after a row scaling by a diagonal seed, which comes out
    column-major already (and stays so through elementwise operations of it). The model's account of
    the copy is checked against the copies jacfwd actually makes."""
    from autodiff import batching

    copies = []
    original = batching.contiguous

    def spy(a):
        copies.append(type(a) is np.ndarray and not (a.flags.c_contiguous and a.flags.writeable))
        return original(a)

    monkeypatch.setattr(batching, "contiguous", spy)
    W = RNG.standard_normal((64, 300))
    V = RNG.standard_normal((300, 64))
    n = 300
    for f, transposed in ((lambda x: W @ x, False), (lambda x: np.tanh(W @ x), False),
                          (lambda x: np.sin(x), True), (lambda x: np.tanh(V @ np.tanh(W @ x)), True)):
        x = RNG.standard_normal(n)
        costs = _costs(f, x)
        assert costs.fixed["forward"].get("transposed", 0.0) == (n * f(x).size if transposed else 0.0)
        assert costs.fixed["reverse"].get("transposed", 0.0) == 0.0
        copies.clear()
        ad.jacfwd(f)(x)
        assert copies == [transposed]
    assert 0 < planner.cost_model().transpose < 1e-6
