"""The large-n shortcuts of a run, each checked against the plain computation on small data: the balanced
assignment's tie-spreading start (exactness vs linear_sum_assignment), one cf fit for imputation and the
vote hold-out, the audit extras on a stated participant sample, row-blocked writes of predictions, and
r-support by selection."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

import pnyx.assignment
import pnyx.evaluate.accuracy as accuracy
import pnyx.queries.cf as cf
from pnyx.assignment import balanced
from pnyx.data import Participant, Profile, Statement
from pnyx.methods.extras import audit_extras
from pnyx.pipeline import ONE_FIT, run
from pnyx.process import ProcessOptions
from pnyx.queries.extractive import column_means, observed_r_support, r_support


def optimum(V: np.ndarray) -> float:
    """Each position as ⌊n/k⌋ seats that must be filled (a large bonus) plus one optional extra seat."""
    n, k = V.shape
    q, rem = divmod(n, k)
    seats = np.repeat(np.arange(k), q + (rem > 0))
    must = np.tile(np.arange(q + (rem > 0)) < q, k)
    rows, cols = linear_sum_assignment(V[:, seats] + (np.ptp(V) + 1) * (n + 1) * must, maximize=True)
    return float(V[rows, seats[cols]].sum())


@pytest.mark.parametrize("seed", range(12))
def test_balanced_with_mass_ties_is_optimal_and_certified(seed, monkeypatch):
    """Utilities clipped at the top of the scale (many exact ties between positions), capacities that do not
    divide n, warm starts from subsample prices: the optimum of linear_sum_assignment, and every participant
    at a position maximising u_ij − p_j (complementary slackness with the returned prices)."""
    monkeypatch.setattr(pnyx.assignment, "_WARM_START_MIN", 40)
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(40, 400)), int(rng.integers(2, 9))
    V = np.clip(2 + rng.normal(0, 1.5, (n, k)), 0, 4)
    if seed % 3 == 0:
        V = np.round(V)  # few levels: ties everywhere
    result = balanced(V, range(k))
    q, rem = divmod(n, k)
    assert sorted(result.sizes.tolist()) == [q] * (k - rem) + [q + 1] * rem
    assert result.total == pytest.approx(optimum(V), abs=1e-7)
    net = V - result.prices
    assert (net[np.arange(n), result.assignment] >= net.max(axis=1) - 1e-9).all()


def test_tie_spreading_start_evens_out_tied_participants():
    V = np.full((90, 3), 4.0)  # everyone tied everywhere at prices 0
    a = pnyx.assignment._start(V, np.zeros(3))
    assert np.bincount(a, minlength=3).tolist() == [30, 30, 30]
    assert pnyx.assignment._water(np.array([5, 0, 2]), 4).tolist() == [0, 3, 1]


def votes(n: int, m: int, seed: int = 0) -> Profile:
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(n, 2)), rng.normal(size=(m, 2))
    rows, cols = np.nonzero(rng.random((n, m)) < 0.6)
    score = np.einsum("ek,ek->e", X[rows], Y[cols]) + rng.normal(0, 0.5, rows.size)
    value = np.where(score > 0.3, 1.0, np.where(score < -0.3, -1.0, 0.0))
    return Profile.from_arrays([Participant(f"p{i}") for i in range(n)],
                               [Statement(f"c{j}", f"Statement number {j} here.") for j in range(m)],
                               rows, cols, value, "vote")


def test_one_cf_fit_imputes_and_is_the_one_measured(monkeypatch):
    """On vote data whose hold-out is capped at the stated sample, the run fits cf once, without the held-out
    votes: its predictions fill every unobserved entry, the held-out votes keep their observed values and are
    scored from that same fit; the slate does not depend on whether accuracy is measured."""
    monkeypatch.setattr(accuracy, "DEFAULT_SAMPLE", 60)
    fits = []
    real = cf.select_biased_mf
    monkeypatch.setattr(cf, "select_biased_mf", lambda *a, **kw: fits.append(a[1].sum()) or real(*a, **kw))
    profile = votes(300, 12)
    result = run(profile, 4, backend="cf", measure_accuracy=True, options=ProcessOptions(seed=3))
    assert len(fits) == 1 and fits[0] == profile.observed.sum() - 60
    assert result.audit.accuracy["info"]["fit"] == ONE_FIT and result.audit.accuracy["info"]["hidden"] == 60
    hide = accuracy.vote_holdout(profile, seed=3, sample=60)
    model = cf.CollaborativeFiltering(seed=3).fitted(profile, hide)
    U = result.result.utilities[:, :profile.m]
    expected = model.predict(profile).utilities
    np.testing.assert_allclose(U[~profile.observed], expected[~profile.observed], rtol=1e-6)
    np.testing.assert_array_equal(U[profile.observed], profile.utilities[profile.observed])
    again = run(profile, 4, backend="cf", measure_accuracy=False, options=ProcessOptions(seed=3))
    assert again.result.slate == result.result.slate


def test_small_vote_data_keeps_two_fits(monkeypatch):
    fits = []
    real = cf.select_biased_mf
    monkeypatch.setattr(cf, "select_biased_mf", lambda *a, **kw: fits.append(1) or real(*a, **kw))
    result = run(votes(120, 8), 3, backend="cf", measure_accuracy=True)
    assert len(fits) == 2 and "fit" not in result.audit.accuracy["info"]


def test_extras_on_a_stated_sample_equal_the_extras_of_that_sample():
    profile = votes(400, 10, seed=1)
    U = np.nan_to_num(profile.utilities, nan=2.0)
    slate = [0, 3, 5]
    a = balanced(U, slate).assignment
    out = audit_extras(profile, U, slate, a, sample=150, bias=False)
    assert out["sample"]["participants"] == 150 and out["sample"]["of"] == 400
    rows = np.sort(np.random.default_rng(0).choice(400, 150, replace=False))
    plain = audit_extras(profile.subset(participants=rows), U[rows], slate, a[rows], sample=None, bias=False)
    assert out["maximal_lottery"] == plain["maximal_lottery"] and out["inclusion"] == plain["inclusion"]
    assert "sample" not in audit_extras(profile, U, slate, a, sample=400, bias=False)


def test_row_blocked_predictions_write_what_a_cell_loop_writes(monkeypatch):
    profile = votes(50, 7, seed=2)
    rng = np.random.default_rng(0)
    rows, cols = np.sort(rng.choice(50, 30, replace=False)), np.array([6, 1, 4])
    pred = rng.random((30, 3)) * 5 - 0.5
    pred[rng.random((30, 3)) < 0.2] = np.nan
    unc = rng.random((30, 3))
    out = profile.with_predictions(pred, "x", uncertainty=unc, rows=rows, cols=cols)
    U, P = profile.utilities.copy(), profile.provenance.copy()
    S = np.full(U.shape, np.nan, dtype=U.dtype)
    for a, i in enumerate(rows):
        for b, j in enumerate(cols):
            if np.isfinite(pred[a, b]) and not profile.observed[i, j] and np.isnan(profile.utilities[i, j]):
                U[i, j], P[i, j], S[i, j] = np.clip(pred[a, b], 0, 4), out.provenance_labels.index("x"), unc[a, b]
    np.testing.assert_array_equal(out.utilities, U)
    np.testing.assert_array_equal(out.provenance, P)
    np.testing.assert_array_equal(out.uncertainty, S)


def test_r_support_by_selection_equals_the_sorted_mean():
    rng = np.random.default_rng(4)
    U = np.round(rng.random((40, 6)) * 4)
    U[rng.random(U.shape) < 0.3] = np.nan
    for r in (1, 5, 39, 40):
        top = -np.sort(-np.where(np.isnan(U), -np.inf, U), axis=0)[:r]
        expected = np.array([c[np.isfinite(c)].mean() if np.isfinite(c).any() else np.nan for c in top.T])
        np.testing.assert_allclose(r_support(U, r), expected)


@pytest.mark.parametrize("scale", ["rating", "vote"])
def test_observed_r_support_by_level_counts_equals_the_selection(scale):
    from pnyx.data import Judgment

    rng = np.random.default_rng(5)
    n, m = 60, 7
    values = rng.integers(0, 5, (n, m)) if scale == "rating" else rng.integers(-1, 2, (n, m))
    seen = rng.random((n, m)) < 0.4
    seen[:, 3] = False  # a statement nobody judged
    profile = Profile.from_judgments(
        [Participant(f"p{i}") for i in range(n)], [Statement(f"s{j}", f"statement {j}") for j in range(m)],
        [Judgment(f"p{i}", f"s{j}", int(values[i, j])) for i in range(n) for j in range(m) if seen[i, j]], scale)
    rows, cols = np.sort(rng.choice(n, 45, replace=False)), np.array([0, 1, 2, 3, 4, 6])
    grid = np.ix_(rows, cols)
    U = np.where(profile.observed[grid], profile.utilities[grid], np.nan)
    for r in (1, 4, 20, 45):
        support, means = observed_r_support(profile, rows, cols, r)
        np.testing.assert_allclose(support, r_support(U, r))
        np.testing.assert_allclose(means, column_means(U, -np.inf))
    i = rows[np.flatnonzero(profile.observed[rows, 0])[0]]
    profile.utilities[i, 0] = 1.5  # off the scale's levels: the caller falls back to the selection
    assert observed_r_support(profile, rows, cols, 4) is None


def test_gsc_rule_with_sampled_thresholds_equals_the_full_selection(monkeypatch):
    import pnyx.rules.gsc as gsc

    from pnyx.rules import compute

    rng = np.random.default_rng(9)
    U = np.clip(np.round(2 + rng.normal(0, 1.2, (700, 9)), 1), 0, 4)
    full = compute("gsc", U, 6)
    monkeypatch.setattr(gsc, "_SAMPLE", 25)
    sampled = compute("gsc", U, 6)
    assert sampled.slate == full.slate and sampled.scores == full.scores
    np.testing.assert_array_equal(sampled.info["assignment"], full.info["assignment"])
