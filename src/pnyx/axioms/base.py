"""Verdicts with certificates: what every axiom check returns, and the registry of checks.

A check is a pure function ``f(U, slate, **params) -> AxiomResult`` over an n × m utility matrix
``U`` (0–4 scale, NaN = unknown) and a slate (column indices). A violated axiom comes with a
:class:`Witness` that can be verified by hand: the coalition, the statement (or statements) it
would rather have, and the threshold at which it is under-represented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from pnyx.data import DEFAULT_APPROVAL_THRESHOLD, InputError


@dataclass(frozen=True)
class Witness:
    """A certificate that an axiom is violated."""

    coalition: list[int]
    """Participant indices (rows of U)."""
    statement: int | None
    """The column the coalition agrees on, or None when it is a set (see ``statements``)."""
    threshold: float
    """ℓ for the approval axioms (the number of seats the coalition deserves), θ for BJR/cBJR."""
    detail: str
    """One human sentence."""
    statements: list[int] = field(default_factory=list)
    """For EJR/PJR the ℓ commonly approved columns, for the core the objection T; else ``[statement]``."""


@dataclass
class AxiomResult:
    axiom: str
    satisfied: bool
    witness: Witness | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.satisfied


Check = Callable[..., AxiomResult]
AXIOMS: dict[str, Check] = {}


def register(axiom_id: str) -> Callable[[Check], Check]:
    """Register a check under the id researchers know it by."""

    def deco(f: Check) -> Check:
        AXIOMS[axiom_id] = f
        return f

    return deco


def as_inputs(U: np.ndarray, slate: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Validate the boundary: a 2-D float matrix and a non-empty slate of distinct columns."""
    U = np.asarray(U, dtype=float)
    if U.ndim != 2 or U.shape[0] == 0 or U.shape[1] == 0:
        raise InputError(f"U must be a non-empty 2-D matrix, got shape {U.shape}", field="U")
    W = np.asarray(list(slate), dtype=int)
    if W.ndim != 1 or W.size == 0:
        raise InputError("the slate is empty", field="slate")
    if W.min() < 0 or W.max() >= U.shape[1]:
        raise InputError(f"slate column out of range 0..{U.shape[1] - 1}: {W.tolist()}", field="slate")
    if np.unique(W).size != W.size:
        raise InputError(f"the slate repeats a column: {W.tolist()}", field="slate")
    return U, W


def approvals(U: np.ndarray, threshold: float = DEFAULT_APPROVAL_THRESHOLD) -> np.ndarray:
    """A = U ≥ threshold as a bool matrix; NaN (unknown) is not an approval."""
    with np.errstate(invalid="ignore"):
        return U >= threshold  # NaN compares False
