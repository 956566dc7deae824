"""The three packages import in any order, each first in a fresh interpreter; the public names exist."""

import subprocess
import sys

import pytest

PUBLIC = [
    # SPEC sections 3-7: forward, reverse, the shared part, the registry, testing.
    "Dual", "jvp", "jacfwd", "ForwardAccumulator",
    "vjp", "grad", "value_and_grad", "jacrev", "checkpoint", "stop_gradient", "GradientTape",
    "constant", "Tensor", "Variable", "Module", "layers", "nn",
    "jacobian", "plan_jacobian", "JacobianPlan", "hessian", "hvp",
    "primitive", "defjvp", "defvjp", "registry", "index_update", "index_add", "testing",
]


def run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("order", [
    ("forward", "reverse", "autodiff"),
    ("reverse", "forward", "autodiff"),
    ("autodiff", "forward", "reverse"),
    ("autodiff.testing", "autodiff", "forward"),
], ids=lambda o: "-".join(o))
def test_each_package_imports_first_in_a_fresh_interpreter(order):
    code = "; ".join(f"import {m}" for m in order)
    # Then use all three together: forward and reverse compose through levels, not imports.
    code += ("; import autodiff as ad, forward, reverse, numpy as np"
             "; assert forward.jvp is ad.jvp and reverse.grad is ad.grad"
             "; print(reverse.grad(lambda x: forward.jvp(np.sin, (x,), (1.0,))[1])(0.0))")
    assert float(run(code)) == 0.0


def test_dir_lists_the_public_names_and_each_resolves():
    names = run("import autodiff; print(' '.join(dir(autodiff)))").split()
    missing = [n for n in PUBLIC if n not in names]
    assert not missing, f"dir(autodiff) lacks {missing}"
    # Every listed name resolves lazily, in a fresh interpreter.
    code = ("import autodiff\nbad = []\nfor n in dir(autodiff):\n    try:\n        getattr(autodiff, n)\n"
            "    except Exception as e:\n        bad.append(f'{n}: {e!r}')\nprint(bad)")
    assert run(code).strip() == "[]"


def test_an_unknown_name_is_an_attribute_error():
    import autodiff

    with pytest.raises(AttributeError, match="no_such_thing"):
        autodiff.no_such_thing  # noqa: B018
