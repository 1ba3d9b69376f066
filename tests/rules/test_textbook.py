"""Example 1 of Lackner & Skowron, *Multi-Winner Voting with Approval Preferences* (2023), every approval rule
against abcvoting, plus the committee the book prints for the Method of Equal Shares (its Example 11)."""

from __future__ import annotations

import numpy as np
import pytest
from abc_oracle import abc_winners

from pnyx.rules import RULES, compute
from pnyx.rules.base import Tie

# 3 × {a, b}, 3 × {a, c}, 2 × {a, d}, {b, c, f}, {e}, {f}, {g}; candidates a..g = 0..6
BALLOTS = [{0, 1}] * 3 + [{0, 2}] * 3 + [{0, 3}] * 2 + [{1, 2, 5}, {4}, {5}, {6}]
A = np.array([[c in ballot for c in range(7)] for ballot in BALLOTS])
U = np.where(A, 4.0, 1.0)

ABC_IDS = {"pav": ("pav", {"algorithm": "pulp-highs"}), "cc": ("cc", {"algorithm": "pulp-highs"}),
           "monroe": ("monroe", {"algorithm": "pulp-highs"}), "seq-pav": ("seqpav", {}),
           "seq-phragmen": ("seqphragmen", {}), "equal-shares": ("equal-shares", {})}


@pytest.mark.parametrize("rule", sorted(ABC_IDS))
def test_example_1(rule):
    abc_id, kwargs = ABC_IDS[rule]
    result = compute(rule, U, 4)
    assert frozenset(result.slate) in abc_winners(abc_id, A, 4, **kwargs)


def test_example_11_equal_shares_with_phragmen_phase():
    result = compute("equal-shares", U, 4)
    assert result.info["equal_shares_rounds"] == 1  # a, at q = 1/8; then the Phragmén phase
    assert result.slate == [0, 1, 2, 3]
    assert result.scores[0] == pytest.approx(1 / 8)
    np.testing.assert_allclose(result.scores[1:], [1 / 96, 37 / 384, 7 / 24])  # the book's maximal loads
    assert result.ties == [Tie(round=1, tied=[1, 2], chosen=1, broken_by="lowest column index")]


def test_every_approval_rule_is_checked_here():
    # fair-lottery is a seeded draw (no abcvoting rule); tests/methods/test_fair_lottery.py checks it
    assert {r for r, rule in RULES.items() if rule.approval} == set(ABC_IDS) | {"greedy-monroe", "fair-lottery"}
