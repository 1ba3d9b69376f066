"""The imputation's large-data paths (pnyx.queries.cf, Profile.with_predictions), checked against direct
computations on small data."""

from __future__ import annotations

import numpy as np
import pytest

from pnyx.data import Participant, Profile, Statement
from pnyx.queries import cf
from scale_support import votes


def test_batched_cholesky_solve_equals_numpy_solve_and_inverse():
    rng = np.random.default_rng(0)
    for d in (1, 3, 6, 11):
        A = rng.normal(size=(50, d, d + 2))
        G = A @ A.transpose(0, 2, 1)
        r = rng.normal(size=(50, d))
        i, j = np.tril_indices(d)
        sol, inv = cf._ridge_solve(G[:, i, j].T, r.T, 0.7, True)
        full = G + 0.7 * np.eye(d)
        np.testing.assert_allclose(sol, np.linalg.solve(full, r[:, :, None])[:, :, 0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(inv, np.linalg.inv(full), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(cf._ridge_solve(G[:, i, j].T, r.T, 0.7, False)[0], sol, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_predictions_and_uncertainty_by_products_equal_the_direct_formulas(dtype):
    U, observed = votes(300, 12, 0.4)
    fit = cf.fit_biased_mf(U, observed, rank=3, reg=3.0, n_iter=5)
    fit.sigma2 = 1.3
    rows, cols = np.array([5, 0, 299, 17]), np.array([11, 2, 3])
    direct = fit.mu + fit.user_bias[rows][:, None] + fit.item_bias[cols][None, :] + fit.user_factors[rows] @ fit.item_factors[cols].T
    x = np.hstack([fit.item_factors[cols], np.ones((cols.size, 1))])
    y = np.hstack([fit.user_factors[rows], np.ones((rows.size, 1))])
    var_u = np.einsum("bk,akl,bl->ab", x, fit.user_precision_inv[rows], x)
    var_i = np.einsum("ak,bkl,al->ab", y, fit.item_precision_inv[cols], y)
    sd = np.sqrt(1.3 * (1 + var_u + var_i))
    tol = 1e-12 if dtype == np.float64 else 1e-5
    out = np.empty((rows.size, cols.size), dtype)
    np.testing.assert_allclose(fit.predict(rows, cols, out=out), direct, rtol=tol)
    np.testing.assert_allclose(fit.predictive_sd(rows, cols, out=out), sd, rtol=tol)
    assert out.dtype == dtype


def test_the_greedy_search_finds_the_grid_choice_with_fewer_fits():
    U, observed = votes(1500, 30, 0.3, seed=2)
    val = cf.holdout_mask(observed, 0.1, 0)
    ranks, regs = (0, 1, 2, 4), (1.0, 3.0, 10.0, 30.0)
    grid, best = cf._search(U, observed & ~val, val, ranks, regs, 10, 0, greedy=False)
    walk, found = cf._search(U, observed & ~val, val, ranks, regs, 10, 0, greedy=True)
    assert (found.rank, found.reg) == (best.rank, best.reg) == min(grid, key=grid.get)
    assert best.rank not in (0, max(ranks))  # an interior choice: the walk had to turn
    assert len(walk) < len(grid)
    assert all(walk[k] == grid[k] for k in walk)  # the same fits, only fewer of them


def test_on_a_sample_the_refit_starts_warm_and_converges(monkeypatch):
    U, observed = votes(4000, 30, 0.3, seed=1)
    val = cf.holdout_mask(observed, 0.05, 3)
    monkeypatch.setattr(cf, "SELECT_MAX_ENTRIES", 10_000)
    model = cf.select_biased_mf(U, observed & ~val, ranks=(0, 2), regs=(3.0, 10.0))
    assert model.info["warm_sweeps"] == cf.WARM_SWEEPS and model.info["search"] == cf.GREEDY_SEARCH
    assert model.user_bias.shape == (4000,) and model.user_precision_inv.shape == (4000, model.rank + 1, model.rank + 1)
    vr, vc = np.nonzero(val)

    def rmse(fit):
        return float(np.sqrt(np.mean((np.clip(fit.predict()[vr, vc], 0, 4) - U[vr, vc]) ** 2)))

    converged = cf.fit_biased_mf(U, observed & ~val, rank=model.rank, reg=model.reg, n_iter=60)
    assert rmse(model) < rmse(converged) + 0.01


def profile_of(U, observed, uncertainty=None):
    n, m = U.shape
    return Profile(participants=[Participant(f"p{i}") for i in range(n)], statements=[Statement(f"s{j}", f"s {j}") for j in range(m)],
                   scale="rating", utilities=U.copy(), observed=observed, provenance=np.where(observed, 0, -1).astype(np.int16),
                   uncertainty=uncertainty)


@pytest.mark.parametrize("with_old_uncertainty", [False, True])
def test_reused_prediction_arrays_give_the_same_profile_as_copies(with_old_uncertainty):
    rng = np.random.default_rng(5)
    U, observed = votes(40, 9, 0.4, seed=4)
    U[0, :] = np.where(observed[0], U[0], 1.5)  # known but not observed: kept unless overwrite_observed
    old_sd = np.where(np.isnan(U), np.nan, 0.25) if with_old_uncertainty else None
    profile = profile_of(U, observed, old_sd)
    pred = rng.random(U.shape) * 5 - 0.5  # some outside 0–4: clipped
    pred[3, 4] = np.nan
    sd = rng.random(U.shape)
    for overwrite in (False, True):
        copied = profile.with_predictions(pred, "x", uncertainty=sd, overwrite_observed=overwrite)
        p2, s2 = pred.copy(), sd.copy()
        reused = profile.with_predictions(p2, "x", uncertainty=s2, overwrite_observed=overwrite, reuse=True)
        assert np.shares_memory(reused.utilities, p2) and np.shares_memory(reused.uncertainty, s2)  # no new arrays
        for name in ("utilities", "uncertainty", "provenance"):
            np.testing.assert_array_equal(getattr(reused, name), getattr(copied, name), err_msg=name)
        np.testing.assert_array_equal(profile.utilities, np.where(np.isnan(U), np.nan, U), err_msg="source untouched")
    # a part of the profile, or another dtype: copies, as without reuse
    part = profile.with_predictions(pred[:, :3], "x", cols=[0, 1, 2], reuse=True)
    np.testing.assert_array_equal(part.utilities, profile.with_predictions(pred[:, :3], "x", cols=[0, 1, 2]).utilities)
    assert profile.with_predictions(pred.astype(np.float32), "x", reuse=True).utilities.dtype == np.float64
