"""seq-Phragmén against abcvoting (exact fractions), plus a hand-made case."""

from __future__ import annotations

import numpy as np
from abc_oracle import abc_resolute, abc_winners, approval_profiles
from hypothesis import given, settings

from pnyx.rules import compute


@settings(max_examples=80, derandomize=True, deadline=None)
@given(approval_profiles())
def test_seq_phragmen_is_an_abcvoting_winner_and_breaks_ties_like_it(case):
    U, k = case
    A = U >= 3
    result = compute("seq-phragmen", U, k)
    assert len(set(result.slate)) == k
    assert frozenset(result.slate) in abc_winners("seqphragmen", A, k, algorithm="standard-fractions")
    assert frozenset(result.slate) == abc_resolute("seqphragmen", A, k, algorithm="standard-fractions")


def test_loads_follow_the_definition():
    # voters 0-3 approve a, voters 2-5 approve b, voter 6 approves c
    A = np.zeros((7, 3), dtype=bool)
    A[:4, 0] = A[2:6, 1] = A[6, 2] = True
    result = compute("seq-phragmen", np.where(A, 4.0, 0.0), 3)
    # a: load 1/4 each; then b: (1 + 2/4)/4 = 3/8 < c: 1/1; then c: 1
    assert result.slate == [0, 1, 2]
    np.testing.assert_allclose(result.scores, [0.25, 0.375, 1.0])
    np.testing.assert_allclose(result.info["loads"], [0.25, 0.25, 0.375, 0.375, 0.375, 0.375, 1.0])
