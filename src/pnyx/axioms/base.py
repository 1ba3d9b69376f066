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

from pnyx.data import DEFAULT_APPROVAL_THRESHOLD
from pnyx.registry import Registry
from pnyx.validation import check_slate, check_utilities


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
AXIOMS: Registry[Check] = Registry("axiom")


def register(axiom_id: str) -> Callable[[Check], Check]:
    """Register a check under the id researchers know it by."""
    return AXIOMS.register(axiom_id)


def as_inputs(U: np.ndarray, slate: Sequence[int], *, unique: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Validate the boundary (:mod:`pnyx.validation`): a utility matrix with at least one participant and
    a non-empty slate of columns (distinct where ``unique``; a repeated column is a statement holding
    several places)."""
    U = check_utilities(U)
    if U.shape[0] == 0:
        from pnyx.data import InputError

        raise InputError("U has no participants", field="U")
    return U, check_slate(slate, U.shape[1], unique=unique)


def approvals(U: np.ndarray, threshold: float = DEFAULT_APPROVAL_THRESHOLD) -> np.ndarray:
    """A = U ≥ threshold as a bool matrix; NaN (unknown) is not an approval."""
    with np.errstate(invalid="ignore"):
        return U >= threshold  # NaN compares False
