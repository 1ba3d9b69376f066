"""Hybrid: stacking weights fit on observed judgments only; offline = the no-network combination."""

import numpy as np
from scipy.optimize import nnls

from pnyx.evaluate.accuracy import statement_held_out
from pnyx.queries import DISCRIMINATIVE, get_discriminative
from pnyx.queries.base import DiscriminativeBackend, Prediction
from pnyx.queries.cf import CollaborativeFiltering
from pnyx.queries.hybrid import Hybrid, simplex_least_squares

from test_cf import as_profile, low_rank


class StatementLevel(DiscriminativeBackend):
    """Knows each statement's true mean utility (what a good text model brings), nothing about people."""

    name = "level"

    def __init__(self, level):
        self.level = level

    def predict(self, profile, participants=None, statements=None):
        rows = np.arange(profile.n) if participants is None else np.asarray(participants)
        cols = np.arange(profile.m) if statements is None else np.asarray(statements)
        return Prediction(np.tile(self.level[cols], (len(rows), 1)), rows, cols, self.name)


class Noise(StatementLevel):
    name = "noise"

    def predict(self, profile, participants=None, statements=None):
        pred = super().predict(profile, participants, statements)
        pred.utilities = np.random.default_rng(len(pred.participants)).uniform(0, 4, pred.utilities.shape)
        return pred


class NoisyLevel(StatementLevel):
    """The statement's true mean plus seeded noise of a given size (a middling member)."""

    def __init__(self, level, sd, seed):
        super().__init__(level)
        self.sd, self.seed, self.name = sd, seed, f"noisy{seed}"

    def predict(self, profile, participants=None, statements=None):
        pred = super().predict(profile, participants, statements)
        pred.utilities = pred.utilities + np.random.default_rng(self.seed).normal(0, self.sd, pred.utilities.shape)
        return pred


def test_not_worse_than_its_best_member_when_the_other_is_noise():
    U, observed, truth = low_rank(n=60, m=12, density=0.6)
    profile, good = as_profile(U, observed), StatementLevel(truth.mean(axis=0))
    mae = lambda backend: statement_held_out(profile, backend).metrics["mae"]  # noqa: E731
    assert mae(Noise(good.level)) > mae(good) + 0.3  # averaging the two would cost a lot
    assert mae(Hybrid([good, Noise(good.level)])) <= mae(good) + 0.02


def test_weights_go_to_the_informative_member():
    U, observed, truth = low_rank(n=60, m=12, density=0.6)
    visible = as_profile(U, observed).hide(np.isin(np.arange(12), [3])[None, :] & observed)
    fit = Hybrid([Noise(truth.mean(axis=0)), StatementLevel(truth.mean(axis=0))]).predict(visible, statements=[3]).info["new statements"]
    assert fit["choice"] != "average" and fit["p_value"][fit["choice"]] < 0.05
    assert fit["weights"][0] < 0.05 and fit["weights"][1] > 0.5


def test_comparable_members_keep_the_simple_average():
    # six statements, two equally noisy members: no combination is reliably better than averaging them
    U, observed, truth = low_rank(n=100, m=6, density=0.9)
    level = truth.mean(axis=0)
    visible = as_profile(U, observed).hide(np.isin(np.arange(6), [0])[None, :] & observed)
    fit = Hybrid([NoisyLevel(level, 0.8, 1), NoisyLevel(level, 0.8, 2)]).predict(visible, statements=[0]).info["new statements"]
    assert fit["choice"] == "average" and fit["weights"] == [0.5, 0.5, 0.0]
    assert fit["validated_mse"]["average"] < min(fit["validated_mse"]["noisy1"], fit["validated_mse"]["noisy2"])


def test_new_statement_weights_favour_the_informative_member():
    U, observed, truth = low_rank(n=200, m=30, density=0.5)
    level = truth.mean(axis=0)
    held = 7
    visible = as_profile(U, observed).hide(np.isin(np.arange(30), [held])[None, :] & observed)
    hybrid = Hybrid([CollaborativeFiltering(ranks=(0, 2), regs=(3.0,)), StatementLevel(level), Noise(level)])
    pred = hybrid.predict(visible, statements=[held])
    weights = pred.info["new statements"]["weights"]
    assert pred.label == "hybrid:cf+level+noise"
    assert weights[1] > 0.5 and abs(weights[2]) < 0.05
    rows = np.flatnonzero(observed[:, held])
    err = lambda p: np.mean(np.abs(p - U[rows, held]))  # noqa: E731
    cf_only = CollaborativeFiltering(ranks=(0, 2), regs=(3.0,)).predict(visible, statements=[held]).utilities[rows, 0]
    assert err(pred.utilities[rows, 0]) < err(cf_only)


def test_simplex_least_squares_matches_nnls_with_a_heavy_sum_row():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([0.7, -0.4, 0.7]) + rng.normal(0, 0.1, 200)
    w = simplex_least_squares(X, y)
    oracle = nnls(np.vstack([X, 1e4 * np.ones(3)]), np.r_[y, 1e4])[0]  # Σw = 1 as a heavily weighted row
    np.testing.assert_allclose(w, oracle, atol=1e-3)
    assert w.min() >= 0 and abs(w.sum() - 1) < 1e-12 and w[1] == 0


def test_hidden_values_never_reach_the_fit():
    U, observed, _ = low_rank(n=80, m=12, density=0.6)
    hide = np.zeros_like(observed)
    hide[:, 4] = observed[:, 4]
    other = U.copy()
    other[hide] = 4 - other[hide]  # change every hidden value
    hybrid = Hybrid(["cf"], config={"cf": {"ranks": (0, 2), "regs": (3.0,)}})
    a = hybrid.predict(as_profile(U, observed).hide(hide), statements=[4])
    b = hybrid.predict(as_profile(other, observed).hide(hide), statements=[4])
    np.testing.assert_array_equal(a.utilities, b.utilities)


def test_known_statements_use_entry_folds_and_carry_uncertainty():
    U, observed, _ = low_rank(n=120, m=20, density=0.4)
    hybrid = Hybrid([CollaborativeFiltering(ranks=(0, 3), regs=(3.0,)), Noise(np.zeros(20))])
    pred = hybrid.predict(as_profile(U, observed))
    assert "known statements" in pred.info and "new statements" not in pred.info
    fit = pred.info["known statements"]
    assert fit["choice"] in ("cf", "stack") and fit["weights"][0] > 0.5 and fit["weights"][1] < 0.05  # cf carries them
    assert np.all(pred.uncertainty > 0) and pred.utilities.min() >= 0 and pred.utilities.max() <= 4


def test_offline_combines_the_installed_no_network_backends():
    backend = get_discriminative("offline")
    if "text" in DISCRIMINATIVE:
        assert isinstance(backend.judged, Hybrid) and backend.model == "cf+text"
    else:
        assert isinstance(backend.judged, CollaborativeFiltering)


def test_one_judged_statement_predicts_new_ones_by_the_participant_mean():
    """Statement held out on two statements leaves one judged statement: no statement fold can be hidden to
    fit the new-statement weights on, so the hybrid predicts the participant mean and says so (it used to
    hide everything and fail with "this data has none")."""
    U = np.array([[1.0, 4], [0, 3], [2, 2], [4, 1], [3, 0], [1, 3]])
    profile = as_profile(U, np.ones_like(U, dtype=bool))
    hybrid = Hybrid(["cf", "text"])
    visible = profile.hide(np.eye(2, dtype=bool)[[1] * len(U)])
    pred = hybrid.predict(visible, None, [1])
    assert np.allclose(pred.utilities[:, 0], U[:, 0])
    assert pred.info["new statements"]["weights"].startswith("participant mean only")
    report = statement_held_out(profile, hybrid)
    assert report.info["held_out"] == U.size
