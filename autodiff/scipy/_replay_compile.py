"""A recorded :class:`~autodiff.scipy._replay.Program` written out as one Python function per mode.

An interpreter of the recorded operations spends as much time on its own bookkeeping (argument lists,
dictionaries of cotangents, loops over the rules) as the operations take, for the small arrays of an
ODE's right-hand side. So the program is written out once as straight-line Python source — one line
per operation, one block per rule — and compiled. The generated function does, statement for
statement, what a tape's backward sweep (``reverse/tape.py``: ``_pull_elementwise``, ``_pull_checked``)
or a forward-mode trace (``forward/dual.py``: ``_elementwise_tangent``, ``_checked_tangent``) does with
the same rules; every value's shape and dtype is checked against the recording (:class:`Stale` when
one differs), so the shapes the code was written for hold.

Names in the generated code: ``v<slot>`` values, ``c<slot>`` cotangents, ``t<slot>`` tangents; the
operations' implementations, constants, parameters, rules and shapes are bound by name
(``impl<k>``, ``k<k>_<i>``, ``p<k>``, ``r<k>_<j>``, ``s<slot>``, ...) in the function's globals.

A program is recorded again at every solve, and writing its source out costs more than recording it.
So the source is a pure function of the program's *skeleton* — which slots each operation reads,
which rules have shortcuts, which arguments broadcast, the ranks of the shapes — written out and
compiled once per skeleton; each recording only binds its own objects to the names.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from autodiff.core import shape_of
from autodiff.shapes import align_tangent, fit_tangent, unbroadcast
from autodiff.structured import IndexedCotangent

# The skeleton of one operation: (its slot, the slot each argument reads or None for a constant,
# whether it has parameters, its rank, whether it is elementwise, and its derivative flows — each
# (argument position, the argument's slot, whether the rule has a shortcut, the argument's rank,
# whether it broadcasts)).
_OpSkeleton = tuple


def _bind(program: Any, plan: list, names: dict) -> tuple[_OpSkeleton, ...]:
    """Bind the program's objects to their names in ``names``; return its skeleton (hashable)."""
    from autodiff.scipy._replay import _Const

    skeleton = []
    for k, op in enumerate(program.ops):
        names[f"impl{k}"], names[f"s{op.slot}"], names[f"d{op.slot}"] = op.impl, op.shape, op.dtype
        names[f"p{k}"] = op.params
        reads: list[int | None] = []
        for i, r in enumerate(op.refs):
            if type(r) is _Const:
                names[f"k{k}_{i}"] = r.value
                reads.append(None)
            else:
                reads.append(r if type(r) is int else r.slot)
        flows = []
        for j, (parent, rule, fast, shape, broadcast) in enumerate(plan[k]):
            names[f"r{k}_{j}"], names[f"f{k}_{j}"], names[f"a{k}_{j}"] = rule, fast, shape
            flows.append((parent, fast is not None, len(shape), broadcast))
        skeleton.append((op.slot, tuple(reads), bool(op.params), len(op.shape), op.prim.elementwise,
                         tuple(flows)))
    return tuple(skeleton)


def _forward_lines(n_inputs: int, skeleton: tuple) -> list[str]:
    """The operations, each result checked: ``v<slot> = impl<k>(args)``."""
    lines = [f"    {', '.join(f'v{i}' for i in range(n_inputs))}, = inputs"]
    for k, (slot, reads, has_params, _, _, _) in enumerate(skeleton):
        call = f"impl{k}({_args(k, reads)}{', **p%d' % k if has_params else ''})"
        lines += [f"    v{slot} = {call}",
                  f"    if getattr(v{slot}, 'shape', None) != s{slot} or (v{slot}.dtype is not "
                  f"d{slot} and v{slot}.dtype != d{slot}):",
                  "        raise Stale"]
    return lines


def _args(k: int, reads: tuple) -> str:
    """The argument list of operation ``k``: values by slot, constants by name."""
    return ", ".join(f"k{k}_{i}" if r is None else f"v{r}" for i, r in enumerate(reads))


# Skeleton (and mode) -> compiled code of its source; bounded, as a process may record many programs.
_CODE: dict[tuple, Any] = {}
_CODE_LIMIT = 256


def _compile(key: tuple, write: Callable[[], list[str]], names: dict, name: str) -> Callable:
    """The function ``name`` of the source ``write()`` gives for ``key`` (compiled once per key),
    its globals ``names``."""
    names.update(Stale=_stale(), IndexedCotangent=IndexedCotangent, np=np, shape_of=shape_of,
                 unbroadcast=unbroadcast, align_tangent=align_tangent, fit_tangent=fit_tangent)
    found = _CODE.get(key)
    if found is None:
        if len(_CODE) >= _CODE_LIMIT:      # many distinct programs: drop the oldest
            del _CODE[next(iter(_CODE))]
        source = "\n".join(write()) + "\n"
        found = _CODE[key] = (compile(source, f"<replay {name}>", "exec"), source)
    exec(found[0], names)   # noqa: S102 - our own generated source
    fn = names[name]
    fn.source = found[1]
    return fn


def _stale():
    from autodiff.scipy._replay import Stale
    return Stale


def compile_vjp(program: Any, plan: list) -> Callable:
    """``fn(inputs, g) -> (value, [cotangent of each input or None])``: the operations, then each
    operation's pullbacks in reverse order (a tape's sweep), for the output cotangent ``g``."""
    names: dict = {}
    skeleton = _bind(program, plan, names)
    n_inputs, out_slot = program.n_inputs, program.out_slot

    def write() -> list[str]:
        lines = ["def vjp(inputs, g):"] + _forward_lines(n_inputs, skeleton)
        slots = range(n_inputs + len(skeleton))
        lines.append(f"    {' = '.join(f'c{s}' for s in slots)} = None")
        lines.append(f"    c{out_slot} = g")
        for k in range(len(skeleton) - 1, -1, -1):
            if skeleton[k][5]:
                lines += _pull_lines(k, skeleton[k])
        inputs = ", ".join(f"c{i}" for i in range(n_inputs))
        lines.append(f"    return v{out_slot}, [{inputs}]")
        return lines
    return _compile(("vjp", n_inputs, out_slot, skeleton), write, names, "vjp")


def _pull_lines(k: int, op: _OpSkeleton) -> list[str]:
    """Operation ``k``'s cotangent pulled back to its arguments (``_pull`` of the tape, unrolled)."""
    slot, reads, has_params, ndim, elementwise, flows = op
    args, params = _args(k, reads), (f", **p{k}" if has_params else "")
    lines = [f"    if c{slot} is not None:",
             f"        g = c{slot}",
             "        if type(g) is IndexedCotangent:",
             "            g = g.materialize()",
             f"        nb = len(g.shape if type(g) is np.ndarray else shape_of(g)) - {ndim}"]
    for j, (parent, has_fast, arg_ndim, broadcast) in enumerate(flows):
        shortcut = f"f{k}_{j}(g, v{slot}, {args})" if has_fast else "None"
        lines.append(f"        x = {shortcut}")
        lines += ["        if x is None:",
                  f"            x = r{k}_{j}(v{slot}, {args}{params})(g)",
                  "            if type(x) is IndexedCotangent:",
                  "                x = x.materialize()",
                  "        if x is not None:"]
        if broadcast:
            lines.append(f"            x = unbroadcast(x, a{k}_{j}, nb)")
        elif not elementwise:
            lines += ["            got = x.shape if type(x) is np.ndarray else shape_of(x)",
                      f"            if got[nb:] != a{k}_{j} or len(got) != nb + {arg_ndim}:",
                      "                raise Stale"]
        lines.append(f"            c{parent} = x if c{parent} is None else c{parent} + x")
    return lines


def compile_jvp(program: Any, plan: list, nbt: int) -> Callable:
    """``fn(inputs, tangents) -> (value, tangent or None)``: the operations, each followed by its
    tangent from its arguments' (forward mode's trace, unrolled), every tangent with ``nbt`` batch axes."""
    names: dict = {}
    skeleton = _bind(program, plan, names)
    n_inputs, out_slot = program.n_inputs, program.out_slot

    def write() -> list[str]:
        lines = ["def jvp(inputs, tangents):"] + _forward_lines(n_inputs, skeleton)
        lines.append(f"    {', '.join(f't{i}' for i in range(n_inputs))}, = tangents")
        for k, op in enumerate(skeleton):
            lines += _push_lines(k, op, nbt) if op[5] else [f"    t{op[0]} = None"]
        lines.append(f"    return v{out_slot}, t{out_slot}")
        return lines
    return _compile(("jvp", nbt, n_inputs, out_slot, skeleton), write, names, "jvp")


def _push_lines(k: int, op: _OpSkeleton, nbt: int) -> list[str]:
    """Operation ``k``'s tangent (``_push``, unrolled): each rule's term, summed."""
    slot, reads, has_params, ndim, elementwise, flows = op
    args, params = _args(k, reads), (f", **p{k}" if has_params else "")
    lines = ["    o = None", "    nb = -1"]
    for j, (s, has_fast, arg_ndim, broadcast) in enumerate(flows):
        shortcut = f"f{k}_{j}(t{s}, v{slot}, {args})" if has_fast else "None"
        lines += [f"    if t{s} is not None:",
                  f"        x = {shortcut}",
                  "        if x is None:",
                  f"            t = t{s}"]
        if broadcast:
            lines += [f"            nb = len(shape_of(t)) - {arg_ndim}",
                      "            if nb:",
                      f"                t = align_tangent(t, v{s}, v{slot})"]
        lines.append(f"            x = r{k}_{j}(t, v{slot}, {args}{params})")
        lines.append("        if x is not None:")
        if not elementwise:
            lines += ["            got = x.shape if type(x) is np.ndarray else shape_of(x)",
                      f"            if len(got) != {nbt + ndim} or got[{nbt}:] != s{slot}:",
                      "                raise Stale"]
        lines.append("            o = x if o is None else o + x")
    if any(f[3] for f in flows):
        lines += ["    if o is not None and nb >= 0:",
                  "        got = shape_of(o)",
                  f"        if got[nb:] != s{slot} or len(got) != nb + {ndim}:",
                  f"            o = fit_tangent(o, v{slot}, nb)"]
    lines.append(f"    t{slot} = o")
    return lines
