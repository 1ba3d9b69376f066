"""Thiele methods: PAV and Chamberlin–Courant (exact, MILP) and sequential PAV.

A Thiele method with weights w_1 ≥ w_2 ≥ … scores a committee W by Σ_i Σ_{ℓ=1}^{|A_i ∩ W|} w_ℓ
(Thiele 1895; Lackner & Skowron, *Multi-Winner Voting with Approval Preferences*, 2023, §2.2).
PAV: w_ℓ = 1/ℓ. CC: w_1 = 1, w_ℓ = 0 for ℓ > 1.

Scores are kept exact: the weights are scaled by L = lcm(1, …, k) to integers, so sums are
integers (exact in float64 while n·L < 2^53; past that, ties are compared with a relative tolerance
of 1e-12, as abcvoting's float mode does).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from pnyx.data import DEFAULT_APPROVAL_THRESHOLD
from pnyx.rules.base import (RuleResult, approval_pairs, approvals, ballot_types, lowest, milp_max, register, tie,
                             utilities)


def _pav_weights(k: int, max_scale: float) -> tuple[np.ndarray, float, bool]:
    """Weights L/ℓ (ℓ = 1..k), L = lcm(1..k), if L ≤ ``max_scale``; else 1/ℓ.

    Returns (weights, scale, whether the weights are integers)."""
    L = math.lcm(*range(1, k + 1))
    exact = L <= max_scale
    scale = float(L) if exact else 1.0
    return scale / np.arange(1, k + 1), scale, exact


@register("seq-pav", approval=True)
def seq_pav(U: np.ndarray, k: int, *, threshold: float = DEFAULT_APPROVAL_THRESHOLD) -> RuleResult:
    """Sequential PAV: k rounds, each adding the candidate with the largest marginal PAV score.

    The marginal score of c is Σ_{i ∈ N_c} 1/(1 + |A_i ∩ W|) (abcvoting ``seqpav``). Ties: lowest column.
    """
    A = approvals(U, k, threshold)
    n, m = A.shape
    voter, candidate = approval_pairs(A)
    weights, scale, exact = _pav_weights(k, 2**53 / max(n, 1))
    satisfied = np.zeros(n, dtype=int)
    weight = np.full(n, weights[0])  # each voter's weight 1/(1 + |A_i ∩ W|), scaled
    slate: list[int] = []
    scores: list[float] = []
    ties = []
    for t in range(k):
        gain = np.bincount(candidate, weights=weight[voter], minlength=m).astype(float)
        gain[slate] = -np.inf
        best = gain.max()
        c, tied = lowest(gain, best, rtol=0.0 if exact else 1e-12)
        if len(tied) > 1:
            ties.append(tie(t, tied, c))
        slate.append(c)
        scores.append(float(best / scale))
        approvers = voter[candidate == c]
        satisfied[approvers] += 1
        weight[approvers] = weights[np.minimum(satisfied[approvers], k - 1)]
    return RuleResult(slate, "seq-pav", k, scores, ties, "ok", {"threshold": threshold})


def _thiele_ilp(A: np.ndarray, k: int, weights: np.ndarray, levels: int, integral: bool) -> tuple[list[int], str]:
    """Exact Thiele committee by MILP over ballot types (voters with equal ballots are merged).

    Variables: y_c ∈ {0, 1} (c elected) and, per ballot type t and level ℓ ≤ min(levels, |A_t|),
    z_{tℓ} ∈ [0, 1] ("at least ℓ of A_t elected"); maximise Σ_t n_t Σ_ℓ w_ℓ z_{tℓ} subject to
    Σ_ℓ z_{tℓ} ≤ Σ_{c ∈ A_t} y_c and Σ_c y_c = k. With non-increasing integer weights the z's are
    integral at an optimum, so only y is declared integer. With ``integral`` weights, among optimal
    committees the one with the smallest sum of column indices is taken (a perturbation of the
    objective smaller than the weights' unit, with the solver's gap below it).
    """
    types, mult, _ = ballot_types(A)
    T, m = types.shape
    depth = np.minimum(types.sum(axis=1), levels)
    nz = int(depth.sum())
    z_type = np.repeat(np.arange(T), depth)
    z_level = np.arange(nz) - np.repeat(np.cumsum(depth) - depth, depth)
    eps = 1.0 / (k * m + 1) if integral else 0.0
    cost = np.concatenate([-eps * np.arange(m), mult[z_type] * weights[z_level]])
    t_idx, c_idx = np.nonzero(types)
    rows = np.concatenate([z_type, t_idx, np.full(m, T)])
    cols = np.concatenate([m + np.arange(nz), c_idx, np.arange(m)])
    vals = np.concatenate([np.ones(nz), -np.ones(t_idx.size), np.ones(m)])
    M = sp.coo_matrix((vals, (rows, cols)), shape=(T + 1, m + nz))
    lower = np.append(np.full(T, -np.inf), k)
    upper = np.append(np.zeros(T), k)
    x, _, status = milp_max(cost, M, lower, upper, np.ones(m + nz), np.arange(m + nz) < m,
                             abs_gap=eps / 2 if integral else 1e-9)
    return np.flatnonzero(x[:m] > 0.5).tolist(), status


def _thiele_score(A: np.ndarray, slate: list[int], weights: np.ndarray) -> float:
    counts = A[:, slate].sum(axis=1)
    cumulative = np.concatenate([[0.0], np.cumsum(weights)])
    return float(cumulative[counts].sum())


@register("pav", approval=True, exact=True)
def pav(U: np.ndarray, k: int, *, threshold: float = DEFAULT_APPROVAL_THRESHOLD) -> RuleResult:
    """Proportional Approval Voting: a committee maximising Σ_i H(|A_i ∩ W|), H the harmonic numbers (exact, MILP).

    Ties between optimal committees: smallest sum of column indices (then HiGHS's choice); for
    k > 16 the weights are not scaled to integers and ties are HiGHS's choice.
    """
    A = approvals(U, k, threshold)
    weights, _, exact = _pav_weights(k, 1e7)  # integer weights while L ≤ 10^7 (k ≤ 16)
    slate, status = _thiele_ilp(A, k, weights, k, exact)
    score = _thiele_score(A, slate, 1.0 / np.arange(1, k + 1))
    return RuleResult(slate, "pav", k, [score], [], status,
                      {"threshold": threshold, "objective": score,
                       "tie_break": "smallest sum of column indices among optimal committees"})


@register("cc", approval=True, exact=True)
def chamberlin_courant(U: np.ndarray, k: int, *, threshold: float = DEFAULT_APPROVAL_THRESHOLD,
                       cardinal: bool = False) -> RuleResult:
    """Chamberlin–Courant: a committee maximising the number of voters with an approved member (exact, MILP).

    ``cardinal=True``: the utilitarian form, maximising Σ_i max_{c ∈ W} u_ic
    (:func:`pnyx.rules.monroe.cardinal_assignment_milp`). Ties between optimal committees: smallest
    sum of column indices (then HiGHS's choice).
    """
    if cardinal:
        from pnyx.rules.monroe import cardinal_assignment_milp

        slate, objective, status = cardinal_assignment_milp(utilities(U, k, allow_nan=False), k, balanced=False)
        return RuleResult(slate, "cc", k, [objective], [], status, {"cardinal": True, "objective": objective})
    A = approvals(U, k, threshold)
    slate, status = _thiele_ilp(A, k, np.ones(1), 1, True)
    score = int(A[:, slate].any(axis=1).sum())
    return RuleResult(slate, "cc", k, [score], [], status,
                      {"threshold": threshold, "objective": score,
                       "tie_break": "smallest sum of column indices among optimal committees"})
