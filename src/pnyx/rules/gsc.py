"""The Generative Social Choice round rule over a fixed pool, plain and budgeted.

* ``gsc`` — Fish, Gölz, Parkes, Procaccia, Rusak, Shapira & Wüthrich, "Generative Social Choice"
  (arXiv 2309.01291, §4, the process behind Theorem 1): k rounds; round j serves r_j of the
  participants still unmatched (⌈n/k⌉ in the first n mod k rounds, ⌊n/k⌋ after, so the r_j sum to
  n). A candidate's score is the r_j-th largest utility among the unmatched; the best candidate is
  kept and its r_j unmatched participants with the highest utility for it are matched and removed.
* ``gsc-budgeted`` — Boehmer, Fish & Procaccia, "Generative Social Choice: The Next Generation"
  (arXiv 2505.22939, the budgeted process): statement α costs c(α) (words), the slate may cost B.
  For each utility level ℓ from the highest down, and for each group size j from large to small, the
  affordable statement with cost ≤ j·B/n and the most unmatched supporters at level ℓ
  (u_i(α) ≥ ℓ) is taken if it has at least ⌈c(α)·n/B⌉ of them; then that many supporters (highest
  utility first) are matched and removed and the same j is tried again, else j decreases. Over a
  fixed pool the candidate set only changes where j crosses some ⌈c(α)·n/B⌉, so only those j are
  visited.

Ties: between candidates, the lowest column; between participants, the lowest row. Both are
recorded. Unknown utilities (NaN) count as the lowest possible (−∞): such a participant is never
counted as a supporter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from pnyx.data import InputError
from pnyx.rules.base import RuleResult, lowest, register, tie, utilities


def round_sizes(n: int, k: int) -> list[int]:
    """Participants matched per round: ⌈n/k⌉ for the first n mod k rounds, ⌊n/k⌋ after."""
    return [n // k + (1 if t < n % k else 0) for t in range(k)]


@dataclass
class GSCRound:
    candidate: int
    """Column of U kept this round."""
    score: float
    """Its r-th largest utility among the unmatched."""
    matched: np.ndarray
    """The r participants matched to it (row indices, by decreasing utility)."""
    ties: list[dict[str, Any]] = field(default_factory=list)
    scores: np.ndarray | None = None
    """Every column's score this round."""


def _top(values: np.ndarray, rows: np.ndarray, r: int) -> tuple[np.ndarray, dict[str, Any] | None]:
    """The r ≥ 1 rows with the largest values (ties: lowest row), and the participant tie at the cut, if any."""
    order = np.argsort(-values, kind="stable")
    chosen, cut = rows[order[:r]], values[order[r - 1]]
    if r < values.size and values[order[r]] == cut:
        return chosen, {"participants_tied": rows[values == cut].tolist(), "value": float(cut),
                        "chosen": np.sort(chosen[values[order[:r]] == cut]).tolist(), "broken_by": "lowest row index"}
    return chosen, None


def gsc_round(U: np.ndarray, unmatched: np.ndarray, r: int) -> GSCRound:
    """One round of the GSC rule: the column of U with the largest r-th highest utility among the
    ``unmatched`` rows, and its r unmatched rows with the highest utility for it.

    ``U`` is n × m with every utility known (fill unknown ones with a discriminative backend,
    :mod:`pnyx.queries`), ``unmatched`` a boolean mask of length n with at least r entries set, r ≥ 1.
    """
    U = np.asarray(U, dtype=float)
    unmatched = np.asarray(unmatched, dtype=bool)
    rows = np.flatnonzero(unmatched)
    if U.ndim != 2 or U.shape[1] == 0 or unmatched.shape != (U.shape[0],):
        raise InputError(f"gsc_round needs an n × m matrix (m ≥ 1) and a mask of length n; got {U.shape} and "
                         f"{unmatched.shape}", field="U")
    if not 1 <= r <= rows.size:
        raise InputError(f"round size r = {r} must be between 1 and the {rows.size} unmatched participants", field="r")
    sub = U[rows]
    if np.isnan(sub).any():
        i, j = np.argwhere(np.isnan(sub))[0]
        raise InputError(f"utility of participant {rows[i]} for statement {j} is unknown (NaN); GSC needs every "
                         "utility: fill them with a discriminative backend (pnyx.queries)", field="U")
    # sorting rows of the transpose: robust where np.partition slows down (mostly equal values)
    scores = np.sort(np.ascontiguousarray(sub.T), axis=1)[:, rows.size - r]
    c, tied = lowest(scores, scores.max())
    ties = [tie(None, tied, c)] if len(tied) > 1 else []
    matched, at_cut = _top(sub[:, c], rows, r)
    if at_cut:
        ties.append(at_cut)
    return GSCRound(c, float(scores[c]), matched, ties, scores)


@register("gsc", approval=False)
def gsc(U: np.ndarray, k: int) -> RuleResult:
    """The Generative Social Choice round rule over a fixed pool of candidate statements (cardinal utilities)."""
    U = utilities(U, k, allow_nan=False)
    n, m = U.shape
    if k > n:
        raise InputError(f"k = {k} is larger than the number of participants ({n})", field="k")
    unmatched = np.ones(n, dtype=bool)
    assignment = np.full(n, -1)
    available = np.arange(m)
    slate: list[int] = []
    scores: list[float] = []
    ties: list[dict] = []
    for t, r in enumerate(round_sizes(n, k)):
        step = gsc_round(U[:, available], unmatched, r)
        c = int(available[step.candidate])
        for entry in step.ties:
            entry["round"] = t
            if "tied" in entry:
                entry["tied"] = available[entry["tied"]].tolist()
                entry["chosen"] = c
        ties += step.ties
        slate.append(c)
        scores.append(step.score)
        unmatched[step.matched] = False
        assignment[step.matched] = t
        available = available[available != c]
    return RuleResult(slate, "gsc", k, scores, ties, "ok", {"assignment": assignment, "round_sizes": round_sizes(n, k)})


@register("gsc-budgeted", approval=False)
def gsc_budgeted(
    U: np.ndarray,
    k: int | None = None,
    *,
    budget: float,
    costs: Sequence[float] | np.ndarray | None = None,
    levels: Sequence[float] | None = None,
) -> RuleResult:
    """The budgeted GSC process over a fixed pool (arXiv 2505.22939): slate cost ≤ ``budget``, at most k statements.

    ``costs``: cost per column (default 1 each; in pnyx, :attr:`pnyx.data.Statement.cost`, the
    word count). ``levels``: utility levels, tried from the highest (default: the distinct
    finite values of U).
    """
    U = utilities(U, k if k is not None else 1, allow_nan=False)
    n, m = U.shape
    k = m if k is None else k
    c = np.ones(m) if costs is None else np.asarray(costs, dtype=float)
    if c.shape != (m,) or not (c > 0).all():
        raise InputError(f"costs must be {m} positive numbers, one per column", field="costs")
    if not budget > 0:
        raise InputError(f"budget must be positive, got {budget!r}", field="budget")
    need = np.ceil(np.round(c * n / budget, 9)).astype(int)  # ⌈c·n/B⌉, robust to float noise
    levels = np.unique(U[np.isfinite(U)])[::-1] if levels is None else np.sort(np.asarray(levels, float))[::-1]
    unmatched = np.ones(n, dtype=bool)
    assignment = np.full(n, -1)
    chosen = np.zeros(m, dtype=bool)
    slate: list[int] = []
    scores: list[int] = []
    ties: list[dict] = []
    rounds: list[dict] = []
    spent = 0.0
    for level in levels:
        for j in np.unique(need)[::-1]:
            while len(slate) < k and unmatched.any():
                open_ = ~chosen & (need <= j) & (spent + c <= budget + 1e-9)
                if not open_.any():
                    break
                support = np.where(open_, (U[unmatched] >= level).sum(axis=0), -1)
                a, tied = lowest(support, support.max())
                if support[a] < need[a]:
                    break
                if len(tied) > 1:
                    ties.append(tie(len(slate), tied, a))
                rows = np.flatnonzero(unmatched & (U[:, a] >= level))
                group, at_cut = _top(U[rows, a], rows, int(need[a]))
                if at_cut:
                    ties.append({"round": len(slate), **at_cut})
                unmatched[group] = False
                assignment[group] = len(slate)
                chosen[a] = True
                spent += c[a]
                slate.append(int(a))
                scores.append(int(support[a]))
                rounds.append({"statement": int(a), "level": float(level), "group_size": int(j),
                               "supporters": int(support[a]), "matched": group.tolist(), "cost": float(c[a])})
    return RuleResult(slate, "gsc-budgeted", k, scores, ties, "ok",
                      {"assignment": assignment, "budget": budget, "spent": spent, "rounds": rounds,
                       "unmatched": int(unmatched.sum())})
