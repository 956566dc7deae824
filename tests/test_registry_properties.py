"""Registry-driven property tests: every primitive autodiff registers, checked the moment it exists.

For each primitive and each property (JVP against scipy.differentiate, VJP against JVP by the
dot-product identity, batched against looped tangents and cotangents, second order, float32), Hypothesis
draws seeds for the primitive's test domain (``prim.domain(np.random.default_rng(seed))``). A
differentiable primitive without a rule or a test domain fails; a zero-derivative one (``nondiff``, or
rules that are all None) must give constant outputs. The checks themselves live in autodiff.testing,
shared with the coverage table (docs/coverage.md), which the last test here keeps up to date.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from autodiff import coverage, registry
from autodiff.testing import PROPERTIES, check_property, package_primitives, primitive_status

NAMES = [p.name for p in package_primitives()]

# A few examples per primitive and property keep the whole file within about a minute on 2 cores;
# raise AUTODIFF_REGISTRY_EXAMPLES for a deeper run. Shrinking a seed means nothing, so it is skipped.
EXAMPLES = int(os.environ.get("AUTODIFF_REGISTRY_EXAMPLES", "8"))
per_primitive = settings(max_examples=EXAMPLES, phases=[Phase.explicit, Phase.reuse, Phase.generate],
                         report_multiple_bugs=False)
seeds = st.integers(0, 2**32 - 1)


def _check(name: str, prop: str, seed: int) -> None:
    check_property(registry[name], prop, seed)


@pytest.mark.parametrize("name", NAMES)
@per_primitive
@given(seed=seeds)
def test_jvp_matches_finite_differences(name, seed):
    _check(name, "JVP", seed)


@pytest.mark.parametrize("name", NAMES)
@per_primitive
@given(seed=seeds)
def test_vjp_is_the_transpose_of_the_jvp(name, seed):
    _check(name, "VJP", seed)


@pytest.mark.parametrize("name", NAMES)
@per_primitive
@given(seed=seeds)
def test_batched_tangents_and_cotangents_match_a_loop(name, seed):
    _check(name, "batched", seed)


@pytest.mark.parametrize("name", NAMES)
@per_primitive
@given(seed=seeds)
def test_second_order_derivatives(name, seed):
    _check(name, "second order", seed)


@pytest.mark.parametrize("name", NAMES)
@per_primitive
@given(seed=seeds)
def test_float32_in_float32_derivatives_out(name, seed):
    _check(name, "float32", seed)


def test_the_properties_are_the_coverage_columns():
    # "traced value" is run per primitive by tests/test_traced_values_equal_numpy.py
    assert list(PROPERTIES) == ["JVP", "VJP", "second order", "batched", "float32", "traced value"]


def test_every_differentiable_primitive_has_a_rule_and_a_domain():
    missing = {p.name: primitive_status(p) for p in package_primitives() if primitive_status(p)}
    assert not missing, f"primitives that cannot be checked: {missing}"


def test_the_suite_covers_the_whole_registry_of_a_fresh_interpreter():
    # The parametrization above is the package's registry, whatever tests registered afterwards: what
    # `import autodiff` registers, and odeint's primitive, which lives above the modes
    # (autodiff.scipy.integrate, loaded on first use of autodiff.scipy.integrate).
    script = "import autodiff, autodiff.scipy.integrate; print(sorted(autodiff.registry))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert sorted(NAMES) == eval(out)  # noqa: S307  (our own repr of a list of strings)
    for core_name in ("add", "multiply", "sum", "matmul", "getitem", "reshape", "where"):
        assert core_name in NAMES


def test_missing_rule_or_domain_fails_the_check():
    from autodiff.core import Primitive

    no_rule = Primitive(np.sin, "throwaway_no_rule")          # not registered: never seen elsewhere
    with pytest.raises(AssertionError, match="no rule"):
        check_property(no_rule, "JVP", 0)
    no_domain = Primitive(np.cos, "throwaway_no_domain")
    no_domain.jvps = (lambda t, ans, x: -t * np.sin(x),)
    with pytest.raises(AssertionError, match="no domain"):
        check_property(no_domain, "VJP", 0)


def test_coverage_table_is_up_to_date():
    text = coverage.render(coverage.coverage_rows())
    path = coverage.DEFAULT_PATH
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    assert current == text, "docs/coverage.md is stale: run `python -m autodiff.coverage --write`"


def test_coverage_command_writes_and_detects_a_stale_file(tmp_path, monkeypatch, capsys):
    rows = [("sin", "jvp+vjp", "pass", "pass", "pass", "pass", "pass"),
            ("floor", "zero", *["zero-derivative"] * 5)]
    monkeypatch.setattr(coverage, "coverage_rows", lambda failures=None: rows)
    target = tmp_path / "coverage.md"
    assert coverage.main(["--write", str(target)]) == 0
    assert "| `sin` | jvp+vjp | pass | pass | pass | pass | pass |" in target.read_text()
    assert coverage.main(["--check", str(target)]) == 0
    target.write_text(target.read_text().replace("`floor`", "`ceil`"))
    assert coverage.main(["--check", str(target)]) == 1
    assert coverage.main([]) == 0
    assert "2 primitives (1 with a declared zero derivative); 5 checks pass" in capsys.readouterr().out
