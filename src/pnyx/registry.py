"""The one registry pattern: named things (rules, axioms, query backends, methods) looked up by id.

>>> reg = Registry("rule")
>>> @reg.register("plurality", approval=False)
... def plurality(U, k): ...
>>> reg["plurality"] is plurality, reg.meta("plurality")
(True, {'approval': False})
>>> reg["borda"]
Traceback (most recent call last):
    ...
pnyx.registry.UnknownNameError: field 'rule': unknown rule 'borda'; known: plurality
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from pnyx.data import InputError

T = TypeVar("T")


class UnknownNameError(InputError, KeyError):
    """A name that no registry entry has; the message lists the names that exist."""

    __str__ = InputError.__str__  # KeyError would quote the message


class Registry(Mapping[str, T], Generic[T]):
    """Name → object, with metadata per entry and a clear error for an unknown name.

    Parameters
    ----------
    kind
        What the entries are, for messages ("rule", "axiom", "discriminative backend").
    loader
        Called on a look-up of a missing name, to import modules that register more entries
        (optional backends; it should do its work once); what failed to import goes into
        :attr:`unavailable`.
    """

    def __init__(self, kind: str, *, loader: Callable[["Registry[T]"], None] | None = None):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._meta: dict[str, dict[str, Any]] = {}
        self._loader = loader
        self.unavailable: dict[str, str] = {}
        """Modules that could not be imported, module → reason (shown in the unknown-name message)."""

    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        """Decorator: add the decorated object as ``name`` with ``meta``.

        Raises
        ------
        ValueError
            If ``name`` is registered already.
        """

        def decorate(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name], self._meta[name] = obj, meta
            return obj

        return decorate

    def unregister(self, name: str) -> None:
        """Remove ``name`` (for plug-ins and tests)."""
        self[name]
        del self._items[name], self._meta[name]

    def load(self) -> None:
        """Run the loader, if any."""
        if self._loader is not None:
            self._loader(self)

    def __getitem__(self, name: str) -> T:
        if name not in self._items:
            self.load()
        try:
            return self._items[name]
        except KeyError:
            hint = "".join(f"; {m!r} unavailable ({why})" for m, why in self.unavailable.items())
            raise UnknownNameError(f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._items))}{hint}",
                                   field=self.kind) from None

    def __contains__(self, name: object) -> bool:
        if name not in self._items:
            self.load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        self.load()
        return iter(self._items)

    def __len__(self) -> int:
        self.load()
        return len(self._items)

    def meta(self, name: str) -> dict[str, Any]:
        """The metadata ``name`` was registered with."""
        self[name]
        return dict(self._meta[name])

    def check(self, name: str) -> str:
        """``name`` if registered, else :class:`UnknownNameError` (validate options before any work)."""
        self[name]
        return name
