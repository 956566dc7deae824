"""README.md's tour runs as written, and what its comments claim holds."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

import autodiff as ad

README = Path(__file__).resolve().parents[1] / "README.md"


def _tour_code() -> str:
    text = README.read_text()
    section = text[text.index("## A tour"):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README.md's tour has no python code block"
    return match.group(1)


def test_readme_tour_runs_as_written(capsys):
    scope: dict = {}
    exec(compile(_tour_code(), str(README) + ":tour", "exec"), scope)  # noqa: S102
    assert "JacobianPlan" in capsys.readouterr().out
    f, loss, v = scope["f"], scope["loss"], scope["v"]
    assert scope["c"].forward_passes == 1
    assert repr(scope["dy_dx"]) == "Tensor(6.0, shape=(), dtype=float64)"
    # the claims in the comments: f is R^3 -> R^5, the Hessian and the HVP of the scalar loss agree
    x = np.random.default_rng(0).standard_normal(3)
    assert f(x).shape == (5,) and np.shape(loss(x)) == ()
    H = ad.hessian(loss)(x)
    np.testing.assert_allclose(ad.hvp(loss, (x,), (v,)), H @ v, rtol=1e-10)
    np.testing.assert_allclose(ad.jacobian(f)(x), ad.jacfwd(f)(x), rtol=1e-12)
