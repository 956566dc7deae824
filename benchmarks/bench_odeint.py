"""Issue 13: derivatives of ``odeint`` — the adjoint method (reverse) and forward sensitivities (forward),
side by side with HIPS autograd's ``odeint`` (an adjoint method too) on the same problems.

- reverse case: n = 100 parameters (a 10 × 10 coupling matrix), m = 1 output (a loss at the end time);
- forward case: n = 1 parameter (a gain), m = 100 outputs (10 states at 10 times).

Each derivative is a ratio to one plain ``scipy.integrate.odeint`` solve of the same problem at the same
tolerances; the mode that does not suit the case ("wrong" mode) is reported next to it. Peak memory of
the reverse-mode gradient is measured as the number of solver steps grows about tenfold (a longer time
span): the adjoint method keeps only the solution at the requested times, so it stays flat.
"""

from __future__ import annotations

import numpy as np
import scipy.integrate
from _common import Section, Settings, Target, fmt_time, mib, peak_extra_bytes, progress, table, time_together

import autodiff as ad
from autodiff.scipy.integrate import odeint

STATES = 10
RNG = np.random.default_rng(0)
W0 = RNG.standard_normal((STATES, STATES)) / np.sqrt(STATES)
Y0 = RNG.uniform(-1.0, 1.0, STATES)


def coupled(np_):
    """dy/dt = tanh(W y) - y / 2: W (10 × 10) holds the 100 parameters."""
    def f(y, t, W):
        return np_.tanh(W @ y) - 0.5 * y
    return f


def gained(np_):
    """dy/dt = k tanh(W0 y) - y / 2 with one parameter, the gain k."""
    def f(y, t, k):
        return k * np_.tanh(np_.dot(W0, y)) - 0.5 * y
    return f


def _reverse_case(s: Settings, autograd, anp, ag_odeint, t_end: float = 1.0) -> tuple[dict, dict]:
    from autograd.builtins import tuple as ag_tuple
    t = np.array([0.0, t_end])
    f = coupled(np)
    W = W0.copy()

    def loss(W):
        return np.sum(odeint(f, Y0, t, (W,))[-1] ** 2)

    def loss_ag(W):
        return anp.sum(ag_odeint(coupled(anp), Y0, t, ag_tuple((W,)))[-1] ** 2)

    ours, ag = ad.grad(loss), autograd.grad(loss_ag)
    np.testing.assert_allclose(ours(W), ag(W), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(ours(W), ad.jacfwd(loss)(W), rtol=1e-5, atol=1e-8)
    fns = {"plain odeint": lambda: scipy.integrate.odeint(f, Y0, t, (W,)),
           "autodiff grad (reverse, adjoint)": lambda: ours(W),
           "autodiff jacfwd (forward: 100 directions)": lambda: ad.jacfwd(loss)(W),
           "autograd grad (adjoint)": lambda: ag(W)}
    return time_together(fns, s, "plain odeint"), {"grad": lambda: ours(W)}


def _forward_case(s: Settings, autograd, anp, ag_odeint) -> dict:
    from autograd.builtins import tuple as ag_tuple
    t = np.linspace(0.0, 2.0, 10)
    f = gained(np)
    k = 1.3

    def trajectory(k):
        return odeint(f, Y0, t, (k,))

    def trajectory_ag(k):
        return ag_odeint(gained(anp), Y0, t, ag_tuple((k,)))

    ours_fwd, ours_rev = ad.jacfwd(trajectory), ad.jacrev(trajectory)
    ag_jac = autograd.jacobian(trajectory_ag)
    np.testing.assert_allclose(ours_fwd(k), ag_jac(k), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(ours_fwd(k), ours_rev(k), rtol=1e-5, atol=1e-8)
    fns = {"plain odeint": lambda: scipy.integrate.odeint(f, Y0, t, (k,)),
           "autodiff jacfwd (forward sensitivities)": lambda: ours_fwd(k),
           "autodiff jacrev (reverse: 100 directions)": lambda: ours_rev(k),
           "autograd jacobian (adjoint, 100 passes)": lambda: ag_jac(k)}
    return time_together(fns, s, "plain odeint")


def _steps(t_end: float) -> int:
    f = coupled(np)
    info = scipy.integrate.odeint(f, Y0, [0.0, t_end], (W0,), full_output=True)[1]
    return int(info["nst"][-1])


def run(quick: bool = False) -> Section:
    import autograd
    import autograd.numpy as anp
    from autograd.scipy.integrate import odeint as ag_odeint

    progress("odeint")
    s = Settings.for_mode(quick)
    rev, _ = _reverse_case(s, autograd, anp, ag_odeint)
    fwd = _forward_case(s, autograd, anp, ag_odeint)
    rows = [["reverse: n = 100, m = 1", name, fmt_time(t), f"{r:.1f}x"] for name, (t, r) in rev.items()]
    rows += [["forward: n = 1, m = 100", name, fmt_time(t), f"{r:.1f}x"] for name, (t, r) in fwd.items()]
    memory = []
    f = coupled(np)
    for t_end in (1.0, 60.0):     # about ten times the solver steps
        t = np.array([0.0, t_end])
        grad = ad.grad(lambda W, _t=t: np.sum(odeint(f, Y0, _t, (W,))[-1] ** 2))
        memory.append((t_end, _steps(t_end), peak_extra_bytes(lambda g=grad: g(W0))))
    mem_rows = [[f"t = 0..{t_end:g}", str(steps), mib(peak)] for t_end, steps, peak in memory]
    ag_rev = rev["autograd grad (adjoint)"][0] / rev["autodiff grad (reverse, adjoint)"][0]
    ag_fwd = (fwd["autograd jacobian (adjoint, 100 passes)"][0]
              / fwd["autodiff jacfwd (forward sensitivities)"][0])
    growth = memory[1][2] / max(memory[0][2], 1)
    targets = [
        Target("odeint reverse (n=100, m=1) / plain solve", rev["autodiff grad (reverse, adjoint)"][1], 10),
        Target("odeint forward (n=1, m=100) / plain solve",
               fwd["autodiff jacfwd (forward sensitivities)"][1], 10),
        Target("autograd's gradient time / ours (reverse case), inverted", 1 / ag_rev, 0.5),
        Target("autograd's Jacobian time / ours (forward case), inverted", 1 / ag_fwd, 0.5),
        Target(f"gradient peak memory, {memory[1][1]} vs {memory[0][1]} solver steps (ratio)", growth, 1.5),
    ]
    body = ("Ratios to one plain `scipy.integrate.odeint` solve (default tolerances), timed round-robin. "
            "The inverted autograd rows are ours / autograd's (≤ 0.5 means at least 2x faster).\n\n"
            + table(["case", "what", "time", "/ plain solve"], rows)
            + "\n\nPeak memory of the reverse-mode gradient (tracemalloc) as the solver takes more steps:\n\n"
            + table(["time span", "solver steps", "peak memory"], mem_rows))
    return Section("odeint: adjoint (reverse) and forward sensitivities", body, targets)


if __name__ == "__main__":
    sec = run(quick=False)
    print(sec.body)
    print(table(["target", "value", "limit", "verdict"], [t.row() for t in sec.targets]))
