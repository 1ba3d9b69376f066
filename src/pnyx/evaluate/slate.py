"""Evaluate a fixed slate on the people who rated it: the balanced assignment and what it gives them.

This is the paper's validation protocol (Fish et al., arXiv 2309.01291, §5.2): fresh participants rate
every slate statement; each is assigned to one statement so that every statement gets ⌊n/k⌋ or ⌈n/k⌉
participants and the total utility is maximal (the Monroe assignment, :func:`pnyx.assignment.balanced`);
report the total and how many participants got each rating for their assigned statement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from pnyx.data import InputError, Profile


@dataclass
class SlateEvaluation:
    """The balanced assignment of the participants who judged every slate statement."""

    slate: list[str]
    """Statement ids of the slate, in the order given."""
    participants: list[str]
    """Ids of the participants evaluated (those with an observed judgment of every slate statement)."""
    assignment: np.ndarray
    """Slate position assigned to each evaluated participant."""
    assigned_utilities: np.ndarray
    """Each evaluated participant's utility (0–4) for their assigned statement."""
    total: float
    """Sum of assigned utilities (0–4 scale)."""
    assigned_ratings: dict[str, int]
    """Participants per assigned judgment in the data's own scale (ratings 0..4, votes -1/0/1)."""
    left_out: int
    """Participants left out because they did not judge every slate statement."""
    scale: str = "rating"
    info: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.participants)

    def to_dict(self) -> dict:
        return {"n": self.n, "total": self.total, "assigned_ratings": self.assigned_ratings,
                "left_out": self.left_out, "slate": self.slate}


def evaluate_slate(profile: Profile, slate: Sequence[str] | None = None) -> SlateEvaluation:
    """Balanced assignment of ``profile``'s participants to ``slate`` (statement ids; default: all statements).

    Only observed judgments count: participants missing a judgment of any slate statement are left
    out (and counted in ``left_out``).
    """
    from pnyx.assignment import balanced

    ids = list(profile.statement_ids if slate is None else slate)
    known = set(profile.statement_ids)
    for sid in ids:
        if sid not in known:
            raise InputError(f"unknown statement id {sid!r} (the data has {', '.join(profile.statement_ids)})",
                             field="slate")
    if len(set(ids)) != len(ids) or not ids:
        raise InputError("the slate must list one or more distinct statement ids", field="slate")
    cols = [profile.statement_index(s) for s in ids]
    rows = np.flatnonzero(profile.observed[:, cols].all(axis=1))
    if len(rows) < len(cols):
        raise InputError(f"only {len(rows)} participants judged every slate statement; need at least {len(cols)}",
                         field="slate")
    U = profile.utilities[np.ix_(rows, cols)]
    result = balanced(U, list(range(len(cols))))
    assigned = np.asarray(result.assigned_utilities, dtype=float)
    levels = [int(v) for v in profile.scale.values]
    values = np.rint(profile.scale.to_data(assigned)).astype(int)
    return SlateEvaluation(
        slate=ids,
        participants=[profile.participants[i].id for i in rows],
        assignment=np.asarray(result.assignment, dtype=int),
        assigned_utilities=assigned,
        total=float(result.total),
        assigned_ratings={str(v): int((values == v).sum()) for v in levels},
        left_out=profile.n - len(rows),
        scale=profile.scale,
    )
