"""Query backends by name: discriminative (predict utilities) and generative (write statements).

``get_discriminative("cf")`` / ``get_generative("extractive")`` return a configured backend. Built-in
backends register themselves with :func:`register_discriminative` / :func:`register_generative` when
their module is imported. ``cf``, ``hybrid`` and ``offline`` are imported with this package (numpy
only); the other built-in modules are imported on the first look-up, each guarded so that one that
cannot be imported (a missing optional dependency) leaves the rest working and says why.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any, Callable

DISCRIMINATIVE: dict[str, Callable[..., Any]] = {}
GENERATIVE: dict[str, Callable[..., Any]] = {}
UNAVAILABLE: dict[str, str] = {}
"""Built-in query modules that failed to import, module name → reason."""

_NOT_BACKENDS = {"base", "cache", "client"}
_loaded = False


def register_discriminative(name: str):
    """Class (or factory) decorator: make a discriminative backend available as ``name``."""

    def deco(obj):
        DISCRIMINATIVE[name] = obj
        return obj

    return deco


def register_generative(name: str):
    """Class (or factory) decorator: make a generative backend available as ``name``."""

    def deco(obj):
        GENERATIVE[name] = obj
        return obj

    return deco


def load_builtins() -> None:
    """Import every built-in query module once, recording the ones that fail in :data:`UNAVAILABLE`."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in pkgutil.iter_modules(__path__):
        if mod.name in _NOT_BACKENDS or mod.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"{__name__}.{mod.name}")
        except Exception as exc:  # noqa: BLE001 - an optional backend must not break the others
            UNAVAILABLE[mod.name] = f"{type(exc).__name__}: {exc}"


def _get(registry: dict[str, Callable[..., Any]], kind: str, name: str, config: dict[str, Any],
         shared: dict[str, Any] | None):
    if name not in registry:
        load_builtins()
    if name not in registry:
        hint = "".join(f"; module {m!r} unavailable ({why})" for m, why in UNAVAILABLE.items())
        raise KeyError(f"unknown {kind} backend {name!r}; known: {', '.join(sorted(registry))}{hint}")
    factory = registry[name]
    if shared:
        named = inspect.signature(factory).parameters
        config = {**{k: v for k, v in shared.items() if k in named}, **config}
    return factory(**config)


def get_discriminative(name: str, shared: dict[str, Any] | None = None, **config: Any):
    """A discriminative backend (``cf``, ``text``, ``llm``, ``hybrid``, ``offline``), configured.

    ``shared`` holds settings every backend of a run gets if its constructor names them (``cache``,
    ``seed``); ``config`` goes to this backend as given.
    """
    return _get(DISCRIMINATIVE, "discriminative", name, config, shared)


def get_generative(name: str, shared: dict[str, Any] | None = None, **config: Any):
    """A generative backend (``extractive``, ``cluster``, ``llm``), configured; ``shared`` as for
    :func:`get_discriminative`."""
    return _get(GENERATIVE, "generative", name, config, shared)


from pnyx.queries import cf  # noqa: E402,F401  (registers "cf")
from pnyx.queries import hybrid  # noqa: E402,F401  (registers "hybrid" and "offline")
