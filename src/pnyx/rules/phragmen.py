"""Sequential Phragmén (Phragmén 1894; Brill, Freeman, Janson & Lackner, AAAI 2017).

Each elected candidate carries a load of 1, shared by its approvers so that their loads equalise:
electing c would raise its approvers' loads to ℓ_c = (1 + Σ_{i ∈ N_c} x_i) / |N_c|, and the
candidate with the smallest ℓ_c is elected. As in abcvoting's ``seqphragmen``, a candidate nobody
approves has ℓ_c = k + 1, and ties (equal within abcvoting's float tolerance, relative 1e-12,
absolute 1e-12) go to the lowest column.
"""

from __future__ import annotations

import numpy as np

from pnyx.data import DEFAULT_APPROVAL_THRESHOLD
from pnyx.rules.base import RuleResult, approval_pairs, approvals, lowest, register, tie

RTOL = ATOL = 1e-12  # abcvoting.misc.FLOAT_ISCLOSE_REL_TOL / _ABS_TOL


def phragmen_fill(A: np.ndarray, k: int, slate: list[int], load: np.ndarray, ties: list[dict]) -> list[float]:
    """Extend ``slate`` (in place) to k candidates by seq-Phragmén from voter loads ``load`` (in place).

    Returns the new maximal load of each round. The Method of Equal Shares completes with this,
    starting from loads equal to minus the voters' unspent budgets.
    """
    m = A.shape[1]
    voter, candidate = approval_pairs(A)
    support = np.bincount(candidate, minlength=m)
    scores = []
    while len(slate) < k:
        with np.errstate(divide="ignore", invalid="ignore"):
            carried = np.bincount(candidate, weights=load[voter], minlength=m)
            new = np.where(support > 0, (carried + 1.0) / support, k + 1.0)
        new[slate] = np.inf
        best = new.min()
        c, tied = lowest(new, best, rtol=RTOL, atol=ATOL)
        if len(tied) > 1:
            ties.append(tie(len(slate), tied, c))
        load[voter[candidate == c]] = best
        slate.append(c)
        scores.append(float(best))
    return scores


@register("seq-phragmen", approval=True)
def seq_phragmen(U: np.ndarray, k: int, *, threshold: float = DEFAULT_APPROVAL_THRESHOLD) -> RuleResult:
    """Sequential Phragmén: elect the candidate whose approvers' maximal load would grow least."""
    A = approvals(U, k, threshold)
    slate: list[int] = []
    ties: list[dict] = []
    load = np.zeros(A.shape[0])
    scores = phragmen_fill(A, k, slate, load, ties)
    return RuleResult(slate, "seq-phragmen", k, scores, ties, "ok", {"threshold": threshold, "loads": load})
