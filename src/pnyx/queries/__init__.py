"""Query backends by name: discriminative (predict utilities) and generative (write statements).

``get_discriminative("cf")`` / ``get_generative("extractive")`` return a configured backend. Built-in
backends register themselves with :func:`register_discriminative` / :func:`register_generative` when
their module is imported. ``cf``, ``hybrid`` and ``offline`` are imported with this package (numpy
only); the other built-in modules are imported on the first look-up, each guarded so that one that
cannot be imported (a missing optional dependency) leaves the rest working and says why.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Callable

from pnyx.registry import Registry, UnknownNameError  # noqa: F401  (re-exported)

_NOT_BACKENDS = {"base", "cache", "client", "context", "executor"}


def _load_builtins(registry: Registry) -> None:
    """Import every built-in query module, recording the ones that fail in the registry's ``unavailable``."""
    for mod in pkgutil.iter_modules(__path__):
        if mod.name in _NOT_BACKENDS or mod.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"{__name__}.{mod.name}")
        except Exception as exc:  # noqa: BLE001 - an optional backend must not break the others
            for reg in (DISCRIMINATIVE, GENERATIVE):
                reg.unavailable[mod.name] = f"{type(exc).__name__}: {exc}"


def _load_all(_: Registry) -> None:
    load_builtins()


DISCRIMINATIVE: Registry[Callable[..., Any]] = Registry("discriminative backend", loader=_load_all)
GENERATIVE: Registry[Callable[..., Any]] = Registry("generative backend", loader=_load_all)

_loaded = False


def register_discriminative(name: str):
    """Class (or factory) decorator: make a discriminative backend available as ``name``."""
    return DISCRIMINATIVE.register(name)


def register_generative(name: str):
    """Class (or factory) decorator: make a generative backend available as ``name``."""
    return GENERATIVE.register(name)


def load_builtins() -> None:
    """Import every built-in query module once (failures go to each registry's ``unavailable``)."""
    global _loaded
    if not _loaded:
        _loaded = True
        _load_builtins(DISCRIMINATIVE)


def get_discriminative(name: str, settings: dict[str, Any] | None = None, **config: Any):
    """A discriminative backend (``cf``, ``text``, ``llm``, ``hybrid``, ``offline``), configured.

    ``settings`` (e.g. ``{"seed": 7, "cache": cache}``) and ``config`` are passed to the backend's
    constructor as keyword arguments; every built-in backend takes ``seed`` and ``cache``.

    Raises
    ------
    UnknownNameError
        No backend of that name (the message lists the known ones, and the modules that failed to import).
    """
    return DISCRIMINATIVE[name](**{**(settings or {}), **config})


def get_generative(name: str, settings: dict[str, Any] | None = None, **config: Any):
    """A generative backend (``extractive``, ``cluster``, ``llm``), configured as :func:`get_discriminative`."""
    return GENERATIVE[name](**{**(settings or {}), **config})


from pnyx.queries import cf  # noqa: E402,F401  (registers "cf")
from pnyx.queries import hybrid  # noqa: E402,F401  (registers "hybrid" and "offline")
