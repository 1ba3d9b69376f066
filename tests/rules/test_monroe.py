"""Monroe (exact) and Greedy Monroe against abcvoting."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from abc_oracle import abc_resolute, abc_winners, approval_profiles
from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.assignment import balanced
from pnyx.rules import compute


@settings(max_examples=50, derandomize=True, deadline=None)
@given(approval_profiles(max_n=9, max_m=5))
def test_monroe_is_an_abcvoting_winner(case):
    U, k = case
    A = U >= 3
    result = compute("monroe", U, k)
    assert result.status == "optimal"
    assert frozenset(result.slate) in abc_winners("monroe", A, k, algorithm="pulp-highs")
    # the objective is the balanced assignment's number of approving representatives
    assert result.info["objective"] == balanced(A.astype(float), result.slate).total


@settings(max_examples=80, derandomize=True, deadline=None)
@given(approval_profiles())
def test_greedy_monroe_matches_abcvoting(case):
    U, k = case
    result = compute("greedy-monroe", U, k)
    assert frozenset(result.slate) == abc_resolute("greedy-monroe", U >= 3, k)
    sizes = np.bincount(result.info["assignment"][result.info["assignment"] >= 0], minlength=k)
    assert (sizes <= -(-U.shape[0] // k)).all()


@settings(max_examples=40, derandomize=True, deadline=None)
@given(n=st.integers(1, 8), m=st.integers(1, 5), seed=st.integers(0, 2**32 - 1), integral=st.booleans())
def test_cardinal_monroe_and_cc_match_brute_force(n, m, seed, integral):
    rng = np.random.default_rng(seed)
    U = rng.integers(0, 5, (n, m)).astype(float) if integral else rng.random((n, m)) * 4
    k = int(rng.integers(1, m + 1))
    committees = [list(W) for W in itertools.combinations(range(m), k)]
    best_monroe = max(balanced(U, W).total for W in committees)
    best_cc = max(U[:, W].max(axis=1).sum() for W in committees)
    result = compute("monroe", U, k, cardinal=True)
    assert result.info["objective"] == pytest.approx(best_monroe, abs=1e-6)
    assert balanced(U, result.slate).total == pytest.approx(best_monroe, abs=1e-6)
    result = compute("cc", U, k, cardinal=True)
    assert result.info["objective"] == pytest.approx(best_cc, abs=1e-6)
    assert U[:, result.slate].max(axis=1).sum() == pytest.approx(best_cc, abs=1e-6)
