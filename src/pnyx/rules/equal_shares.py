"""The Method of Equal Shares (Peters & Skowron, EC 2020, "Rule X"; Peters, Pierczyński & Skowron, NeurIPS 2021).

Every voter starts with a budget of k/n; a candidate costs 1. Candidate c is q-affordable if its
approvers can pay for it with nobody paying more than q: Σ_{i ∈ N_c} min(b_i, q) = 1. Each round
elects the candidate with the smallest such q (ties: lowest column, compared as abcvoting does in
float mode) and charges each approver min(b_i, q). When no candidate is affordable and the slate
is short, a *completion* fills it, with the names abcvoting uses:

* ``"seqphragmen"`` (default; abcvoting ``equal-shares``): seq-Phragmén from loads equal to minus
  the unspent budgets;
* ``"av"`` (``equal-shares-with-av-completion``): the remaining candidates with most approvals;
* ``"increment"`` (``equal-shares-with-increment-completion``): rerun with per-voter budget
  (k + t)/n for t = 1, 2, … until the method alone fills the k seats (it stops at k);
* ``None``: return the short slate.

Vectorised over voters: each round sorts each candidate's approvers' budgets once.
"""

from __future__ import annotations

import numpy as np

from pnyx.data import DEFAULT_APPROVAL_THRESHOLD, InputError
from pnyx.rules.base import RuleResult, approval_pairs, approvals, lowest, register, tie
from pnyx.rules.phragmen import ATOL, RTOL, phragmen_fill

COMPLETIONS = ("seqphragmen", "av", "increment", None)


def _isclose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b) <= np.maximum(RTOL * np.maximum(np.abs(a), np.abs(b)), ATOL)


def _min_price(budgets: np.ndarray) -> float:
    """The smallest q with Σ min(b_i, q) = 1 over these approvers' budgets, or inf if they cannot pay 1."""
    if budgets.size == 0:
        return np.inf
    b = np.sort(budgets)
    paid_by_poorer = np.concatenate([[0.0], np.cumsum(b[:-1])])
    q = (1.0 - paid_by_poorer) / (b.size - np.arange(b.size))
    fits = (b >= q) | _isclose(b, q)
    return float(q[fits.argmax()]) if fits.any() else np.inf


def _equal_shares(A: np.ndarray, k: int, per_voter: float,
                  ties: list[dict]) -> tuple[list[int], list[float], np.ndarray]:
    """The method proper (no completion): slate, the price q of each round, the unspent budgets."""
    n, m = A.shape
    budget = np.full(n, per_voter)
    voter, candidate = approval_pairs(A)
    by_candidate = np.argsort(candidate, kind="stable")
    approvers = np.split(voter[by_candidate], np.searchsorted(candidate[by_candidate], np.arange(1, m)))
    slate: list[int] = []
    prices: list[float] = []
    elected = np.zeros(m, dtype=bool)
    while len(slate) < k:
        q = np.array([np.inf if elected[c] else _min_price(budget[approvers[c]]) for c in range(m)])
        best = q.min()
        if not np.isfinite(best):
            break
        c, tied = lowest(q, best, rtol=RTOL, atol=ATOL)
        if len(tied) > 1:
            ties.append(tie(len(slate), tied, c))
        payers = approvers[c]
        budget[payers] -= np.minimum(budget[payers], best)
        elected[c] = True
        slate.append(c)
        prices.append(float(best))
    return slate, prices, budget


@register("equal-shares", approval=True)
def equal_shares(
    U: np.ndarray,
    k: int,
    *,
    threshold: float = DEFAULT_APPROVAL_THRESHOLD,
    completion: str | None = "seqphragmen",
) -> RuleResult:
    """Method of Equal Shares with a completion (``seqphragmen`` default, ``av``, ``increment`` or None)."""
    if completion not in COMPLETIONS:
        raise InputError(f"unknown completion {completion!r}; known: {', '.join(map(str, COMPLETIONS))}",
                         field="completion")
    A = approvals(U, k, threshold)
    n, m = A.shape
    ties: list[dict] = []
    info: dict = {"threshold": threshold, "completion": completion}
    slate, prices, budget = _equal_shares(A, k, k / n, ties)
    info["equal_shares_rounds"] = len(slate)
    scores: list[float] = list(prices)
    if len(slate) < k and completion == "seqphragmen":
        scores += phragmen_fill(A, k, slate, -budget, ties)
    elif len(slate) < k and completion == "av":
        scores += _av_fill(A, k, slate, ties)
    elif len(slate) < k and completion == "increment":
        if np.count_nonzero(A.any(axis=0)) < k:  # abcvoting: too few approved candidates → AV
            slate, ties = [], []
            scores = _av_fill(A, k, slate, ties)
            info["too_few_approved_candidates"] = True
        else:
            for total in range(k + 1, int(np.ceil(k * n)) + 1):
                ties = []
                slate, scores, budget = _equal_shares(A, k, total / n, ties)
                if len(slate) == k:
                    info["increment_budget"] = total
                    break
    info["unspent"] = budget
    return RuleResult(slate, "equal-shares", k, scores, ties, "ok", info)


def _av_fill(A: np.ndarray, k: int, slate: list[int], ties: list[dict]) -> list[float]:
    """Fill ``slate`` (in place) with the candidates approved by most voters (ties: lowest column)."""
    score = A.sum(axis=0).astype(float)
    added = []
    while len(slate) < k:
        score[slate] = -np.inf
        best = score.max()
        c, tied = lowest(score, best)
        if len(tied) > k - len(slate):
            ties.append(tie(len(slate), tied, c))
        slate.append(c)
        added.append(float(best))
    return added
