"""The large-profile code paths, checked against the plain ones on small data."""

from __future__ import annotations

import numpy as np
import pytest

from pnyx import data as pdata
from pnyx.axioms.balanced import _largest_blocking, blocking_coalitions
from pnyx.data import Judgment, Participant, Profile, Statement
from pnyx.evaluate.accuracy import statement_held_out, vote_held_out
from pnyx.queries import cf, get_discriminative
from pnyx.rules import compute
from pnyx.rules.gsc import gsc_round, round_sizes
from pnyx.validation import check_utilities
from scale_support import votes


def matrices(seed: int):
    rng = np.random.default_rng(seed)
    for trial in range(40):
        n, m = int(rng.integers(2, 60)), int(rng.integers(1, 8))
        U = rng.integers(0, 5, (n, m)).astype(float) if trial % 2 else np.round(rng.random((n, m)) * 4, 1)
        yield trial, U.astype(np.float32) if trial % 3 == 0 else U


def gsc_by_rounds(U, k, tolerance):
    """The rule as k calls of gsc_round on the remaining columns (the plain way)."""
    n, m = U.shape
    unmatched, available, slate, assignment = np.ones(n, bool), np.arange(m), [], np.full(n, -1)
    for t, r in enumerate(round_sizes(n, k)):
        served = U[:, slate].max(axis=1) if slate else None
        step = gsc_round(U[:, available], unmatched, r, tolerance=tolerance, served=served)
        c = int(available[step.candidate])
        slate.append(c)
        unmatched[step.matched] = False
        assignment[step.matched] = t
        available = available[available != c]
    return slate, assignment


@pytest.mark.parametrize("tolerance", [0.0, 0.3])
def test_lazy_gsc_rule_equals_round_by_round(tolerance):
    for trial, U in matrices(1):
        k = int(np.random.default_rng(trial).integers(1, min(U.shape) + 1))
        result = compute("gsc", U, k, tolerance=tolerance)
        slate, assignment = gsc_by_rounds(U, k, tolerance)
        assert result.slate == slate, trial
        assert result.info["assignment"].tolist() == assignment.tolist(), trial


def test_pruned_bjr_sweep_finds_the_largest_coalition_of_the_full_sweep():
    rng = np.random.default_rng(2)
    for trial in range(200):
        n, m = int(rng.integers(1, 40)), int(rng.integers(1, 6))
        U = rng.integers(0, 5, (n, m)).astype(float) if trial % 2 else rng.random((n, m)) * 4
        if trial % 5 == 0:
            U[rng.random((n, m)) < 0.2] = np.nan
        assigned = U[np.arange(n), rng.integers(0, m, n)]
        d = (0.0, 0.5, 1.0)[trial % 3]
        need = rng.integers(1, 6, m).astype(float)
        sizes, thetas = blocking_coalitions(U, assigned, d)
        j = int(np.argmax(sizes / need))
        got = _largest_blocking(U, assigned, d, need)
        assert got[:2] == (j, sizes[j]) and got[3] == sizes[j] / need[j], trial
        assert got[2] == thetas[j] or np.isnan(got[2]) and np.isnan(thetas[j]), trial


def test_dense_blocks_fit_the_same_model_as_sparse_products(monkeypatch):
    U, observed = votes(3000, 40, 0.3)
    monkeypatch.setattr(cf, "BLOCK_ROWS", 700)  # several blocks, one short
    monkeypatch.setattr(cf, "DENSE_MIN_ENTRIES", 1000)
    assert cf._dense_layout(observed)
    dense = cf.fit_biased_mf(U, observed, rank=3, reg=3.0, n_iter=6)
    sparse = cf.fit_biased_mf(U, observed, rank=3, reg=3.0, n_iter=6, entries=cf._Entries(observed, U))
    assert dense.info["layout"] == "dense row blocks"
    for name in ("user_bias", "item_bias", "user_factors", "item_factors", "user_precision_inv", "item_precision_inv"):
        np.testing.assert_allclose(getattr(dense, name), getattr(sparse, name), atol=1e-9, err_msg=name)
    single = cf.fit_biased_mf(U.astype(np.float32), observed, rank=3, reg=3.0, n_iter=6)
    np.testing.assert_allclose(single.predict(), sparse.predict(), atol=1e-3)


def test_selection_on_a_participant_sample_when_large(monkeypatch):
    U, observed = votes(4000, 30, 0.3, seed=1)
    monkeypatch.setattr(cf, "SELECT_MAX_ENTRIES", 10_000)
    model = cf.select_biased_mf(U, observed, ranks=(0, 2), regs=(3.0, 10.0), n_iter=5)
    sample = model.info["selected_on"]
    assert 9_000 < sample["judgments"] < 11_500 and sample["participants"] < 4000
    assert model.user_bias.shape == (4000,)  # the final fit is on everyone


def vote_profile(n=400, m=20, seed=3):
    U, observed = votes(n, m, 0.5, seed)
    participants = [Participant(f"p{i}") for i in range(n)]
    statements = [Statement(f"c{j}", f"comment {j}") for j in range(m)]
    rows, cols = np.nonzero(observed)
    return Profile.from_arrays(participants, statements, rows, cols, U[rows, cols] / 2 - 1, "vote")


def test_vote_held_out_scores_a_stated_sample_with_an_interval():
    profile = vote_profile()
    full = vote_held_out(profile, get_discriminative("cf"), frac=0.5, sample=None)
    sampled = vote_held_out(profile, get_discriminative("cf"), frac=0.5, sample=300)
    assert full.info["hidden"] > 300 and full.info["sample"] is None
    assert sampled.info["hidden"] == sampled.metrics["n"] == 300 and sampled.info["sample"] == 300
    lo, hi = sampled.info["ci95"]["accuracy"]
    assert lo < sampled.metrics["accuracy"] < hi and hi - lo < 0.15
    assert len(sampled.predictions) == 300
    # under the default sample, small data are scored in full, as before
    assert vote_held_out(profile, get_discriminative("cf"), frac=0.1).info["sample"] is None


def test_statement_held_out_samples_statements_and_judgments():
    rng = np.random.default_rng(4)
    n, m = 200, 30
    participants = [Participant(f"p{i}") for i in range(n)]
    statements = [Statement(f"s{j}", f"statement {j}") for j in range(m)]
    rows, cols = np.nonzero(rng.random((n, m)) < 0.5)
    profile = Profile.from_arrays(participants, statements, rows, cols, rng.integers(0, 5, rows.size), "rating")
    report = statement_held_out(profile, get_discriminative("cf", ranks=(0,), regs=(3.0,)), sample=400, seed=1)
    assert report.info["statements"] == 10 and report.info["sample"] == 400
    assert 390 <= report.metrics["n"] <= 400
    lo, hi = report.info["ci95"]["mae"]
    assert lo < report.metrics["mae"] < hi


def test_large_profiles_are_float32_and_from_arrays_matches_from_judgments(monkeypatch):
    participants = [Participant(f"p{i}") for i in range(3)]
    statements = [Statement("a", "A"), Statement("b", "B")]
    judgments = [Judgment("p0", "a", 1), Judgment("p2", "b", -1), Judgment("p1", "a", 0)]
    small = Profile.from_judgments(participants, statements, judgments, "vote")
    assert small.utilities.dtype == np.float64
    monkeypatch.setattr(pdata, "FLOAT32_ENTRIES", 6)
    large = Profile.from_judgments(participants, statements, judgments, "vote")
    assert large.utilities.dtype == np.float32
    np.testing.assert_array_equal(large.utilities, small.utilities)
    np.testing.assert_array_equal(large.provenance, small.provenance)
    filled = get_discriminative("cf").predict(large).apply(large)
    assert filled.utilities.dtype == np.float32 and filled.uncertainty.dtype == np.float32
    assert check_utilities(filled.utilities) is filled.utilities  # no float64 copy
