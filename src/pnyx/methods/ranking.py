"""Ranking systems by social choice (Rofin, Mikhailov, Florinsky, Kravchenko, Tutubalina, Shavrina,
Karabekyan & Artemova, "Vote'n'Rank", EACL 2023, arXiv 2210.05769; Colombo, Noiry, Irurozki &
Clémençon, "What are the best systems?", arXiv 2202.03799).

Tasks (datasets, metrics) are voters with weights w_t, systems are candidates; on each task a
system's rank is computed from its score (higher is better; ``min`` rank 1 + #better, ``max`` rank
#at-least-as-good, as Vote'n'Rank). With M systems:

* ``borda``: Σ_t w_t (M − maxrank_t); ``dowdall``: Σ_t w_t / minrank_t;
* ``plurality``: Σ_t w_t [maxrank_t = 1] (a task shared at the top gives no one its vote);
* ``copeland``: wins − losses in the weighted pairwise majority (a beats b when the tasks on which
  a scores higher weigh more than those on which b does);
* ``minimax`` (winning votes): −max over the systems b that beat a of the weight preferring b;
* ``kemeny``: the ranking minimising the weighted Kendall distance Σ_t w_t #pairs it orders
  against task t, by an exact ILP (pairwise order variables and transitivity rows, HiGHS via scipy); when
  there are too many systems or the ILP times out, Borda's ranking with its Kemeny distance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from pnyx.data import InputError
from pnyx.methods.base import METHODS

RANKING_RULES = ("borda", "dowdall", "copeland", "minimax", "plurality", "kemeny")


@dataclass
class SystemRanking:
    rule: str
    ranking: list[str]
    """System names, best first (ties: table order)."""
    scores: dict[str, float]
    """The rule's score per system (kemeny: minus the number of systems placed above it)."""
    winners: list[str]
    """Every system with the best score."""
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"ranking": self.ranking, "scores": self.scores, "winners": self.winners, **self.info}


def _check(scores: np.ndarray, systems: Sequence[str], weights: np.ndarray | None):
    S = np.asarray(scores, dtype=float)
    if S.ndim != 2 or S.shape[0] < 2 or S.shape[1] < 1:
        raise InputError(f"the table needs at least two systems and one task, got shape {S.shape}", field="table")
    if np.isnan(S).any():
        i, t = np.argwhere(np.isnan(S))[0]
        raise InputError(f"system {systems[i]!r} has no score for task {t + 1}", field="table")
    w = np.ones(S.shape[1]) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (S.shape[1],) or (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
        raise InputError("weights must be one non-negative number per task, not all 0", field="weights")
    if len(systems) != S.shape[0] or len(set(systems)) != len(systems):
        raise InputError("system names must be unique, one per row", field="table")
    return S, w


def pairwise(S: np.ndarray, w: np.ndarray) -> np.ndarray:
    """P[a, b] = Σ_t w_t [S_ta > S_tb] — the weight of the tasks on which a scores higher than b."""
    return ((S[:, None, :] > S[None, :, :]) * w).sum(axis=2)


def _ordered(rule: str, systems: Sequence[str], score: np.ndarray, info: dict | None = None) -> SystemRanking:
    order = np.argsort(-score, kind="stable")
    best = score.max()
    return SystemRanking(rule, [systems[i] for i in order], {systems[i]: float(score[i]) + 0.0 for i in order},
                         [systems[i] for i in order if np.isclose(score[i], best, rtol=0, atol=1e-9)], info or {})


def kemeny_distance(order: Sequence[int], P: np.ndarray) -> float:
    """Σ over pairs the order puts a above b of P[b, a] (the weighted Kendall distance to the tasks)."""
    pos = np.empty(len(order), dtype=int)
    pos[np.asarray(order)] = np.arange(len(order))
    above = pos[:, None] < pos[None, :]
    return float((P.T * above).sum())


def kemeny(P: np.ndarray, *, time_limit: float = 20.0, max_exact: int = 60) -> tuple[list[int], float, str]:
    """An exact Kemeny ranking of the pairwise weights P by ILP: x_ab = 1 iff a is above b (a < b),
    0 ≤ x_ab + x_bc − x_ac ≤ 1 for a < b < c; maximise agreement Σ P[a,b] x_ab + P[b,a](1 − x_ab).
    Returns (order, distance, status); status ``"borda"`` when the ILP is too large or undecided."""
    m = P.shape[0]
    pairs = list(combinations(range(m), 2))
    if m > max_exact:
        return _borda_order(P), kemeny_distance(_borda_order(P), P), "borda"
    if m == 1:
        return [0], 0.0, "optimal"
    index = {p: q for q, p in enumerate(pairs)}
    triples = list(combinations(range(m), 3))
    rows, cols, vals = [], [], []
    for r, (a, b, c) in enumerate(triples):
        rows += [r, r, r]
        cols += [index[(a, b)], index[(b, c)], index[(a, c)]]
        vals += [1.0, 1.0, -1.0]
    A = sp.csr_matrix((vals, (rows, cols)), shape=(max(len(triples), 1), len(pairs)))
    cost = np.array([P[a, b] - P[b, a] for a, b in pairs])
    # scipy's HiGHS interface (the same solver as pnyx.rules.base.milp_max) prints nothing on stdout,
    # which `pnyx compare --json` needs
    res = milp(-cost, constraints=LinearConstraint(A, np.zeros(A.shape[0]), np.ones(A.shape[0])),
               integrality=np.ones(len(pairs)), bounds=Bounds(0, 1),
               options={"time_limit": time_limit, "mip_rel_gap": 0.0})
    if res.status != 0:
        order = _borda_order(P)
        return order, kemeny_distance(order, P), "borda"
    x, status = res.x, "optimal"
    above = np.zeros((m, m), dtype=bool)
    for (a, b), v in zip(pairs, x):
        above[a, b], above[b, a] = v > 0.5, v <= 0.5
    order = [int(i) for i in np.argsort(-above.sum(axis=1), kind="stable")]
    return order, kemeny_distance(order, P), status


def _borda_order(P: np.ndarray) -> list[int]:
    return [int(i) for i in np.argsort(-(P.sum(axis=1) - P.sum(axis=0)), kind="stable")]


@METHODS.register("rank-systems", input="leaderboard", cite="arXiv 2210.05769; arXiv 2202.03799")
def rank_systems(scores: np.ndarray, systems: Sequence[str], weights: Sequence[float] | None = None,
                 rules: Sequence[str] = RANKING_RULES, *, kemeny_time_limit: float = 20.0) -> dict[str, SystemRanking]:
    """Rank systems (rows of ``scores``) over tasks (columns; higher is better) by each of ``rules``.

    Raises
    ------
    InputError
        A missing score, bad weights, duplicate names, or an unknown rule.

    Examples
    --------
    >>> r = rank_systems([[3, 1], [2, 3], [1, 2]], ["a", "b", "c"])
    >>> r["borda"].ranking, r["copeland"].winners
    (['b', 'a', 'c'], ['b'])
    """
    systems = [str(s) for s in systems]
    S, w = _check(scores, systems, None if weights is None else np.asarray(weights, dtype=float))
    for rule in rules:
        if rule not in RANKING_RULES:
            raise InputError(f"unknown ranking rule {rule!r}; known: {', '.join(RANKING_RULES)}", field="rules")
    M = S.shape[0]
    minrank = 1 + (S[None, :, :] > S[:, None, :]).sum(axis=1)  # systems × tasks
    maxrank = (S[None, :, :] >= S[:, None, :]).sum(axis=1)
    P = pairwise(S, w)
    beats = P > P.T
    out: dict[str, SystemRanking] = {}
    for rule in rules:
        if rule == "borda":
            out[rule] = _ordered(rule, systems, ((M - maxrank) * w).sum(axis=1))
        elif rule == "dowdall":
            out[rule] = _ordered(rule, systems, (w / minrank).sum(axis=1))
        elif rule == "plurality":
            out[rule] = _ordered(rule, systems, ((maxrank == 1) * w).sum(axis=1))
        elif rule == "copeland":
            out[rule] = _ordered(rule, systems, (beats.sum(axis=1) - beats.sum(axis=0)).astype(float))
        elif rule == "minimax":
            out[rule] = _ordered(rule, systems, -np.where(beats.T, P.T, 0.0).max(axis=1))
        elif rule == "kemeny":
            order, dist, status = kemeny(P, time_limit=kemeny_time_limit)
            score = np.empty(M)
            score[order] = -np.arange(M, dtype=float)
            out[rule] = _ordered(rule, systems, score, {"distance": dist, "status": status})
    cw = [systems[a] for a in range(M) if beats[a].sum() == M - 1]
    for r in out.values():
        r.info.setdefault("condorcet_winner", cw[0] if cw else None)
    return out
