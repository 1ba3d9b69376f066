"""Collaborative filtering: biased matrix factorisation fit by alternating least squares.

The model (Koren, Bell & Volinsky, "Matrix factorization techniques for recommender systems",
IEEE Computer 2009, eq. 4) predicts participant i's utility for statement j as

    û_ij = μ + b_i + c_j + p_i · q_j

with global mean μ, participant bias b_i, statement bias c_j and rank-r factors p_i, q_j, fit on the
observed utilities (0–4 scale; Polis votes mapped by :func:`pnyx.data.to_utility`, passes included)
by minimising squared error + λ(‖p‖² + ‖q‖² + b² + c²). Each half-step of ALS is a batch of small
ridge regressions, one per row (or column), solved together in numpy.

The rank and λ are chosen by a seeded hold-out of the observed entries. A statement that nobody has
judged gets q_j = 0 and c_j = 0, so its prediction is μ + b_i — the participant's (shrunk) bias, the
honest answer from ratings alone.

Uncertainty is the predictive standard deviation of the two ridge regressions, treating the other side's
factors as fixed: σ² (1 + x_jᵀ A_i⁻¹ x_j + y_iᵀ B_j⁻¹ y_i), σ² the residual variance on the hold-out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from pnyx.data import MAX_UTILITY, Profile
from pnyx.scale import MIDPOINT
from pnyx.queries import register_discriminative
from pnyx.queries.base import DiscriminativeBackend, Prediction, require_judgments

RANKS = (0, 2, 5, 10)
REGS = (1.0, 3.0, 10.0, 30.0)
MIN_VALIDATION = 20


@dataclass
class BiasedMF:
    """A fitted biased matrix factorisation (arrays over the profile's rows and columns)."""

    mu: float
    user_bias: np.ndarray
    item_bias: np.ndarray
    user_factors: np.ndarray
    item_factors: np.ndarray
    rank: int
    reg: float
    sigma2: float = np.nan
    """Residual variance on the validation hold-out (NaN when fit without one)."""
    user_precision_inv: np.ndarray | None = None
    item_precision_inv: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def predict(self, rows: np.ndarray | None = None, cols: np.ndarray | None = None) -> np.ndarray:
        rows = slice(None) if rows is None else rows
        cols = slice(None) if cols is None else cols
        return (
            self.mu
            + self.user_bias[rows][:, None]
            + self.item_bias[cols][None, :]
            + self.user_factors[rows] @ self.item_factors[cols].T
        )

    def predictive_sd(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """σ·sqrt(1 + xᵀA⁻¹x + yᵀB⁻¹y) for every (row, col) pair."""
        x = np.hstack([self.item_factors[cols], np.ones((len(cols), 1))])  # what row i regresses on
        y = np.hstack([self.user_factors[rows], np.ones((len(rows), 1))])  # what column j regresses on
        var_u = _quadratic_forms(self.user_precision_inv[rows], x)  # (rows, cols)
        var_i = _quadratic_forms(self.item_precision_inv[cols], y).T
        return np.sqrt(self.sigma2 * (1.0 + var_u + var_i))


def _quadratic_forms(inv: np.ndarray, x: np.ndarray) -> np.ndarray:
    """out[a, b] = x_bᵀ inv_a x_b for a batch of matrices ``inv`` (A×d×d) and vectors ``x`` (B×d)."""
    d = x.shape[1]
    outer = (x[:, :, None] * x[:, None, :]).reshape(len(x), d * d)
    return inv.reshape(len(inv), d * d) @ outer.T


class _Entries:
    """The observed entries of an n×m matrix as two sparse layouts (by row and by column) of one ordering."""

    def __init__(self, observed: np.ndarray, values: np.ndarray):
        n, m = observed.shape
        flat = np.flatnonzero(observed)  # row-major: already in CSR order
        self.n, self.m = n, m
        self.rows, self.cols = flat // m, flat % m
        self.values = values.ravel()[flat]
        self.by_row = sp.csr_matrix((np.ones(len(flat)), self.cols, np.r_[0, np.cumsum(np.bincount(self.rows, minlength=n))]), shape=(n, m))
        self.col_order = np.argsort(self.cols, kind="stable")
        self.by_col = sp.csr_matrix(
            (np.ones(len(flat)), self.rows[self.col_order], np.r_[0, np.cumsum(np.bincount(self.cols, minlength=m))]), shape=(m, n)
        )

    def with_data(self, layout: sp.csr_matrix, data: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix((data, layout.indices, layout.indptr), shape=layout.shape)


def _ridge_half_step(mask: sp.csr_matrix, resid: sp.csr_matrix, design: np.ndarray, reg: float, *, inverse: bool = False):
    """Solve, for every row a of ``mask``, min_w Σ_{b observed} (resid_ab − w·design_b)² + reg‖w‖².

    Returns the solutions (A×d) and, if asked, the A×d×d inverses of the normal matrices.
    """
    d = design.shape[1]
    outer = (design[:, :, None] * design[:, None, :]).reshape(len(design), d * d)
    gram = np.asarray(mask @ outer).reshape(-1, d, d) + reg * np.eye(d)
    rhs = np.asarray(resid @ design)
    if not inverse:
        return np.linalg.solve(gram, rhs[:, :, None])[:, :, 0], None
    inv = np.linalg.inv(gram)
    return np.einsum("akl,al->ak", inv, rhs), inv


DENSE_MIN_DENSITY = 0.03
"""From this share of observed entries on, ALS runs on dense row blocks (BLAS products over the
observed mask) instead of sparse products: at Polis-like densities that is several times faster."""
BLOCK_ROWS = 32_768


DENSE_MIN_ENTRIES = 100_000
SELECT_MAX_ENTRIES = 400_000
"""Above this many observed judgments, rank and λ are chosen on a seeded sample of participants
holding about this many (the final fit uses everyone)."""


def _dense_layout(observed: np.ndarray) -> bool:
    n, m = observed.shape
    count = np.count_nonzero(observed)
    return m <= 4096 and count >= DENSE_MIN_ENTRIES and count >= DENSE_MIN_DENSITY * n * m


def _outer(X: np.ndarray) -> np.ndarray:
    return (X[:, :, None] * X[:, None, :]).reshape(len(X), -1)


def _solve(gram: np.ndarray, rhs: np.ndarray, inverse: bool):
    if not inverse:
        return np.linalg.solve(gram, rhs[:, :, None])[:, :, 0], None
    inv = np.linalg.inv(gram)
    return np.einsum("akl,al->ak", inv, rhs), inv


def _masked_residual(U: np.ndarray, offset: np.ndarray, mask: np.ndarray, out: np.ndarray) -> None:
    """out = U − offset where ``mask``, 0 elsewhere (unobserved entries may be NaN), without temporaries."""
    out.fill(0)
    np.subtract(U, offset, out=out, where=mask)


def _fit_dense(U: np.ndarray, mask: np.ndarray, rank: int, reg: float, n_iter: int, seed: int) -> BiasedMF:
    """ALS as :func:`fit_biased_mf`, one pass over row blocks per sweep: each block's rows are solved
    from products of its dense observed mask with the statements' outer products, and the same block
    adds its (new) rows' statistics to the statements' normal equations."""
    n, m = U.shape
    dt = np.dtype(np.float32 if U.dtype == np.float32 else np.float64)
    blocks = [slice(s, min(s + BLOCK_ROWS, n)) for s in range(0, n, BLOCK_ROWS)]
    total = sum(float(np.where(mask[b], U[b], 0).sum(dtype=np.float64)) for b in blocks)
    count = int(np.count_nonzero(mask))
    mu = total / count if count else 2.0
    rng = np.random.default_rng(seed)
    P = rng.normal(0.0, 0.1, (n, rank))
    Q = rng.normal(0.0, 0.1, (m, rank))
    b, c = np.zeros(n), np.zeros(m)
    d = rank + 1
    eye = reg * np.eye(d)
    inv_u = inv_i = None
    O_buf, R_buf = np.empty((min(n, BLOCK_ROWS), m), dt), np.empty((min(n, BLOCK_ROWS), m), dt)
    for it in range(n_iter):
        last = it == n_iter - 1
        X = np.hstack([Q, np.ones((m, 1))])
        outer_x = _outer(X).astype(dt)
        col_gram, col_rhs = np.zeros((m, d * d)), np.zeros((m, d))
        if last:
            inv_u = np.empty((n, d, d))
        for blk in blocks:
            M = mask[blk]
            O, R = O_buf[:M.shape[0]], R_buf[:M.shape[0]]
            np.copyto(O, M)  # (much faster than M.astype in numpy 2.3)
            _masked_residual(U[blk], dt.type(mu) + c.astype(dt), M, R)
            sol, inv = _solve((O @ outer_x).reshape(-1, d, d) + eye, R @ X.astype(dt), last)
            P[blk], b[blk] = sol[:, :rank], sol[:, rank]
            if last:
                inv_u[blk] = inv
            Y = np.hstack([P[blk], np.ones((O.shape[0], 1))])
            col_gram += O.T @ _outer(Y).astype(dt)
            _masked_residual(U[blk], dt.type(mu) + b[blk, None].astype(dt), M, R)
            col_rhs += R.T @ Y.astype(dt)
        sol, inv_i = _solve(col_gram.reshape(m, d, d) + eye, col_rhs, last)
        Q, c = sol[:, :rank], sol[:, rank]
    return BiasedMF(mu, b, c, P, Q, rank, reg, user_precision_inv=inv_u, item_precision_inv=inv_i,
                    info={"layout": "dense row blocks"})


def fit_biased_mf(
    U: np.ndarray,
    observed: np.ndarray,
    *,
    rank: int = 5,
    reg: float = 5.0,
    n_iter: int = 15,
    seed: int = 0,
    entries: _Entries | None = None,
) -> BiasedMF:
    """Fit ``U[observed] ≈ μ + b_i + c_j + p_i·q_j`` by ALS (rank 0 = biases only).

    With at least :data:`DENSE_MIN_ENTRIES` observed, :data:`DENSE_MIN_DENSITY` of all entries (and
    ``entries`` not given) the sweeps run on dense row blocks, else on sparse products; the two
    compute the same fit (float32 products for a float32 ``U``)."""
    if entries is None and _dense_layout(observed):
        return _fit_dense(U, observed, rank, reg, n_iter, seed)
    e = entries if entries is not None else _Entries(observed, U)
    n, m = e.n, e.m
    mu = float(e.values.mean()) if len(e.values) else MIDPOINT
    rng = np.random.default_rng(seed)
    P = rng.normal(0.0, 0.1, (n, rank))
    Q = rng.normal(0.0, 0.1, (m, rank))
    b, c = np.zeros(n), np.zeros(m)
    inv_u = inv_i = None
    for it in range(n_iter):
        last = it == n_iter - 1
        # rows: regress (u_ij − μ − c_j) on [q_j, 1] → [p_i, b_i]
        resid = e.with_data(e.by_row, e.values - mu - c[e.cols])
        sol, inv_u = _ridge_half_step(e.by_row, resid, np.hstack([Q, np.ones((m, 1))]), reg, inverse=last)
        P, b = sol[:, :rank], sol[:, rank]
        # columns: regress (u_ij − μ − b_i) on [p_i, 1] → [q_j, c_j]
        resid = e.with_data(e.by_col, (e.values - mu - b[e.rows])[e.col_order])
        sol, inv_i = _ridge_half_step(e.by_col, resid, np.hstack([P, np.ones((n, 1))]), reg, inverse=last)
        Q, c = sol[:, :rank], sol[:, rank]
    return BiasedMF(mu, b, c, P, Q, rank, reg, user_precision_inv=inv_u, item_precision_inv=inv_i)


def holdout_mask(observed: np.ndarray, frac: float, seed: int) -> np.ndarray:
    """A seeded random ``frac`` of the observed entries, as a boolean mask."""
    rng = np.random.default_rng(seed)
    idx = np.flatnonzero(observed)
    pick = rng.choice(idx, size=max(1, int(round(frac * len(idx)))), replace=False)
    mask = np.zeros(observed.size, dtype=bool)
    mask[pick] = True
    return mask.reshape(observed.shape)


def select_biased_mf(
    U: np.ndarray,
    observed: np.ndarray,
    *,
    ranks: Sequence[int] = RANKS,
    regs: Sequence[float] = REGS,
    n_iter: int = 15,
    val_frac: float = 0.1,
    seed: int = 0,
) -> BiasedMF:
    """Choose rank and λ by RMSE on a seeded hold-out of the observed entries, then refit on all of them.

    With fewer than :data:`MIN_VALIDATION` observed entries there is nothing to validate on: biases only,
    with the strongest λ of the grid, and a residual standard deviation of one rating point.
    """
    n_obs = int(observed.sum())
    if n_obs < MIN_VALIDATION:
        model = fit_biased_mf(U, observed, rank=0, reg=max(regs), n_iter=n_iter, seed=seed)
        model.sigma2 = 1.0
        model.info = {"validation": f"skipped: only {n_obs} observed judgments"}
        return model
    sample = None
    if n_obs > SELECT_MAX_ENTRIES:
        rng = np.random.default_rng(seed)
        size = int(np.ceil(U.shape[0] * SELECT_MAX_ENTRIES / n_obs))
        sample = np.sort(rng.choice(U.shape[0], size=size, replace=False))
    Us, Os = (U, observed) if sample is None else (U[sample], observed[sample])
    val = holdout_mask(Os, val_frac, seed)
    mask = Os & ~val
    train = None if _dense_layout(mask) else _Entries(mask, Us)
    vr, vc = np.nonzero(val)
    scores = {}
    for rank in ranks:
        for reg in regs:
            fit = fit_biased_mf(Us, mask, rank=rank, reg=reg, n_iter=n_iter, seed=seed, entries=train)
            pred = fit.mu + fit.user_bias[vr] + fit.item_bias[vc] + np.einsum("ak,ak->a", fit.user_factors[vr], fit.item_factors[vc])
            scores[(rank, reg)] = float(np.sqrt(np.mean((np.clip(pred, 0.0, MAX_UTILITY) - Us[vr, vc]) ** 2)))
    rank, reg = min(scores, key=scores.get)
    model = fit_biased_mf(U, observed, rank=rank, reg=reg, n_iter=n_iter, seed=seed)
    model.sigma2 = scores[(rank, reg)] ** 2
    model.info = {**model.info, "validation_rmse": scores[(rank, reg)],
                  "grid": {f"rank={r},reg={l}": s for (r, l), s in scores.items()}}
    if sample is not None:
        model.info["selected_on"] = {"participants": int(sample.size), "judgments": int(np.count_nonzero(Os))}
    return model


@register_discriminative("cf")
class CollaborativeFiltering(DiscriminativeBackend):
    """Biased matrix factorisation over the observed judgments (see the module docstring)."""

    name = "cf"
    needs_judgments = True
    model = "biased-mf"

    def __init__(self, *, ranks: Sequence[int] = RANKS, regs: Sequence[float] = REGS,
                 n_iter: int = 15, seed: int = 0, cache: Any = None, executor: Any = None):
        self.ranks, self.regs, self.n_iter, self.seed = tuple(ranks), tuple(regs), n_iter, seed

    def fit(self, profile: Profile) -> BiasedMF:
        return select_biased_mf(profile.utilities, profile.observed, ranks=self.ranks, regs=self.regs,
                                n_iter=self.n_iter, seed=self.seed)

    def fitted(self, profile: Profile, hidden: np.ndarray) -> "FittedCF":
        """This backend fit once, on ``profile``'s observed judgments less those under ``hidden``: one fit
        that both scores the hidden judgments (they are held out from it) and imputes the profile (where
        observed entries keep their observed values), instead of a fit for each.

        Returns
        -------
        FittedCF
            Predicts for ``profile``'s participants and statements, and for statements added later
            (nobody judged them: μ + b_i, as a refit would give).
        """
        require_judgments(profile, self.name)
        fit = select_biased_mf(profile.utilities, profile.observed & ~np.asarray(hidden, dtype=bool),
                               ranks=self.ranks, regs=self.regs, n_iter=self.n_iter, seed=self.seed)
        fit.info["held_out_of_fit"] = int(np.count_nonzero(hidden))
        return FittedCF(fit, profile.n)

    def predict(self, profile: Profile, participants: Sequence[int] | None = None,
                statements: Sequence[int] | None = None) -> Prediction:
        require_judgments(profile, self.name)
        rows = np.arange(profile.n) if participants is None else np.asarray(participants, dtype=int)
        cols = np.arange(profile.m) if statements is None else np.asarray(statements, dtype=int)
        fit = self.fit(profile)
        dtype = profile.utilities.dtype if profile.utilities.dtype == np.float32 else np.float64
        utilities = np.empty((rows.size, cols.size), dtype)
        sd = np.empty_like(utilities)
        for at in range(0, rows.size, BLOCK_ROWS):  # bounded temporaries, written into the result's dtype
            block = rows[at:at + BLOCK_ROWS]
            utilities[at:at + BLOCK_ROWS] = np.clip(fit.predict(block, cols), 0.0, MAX_UTILITY)
            sd[at:at + BLOCK_ROWS] = fit.predictive_sd(block, cols)
        return Prediction(
            utilities=utilities,
            participants=rows,
            statements=cols,
            backend=self.name,
            model=self.model,
            uncertainty=sd,
            info={"rank": fit.rank, "reg": fit.reg, **fit.info},
        )


class FittedCF(CollaborativeFiltering):
    """:class:`CollaborativeFiltering` with its fit done once (:meth:`CollaborativeFiltering.fitted`)."""

    def __init__(self, model: BiasedMF, n: int):
        super().__init__()
        self.model_fit, self.n = model, n

    def fit(self, profile: Profile) -> BiasedMF:
        if profile.n != self.n:
            raise ValueError(f"this fit is for {self.n} participants, not {profile.n}")
        f, extra = self.model_fit, profile.m - self.model_fit.item_bias.size
        if extra <= 0:
            return f
        # statements nobody judged: no bias, no factors, the prior's precision (λ·I)
        d = f.rank + 1
        inv = None if f.item_precision_inv is None else np.concatenate(
            [f.item_precision_inv, np.broadcast_to(np.eye(d) / f.reg, (extra, d, d))])
        return replace(f, item_bias=np.concatenate([f.item_bias, np.zeros(extra)]),
                       item_factors=np.vstack([f.item_factors, np.zeros((extra, f.rank))]), item_precision_inv=inv)
