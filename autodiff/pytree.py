"""Pytrees: nested tuples, lists and dicts of arrays, flattened to a list of leaves and a structure.

Every functional transformation flattens its arguments and outputs once with these helpers, so that
tuples, lists and dicts (nested) work wherever an array does. ``None`` is an empty subtree, as in JAX.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np

__all__ = ["TreeDef", "tree_flatten", "tree_unflatten", "tree_map", "tree_leaves", "tree_structure",
           "ONE_ARGUMENT"]


class TreeDef:
    """The structure of a pytree without its leaves. Two TreeDefs are equal when the structures are."""

    __slots__ = ("kind", "children", "keys")

    def __init__(self, kind: str, children: tuple = (), keys: tuple = ()) -> None:
        self.kind = kind          # "leaf", "none", "tuple", "list" or "dict"
        self.children = children
        self.keys = keys

    @property
    def num_leaves(self) -> int:
        if self.kind == "leaf":
            return 1
        return sum(c.num_leaves for c in self.children)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, TreeDef) and self.kind == other.kind and self.keys == other.keys
                and self.children == other.children)

    def __hash__(self) -> int:
        return hash((self.kind, self.keys, self.children))

    def __repr__(self) -> str:
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        if self.kind == "dict":
            inner = ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.keys, self.children))
            return "{" + inner + "}"
        inner = ", ".join(repr(c) for c in self.children)
        return f"({inner},)" if self.kind == "tuple" else f"[{inner}]"


_LEAF = TreeDef("leaf")
_NONE = TreeDef("none")


# The structures of flat tuples of n leaves, shared: ``f(x)``'s arguments are flattened on every call.
_FLAT_TUPLES: dict[int, TreeDef] = {}


def _flat_tuple(n: int) -> TreeDef:
    treedef = _FLAT_TUPLES.get(n)
    if treedef is None:
        treedef = TreeDef("tuple", (_LEAF,) * n)
        if n <= 64:
            _FLAT_TUPLES[n] = treedef
    return treedef


ONE_ARGUMENT = _flat_tuple(1)   # the structure of ``(x,)``: one positional argument, a single leaf


def _flatten_into(tree: Any, leaves: list) -> TreeDef:
    if isinstance(tree, tuple) and not hasattr(tree, "_fields"):
        return TreeDef("tuple", tuple(_flatten_into(c, leaves) for c in tree))
    if isinstance(tree, list):
        return TreeDef("list", tuple(_flatten_into(c, leaves) for c in tree))
    if isinstance(tree, dict):
        keys = tuple(tree)  # insertion order: results come back in the user's order
        return TreeDef("dict", tuple(_flatten_into(tree[k], leaves) for k in keys), keys)
    if tree is None:
        return _NONE
    leaves.append(tree)
    return _LEAF


_CONTAINERS = (tuple, list, dict, type(None))
_ndarray = np.ndarray


def tree_flatten(tree: Any) -> tuple[list, TreeDef]:
    """Leaves of ``tree`` (depth first, dicts in insertion order) and its structure."""
    # Every transformation flattens its arguments and outputs on every call; most of them are one
    # array, which needs no recursion.
    # (No generator expression, and arrays tested by type first: on one array, ``any(...)`` and an
    # ``isinstance`` against four types cost several times the rest of this function.)
    if type(tree) is tuple:
        for c in tree:
            if type(c) is not _ndarray and isinstance(c, _CONTAINERS):
                break
        else:
            return list(tree), _flat_tuple(len(tree))
    elif type(tree) is _ndarray or not isinstance(tree, _CONTAINERS):
        return [tree], _LEAF
    leaves: list = []
    return leaves, _flatten_into(tree, leaves)


def _build(treedef: TreeDef, leaves: Iterator) -> Any:
    kind = treedef.kind
    if kind == "leaf":
        return next(leaves)
    if kind == "none":
        return None
    children = [_build(c, leaves) for c in treedef.children]
    if kind == "tuple":
        return tuple(children)
    if kind == "list":
        return children
    return dict(zip(treedef.keys, children))


def tree_unflatten(treedef: TreeDef, leaves: Any) -> Any:
    """The pytree of structure ``treedef`` whose leaves are ``leaves`` (in flattening order)."""
    if type(leaves) is list:  # the common cases (one array, a tuple of arrays) without recursion
        if treedef is _LEAF and len(leaves) == 1:
            return leaves[0]
        if _FLAT_TUPLES.get(len(leaves)) is treedef:
            return tuple(leaves)
    it = iter(leaves)
    out = _build(treedef, it)
    if next(it, _SENTINEL) is not _SENTINEL:
        raise ValueError(f"too many leaves for the structure {treedef!r}")
    return out


_SENTINEL = object()


def tree_leaves(tree: Any) -> list:
    """The leaves of ``tree``."""
    return tree_flatten(tree)[0]


def tree_structure(tree: Any) -> TreeDef:
    """The structure of ``tree``."""
    return tree_flatten(tree)[1]


def tree_map(f: Callable, tree: Any, *rest: Any) -> Any:
    """Apply ``f`` leaf-wise to ``tree`` (and to the matching leaves of ``rest``, same structures)."""
    leaves, treedef = tree_flatten(tree)
    others = []
    for r in rest:
        r_leaves, r_def = tree_flatten(r)
        if r_def != treedef:
            raise ValueError(f"pytree structures differ: {treedef!r} and {r_def!r}")
        others.append(r_leaves)
    return tree_unflatten(treedef, [f(*xs) for xs in zip(leaves, *others)])
