"""seq-PAV, PAV and CC against abcvoting's irresolute winners, plus hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from pnyx.rules.base import Tie
from pnyx.rules import compute
from abc_oracle import abc_resolute, abc_winners, approval_profiles, euclidean

EXAMPLES = settings(max_examples=60, derandomize=True, deadline=None)


@EXAMPLES
@given(approval_profiles())
def test_seq_pav_is_an_abcvoting_winner_and_breaks_ties_like_it(case):
    U, k = case
    A = U >= 3
    result = compute("seq-pav", U, k)
    assert len(result.slate) == k == len(set(result.slate))
    assert frozenset(result.slate) in abc_winners("seqpav", A, k)
    assert frozenset(result.slate) == abc_resolute("seqpav", A, k)


@EXAMPLES
@given(approval_profiles(max_n=10, max_m=6))
def test_pav_is_an_abcvoting_winner(case):
    U, k = case
    result = compute("pav", U, k)
    assert result.status == "optimal"
    assert frozenset(result.slate) in abc_winners("pav", U >= 3, k, algorithm="pulp-highs")


@EXAMPLES
@given(approval_profiles(max_n=10, max_m=6))
def test_cc_is_an_abcvoting_winner(case):
    U, k = case
    result = compute("cc", U, k)
    assert frozenset(result.slate) in abc_winners("cc", U >= 3, k, algorithm="pulp-highs")


def test_pav_and_seq_pav_differ_where_greedy_is_myopic():
    """Greedy takes candidate 0, liked across both factions; PAV gives each faction its own candidate."""
    A = np.zeros((10, 3), dtype=bool)
    A[[0, 1, 2, 5, 6, 7], 0] = True
    A[:5, 1] = True
    A[5:, 2] = True
    U = np.where(A, 4.0, 0.0)
    seq = compute("seq-pav", U, 2)
    exact = compute("pav", U, 2)
    assert seq.slate == [0, 1] and seq.scores == [6.0, 3.5]
    assert seq.ties == [Tie(1, [1, 2], 1)]
    assert exact.slate == [1, 2]
    assert exact.info["objective"] == pytest.approx(10.0)


def test_threshold_reads_cardinal_utilities_as_approvals():
    U = np.array([[2.0, 3.5], [2.5, 1.0], [2.2, 0.0]])
    assert compute("seq-pav", U, 1).slate == [1]
    assert compute("seq-pav", U, 1, threshold=2.0).slate == [0]


def test_ties_are_recorded_and_go_to_the_lowest_column():
    U = np.array([[4.0, 4.0, 0.0], [0.0, 0.0, 4.0]])
    result = compute("seq-pav", U, 2)
    assert result.slate == [0, 2]
    assert result.ties[0] == Tie(0, [0, 1, 2], 0)


def test_exact_pav_scales():
    U = euclidean(1_000, 50)
    result = compute("pav", U, 10)
    assert result.status == "optimal" and len(result.slate) == 10
    # no single swap improves the PAV score (a necessary condition of optimality)
    A = U >= 3
    H = np.concatenate([[0.0], np.cumsum(1 / np.arange(1, 11))])
    score = lambda W: H[A[:, W].sum(axis=1)].sum()  # noqa: E731
    best = score(result.slate)
    for out in result.slate:
        for c in set(range(50)) - set(result.slate):
            assert score([x for x in result.slate if x != out] + [c]) <= best + 1e-9
