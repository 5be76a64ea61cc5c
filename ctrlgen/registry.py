"""Named registries whose lookup errors list what exists.

Bundled models are looked up by name here (``ctrlgen.load("e2e")``); constraints, classifiers and
samplers register the same way as they arrive.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .errors import CtrlgenError

V = TypeVar("V")


class RegistryError(CtrlgenError, KeyError):
    """A name is not in a registry."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return CtrlgenError.__str__(self)


class Registry(Generic[V]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, V] = {}

    def register(self, name: str, value: V | None = None, *, overwrite: bool = False) -> Callable[[V], V] | V:
        """``registry.register("name", obj)`` or as a decorator ``@registry.register("name")``."""
        def add(v: V) -> V:
            if name in self._items and not overwrite:
                raise CtrlgenError(f"{self.kind} {name!r} is already registered", "pick another name or pass overwrite=True")
            self._items[name] = v
            return v

        return add if value is None else add(value)

    def get(self, name: str) -> V:
        try:
            return self._items[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._items, n=1)
            raise RegistryError(f"unknown {self.kind} {name!r}",
                                (f"did you mean {close[0]!r}? " if close else "")
                                + f"available: {', '.join(sorted(self._items)) or '(none)'}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))
