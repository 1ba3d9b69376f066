"""Pairwise preferences: margins, and utilities on the 0–4 scale from a Bradley–Terry fit.

A comparison is a row ``(participant, preferred, other)`` of indices (``Profile.pairwise``): the
participant prefers statement ``preferred`` to statement ``other``. Global Dialogues, All Our Ideas
and the Habermas Machine collect them.

* :func:`margins` — the majority margin matrix ``M[a, b]`` = number of participants who prefer a to
  b minus the number who prefer b to a (each participant counts once per pair: the sign of their
  own comparisons of the pair), as maximal lotteries (Fishburn 1984), Kemeny and Copeland are defined on.
* :func:`bradley_terry` — a Bradley–Terry model (Bradley & Terry 1952; P(a ≻ b) = σ(s_a − s_b))
  with a population strength θ_j per statement and a personal deviation δ_ij for each statement a
  participant compared, both with Gaussian (L2) priors, fit by maximum a posteriori with L-BFGS.
  A participant's utility for statement j is 4 × their model's probability of preferring j to a
  statement drawn uniformly from the others (All Our Ideas' score, per participant), so 2 is
  "as good as a random other statement".

Measured accuracy on held-out comparisons: ``benchmarks/pairwise.py`` and benchmarks/README.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from pnyx.scale import MAX_UTILITY


def _check(pairwise: np.ndarray, n: int | None, m: int) -> np.ndarray:
    pw = np.asarray(pairwise, dtype=np.int64).reshape(-1, 3)
    if len(pw) and (pw.min() < 0 or pw[:, 1:].max() >= m or (n is not None and pw[:, 0].max() >= n)):
        raise ValueError("pairwise indices out of range")
    if (pw[:, 1] == pw[:, 2]).any():
        raise ValueError("a comparison of a statement with itself")
    return pw


def margins(pairwise: np.ndarray, m: int) -> np.ndarray:
    """The m × m majority margin matrix (antisymmetric, integer).

    Parameters
    ----------
    pairwise
        ``(participant, preferred, other)`` index rows.
    m
        Number of statements.

    Returns
    -------
    ``M[a, b]`` = #participants preferring a to b − #preferring b to a; a participant who compared a
    and b several times counts once, by the sign of their net preference (0 if it nets out).

    >>> margins([[0, 0, 1], [1, 0, 1], [2, 1, 0]], 2).tolist()
    [[0, 1], [-1, 0]]
    """
    pw = _check(pairwise, None, m)
    M = np.zeros((m, m), dtype=np.int64)
    if not len(pw):
        return M
    lo, hi = np.minimum(pw[:, 1], pw[:, 2]), np.maximum(pw[:, 1], pw[:, 2])
    sign = np.where(pw[:, 1] == lo, 1, -1)  # +1: the lower index won
    keys, inverse = np.unique(np.column_stack([pw[:, 0], lo, hi]), axis=0, return_inverse=True)
    net = np.sign(np.bincount(inverse.ravel(), weights=sign, minlength=len(keys))).astype(np.int64)
    np.add.at(M, (keys[:, 1], keys[:, 2]), net)
    return M - M.T


@dataclass
class BradleyTerryFit:
    """A Bradley–Terry fit: strengths and the utilities they imply."""

    utilities: np.ndarray
    """n × m utilities on 0–4: 4 × P(participant prefers j to a uniformly drawn other statement)."""
    scores: np.ndarray
    """n × m personal strengths s_ij = θ_j + δ_ij (δ_ij = 0 for statements the participant never compared)."""
    strengths: np.ndarray
    """Population strengths θ_j (mean 0)."""
    compared: np.ndarray
    """n × m: True where the participant compared the statement at least once."""
    info: dict[str, Any] = field(default_factory=dict)


def bradley_terry(pairwise: np.ndarray, n: int, m: int, *, prior: float = 1.0, personal_prior: float = 1.0,
                  personal: bool = True) -> BradleyTerryFit:
    """Fit the per-participant Bradley–Terry model of the module docstring.

    Parameters
    ----------
    pairwise
        ``(participant, preferred, other)`` index rows.
    n, m
        Number of participants and statements.
    prior, personal_prior
        Precisions of the Gaussian priors on θ (population) and δ (personal deviations); larger
        shrinks more. ``personal=False`` fits θ only (everyone gets the population utilities).

    Returns
    -------
    :class:`BradleyTerryFit`; a statement nobody compared has θ = 0 (utility near 2).

    Raises
    ------
    ValueError
        Indices out of range or a statement compared with itself.
    """
    pw = _check(pairwise, n, m)
    p, w, l = pw[:, 0], pw[:, 1], pw[:, 2]
    compared = np.zeros((n, m), dtype=bool)
    compared[p, w] = compared[p, l] = True
    cells = np.flatnonzero(compared.ravel()) if personal else np.zeros(0, dtype=np.int64)
    cell_of = np.full(n * m, -1, dtype=np.int64)
    cell_of[cells] = np.arange(len(cells))
    cw, cl = (cell_of[p * m + w], cell_of[p * m + l]) if personal else (None, None)

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        theta, delta = x[:m], x[m:]
        z = theta[w] - theta[l] + (delta[cw] - delta[cl] if personal else 0.0)
        g = -expit(-z)  # d(−log σ(z))/dz
        grad_theta = np.bincount(w, g, m) - np.bincount(l, g, m) + prior * theta
        value = -log_expit(z).sum() + 0.5 * prior * theta @ theta
        if not personal:
            return value, grad_theta
        grad_delta = np.bincount(cw, g, len(cells)) - np.bincount(cl, g, len(cells)) + personal_prior * delta
        return value + 0.5 * personal_prior * delta @ delta, np.concatenate([grad_theta, grad_delta])

    fit = minimize(objective, np.zeros(m + len(cells)), jac=True, method="L-BFGS-B")
    theta = fit.x[:m] - fit.x[:m].mean()
    scores = np.broadcast_to(theta, (n, m)).copy()
    if personal:
        scores.ravel()[cells] += fit.x[m:]
    return BradleyTerryFit(
        utilities=_win_probability(scores, theta, compared) * MAX_UTILITY,
        scores=scores, strengths=theta, compared=compared,
        info={"comparisons": len(pw), "converged": bool(fit.success), "message": str(fit.message),
              "iterations": int(fit.nit), "prior": prior, "personal_prior": personal_prior if personal else None},
    )


def _win_probability(scores: np.ndarray, theta: np.ndarray, compared: np.ndarray) -> np.ndarray:
    """W[i, j] = mean over k ≠ j of σ(s_ij − s_ik), exactly, in O(m² + Σ_i m·|D_i|) where D_i is what i
    compared (s_ik = θ_k outside D_i): the population sum plus each participant's corrections."""
    n, m = scores.shape
    if m < 2:
        return np.full((n, m), 0.5)
    base = expit(theta[:, None] - theta[None, :]).sum(axis=1)  # Σ_k σ(θ_j − θ_k), includes k = j
    total = np.broadcast_to(base, (n, m)).copy()
    for i in np.flatnonzero(compared.any(axis=1)):
        d = np.flatnonzero(compared[i])
        x = scores[i]  # (m,)
        moved = d[x[d] != theta[d]]
        if len(moved):  # own scores differ from θ: recompute Σ_k σ(x_j − θ_k) for those j
            total[i, moved] = expit(x[moved, None] - theta[None, :]).sum(axis=1)
        # swap each compared k's population score for the participant's own
        total[i] += (expit(x[:, None] - x[None, d]) - expit(x[:, None] - theta[None, d])).sum(axis=1)
    return (total - 0.5) / (m - 1)  # drop k = j (σ(0) = ½)


def held_out_accuracy(fit: BradleyTerryFit, pairwise: np.ndarray) -> float:
    """Share of comparisons whose preferred statement has the higher personal score (ties count ½)."""
    pw = np.asarray(pairwise, dtype=np.int64).reshape(-1, 3)
    if not len(pw):
        return float("nan")
    diff = fit.scores[pw[:, 0], pw[:, 1]] - fit.scores[pw[:, 0], pw[:, 2]]
    return float(np.mean(np.where(diff > 0, 1.0, np.where(diff == 0, 0.5, 0.0))))


def with_pairwise_utilities(profile: Any, **options: Any) -> Any:
    """``profile`` with its unknown utilities filled from :func:`bradley_terry` on ``profile.pairwise``
    (provenance ``bradley-terry``; observed judgments are kept). The fit's facts go to
    ``profile.info["bradley_terry"]``."""
    fit = bradley_terry(profile.pairwise, profile.n, profile.m, **options)
    out = profile.with_predictions(fit.utilities, "bradley-terry")
    out.info = {**profile.info, "bradley_terry": fit.info}
    return out
