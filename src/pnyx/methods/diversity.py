"""Diversity and inclusion of a slate (Mitchell, Baker, Moorosi, Denton, Hutchinson, Hanna, Gebru &
Morgenstern, "Diversity and Inclusion Metrics in Subset Selection", AIES 2020, arXiv 2002.03256).

*Presence* of an attribute value a in a set is f(a(x), l_a, u_a); here the binary form of the
metric's public explainer (PAIR, "Measuring Diversity"): 1 if some member has value a, else 0.
*Diversity* of the set along an attribute is g over its values' presence, g ∈ {mean, min, max}.
*Inclusion* of an individual is how well the selected items represent them, in [−1, 1]; here
(u − 2)/2 for their utility u (0–4) for the slate statement they are assigned to. Sets are compared
by utilitarian (mean), Nash (geometric mean, of inclusion shifted to [0, 1]) and egalitarian (min,
with the sorted vector for leximin) summaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from pnyx.data import DEFAULT_APPROVAL_THRESHOLD, InputError
from pnyx.methods.base import METHODS
from pnyx.scale import MAX_UTILITY

AGGREGATES = {"mean": np.mean, "min": np.min, "max": np.max}


def presence(values: Sequence[Any], categories: Sequence[Any]) -> dict[Any, int]:
    """Binary presence of each category among ``values``."""
    seen = set(values)
    return {c: int(c in seen) for c in categories}


@METHODS.register("diversity", input="attributes", cite="arXiv 2002.03256 (presence, diversity)")
def diversity(attributes: Mapping[str, Sequence[Any]], selected: Sequence[int] | np.ndarray | None = None, *,
              categories: Mapping[str, Sequence[Any]] | None = None, aggregate: str = "mean") -> dict[str, float]:
    """Diversity of the ``selected`` members along each attribute: g over binary presence.

    Parameters
    ----------
    attributes
        Attribute name → one value per member (None: unknown, ignored).
    selected
        Indices (or a boolean mask) of the selected members; default all.
    categories
        Attribute name → the possible values (default: the values seen among all members).
    aggregate
        g: ``mean``, ``min`` or ``max``.

    Examples
    --------
    The explainer's "green shapes" (all green; small, medium, large; two circles, a triangle):

    >>> shapes = {"color": ["green"] * 3, "size": ["small", "medium", "large"],
    ...           "shape": ["circle", "circle", "triangle"]}
    >>> cats = {"color": ["red", "blue", "green"], "size": ["small", "medium", "large"],
    ...         "shape": ["triangle", "square", "circle"]}
    >>> {a: round(d, 3) for a, d in diversity(shapes, categories=cats).items()}
    {'color': 0.333, 'size': 1.0, 'shape': 0.667}
    """
    if aggregate not in AGGREGATES:
        raise InputError(f"unknown aggregate {aggregate!r}; known: {', '.join(AGGREGATES)}", field="aggregate")
    out: dict[str, float] = {}
    for name, values in attributes.items():
        values = list(values)
        idx = range(len(values)) if selected is None else np.flatnonzero(np.asarray(selected)) if \
            np.asarray(selected).dtype == bool else np.asarray(selected, dtype=int)
        cats = list(categories[name]) if categories and name in categories else \
            list(dict.fromkeys(v for v in values if v is not None))
        if not cats:
            continue
        pres = presence([values[i] for i in idx if values[i] is not None], cats)
        out[name] = float(AGGREGATES[aggregate](list(pres.values())))
    return out


@dataclass
class SlateInclusion:
    """Diversity of the participants each slate statement speaks for, and inclusion per participant."""

    inclusion: np.ndarray
    """(u − 2)/2 per participant, for their assigned statement, in [−1, 1]."""
    summaries: dict[str, float]
    """utilitarian (mean), nash (geometric mean of (inclusion+1)/2), egalitarian (min)."""
    leximin: list[float]
    """Inclusion sorted ascending (compare slates lexicographically for leximin)."""
    per_statement: list[dict[str, Any]]
    """For each slate statement: how many it speaks for, and their diversity along each attribute."""
    per_group: dict[str, dict[str, float]] = field(default_factory=dict)
    """Group → mean inclusion and presence among those the slate speaks for (from the ``group`` attribute)."""
    overall_diversity: dict[str, float] = field(default_factory=dict)


@METHODS.register("inclusion", input="utilities", cite="arXiv 2002.03256 (inclusion; utilitarian/Nash/egalitarian)")
def slate_inclusion(U: np.ndarray, slate: Sequence[int], assignment: Sequence[int],
                    attributes: Mapping[str, Sequence[Any]], *,
                    threshold: float = DEFAULT_APPROVAL_THRESHOLD) -> SlateInclusion:
    """Diversity and inclusion of a slate, reading who each statement speaks for off the assignment.

    Statement s speaks for the participants assigned to it whose utility for it reaches
    ``threshold``. Diversity (binary presence, mean over values) is computed per statement and for
    everyone the slate speaks for; inclusion per participant is (U[i, slate[assignment[i]]] − 2)/2.
    A ``group`` attribute also gives a per-group table.

    Raises
    ------
    InputError
        An assignment that does not index the slate, or an attribute with the wrong length.
    """
    U = np.asarray(U, dtype=float)
    slate = np.asarray(slate, dtype=int)
    a = np.asarray(assignment, dtype=int)
    n = U.shape[0]
    if a.shape != (n,) or (a < 0).any() or (a >= slate.size).any():
        raise InputError(f"assignment must give each of the {n} participants a slate position 0..{slate.size - 1}",
                         field="assignment")
    for name, values in attributes.items():
        if len(values) != n:
            raise InputError(f"attribute {name!r} has {len(values)} values for {n} participants", field="attributes")
    u = U[np.arange(n), slate[a]]
    inc = (np.clip(u, 0.0, MAX_UTILITY) - MAX_UTILITY / 2) / (MAX_UTILITY / 2)
    known = ~np.isnan(inc)
    x = (inc[known] + 1) / 2
    summaries = {"utilitarian": float(inc[known].mean()) if known.any() else float("nan"),
                 "nash": float(np.exp(np.log(np.maximum(x, 1e-12)).mean()) * 2 - 1) if known.any() else float("nan"),
                 "egalitarian": float(inc[known].min()) if known.any() else float("nan")}
    with np.errstate(invalid="ignore"):
        spoken = (a[:, None] == np.arange(slate.size)[None, :]) & (u >= threshold)[:, None]
    per_statement = [{"statement": int(slate[s]), "speaks_for": int(spoken[:, s].sum()),
                      "diversity": diversity(attributes, spoken[:, s])} for s in range(slate.size)]
    anyone = spoken.any(axis=1)
    per_group: dict[str, dict[str, float]] = {}
    if "group" in attributes:
        labels = list(attributes["group"])
        for g in dict.fromkeys(v for v in labels if v is not None):
            mask = np.array([v == g for v in labels])
            per_group[str(g)] = {"participants": int(mask.sum()),
                                 "mean_inclusion": float(np.nanmean(inc[mask])),
                                 "spoken_for": int((mask & anyone).sum()),
                                 "present": int((mask & anyone).any())}
    return SlateInclusion(inc, summaries, np.sort(inc[known]).tolist(), per_statement, per_group,
                          diversity(attributes, anyone))
