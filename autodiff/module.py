"""``Module``: a named container of Variables and sub-Modules, as TensorFlow's ``tf.Module``.

Design. A Module keeps no registry: its ``variables`` and ``submodules`` are found from its attributes
each time they are asked for. The walk visits attributes in definition order (a Python object's
``__dict__`` keeps insertion order), descends into Modules and into lists, tuples and dicts (values, in
insertion order) depth first, and yields each object once (by identity: a Variable shared by two layers
is listed once; cycles terminate). So ``trainable_variables`` of a model is a stable list to zip with
``GradientTape.gradient``'s result.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from autodiff.tensor import Variable

__all__ = ["Module"]


def _snake_case(name: str) -> str:
    """``MyDenseLayer`` -> ``my_dense_layer``."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


class Module:
    """Base class of models and layers: ``name``, ``variables``, ``trainable_variables``, ``submodules``."""

    def __init__(self, name: str | None = None) -> None:
        if name is None:
            name = _snake_case(type(self).__name__)
        if not isinstance(name, str) or not name:
            raise ValueError(f"Module name must be a non-empty string, got {name!r}.")
        self._module_name = name

    @property
    def name(self) -> str:
        """The module's name (default: the class name in snake_case)."""
        # a subclass that forgot super().__init__() still gets its default name
        return self.__dict__.get("_module_name") or _snake_case(type(self).__name__)

    @property
    def variables(self) -> list[Variable]:
        """Every Variable of this module and its submodules (each once, definition order, depth first)."""
        return [x for x in self._walk() if isinstance(x, Variable)]

    @property
    def trainable_variables(self) -> list[Variable]:
        """The trainable ones among :attr:`variables`, in the same order."""
        return [v for v in self.variables if v.trainable]

    @property
    def submodules(self) -> list[Module]:
        """Every Module reachable from this one's attributes (not itself), depth first."""
        return [x for x in self._walk() if isinstance(x, Module)]

    def _walk(self) -> Iterator[Any]:
        """Variables and Modules reachable from the attributes, pre-order depth first, each once."""
        seen = {id(self)}
        stack: list[Iterator[Any]] = [iter(list(vars(self).values()))]
        while stack:
            item = next(stack[-1], _DONE)
            if item is _DONE:
                stack.pop()
                continue
            if isinstance(item, (list, tuple)):
                stack.append(iter(list(item)))
            elif isinstance(item, dict):
                stack.append(iter(list(item.values())))
            elif isinstance(item, (Variable, Module)) and id(item) not in seen:
                seen.add(id(item))
                yield item
                if isinstance(item, Module):
                    stack.append(iter(list(vars(item).values())))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


_DONE = object()
