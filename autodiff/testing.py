"""Testing support: ``check_grads`` and the per-primitive checks behind the property tests and the
coverage table (``python -m autodiff.coverage``), so that both share one implementation.

Every check compares derivatives computed two independent ways:

- forward mode against finite differences: ``J v`` against ``d/dh f(x + h v)`` at ``h = 0``, computed by
  SciPy's ``scipy.differentiate.derivative`` (an order-6 central difference, 7 evaluations), in
  float64 whatever the inputs' dtype;
- reverse mode against forward mode by the dot-product identity ``<u, J v> = <Jᵀ u, v>``, which holds to
  rounding error, so a wrong transpose cannot hide behind the finite-difference tolerance.

Higher orders differentiate the directional derivatives of the order below: order 2 checks the functions
``x -> J(x) v`` (forward) and ``x -> J(x)ᵀ u`` (reverse) in both modes, which exercises every nesting
(forward-over-forward, reverse-over-forward, forward-over-reverse, reverse-over-reverse).

Complex values follow JAX's convention: tangents are pushed forward as R-linear maps, and the pairing
that makes the VJP the transpose of the JVP is ``<a, b> = Re(sum(a * b))`` (no conjugation).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from scipy.differentiate import derivative

from autodiff import registry
from autodiff.batch_audit import check_batched_directions
from autodiff.core import Primitive, Sample, lower
from autodiff.pytree import tree_flatten, tree_unflatten
from forward.jvp import jacfwd, push_forward
from reverse.vjp import Recording, jacrev

__all__ = [
    "check_grads", "PROPERTIES", "check_jvp", "check_vjp", "check_batched", "check_second_order",
    "check_float32", "check_zero_derivative", "check_property", "package_primitives", "primitive_status",
    "sample_for", "is_zero_derivative", "check_traced_value", "traced_values", "assert_bitwise_equal",
]

# Finite differences: the stencil reaches ``_FD_STEP`` along a direction whose largest entry is 1 (a test
# domain keeps at least 0.1 away from kinks and poles). At order 6 one iteration (7 evaluations) is
# accurate to about 1e-12 relative on smooth functions, e.g. log near 0.1 or tan near 1.2.
_FD_STEP, _FD_ORDER = 1e-3, 6
_FD_ITERATIONS = 1

# Default tolerances of comparisons against finite differences (normwise: max |error| against
# atol + rtol * max |expected|), and of comparisons between modes, which agree to rounding error.
_FD_TOL: dict[type[np.floating], tuple[float, float]] = {np.float64: (1e-6, 1e-6), np.float32: (2e-3, 2e-3)}
_MODES_RTOL: dict[type[np.floating], float] = {np.float64: 1e-10, np.float32: 1e-4}
_DOT_RTOL = 1e-12        # the dot-product identity for a single primitive
_BATCH_RTOL, _BATCH_ATOL = 1e-12, 1e-13     # batched against looped (only summation order differs)


# --------------------------------------------------------------------------------------------------
# Small helpers on flat lists of arrays.
# --------------------------------------------------------------------------------------------------

def _is_float(x: Any) -> bool:
    if x is None or isinstance(x, (str, bytes, slice)):
        return False
    try:
        return np.issubdtype(np.asarray(lower(x)).dtype, np.inexact)
    except (TypeError, ValueError):
        return False


def _real_dtype(xs: Sequence[Any]) -> type[np.floating]:
    """float32 when every float value is single precision, else float64 (chooses the tolerances)."""
    singles = [np.asarray(x).dtype in (np.float32, np.complex64) for x in xs]
    return np.float32 if singles and all(singles) else np.float64


def _random_like(x: Any, rng: np.random.Generator) -> np.ndarray:
    """A random array shaped like ``x`` in its dtype (complex values get a random imaginary part)."""
    x = np.asarray(x)
    r = rng.standard_normal(x.shape)
    if np.iscomplexobj(x):
        r = r + 1j * rng.standard_normal(x.shape)
    return np.asarray(r, dtype=x.dtype)


def _direction_like(x: Any, rng: np.random.Generator) -> np.ndarray:
    """A random direction with largest entry 1, so the finite-difference step stays in the domain."""
    v = _random_like(x, rng)
    top = np.max(np.abs(v)) if v.size else 0.0
    return v / top if top > 0 else v


def _widen(x: Any) -> Any:
    x = np.asarray(x)
    return x.astype(np.complex128) if np.iscomplexobj(x) else x.astype(np.float64)


def _pair(a: Sequence[Any], b: Sequence[Any]) -> tuple[float, float]:
    """``Re(sum(a * b))`` over matching leaves (None = zero), and ``sum(|a * b|)`` as its scale."""
    total, scale = 0.0, 0.0
    for x, y in zip(a, b):
        if x is None or y is None:
            continue
        prod = np.asarray(x, dtype=np.result_type(x, np.float64)) * np.asarray(y)
        total += float(np.sum(np.real(prod)))
        scale += float(np.sum(np.abs(prod)))
    return total, scale


def _noise_floor(us: Sequence[Any], vs: Sequence[Any]) -> float:
    """``|u| |v|``: the natural size of ``<u, J v>`` when J is O(1), below which a difference between
    two modes is rounding noise (e.g. when the exact value is 0 and both modes give 1e-15)."""
    def norm(xs):
        return float(np.sqrt(sum(np.sum(np.abs(np.asarray(lower(x))) ** 2) for x in xs if x is not None)))
    return norm(us) * norm(vs)


def _fmt(x: Any) -> str:
    return np.array2string(np.asarray(x), precision=6, threshold=20, edgeitems=3)


# --------------------------------------------------------------------------------------------------
# A function of its float leaves only: the object every check differentiates.
# --------------------------------------------------------------------------------------------------

class _Problem:
    """``f`` restricted to the float leaves ``xs`` of its arguments (the others held fixed)."""

    def __init__(self, f: Callable, args: Sequence[Any], labels: Sequence[str], positional: bool) -> None:
        if positional:
            flat, self.tree = list(args), None
        else:
            flat, self.tree = tree_flatten(tuple(args))
        self.f = f
        self.flat = flat
        self.pos = [i for i, leaf in enumerate(flat) if _is_float(leaf)]
        self.xs = [np.asarray(flat[i]) for i in self.pos]
        self.labels = [labels[i] for i in self.pos]
        outs = self.outputs(*self.xs)
        self.out_float = [_is_float(o) for o in outs]
        self.out_values = [np.asarray(lower(o)) for o in outs]

    def call(self, *xs: Any) -> Any:
        full = list(self.flat)
        for i, x in zip(self.pos, xs):
            full[i] = x
        args = full if self.tree is None else tree_unflatten(self.tree, full)
        return self.f(*args)

    def call_args(self, *xs: Any) -> list:
        """The positional arguments ``f`` is called with when its float leaves are ``xs``."""
        full = list(self.flat)
        for i, x in zip(self.pos, xs):
            full[i] = x
        return full if self.tree is None else list(tree_unflatten(self.tree, full))

    def outputs(self, *xs: Any) -> list:
        return tree_flatten(self.call(*xs))[0]


def _labels_for(args: Sequence[Any]) -> list[str]:
    labels = []
    for i, a in enumerate(args):
        leaves = tree_flatten(a)[0]
        labels += [f"argument {i}"] if len(leaves) == 1 and leaves[0] is a else \
            [f"argument {i} (leaf {j})" for j in range(len(leaves))]
    return labels


def _push(fun: Callable, xs: Sequence[Any], ts: Sequence[Any], batch: tuple = ()) -> tuple[list, list]:
    """Forward mode: flat outputs of ``fun(*xs)`` and their tangents for input tangents ``ts``."""
    in_tree = tree_flatten(tuple(xs))[1]
    values, tangents, _ = push_forward(fun, in_tree, list(xs), list(ts), batch)
    return values, tangents


def _pull(fun: Callable, xs: Sequence[Any], us: Sequence[Any], batch: tuple = ()) -> list:
    """Reverse mode: cotangents of ``xs`` for flat output cotangents ``us`` (None for no cotangent)."""
    rec = Recording(fun, tree_flatten(tuple(xs))[1], list(xs))
    if len(rec.values) != len(us):
        raise AssertionError(f"the function returned {len(rec.values)} outputs, expected {len(us)}")
    return rec.pull(list(us), batch)


def _fd_directional(fun: Callable, xs: Sequence[Any], vs: Sequence[Any], kinds: Sequence[bool]) -> list:
    """``d/dh fun(xs + h vs)`` at h = 0 for each float output, by ``scipy.differentiate.derivative``.

    Evaluated in float64 (complex128): single precision is too coarse for finite differences. ``derivative``
    works element by element, so the outputs are laid out as one long real vector (complex outputs as
    real and imaginary parts) and each distinct step is evaluated once and cached.
    """
    x64 = [_widen(x) for x in xs]
    v64 = [_widen(v) for v in vs]
    cache: dict[float, np.ndarray] = {}

    def flat_at(h: float) -> np.ndarray:
        if h not in cache:
            outs = tree_flatten(fun(*[x + h * v for x, v in zip(x64, v64)]))[0]
            parts = []
            for o, k in zip(outs, kinds):
                if k:
                    o = np.asarray(o)
                    parts += [np.real(o).ravel(), np.imag(o).ravel()] if np.iscomplexobj(o) else [o.ravel()]
            cache[h] = np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)
        return cache[h]

    def elementwise(h: np.ndarray, j: np.ndarray) -> np.ndarray:
        h, j = np.broadcast_arrays(h, j)
        out = np.empty(h.shape)
        for value in np.unique(h):
            sel = h == value
            out[sel] = flat_at(float(value))[j[sel]]
        return out

    base = flat_at(0.0)
    m = base.size
    df = np.zeros(0)
    if m:
        with np.errstate(all="ignore"):
            res = derivative(elementwise, np.zeros(m), args=(np.arange(m),), initial_step=_FD_STEP,
                             maxiter=_FD_ITERATIONS, order=_FD_ORDER)
        df = res.df
    # Split the long vector back into one array per output.
    outs0 = tree_flatten(fun(*x64))[0]
    result: list[np.ndarray | None] = []
    offset = 0
    for o, k in zip(outs0, kinds):
        if not k:
            result.append(None)
            continue
        o = np.asarray(o)
        n = o.size
        if np.iscomplexobj(o):
            piece = df[offset:offset + n] + 1j * df[offset + n:offset + 2 * n]
            offset += 2 * n
        else:
            piece = df[offset:offset + n]
            offset += n
        result.append(piece.reshape(o.shape))
    return result


# --------------------------------------------------------------------------------------------------
# Comparisons that raise AssertionError saying where and by how much.
# --------------------------------------------------------------------------------------------------

def _compare_arrays(where: str, got: Any, want: Any, rtol: float, atol: float) -> None:
    """Normwise check ``max|got - want| <= atol + rtol * max|want|`` (shapes must match exactly)."""
    want = np.asarray(want)
    got = np.zeros_like(want) if got is None else np.asarray(lower(got))
    if got.shape != want.shape:
        raise AssertionError(f"{where}: shape {got.shape}, expected {want.shape}")
    if not want.size:
        return
    err = float(np.max(np.abs(got - want)))
    top = float(np.max(np.abs(want)))
    if not err <= atol + rtol * top:      # also fails on NaN
        raise AssertionError(
            f"{where}: max abs error {err:.3g}, max rel error {err / max(top, 1e-300):.3g} "
            f"(rtol={rtol:g}, atol={atol:g})\n  got:      {_fmt(got)}\n  expected: {_fmt(want)}"
        )


def _compare_scalars(where: str, got: float, want: float, scale: float, rtol: float, atol: float) -> None:
    err = abs(got - want)
    if not err <= atol + rtol * scale:
        raise AssertionError(
            f"{where}: {got!r} against {want!r}: abs error {err:.3g}, rel error "
            f"{err / max(abs(want), 1e-300):.3g} (rtol={rtol:g} of scale {scale:.3g}, atol={atol:g})"
        )


# --------------------------------------------------------------------------------------------------
# check_grads
# --------------------------------------------------------------------------------------------------

def check_grads(f: Callable, args: Any, *, order: int = 2, modes: Sequence[str] = ("forward", "reverse"),
                rtol: float | None = None, atol: float | None = None, seed: int = 0) -> None:
    """Check the derivatives of ``f`` at ``args`` up to ``order`` in ``modes``; raise AssertionError if not.

    ``args`` is the tuple of positional arguments (pytrees allowed; a single array is one argument).
    Only float leaves are differentiated. For random directions v (inputs) and u (outputs):

    - forward mode: ``J v`` against the finite difference ``d/dh f(x + h v)`` (scipy.differentiate), and
      each tangent has its output's shape and dtype;
    - reverse mode: ``<Jᵀ u, v>`` against ``<u, d/dh f(x + h v)>``, and each cotangent has its input's
      shape and dtype (a real input gets a real cotangent, float32 stays float32);
    - both modes: ``<u, J v> = <Jᵀ u, v>`` to rounding error;
    - batched directions (a batch of tangents and of cotangents, as ``jacfwd``/``jacrev``/``hessian``
      use them) against the same directions one at a time, primitive by primitive, so a rule that
      ignores batch axes fails with a message naming its primitive;
    - order k > 1: the same checks of order k - 1 on ``x -> J(x) v`` and on ``x -> J(x)ᵀ u`` (the
      directional derivatives of each requested mode), so every nesting of the modes is exercised.

    Tolerances (normwise, max|error| <= atol + rtol * max|expected|) default to 1e-6 for float64 inputs
    and 2e-3 for float32 ones; modes are compared with each other at 1e-10 (float64) or 1e-4 (float32)
    relative to ``sum|u * J v|`` (or to ``|u| |v|`` when that is larger). The finite differences are
    computed in float64.
    """
    modes = tuple(modes)
    bad = [m for m in modes if m not in ("forward", "reverse")]
    if bad or not modes:
        raise ValueError(f"modes must be a non-empty subset of ('forward', 'reverse'), got {modes!r}")
    if not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"order must be a positive int, got {order!r}")
    if not isinstance(args, (tuple, list)):
        args = (args,)
    problem = _Problem(f, args, _labels_for(args), positional=False)
    if not problem.xs:
        raise ValueError("check_grads: no float argument to differentiate.")
    real = _real_dtype(problem.xs)
    d_rtol, d_atol = _FD_TOL[real]
    tol = (d_rtol if rtol is None else rtol, d_atol if atol is None else atol, _MODES_RTOL[real])
    rng = np.random.default_rng(seed)
    _check_orders(problem.outputs, problem.xs, problem.labels, int(order), 1, modes, tol, rng, "f")


def _check_orders(fun: Callable, xs: list, labels: list[str], order: int, level: int, modes: tuple,
                  tol: tuple, rng: np.random.Generator, what: str) -> None:
    """Order ``level`` checks of ``fun`` (flat outputs) at ``xs``, then recurse on its derivatives."""
    outs = fun(*xs)
    kinds = [_is_float(o) for o in outs]
    vs = [_direction_like(x, rng) for x in xs]
    us = [_random_like(lower(o), rng) if k else None for o, k in zip(outs, kinds)]
    _first_order(fun, xs, vs, us, kinds, labels, modes, tol, f"order {level} ({what})")
    # batched directions, as jacfwd/jacrev/hessian use them, against one direction at a time
    check_batched_directions(fun, xs, modes, tol[2], rng)
    if level == order:
        return
    for mode in modes:
        if mode == "forward":
            def deriv(*ys, _seed=vs):  # the same signature in both branches (_seed: directions)
                tangents = _push(fun, ys, _seed)[1]
                return [t for t, k in zip(tangents, kinds) if k]
            name = f"forward-mode J·v of {what}"
        else:
            def deriv(*ys, _seed=us):  # (_seed: cotangents)
                return _pull(fun, ys, _seed)
            name = f"reverse-mode Jᵀ·u of {what}"
        _check_orders(deriv, xs, labels, order, level + 1, modes, tol, rng, name)


def _first_order(fun, xs, vs, us, kinds, labels, modes, tol, where) -> None:
    """All first-order comparisons; on a failure, find the first argument that shows it."""
    try:
        _first_order_all(fun, xs, vs, us, kinds, labels, modes, tol, where)
    except _Located:
        raise
    except AssertionError as whole:
        if len(xs) == 1:
            raise AssertionError(f"check_grads: {labels[0]}: {whole}") from None
        for i in range(len(xs)):
            only = [v if j == i else np.zeros_like(v) for j, v in enumerate(vs)]
            try:
                _first_order_all(fun, xs, only, us, kinds, labels, modes, tol, where)
            except AssertionError as part:
                raise AssertionError(f"check_grads: {labels[i]}: {part}") from None
        raise AssertionError(f"check_grads: all arguments together: {whole}") from None


class _Located(AssertionError):
    """A failure that already names its argument."""


def _first_order_all(fun, xs, vs, us, kinds, labels, modes, tol, where) -> None:
    rtol, atol, modes_rtol = tol
    fd = _fd_directional(fun, xs, vs, kinds)
    u_fd, fd_scale = _pair(us, fd)
    jv = jtu = None
    if "forward" in modes:
        values, jv = _push(fun, xs, vs)
        for k, (value, t, want) in enumerate(zip(values, jv, fd)):
            if want is not None:
                value, t = np.asarray(lower(value)), np.asarray(lower(t))
                if t.dtype != value.dtype:
                    raise _Located(f"check_grads: output {k}: forward mode, {where}: the tangent has dtype "
                                   f"{t.dtype}, but the output has dtype {value.dtype}")
                _compare_arrays(f"forward mode, {where}, output {k}, J·v against finite differences",
                                t, want, rtol, atol)
    if "reverse" in modes:
        jtu = _pull(fun, xs, us)
        for c, x, label in zip(jtu, xs, labels):
            c, x = np.asarray(lower(c)), np.asarray(lower(x))
            if c.shape != x.shape or c.dtype != x.dtype:
                raise _Located(f"check_grads: {label}: reverse mode, {where}: the cotangent has shape "
                               f"{c.shape} and dtype {c.dtype}, but the input has shape {x.shape} and dtype "
                               f"{x.dtype}")
        got, scale = _pair(jtu, vs)
        _compare_scalars(f"reverse mode, {where}, <Jᵀu, v> against <u, finite differences>",
                         got, u_fd, max(scale, fd_scale), rtol, atol)
    if jv is not None and jtu is not None:
        a, sa = _pair(us, [t if k else None for t, k in zip(jv, kinds)])
        b, sb = _pair(jtu, vs)
        _compare_scalars(f"forward against reverse mode, {where}, <u, J·v> against <Jᵀu, v>",
                         a, b, sa + sb, modes_rtol, modes_rtol * _noise_floor(us, vs))


# --------------------------------------------------------------------------------------------------
# Checks of one primitive on one sample (shared by the property tests and the coverage table).
# --------------------------------------------------------------------------------------------------

# The names registered by the package itself: autodiff loads all of its rule modules eagerly, so the
# registry as it is when this module is first imported (tests/conftest.py imports it first) is the
# package's. Primitives registered later by user code or by tests are then left out.
import autodiff.scipy.integrate  # noqa: E402, F401  (odeint's primitive: a module above the modes)

_PACKAGE_NAMES = frozenset(registry)


def package_primitives() -> list[Primitive]:
    """The primitives autodiff itself registers (all its rule modules), sorted by name."""
    return sorted((p for name, p in registry.items() if name in _PACKAGE_NAMES), key=lambda p: p.name)


def is_zero_derivative(prim: Primitive) -> bool:
    """True when ``prim`` declares a zero derivative: nondifferentiable, or rules that are all None."""
    if prim.nondiff:
        return True
    rules = [r for rs in (prim.jvps, prim.vjps) if rs is not None for r in rs]
    return bool(rules) and all(r is None for r in rules)


def primitive_status(prim: Primitive) -> str | None:
    """Why ``prim`` cannot be checked ("no rule", "no domain"), or None when it can."""
    if is_zero_derivative(prim):
        return None
    if prim.jvps is None and prim.vjps is None:
        return "no rule"
    if prim.domain is None:
        return "no domain"
    return None


def sample_for(prim: Primitive, rng: np.random.Generator) -> Sample:
    """A test input for ``prim``: its declared domain, or for a zero-derivative primitive without one,
    float arrays of shape (2, 3), one per input of the ufunc."""
    if prim.domain is not None:
        return prim.domain(rng)
    if not is_zero_derivative(prim):
        raise AssertionError(f"primitive {prim.name!r} has no test domain: declare one with defdomain")
    nin = getattr(prim.fn, "nin", 1)
    return Sample(tuple(rng.uniform(-2.0, 2.0, size=(2, 3)) for _ in range(nin)))


def _primitive_problem(prim: Primitive, sample: Sample) -> _Problem:
    params = sample.params
    args = list(sample.args)
    labels = [f"{prim.name} argument {i}" for i in range(len(args))]
    return _Problem(lambda *a: prim(*a, **params), args, labels, positional=True)


def _loosened(sample: Sample, rtol: float) -> float:
    """``rtol``, or the sample's own tolerance when it is looser: a primitive computed by an adaptive
    solver (odeint) is only as exact as the solver, and its sensitivity solves take their own steps."""
    return max(rtol, getattr(sample, "rtol", 0.0))


def _describe(prim: Primitive, sample: Sample) -> str:
    return f"primitive {prim.name!r} on {sample!r}"


def check_jvp(prim: Primitive, sample: Sample, rng: np.random.Generator) -> None:
    """JVP against finite differences (scipy.differentiate), one float argument at a time, at 1e-6.

    Tangents must also have exactly the output's shape.
    """
    p = _primitive_problem(prim, sample)
    for i in range(len(p.xs)):
        vs = [_direction_like(x, rng) if j == i else np.zeros_like(x) for j, x in enumerate(p.xs)]
        values, jv = _push(p.outputs, p.xs, vs)
        fd = _fd_directional(p.outputs, p.xs, vs, p.out_float)
        for k, (t, want) in enumerate(zip(jv, fd)):
            if want is not None:
                _compare_arrays(f"{_describe(prim, sample)}: JVP of {p.labels[i]}, output {k}, against "
                                "finite differences", t, want, *_FD_TOL[np.float64])


def check_vjp(prim: Primitive, sample: Sample, rng: np.random.Generator) -> None:
    """VJP against JVP by the dot-product identity ``<u, J v> = <Jᵀ u, v>`` to 1e-12 relative.

    Cotangents must also have exactly their input's shape and dtype.
    """
    p = _primitive_problem(prim, sample)
    vs = [_random_like(x, rng) for x in p.xs]
    us = [_random_like(o, rng) if k else None for o, k in zip(p.out_values, p.out_float)]
    jv = _push(p.outputs, p.xs, vs)[1]
    jtu = _pull(p.outputs, p.xs, us)
    for c, x, label in zip(jtu, p.xs, p.labels):
        c = np.asarray(lower(c))
        if c.shape != x.shape or c.dtype != x.dtype:
            raise AssertionError(f"{_describe(prim, sample)}: VJP of {label} has shape {c.shape} and dtype "
                                 f"{c.dtype}, expected {x.shape} and {x.dtype}")
    a, sa = _pair(us, [t if k else None for t, k in zip(jv, p.out_float)])
    b, sb = _pair(jtu, vs)
    _compare_scalars(f"{_describe(prim, sample)}: dot-product identity <u, J·v> (JVP) against <Jᵀu, v> "
                     "(VJP)", b, a, sa + sb, _loosened(sample, _DOT_RTOL),
                     _loosened(sample, _DOT_RTOL) * _noise_floor(us, vs))


def _batch_sizes(p: _Problem) -> list[int]:
    """1, and every other size found among the inputs' and outputs' dimensions (shape traps)."""
    dims = {int(d) for a in list(p.xs) + p.out_values for d in np.shape(a) if d > 1}
    return [1] + sorted(dims) if dims else [1, 2]


def check_batched(prim: Primitive, sample: Sample, rng: np.random.Generator) -> None:
    """Tangents and cotangents with a leading batch axis give the looped results, for batch size 1 and
    for batch sizes equal to the other dimensions present (so a misplaced batch axis cannot hide)."""
    p = _primitive_problem(prim, sample)
    where = _describe(prim, sample)
    rtol, atol = _loosened(sample, _BATCH_RTOL), _loosened(sample, _BATCH_ATOL)
    for b in _batch_sizes(p):
        ts = [np.stack([_random_like(x, rng) for _ in range(b)]) for x in p.xs]
        batched = _push(p.outputs, p.xs, ts, (b,))[1]
        looped = [_push(p.outputs, p.xs, [t[i] for t in ts])[1] for i in range(b)]
        for k, (got, want) in enumerate(zip(batched, zip(*looped))):
            if p.out_float[k]:
                _compare_arrays(f"{where}: batched JVP (batch {b}), output {k}, against looped",
                                got, np.stack([np.asarray(lower(w)) for w in want]), rtol, atol)
        us = [np.stack([_random_like(o, rng) for _ in range(b)]) if k else None
              for o, k in zip(p.out_values, p.out_float)]
        batched = _pull(p.outputs, p.xs, us, (b,))
        looped = [_pull(p.outputs, p.xs, [u if u is None else u[i] for u in us]) for i in range(b)]
        for j, (got, want) in enumerate(zip(batched, zip(*looped))):
            _compare_arrays(f"{where}: batched VJP (batch {b}) of {p.labels[j]}, against looped",
                            got, np.stack([np.asarray(lower(w)) for w in want]), rtol, atol)


def check_second_order(prim: Primitive, sample: Sample, rng: np.random.Generator) -> None:
    """``check_grads(order=2)`` on the primitive: its JVP and VJP differentiated in both modes."""
    p = _primitive_problem(prim, sample)
    tol = (*_FD_TOL[np.float64], _loosened(sample, _MODES_RTOL[np.float64]))
    try:
        _check_orders(p.outputs, p.xs, p.labels, 2, 1, ("forward", "reverse"), tol, rng, prim.name)
    except AssertionError as e:
        raise AssertionError(f"{_describe(prim, sample)}: {e}") from None


def _single(x: np.ndarray) -> np.ndarray:
    return x.astype(np.complex64) if np.iscomplexobj(x) else x.astype(np.float32)


def check_float32(prim: Primitive, sample: Sample, rng: np.random.Generator) -> None:
    """float32 inputs give float32 outputs, tangents and cotangents, close to the float64 derivatives."""
    p = _primitive_problem(prim, sample)
    where = _describe(prim, sample)
    x32 = [_single(x) for x in p.xs]
    vs = [_random_like(x, rng) for x in x32]
    us = [_random_like(o, rng) if k else None for o, k in zip(p.out_values, p.out_float)]
    values, jv = _push(p.outputs, x32, vs)
    jtu = _pull(p.outputs, x32, [None if u is None else _single(u) for u in us])
    ref_jv = _push(p.outputs, p.xs, [_widen(v) for v in vs])[1]
    ref_jtu = _pull(p.outputs, p.xs, us)
    for k, (o, t, ref) in enumerate(zip(values, jv, ref_jv)):
        if not p.out_float[k]:
            continue
        o, t = np.asarray(lower(o)), np.asarray(lower(t))
        if t.dtype != o.dtype:   # o's dtype is NumPy's (float32, or float64 for e.g. float_power)
            raise AssertionError(f"{where}: float32 inputs give output {k} of dtype {o.dtype} with a "
                                 f"tangent of dtype {t.dtype}; the tangent must have the output's dtype")
        _compare_arrays(f"{where}: float32 JVP, output {k}, against float64", t, ref, 1e-3, 1e-4)
    for c, x, ref, label in zip(jtu, x32, ref_jtu, p.labels):
        c = np.asarray(lower(c))
        if c.dtype != x.dtype:
            raise AssertionError(f"{where}: float32 input {label} gets a cotangent of dtype {c.dtype}")
        _compare_arrays(f"{where}: float32 VJP of {label} against float64", c, ref, 1e-3, 1e-4)


def check_zero_derivative(prim: Primitive, sample: Sample, rng: np.random.Generator) -> None:
    """A zero-derivative primitive gives constants: zero tangents, zero cotangents, nothing traced."""
    p = _primitive_problem(prim, sample)
    where = _describe(prim, sample)
    if not p.xs:
        return
    values, jv = _push(p.outputs, p.xs, [_random_like(x, rng) for x in p.xs])
    for k, t in enumerate(jv):
        if np.any(np.asarray(lower(t)) != 0):
            raise AssertionError(f"{where}: declared zero derivative, but output {k} has tangent {_fmt(t)}")
    us = [_random_like(o, rng) if k else None for o, k in zip(p.out_values, p.out_float)]
    for c, label in zip(_pull(p.outputs, p.xs, us), p.labels):
        if np.any(np.asarray(lower(c)) != 0):
            raise AssertionError(f"{where}: declared zero derivative, but {label} has cotangent {_fmt(c)}")


def assert_bitwise_equal(where: str, got: Any, want: Any) -> None:
    """``got`` (a traced computation's value) is ``want`` (NumPy's) bit for bit: shape, dtype, bytes."""
    got, want = np.asarray(lower(got)), np.asarray(lower(want))
    if got.shape != want.shape or got.dtype != want.dtype:
        raise AssertionError(f"{where}: traced value has shape {got.shape} and dtype {got.dtype}, NumPy's "
                             f"{want.shape} and {want.dtype}")
    if got.tobytes() != want.tobytes():
        diff = np.max(np.abs(got.astype(complex) - want.astype(complex))) if got.size else 0.0
        raise AssertionError(f"{where}: traced value differs from NumPy's (max |difference| {diff:.3g}):"
                             f"\n  traced {_fmt(got)}\n  NumPy  {_fmt(want)}")


def traced_values(fun: Callable, xs: Sequence[Any], rng: np.random.Generator) -> dict[str, list]:
    """The flat outputs of ``fun(*xs)`` as each transformation computes them: under ``jvp`` with one
    direction and with a batch of 3, recorded on a tape (``vjp``), and, for real inputs and float
    outputs, inside ``jacfwd`` and ``jacrev`` (each with every input as an argnum)."""
    xs = [np.asarray(x) for x in xs]
    single = _push(fun, xs, [_random_like(x, rng) for x in xs])[0]
    batch = _push(fun, xs, [np.stack([_random_like(x, rng) for _ in range(3)]) for x in xs], (3,))[0]
    recorded = Recording(fun, tree_flatten(tuple(xs))[1], list(xs)).values
    values = {"forward (jvp)": single, "forward, batch of 3": batch, "reverse (vjp)": recorded}
    if all(_is_float(v) for v in recorded) and all(np.isrealobj(x) for x in xs):
        for name, jac in (("jacfwd", jacfwd), ("jacrev", jacrev)):
            values[name] = _seen_by(jac, fun, xs)
    return values


def _seen_by(jac: Callable, fun: Callable, xs: Sequence[Any]) -> list:
    """The outputs of ``fun`` as they are computed inside ``jac(fun)`` (read from the tracers)."""
    seen: list = []

    def spy(*ys):
        out = fun(*ys)
        seen[:] = [lower(o) for o in tree_flatten(out)[0]]
        return out

    jac(spy, argnums=tuple(range(len(xs))))(*xs)
    return seen


def check_traced_value(prim: Primitive, sample: Sample, rng: np.random.Generator) -> None:
    """The traced primal equals the plain NumPy value bitwise, in both modes and batched (SPEC section 2:
    a traced computation returns exactly the values NumPy returns)."""
    p = _primitive_problem(prim, sample)
    want = tree_flatten(prim.fn(*p.call_args(*p.xs), **sample.params))[0]
    for mode, got in traced_values(p.outputs, p.xs, rng).items():
        if len(got) != len(want):
            raise AssertionError(f"{_describe(prim, sample)}: {mode} gives {len(got)} outputs, NumPy "
                                 f"{len(want)}")
        for k, (g, w) in enumerate(zip(got, want)):
            assert_bitwise_equal(f"{_describe(prim, sample)}: output {k} under {mode}", g, w)


PROPERTIES: dict[str, Callable[[Primitive, Sample, np.random.Generator], None]] = {
    "JVP": check_jvp,
    "VJP": check_vjp,
    "second order": check_second_order,
    "batched": check_batched,
    "float32": check_float32,
    "traced value": check_traced_value,
}
"""The properties every primitive is checked for, by column name of the coverage table."""


def check_property(prim: Primitive, prop: str, seed: int) -> str:
    """Run property ``prop`` of ``prim`` on the sample drawn from ``seed``; "pass" or "zero-derivative".

    Raises AssertionError when the check fails, or when a differentiable primitive has no rule or no
    test domain (those are failures, not skips). The sample comes from
    ``prim.domain(np.random.default_rng(seed))`` and the same generator then draws the directions.
    """
    status = primitive_status(prim)
    if status is not None:
        raise AssertionError(f"primitive {prim.name!r}: {status} (every differentiable primitive needs a "
                             "JVP or VJP rule and a test domain: defjvp/defvjp, defdomain)")
    rng = np.random.default_rng(seed)
    sample = sample_for(prim, rng)
    if is_zero_derivative(prim):
        check_zero_derivative(prim, sample, rng)
        return "zero-derivative"
    PROPERTIES[prop](prim, sample, rng)
    return "pass"
