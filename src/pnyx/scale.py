"""The one scale of judgments: ratings (0–4) and votes (disagree/pass/agree), and utilities.

Utilities live on the Generative Social Choice paper's 0–4 rating scale everywhere in pnyx
(Fish et al., arXiv 2309.01291: 0 not at all, 1 poorly, 2 somewhat, 3 mostly, 4 perfectly).
A :class:`Scale` maps a data's own judgments onto it and back: ratings are utilities as they are;
votes (Polis: agree +1, pass 0, disagree −1) map linearly, ``u = 2·(v + 1)``. An approval is a
utility of at least :attr:`Scale.approval` ("mostly"; for votes exactly "agree").

>>> VOTE.to_utility([-1, 0, 1]).tolist()
[0.0, 2.0, 4.0]
>>> VOTE.label(4.0), RATING.label(3.0), VOTE.approval
('agree', '3 mostly', 3.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_UTILITY = 4.0
MIDPOINT = MAX_UTILITY / 2
DEFAULT_APPROVAL_THRESHOLD = 3.0


@dataclass(frozen=True, eq=False)
class Scale:
    """A judgment scale: its levels in the data's own values, their labels, and the map to utilities.

    A ``Scale`` compares equal to its name (``profile.scale == "vote"``), so profiles, JSON and
    command-line options can carry the name.
    """

    name: str
    values: tuple[float, ...]
    """The levels in the data's own values (ratings 0…4; votes −1, 0, 1)."""
    labels: tuple[str, ...]
    offset: float = 0.0
    factor: float = 1.0
    """``utility = factor · (value + offset)``."""
    approval: float = DEFAULT_APPROVAL_THRESHOLD
    """Utility from which a judgment counts as an approval."""

    midpoint = MIDPOINT
    max_utility = MAX_UTILITY

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Scale):
            return other.name == self.name
        return isinstance(other, str) and other == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __str__(self) -> str:
        return self.name

    @property
    def levels(self) -> np.ndarray:
        """The levels as utilities (ratings: 0…4; votes: 0, 2, 4)."""
        return self.to_utility(self.values)

    def to_utility(self, values: np.ndarray | float) -> np.ndarray:
        """Values in this scale → utilities on 0–4 (NaN stays NaN)."""
        return self.factor * (np.asarray(values, dtype=float) + self.offset)

    def to_data(self, utilities: np.ndarray | float) -> np.ndarray:
        """Utilities → values in this scale (the inverse of :meth:`to_utility`)."""
        return np.asarray(utilities, dtype=float) / self.factor - self.offset

    def nearest_level(self, utilities: np.ndarray) -> np.ndarray:
        """Index of the level nearest to each utility."""
        u = np.asarray(utilities, dtype=float)
        return np.abs(u[..., None] - self.levels).argmin(axis=-1)

    def label(self, utility: float) -> str:
        """The label of the level nearest to ``utility``."""
        return self.labels[int(self.nearest_level(np.asarray([utility]))[0])]

    def value_label(self, value: float) -> str:
        """The label of a value in the data's own scale."""
        return self.labels[self.values.index(value)]


RATING_LABELS: dict[int, str] = {0: "not at all", 1: "poorly", 2: "somewhat", 3: "mostly", 4: "perfectly"}
VOTE_LABELS: dict[int, str] = {-1: "disagree", 0: "pass", 1: "agree"}

RATING = Scale("rating", (0, 1, 2, 3, 4), tuple(f"{v} {t}" for v, t in RATING_LABELS.items()))
VOTE = Scale("vote", (-1, 0, 1), tuple(VOTE_LABELS.values()), offset=1.0, factor=2.0)
SCALES = {s.name: s for s in (RATING, VOTE)}


def get_scale(scale: "Scale | str") -> Scale:
    """The :class:`Scale` named ``scale`` (``rating`` or ``vote``), or ``scale`` itself."""
    if isinstance(scale, Scale):
        return scale
    try:
        return SCALES[scale]
    except KeyError:
        raise ValueError(f"unknown scale {scale!r}; known: {', '.join(SCALES)}") from None
