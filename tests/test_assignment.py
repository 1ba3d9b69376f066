"""The balanced assignment against independent oracles: brute force, and scipy's linear_sum_assignment on
the slate positions replicated into seats; plus the Generative Social Choice paper's own matching."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

import pnyx.assignment
from pnyx.assignment import balanced
from pnyx.data import InputError

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "chatbot_personalization"


def brute_force(V: np.ndarray) -> float:
    n, k = V.shape
    q, rem = divmod(n, k)
    best = -np.inf
    for a in itertools.product(range(k), repeat=n):
        sizes = np.bincount(a, minlength=k)
        if sizes.min() >= q and sizes.max() <= q + 1:
            best = max(best, V[np.arange(n), a].sum())
    return best


def seats_oracle(V: np.ndarray) -> float:
    """Each position as ⌊n/k⌋ seats that must be filled (a large bonus) plus one optional extra seat."""
    n, k = V.shape
    q, rem = divmod(n, k)
    seats = [j for j in range(k) for _ in range(q + (rem > 0))]
    must = np.array([t < q for j in range(k) for t in range(q + (rem > 0))])
    bonus = (np.ptp(V) + 1) * (n + 1) * must
    rows, cols = linear_sum_assignment(V[:, seats] + bonus, maximize=True)
    return float(V[rows, np.asarray(seats)[cols]].sum())


def assert_balanced_and_certified(V: np.ndarray, result) -> None:
    n, k = V.shape
    q, rem = divmod(n, k)
    assert result.assignment.shape == (n,)
    assert result.sizes.sum() == n and set(result.sizes.tolist()) <= {q, q + 1}
    assert (result.sizes == q + 1).sum() == rem
    assert np.array_equal(result.sizes, np.bincount(result.assignment, minlength=k))
    np.testing.assert_allclose(result.assigned_utilities, V[np.arange(n), result.assignment])
    # the dual certificate: everyone sits at a position maximising u_ij − p_j
    net = V - result.prices
    assert (net[np.arange(n), result.assignment] >= net.max(axis=1) - 1e-9).all()


@settings(max_examples=150, derandomize=True, deadline=None)
@given(n=st.integers(1, 7), k=st.integers(1, 3), seed=st.integers(0, 2**32 - 1), integral=st.booleans())
def test_matches_brute_force(n, k, seed, integral):
    rng = np.random.default_rng(seed)
    V = rng.integers(0, 5, (n, k)).astype(float) if integral else rng.random((n, k))
    result = balanced(V, range(k))
    assert_balanced_and_certified(V, result)
    assert result.total == pytest.approx(brute_force(V), abs=1e-9)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(n=st.integers(1, 300), k=st.integers(1, 12), seed=st.integers(0, 2**32 - 1), integral=st.booleans())
def test_matches_linear_sum_assignment(n, k, seed, integral):
    rng = np.random.default_rng(seed)
    V = rng.integers(0, 5, (n, k)).astype(float) if integral else rng.random((n, k))
    # start from a subsample's prices already at n ≥ 40, so small cases exercise the recursion too
    with patch.object(pnyx.assignment, "_WARM_START_MIN", 40):
        result = balanced(V, range(k))
    assert_balanced_and_certified(V, result)
    assert result.total == pytest.approx(seats_oracle(V), abs=1e-7)


def test_large_instance_is_certified_optimal():
    rng = np.random.default_rng(3)
    V = rng.random((20_000, 10))
    result = balanced(V, range(10))
    assert len(result.info["augmentations"]) > 1  # the warm start ran
    assert_balanced_and_certified(V, result)


def test_slate_selects_and_orders_columns():
    rng = np.random.default_rng(1)
    U = rng.random((31, 6))
    result = balanced(U, [4, 1, 4])
    assert_balanced_and_certified(U[:, [4, 1, 4]], result)
    assert result.total == pytest.approx(seats_oracle(U[:, [4, 1, 4]]))


def test_more_positions_than_participants():
    U = np.array([[1.0, 0.0, 0.5], [1.0, 0.2, 0.0]])
    result = balanced(U, [0, 1, 2])
    assert sorted(result.sizes.tolist()) == [0, 1, 1]
    assert result.total == pytest.approx(1.5)


def test_distribution_counts_each_value():
    result = balanced(np.array([[4.0, 0.0], [4.0, 3.0], [0.0, 3.0], [2.0, 0.0]]), [0, 1])
    assert result.total == 12.0
    assert result.distribution() == {2.0: 1, 3.0: 2, 4.0: 1}
    assert result.distribution([4, 3, 1]) == {4.0: 1, 3.0: 2, 1.0: 0}


@pytest.mark.parametrize(
    "U, slate, field",
    [(np.array([[1.0, np.nan]]), [0, 1], "U"), (np.ones((3, 2)), [0, 2], "slate"), (np.ones((3, 2)), [], "slate"),
     (np.ones(3), [0], "U")],
)
def test_bad_input_is_named(U, slate, field):
    with pytest.raises(InputError) as info:
        balanced(U, slate)
    assert info.value.field == field


def test_paper_validation_matching_total_366():
    """The paper's Gurobi matching of its 100 validation participants to its 5-statement slate: total 366."""
    if not DATA.is_dir():
        pytest.skip(f"{DATA} is absent")
    rows = [json.loads(line) for line in (DATA / "validation.jsonl").read_text().splitlines() if line.strip()]
    ids = [f"S{j}" for j in range(1, 6)]
    U = np.array([[{r["statement_id"]: r["rating"] for r in row["ratings"]}[s] for s in ids] for row in rows], float)
    result = balanced(U, range(5))
    assert result.total == 366.0
    assert result.sizes.tolist() == [20] * 5
    paper = np.array([row["paper_assignment"]["rating"] for row in rows], float)
    assert result.distribution([4, 3, 2, 1, 0]) == {float(v): int((paper == v).sum()) for v in (4, 3, 2, 1, 0)}
    assert result.distribution([4, 3, 2, 1, 0]) == {4.0: 75, 3.0: 18, 2.0: 6, 1.0: 0, 0.0: 1}
