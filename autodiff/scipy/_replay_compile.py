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
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from autodiff.core import shape_of
from autodiff.shapes import align_tangent, fit_tangent, unbroadcast
from autodiff.structured import IndexedCotangent


def _forward_lines(program: Any, names: dict) -> list[str]:
    """The operations, each result checked: ``v<slot> = impl<k>(args)``."""
    lines = [f"    {', '.join(f'v{i}' for i in range(program.n_inputs))}, = inputs"]
    for k, op in enumerate(program.ops):
        names[f"impl{k}"], names[f"s{op.slot}"], names[f"d{op.slot}"] = op.impl, op.shape, op.dtype
        call = f"impl{k}({_args(k, op, names)}{', **p%d' % k if op.params else ''})"
        names[f"p{k}"] = op.params
        lines += [f"    v{op.slot} = {call}",
                  f"    if getattr(v{op.slot}, 'shape', None) != s{op.slot} or (v{op.slot}.dtype is not "
                  f"d{op.slot} and v{op.slot}.dtype != d{op.slot}):",
                  "        raise Stale"]
    return lines


def _args(k: int, op: Any, names: dict) -> str:
    """The argument list of operation ``k``: values by slot, constants by name."""
    from autodiff.scipy._replay import _Const

    parts = []
    for i, r in enumerate(op.refs):
        if type(r) is _Const:
            names[f"k{k}_{i}"] = r.value
            parts.append(f"k{k}_{i}")
        else:
            parts.append(f"v{r if type(r) is int else r.slot}")
    return ", ".join(parts)


def _compile(lines: list[str], names: dict, name: str) -> Callable:
    names.update(Stale=_stale(), IndexedCotangent=IndexedCotangent, np=np, shape_of=shape_of,
                 unbroadcast=unbroadcast, align_tangent=align_tangent, fit_tangent=fit_tangent)
    source = "\n".join(lines) + "\n"
    exec(compile(source, f"<replay {name}>", "exec"), names)   # noqa: S102 - our own generated source
    fn = names[name]
    fn.source = source
    return fn


def _stale():
    from autodiff.scipy._replay import Stale
    return Stale


def compile_vjp(program: Any, plan: list) -> Callable:
    """``fn(inputs, g) -> (value, [cotangent of each input or None])``: the operations, then each
    operation's pullbacks in reverse order (a tape's sweep), for the output cotangent ``g``."""
    names: dict = {}
    lines = ["def vjp(inputs, g):"] + _forward_lines(program, names)
    slots = range(program.n_inputs + len(program.ops))
    lines.append(f"    {' = '.join(f'c{s}' for s in slots)} = None")
    lines.append(f"    c{program.out_slot} = g")
    for k in range(len(program.ops) - 1, -1, -1):
        if plan[k]:
            lines += _pull_lines(k, program.ops[k], plan[k], names)
    inputs = ", ".join(f"c{i}" for i in range(program.n_inputs))
    lines.append(f"    return v{program.out_slot}, [{inputs}]")
    return _compile(lines, names, "vjp")


def _pull_lines(k: int, op: Any, flows: list, names: dict) -> list[str]:
    """Operation ``k``'s cotangent pulled back to its arguments (``_pull`` of the tape, unrolled)."""
    args, params = _args(k, op, names), (f", **p{k}" if op.params else "")
    lines = [f"    if c{op.slot} is not None:",
             f"        g = c{op.slot}",
             "        if type(g) is IndexedCotangent:",
             "            g = g.materialize()",
             f"        nb = len(g.shape if type(g) is np.ndarray else shape_of(g)) - {len(op.shape)}"]
    for j, (parent, rule, fast, shape, broadcast) in enumerate(flows):
        names[f"r{k}_{j}"], names[f"f{k}_{j}"], names[f"a{k}_{j}"] = rule, fast, shape
        shortcut = f"f{k}_{j}(g, v{op.slot}, {args})" if fast is not None else "None"
        lines.append(f"        x = {shortcut}")
        lines += ["        if x is None:",
                  f"            x = r{k}_{j}(v{op.slot}, {args}{params})(g)",
                  "            if type(x) is IndexedCotangent:",
                  "                x = x.materialize()",
                  "        if x is not None:"]
        if broadcast:
            lines.append(f"            x = unbroadcast(x, a{k}_{j}, nb)")
        elif not op.prim.elementwise:
            lines += ["            got = x.shape if type(x) is np.ndarray else shape_of(x)",
                      f"            if got[nb:] != a{k}_{j} or len(got) != nb + {len(shape)}:",
                      "                raise Stale"]
        lines.append(f"            c{parent} = x if c{parent} is None else c{parent} + x")
    return lines


def compile_jvp(program: Any, plan: list, nbt: int) -> Callable:
    """``fn(inputs, tangents) -> (value, tangent or None)``: the operations, each followed by its
    tangent from its arguments' (forward mode's trace, unrolled), every tangent with ``nbt`` batch axes."""
    names: dict = {}
    lines = ["def jvp(inputs, tangents):"] + _forward_lines(program, names)
    lines.append(f"    {', '.join(f't{i}' for i in range(program.n_inputs))}, = tangents")
    for k, op in enumerate(program.ops):
        lines += _push_lines(k, op, plan[k], names, nbt) if plan[k] else [f"    t{op.slot} = None"]
    lines.append(f"    return v{program.out_slot}, t{program.out_slot}")
    return _compile(lines, names, "jvp")


def _push_lines(k: int, op: Any, flows: list, names: dict, nbt: int) -> list[str]:
    """Operation ``k``'s tangent (``_push``, unrolled): each rule's term, summed."""
    args, params = _args(k, op, names), (f", **p{k}" if op.params else "")
    lines = ["    o = None", "    nb = -1"]
    for j, (s, rule, fast, shape, broadcast) in enumerate(flows):
        names[f"r{k}_{j}"], names[f"f{k}_{j}"] = rule, fast
        shortcut = f"f{k}_{j}(t{s}, v{op.slot}, {args})" if fast is not None else "None"
        lines += [f"    if t{s} is not None:",
                  f"        x = {shortcut}",
                  "        if x is None:",
                  f"            t = t{s}"]
        if broadcast:
            lines += [f"            nb = len(shape_of(t)) - {len(shape)}",
                      "            if nb:",
                      f"                t = align_tangent(t, v{s}, v{op.slot})"]
        lines.append(f"            x = r{k}_{j}(t, v{op.slot}, {args}{params})")
        lines.append("        if x is not None:")
        if not op.prim.elementwise:
            lines += ["            got = x.shape if type(x) is np.ndarray else shape_of(x)",
                      f"            if len(got) != {nbt + len(op.shape)} or got[{nbt}:] != s{op.slot}:",
                      "                raise Stale"]
        lines.append("            o = x if o is None else o + x")
    if any(f[4] for f in flows):
        lines += ["    if o is not None and nb >= 0:",
                  "        got = shape_of(o)",
                  f"        if got[nb:] != s{op.slot} or len(got) != nb + {len(op.shape)}:",
                  f"            o = fit_tangent(o, v{op.slot}, nb)"]
    lines.append(f"    t{op.slot} = o")
    return lines
