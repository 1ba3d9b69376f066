"""Maximal lottery against pref_voting's LP and the closed-form fixtures."""

import numpy as np
import pytest

from pnyx.methods import METHODS
from pnyx.methods.lottery import margins, maximal_lottery


def test_cycle_fixture():
    M = np.array([[0, 3, -2], [-3, 0, 1], [2, -1, 0]])
    np.testing.assert_allclose(maximal_lottery(M=M).probabilities, [1 / 6, 1 / 3, 1 / 2], atol=1e-9)


def test_condorcet_winner_gets_everything():
    U = np.array([[4, 2, 0], [4, 3, 1], [2, 4, 0], [3, 0, 4.]])  # column 0 beats 1 (3:1) and 2 (3:1)
    r = maximal_lottery(U)
    assert r.condorcet_winner == 0 and r.support == [0]
    np.testing.assert_allclose(r.probabilities, [1, 0, 0])


def test_margins_count_only_participants_who_judged_both():
    U = np.array([[4, 0, np.nan], [np.nan, 4, 0], [0, np.nan, 4]])
    np.testing.assert_array_equal(margins(U), [[0, 1, -1], [-1, 0, 1], [1, -1, 0]])


@pytest.mark.parametrize("seed", range(6))
def test_equals_pref_voting_on_odd_profiles(seed):
    from pref_voting.probabilistic_methods import maximal_lottery as pv_ml
    from pref_voting.profiles import Profile

    rng = np.random.default_rng(seed)
    m, n = rng.integers(3, 7), 2 * rng.integers(3, 9) + 1  # odd n, strict orders: odd margins, a unique lottery
    rankings = [rng.permutation(m).tolist() for _ in range(n)]
    U = np.zeros((n, m))
    for i, r in enumerate(rankings):
        U[i, r] = 4.0 * np.arange(m - 1, -1, -1) / (m - 1)
    expected = pv_ml(Profile(rankings))
    np.testing.assert_allclose(maximal_lottery(U).probabilities, [expected.get(c, 0.0) for c in range(m)], atol=1e-7)


def test_registered_and_rejects_non_skew_matrices():
    assert METHODS["maximal-lottery"] is maximal_lottery
    with pytest.raises(ValueError):
        maximal_lottery(M=np.ones((2, 2)))


def test_margins_on_few_levels_equal_the_pairwise_count(monkeypatch):
    """Votes and ratings take the matrix-product path; it must count exactly what the general one does."""
    import pnyx.methods.lottery as lottery

    rng = np.random.default_rng(3)
    cases = [rng.choice([0.0, 2.0, 4.0, np.nan], (int(rng.integers(1, 300)), int(rng.integers(1, 12))))
             for _ in range(10)]
    cases += [rng.integers(0, 5, (int(rng.integers(1, 300)), int(rng.integers(1, 12)))).astype(float) for _ in range(10)]
    fast = [margins(U) for U in cases]
    monkeypatch.setattr(lottery, "_FEW_LEVELS", -1)  # force the general, n × m × m path
    for U, got in zip(cases, fast):
        np.testing.assert_array_equal(got, margins(U))
