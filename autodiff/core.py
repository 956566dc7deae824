"""The shared core: the primitive registry, levels, tracers and the single dispatch point ``bind``.

Every differentiable operation is a :class:`Primitive` with a NumPy implementation, one JVP rule and one
VJP rule per positional argument. Every call of a primitive goes through :func:`bind`, which finds the
innermost *active* transformation among its arguments and lets that transformation (a forward-mode
trace, a tape, ...) process the call. Each transformation has a *level*: a number taken from one
increasing counter when it starts, so a later (inner) transformation always has a higher level. A tracer
belongs to exactly one transformation; values of other transformations are constants to it. That is what
keeps nested derivatives from confusing their perturbations.

This module imports only NumPy: it is layer 0 and everything else builds on it.
"""

from __future__ import annotations

import dis
import functools
import gc
import itertools
import sys
import sysconfig
import threading
import types
from typing import Any, Callable, ClassVar, Literal, Sequence

import numpy as np

from autodiff import operators

__all__ = [
    "Primitive", "primitive", "defjvp", "defvjp", "defdomain", "nondifferentiable", "registry",
    "bind", "Trace", "Tracer", "implements", "trace_scope", "active_traces", "lower", "Sample",
    "differentiable_dtype", "is_float_dtype", "strip_inner", "drop_inactive", "Boxed", "shape_of", "ndim_of",
    "apply_below", "gc_paused", "collector_held", "missing_rule",
]


# --------------------------------------------------------------------------------------------------
# Levels: a per-thread stack of active transformations.
# --------------------------------------------------------------------------------------------------

class _TraceStack(list):
    """One thread's active traces, outermost first, and its :class:`gc_paused` blocks outside any trace
    scope (``gc_blocks``): the thread holds the collector's pause while either is non-empty. One object,
    so that a scope reads the thread-local state once (an attribute of a ``threading.local`` costs as
    much as a small NumPy call)."""

    __slots__ = ("gc_blocks",)

    def __init__(self) -> None:
        super().__init__()
        self.gc_blocks = 0


class _ThreadState(threading.local):
    """Per-thread stack of active traces, so two threads differentiating at once never mix tapes."""

    def __init__(self) -> None:
        self.stack = _TraceStack()


_state = _ThreadState()
_levels = itertools.count(1)


class Trace:
    """A transformation in progress (a forward pass, a tape, an index-set detection, ...).

    ``level`` orders transformations: the innermost has the highest level. ``active`` turns False
    when the transformation ends; a tracer of an inactive trace is from then on the constant it holds.

    The skeleton every transformation shares is :meth:`process`; a transformation sets
    ``tracer_type`` (the class of its traced values, each with ``primal`` and ``_trace``) and writes
    :meth:`apply`, the one thing it adds to an operation (push tangents, record pullbacks, ...).
    """

    __slots__ = ("level", "active", "own_type", "__weakref__")
    tracer_type: ClassVar[type[Tracer]]   # set by each transformation: the Tracer subclass it makes

    def __init__(self) -> None:
        # tracer_type, read on every operation: as a slot, since Python 3.11 does not specialize a read
        # of a class attribute through an instance
        self.own_type = self.tracer_type
        self.renew_level()

    def renew_level(self) -> None:
        """A fresh level (this trace is the innermost from now on), and active again: how a tape or an
        accumulator entered once more starts a new transformation on the same object."""
        self.level = next(_levels)
        self.active = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give each transformation its own copy of :meth:`process` (the same bytecode, its own code
        object). Why: Python 3.11 caches an attribute read per instruction for one class; one shared
        ``process`` that alternates between two transformations' tracers (an HVP's tape and forward
        trace) would miss those caches on every other call (measured: 1.2% of an HVP)."""
        super().__init_subclass__(**kwargs)
        if "process" not in cls.__dict__:
            cls.process = _own_copy(Trace.process)   # type: ignore[method-assign]

    def process(self, prim: Primitive, args: tuple, params: dict) -> Any:
        """Apply ``prim`` to ``args``, some of which are this trace's tracers.

        Splits the arguments into this trace's tracers (their indices: ``traced``) and the values one
        level down (``primals``: the tracers' primals, plain values, tracers of the traces below),
        computes ``ans = prim(*primals)`` one level down (``prim.impl`` when nothing there is traced,
        else :func:`apply_below`), and returns ``ans`` itself for a zero-derivative primitive, otherwise
        what :meth:`apply` makes of it.
        """
        own = self.own_type
        if len(args) == 1:
            # the common one-argument call: no lists to build
            a = args[0]
            if type(a) is own and a._trace is self:
                p, impl = a.primal, prim.impl   # an attribute read: 3.11 caches it, unlike a method call's
                ans = apply_below(p._trace, prim, (p,), params) if isinstance(p, Tracer) \
                    else (impl(p, **params) if params else impl(p))
                return ans if prim.nondiff else self.apply(prim, args, _FIRST, (p,), ans, params)
        elif len(args) == 2:
            # the common two-argument call, also without lists; traced values one level down (rare at two
            # arguments) go to bind, which finds the innermost of them as apply_below would
            a, b = args
            pa = a.primal if type(a) is own and a._trace is self else a
            pb = b.primal if type(b) is own and b._trace is self else b
            impl = prim.impl
            ans = bind_tuple(prim, (pa, pb), params) if isinstance(pa, Tracer) or isinstance(pb, Tracer) \
                else (impl(pa, pb, **params) if params else impl(pa, pb))
            return ans if prim.nondiff else \
                self.apply(prim, args, _PAIRS[pa is not a, pb is not b], (pa, pb), ans, params)
        traced, primals, below = _split(args, own, self)
        ans = prim.impl(*primals, **params) if below is None else apply_below(below, prim, primals, params)
        return ans if prim.nondiff else self.apply(prim, args, traced, primals, ans, params)

    def apply(self, prim: Primitive, args: tuple, traced: Sequence[int], primals: Sequence[Any], ans: Any,
              params: dict) -> Any:
        """What this transformation makes of ``ans = prim(*primals)``: usually a tracer of this trace
        carrying ``ans``, or ``ans`` itself when its derivative is zero.

        ``args[i]`` for ``i`` in ``traced`` are this trace's tracers (``primals[i]`` their primals);
        the other arguments are in ``primals`` as given.
        """
        raise NotImplementedError


def _own_copy(fn: Callable) -> Callable:
    """A copy of ``fn`` with a code object of its own (the same bytecode), so its own inline caches."""
    copy = types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__,
                              fn.__closure__)
    return functools.update_wrapper(copy, fn)


def _split(args: tuple, own: type[Tracer],
           trace: Trace) -> tuple[list[int], list[Any], Trace | Literal[False] | None]:
    """``Trace.process``'s general case: the indices of ``trace``'s tracers among ``args`` (of type
    ``own``), the values one level down (their primals and the other arguments), and the one trace of the
    traced values among those (None: no traced value; False: several traces)."""
    primals: list[Any] = []
    traced: list[int] = []
    below: Trace | Literal[False] | None = None
    for a in args:
        if type(a) is own and a._trace is trace:
            traced.append(len(primals))
            a = a.primal
        if isinstance(a, Tracer):
            below = a._trace if below is None or below is a._trace else False
        primals.append(a)
    return traced, primals, below


_FIRST = (0,)   # ``traced`` of a one-argument call
# ``traced`` of a two-argument call, by (first traced, second traced)
_PAIRS = {(True, False): (0,), (False, True): (1,), (True, True): (0, 1), (False, False): ()}


def active_traces() -> tuple[Trace, ...]:
    """The active transformations of this thread, outermost first."""
    return tuple(_state.stack)


class trace_scope:
    """Make ``trace`` active for the duration of the block; always restored, even on error.

    A small class rather than a generator-based context manager: every jvp/vjp/grad call enters one,
    and contextlib's machinery costs several microseconds per use.
    """

    __slots__ = ("trace", "stack")

    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    def __enter__(self) -> Trace:
        # the thread's stack, kept for __exit__ (a with block exits in the thread it entered)
        stack = self.stack = _state.stack
        if not stack and not stack.gc_blocks:
            _hold_collector()        # this thread's outermost transformation (see gc_paused)
        stack.append(self.trace)
        return self.trace

    def __exit__(self, *exc_info) -> None:
        stack = self.stack
        if self.trace not in stack:
            return       # an outer scope's exit removed it already, and returned the pause for both
        # Remove this trace even if an inner scope leaked (it cannot, but be defensive).
        while stack:
            top = stack.pop()
            top.active = False
            if top is self.trace:
                break
        if not stack and not stack.gc_blocks:
            _release_collector()


class gc_paused:
    """While a transformation runs, the cyclic collector's older generations are collected less often.

    Why: a transformation allocates many small container objects (nodes, tracers, closures) and keeps
    them alive until its backward pass. Surviving young collections, they are promoted and soon trigger
    full collections, which walk every object in the process: with a large library loaded (JAX, ~100k
    objects, ~30 ms per full collection) a gradient of 1,600 scalar operations took 40-75% longer.

    What the pause changes: generation 0 is collected as always; the thresholds of generations 1 and 2
    are multiplied by ten, so counted in allocations the middle generation (where the live tape is
    walked) is collected ten times and the oldest a hundred times less often. Nothing is switched off:
    cycles the user's code makes inside a transformation die young and are collected while it runs, and
    full collections still come, only rarer — also in a process where some thread is always
    differentiating. The collector's on/off switch (``gc.isenabled``) is never touched.

    Who holds it: a thread holds the pause while it is inside a trace scope (every transformation runs
    in one) or a ``gc_paused`` block (a backward sweep after its recording ended); only its outermost
    one takes and returns it, so a nested transformation pays nothing for it. Process-wide: a count of
    the threads holding it, under a lock. The first to take it raises the thresholds, the last to return
    it puts back those it found — unless someone set other thresholds in between, which are then left
    as they were set.
    """

    __slots__ = ()

    def __enter__(self) -> None:
        stack = _state.stack
        if not stack and not stack.gc_blocks:
            _hold_collector()
        stack.gc_blocks += 1

    def __exit__(self, *exc_info) -> None:
        stack = _state.stack
        stack.gc_blocks -= 1
        if not stack.gc_blocks and not stack:
            _release_collector()


def collector_held() -> bool:
    """True when this thread holds the collector's pause already (inside a transformation): a
    :class:`gc_paused` block would change nothing, so hot paths may skip it."""
    stack = _state.stack
    return bool(stack) or stack.gc_blocks > 0


def _hold_collector() -> None:
    """One more thread holds the pause; the first raises the thresholds of generations 1 and 2."""
    global _gc_holders, _gc_found_middle, _gc_found_oldest
    _gc_acquire()
    try:
        _gc_holders += 1
        if _gc_holders == 1:
            # Reading the thresholds allocates a tuple, which may run a collection and so finalizers
            # that differentiate: they see _gc_holders == 1 and count as nested (the lock is an RLock).
            young, _gc_found_middle, _gc_found_oldest = _gc_get_threshold()
            _gc_set_threshold(young, _gc_found_middle * _GC_SLOWDOWN, _gc_found_oldest * _GC_SLOWDOWN)
    finally:
        _gc_release()


def _release_collector() -> None:
    """One thread fewer holds the pause; the last puts back the thresholds it found, unless others
    were set meanwhile."""
    global _gc_holders
    _gc_acquire()
    try:
        if _gc_holders == 1:
            young, middle, oldest = _gc_get_threshold()   # may collect: still counted as held
            if middle == _gc_found_middle * _GC_SLOWDOWN and oldest == _gc_found_oldest * _GC_SLOWDOWN:
                _gc_set_threshold(young, _gc_found_middle, _gc_found_oldest)   # ints: no collection
        _gc_holders -= 1
    finally:
        _gc_release()


_GC_SLOWDOWN = 10          # generations 1 and 2 wait this many times longer inside a transformation
_gc_lock = threading.RLock()
_gc_acquire, _gc_release = _gc_lock.acquire, _gc_lock.release   # bound once: two lookups less per block
_gc_get_threshold, _gc_set_threshold = gc.get_threshold, gc.set_threshold
_gc_holders = 0            # threads holding the pause, all together
_gc_found_middle = _gc_found_oldest = 0   # the thresholds of generations 1 and 2 the first of them found


# --------------------------------------------------------------------------------------------------
# Tracers: the values a transformation hands to user code.
# --------------------------------------------------------------------------------------------------

# NumPy's array type as a global of this module: NumPy defines a module-level __getattr__, so Python 3.11
# never specializes an attribute load on it, and each `np.ndarray` in a hot type test is a generic lookup
# (~300 instructions; a module global: ~10). The hot paths of every layer test `type(x) is NDARRAY`.
NDARRAY = np.ndarray
PLAIN_TYPES = frozenset({np.ndarray, np.float64, np.float32, np.float16, np.complex128, np.complex64})
"""Types of the plain values the hot paths read ``shape`` and ``dtype`` of directly: arrays and the NumPy
scalars an operation on 0-d arrays returns."""


def shape_of(x: Any) -> tuple:
    """``np.shape(x)`` without NumPy's dispatch: ndarrays, NumPy scalars and tracers carry ``.shape``.

    Rules ask for shapes of possibly traced values all the time; going through ``np.shape`` would cost a
    round trip through ``__array_function__`` each time.
    """
    while isinstance(x, Tracer):   # down to the plain value: a tracer's shape property is a call per level
        x = x.primal
    shape = getattr(x, "shape", None)
    return shape if shape is not None else np.shape(x)


def ndim_of(x: Any) -> int:
    """``np.ndim(x)`` without NumPy's dispatch (see :func:`shape_of`)."""
    while isinstance(x, Tracer):
        x = x.primal
    return x.ndim if type(x) in PLAIN_TYPES else len(shape_of(x))


def lower(x: Any) -> Any:
    """Strip every tracer wrapper: the plain NumPy value underneath (no derivative information)."""
    while isinstance(x, Tracer):
        x = x.primal
    return x


_STORE_OPCODES = frozenset(dis.opmap[name] for name in ("STORE_SUBSCR", "STORE_SLICE") if name in dis.opmap)


def _storing_into_an_array() -> bool:
    """True when the conversion was asked for by ``array[index] = traced`` in the user's code.

    NumPy converts the value in C, so the innermost Python frame is the user's, stopped at the store.
    """
    frame = sys._getframe(3)   # _storing_into_an_array <- _conversion_error <- __float__ etc. <- user
    try:
        return frame.f_code.co_code[frame.f_lasti] in _STORE_OPCODES
    except (IndexError, AttributeError):
        return False


def _called_array_method() -> tuple[str, str] | None:
    """``(array, method)``: the names in the user's code of the plain-ndarray method call that asked for
    the conversion (``("W", "dot")`` for ``W.dot(traced)``; the array is "W" unless it was a plain
    variable), or None.

    NumPy's methods convert their arguments in C, so the innermost Python frame is the user's, stopped
    at the call. Any other shape of code than ``name.method(arguments)`` (jumps among the arguments,
    another Python version's call sequence) gives None, and the general message stands.
    """
    frame = sys._getframe(3)   # _called_array_method <- _conversion_error <- __array__ etc. <- user
    try:
        instructions = [i for i in dis.get_instructions(frame.f_code) if i.offset <= frame.f_lasti]
        k = _callee_index(instructions)
    except (IndexError, ValueError, TypeError, AttributeError):
        return None
    if k < 1:
        return None
    load, owner = instructions[k], instructions[k - 1]
    name = load.argval
    if load.opname not in ("LOAD_METHOD", "LOAD_ATTR") or not isinstance(name, str) \
            or name.startswith("_") or not callable(getattr(np.ndarray, name, None)):
        return None
    if owner.opname not in ("LOAD_FAST", "LOAD_NAME", "LOAD_GLOBAL", "LOAD_DEREF") \
            or not isinstance(owner.argval, str):
        return "W", name      # the array is an expression (weights[0].dot(x)): not named
    scopes = (frame.f_locals, frame.f_globals, frame.f_builtins)
    array = next((scope[owner.argval] for scope in scopes if owner.argval in scope), None)
    # a named receiver must be a plain array (for a traced one the conversion came from elsewhere)
    return (owner.argval, name) if isinstance(array, np.ndarray) else None


def _callee_index(instructions: list) -> int:
    """The index of the instruction that loaded the callee of the call ``instructions`` end with: the
    one before the arguments, found by walking back until their stack effects add up to the argument
    count (-1 when the last instruction is not a call)."""
    k = len(instructions) - 1
    argc = instructions[k].arg
    if instructions[k].opname != "CALL" or argc is None:
        return -1
    k -= 1
    if instructions[k].opname == "PRECALL":
        k -= 1
    depth = 0
    while depth < argc and k > 0:
        ins = instructions[k]
        depth += dis.stack_effect(ins.opcode, ins.arg if ins.opcode >= dis.HAVE_ARGUMENT else None)
        k -= 1
    return k if depth == argc else -1


def _array_method_error(array: str, name: str) -> TypeError:
    """The TypeError for ``array.name(traced)``: the method converts; the NumPy function dispatches."""
    a = array
    if name == "dot":
        instead = f"np.dot({a}, x) or {a} @ x"
    elif callable(getattr(np, name, None)):
        instead = f"np.{name}({a}, ...)"
    else:
        instead = "NumPy functions on the traced value"
    return TypeError(
        f"{a}.{name}(...) on a plain NumPy array {a} converts its traced argument to a NumPy array, "
        f"which would silently drop its derivative: an ndarray's own methods do not dispatch on traced "
        f"values. Call the NumPy function instead, {instead}, which dispatches on them."
    )


def _store_error() -> TypeError:
    return TypeError(
        "Writing a traced value into a NumPy array (`y[i] = traced`) would silently drop its derivative: a "
        "NumPy array holds plain numbers. Build the new array with autodiff.index_update(y, i, traced) "
        "(or autodiff.index_add(y, i, traced) to add), which returns a new, differentiable array; or "
        "assemble it with np.stack([...]) / np.concatenate."
    )


def _scipy_frames() -> list:
    """The SciPy frames between the conversion and the user's code, outermost (the user's call) first.

    Walks out from the conversion: past this module's frames, then through SciPy's (and NumPy's) own
    frames, up to the first frame of other code.
    """
    frame: Any = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
    found = []
    while frame is not None:
        top = str(frame.f_globals.get("__name__", "")).split(".")[0]
        if top == "scipy":
            found.append(frame)
        elif top != "numpy":
            break
        frame = frame.f_back
    return found[::-1]


def _public_scipy_name(frame: Any) -> tuple[str, str] | None:
    """``(public module, attribute path)`` of the function a SciPy frame runs, e.g. ("scipy.special",
    "logsumexp") or ("scipy.stats", "norm.logpdf") for a distribution's method; None for a private
    helper."""
    parts = str(frame.f_globals.get("__name__", "scipy")).split(".")
    public = ".".join(itertools.takewhile(lambda p: not p.startswith("_"), parts))
    name = frame.f_code.co_name
    owner = frame.f_locals.get("self")
    if owner is not None and type(owner).__name__.endswith("_gen"):     # scipy.stats distributions
        return public, f"{type(owner).__name__[:-4]}.{name}"
    if _has_attribute(public, name):
        return public, name
    # a decorator's wrapper (functools.wraps): the function it wraps is among its free variables
    for value in frame.f_locals.values():
        module, wrapped = getattr(value, "__module__", None), getattr(value, "__name__", None)
        if callable(value) and str(module).startswith("scipy.") and isinstance(wrapped, str):
            public = ".".join(itertools.takewhile(lambda p: not p.startswith("_"), str(module).split(".")))
            if _has_attribute(public, wrapped):
                return public, wrapped
    return None


def _has_attribute(module: str, name: str) -> bool:
    import importlib

    try:
        return hasattr(importlib.import_module(module), name)
    except ImportError:
        return False


def _autodiff_scipy_counterpart(public: str, path: str) -> str | None:
    """``autodiff.scipy.<sub>.<path>`` when it exists (looked up by name, at error time), else None."""
    import importlib
    import pkgutil

    try:
        package = importlib.import_module("autodiff.scipy")
    except ImportError:
        return None
    subs = [public.split(".")[1]] if "." in public else []
    subs += [m.name for m in pkgutil.iter_modules(package.__path__) if m.name not in subs]
    for sub in subs:
        try:
            obj: Any = importlib.import_module(f"autodiff.scipy.{sub}")
        except ImportError:
            continue
        for attr in path.split("."):
            obj = getattr(obj, attr, None)
        if obj is not None:
            return f"autodiff.scipy.{sub}.{path}"
    return None


def _scipy_error() -> TypeError | None:
    """The TypeError for a traced value passed to a plain SciPy function, or None if not in SciPy."""
    frames = _scipy_frames()
    if not frames:
        return None
    named = next((n for n in map(_public_scipy_name, frames) if n is not None), None)
    public, path = named if named is not None else (
        str(frames[0].f_globals.get("__name__")), frames[0].f_code.co_name)
    name = f"{public}.{path}"
    counterpart = _autodiff_scipy_counterpart(public, path)
    advice = (f"Use {counterpart}, its differentiable version with SciPy's signature." if counterpart else
              "autodiff.scipy has no differentiable version of it: write it with NumPy functions, or "
              "register it with autodiff.primitive and defjvp/defvjp, or pass autodiff.stop_gradient(x) "
              "for a constant.")
    return TypeError(
        f"{name} is a plain SciPy function: it converts its inputs with np.asarray, which would silently "
        f"drop the derivative of a traced value. {advice}"
    )


def _conversion_error(what: str, by_numpy: bool = False) -> TypeError:
    if _storing_into_an_array():
        return _store_error()
    scipy_error = _scipy_error()
    if scipy_error is not None:
        return scipy_error
    method = _called_array_method() if by_numpy else None   # np.asarray in C: maybe an array's method
    if method is not None:
        return _array_method_error(*method)
    return TypeError(
        f"{what} of a traced value would silently drop its derivative. Keep using NumPy functions on the "
        "traced value (np.sin(x), x @ W, ...); build arrays from several traced values with np.stack([...]) "
        "or np.concatenate; call autodiff.stop_gradient(x) if you want a constant, or read the value "
        "outside the differentiated function (out = f(x), then np.asarray(out))."
    )


def _drop_sequence_slot(cls: type) -> None:
    """Make ``cls`` (a Tracer class) not a sequence to C code, while ``t[i]``, ``len(t)``, ``iter(t)`` work.

    Why: ``y[i] = traced`` for a NumPy array y makes NumPy convert the value with ``float()``; when that
    fails and the value passes ``PySequence_Check`` (true for any class defining ``__getitem__``), NumPy
    replaces our TypeError (pointing to index_update) with "ValueError: setting an array element with a
    sequence". ``PySequence_Check`` only reads the type's ``sq_item`` slot, which Python fills from
    ``__getitem__`` alongside ``mp_subscript`` (which is what ``t[i]`` uses). Clearing ``sq_item`` leaves
    indexing, ``len``, iteration and ``in`` as they are (they use mp_subscript, sq_length, __iter__).

    Done only on CPython with the standard object layout, verified field by field; anywhere else this
    does nothing and NumPy's ValueError (with our TypeError as its cause) is what the user sees.
    """
    if sys.implementation.name != "cpython" or sysconfig.get_config_var("Py_GIL_DISABLED"):
        return
    import ctypes

    word = ctypes.sizeof(ctypes.c_void_p)
    base = id(cls)
    # PyTypeObject: ob_refcnt, ob_type, ob_size, tp_name, tp_basicsize, tp_itemsize, ..., tp_as_number
    # (word 12), tp_as_sequence (13); PySequenceMethods: sq_length, sq_concat, sq_repeat, sq_item (3).
    try:
        name = ctypes.c_char_p.from_address(base + 3 * word).value
        basicsize = ctypes.c_ssize_t.from_address(base + 4 * word).value
        itemsize = ctypes.c_ssize_t.from_address(base + 5 * word).value
        if (name or b"").decode().split(".")[-1] != cls.__name__ or basicsize != cls.__basicsize__ \
                or itemsize != cls.__itemsize__:
            return
        methods = ctypes.c_void_p.from_address(base + 13 * word).value
        if not methods:
            return
        sq_length = ctypes.c_void_p.from_address(methods)
        sq_item = ctypes.c_void_p.from_address(methods + 3 * word)
        if sq_length.value and sq_item.value:     # both come from our __len__ and __getitem__
            sq_item.value = None
    except (ValueError, OSError, UnicodeDecodeError):
        return


class Tracer:
    """Base class of traced values: NumPy-like arrays that carry derivative information.

    Operators, ndarray methods and array properties come from the one table of ``autodiff.operators``
    (installed below, shared with ``Tensor``); they and NumPy's dispatch protocols all lead to
    :func:`bind`. Subclasses set ``primal`` (the value one level down) and ``_trace``.
    """

    __slots__ = ()
    __array_priority__ = 1000
    primal: Any
    _trace: Trace

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        _drop_sequence_slot(cls)

    # ---- what the table derives the other properties from -------------------------------------------
    # Both walk down to the plain value: under nested transformations a property call per level (rules
    # ask for shapes all the time, and a tracer's primal is a tracer one level down) would add up.
    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the value."""
        x = self.primal
        while isinstance(x, Tracer):
            x = x.primal
        return x.shape if type(x) is NDARRAY else shape_of(x)

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype of the value."""
        x = self.primal
        while isinstance(x, Tracer):
            x = x.primal
        return x.dtype if type(x) is NDARRAY else _dtype_of(x)

    def __getitem__(self, index):
        """``self[index]``: basic and advanced indexing, differentiable (``autodiff.rules.shape``)."""
        return _ops["getitem"](self, index)

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        """The value cast to ``dtype``: differentiable between float/complex dtypes, a constant otherwise."""
        return _ops["astype"](self, dtype=np.dtype(dtype))

    def copy(self, order="C"):
        """The value itself: a traced value is immutable, so it is its own copy."""
        return self

    # ---- no silent conversion ---------------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise _conversion_error("Converting to a NumPy array (np.asarray/np.array)", by_numpy=True)

    def __float__(self):
        raise _conversion_error("float()")

    def __int__(self):
        raise _conversion_error("int()")

    def __complex__(self):
        raise _conversion_error("complex()")

    def __index__(self):
        raise _conversion_error("Using as an index")

    def __bool__(self):
        raise TypeError(
            "The truth value of a traced value is ambiguous. Compare it instead (x > 0 gives a plain "
            "boolean array, so `if x > 0:` works), or use np.where for a differentiable choice."
        )

    def item(self, *args):
        raise _conversion_error(".item()")

    def tolist(self):
        raise _conversion_error(".tolist()")

    # ---- immutable --------------------------------------------------------------------------------
    def __setitem__(self, index, value):
        raise TypeError(
            "Traced values are immutable: `x[i] = v` cannot be differentiated. Use "
            "autodiff.index_update(x, index, values) (or index_add) which returns a new array."
        )

    def sort(self, axis=-1, kind=None, order=None, **kwargs):
        raise TypeError(
            "Traced values are immutable: `x.sort()` sorts in place, which cannot be differentiated. Use "
            "np.sort(x, axis) which returns a new, differentiable array."
        )

    def fill(self, value):
        raise TypeError(
            "Traced values are immutable: `x.fill(v)` cannot be differentiated. Use np.full_like(x, v) "
            "for a new array (a constant), or autodiff.index_update(x, index, values)."
        )

    __hash__ = object.__hash__

    # ---- copies stay traced; pickling is refused ----------------------------------------------------
    # A traced value is immutable, so the value itself is its copy: same value, same derivative. The
    # default protocol would copy the slots instead, and a copied trace is a transformation nobody runs
    # (derivative 0, or a Dual leaking out of jvp).
    def __copy__(self):
        return self

    def __deepcopy__(self, memo=None):
        return self

    def __reduce_ex__(self, protocol):
        raise TypeError(
            f"a traced value ({type(self).__name__}) cannot be pickled: its derivative belongs to a "
            "transformation running in this process. Pickle plain values instead: the result outside the "
            "differentiated function (out = f(x)), or np.asarray(autodiff.stop_gradient(x)) for a constant."
        )

    def __reduce__(self):
        return self.__reduce_ex__(2)

    # ---- NumPy's dispatch protocols ---------------------------------------------------------------
    # A box (a Tensor) among the arguments: NotImplemented, so NumPy asks the box, which unboxes every
    # argument and calls the function again; no box reaches bind.
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        for x in inputs:
            if isinstance(x, Boxed):
                return NotImplemented
        if method == "__call__" and not kwargs:
            target = _dispatch.get(ufunc)
            if type(target) is Primitive:    # the common case: a registered ufunc, applied
                return bind_tuple(target, inputs, {})
        return _apply_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        for t in types:
            if issubclass(t, Boxed):
                return NotImplemented
        target = _dispatch.get(func)
        if target is None:
            name = getattr(func, "__module__", "numpy") + "." + getattr(func, "__name__", repr(func))
            raise NotImplementedError(_missing_rule_message(name))
        return target(*args, **kwargs)


def _apply_ufunc(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    """``Tracer.__array_ufunc__`` beyond a plain call of a registered ufunc: ``out=`` (refused), ufunc
    methods (``np.add.reduce``: their adapters), adapters, and the ``dtype=`` keyword (a cast after)."""
    if kwargs.get("out") is not None:
        raise TypeError(
            f"np.{ufunc.__name__}(..., out=...) would write into an array in place, which cannot be "
            "differentiated; use the returned value instead."
        )
    kwargs.pop("out", None)
    if method != "__call__":
        handler = _ufunc_methods.get((ufunc, method))
        if handler is None:
            raise NotImplementedError(_missing_method_message(ufunc, method))
        return handler(*inputs, **kwargs)
    target = _dispatch.get(ufunc)
    if target is None:
        raise NotImplementedError(_missing_rule_message(ufunc.__name__))
    if not kwargs:
        return bind(target, *inputs) if type(target) is Primitive else target(*inputs)
    dtype = kwargs.pop("dtype", None)
    if kwargs:
        raise NotImplementedError(
            f"np.{ufunc.__name__} with keyword arguments {sorted(kwargs)} is not supported on "
            "traced values; compute the result without them (e.g. np.where for `where=`)."
        )
    out = target(*inputs)
    return out if dtype is None else out.astype(dtype)


def _tracer_operator(row: operators.Operator) -> Callable:
    """Tracer's method for an operator of the table: a direct :func:`bind` of the registered primitive.

    No NumPy dispatch and no extra call on the hot path (``x * y``): the method calls ``bind`` itself. A
    box as the other operand gives NotImplemented, so Python asks the box's reflected operator.
    Comparisons give plain booleans; ``//`` and ``%`` go through NumPy's dispatch to their adapters.
    """
    ufunc, op = row.ufunc, row.op
    if row.compare:
        def compare(self, other):
            return ufunc(lower(self), lower(other))
        return compare
    if op is None:
        if row.reflected:
            return lambda self, other: ufunc(other, self)
        return lambda self, other: ufunc(self, other)
    if row.arity == 1:
        def unary(self):
            return bind_tuple(_ops[op], (self,), {})
        return unary
    if row.reflected:
        def reflected(self, other):
            if isinstance(other, Boxed):
                return NotImplemented
            return bind_tuple(_ops[op], (other, self), {})
        return reflected

    def binary(self, other):
        if isinstance(other, Boxed):
            return NotImplemented
        return bind_tuple(_ops[op], (self, other), {})
    return binary


operators.install(Tracer, _tracer_operator, noun="traced value", state="traced")
_drop_sequence_slot(Tracer)


def _dtype_of(x: Any) -> np.dtype:
    dt = getattr(x, "dtype", None)
    return dt if dt is not None else np.asarray(x).dtype


def _missing_rule_message(name: str) -> str:
    return (
        f"{name} has no differentiation rule in autodiff, so it cannot be applied to a traced value. "
        f"Register one: `p = autodiff.primitive({name.split('.')[-1]})`, then "
        "`autodiff.defjvp(p, rule)` and `autodiff.defvjp(p, rule)` (see autodiff.core), or apply it to "
        "autodiff.stop_gradient(x) if you do not need its derivative."
    )


def _missing_method_message(ufunc: Any, method: str) -> str:
    """Why ``np.<ufunc>.<method>`` cannot run on a traced value, and what exists to use instead."""
    name = f"np.{ufunc.__name__}.{method}"
    if method == "at":
        return (f"{name} writes into its first argument in place, which cannot be differentiated. Use "
                "autodiff.index_add(x, index, values) (the differentiable np.add.at: repeated indices "
                "accumulate) or autodiff.index_update(x, index, values); both return a new array.")
    if ufunc not in _dispatch:
        return (f"{name}: np.{ufunc.__name__} itself has no differentiation rule in autodiff. Register one "
                f"(`p = autodiff.primitive(np.{ufunc.__name__})`, then autodiff.defjvp/defvjp), or apply it "
                "to autodiff.stop_gradient(x) if you do not need its derivative.")
    return (f"{name} is not supported on traced values (np.{ufunc.__name__} itself is): write it with calls "
            f"of np.{ufunc.__name__}, or register an adapter with "
            f"autodiff.core.implements_ufunc_method(np.{ufunc.__name__}, {method!r}).")


# --------------------------------------------------------------------------------------------------
# Primitives and the registry.
# --------------------------------------------------------------------------------------------------

class Sample:
    """One test input for a primitive: positional ``args`` and keyword ``params``."""

    __slots__ = ("args", "params")

    def __init__(self, args: tuple, params: dict | None = None) -> None:
        self.args = tuple(args)
        self.params = dict(params or {})

    def __repr__(self) -> str:
        shapes = [np.shape(a) for a in self.args]
        return f"Sample(shapes={shapes}, params={self.params})"


class Primitive:
    """A differentiable operation: NumPy implementation, JVP rules and VJP rules, one per argument.

    ``jvps[i]`` is ``rule(tangent, ans, *args, **params) -> output tangent`` (or None: no derivative);
    ``vjps[i]`` is ``rule(ans, *args, **params) -> (g -> cotangent of argument i)``. Tangents and
    cotangents may carry extra leading (batch) axes; rules must keep them in front.
    ``elementwise`` primitives broadcast their arguments like ufuncs: the transformations line tangents
    up with the output and sum cotangents back to each argument's shape, so their rules are one-liners.
    """

    __slots__ = ("name", "impl", "jvps", "vjps", "elementwise", "nondiff", "domain", "fn", "__weakref__")

    def __init__(self, impl: Callable, name: str, elementwise: bool = False) -> None:
        self.impl = impl
        self.fn = impl
        self.name = name
        self.jvps: tuple | None = None
        self.vjps: tuple | None = None
        self.elementwise = elementwise
        self.nondiff = False
        self.domain: Callable[[np.random.Generator], Sample] | None = None

    def __call__(self, *args, **params):
        """Apply the primitive: :func:`bind`, after unboxing the boxes among ``args`` (a Tensor applied to
        a primitive, ``stop_gradient(variable)``), whose result is boxed again. ``bind`` never sees a box."""
        for a in args:
            if isinstance(a, Boxed):
                return a._autodiff_box(bind_tuple(self, _unboxed(args), params))
        return bind_tuple(self, args, params)

    def __repr__(self) -> str:
        return f"<Primitive {self.name} jvp={self.has_jvp} vjp={self.has_vjp}>"

    @property
    def has_jvp(self) -> bool:
        """True when forward mode works: a JVP rule, or a VJP rule to linearize, or zero derivative."""
        return self.nondiff or self.jvps is not None or self.vjps is not None

    @property
    def has_vjp(self) -> bool:
        """True when reverse mode works: a VJP rule, or a JVP rule to transpose, or zero derivative."""
        return self.nondiff or self.vjps is not None or self.jvps is not None

    def jvp_rule(self, argnum: int) -> Callable | None:
        """The JVP rule of argument ``argnum``; derived from the VJP rule when only that exists."""
        if self.jvps is not None:
            return self.jvps[argnum] if argnum < len(self.jvps) else missing_rule(self, argnum, "JVP")
        if self.vjps is not None:
            return derived_rule("jvp")(self, self.vjps, argnum)
        raise NotImplementedError(
            f"primitive {self.name!r} has no JVP rule and no VJP rule; register one with "
            f"autodiff.defjvp or autodiff.defvjp."
        )

    def vjp_rule(self, argnum: int) -> Callable | None:
        """The VJP rule of argument ``argnum``; transposed from the JVP rule when only that exists."""
        if self.vjps is not None:
            return self.vjps[argnum] if argnum < len(self.vjps) else missing_rule(self, argnum, "VJP")
        if self.jvps is not None:
            return derived_rule("vjp")(self, self.jvps, argnum)
        raise NotImplementedError(
            f"primitive {self.name!r} has no VJP rule and no JVP rule; register one with "
            f"autodiff.defvjp or autodiff.defjvp."
        )


_registry: dict[str, Primitive] = {}
_by_function: dict[Any, Primitive] = {}
registry = types.MappingProxyType(_registry)
"""Read-only mapping from primitive name to :class:`Primitive`."""

# NumPy callable -> the function that handles it on traced values (a Primitive or an adapter).
_dispatch: dict[Any, Callable] = {}
# (ufunc, method) -> handler, e.g. (np.add, "reduce") -> sum.
_ufunc_methods: dict[tuple[Any, str], Callable] = {}
# Primitives that Tracer's operators need, by NumPy name; filled by autodiff.rules.
_ops: dict[str, Callable] = {}


def _on_value(fn: Callable) -> Callable:
    """Handler for a NumPy function that reads only shape/dtype/value metadata: apply it to the value."""
    def handler(*args, **kwargs):
        return fn(*(lower(a) for a in args), **kwargs)
    return handler


# Functions of shape and dtype only (or constants shaped like x): no derivative is involved.
for _f in (np.shape, np.ndim, np.size, np.result_type, np.zeros_like, np.ones_like, np.empty_like,
           np.full_like, np.iscomplexobj, np.isrealobj, np.may_share_memory, np.shares_memory,
           np.argmax, np.argmin, np.argsort, np.nonzero, np.count_nonzero, np.sign, np.isclose,
           np.allclose, np.array_equal, np.all, np.any, np.isfinite, np.isnan, np.isinf):
    if not isinstance(_f, np.ufunc):
        _dispatch[_f] = _on_value(_f)


def _is_numpy_callable(fn: Any) -> bool:
    module = getattr(fn, "__module__", None) or ""
    return isinstance(fn, np.ufunc) or module.split(".")[0] in ("numpy", "scipy")


def primitive(fn: Callable, name: str | None = None, *, elementwise: bool | None = None) -> Primitive:
    """Register ``fn`` as a primitive and return it (the same Primitive if ``fn`` is registered already).

    A NumPy/SciPy function or ufunc registered here is also dispatched to when NumPy calls it on a
    traced value, so ``np.fn(x)`` differentiates once rules are given with :func:`defjvp`/:func:`defvjp`.
    Ufuncs are ``elementwise`` (broadcasting) unless told otherwise.
    """
    if isinstance(fn, Primitive):
        return fn
    existing = _by_function.get(fn)
    if existing is not None:
        return existing
    name = name or getattr(fn, "__name__", None)
    if not name:
        raise TypeError(f"primitive() needs a name for {fn!r}: pass primitive(fn, name='...').")
    if name in _registry:
        raise ValueError(
            f"a primitive named {name!r} is registered already (for {_registry[name].fn!r}); "
            "pass primitive(fn, name='another_name')."
        )
    if elementwise is None:
        elementwise = isinstance(fn, np.ufunc)
    prim = Primitive(fn, name, elementwise)
    _registry[name] = prim
    _by_function[fn] = prim
    if _is_numpy_callable(fn) and fn not in _dispatch:
        _dispatch[fn] = prim
    return prim


def _check_rules(prim: Primitive, rules: tuple, kind: str) -> tuple:
    if not isinstance(prim, Primitive):
        raise TypeError(f"{kind}() takes a Primitive first (from autodiff.primitive(fn)), got {prim!r}.")
    for i, rule in enumerate(rules):
        if rule is not None and not callable(rule):
            raise TypeError(f"{kind}({prim.name}): rule {i} must be callable or None, got {rule!r}.")
    return tuple(rules)


def missing_rule(prim: Primitive, argnum: int, kind: str):
    """Raise NotImplementedError: ``prim`` was given fewer ``kind`` rules than it has arguments, and the
    derivative with respect to argument ``argnum`` (which has none) is needed. Only an explicit None
    declares a zero derivative; a missing rule is never taken for one."""
    rules = prim.jvps if kind == "JVP" else prim.vjps
    count = len(rules) if rules is not None else 0
    define = "defjvp" if kind == "JVP" else "defvjp"
    raise NotImplementedError(
        f"primitive {prim.name!r} has {count} {kind} rule(s), so it has no {kind} rule for argument "
        f"{argnum}, whose derivative is needed here (it is traced). Give {define}({prim.name}, ...) one "
        "rule per positional argument, with None for an argument whose derivative is zero."
    )


def defjvp(prim: Primitive, *rules: Callable | None) -> None:
    """Set the JVP rules of ``prim``: ``rule_i(tangent_i, ans, *args, **params) -> output tangent``.

    The output tangent is the sum over arguments of J_i t_i; ``None`` declares that argument's
    derivative zero. Rules must be written with NumPy functions (which dispatch to primitives), so that
    they can themselves be differentiated.
    """
    prim.jvps = _check_rules(prim, rules, "defjvp")


def defvjp(prim: Primitive, *rules: Callable | None) -> None:
    """Set the VJP rules of ``prim``: ``rule_i(ans, *args, **params)`` returns ``g -> J_iᵀ g``.

    The outer call runs during the forward pass and keeps only what the backward pass needs (a staged
    VJP); ``None`` declares that argument's derivative zero.
    """
    prim.vjps = _check_rules(prim, rules, "defvjp")


def defdomain(prim: Primitive, sampler: Callable[[np.random.Generator], Sample]) -> None:
    """Declare the inputs on which the test-suite checks ``prim`` (a function of a NumPy Generator)."""
    prim.domain = sampler


def nondifferentiable(fn: Callable, name: str | None = None, *,
                      domain: Callable[[np.random.Generator], Sample] | None = None) -> Primitive:
    """Register ``fn`` as a primitive whose derivative is zero everywhere it exists (floor, sign, ...).

    Its result is a plain constant in every transformation: no tangent, no tape node. ``domain`` is its
    test domain (as for :func:`defdomain`).
    """
    prim = primitive(fn, name)
    prim.nondiff = True
    if domain is not None:
        prim.domain = domain
    return prim


def implements(*numpy_functions: Callable) -> Callable:
    """Decorator: use the decorated function when any of ``numpy_functions`` is called on a traced value.

    The decorated adapter takes NumPy's signature and calls primitives (array arguments positional,
    static parameters as keywords).
    """
    def register(adapter: Callable) -> Callable:
        for f in numpy_functions:
            _dispatch[f] = adapter
        return adapter
    return register


def implements_ufunc_method(ufunc: np.ufunc, method: str) -> Callable:
    """Decorator: handle ``ufunc.method(...)`` (e.g. ``np.add.reduce``) on traced values."""
    def register(adapter: Callable) -> Callable:
        _ufunc_methods[(ufunc, method)] = adapter
        return adapter
    return register


def register_op(name: str, fn: Callable) -> None:
    """Tell Tracer which callable implements the operator named ``name`` (add, getitem, ...)."""
    _ops[name] = fn


# --------------------------------------------------------------------------------------------------
# bind: the single interception point.
# --------------------------------------------------------------------------------------------------

def bind(prim: Primitive, *args, **params):
    """Apply ``prim`` to ``args``: hand the call to the innermost active transformation among them.

    Tracers of transformations that have ended are replaced by the values they hold (constants), so a
    traced value that escaped its transformation never yields a wrong derivative. ``args`` hold no boxes:
    they are unboxed where they can enter (``Primitive.__call__``, the Tracer operators and NumPy
    protocols, the Tensor's), so this loop, run for every primitive application, looks for tracers only.
    """
    return bind_tuple(prim, args, params)


def bind_tuple(prim: Primitive, args: tuple, params: dict):
    """:func:`bind` with the arguments as a tuple and the parameters as a dict: what the hot paths call.

    Why: a call that spreads ``*args``/``**params``, or a function whose signature collects them, costs
    about ten times a plain call in CPython 3.11 (a plain Python-to-Python call is inlined), and every
    primitive application went through two of them.
    """
    n = len(args)
    if n == 1:   # the common one-argument call: its tracer's trace, if active, is the innermost
        a = args[0]
        if isinstance(a, Tracer) and a._trace.active:
            return a._trace.process(prim, args, params)
    elif n == 2:   # the common binary operation with one tracer, active, or none: without the loop
        a, b = args
        if isinstance(a, Tracer):
            if not isinstance(b, Tracer) and a._trace.active:
                return a._trace.process(prim, args, params)
        elif isinstance(b, Tracer):
            if b._trace.active:
                return b._trace.process(prim, args, params)
        else:
            impl = prim.impl
            return impl(a, b, **params) if params else impl(a, b)
    return _bind_any(prim, args, params)


def _bind_any(prim: Primitive, args: tuple, params: dict):
    """:func:`bind_tuple`'s general case: the innermost active trace among any number of arguments,
    the tracers of ended transformations replaced by their values."""
    top = None
    stale = False
    for a in args:
        if isinstance(a, Tracer):
            trace = a._trace
            if not trace.active:
                stale = True
            elif top is None or trace.level > top.level:
                top = trace
    if stale:
        args = tuple(drop_inactive(a) for a in args)
    if top is None:
        return prim.impl(*args, **params)
    return top.process(prim, args, params)


def call_rule(rule: Callable, first: Any, second: Any, primals: Sequence[Any], params: dict) -> Any:
    """``rule(first, second, *primals, **params)``, without a star call for one or two primals and no
    parameters (the common case; see :func:`bind_tuple` for why). For the JVP rules (``t, ans``)."""
    if not params:
        n = len(primals)
        if n == 1:
            return rule(first, second, primals[0])
        if n == 2:
            return rule(first, second, primals[0], primals[1])
    return rule(first, second, *primals, **params)


def stage_rule(rule: Callable, ans: Any, primals: Sequence[Any], params: dict) -> Any:
    """``rule(ans, *primals, **params)`` as :func:`call_rule` calls it: for the VJP rules."""
    if not params:
        n = len(primals)
        if n == 1:
            return rule(ans, primals[0])
        if n == 2:
            return rule(ans, primals[0], primals[1])
    return rule(ans, *primals, **params)


def apply_below(trace: Trace | Literal[False], prim: Primitive, args: list | tuple, params: dict) -> Any:
    """``bind(prim, *args, **params)`` for the primal call of a transformation, given what it found.

    The trace skeleton (``Trace.process``) scans its arguments anyway; ``trace`` is the transformation of the
    traced values among ``args`` (the values one level down) when they all belong to one, and False
    when they belong to several. One active transformation is the innermost: it gets the call
    directly, without bind's second scan of the arguments (a visible share of nested derivatives).
    """
    if trace is not False and trace.active:
        return trace.process(prim, tuple(args), params)
    return bind_tuple(prim, tuple(args), params)


class Boxed:
    """Base of user-facing boxes around values (the TensorFlow-style Tensor of autodiff.tensor).

    A primitive applied to a box (``stop_gradient(variable)``, ``tensor * tracer``) works on the boxed
    value (``_autodiff_value()``, as the active transformations see it) and boxes its result again
    (``_autodiff_box(result)``). Boxes are unpacked where they enter, never in :func:`bind`:
    ``Primitive.__call__`` unboxes them, and the Tracer's operators and NumPy protocols return
    NotImplemented for them (so the box's own, unboxing, implementation runs). Without this a box would
    reach a NumPy implementation or a rule as an opaque object.
    """

    __slots__ = ()

    def _autodiff_value(self) -> Any:
        raise NotImplementedError

    def _autodiff_box(self, value: Any) -> Any:
        raise NotImplementedError


def _unboxed(args: tuple) -> tuple:
    """``args`` with every box replaced by its value as the active transformations see it."""
    return tuple(a._autodiff_value() if isinstance(a, Boxed) else a for a in args)


def strip_inner(x: Any, trace: Trace) -> Any:
    """Replace tracers of ended transformations nested inside ``trace`` by the values they hold."""
    while isinstance(x, Tracer) and x._trace is not trace and not x._trace.active \
            and x._trace.level > trace.level:
        x = x.primal
    return x


def drop_inactive(x: Any) -> Any:
    """``x`` without the tracers of transformations that have ended (they are the values they hold)."""
    while isinstance(x, Tracer) and not x._trace.active:
        x = x.primal
    return x


# --------------------------------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------------------------------

def is_float_dtype(dtype: Any) -> bool:
    """True for real or complex floating dtypes (the ones that have derivatives)."""
    return np.dtype(dtype).kind in "fc"


def differentiable_dtype(x: Any) -> np.dtype:
    """dtype of ``x``; raises TypeError for integer/boolean values, which have no derivative."""
    dtype = _dtype_of(x)
    if not is_float_dtype(dtype):
        raise TypeError(
            f"cannot differentiate with respect to an input of dtype {dtype}: integer and boolean inputs "
            "have no derivative. Pass floats (e.g. np.asarray(x, dtype=float)) or leave this argument out "
            "of argnums."
        )
    return dtype


# --------------------------------------------------------------------------------------------------
# Rules derived from the other mode (linearization and transposition).
# --------------------------------------------------------------------------------------------------

# Both derivations transpose a linear map with reverse mode, so they live in reverse/derived.py, which
# fills this table when it loads: "jvp" -> (prim, vjps, argnum) -> JVP rule, "vjp" -> (prim, jvps,
# argnum) -> VJP rule. The core never imports a mode; `autodiff/__init__` (which runs before anything
# can reach this module, the core being a submodule of autodiff) installs the loader that brings
# reverse.derived in the first time forward mode needs a derived rule.
_derived_rules: dict[str, Callable] = {}
_derived_rules_loader: list[Callable[[], Any]] = []


def derived_rule(kind: str) -> Callable:
    """The derivation of a missing ``kind`` ("jvp" or "vjp") rule from the other mode's rules."""
    if kind not in _derived_rules and _derived_rules_loader:
        _derived_rules_loader[0]()
    try:
        return _derived_rules[kind]
    except KeyError:
        raise RuntimeError(
            f"no derivation of {kind.upper()} rules is installed: import autodiff (or reverse) before "
            "using a primitive that has rules for one mode only.") from None
