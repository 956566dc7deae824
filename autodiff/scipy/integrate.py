"""Differentiable ``scipy.integrate.odeint``: the classic case of the forward-versus-reverse trade-off.

``odeint(func, y0, t, args=())`` solves ``dy/dt = func(y, t, *args)`` exactly as SciPy does (the same
LSODA call, the same values) and is one primitive of the registry, so both modes differentiate it, at
any order, with respect to ``y0``, ``t`` and every array in ``args``:

- **forward mode** (``jvp``, ``jacfwd``) solves the *forward sensitivity* equations alongside the state:
  ``dS/dt = J_y S + J_p dp``, ``S(t0) = dy0``, one column of S per input direction. Its cost grows with
  the number of inputs (parameters and initial values) and not with the number of outputs;
- **reverse mode** (``vjp``, ``grad``, ``jacrev``) uses the *adjoint method*: after the forward solve,
  it integrates ``da/dt = -aᵀ J_y`` (and ``dā_p/dt = -aᵀ J_p``) backwards from the last time point,
  adding each output's cotangent as it passes its time. Its cost grows with the number of outputs and
  not with the number of parameters, and it keeps only the solution at the requested times: memory does
  not grow with the number of solver steps (no solver step is taped).

So for a scalar loss of many parameters reverse mode wins; for many outputs of one parameter forward
mode does. Both sensitivity systems are solved by the same ``odeint`` primitive (their right-hand sides
evaluate ``func``'s JVPs or VJPs with this package's own transformations), which is why derivatives of
derivatives work. The derivatives are those of the exact solution, computed to the solver's tolerance —
not the derivative of LSODA's particular steps — so they agree with finite differences and with each
other to about ``rtol``.

The sensitivity systems evaluate ``func``'s JVPs or VJPs hundreds of times. Rather than tracing ``func``
at each evaluation, its primitive operations are recorded once per solve and replayed — their NumPy
implementations and the registry's rules called directly on plain arrays (``autodiff.scipy._replay``).
That recording never lets ``func`` see a value, so a ``func`` whose Python code branches on one
(``if y[0] > 0:``) is detected and traced at every evaluation instead; derivatives of derivatives
(traced points) trace ``func`` as well.

``func`` must not close over traced values: pass everything it should be differentiated with respect to
in ``args`` (a closed-over traced value raises ``TypeError`` saying so, rather than being treated as a
constant).
"""

from __future__ import annotations

import math
import weakref
from typing import Any, Callable, cast

import numpy as np
import scipy.integrate

from autodiff.core import Boxed, Sample, Tracer, defdomain, defjvp, defvjp, lower, primitive, shape_of
from autodiff.pytree import tree_flatten
from autodiff.scipy._replay import Program, Stale, record
from forward.jvp import push_forward
from reverse.vjp import Recording

__all__ = ["odeint"]

# SciPy's keyword options that only steer the solver (their values are passed through unchanged).
_OPTIONS = ("rtol", "atol", "tcrit", "h0", "hmax", "hmin", "ixpr", "mxstep", "mxhnil", "mxordn", "mxords")


class _FlatSystem:
    """A right-hand side on flat vectors, ``(y (n,), t, p (P,)) -> dy/dt (n,)``; subclasses set
    ``n_params`` and define ``__call__``. These generic hooks serve the sensitivity systems, which are
    themselves solved by the odeint primitive (so they can be differentiated again)."""

    n_params: int

    def __call__(self, y: Any, t: Any, p: Any) -> Any:
        raise NotImplementedError

    def linearized(self, y: Any, t: Any, p: Any) -> tuple[Callable, list]:
        return (lambda yy, pp: self(yy, t, pp)), [y, p]

    def flatten(self, parts: list, k: int) -> Any:
        return np.reshape(parts[0], (k, -1))

    def split(self, flat: Any, k: int) -> list:
        return [flat]


class _System(_FlatSystem):
    """``func`` on flat float vectors: ``(y (n,), t, p (P,)) -> dy/dt (n,)``.

    ``p`` concatenates the numeric arrays of ``args`` (raveled); the other arguments are held fixed.
    """

    def __init__(self, func: Callable, y_shape: tuple, args: tuple, tfirst: bool) -> None:
        self.func = func
        self.y_shape = y_shape
        self.tfirst = tfirst
        self.static = list(args)
        self.slots = []        # (position in args, shape, offset) of each differentiable argument
        offset = 0
        for i, a in enumerate(args):
            if _is_numeric(a):
                shape = shape_of(a) if isinstance(a, (Tracer, Boxed)) else np.shape(a)
                self.slots.append((i, shape, offset))
                offset += math.prod(shape)
        self.n_params = offset
        self.flat_y = len(y_shape) == 1
        self.all_numeric = len(self.slots) == len(args)
        self.spans = [(offset, offset + math.prod(shape), shape) for _, shape, offset in self.slots]
        self._program: Program | None | bool = False     # False: not recorded yet; None: not replayable
        self._unpacked: tuple | None = None                # (p, its arguments' views): replay_inputs

    def unpack(self, p: Any) -> list:
        """The numeric arguments read back from the flat parameter vector ``p`` (in their shapes)."""
        if type(p) is np.ndarray:      # the solver's own calls: ndarray methods, no NumPy dispatch
            return [p[start:stop].reshape(shape) for start, stop, shape in self.spans]
        return [np.reshape(p[offset:offset + math.prod(shape)], shape) for _, shape, offset in self.slots]

    def replay_inputs(self, y: np.ndarray, t: Any, p: np.ndarray) -> list:
        """The inputs of :meth:`program` at the flat point (y, t, p): y in its shape, t, each argument.

        The solver hands the same parameter array to every call of a solve, so its unpacked views are
        kept for as long as it is that array (views: they read p's entries as they are).
        """
        unpacked = self._unpacked
        if unpacked is None or unpacked[0] is not p:
            unpacked = self._unpacked = (p, self.unpack(p))
        return [y if self.flat_y else y.reshape(self.y_shape), np.asarray(t, dtype=float), *unpacked[1]]

    def program(self, y: np.ndarray, t: Any, p: np.ndarray) -> Program | None:
        """func's operations recorded once (at the first point asked for) to be replayed at every
        other point, or None when func cannot be replayed (``autodiff.scipy._replay``): then the
        sensitivity systems trace func at each point."""
        if self._program is False:
            live = [True, False] + [True] * len(self.slots)     # time gets no derivative here
            self._program = record(self._flat_rhs, self.replay_inputs(y, t, p), live)
        return self._program if isinstance(self._program, Program) else None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_program"] = False          # a recording is this process's: record again after unpickling
        state["_unpacked"] = None
        return state

    def forget_program(self) -> None:
        """A replay met shapes other than the recording's: trace func at each point from now on."""
        self._program = None

    def _flat_rhs(self, y: Any, t: Any, *numeric: Any) -> Any:
        out = self.rhs(y, t, list(numeric))
        return out if len(shape_of(out)) == 1 else np.reshape(out, (-1,))

    def rhs(self, y: Any, t: Any, numeric: list) -> Any:
        """``func`` at ``y`` (in y0's shape) with the numeric arguments ``numeric`` (in their shapes)."""
        if self.all_numeric:       # every argument is differentiable: nothing to interleave
            return self.func(t, y, *numeric) if self.tfirst else self.func(y, t, *numeric)
        args = list(self.static)
        for (i, _, _), a in zip(self.slots, numeric):
            args[i] = a
        return self.func(t, y, *args) if self.tfirst else self.func(y, t, *args)

    def __call__(self, y: Any, t: Any, p: Any) -> Any:
        if type(y) is np.ndarray and self.flat_y:      # the solver's own calls: no reshaping to do
            out = self.rhs(y, t, self.unpack(p))
            return out if type(out) is np.ndarray and out.ndim == 1 else np.reshape(out, (-1,))
        return np.reshape(self.rhs(np.reshape(y, self.y_shape), t, self.unpack(p)), (-1,))

    def direct(self, y0: Any, t: Any, p: Any) -> tuple[Callable, tuple] | None:
        """``(func, args)`` for SciPy to call func itself at plain points — the arguments unpacked from
        ``p`` once per solve instead of at every step — or None where the flat system must mediate:
        a y0 that is not a vector, a traced point, or a func whose output is not a flat vector of y0's
        length (``__call__`` reshapes it)."""
        if not self.flat_y or type(y0) is not np.ndarray or type(p) is not np.ndarray \
                or isinstance(t, (Tracer, Boxed)):
            return None
        args = list(self.static)
        for (i, _, _), a in zip(self.slots, self.unpack(p)):
            args[i] = a
        t0 = t[0] if np.ndim(t) else t
        out = self.func(t0, y0, *args) if self.tfirst else self.func(y0, t0, *args)
        if isinstance(out, (Tracer, Boxed)) or np.shape(out) != y0.shape:
            return None
        return self.func, tuple(args)

    def linearized(self, y: Any, t: Any, p: Any) -> tuple[Callable, list]:
        """``(g, primals)``: g(y, *numeric) = func's flat output, and its primal arguments at (y, p).

        The sensitivity systems differentiate g rather than ``__call__``, so no reshaping or slicing
        of the flat vectors is traced: that would double the cost of every right-hand side.
        """
        def g(yy, *numeric):
            out = self.rhs(yy, t, list(numeric))
            return out if len(shape_of(out)) == 1 else np.reshape(out, (-1,))
        return g, [np.reshape(y, self.y_shape)] + self.unpack(p)

    def flatten(self, parts: list, k: int) -> Any:
        """k (co)tangents of the numeric arguments (each (k,) + shape; None, the symbolic zero, gives
        zeros) as one (k, P) array."""
        if not parts:
            return np.zeros((k, 0))
        flat = [np.zeros((k, stop - start)) if c is None else
                c.reshape(k, -1) if type(c) is np.ndarray else np.reshape(c, (k, -1))
                for (start, stop, _), c in zip(self.spans, parts)]
        return flat[0] if len(flat) == 1 else np.concatenate(flat, axis=1)

    def split(self, flat: Any, k: int) -> list:
        """The inverse of :meth:`flatten`: (k, P) -> each argument's (k,) + shape."""
        return [np.reshape(flat[:, offset:offset + math.prod(shape)], (k,) + shape)
                for _, shape, offset in self.slots]


def _is_numeric(a: Any) -> bool:
    if isinstance(a, (Tracer, Boxed)):
        return True
    if isinstance(a, (bool, str, bytes)) or a is None or callable(a):
        return False
    try:
        return np.issubdtype(np.asarray(a).dtype, np.number)
    except (TypeError, ValueError):
        return False


def odeint(func: Callable, y0: Any, t: Any, args: tuple = (), Dfun: Any = None, col_deriv: int = 0,
           full_output: int = 0, ml: Any = None, mu: Any = None, *, tfirst: bool = False,
           **options: Any) -> Any:
    """Integrate ``dy/dt = func(y, t, *args)`` from ``y(t[0]) = y0``; the solution at each time in ``t``.

    SciPy's signature and values (``scipy.integrate.odeint``, LSODA), shape ``(len(t),) + y0.shape``,
    differentiable with respect to ``y0``, ``t`` and the numeric arrays of ``args`` in both modes (see
    the module docstring: forward sensitivities in forward mode, the adjoint ODE in reverse mode).
    Solver options (``rtol``, ``atol``, ``mxstep``, ``hmax``, ...) are SciPy's and also govern the
    sensitivity solves. ``Dfun``, ``col_deriv``, ``ml``/``mu`` and ``full_output`` are SciPy's only on
    plain (untraced) inputs.
    """
    for key in options:
        if key not in _OPTIONS:
            raise TypeError(f"odeint() got an unexpected keyword argument {key!r}")
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    if not _any_traced((y0, t) + args):
        return scipy.integrate.odeint(_refusing_traced(func), y0, t, args=args, Dfun=Dfun,
                                      col_deriv=col_deriv, full_output=full_output, ml=ml, mu=mu,
                                      tfirst=tfirst, **options)
    if Dfun is not None or full_output or ml is not None or mu is not None:
        raise NotImplementedError(
            "odeint on traced values does not take Dfun, col_deriv, ml/mu or full_output: leave them out "
            "(the sensitivities are computed from func's own derivatives).")
    y_shape = shape_of(y0)
    if np.iscomplexobj(lower(y0)):
        raise NotImplementedError("odeint: complex y0 is not supported (scipy.integrate.odeint is real).")
    system = _System(func, y_shape, args, tfirst)
    p = _pack(args, system)
    y_flat = np.reshape(y0, (-1,)) * 1.0       # float, as SciPy solves in float64
    out = odeint_p(y_flat, np.asarray(t, dtype=float) if not _any_traced((t,)) else t, p,
                   system=system, options=_options(options))
    return np.reshape(out, (shape_of(t)[0],) + y_shape)


def _any_traced(values: tuple) -> bool:
    leaves = tree_flatten(values)[0]
    return any(isinstance(v, (Tracer, Boxed)) for v in leaves)


def _pack(args: tuple, system: _System) -> Any:
    parts = [np.reshape(args[i], (-1,)) * 1.0 for i, _, _ in system.slots]
    if not parts:
        return np.zeros(0)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _options(options: dict) -> tuple:
    return tuple(sorted(options.items()))


# --------------------------------------------------------------------------------------------------
# The primitive: odeint_p(y0 (n,), t (T,), p (P,); system, options) -> (T, n).
# --------------------------------------------------------------------------------------------------

def _refusing_traced(func: Callable) -> Callable:
    """``func``, refusing to hand SciPy a traced value: one only appears when func closes over it."""
    def rhs(*args):
        out = func(*args)
        if isinstance(out, (Tracer, Boxed)):
            raise TypeError(
                "odeint: func returned a traced value for plain inputs, so it closes over a value being "
                "differentiated; pass that value through odeint's args=(...) instead, so its derivative "
                "is computed (a closed-over value would otherwise be treated as a constant).")
        return out
    return rhs


def _solve(y0: np.ndarray, t: np.ndarray, p: np.ndarray, *, system: Callable, options: tuple) -> np.ndarray:
    """SciPy's LSODA on the flat system."""
    direct = system.direct(y0, t, p) if isinstance(system, _System) else None
    if direct is not None:      # func itself, as a plain odeint call would be made: no repacking per step
        func, args = direct
        return scipy.integrate.odeint(_refusing_traced(func), y0, t, args=args,
                                      tfirst=cast(_System, system).tfirst, **dict(options))
    return scipy.integrate.odeint(_refusing_traced(system), y0, t, args=(p,), **dict(options))


class _SolverSample(Sample):
    """A sample whose derivatives are only as exact as the solver: ``rtol`` loosens the comparisons
    between modes, batches and orders (the sensitivity solves take their own steps)."""

    __slots__ = ("rtol",)

    def __init__(self, args: tuple, params: dict, rtol: float) -> None:
        super().__init__(args, params)
        self.rtol = rtol


def _damped_oscillator(y, t, k, c):
    """A nonlinear test system: a pendulum-like oscillator with damping, forced in time."""
    return np.stack([y[1], -k[0] * np.sin(y[0]) - c * y[1] + k[1] * np.cos(t) * y[0]])


def _sample(rng: np.random.Generator) -> Sample:
    system = _System(_damped_oscillator, (2,), (np.zeros(2), 0.0), False)
    y0 = rng.uniform(-1.0, 1.0, size=2)
    t = np.concatenate([[0.0], np.sort(rng.uniform(0.1, 0.6, size=2))])
    p = np.concatenate([rng.uniform(0.5, 1.5, size=2), rng.uniform(0.1, 0.5, size=1)])
    options = _options({"rtol": 1e-10, "atol": 1e-10})
    return _SolverSample((y0, t, p), {"system": system, "options": options}, rtol=1e-6)


odeint_p = primitive(_solve, name="odeint")


def _flat_batch(x: Any, data_ndim: int) -> tuple[tuple, Any]:
    """``x`` with its leading batch axes folded into one: (batch shape, array of shape (k,) + data)."""
    shape = shape_of(x)
    batch = shape[:len(shape) - data_ndim]
    return batch, np.reshape(x, (math.prod(batch),) + shape[len(batch):])


# ---- forward mode: sensitivity equations ---------------------------------------------------------

class _ForwardSensitivity(_FlatSystem):
    """The state ``[y, S]`` (S: k directions) of ``dy/dt = f``, ``dS/dt = J_y S + J_p dp``.

    The augmented parameter vector is ``[p, dp]`` (dp: k × P, absent when the parameters have no
    tangent), so the system closes over nothing that is differentiated.
    """

    def __init__(self, system: _FlatSystem, n: int, k: int, with_dp: bool) -> None:
        self.system, self.n, self.k, self.with_dp = system, n, k, with_dp
        self.P = system.n_params                            # the system's own parameters
        self.n_params = self.P * (1 + k) if with_dp else self.P   # this system's: [p, dp]

    def __call__(self, z: Any, t: Any, q: Any) -> Any:
        replayed = _replayed_rhs(self, z, t, q)
        if replayed is not None:
            return replayed
        n, k, P = self.n, self.k, self.P
        g, primals = self.system.linearized(z[:n], t, q[:P])
        tangents = [np.reshape(z[n:], (k,) + shape_of(primals[0]))]
        if self.with_dp:
            tangents += self.system.split(np.reshape(q[P:], (k, P)), k)
            f, tangent = _jvp_batched(g, primals, tangents, k)
        else:           # the parameters are fixed: push the state's directions only
            fixed = primals[1:]
            f, tangent = _jvp_batched(lambda yy: g(yy, *fixed), primals[:1], tangents, k)
        return np.concatenate([f, np.reshape(tangent, (-1,))])

    def _replayed(self, program: Program, system: _System, z: np.ndarray, t: Any, q: np.ndarray) -> Any:
        """The right-hand side by replaying func's recorded operations and JVP rules (same values)."""
        n, k, P = self.n, self.k, self.P
        inputs = system.replay_inputs(z[:n], t, q[:P])
        batch = () if k == 1 else (k,)
        tangents = [z[n:].reshape(batch + system.y_shape), None]
        if self.with_dp:
            dp = q[P:].reshape(k, P)
            tangents += [dp[:, start:stop].reshape(batch + shape) for start, stop, shape in system.spans]
        else:
            tangents += [None] * len(system.slots)
        value, tangent = program.jvp(inputs, tangents, len(batch))
        out = np.empty(n + k * n)
        out[:n] = value
        out[n:] = tangent.reshape(-1) if type(tangent) is np.ndarray else np.reshape(tangent, (-1,))
        return out


def _jvp_batched(fun: Callable, primals: list, tangents: list, k: int) -> tuple[Any, Any]:
    """fun's value and its k directional derivatives (k == 1 pushes one unbatched direction, which
    is cheaper in every rule)."""
    in_tree = tree_flatten(tuple(primals))[1]
    if k == 1:
        values, out_tangents, _ = push_forward(fun, in_tree, primals, [t[0] for t in tangents])
        return values[0], out_tangents[0]
    values, out_tangents, _ = push_forward(fun, in_tree, primals, tangents, (k,))
    return values[0], out_tangents[0]


def _sensitivity(y0, t, p, S0, dp, system, options) -> Any:
    """S(t_i) for all i, shape (k, T, n): the forward sensitivities from S(t0) = S0 (and dp, or None)."""
    k, n = shape_of(S0)
    aug = _ForwardSensitivity(system, n, k, dp is not None)
    z0 = np.concatenate([y0, np.reshape(S0, (-1,))])
    q = p if dp is None else np.concatenate([p, np.reshape(dp, (-1,))])
    z = odeint_p(z0, t, q, system=aug, options=options)
    S = np.reshape(z[:, n:], (shape_of(t)[0], k, n))
    return np.moveaxis(S, 0, 1)


def _rhs_at_outputs(ans, t, p, system) -> Any:
    """f(y(t_i), t_i, p) for every output time, shape (T, n)."""
    return np.stack([system(ans[i], t[i], p) for i in range(shape_of(t)[0])])


def _jvp_y0(dy0, ans, y0, t, p, *, system, options):
    batch, S0 = _flat_batch(dy0, 1)
    S = _sensitivity(y0, t, p, S0, None, system, options)
    return np.reshape(S, batch + shape_of(ans))


def _jvp_t(dt, ans, y0, t, p, *, system, options):
    batch, dt = _flat_batch(dt, 1)
    F = _rhs_at_outputs(ans, t, p, system)
    moved = dt[:, :, None] * F                              # y(t_i) moves along f when t_i moves
    S = _sensitivity(y0, t, p, -dt[:, 0:1] * F[0], None, system, options)   # ... and when t_0 moves
    return np.reshape(moved + S, batch + shape_of(ans))


def _jvp_p(dp, ans, y0, t, p, *, system, options):
    batch, dp = _flat_batch(dp, 1)
    S0 = np.zeros((shape_of(dp)[0], shape_of(y0)[0]))
    S = _sensitivity(y0, t, p, S0, dp, system, options)
    return np.reshape(S, batch + shape_of(ans))


defjvp(odeint_p, _jvp_y0, _jvp_t, _jvp_p)


# ---- reverse mode: the adjoint method ------------------------------------------------------------

class _Adjoint(_FlatSystem):
    """The state ``[y, a, ā_p]`` (a, ā_p: k cotangents) of ``dy/dt = f``, ``da/dt = -aᵀ J_y``,
    ``dā_p/dt = -aᵀ J_p``, integrated backwards in time."""

    def __init__(self, system: _FlatSystem, n: int, k: int) -> None:
        self.system, self.n, self.k = system, n, k
        self.n_params = system.n_params

    def __call__(self, z: Any, t: Any, p: Any) -> Any:
        replayed = _replayed_rhs(self, z, t, p)
        if replayed is not None:
            return replayed
        n, k = self.n, self.k
        g, primals = self.system.linearized(z[:n], t, p)
        a = np.reshape(z[n:n + k * n], (k,) + shape_of(primals[0]))
        rec = Recording(g, tree_flatten(tuple(primals))[1], primals)
        if k == 1:      # one unbatched cotangent is cheaper in every rule
            cotangents = [c[None] for c in rec.pull([np.reshape(a[0], (-1,))])]
        else:
            cotangents = rec.pull([np.reshape(a, (k, -1))], (k,))
        a_y = np.reshape(cotangents[0], (-1,))
        a_p = np.reshape(self.system.flatten(cotangents[1:], k), (-1,))
        return np.concatenate([rec.values[0], -a_y, -a_p])

    def _replayed(self, program: Program, system: _System, z: np.ndarray, t: Any, p: np.ndarray) -> Any:
        """The right-hand side by replaying func's recorded operations and VJP rules (same values)."""
        n, k = self.n, self.k
        a = -z[n:n + k * n]        # pulled back, -a gives the right-hand side's -aᵀJ directly
        value, cots = program.vjp(system.replay_inputs(z[:n], t, p), a if k == 1 else a.reshape(k, n))
        a_p = system.flatten(cots[2:], k)
        return np.concatenate([value, _raveled(cots[0], k * n), a_p.reshape(-1)])


def _raveled(c: Any, size: int) -> np.ndarray:
    """A cotangent as a flat vector of ``size`` entries (None, the symbolic zero, gives zeros)."""
    if c is None:
        return np.zeros(size)
    return c.reshape(-1) if type(c) is np.ndarray else np.reshape(c, (-1,))


def _replayed_rhs(sensitivity: Any, z: Any, t: Any, p: Any) -> Any:
    """A sensitivity system's right-hand side by replaying func's recording (its ``_replayed``), or
    None where the caller must trace func: no replayable recording, or this point met other shapes
    than the recording's (then func is traced at every later point too)."""
    program = _program_at(sensitivity.system, z, t, p)
    if program is None:
        return None
    system = cast(_System, sensitivity.system)
    try:
        return sensitivity._replayed(program, system, z, t, p)
    except Stale:
        system.forget_program()
        return None


def _program_at(system: _FlatSystem, z: Any, t: Any, p: Any) -> Program | None:
    """The replayable recording of func for a sensitivity system's right-hand side at a plain point
    (the solver's calls), else None: traced points (derivatives of derivatives) trace func as usual."""
    if type(z) is not np.ndarray or type(p) is not np.ndarray or not isinstance(system, _System) \
            or isinstance(t, (Tracer, Boxed)):
        return None
    program = system._program
    if type(program) is Program:
        return program
    return system.program(z[:math.prod(system.y_shape)], t, p[:system.n_params])


def _adjoint(g, ans, y0, t, p, system, options, with_t: bool) -> tuple[Any, Any, Any]:
    """Cotangents of (y0, t, p) for the output cotangent ``g`` (batch axes in front), by one backward
    sweep of adjoint solves between consecutive output times; t's is None unless ``with_t`` (it needs
    f at every output time)."""
    batch, G = _flat_batch(g, 2)
    k, T, n = shape_of(G)
    P = system.n_params
    aug = _Adjoint(system, n, k)
    a, a_p = G[:, T - 1], np.zeros((k, P))
    for i in range(T - 1, 0, -1):
        z0 = np.concatenate([ans[i], np.reshape(a, (-1,)), np.reshape(a_p, (-1,))])
        z = odeint_p(z0, np.stack([t[i], t[i - 1]]), p, system=aug, options=options)[1]
        a = np.reshape(z[n:n + k * n], (k, n)) + G[:, i - 1]
        a_p = np.reshape(z[n + k * n:], (k, P))
    t_cotangent = np.reshape(_t_cotangent(G, a, ans, t, p, system), batch + (T,)) if with_t else None
    return np.reshape(a, batch + (n,)), t_cotangent, np.reshape(a_p, batch + (P,))


def _t_cotangent(G, a0, ans, t, p, system) -> Any:
    """The cotangent of the output times, (k, T): y(t_i) moves along f(y(t_i)) when t_i moves (the
    output's own cotangent), and the whole solution moves against it when t_0 does (the adjoint
    a0 that reached t_0, less the output cotangent added there)."""
    T = shape_of(G)[1]
    F = _rhs_at_outputs(ans, t, p, system)
    t_bar = [np.sum(G[:, i] * F[i], axis=-1) for i in range(1, T)]
    return np.stack([-np.sum((a0 - G[:, 0]) * F[0], axis=-1)] + t_bar, axis=-1)


class _SharedAdjoint:
    """One adjoint sweep per incoming cotangent, shared by the pullbacks of y0, t and p; t's cotangent
    is computed only once a pullback of t has been asked for (``want_t``)."""

    __slots__ = ("g", "result", "want_t")

    def __init__(self) -> None:
        self.g: Any = None
        self.result: Any = None
        self.want_t = False

    def get(self, g, ans, y0, t, p, system, options):
        if self.g is not g or (self.want_t and self.result[1] is None):
            self.result = _adjoint(g, ans, y0, t, p, system, options, self.want_t)
            self.g = g
        return self.result


# ans -> the shared sweep of its pullbacks (ans is the one object all three VJP rules receive).
_shared: dict[int, _SharedAdjoint] = {}


def _shared_for(ans: Any) -> _SharedAdjoint:
    key = id(ans)
    found = _shared.get(key)
    if found is None:
        found = _SharedAdjoint()
        try:
            weakref.finalize(ans, _shared.pop, key, None)
        except TypeError:      # not weak-referenceable: no sharing, one sweep per pullback
            return found
        _shared[key] = found
    return found


def _vjp_rule(which: int) -> Callable:
    def rule(ans, y0, t, p, *, system, options):
        shared = _shared_for(ans)
        if which == 1:
            shared.want_t = True
        dtype = lower((y0, t, p)[which]).dtype

        def pullback(g):
            c = shared.get(g, ans, y0, t, p, system, options)[which]
            return c if lower(c).dtype == dtype else c.astype(dtype)
        return pullback
    return rule


defvjp(odeint_p, _vjp_rule(0), _vjp_rule(1), _vjp_rule(2))
defdomain(odeint_p, _sample)
