"""Collaborative filtering: biased matrix factorisation fit by alternating least squares.

The model (Koren, Bell & Volinsky, "Matrix factorization techniques for recommender systems",
IEEE Computer 2009, eq. 4) predicts participant i's utility for statement j as

    û_ij = μ + b_i + c_j + p_i · q_j

with global mean μ, participant bias b_i, statement bias c_j and rank-r factors p_i, q_j, fit on the
observed utilities (0–4 scale; Polis votes mapped by :func:`pnyx.data.to_utility`, passes included)
by minimising squared error + λ(‖p‖² + ‖q‖² + b² + c²). Each half-step of ALS is a batch of small
ridge regressions, one per row (or column), solved together in numpy.

The rank and λ are chosen by a seeded hold-out of the observed entries (on large data: on a sample of
participants, by a greedy walk over the grid, :func:`select_biased_mf`). A statement that nobody has
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

    def predict(self, rows: np.ndarray | None = None, cols: np.ndarray | None = None, *,
                out: np.ndarray | None = None) -> np.ndarray:
        """μ + b_i + c_j + p_i·q_j for every (row, col) pair (unclipped), as one product [p_i, b_i, 1] ·
        [q_j, 1, μ + c_j], computed in ``out``'s dtype (float64 when not given) and written into it if given."""
        rows = slice(None) if rows is None else rows
        cols = slice(None) if cols is None else cols
        dt = np.float64 if out is None else out.dtype
        P, b = self.user_factors[rows], self.user_bias[rows]
        Q, c = self.item_factors[cols], self.item_bias[cols]
        left = np.hstack([P, b[:, None], np.ones((len(b), 1))]).astype(dt)
        right = np.hstack([Q, np.ones((len(c), 1)), self.mu + c[:, None]]).astype(dt)
        return np.matmul(left, right.T, out=out)

    def predictive_sd(self, rows: np.ndarray, cols: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
        """σ·sqrt(1 + xᵀA⁻¹x + yᵀB⁻¹y) for every (row, col) pair, as one product of the packed inverses and
        outer products, computed in ``out``'s dtype (float64 when not given) and written into it if given."""
        dt = np.float64 if out is None else out.dtype
        x = np.hstack([self.item_factors[cols], np.ones((len(cols), 1))])  # what row i regresses on
        y = np.hstack([self.user_factors[rows], np.ones((len(rows), 1))])  # what column j regresses on
        d = x.shape[1]
        t = d * (d + 1) // 2
        # [A⁻¹ (full), packed y yᵀ, 1] · [x xᵀ (full), packed B⁻¹, 1]: the rows' side needs no gather
        left, right = np.empty((len(y), d * d + t + 1), dt), np.empty((len(x), d * d + t + 1))
        left[:, :d * d], left[:, d * d:-1], left[:, -1] = self.user_precision_inv[rows].reshape(len(y), -1), _outer_packed(y), 1
        right[:, :d * d], right[:, d * d:-1], right[:, -1] = (x[:, :, None] * x[:, None, :]).reshape(len(x), -1), \
            _packed_inverse(self.item_precision_inv[cols]), 1
        out = np.matmul(left, (self.sigma2 * right.T).astype(dt), out=out)
        return np.sqrt(out, out=out)


def _packed_inverse(inv: np.ndarray) -> np.ndarray:
    """The lower triangles of symmetric matrices (A×d×d) in :func:`_outer_packed` order, off-diagonal
    entries doubled: a row times a packed outer product x xᵀ is the quadratic form xᵀ inv x."""
    d = inv.shape[1]
    i, j = np.tril_indices(d)
    return inv.reshape(len(inv), d * d)[:, i * d + j] * np.where(i == j, 1.0, 2.0)


def _outer_packed(X: np.ndarray) -> np.ndarray:
    """x_k x_l for every row x of X (R×d) and every k ≥ l, in :func:`numpy.tril_indices` order (R×d(d+1)/2)."""
    i, j = np.tril_indices(X.shape[1])
    return X[:, i] * X[:, j]


def _ridge_solve(gram: np.ndarray, rhs: np.ndarray, reg: float, inverse: bool):
    """Solve (G_a + reg·I) w_a = r_a for every a, by a Cholesky factorisation vectorised over a.

    ``gram`` holds the packed lower triangles (:func:`_outer_packed` order) as rows, one column per system
    (t×A), ``rhs`` is d×A. The loops run over the d ≤ 11 coordinates, each step over all A systems at once
    (``numpy.linalg.solve`` on A small matrices costs a LAPACK call each). Returns the solutions (A×d) and,
    if asked, the inverses (A×d×d).
    """
    d, count = rhs.shape
    i, j = np.tril_indices(d)
    G = np.zeros((d, d, count))
    G[i, j] = gram
    G[np.arange(d), np.arange(d)] += reg
    L = np.zeros_like(G)
    for k in range(d):  # column k of L, from the columns left of it
        diag = G[k, k] - np.einsum("ln,ln->n", L[k, :k], L[k, :k])
        L[k, k] = np.sqrt(diag)
        L[k + 1:, k] = (G[k + 1:, k] - np.einsum("iln,ln->in", L[k + 1:, :k], L[k, :k])) / L[k, k]
    y = np.empty((d, count))
    for k in range(d):  # L y = r
        y[k] = (rhs[k] - np.einsum("ln,ln->n", L[k, :k], y[:k])) / L[k, k]
    if not inverse:
        w = np.empty((d, count))
        for k in reversed(range(d)):  # Lᵀ w = y
            w[k] = (y[k] - np.einsum("ln,ln->n", L[k + 1:, k], w[k + 1:])) / L[k, k]
        return w.T, None
    Linv = np.zeros_like(G)
    for k in range(d):  # L Linv = I, row by row
        Linv[k] = (np.eye(d)[k][:, None] - np.einsum("ln,lcn->cn", L[k, :k], Linv[:k])) / L[k, k]
    inv = np.einsum("kin,kcn->nic", Linv, Linv)  # (L Lᵀ)⁻¹ = Linvᵀ Linv
    return np.einsum("nic,cn->ni", inv, rhs), inv


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
    gram = np.asarray(mask @ _outer_packed(design)).T
    return _ridge_solve(gram, np.asarray(resid @ design).T, reg, inverse)


DENSE_MIN_DENSITY = 0.03
"""From this share of observed entries on, ALS runs on dense row blocks (BLAS products over the
observed mask) instead of sparse products: at Polis-like densities that is several times faster."""
BLOCK_ROWS = 32_768


DENSE_MIN_ENTRIES = 100_000
SELECT_MAX_ENTRIES = 400_000
"""Above this many observed judgments, rank and λ are chosen on a seeded sample of participants
holding about this many (the final fit uses everyone)."""
WARM_SWEEPS = 4
"""ALS sweeps of the final fit on everyone after a selection on a sample: started from the sample's fit
of the chosen rank and λ instead of random factors. On the 10⁵-participant synthetic votes of
``benchmarks/scale.py`` (2 % of the votes held out) 2 to 8 such sweeps all reach the held-out RMSE of 40
sweeps from a random start (1.104), which 15 random-start sweeps do not (1.107); at 10⁶ (1 % held out,
226,139 agree/disagree votes) sign accuracy 0.8991 against 0.8995 for 15 random-start sweeps (paired
difference −0.0004 ± 0.0010), RMSE 1.1156 against 1.1162."""


def _dense_layout(observed: np.ndarray) -> bool:
    n, m = observed.shape
    count = np.count_nonzero(observed)
    return m <= 4096 and count >= DENSE_MIN_ENTRIES and count >= DENSE_MIN_DENSITY * n * m


def _start(n: int, m: int, rank: int, seed: int, mu: float, start: BiasedMF | None):
    """ALS's starting point: seeded small random factors and zero biases, or ``start``'s statement factors
    and biases (re-centred on ``mu``); the first half-step solves the participants' side from them."""
    if start is not None:
        return np.zeros((n, rank)), start.item_factors.copy(), np.zeros(n), start.item_bias + (start.mu - mu)
    rng = np.random.default_rng(seed)
    P = rng.normal(0.0, 0.1, (n, rank))
    Q = rng.normal(0.0, 0.1, (m, rank))
    return P, Q, np.zeros(n), np.zeros(m)


def _fit_dense(U: np.ndarray, mask: np.ndarray, rank: int, reg: float, n_iter: int, seed: int,
               start: BiasedMF | None = None) -> BiasedMF:
    """ALS as :func:`fit_biased_mf`, one pass over row blocks per sweep. A block is held as its observed mask
    O and centred utilities Z = (u − μ)·O (held once for all sweeps when there is one block); with the
    residual r_ij = z_ij − o_ij c_j, a row's normal equations are products of O and Z with the
    statements' (packed) outer products, and the same block adds its new rows' statistics to the
    statements' normal equations — every product a BLAS one over the block, no other n × m temporary."""
    n, m = U.shape
    dt = np.dtype(np.float32 if U.dtype == np.float32 else np.float64)
    blocks = [slice(s, min(s + BLOCK_ROWS, n)) for s in range(0, n, BLOCK_ROWS)]
    count = int(np.count_nonzero(mask))
    # fmax turns NaN into floor and keeps every value ≥ floor: (fmax(u, floor) − μ)·o is 0 where unobserved
    floor = np.fmin.reduce(U, axis=None) if U.size else 0.0
    floor = dt.type(0.0 if np.isnan(floor) else min(floor, 0.0))
    O_buf, Z_buf = np.empty((min(n, BLOCK_ROWS), m), dt), np.empty((min(n, BLOCK_ROWS), m), dt)

    def load(blk: slice, mu: float) -> tuple[np.ndarray, np.ndarray]:
        O, Z = O_buf[:blk.stop - blk.start], Z_buf[:blk.stop - blk.start]
        np.copyto(O, mask[blk])  # (much faster than mask.astype in numpy 2.3)
        np.fmax(U[blk], floor, out=Z)
        Z -= dt.type(mu)
        Z *= O
        return O, Z

    total = sum(float(load(blk, 0.0)[1].sum(dtype=np.float64)) for blk in blocks)
    mu = total / count if count else MIDPOINT
    held = load(blocks[0], mu) if len(blocks) == 1 else None
    P, Q, b, c = _start(n, m, rank, seed, mu, start)
    t = (rank + 1) * (rank + 2) // 2
    inv_u = inv_i = None
    for it in range(n_iter):
        last = it == n_iter - 1
        X = np.hstack([Q, np.ones((m, 1))])
        # per statement: its packed outer product and c_j x_j (the item bias term of the row residuals)
        item = np.hstack([_outer_packed(X), c[:, None] * X]).astype(dt)
        Xd = X.astype(dt)
        col_stats, col_z = np.zeros((m, item.shape[1])), np.zeros((m, rank + 1))
        if last:
            inv_u = np.empty((n, rank + 1, rank + 1), dt)  # (float32 for float32 utilities: held for the run)
        for blk in blocks:
            O, Z = held if held is not None else load(blk, mu)
            stats = O @ item  # rows × (t + d): packed gram, then Σ_j o_ij c_j x_j
            sol, inv = _ridge_solve(stats[:, :t].T, (Z @ Xd - stats[:, t:]).T, reg, last)
            P[blk], b[blk] = sol[:, :rank], sol[:, rank]
            if last:
                inv_u[blk] = inv
            Y = np.hstack([P[blk], np.ones((O.shape[0], 1))])
            col_stats += O.T @ np.hstack([_outer_packed(Y), b[blk, None] * Y]).astype(dt)
            col_z += Z.T @ Y.astype(dt)
        sol, inv_i = _ridge_solve(col_stats[:, :t].T, (col_z - col_stats[:, t:]).T, reg, last)
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
    start: BiasedMF | None = None,
) -> BiasedMF:
    """Fit ``U[observed] ≈ μ + b_i + c_j + p_i·q_j`` by ALS (rank 0 = biases only).

    Parameters
    ----------
    U, observed
        Utilities on the 0–4 scale (NaN allowed where not observed) and the entries to fit.
    rank, reg, n_iter, seed
        Factor rank, λ, ALS sweeps (each: all participants, then all statements) and the seed of the
        random start.
    entries
        The observed entries already in sparse layouts (forces sparse products).
    start
        A fit of the same statements (same rank) to start from instead of random factors: its statement
        factors and biases.

    Returns
    -------
    BiasedMF
        With the precision inverses of the last sweep (for :meth:`BiasedMF.predictive_sd`).

    With at least :data:`DENSE_MIN_ENTRIES` observed, :data:`DENSE_MIN_DENSITY` of all entries (and
    ``entries`` not given) the sweeps run on dense row blocks, else on sparse products; the two
    compute the same fit (float32 products for a float32 ``U``)."""
    if entries is None and _dense_layout(observed):
        return _fit_dense(U, observed, rank, reg, n_iter, seed, start)
    e = entries if entries is not None else _Entries(observed, U)
    n, m = e.n, e.m
    mu = float(e.values.mean()) if len(e.values) else MIDPOINT
    P, Q, b, c = _start(n, m, rank, seed, mu, start)
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


GREEDY_SEARCH = ("greedy: per rank (smallest first) λ from the largest down until the hold-out RMSE gets worse; "
                 "ranks until one does no better than the best before it")


def _search(U: np.ndarray, mask: np.ndarray, val: np.ndarray, ranks: Sequence[int], regs: Sequence[float],
            n_iter: int, seed: int, *, greedy: bool) -> tuple[dict[tuple[int, float], float], BiasedMF]:
    """Hold-out RMSE of fits on ``mask`` scored on ``val``: every (rank, λ) of the grid, or, ``greedy``, the
    walk of :data:`GREEDY_SEARCH` (it finds the grid's best when the RMSE is unimodal along λ and along
    rank, as on the vote profiles of benchmarks/scale.py). Returns the scores of the fits made and the
    best fit (the first of equal scores in the walk's order)."""
    train = None if _dense_layout(mask) else _Entries(mask, U)
    vr, vc = np.nonzero(val)
    scores: dict[tuple[int, float], float] = {}
    best: BiasedMF | None = None
    for rank in (sorted(ranks) if greedy else ranks):
        rank_best = np.inf
        for reg in (sorted(regs, reverse=True) if greedy else regs):
            fit = fit_biased_mf(U, mask, rank=rank, reg=reg, n_iter=n_iter, seed=seed, entries=train)
            pred = fit.mu + fit.user_bias[vr] + fit.item_bias[vc] + np.einsum("ak,ak->a", fit.user_factors[vr], fit.item_factors[vc])
            score = scores[(rank, reg)] = float(np.sqrt(np.mean((np.clip(pred, 0.0, MAX_UTILITY) - U[vr, vc]) ** 2)))
            if best is None or score < scores[(best.rank, best.reg)]:
                best = fit
            if greedy and score > rank_best:
                break
            rank_best = min(rank_best, score)
        if greedy and best.rank != rank:
            break
    return scores, best


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

    Parameters
    ----------
    U, observed
        Utilities on the 0–4 scale and the entries observed.
    ranks, regs
        The grid of ranks and λ.
    n_iter, val_frac, seed
        ALS sweeps per fit, the share of the observed entries held out to score the grid, the seed.

    Returns
    -------
    BiasedMF
        The refit, with ``sigma2`` the chosen fit's hold-out mean squared error and the scores in ``info``.

    With fewer than :data:`MIN_VALIDATION` observed entries there is nothing to validate on: biases only,
    with the strongest λ of the grid, and a residual standard deviation of one rating point. Above
    :data:`SELECT_MAX_ENTRIES` the choice is made on a seeded sample of participants by the walk of
    :data:`GREEDY_SEARCH` instead of the whole grid, and the refit on everyone starts from the sample's
    chosen fit for :data:`WARM_SWEEPS` sweeps (``info``: ``selected_on``, ``search``, ``warm_sweeps``).
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
    scores, best = _search(Us, Os & ~val, val, ranks, regs, n_iter, seed, greedy=sample is not None)
    rank, reg = best.rank, best.reg
    if sample is None:
        model = fit_biased_mf(U, observed, rank=rank, reg=reg, n_iter=n_iter, seed=seed)
    else:  # from the sample's fit: its statements' factors are a good start, and a few sweeps converge
        model = fit_biased_mf(U, observed, rank=rank, reg=reg, n_iter=min(n_iter, WARM_SWEEPS), seed=seed,
                              start=best)
        model.info["warm_sweeps"] = min(n_iter, WARM_SWEEPS)
        model.info["search"] = GREEDY_SEARCH
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
        for at in range(0, rows.size, BLOCK_ROWS):  # bounded temporaries, computed in the result's dtype
            block = rows[at:at + BLOCK_ROWS]
            u = fit.predict(block, cols, out=utilities[at:at + BLOCK_ROWS])
            np.clip(u, 0.0, MAX_UTILITY, out=u)
            fit.predictive_sd(block, cols, out=sd[at:at + BLOCK_ROWS])
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
