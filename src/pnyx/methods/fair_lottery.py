"""Fair lotteries over slates: BW-MES (Aziz, Lu, Suzuki, Vollen & Walsh, "Fair Lotteries for
Participatory Budgeting", AAAI 2024, arXiv 2404.05198, Algorithm 2 "BW-MES-PB").

Inclusion probabilities: the Method of Equal Shares' outcome gets probability 1; every voter then
spends the leftover of their share b/n fractionally on the approved projects MES did not choose,
cheapest first (ties: lowest index); money nobody can spend that way is spent on the unchosen
projects with most approvals (the paper leaves this step arbitrary). Dependent rounding between
pairs of fractional projects, keeping c_i p_i + c_j p_j fixed, turns p into one seeded draw that
contains the MES outcome and spends within one project's cost of the expected spend (BB1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from pnyx.data import DEFAULT_APPROVAL_THRESHOLD, InputError
from pnyx.methods.base import METHODS
from pnyx.rules.base import RuleResult, approvals, register
from pnyx.rules.equal_shares import _min_price

EPS = 1e-9


@dataclass
class FairLottery:
    """Inclusion probabilities of a BW-MES lottery over projects (statements)."""

    probabilities: np.ndarray
    mes: list[int]
    """The MES outcome (probability 1), in selection order."""
    costs: np.ndarray
    budget: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def expected_cost(self) -> float:
        return float(self.probabilities @ self.costs)

    def draw(self, seed: int | np.random.Generator = 0) -> list[int]:
        """One outcome by dependent rounding (:func:`dependent_rounding`), seeded."""
        return dependent_rounding(self.probabilities, self.costs, seed)


def method_of_equal_shares(A: np.ndarray, costs: np.ndarray, budget: float) -> tuple[list[int], np.ndarray]:
    """MES with costs and approval utilities (Peters, Pierczyński & Skowron, NeurIPS 2021), no completion.

    Each voter starts with budget/n; project c is q-affordable when Σ_{i approves c} min(b_i, q) =
    cost_c; each round buys the project with the smallest q (ties: lowest index) and charges its
    approvers min(b_i, q). Returns the outcome and the voters' leftover budgets.
    """
    n, m = A.shape
    b = np.full(n, budget / n)
    chosen: list[int] = []
    while True:
        q = np.full(m, np.inf)
        for c in range(m):
            if c not in chosen and A[:, c].any():
                q[c] = costs[c] * _min_price(b[A[:, c]] / costs[c])
        if not np.isfinite(q).any():
            return chosen, b
        c = int(np.flatnonzero(q <= q.min() * (1 + 1e-12))[0])
        payers = A[:, c]
        b[payers] -= np.minimum(b[payers], q[c])
        chosen.append(c)


@METHODS.register("fair-lottery", input="approvals", cite="arXiv 2404.05198 (BW-MES-PB)")
def bw_mes(A: np.ndarray, costs: Sequence[float] | None = None, budget: float | None = None) -> FairLottery:
    """BW-MES inclusion probabilities (Aziz et al., AAAI 2024, Algorithm 2).

    Parameters
    ----------
    A
        Boolean approvals, voters × projects.
    costs
        Cost per project (default 1: a committee of ``budget`` statements).
    budget
        The budget B (each voter's share is B/n).

    Returns
    -------
    FairLottery
        ``probabilities`` with 0 ≤ p ≤ 1, p = 1 on the MES outcome, Σ c_j p_j = min(B, Σ c_j).

    Examples
    --------
    The paper's running example (costs a, b = 8k, c, d = 12k; B = 30k):

    >>> A = np.array([[1, 0, 1, 0], [0, 0, 1, 1], [0, 1, 0, 1]], dtype=bool)
    >>> bw_mes(A, [8, 8, 12, 12], 30).probabilities.tolist()
    [0.5, 1.0, 1.0, 0.5]
    """
    A = np.asarray(A, dtype=bool)
    if A.ndim != 2 or A.shape[0] == 0 or A.shape[1] == 0:
        raise InputError(f"approvals must be a non-empty voters × projects matrix, got shape {A.shape}", field="A")
    n, m = A.shape
    c = np.ones(m) if costs is None else np.asarray(costs, dtype=float)
    if c.shape != (m,) or (c <= 0).any() or not np.isfinite(c).all():
        raise InputError("costs must be one positive number per project", field="costs")
    if budget is None or not budget > 0:
        raise InputError(f"budget must be positive, got {budget}", field="budget")
    mes, b = method_of_equal_shares(A, c, float(budget))
    p = np.zeros(m)
    p[mes] = 1.0
    for i in np.flatnonzero(b > EPS):
        for j in sorted(np.flatnonzero(A[i] & (p < 1.0)), key=lambda j: (c[j], j)):
            pay = min(b[i], c[j] * (1.0 - p[j]))
            p[j] += pay / c[j]
            b[i] -= pay
            if b[i] <= EPS:
                break
    left = float(b[b > EPS].sum())
    order = sorted(range(m), key=lambda j: (-int(A[:, j].sum()), j))
    for j in order:
        if left <= EPS:
            break
        pay = min(left, c[j] * (1.0 - p[j]))
        p[j] += pay / c[j]
        left -= pay
    p[p > 1 - EPS] = 1.0
    p[p < EPS] = 0.0
    return FairLottery(p, mes, c, float(budget), {"unspent": max(left, 0.0)})


def dependent_rounding(p: np.ndarray, costs: np.ndarray, seed: int | np.random.Generator = 0) -> list[int]:
    """Round inclusion probabilities to one outcome, keeping every marginal (Srinivasan-style pairing).

    While two projects i, j are fractional, move probability between them keeping c_i p_i + c_j p_j
    fixed until one of them is 0 or 1, choosing the direction with the probabilities that keep
    E[p] unchanged; a last fractional project is included with its probability. So the spend of the
    outcome is within one project's cost of the expected spend (BB1), and P(j drawn) = p_j.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    p = np.asarray(p, dtype=float).copy()
    c = np.asarray(costs, dtype=float)
    while True:
        frac = np.flatnonzero((p > EPS) & (p < 1 - EPS))
        if frac.size == 0:
            break
        if frac.size == 1:
            j = frac[0]
            p[j] = 1.0 if rng.random() < p[j] else 0.0
            break
        i, j = frac[0], frac[1]
        up = min(1.0 - p[i], p[j] * c[j] / c[i])  # raise p_i, lower p_j
        down = min(p[i], (1.0 - p[j]) * c[j] / c[i])  # lower p_i, raise p_j
        if rng.random() < down / (up + down):
            p[i] += up
            p[j] -= up * c[i] / c[j]
        else:
            p[i] -= down
            p[j] += down * c[i] / c[j]
        p[np.abs(p) < EPS] = 0.0
        p[np.abs(p - 1.0) < EPS] = 1.0
    return [int(j) for j in np.flatnonzero(p > 0.5)]


@register("fair-lottery", approval=True, settings=("seed",))
def fair_lottery(U: np.ndarray, k: int, *, threshold: float = DEFAULT_APPROVAL_THRESHOLD, seed: int = 0) -> RuleResult:
    """A slate of k statements drawn from the BW-MES lottery (unit costs, budget k), seeded.

    The draw always contains the Method of Equal Shares' outcome (so it satisfies EJR), each
    statement j is drawn with probability ``info["probabilities"][j]``, and Σp = k, so the draw has
    exactly k statements whenever there are at least k.
    """
    A = approvals(U, k, threshold)
    lottery = bw_mes(A, None, k)
    slate = lottery.draw(seed)
    return RuleResult(slate, "fair-lottery", k, [float(x) for x in lottery.probabilities[slate]], [], "ok",
                      {"probabilities": lottery.probabilities.tolist(), "mes": lottery.mes, "seed": seed,
                       "threshold": threshold})
