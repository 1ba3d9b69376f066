"""Axiom checks with witnesses: ``check(axiom_id, U, slate, **params) -> AxiomResult``.

Ids: ``jr``, ``pjr``, ``ejr``, ``ejr+``, ``core`` (approval axioms, reading ``U ≥ threshold`` as an
approval; :mod:`pnyx.axioms.approval`) and ``bjr``, ``cbjr`` (cardinal, over a matching of
participants to slate statements; :mod:`pnyx.axioms.balanced`).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from pnyx.axioms import approval, balanced  # noqa: F401  (modules register their checks)
from pnyx.axioms.base import AXIOMS, AxiomResult, Witness, register

__all__ = ["AXIOMS", "AxiomResult", "Witness", "check", "register"]


def check(axiom_id: str, U: np.ndarray, slate: Sequence[int], **params: Any) -> AxiomResult:
    """Check the axiom ``axiom_id`` for ``slate`` (column indices of ``U``); see each check for ``params``."""
    return AXIOMS[axiom_id](U, slate, **params)
