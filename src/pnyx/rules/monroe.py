"""Monroe's rule (Monroe 1995) and Greedy Monroe (Skowron, Faliszewski & Slinko, AIJ 2015).

Monroe: a committee W and a balanced assignment of voters to W (each member represents ⌊n/k⌋ or
⌈n/k⌉ voters) maximising the number of voters assigned to a member they approve
(abcvoting ``monroe``), or, with ``cardinal=True``, the sum of the assigned utilities (Monroe's
original utilitarian form; for a given slate that assignment is :func:`pnyx.assignment.balanced`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from pnyx.data import DEFAULT_APPROVAL_THRESHOLD
from pnyx.rules.base import RuleResult, approvals, ballot_types, lowest, milp_max, register, tie, utilities


def cardinal_assignment_milp(U: np.ndarray, k: int, *, balanced: bool) -> tuple[list[int], float, str]:
    """Exact utilitarian Chamberlin–Courant (``balanced=False``) or Monroe (``balanced=True``) by MILP.

    Participants with equal utility rows are merged into types t (n_t of them). y_c ∈ {0, 1},
    x_{tc} ≥ 0 participants of type t assigned to c: maximise Σ u_tc x_tc subject to
    Σ_c x_{tc} = n_t, x_{tc} ≤ cap_t·y_c, Σ y = k; balanced also Σ_t x_{tc} = q·y_c + e_c with
    e_c ∈ {0, 1}, e_c ≤ y_c, Σ e = n mod k. For fixed y (and e) this is a transportation problem, so
    x is integral at an optimum. With integer utilities, ties between optimal committees go to the
    smallest sum of column indices; otherwise optimal within an absolute gap of 1e-6.
    """
    types, mult = np.unique(U, axis=0, return_counts=True)
    T, m = types.shape
    q, r = divmod(int(mult.sum()), k) if balanced else (0, 0)
    nx = T * m
    tt, cc = np.repeat(np.arange(T), m), np.tile(np.arange(m), T)
    y, e, x = np.arange(m), m + np.arange(m), 2 * m + np.arange(nx)
    cap = np.minimum(mult, q + 1) if balanced else mult
    # rows: types (T) | links (nx) | Σy = k | candidates (m) | e ≤ y (m) | Σe = r
    L, K, C, E, R = T, T + nx, T + nx + 1, T + nx + 1 + m, T + nx + 1 + 2 * m
    rows = [tt, L + np.arange(nx), L + np.arange(nx), np.full(m, K)]
    cols = [x, x, cc, y]
    vals = [np.ones(nx), np.ones(nx), -cap[tt].astype(float), np.ones(m)]
    if balanced:
        rows += [C + cc, C + y, C + y, E + y, E + y, np.full(m, R)]
        cols += [x, y, e, e, y, e]
        vals += [np.ones(nx), np.full(m, -float(q)), -np.ones(m), np.ones(m), -np.ones(m), np.ones(m)]
    M = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(R + 1, 2 * m + nx))
    lower = np.concatenate([mult, np.full(nx, -np.inf), [k], np.zeros(m), np.full(m, -np.inf), [r]])
    upper = np.concatenate([mult, np.zeros(nx), [k], np.zeros(2 * m), [r]])
    integral = bool(np.all(types == np.round(types)))
    eps = 1.0 / (k * m + 1) if integral else 0.0
    cost = np.concatenate([-eps * np.arange(m), np.zeros(m), types.ravel()])
    col_upper = np.concatenate([np.ones(m), np.full(m, 1.0 if balanced else 0.0), mult[tt]])
    sol, _, status = milp_max(cost, M, lower, upper, col_upper, np.arange(2 * m + nx) < 2 * m,
                              abs_gap=eps / 2 if integral else 1e-6)
    return np.flatnonzero(sol[:m] > 0.5).tolist(), float(types.ravel() @ sol[2 * m:]), status


@register("monroe", approval=True, exact=True)
def monroe(U: np.ndarray, k: int, *, threshold: float = DEFAULT_APPROVAL_THRESHOLD,
           cardinal: bool = False) -> RuleResult:
    """Monroe's rule, exact by MILP over ballot types (``cardinal=True``: on the utilities themselves).

    With q = ⌊n/k⌋ and r = n mod k: y_c ∈ {0, 1} (elected), e_c ∈ {0, 1} (c may represent q + 1
    satisfied voters; at most r of them), x_{tc} ≥ 0 satisfied voters of ballot type t represented
    by an approved c. Maximise Σ x subject to Σ_c x_{tc} ≤ n_t, Σ_t x_{tc} ≤ q·y_c + e_c,
    e_c ≤ y_c, Σ e ≤ r, Σ y = k. Unsatisfied voters can always fill the groups up to balanced sizes,
    so this is the Monroe score; x is integral at an optimum (a transportation problem once y, e are
    fixed). Ties between optimal committees: smallest sum of column indices.
    """
    if cardinal:
        slate, objective, status = cardinal_assignment_milp(utilities(U, k, allow_nan=False), k, balanced=True)
        return RuleResult(slate, "monroe", k, [objective], [], status, {"cardinal": True, "objective": objective})
    A = approvals(U, k, threshold)
    n, m = A.shape
    q, r = divmod(n, k)
    types, mult, _ = ballot_types(A)
    T = types.shape[0]
    t_idx, c_idx = np.nonzero(types)
    nx = t_idx.size
    # columns: y (m) | e (m) | x (nx); rows: types (T) | candidates (m) | e ≤ y (m) | Σe ≤ r | Σy = k |
    # x_tc ≤ min(n_t, q + 1)·y_c (nx, implied for integral y but it tightens the relaxation)
    y, e, x = np.arange(m), m + np.arange(m), 2 * m + np.arange(nx)
    link = T + 2 * m + 2 + np.arange(nx)
    rows = np.concatenate([t_idx, T + c_idx, T + y, T + y, T + m + y, T + m + y, np.full(m, T + 2 * m),
                           np.full(m, T + 2 * m + 1), link, link])
    cols = np.concatenate([x, x, y, e, e, y, e, y, x, c_idx])
    vals = np.concatenate([np.ones(nx), np.ones(nx), np.full(m, -float(q)), -np.ones(m), np.ones(m), -np.ones(m),
                           np.ones(m), np.ones(m), np.ones(nx), -np.minimum(mult[t_idx], q + 1.0)])
    M = sp.coo_matrix((vals, (rows, cols)), shape=(T + 2 * m + 2 + nx, 2 * m + nx))
    lower = np.concatenate([np.full(T + 2 * m + 1, -np.inf), [k], np.full(nx, -np.inf)])
    upper = np.concatenate([mult, np.zeros(2 * m), [r], [k], np.zeros(nx)])
    eps = 1.0 / (k * m + 1)
    cost = np.concatenate([-eps * np.arange(m), np.zeros(m), np.ones(nx)])
    col_upper = np.concatenate([np.ones(2 * m), mult[t_idx]])
    sol, _, status = milp_max(cost, M, lower, upper, col_upper, np.arange(2 * m + nx) < 2 * m, abs_gap=eps / 2)
    slate = np.flatnonzero(sol[:m] > 0.5).tolist()
    score = int(round(sol[2 * m:].sum()))
    return RuleResult(slate, "monroe", k, [score], [], status,
                      {"threshold": threshold, "objective": score,
                       "tie_break": "smallest sum of column indices among optimal committees"})


@register("greedy-monroe", approval=True)
def greedy_monroe(U: np.ndarray, k: int, *, threshold: float = DEFAULT_APPROVAL_THRESHOLD) -> RuleResult:
    """Greedy Monroe: each round elects the candidate approved by most unassigned voters and assigns up to
    ⌈n/k⌉ (first n mod k rounds) or ⌊n/k⌋ of its approvers to it, lowest voter indices first (abcvoting
    ``greedy-monroe``). Ties: lowest column.
    """
    A = approvals(U, k, threshold)
    n, m = A.shape
    q, r = divmod(n, k)
    free = np.ones(n, dtype=bool)
    assignment = np.full(n, -1)
    slate: list[int] = []
    scores: list[int] = []
    ties: list[dict] = []
    for t in range(k):
        support = (A & free[:, None]).sum(axis=0).astype(float)
        support[slate] = -np.inf
        best = support.max()
        c, tied = lowest(support, best)
        if len(tied) > 1:
            ties.append(tie(t, tied, c))
        group = np.flatnonzero(A[:, c] & free)[: q + (t < r)]
        free[group] = False
        assignment[group] = t
        slate.append(c)
        scores.append(int(best))
    return RuleResult(slate, "greedy-monroe", k, scores, ties, "ok", {"threshold": threshold, "assignment": assignment})
