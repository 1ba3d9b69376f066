"""Maximal lotteries over statements: the consensus distribution.

Fishburn's maximal lottery (Fishburn 1984; Brandl, Brandt & Seedig 2016) is the unregularised Nash
equilibrium of "Nash Learning from Human Feedback" (Munos et al., arXiv 2312.00886) and of Swamy et
al.'s self-play preference optimisation (arXiv 2401.04056) over a finite set of statements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pnyx.methods.base import METHODS
from pnyx.validation import check_utilities


_FEW_LEVELS = 8
"""Up to this many distinct utilities (votes: 3, ratings: 5) margins are counted by matrix products."""


def _level_margins(U: np.ndarray, levels: np.ndarray, rows: int = 50_000) -> np.ndarray:
    """:func:`margins` for utilities on a few levels: #{i: U_ia = ℓ > U_ib} summed over ℓ is
    Σ_ℓ 1[U = ℓ]ᵀ 1[U < ℓ], one m × m product per level and block of rows (O(n·m²) in BLAS instead of
    an n × m × m array); counts are exact (float32 holds every integer below 2²⁴ per block)."""
    m = U.shape[1]
    wins = np.zeros((m, m), dtype=np.int64)
    for start in range(0, U.shape[0], rows):
        block = U[start:start + rows]
        below = np.zeros(block.shape, dtype=np.float32)
        for level in levels:  # ascending: ``below`` holds the known entries under ``level``
            at = (block == level).astype(np.float32)
            wins += np.rint(at.T @ below).astype(np.int64)
            below += at
    return wins - wins.T


def margins(U: np.ndarray, *, cells: int = 2_000_000) -> np.ndarray:
    """The majority margin matrix M(a, b) = #{i: U_ia > U_ib} − #{i: U_ib > U_ia}.

    A participant counts for a pair only if both utilities are known (NaN is "not judged"): on
    votes, pass the observed judgments only, so a margin counts the participants who judged both.

    >>> margins(np.array([[4., 0.], [4., 2.], [0., 4.]])).tolist()
    [[0, 1], [-1, 0]]
    """
    U = check_utilities(U)
    n, m = U.shape
    levels = np.unique(U[np.isfinite(U)])
    if levels.size <= _FEW_LEVELS:
        return _level_margins(U, levels)
    M = np.zeros((m, m), dtype=np.int64)
    chunk = max(1, cells // (m * m))  # rows per block: about ``cells`` pairwise comparisons in memory at once
    with np.errstate(invalid="ignore"):
        for start in range(0, n, chunk):
            block = U[start:start + chunk]
            diff = np.sign(block[:, :, None] - block[:, None, :])  # NaN where either is unknown
            M += np.nan_to_num(diff, nan=0.0).sum(axis=0).astype(np.int64)
    return M


@dataclass
class MaximalLottery:
    """A maximal lottery p over the statements (columns) and how it was found."""

    probabilities: np.ndarray
    """p ≥ 0, Σp = 1, pᵀM ≥ 0."""
    margins: np.ndarray
    value: float
    """The game value min_b (pᵀM)_b (0 at an equilibrium, up to solver tolerance)."""
    support: list[int]
    """Columns with positive probability, most probable first."""
    condorcet_winner: int | None
    """The column beating every other by a positive margin, if any (then p is the point mass on it)."""
    status: str = "optimal"
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"probabilities": {int(j): float(self.probabilities[j]) for j in self.support},
                "value": self.value, "condorcet_winner": self.condorcet_winner, "status": self.status}


@METHODS.register("maximal-lottery", input="utilities", cite="Fishburn 1984; arXiv 2312.00886; arXiv 2401.04056")
def maximal_lottery(U: np.ndarray | None = None, *, M: np.ndarray | None = None, tol: float = 1e-9) -> MaximalLottery:
    """The maximal lottery of the majority margins of ``U`` (or of a given margin matrix ``M``).

    Definition (Fishburn): a lottery p over the statements with p ≥ 0, Σp = 1 and pᵀM ≥ 0, i.e. an
    optimal mixed strategy of the symmetric zero-sum game with payoff M (value 0). Solved as the LP
    max v s.t. Mᵀp ≥ v, Σp = 1, p ≥ 0 by HiGHS. It is unique when all margins are odd (e.g. an odd
    number of voters with strict preferences); otherwise any optimal p is returned.

    Parameters
    ----------
    U
        Participants × statements utilities (NaN: not judged).
    M
        A skew-symmetric margin matrix instead of ``U``.

    Returns
    -------
    MaximalLottery

    Raises
    ------
    InputError
        ``U`` is not a utility matrix.
    ValueError
        ``M`` is not square and skew-symmetric.

    Examples
    --------
    The cycle M(a,b)=3, M(b,c)=1, M(c,a)=2:

    >>> M = np.array([[0, 3, -2], [-3, 0, 1], [2, -1, 0]])
    >>> np.round(maximal_lottery(M=M).probabilities * 6, 6).tolist()
    [1.0, 2.0, 3.0]
    """
    from scipy.optimize import linprog

    if M is None:
        M = margins(U)
    M = np.asarray(M, dtype=float)
    if M.ndim != 2 or M.shape[0] != M.shape[1] or not np.allclose(M, -M.T):
        raise ValueError("M must be a square skew-symmetric margin matrix")
    m = M.shape[0]
    # variables (p_1..p_m, v); minimise −v s.t. v − (Mᵀp)_b ≤ 0 for every b
    c = np.zeros(m + 1)
    c[-1] = -1.0
    A_ub = np.hstack([-M.T, np.ones((m, 1))])
    A_eq = np.hstack([np.ones((1, m)), np.zeros((1, 1))])
    res = linprog(c, A_ub=A_ub, b_ub=np.zeros(m), A_eq=A_eq, b_eq=[1.0],
                  bounds=[(0, None)] * m + [(None, None)], method="highs")
    if res.status != 0:
        raise RuntimeError(f"undecided: HiGHS stopped with {res.message!r}")
    p = np.clip(res.x[:m], 0.0, None)
    p[p < tol] = 0.0
    p /= p.sum()
    beats = (M > 0).sum(axis=1)
    cw = np.flatnonzero(beats == m - 1)
    support = [int(j) for j in np.argsort(-p, kind="stable") if p[j] > 0]
    return MaximalLottery(p, M, float((p @ M).min()), support, int(cw[0]) if cw.size else None,
                          info={"solver": "highs"})
