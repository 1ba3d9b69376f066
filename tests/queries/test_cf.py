"""Collaborative filtering: biased MF by ALS, its model selection, uncertainty, and the registry."""

import numpy as np
import pytest

from pnyx.data import InputError
from sklearn.linear_model import Ridge

from pnyx.data import Participant, Profile, Statement
from pnyx.registry import UnknownNameError
from pnyx.queries import DISCRIMINATIVE, get_discriminative, register_discriminative
from pnyx.queries.cf import CollaborativeFiltering, fit_biased_mf, holdout_mask, select_biased_mf


def low_rank(n=300, m=60, rank=3, density=0.3, noise=0.3, seed=0):
    rng = np.random.default_rng(seed)
    truth = 2.0 + rng.normal(0, 0.4, (n, 1)) + rng.normal(0, 0.5, (1, m)) + rng.normal(size=(n, rank)) @ rng.normal(size=(rank, m)) / np.sqrt(rank)
    truth = np.clip(truth, 0, 4)
    observed = rng.random((n, m)) < density
    U = np.where(observed, np.clip(truth + rng.normal(0, noise, (n, m)), 0, 4), np.nan)
    return U, observed, truth


def as_profile(U, observed):
    n, m = U.shape
    return Profile(participants=[Participant(f"p{i}") for i in range(n)], statements=[Statement(f"s{j}", f"statement {j}") for j in range(m)],
                   scale="rating", utilities=U, observed=observed, provenance=np.where(observed, 0, -1).astype(np.int16))


def test_rank_zero_als_equals_ridge_on_one_hot_biases():
    # rank 0 is the convex model u_ij = μ + b_i + c_j; ALS must reach sklearn's ridge solution
    U, observed, _ = low_rank(n=40, m=15, density=0.5)
    reg = 3.0
    fit = fit_biased_mf(U, observed, rank=0, reg=reg, n_iter=300)
    r, c = np.nonzero(observed)
    X = np.hstack([np.eye(40)[r], np.eye(15)[c]])
    oracle = Ridge(alpha=reg, fit_intercept=False, tol=1e-12, solver="cholesky").fit(X, U[r, c] - fit.mu)
    np.testing.assert_allclose(fit.user_bias, oracle.coef_[:40], atol=1e-6)
    np.testing.assert_allclose(fit.item_bias, oracle.coef_[40:], atol=1e-6)


def test_recovers_low_rank_structure_on_held_out_entries():
    U, observed, truth = low_rank()
    val = holdout_mask(observed, 0.2, seed=1)
    model = select_biased_mf(U, observed & ~val, seed=0)
    rmse = lambda pred: float(np.sqrt(np.mean((np.clip(pred, 0, 4)[val] - U[val]) ** 2)))  # noqa: E731
    biases_only = fit_biased_mf(U, observed & ~val, rank=0, reg=3.0)
    assert model.rank > 0
    assert rmse(model.predict()) < 0.8 * rmse(biases_only.predict())
    assert rmse(model.predict()) < 0.6  # noise sd 0.3 plus clipping and estimation error


def test_seeded_and_deterministic():
    U, observed, _ = low_rank(n=80, m=20)
    a, b = select_biased_mf(U, observed, seed=3), select_biased_mf(U, observed, seed=3)
    np.testing.assert_array_equal(a.predict(), b.predict())


def test_unjudged_statement_gets_participant_bias_only():
    U, observed, _ = low_rank(n=100, m=20)
    observed[:, 5] = False
    U[:, 5] = np.nan
    profile = as_profile(U, observed)
    pred = CollaborativeFiltering().predict(profile, statements=[5])
    fit = CollaborativeFiltering().fit(profile)
    assert fit.item_bias[5] == 0 and not fit.item_factors[5].any()
    np.testing.assert_allclose(pred.utilities[:, 0], np.clip(fit.mu + fit.user_bias, 0, 4))
    assert pred.label == "cf:biased-mf"


def test_uncertainty_shrinks_with_more_observations():
    U, observed, _ = low_rank(n=200, m=40, density=0.4)
    observed[:20, 3:] = False  # the first 20 participants judged only 3 statements
    U = np.where(observed, U, np.nan)
    pred = CollaborativeFiltering().predict(as_profile(U, observed))
    sd = pred.uncertainty
    assert np.all(sd > 0) and np.all(np.isfinite(sd))
    assert sd[:20].mean() > 1.2 * sd[20:].mean()


def test_prediction_applies_to_profile_with_provenance():
    U, observed, _ = low_rank(n=50, m=10)
    profile = as_profile(U, observed)
    filled = CollaborativeFiltering().predict(profile).apply(profile)
    assert not np.isnan(filled.utilities).any()
    np.testing.assert_array_equal(filled.utilities[observed], U[observed])
    assert filled.provenance_of(*np.argwhere(~observed)[0]) == "cf:biased-mf"


def test_registry_by_name_and_decorator():
    assert isinstance(get_discriminative("cf", ranks=(0, 2)), CollaborativeFiltering)
    with pytest.raises(KeyError, match="unknown discriminative backend 'nope'.*cf"):
        get_discriminative("nope")

    @register_discriminative("test-constant")
    class Constant(CollaborativeFiltering):
        pass

    try:
        assert isinstance(get_discriminative("test-constant"), Constant)
    finally:
        DISCRIMINATIVE.unregister("test-constant")


def test_few_judgments_still_predict_and_none_is_refused(opinions_profile):
    pred = CollaborativeFiltering().predict(opinions_profile)
    assert pred.info["validation"].startswith("skipped: only 2")
    assert np.isfinite(pred.utilities).all() and (pred.uncertainty > 0).all()
    empty = opinions_profile.hide(opinions_profile.observed)
    # with nothing observed cf would predict one constant for everyone: it says so instead
    with pytest.raises(InputError, match="learns from observed judgments and this data has none"):
        CollaborativeFiltering().predict(empty)


def test_a_broken_optional_module_leaves_cf_working(monkeypatch):
    import importlib

    import pnyx.queries as queries

    real = importlib.import_module

    def flaky(name, *args):
        if name == "pnyx.queries.llm":
            raise ImportError("simulated: optional dependency missing")
        return real(name, *args)

    monkeypatch.setattr(queries, "_loaded", False)
    monkeypatch.setattr(DISCRIMINATIVE, "unavailable", {})
    monkeypatch.setattr(importlib, "import_module", flaky)
    monkeypatch.setattr(DISCRIMINATIVE, "_items", {k: v for k, v in DISCRIMINATIVE._items.items() if k != "llm"})
    with pytest.raises(UnknownNameError, match="'llm' unavailable \\(ImportError: simulated"):
        get_discriminative("llm")
    assert isinstance(get_discriminative("cf"), CollaborativeFiltering)
