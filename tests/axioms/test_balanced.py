"""BJR and cBJR: verdicts agree with a brute force over all coalitions, and every witness blocks."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.axioms import check
from pnyx.axioms.balanced import blocking_coalitions
from pnyx.data import InputError


def brute_force_blocked(U, slate, assignment, need, d=0.0) -> bool:
    """Some coalition S of size ≥ need[α] and statement α admit a θ with u_i(α) ≥ θ > u_i(ω(i)) + d on S,
    i.e. min_S u_i(α) > max_S u_i(ω(i)) + d — enumerated over every subset of participants."""
    n, m = U.shape
    assigned = U[np.arange(n), np.asarray(slate)[assignment]]
    for size in range(1, n + 1):
        for S in itertools.combinations(range(n), size):
            S = list(S)
            if np.isnan(assigned[S]).any():
                continue
            for a in range(m):
                if size >= need[a] and not np.isnan(U[S, a]).any() and U[S, a].min() > assigned[S].max() + d:
                    return True
    return False


def verify_witness(U, slate, assignment, w, need, d=0.0):
    assigned = U[np.arange(U.shape[0]), np.asarray(slate)[assignment]]
    S = np.asarray(w.coalition)
    assert S.size >= need[w.statement] and np.unique(S).size == S.size
    assert (U[S, w.statement] >= w.threshold).all()
    assert (assigned[S] < w.threshold - d).all()


@st.composite
def matched_slates(draw):
    n = draw(st.integers(2, 9))
    m = draw(st.integers(2, 4))
    k = draw(st.integers(1, m))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        U = rng.integers(0, 5, (n, m)).astype(float)  # the paper's 0–4 levels
    else:
        U = np.round(rng.uniform(0, 4, (n, m)), 2)  # predicted, continuous
    if draw(st.booleans()):
        U[rng.random((n, m)) < 0.1] = np.nan
    slate = sorted(rng.choice(m, size=k, replace=False).tolist())
    assignment = rng.permutation(np.arange(n) % k)  # balanced: ⌊n/k⌋ or ⌈n/k⌉ each
    return U, slate, assignment


@settings(max_examples=150, derandomize=True, deadline=None)
@given(case=matched_slates(), b=st.sampled_from([1.0, 1.5]), d=st.sampled_from([0.0, 0.5, 1.0]))
def test_bjr_agrees_with_brute_force(case, b, d):
    U, slate, assignment = case
    n, k = U.shape[0], len(slate)
    r = check("bjr", U, slate, assignment=assignment, b=b, d=d)
    need = np.full(U.shape[1], max(1, math.ceil(b * n / k - 1e-9)))
    assert r.satisfied == (not brute_force_blocked(U, slate, assignment, need, d))
    assert r.info["coalition_ratio"] >= 1 - r.satisfied  # ≥ 1 iff violated
    if not r.satisfied:
        verify_witness(U, slate, assignment, r.witness, need, d)
        assert r.info["utility_gap"] > d


@settings(max_examples=100, derandomize=True, deadline=None)
@given(case=matched_slates(), costs=st.lists(st.integers(0, 12), min_size=4, max_size=4), d=st.sampled_from([0.0, 1.0]))
def test_cbjr_agrees_with_brute_force(case, costs, d):
    U, slate, assignment = case
    costs = np.asarray(costs[: U.shape[1]], dtype=float)
    if costs[slate].sum() == 0:
        costs[slate[0]] = 1
    r = check("cbjr", U, slate, assignment=assignment, costs=costs, d=d)
    n, B = U.shape[0], costs[slate].sum()
    need = np.maximum(1, np.ceil(costs * n / B - 1e-9))
    assert r.satisfied == (not brute_force_blocked(U, slate, assignment, need, d))
    if not r.satisfied:
        verify_witness(U, slate, assignment, r.witness, need, d)


def test_bjr_example_from_the_definition():
    """Six participants, k = 2: three are matched to a statement they rate 1 while all rate column 2 at 4."""
    U = np.array([[4, 0, 0], [4, 0, 1], [4, 0, 2], [0, 1, 4], [0, 1, 4], [1, 0, 4]], dtype=float)
    r = check("bjr", U, [0, 1], assignment=[0, 0, 0, 1, 1, 1])
    assert not r.satisfied
    assert r.witness.coalition == [3, 4, 5] and r.witness.statement == 2 and r.witness.threshold == 4
    assert r.info["coalition_ratio"] == 1 and r.info["utility_gap"] == 3 and r.info["group_sizes"] == [3, 3]
    assert check("bjr", U, [0, 2], assignment=[0, 0, 0, 1, 1, 1]).satisfied
    # with slack d = 3 the gap of 3 no longer counts; with b = 2 a coalition of 3 is too small
    assert check("bjr", U, [0, 1], assignment=[0, 0, 0, 1, 1, 1], d=3).satisfied
    assert check("bjr", U, [0, 1], assignment=[0, 0, 0, 1, 1, 1], b=2).satisfied


def test_cbjr_cheap_statements_need_small_coalitions():
    U = np.array([[4, 0, 0], [4, 0, 1], [4, 0, 2], [0, 1, 4], [0, 1, 4], [1, 0, 4]], dtype=float)
    # budget 12: column 2 costs 2 words, so 2·6/12 = 1 participant can already claim it
    r = check("cbjr", U, [0, 1], costs=[6, 6, 2], budget=12, assignment=[0, 0, 0, 1, 1, 1])
    assert not r.satisfied and r.witness.statement == 2
    # expensive: 12 words need all 6 participants, who do not all rate it above their match
    assert check("cbjr", U, [0, 1], costs=[6, 6, 12], budget=12, assignment=[0, 0, 0, 1, 1, 1]).satisfied


def test_blocking_coalitions_sweep_matches_direct_count():
    """The sweep over interval endpoints equals counting at every distinct threshold."""
    rng = np.random.default_rng(3)
    U = np.round(rng.uniform(0, 4, (500, 12)), 1)
    assigned = U[np.arange(500), rng.integers(0, 3, 500)]
    sizes, thetas = blocking_coalitions(U, assigned)
    for j in range(12):
        direct = max(((U[:, j] >= t) & (assigned < t)).sum() for t in np.unique(U))
        assert sizes[j] == direct == ((U[:, j] >= thetas[j]) & (assigned < thetas[j])).sum()


def test_bad_assignment_and_costs_are_input_errors():
    U = np.zeros((4, 3))
    with pytest.raises(InputError, match="assignment"):
        check("bjr", U, [0, 1], assignment=[0, 1, 2, 0])
    with pytest.raises(InputError, match="assignment"):
        check("bjr", U, [0, 1], assignment=[0, 1])
    with pytest.raises(InputError, match="costs"):
        check("cbjr", U, [0, 1], assignment=[0, 1, 0, 1], costs=[1, 2])
    with pytest.raises(InputError, match="budget"):
        check("cbjr", U, [0, 1], assignment=[0, 1, 0, 1], costs=[0, 0, 3])
