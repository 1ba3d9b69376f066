"""Mutual consensus and divisiveness of a statement (García-Zamora, Dutta & Martínez, arXiv 2511.01614).

For the ratings o_1..o_n of one statement, κ(o) = max_{i<j} |o_i − o_j| is the largest gap between
two participants. The minimum-cost consensus moves the ratings to x̄ with κ(x̄) ≤ ε at least cost
Σ c_i |x̄_i − o_i|: the LP min Σ c_i t_i s.t. t_i ≥ ±(x̄_i − o_i), L ≤ x̄_i ≤ L + ε. Its cost per
participant is the statement's *divisiveness*: 0 when everyone is already within ε.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pnyx.data import InputError
from pnyx.methods.base import METHODS


@dataclass
class MutualConsensus:
    """The minimum-cost consensus of one statement's ratings."""

    kappa: float
    """κ of the original ratings."""
    epsilon: float
    cost: float
    """Σ c_i |x̄_i − o_i| at the optimum."""
    adjusted: np.ndarray
    """x̄: the moved ratings, κ(x̄) ≤ ε."""
    lower: float
    """L: the consensus interval is [L, L + ε]."""
    n: int

    @property
    def divisiveness(self) -> float:
        """Cost per participant (per unit of weight)."""
        return self.cost / self.n if self.n else 0.0


def _check(ratings, weights, epsilon):
    o = np.asarray(ratings, dtype=float)
    o = o[~np.isnan(o)] if weights is None else o
    if o.ndim != 1 or not np.isfinite(o).all():
        raise InputError("ratings must be a 1-D array of finite numbers", field="ratings")
    c = np.ones(o.size) if weights is None else np.asarray(weights, dtype=float)
    if c.shape != o.shape or (c < 0).any():
        raise InputError("weights must be one non-negative number per rating", field="weights")
    if not epsilon >= 0:
        raise InputError(f"epsilon must be ≥ 0, got {epsilon}", field="epsilon")
    return o, c


def kappa(ratings: Sequence[float]) -> float:
    """κ = max_{i<j} |o_i − o_j| (NaN ignored; 0 for fewer than two ratings)."""
    o = np.asarray(ratings, dtype=float)
    o = o[~np.isnan(o)]
    return float(o.max() - o.min()) if o.size > 1 else 0.0


@METHODS.register("mutual-consensus", input="ratings", cite="arXiv 2511.01614")
def mutual_consensus(ratings: Sequence[float], epsilon: float = 1.0,
                     weights: Sequence[float] | None = None) -> MutualConsensus:
    """The minimum-cost consensus LP for one statement (HiGHS): variables x̄, t, L.

    Parameters
    ----------
    ratings
        One statement's ratings (NaN: not rated, dropped when ``weights`` is None).
    epsilon
        The largest gap allowed after moving (on the ratings' scale).
    weights
        c_i, the cost of moving participant i by one unit (default 1).

    Examples
    --------
    >>> r = mutual_consensus([0, 0, 4, 4], epsilon=2)
    >>> r.kappa, r.cost
    (4.0, 4.0)
    """
    from scipy.optimize import linprog
    import scipy.sparse as sp

    o, c = _check(ratings, weights, epsilon)
    n = o.size
    if n == 0:
        return MutualConsensus(0.0, float(epsilon), 0.0, o, 0.0, 0)
    eye = sp.identity(n, format="csr")
    one = sp.csr_matrix(np.ones((n, 1)))
    zero = sp.csr_matrix((n, 1))
    # columns: x̄ (n), t (n), L (1)
    A = sp.vstack([sp.hstack([eye, -eye, zero]), sp.hstack([-eye, -eye, zero]),
                   sp.hstack([-eye, sp.csr_matrix((n, n)), one]), sp.hstack([eye, sp.csr_matrix((n, n)), -one])])
    b = np.concatenate([o, -o, np.zeros(n), np.full(n, float(epsilon))])
    res = linprog(np.concatenate([np.zeros(n), c, [0.0]]), A_ub=A.tocsr(), b_ub=b,
                  bounds=[(None, None)] * (2 * n + 1), method="highs")
    if res.status != 0:
        raise RuntimeError(f"undecided: HiGHS stopped with {res.message!r}")
    x = res.x[:n]
    return MutualConsensus(kappa(o), float(epsilon), float(res.fun), x, float(res.x[-1]), n)


def consensus_costs(R: np.ndarray, epsilon: float = 1.0) -> np.ndarray:
    """The minimum consensus cost of every column of R (unit weights, NaN: not rated), vectorised.

    The same optimum as :func:`mutual_consensus`: x̄_i = clip(o_i, L, L + ε), and the cost is convex
    piecewise linear in L with breakpoints in {o_i} ∪ {o_i − ε}, so the minimum over those is exact.
    """
    R = np.asarray(R, dtype=float)
    out = np.zeros(R.shape[1])
    for j in range(R.shape[1]):
        o = R[:, j][~np.isnan(R[:, j])]
        if o.size < 2:
            continue
        L = np.unique(np.concatenate([o, o - epsilon]))
        cost = (np.maximum(L[:, None] - o[None, :], 0) + np.maximum(o[None, :] - L[:, None] - epsilon, 0)).sum(axis=1)
        out[j] = cost.min()
    return out
