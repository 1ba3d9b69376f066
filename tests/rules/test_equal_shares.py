"""The Method of Equal Shares and its completions against abcvoting (exact fractions)."""

from __future__ import annotations

import numpy as np
import pytest
from abc_oracle import abc_resolute, abc_winners, approval_profiles
from hypothesis import given, settings

from pnyx.data import InputError
from pnyx.rules import compute

EXAMPLES = settings(max_examples=80, derandomize=True, deadline=None)


@EXAMPLES
@given(approval_profiles())
def test_phragmen_completion_matches_abcvoting(case):
    U, k = case
    result = compute("equal-shares", U, k)
    assert len(set(result.slate)) == k
    assert frozenset(result.slate) in abc_winners("equal-shares", U >= 3, k, algorithm="standard-fractions")
    assert frozenset(result.slate) == abc_resolute("equal-shares", U >= 3, k, algorithm="standard-fractions")


@EXAMPLES
@given(approval_profiles())
def test_av_completion_matches_abcvoting(case):
    U, k = case
    result = compute("equal-shares", U, k, completion="av")
    assert frozenset(result.slate) in abc_winners("equal-shares-with-av-completion", U >= 3, k,
                                                  algorithm="standard-fractions")


@settings(max_examples=40, derandomize=True, deadline=None)
@given(approval_profiles(max_n=10, max_m=6))
def test_increment_completion_matches_abcvoting(case):
    U, k = case
    result = compute("equal-shares", U, k, completion="increment")
    assert len(set(result.slate)) == k
    assert frozenset(result.slate) == abc_resolute("equal-shares-with-increment-completion", U >= 3, k,
                                                   algorithm="standard-fractions")


def test_without_completion_the_slate_may_stay_short():
    # 4 voters, budget 2/4 each: {0,1} approve a, {2} b, {3} c → a costs 1/2 each; b, c unaffordable
    A = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=bool)
    result = compute("equal-shares", np.where(A, 4.0, 0.0), 2, completion=None)
    assert result.slate == [0] and result.scores == [0.5]
    np.testing.assert_allclose(result.info["unspent"], [0, 0, 0.5, 0.5])
    assert compute("equal-shares", np.where(A, 4.0, 0.0), 2).slate == [0, 1]  # Phragmén completion, tie b/c


def test_unknown_completion_is_an_input_error():
    with pytest.raises(InputError, match="completion"):
        compute("equal-shares", np.ones((2, 2)), 1, completion="nope")
