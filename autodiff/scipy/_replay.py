"""A function's primitive operations, written down once and replayed: values, VJPs and JVPs without tracing.

``odeint``'s sensitivity systems evaluate the same right-hand side f hundreds of times, each time at a new
point. Tracing f anew at each point (a tape, or Duals) costs far more than f's few NumPy operations. A
:class:`Program` records f's primitive operations once and then, at each new point, calls their NumPy
implementations and their JVP/VJP rules directly, on plain arrays (the program written out as one
straight-line Python function per mode: ``autodiff.scipy._replay_compile``).

That is only the derivative of f if f would have applied the *same* operations at the new point. The
recording guarantees it by never letting f see a value: f runs on :class:`_Var` tracers whose ``primal``
is a :class:`_Meta` (shape and dtype, no entries), so every value f's Python code could branch on — a
comparison's truth, ``float(x)``, a value an adapter reads with ``core.lower`` and computes with — either
goes through a recorded primitive (comparisons are recorded as the nondifferentiable primitives they
are) or aborts the recording (:class:`_Opaque`), and the caller keeps tracing f at every point. Python
code in f can then depend only on shapes and dtypes, which each replay checks against the recording:
any difference abandons the replay (:class:`Stale`). What f reads from outside its arguments (a global
it changes between calls, random numbers) is taken as fixed, as in any trace.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from autodiff.core import Boxed, Primitive, Trace, Tracer, shape_of, trace_scope
from autodiff.scipy._replay_compile import compile_jvp, compile_vjp
from autodiff.scipy._replay_rules import shortcut

__all__ = ["Program", "Stale", "record"]


class _Opaque(BaseException):
    """f asked for a value (or did something a recording cannot follow): the recording is abandoned.

    A BaseException, so that an ``except Exception`` in f cannot swallow it and go on with a wrong value.
    """


class Stale(Exception):
    """A replay met a shape or dtype other than the recording's (or a rule's result it cannot check):
    the caller must trace f at this point instead."""


# NumPy functions of their arguments' shapes and dtypes only: a _Meta may answer them. The *_like
# functions only for their first argument (np.full_like's fill value is a value: it is not here).
_METADATA = (np.shape, np.ndim, np.size, np.result_type, np.iscomplexobj, np.isrealobj)
_LIKE = (np.zeros_like, np.ones_like, np.empty_like)


class _Meta:
    """What a recorded value's ``primal`` gives away: its shape and dtype, never an entry.

    Passed to a primitive (``where(lower(condition), x, y)``), it stands for the value of its slot (a
    constant to the derivatives, as it is to a tape); anything that would compute with its entries in
    Python aborts the recording.
    """

    __slots__ = ("shape", "dtype", "slot", "trace")

    def __init__(self, shape: tuple, dtype: np.dtype, slot: int, trace: Trace) -> None:
        self.shape, self.dtype, self.slot, self.trace = shape, dtype, slot, trace

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=int))

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    def __array_function__(self, func, types, args, kwargs):
        if func in _LIKE and not _holds_traced((args[1:], kwargs)):
            return func(*_stand_ins(args[:1]), *args[1:], **kwargs)
        if func not in _METADATA:
            raise _Opaque
        return func(*_stand_ins(args), **dict(zip(kwargs, _stand_ins(kwargs.values()))))

    def _opaque(self, *args, **kwargs):
        raise _Opaque

    __array__ = __array_ufunc__ = __bool__ = __float__ = __int__ = __index__ = __complex__ = _opaque
    __getitem__ = __iter__ = __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __repr__ = _opaque
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _opaque
    __matmul__ = __rmatmul__ = __pow__ = __rpow__ = __neg__ = __abs__ = _opaque
    __hash__ = object.__hash__
    item = tolist = astype = copy = view = reshape = tobytes = _opaque

    def __getattr__(self, name: str) -> Any:
        raise _Opaque


def _stand_ins(values) -> list:
    """Arrays with the shapes and dtypes of the _Meta among ``values`` (zeros that no one reads)."""
    return [np.broadcast_to(np.zeros((), v.dtype), v.shape) if type(v) is _Meta else v for v in values]


def _compare(ufunc: np.ufunc) -> Callable:
    def compare(self, other):
        return ufunc(self, other)     # the registered nondifferentiable primitive: recorded
    return compare


class _Var(Tracer):
    """A value inside the recording: its slot, and a value only the recorder reads."""

    __slots__ = ("_value", "_trace", "_slot")

    def __init__(self, trace: _Recorder, value: Any, slot: int) -> None:
        self._value, self._trace, self._slot = value, trace, slot

    @property
    def primal(self) -> _Meta:
        return _Meta(self._value.shape, self._value.dtype, self._slot, self._trace)

    @property
    def shape(self) -> tuple:
        return self._value.shape

    @property
    def dtype(self) -> np.dtype:
        return self._value.dtype

    def __bool__(self):
        raise _Opaque

    def __repr__(self) -> str:
        return f"<recorded value, slot {self._slot}>"

    __lt__, __le__, __gt__ = _compare(np.less), _compare(np.less_equal), _compare(np.greater)
    __ge__, __eq__, __ne__ = _compare(np.greater_equal), _compare(np.equal), _compare(np.not_equal)
    __hash__ = object.__hash__


class _Const:
    """An argument that is neither f's input nor computed from it (held as it is)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _ValueOf:
    """The value of a slot passed as a plain constant (a _Meta an adapter handed on): no derivative."""

    __slots__ = ("slot",)

    def __init__(self, slot: int) -> None:
        self.slot = slot


def _holds_traced(x: Any, depth: int = 0) -> bool:
    if isinstance(x, (Tracer, _Meta, Boxed)):
        return True
    if depth < 4 and isinstance(x, (list, tuple)):
        return any(_holds_traced(v, depth + 1) for v in x)
    if depth < 4 and isinstance(x, dict):
        return any(_holds_traced(v, depth + 1) for v in x.values())
    return False


class _Op:
    """One recorded operation: ``values[slot] = impl(*args, **params)``."""

    __slots__ = ("prim", "impl", "refs", "params", "slot", "shape", "dtype")

    def __init__(self, prim: Primitive, refs: list, params: dict, slot: int, ans: Any) -> None:
        self.prim, self.impl, self.refs, self.params, self.slot = prim, prim.impl, tuple(refs), params, slot
        self.shape, self.dtype = ans.shape, ans.dtype


class _Recorder(Trace):
    """The transformation that writes f's operations down (computing them on plain values)."""

    __slots__ = ("values", "ops")
    tracer_type = _Var

    def __init__(self) -> None:
        super().__init__()
        self.values: list = []
        self.ops: list[_Op] = []

    def leaf(self, value: Any) -> _Var:
        self.values.append(value)
        return _Var(self, value, len(self.values) - 1)

    def process(self, prim: Primitive, args: tuple, params: dict) -> Any:
        vals: list[Any] = []
        refs: list[Any] = []
        for a in args:
            if type(a) is _Var and a._trace is self:
                vals.append(a._value)
                refs.append(a._slot)
            elif type(a) is _Meta and a.trace is self:
                vals.append(self.values[a.slot])
                refs.append(_ValueOf(a.slot))
            elif _holds_traced(a):
                raise _Opaque            # another transformation's value (f closes over it), or nested
            else:
                vals.append(a)
                refs.append(_Const(a))
        if params and _holds_traced(params):
            raise _Opaque
        ans = prim.impl(*vals, **params)
        if not isinstance(ans, (np.ndarray, np.generic)) or ans.dtype.kind not in "biuf":
            raise _Opaque                # a tuple, an object, a complex value: not followed here
        slot = len(self.values)
        self.values.append(ans)
        self.ops.append(_Op(prim, refs, params, slot, ans))
        return _Var(self, ans, slot)

    def apply(self, prim, args, traced, primals, ans, params):   # pragma: no cover - process is overridden
        raise AssertionError("the recorder processes every operation itself")


def record(fun: Callable, inputs: list, differentiable: list[bool]) -> Program | None:
    """``fun``'s operations at ``inputs`` (plain arrays) as a :class:`Program`, or None when fun cannot be
    replayed (it reads a value, closes over a traced value, or fails under the recording).

    ``differentiable[i]``: whether derivatives flow from input i (the others, e.g. time, are recorded
    so that their values are replayed, but have no tangent or cotangent).
    """
    recorder = _Recorder()
    try:
        with trace_scope(recorder):
            leaves = [recorder.leaf(x) for x in inputs]
            out = fun(*leaves)
    except (_Opaque, Exception):
        return None
    if type(out) is not _Var or out._trace is not recorder:
        return None
    return Program(recorder.ops, len(inputs), out._slot, differentiable, [np.shape(x) for x in inputs])


class Program:
    """Recorded operations on ``n_inputs`` input slots; the output is slot ``out_slot``."""

    __slots__ = ("ops", "n_inputs", "out_slot", "live", "input_shapes", "_vjp", "_jvp")

    def __init__(self, ops: list[_Op], n_inputs: int, out_slot: int, differentiable: list[bool],
                 input_shapes: list[tuple]) -> None:
        self.ops, self.n_inputs, self.out_slot = ops, n_inputs, out_slot
        self.live = list(differentiable)
        self.input_shapes = input_shapes
        self._vjp: Callable | None = None          # compiled on first use (autodiff.scipy._replay_compile)
        self._jvp: dict[int, Callable] = {}        # by the tangents' number of batch axes

    def value(self, inputs: list) -> Any:
        """The output at ``inputs``: the compiled replay's operations, every shape and dtype checked
        (:class:`Stale` when one differs), with a zero cotangent."""
        shapes = list(self.input_shapes) + [op.shape for op in self.ops]
        return self.vjp(inputs, np.zeros(shapes[self.out_slot]))[0]

    def _plan(self, jvp: bool) -> list:
        """Per operation, the ``(argument slot, rule, shortcut or None, argument shape, broadcast)``
        through which derivatives flow (an operation with none computes a constant to the
        derivatives). Every replay checks the recording's shapes, so they are known here."""
        live = self.live + [False] * len(self.ops)
        shapes = list(self.input_shapes) + [op.shape for op in self.ops]
        plan = []
        for op in self.ops:
            flows = []
            if not op.prim.nondiff:
                rules = op.prim.jvps if jvp else op.prim.vjps
                for i, r in enumerate(op.refs):
                    if type(r) is int and live[r]:
                        rule = rules[i] if rules is not None and i < len(rules) else (
                            op.prim.jvp_rule(i) if jvp else op.prim.vjp_rule(i))
                        if rule is not None:
                            broadcast = op.prim.elementwise and shapes[r] != op.shape
                            fast = None if broadcast else shortcut(op.prim, i, rule, jvp)
                            flows.append((r, rule, fast, shapes[r], broadcast))
            live[op.slot] = bool(flows)
            plan.append(flows)
        return plan

    def vjp(self, inputs: list, cotangent: Any) -> tuple[Any, list]:
        """``(f(inputs), [cotangent of each input, or None])`` for the output's ``cotangent`` (with
        leading batch axes): the rules' pullbacks in reverse order, as a tape's sweep would."""
        compiled = self._vjp
        if compiled is None:
            compiled = self._vjp = compile_vjp(self, self._plan(jvp=False))
        return compiled(inputs, cotangent)

    def jvp(self, inputs: list, tangents: list, batch_ndim: int) -> tuple[Any, Any]:
        """``(f(inputs), its tangent)`` for input ``tangents`` (None: no tangent), each with
        ``batch_ndim`` leading batch axes: the rules in order, as forward mode would push them."""
        compiled = self._jvp.get(batch_ndim)
        if compiled is None:
            compiled = self._jvp[batch_ndim] = compile_jvp(self, self._plan(jvp=True), batch_ndim)
        value, out = compiled(inputs, tangents)
        if out is None:
            given = next(t for t in tangents if t is not None)
            out = np.zeros(tuple(shape_of(given)[:batch_ndim]) + value.shape, value.dtype)
        return value, out
