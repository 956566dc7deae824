"""TensorFlow-style values: ``constant``, ``Tensor`` and ``Variable``, shared by both modes.

Design. A :class:`Tensor` is a thin, immutable box around a *value*: a NumPy array, or — while a
transformation is recording — a tracer of the core (a ``TapeTracer`` of a ``GradientTape``, a ``Dual`` of
a ``ForwardAccumulator``, or a tracer of a functional ``grad``/``jvp``). Every operator and every NumPy
function on a Tensor (``__array_ufunc__``/``__array_function__``) unboxes its arguments with :func:`read`,
calls the same NumPy function on the values — which dispatches to the core's tracers, or runs plain
NumPy — and boxes the result(s) again. So the tape API adds no rules of its own: it is the functional
core seen through boxes. The operators, ndarray methods and properties are the table of
``autodiff.operators``, the same as the tracers'. A primitive called on a Tensor (``stop_gradient(v)``)
is unboxed by ``Primitive.__call__``; a tracer's operator or NumPy protocol meeting a Tensor returns
NotImplemented, so the Tensor's own (unboxing) implementation runs: no box reaches ``bind``.

Watching. A constant or a :class:`Variable` holds a plain array; a tape or accumulator that *watches* it
substitutes its own tracer when the value is read. :func:`read` walks the active transformations of this
thread, outermost first, and asks each one that watches Tensors (a :class:`TensorWatcher`) for its view of
the value seen so far — so an inner tape's leaf wraps the outer tape's tracer of the same variable, and
the inner backward pass is itself recorded by the outer tape (second derivatives). Trainable Variables
read inside a ``GradientTape(watch_accessed_variables=True)`` are watched on that first read. A watcher
remembers the outer value its view was built on, and rebuilds the view (same tape node, same tangent)
when that value changes, e.g. after ``Variable.assign``.

As in TensorFlow, ``.numpy()``, ``float()``, ``bool()`` and ``np.asarray`` give plain values: they break
the derivative path. ``np.asarray``/``np.array`` (and so a SciPy function) may do it by accident, so inside
an active GradientTape or ForwardAccumulator converting a value it traces warns, once per tape or
accumulator (``TensorWatcher.note_implicit_conversion``).
"""

from __future__ import annotations

import functools
import operator
import warnings
from typing import Any, Callable, ClassVar

import numpy as np

from autodiff import operators
from autodiff.core import Boxed, Trace, Tracer, active_traces, is_float_dtype, lower

__all__ = ["Tensor", "Variable", "constant", "read", "box", "TensorWatcher", "Watched", "tensor_function"]


# --------------------------------------------------------------------------------------------------
# Reading a boxed value through the active watchers.
# --------------------------------------------------------------------------------------------------

class Watched:
    """What one trace substitutes for one Tensor: ``value``, built on the outer value ``source``."""

    __slots__ = ("tensor", "source", "value", "aux")

    def __init__(self, tensor: Tensor, source: Any, value: Any, aux: Any) -> None:
        self.tensor = tensor   # kept alive, so the id() key cannot be reused
        self.source = source
        self.value = value
        self.aux = aux         # the tape node or the tangent: what a rebuilt view must share


class TensorWatcher:
    """Mixin for traces that substitute tracers for watched Tensors (GradientTape, ForwardAccumulator).

    Subclasses implement ``_new_view(tensor, outer) -> (value, aux)``, ``_rebuild(aux, outer) -> value``
    and may override ``_auto_watches(tensor)``.
    """

    # What note_implicit_conversion says, once per watcher (None: nothing to say).
    conversion_warning: ClassVar[str | None] = None

    def _init_watcher(self) -> None:
        self._watched: dict[int, Watched] = {}
        self.warned_conversion = False

    def _tensor_view(self, tensor: Tensor, outer: Any) -> Any:
        """This trace's value for ``tensor``, given the value ``outer`` seen by the traces around it."""
        entry = self._watched.get(id(tensor))
        if entry is not None:
            if entry.source is not outer:
                entry.source = outer
                entry.value = self._rebuild(entry.aux, outer)
            return entry.value
        if self._auto_watches(tensor):
            return self._watch_tensor(tensor, outer).value
        return outer

    def _watch_tensor(self, tensor: Tensor, outer: Any) -> Watched:
        entry = self._watched.get(id(tensor))
        if entry is None:
            value, aux = self._new_view(tensor, outer)
            entry = self._watched[id(tensor)] = Watched(tensor, outer, value, aux)
        return entry

    def _watched_entry(self, tensor: Any) -> Watched | None:
        entry = self._watched.get(id(tensor))
        return entry if entry is not None and entry.tensor is tensor else None

    def _auto_watches(self, tensor: Tensor) -> bool:
        return False

    def note_implicit_conversion(self) -> None:
        """A value traced by this watcher became a plain array implicitly (``np.asarray``): warn once
        (``conversion_warning``) that the derivative does not flow through that conversion."""
        if self.warned_conversion or self.conversion_warning is None:
            return
        self.warned_conversion = True
        # stacklevel: the user's line that converted (through _note_implicit_conversion and __array__)
        warnings.warn(self.conversion_warning, UserWarning, stacklevel=4)

    def _new_view(self, tensor: Tensor, outer: Any) -> tuple[Any, Any]:
        raise NotImplementedError

    def _rebuild(self, aux: Any, outer: Any) -> Any:
        raise NotImplementedError


def read(x: Any, until: Trace | None = None) -> Any:
    """The value of ``x`` as the active transformations see it (``x`` itself if it is not a Tensor).

    Each active :class:`TensorWatcher`, outermost first, may replace the value by its tracer. With
    ``until``, stop before that trace: the value as the traces around it see it.
    """
    if not isinstance(x, Tensor):
        return x
    value = x._value
    for trace in active_traces():
        if trace is until:
            break
        if isinstance(trace, TensorWatcher) and trace.active:
            value = trace._tensor_view(x, value)
    return value


def box(value: Any) -> Any:
    """Box the result of a NumPy call: arrays, scalars and tracers become Tensors; tuples map."""
    if isinstance(value, (np.ndarray, np.generic, Tracer)):
        return _new_tensor(value)
    if isinstance(value, list):
        return [box(v) for v in value]
    if isinstance(value, tuple):  # named tuples (np.linalg results) come back as plain tuples
        return tuple(box(v) for v in value)
    return value


def _unbox_nest(x: Any) -> Any:
    if isinstance(x, Tensor):
        return read(x)
    if type(x) in (list, tuple):
        return type(x)(_unbox_nest(v) for v in x)
    return x


def _index(x: Any) -> Any:
    """An index with its Tensors replaced by plain values (indices have no derivative)."""
    if isinstance(x, Tensor):
        return lower(read(x))
    if isinstance(x, tuple):
        return tuple(_index(v) for v in x)
    if isinstance(x, list):
        return [_index(v) for v in x]
    return x


def tensor_function(fn: Callable) -> Callable:
    """Decorator: ``fn`` (written for arrays and tracers) also takes Tensors, and then returns Tensors."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not any(isinstance(a, Tensor) for a in args):
            return fn(*args, **kwargs)
        return box(fn(*(read(a) for a in args), **kwargs))
    return wrapper


# --------------------------------------------------------------------------------------------------
# Tensor
# --------------------------------------------------------------------------------------------------

def _new_tensor(value: Any) -> Tensor:
    t = object.__new__(Tensor)
    t._value = value
    return t


class Tensor(Boxed):
    """An immutable value (array) of the TensorFlow-style API: operators and NumPy functions give Tensors.

    ``.numpy()`` is the plain NumPy value (it breaks the derivative path, as in TensorFlow). The
    operators, ndarray methods and array properties are the table of ``autodiff.operators``, shared
    with the core's tracers (installed below the class).
    """

    __slots__ = ("_value", "__weakref__")
    __array_priority__ = 2000

    def __init__(self, value: Any, dtype: Any = None) -> None:
        if isinstance(value, Tensor):
            value = read(value)
        if isinstance(value, Tracer):
            self._value = value if dtype is None else value.astype(dtype)
        else:
            self._value = np.asarray(value, dtype=dtype)

    # ---- the value ------------------------------------------------------------------------------
    def _autodiff_value(self) -> Any:
        """The value for the functional API and for bind: as the active transformations see it."""
        return read(self)

    def _autodiff_box(self, value: Any) -> Any:
        """Box what a primitive applied to Tensors returned (``Primitive.__call__`` calls this)."""
        return box(value)

    # A Tensor is immutable, so it is its own copy: same value, same derivative (TensorFlow's eager
    # tensors do the same). The default protocol would make a new box that no tape watches.
    def __copy__(self) -> Tensor:
        return self

    def __deepcopy__(self, memo: Any = None) -> Tensor:
        return self

    def numpy(self) -> Any:
        """The plain NumPy value (a NumPy scalar for a 0-d Tensor); no derivative flows through it."""
        value = np.asarray(lower(self._value))
        return value[()] if value.ndim == 0 else value

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the value."""
        return tuple(np.shape(lower(self._value)))

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype of the value."""
        return np.asarray(lower(self._value)).dtype

    def __repr__(self) -> str:
        return f"Tensor({_format(self._value)}, shape={self.shape}, dtype={self.dtype})"

    __str__ = __repr__

    # ---- conversions: plain values, as TensorFlow's eager tensors ---------------------------------
    def __array__(self, dtype=None, copy=None):
        _note_implicit_conversion(self)
        value = np.asarray(self._plain(np.asarray))
        return value if dtype is None else value.astype(dtype)

    def __float__(self) -> float:
        return float(self._plain(float))

    def __int__(self) -> int:
        return int(self._plain(int))

    def __index__(self) -> int:
        return operator.index(np.asarray(self._plain(operator.index))[()])

    def __bool__(self) -> bool:
        return bool(self._plain(bool))

    def _plain(self, conversion: Callable) -> Any:
        """The plain value for an implicit conversion.

        As in TensorFlow, converting a Tensor recorded by a GradientTape or ForwardAccumulator just cuts
        the path. Inside a functional transformation (grad, jvp, ...) it would silently turn the traced
        value into a constant, so that raises, as the core's tracers do (``.numpy()`` stays explicit).
        """
        x = self._value
        while isinstance(x, Tracer):
            if x._trace.active and not isinstance(x._trace, TensorWatcher):
                conversion(x)   # raises the core's TypeError, which says what to do instead
            x = x.primal
        return x

    __hash__ = object.__hash__

    def __getitem__(self, index):
        """``self[index]``: the value indexed, as a Tensor (Tensors in the index are plain indices)."""
        return box(read(self)[_index(index)])

    def astype(self, dtype):
        """The value cast to ``dtype``, as a Tensor."""
        return box(read(self).astype(dtype))

    # ---- NumPy's dispatch protocols ---------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out")
        if out is not None and any(isinstance(o, Tensor) for o in out):
            raise TypeError(
                f"np.{ufunc.__name__}(..., out=<Tensor>): Tensors are immutable; use the returned value "
                "(or Variable.assign for a Variable)."
            )
        values = [read(x) for x in inputs]
        return box(getattr(ufunc, method)(*values, **kwargs))

    def __array_function__(self, func, types, args, kwargs):
        args = _unbox_nest(args)
        kwargs = {k: _unbox_nest(v) for k, v in kwargs.items()}
        return box(func(*args, **kwargs))


def _tensor_operator(row: operators.Operator) -> Callable:
    """Tensor's method for an operator of the table: the ufunc applied to the values (:func:`read`), the
    result boxed. Comparisons give Tensors of plain booleans (no derivative)."""
    ufunc = row.ufunc
    if row.compare:
        def compare(self, other):
            return _new_tensor(ufunc(lower(read(self)), lower(read(other))))
        return compare
    if row.arity == 1:
        def unary(self):
            return box(ufunc(read(self)))
        return unary
    if row.reflected:
        def reflected(self, other):
            return box(ufunc(read(other), read(self)))
        return reflected

    def binary(self, other):
        return box(ufunc(read(self), read(other)))
    return binary


operators.install(Tensor, _tensor_operator, noun="Tensor", state="a Tensor")


def _note_implicit_conversion(tensor: Tensor) -> None:
    """Tell each active watcher whose tracer ``tensor`` holds that it is being turned into an array.

    ``np.asarray``, ``np.array`` and SciPy's functions reach ``__array__``; ``.numpy()`` and ``float()``
    do not (they are the explicit, silent ways to cut the path, as in TensorFlow).
    """
    if not active_traces():
        return
    value = read(tensor)
    while isinstance(value, Tracer):
        trace = value._trace
        if trace.active and isinstance(trace, TensorWatcher):
            trace.note_implicit_conversion()
        value = value.primal


def _format(value: Any) -> str:
    value = np.asarray(lower(value))
    if value.ndim == 0:
        return str(value[()])   # 6.0, as TensorFlow prints a scalar
    return np.array2string(value, separator=" ")


def constant(value: Any, dtype: Any = None, name: str | None = None) -> Tensor:
    """An immutable Tensor holding ``value`` (float64 by default for Python floats, as NumPy).

    A traced value (inside ``grad``, ``jvp``, ...) stays traced, so tapes compose with the functional
    API. ``name`` is accepted for TensorFlow compatibility and ignored.
    """
    if isinstance(value, Tensor):
        value = read(value)
    if isinstance(value, Tracer):
        return Tensor(value, dtype=dtype)
    return Tensor(np.array(value, dtype=dtype))


# --------------------------------------------------------------------------------------------------
# Variable
# --------------------------------------------------------------------------------------------------

class Variable(Tensor):
    """A mutable Tensor: a model parameter. ``assign``/``assign_add``/``assign_sub`` replace its value.

    Trainable Variables are watched by a ``GradientTape`` when read inside it. Arithmetic on a Variable
    gives plain Tensors (``Variable(2.0) + 1.0`` is not a Variable). Assignment is not differentiable:
    it stores the plain value (as in TensorFlow).
    """

    __slots__ = ("_name", "_trainable")

    def __init__(self, initial_value: Any, trainable: bool = True, name: str | None = None,
                 dtype: Any = None) -> None:
        if callable(initial_value) and not isinstance(initial_value, Tensor):
            initial_value = initial_value()
        if isinstance(initial_value, Tensor):
            initial_value = lower(initial_value._value)
        self._value = np.array(lower(initial_value), dtype=dtype)
        self._name = "Variable" if name is None else str(name)
        self._trainable = bool(trainable)

    @property
    def name(self) -> str:
        """The name given at creation (default "Variable")."""
        return self._name

    @property
    def trainable(self) -> bool:
        """Whether tapes watch this Variable automatically when it is read."""
        return self._trainable

    def __repr__(self) -> str:
        return (f"<Variable '{self._name}' shape={self.shape} dtype={self.dtype}, "
                f"numpy={_format(self._value)}>")

    __str__ = __repr__

    def read_value(self) -> Tensor:
        """The current value as a Tensor (recorded as a read by the active tapes, as any use is)."""
        return box(read(self))

    def __copy__(self) -> Tensor:
        """Inside a tape or accumulator that sees this Variable: its current value as a Tensor, so the
        copy keeps the derivative (a new Variable would be a new, unwatched source). Elsewhere: a new,
        independent Variable holding a copy of the value, as TensorFlow's copies of variables are."""
        value = read(self)
        if isinstance(value, Tracer):
            return box(value)
        return Variable(np.array(self._value), trainable=self._trainable, name=self._name)

    def __deepcopy__(self, memo: Any = None) -> Tensor:
        return self.__copy__()

    value = read_value

    def numpy(self) -> Any:
        """A copy of the current value (a NumPy scalar for a 0-d Variable)."""
        value = np.array(self._value)
        return value[()] if value.ndim == 0 else value

    def assign(self, value: Any) -> Variable:
        """Replace the value (the same shape and a dtype it can hold exactly). Returns the Variable.

        As in TensorFlow, nothing is changed silently: a value of another shape raises ``ValueError``;
        ``None``, a complex value for a real Variable, or a non-integer value for an integer one raises
        ``TypeError`` (integers into a floating Variable, and float64 into float32, are fine).
        """
        self._value = self._fitted(self._plain_value(value, "assign"), "assign")
        return self

    def assign_add(self, delta: Any) -> Variable:
        """``v <- v + delta`` (delta shaped like v). Returns the Variable."""
        delta = self._fitted(self._plain_value(delta, "assign_add"), "assign_add", cast=False)
        self._value = self._fitted(self._value + delta, "assign_add")
        return self

    def assign_sub(self, delta: Any) -> Variable:
        """``v <- v - delta`` (delta shaped like v). Returns the Variable."""
        delta = self._fitted(self._plain_value(delta, "assign_sub"), "assign_sub", cast=False)
        self._value = self._fitted(self._value - delta, "assign_sub")
        return self

    def _plain_value(self, value: Any, method: str) -> np.ndarray:
        """``value`` as a plain array (assignment is not differentiable); None and non-numbers refused."""
        if value is None:
            raise TypeError(f"Variable {self._name!r}.{method}(None): there is no value to store; pass an "
                            f"array of shape {self._value.shape}.")
        new = np.asarray(lower(read(value)))
        if new.dtype.kind not in "biufc":
            raise TypeError(f"Variable {self._name!r}.{method}: got a value of dtype {new.dtype}; pass "
                            f"numbers (an array of shape {self._value.shape}).")
        return new

    def _fitted(self, new: np.ndarray, method: str, cast: bool = True) -> np.ndarray:
        """``new`` checked against this Variable's shape and dtype (and cast to the dtype if ``cast``)."""
        shape, dtype = self._value.shape, self._value.dtype
        if new.shape != shape:
            raise ValueError(
                f"Variable {self._name!r}.{method}: shape mismatch, the Variable has shape {shape} but the "
                f"value has shape {new.shape}; pass a value of shape {shape} (np.broadcast_to(value, "
                f"{shape}) repeats a smaller one)."
            )
        exact = np.can_cast(new.dtype, dtype, casting="same_kind")
        if exact and dtype.kind in "biu" and new.dtype != dtype:
            exact = bool(np.array_equal(new.astype(dtype), new))   # e.g. 300 does not fit into int8
        if not exact:
            raise TypeError(
                f"Variable {self._name!r}.{method}: the Variable holds {dtype} and the value is {new.dtype}; "
                f"storing it would change it silently ({_lost_part(new.dtype, dtype)}). Convert it "
                f"explicitly, or create the Variable with the dtype you need (Variable(..., dtype=...))."
            )
        return np.array(new, dtype=dtype) if cast else new


def _lost_part(source: np.dtype, target: np.dtype) -> str:
    if source.kind == "c" and target.kind != "c":
        return "the imaginary part would be dropped"
    if source.kind == "f" and target.kind in "biu":
        return "1.5 would become 1"
    return f"{source} does not fit into {target}"


def is_float_tensor(x: Any) -> bool:
    """True when ``x`` holds floating values (the only ones with derivatives)."""
    return is_float_dtype(x.dtype)
