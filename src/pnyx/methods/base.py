"""The registry of the wider toolbox (lotteries, egalitarian and fair slates, diversity, consensus,
attribution, predictor bias, system ranking): ``METHODS[id]`` is a pure function over numpy arrays
returning a typed result; ``METHODS.meta(id)`` says what it reads and what it implements (``cite``)."""

from __future__ import annotations

from typing import Any, Callable

from pnyx.registry import Registry

METHODS: Registry[Callable[..., Any]] = Registry("method")
