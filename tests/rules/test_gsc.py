"""The GSC round rule and its budgeted variant, tested against their papers' definitions written out naively."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.data import InputError
from pnyx.rules import compute
from pnyx.rules.gsc import gsc_round, round_sizes

EXAMPLES = settings(max_examples=80, derandomize=True, deadline=None)


@st.composite
def cardinal_profiles(draw, max_n: int = 15, max_m: int = 7):
    n = draw(st.integers(1, max_n))
    m = draw(st.integers(1, max_m))
    k = draw(st.integers(1, min(n, m)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    U = rng.integers(0, 5, (n, m)).astype(float) if draw(st.booleans()) else rng.random((n, m)) * 4
    return U, k


def seen_of(U: np.ndarray) -> np.ndarray:
    """A stand-in for each column's number of observed judgments (the tests' "seen")."""
    return (U >= 2).sum(axis=0) % 3


def gsc_by_definition(U: np.ndarray, k: int, tiebreak: str = "lowest") -> tuple[list[int], list[int]]:
    """Fish et al. (arXiv 2309.01291), one statement per round, in plain Python; exact ties between
    statements by the lowest column, the largest distinctive support, the least-served group or (seen-first)
    in the first round the most observed judgments (:func:`seen_of`); between participants by the fewest
    alternatives (mean utility over the pool), then the lowest row."""
    n, m = U.shape
    unmatched, pool, slate = list(range(n)), list(range(m)), []
    assignment = [-1] * n
    for t in range(k):
        r = math.ceil(n / k) if t < n % k else n // k
        score = {c: sorted((U[i, c] for i in unmatched), reverse=True)[r - 1] for c in pool}
        alternatives = {i: sum(U[i, c] for c in pool) / len(pool) for i in unmatched}
        group_of = {c: sorted(unmatched, key=lambda i: (-U[i, c], alternatives[i], i))[:r] for c in pool}

        def distinctive(c):
            inside = [U[i, c] for i in group_of[c]]
            outside = [U[i, c] for i in range(n) if i not in group_of[c]]
            return sum(inside) / len(inside) - (sum(outside) / len(outside) if outside else 0.0)

        def served(c):  # how well the slate so far serves c's group
            return sum(max((U[i, s] for s in slate), default=0.0) for i in group_of[c]) / len(group_of[c])

        best = max(score.values())
        tied = [c for c in pool if abs(score[c] - best) <= 1e-9 * (1 + abs(best))]
        if tiebreak == "lowest":
            c = tied[0]
        elif tiebreak == "distinctive":
            c = max(tied, key=lambda c: (round(distinctive(c), 9), -c))
        elif tiebreak == "seen-first" and not slate:
            c = max(tied, key=lambda c: (seen_of(U)[c], round(distinctive(c), 9), -c))
        else:
            c = max(tied, key=lambda c: (-round(served(c), 9), round(distinctive(c), 9), -c))
        group = group_of[c]
        for i in group:
            assignment[i] = t
        unmatched = [i for i in unmatched if i not in group]
        pool.remove(c)
        slate.append(c)
    return slate, assignment


@pytest.mark.parametrize("tiebreak", ["lowest", "distinctive", "least-served", "seen-first"])
@EXAMPLES
@given(cardinal_profiles())
def test_gsc_follows_the_definition(tiebreak, case):
    U, k = case
    slate, assignment = gsc_by_definition(U, k, tiebreak)
    seen = {"seen": seen_of(U)} if tiebreak == "seen-first" else {}
    result = compute("gsc", U, k, tiebreak=tiebreak, **seen)
    assert result.slate == slate
    assert result.info["assignment"].tolist() == assignment
    assert np.bincount(result.info["assignment"], minlength=k).tolist() == round_sizes(U.shape[0], k)


@pytest.mark.parametrize("tiebreak", ["least-served", "seen-first"])
@EXAMPLES
@given(cardinal_profiles())
def test_gsc_slate_satisfies_bjr_over_the_pool(tiebreak, case):
    """Theorem 1 of Fish et al. (exact queries) over a pool: no group of ≥ n/k participants all reach a level θ with
    an unchosen statement and all get less than θ from their matched one. (A chosen statement can block, as the
    pool's statements are used once: n = k = 2, u_0 = (2, 1), u_1 = (0.2, 0.1).)"""
    U, k = case
    n = U.shape[0]
    result = compute("gsc", U, k, tiebreak=tiebreak, **({"seen": seen_of(U)} if tiebreak == "seen-first" else {}))
    got = U[np.arange(n), np.asarray(result.slate)[result.info["assignment"]]]
    for alpha in sorted(set(range(U.shape[1])) - set(result.slate)):
        for theta in np.unique(U[:, alpha]):
            blocking = (U[:, alpha] >= theta) & (got < theta)
            assert blocking.sum() * k < n, (alpha, theta)


def test_gsc_differs_from_seq_pav():
    """Statement 0 is 'mostly' fine for everyone; each half loves its own statement. seq-PAV (approval ≥ 3)
    takes 0 first (approved by all); GSC's round score is the r-th largest utility, 4 for statements 1 and 2."""
    U = np.array([[3, 4, 0]] * 5 + [[3, 0, 4]] * 5, dtype=float)
    assert compute("seq-pav", U, 2).slate[0] == 0
    result = compute("gsc", U, 2)
    assert result.slate == [1, 2] and result.scores == [4.0, 4.0]
    assert result.info["assignment"].tolist() == [0] * 5 + [1] * 5


def test_round_scores_and_ties():
    U = np.array([[4, 4, 1], [3, 3, 4], [0, 2, 4], [1, 0, 0]], dtype=float)
    step = gsc_round(U, np.array([True, True, True, False]), 2)
    np.testing.assert_array_equal(step.scores, [3, 3, 4])
    assert step.candidate == 2 and step.score == 4.0 and sorted(step.matched.tolist()) == [1, 2]
    step = gsc_round(U, np.array([True, True, False, True]), 2)
    # columns 0 and 1 tie at 3; the group {0, 1} rates both 3.5 on average, everyone else 0.5 and 1.0:
    # column 0 is the more distinctive (3.0 against 2.5)
    tie = step.ties[0]
    assert step.candidate == 0 and tie.tied == [0, 1] and tie.chosen == 0 and tie.kind == "candidates"
    assert tie.criteria == {"distinctive": {0: 3.0, 1: 2.5}, "served": {0: 0.0, 1: 0.0}}
    # by index the same here; swap the columns and the distinctive choice follows the content, not the index
    swapped = gsc_round(U[:, [1, 0, 2]], np.array([True, True, False, True]), 2)
    assert swapped.candidate == 1
    assert gsc_round(U[:, [1, 0, 2]], np.array([True, True, False, True]), 2, tiebreak="lowest").candidate == 0
    # participant tie at the cut: rows 0 and 1 both rate column 0 at 4, one seat; row 1 has fewer
    # alternatives (mean 2.0 over the candidates against 2.5) and gets it
    step = gsc_round(np.array([[4.0, 1.0], [4.0, 0.0], [1.0, 2.0]]), np.ones(3, bool), 1)
    assert step.candidate == 0 and step.matched.tolist() == [1]
    (at_cut,) = step.ties
    assert at_cut.kind == "participants" and at_cut.tied == [0, 1] and at_cut.chosen == [1] and at_cut.value == 4.0


def test_near_ties_within_tolerance_are_decided_by_distinctive_support():
    # column 0 scores 4 (everyone rates it 4: a platitude); column 1 scores 3.9 for a group that
    # everyone else rates 0; with tolerance 0.2 the distinctive column wins, without it the best score
    U = np.array([[4, 3.9], [4, 3.9], [4, 0], [4, 0]], dtype=float)
    unmatched = np.ones(4, bool)
    assert gsc_round(U, unmatched, 2).candidate == 0
    step = gsc_round(U, unmatched, 2, tolerance=0.2)
    assert step.candidate == 1 and step.ties[0].tolerance == 0.2
    assert step.ties[0].criteria["distinctive"] == {0: 0.0, 1: 3.9}
    # a column already on the slate loses a near-tie to a fresh one
    assert gsc_round(U, unmatched, 2, tolerance=0.2, repeated=np.array([False, True])).candidate == 0


def test_least_served_prefers_the_group_the_slate_serves_worst():
    # columns 0 and 1 tie at 4 for two participants each; the slate so far gives rows 0, 1 utility 4 and
    # rows 2, 3 nothing: column 1, whose group is rows 2, 3, goes first although column 0 is as distinctive
    U = np.array([[4, 0], [4, 0], [0, 4], [0, 4]], dtype=float)
    served = np.array([4.0, 4.0, 0.0, 0.0])
    step = gsc_round(U, np.ones(4, bool), 2, served=served)
    assert step.candidate == 1 and step.ties[0].criteria["served"] == {0: 4.0, 1: 0.0}
    assert gsc_round(U, np.ones(4, bool), 2, served=served, tiebreak="distinctive").candidate == 0


def test_seen_first_takes_the_most_judged_statement_first_then_the_least_served_group():
    # columns 0 and 1 are each loved by one pair (rows 0, 1 and rows 4, 5), column 2 by everyone: all three
    # score 4 in round 1 (r = 2). least-served (nothing on the slate yet) takes the most distinctive, column 0;
    # seen-first takes column 2, which the most people judged, although it is the least distinctive
    U = np.array([[4, 0, 4]] * 2 + [[0, 0, 4]] * 2 + [[0, 4, 4]] * 2, dtype=float)
    seen = np.array([10, 10, 50])
    assert compute("gsc", U, 3, tiebreak="least-served").slate[0] == 0
    result = compute("gsc", U, 3, tiebreak="seen-first", seen=seen)
    assert result.slate[0] == 2 and result.ties[0].criteria["seen"] == {0: 10.0, 1: 10.0, 2: 50.0}
    # after the first round it decides as least-served: the slate serves rows 4, 5 least, so column 1 wins
    # over column 0 (as distinctive, lower column)
    step = gsc_round(U[:, :2], np.ones(6, bool), 2, tiebreak="seen-first", seen=seen[:2],
                     served=np.array([4.0, 4, 0, 0, 0, 0]))
    assert step.candidate == 1 and set(step.ties[0].criteria) == {"served", "distinctive"}
    with pytest.raises(InputError, match="seen-first needs"):
        compute("gsc", U, 3, tiebreak="seen-first")


def test_gsc_round_rejects_bad_round_size():
    with pytest.raises(InputError, match="round size"):
        gsc_round(np.ones((3, 2)), np.array([True, False, False]), 2)


def gsc_budgeted_by_definition(U, budget, costs, levels, k):
    """arXiv 2505.22939's process over a fixed pool, visiting every group size j one by one."""
    n, m = U.shape
    S, W, spent = set(range(n)), [], 0
    for level in levels:
        j = n
        while j >= 1 and S and len(W) < k:
            ok = [c for c in range(m) if c not in W and costs[c] <= j * budget / n and spent + costs[c] <= budget]
            if not ok:
                j -= 1
                continue
            support = {c: sum(U[i, c] >= level for i in S) for c in ok}
            a = max(ok, key=lambda c: (support[c], -c))
            need = math.ceil(costs[a] * n / budget)
            if support[a] >= need:
                group = sorted((i for i in S if U[i, a] >= level), key=lambda i: (-U[i, a], i))[:need]
                S -= set(group)
                W.append(a)
                spent += costs[a]
            else:
                j -= 1
    return W


@EXAMPLES
@given(cardinal_profiles(max_n=12, max_m=6), st.integers(2, 12), st.integers(0, 2**32 - 1))
def test_gsc_budgeted_follows_the_definition(case, budget, seed):
    U, k = case
    U = np.round(U)
    costs = np.random.default_rng(seed).integers(1, 4, U.shape[1])
    levels = np.unique(U)[::-1]
    result = compute("gsc-budgeted", U, k, budget=budget, costs=costs)
    assert result.slate == gsc_budgeted_by_definition(U, budget, costs, levels, k)
    assert costs[result.slate].sum() <= budget and len(result.slate) <= k
    n = U.shape[0]
    for t, a in enumerate(result.slate):
        group = np.flatnonzero(result.info["assignment"] == t)
        assert group.size == math.ceil(costs[a] * n / budget)
        assert (U[group, a] >= result.info["rounds"][t]["level"]).all()


def test_gsc_budgeted_prefers_high_levels_and_pays_in_words():
    # 6 participants, budget 6 words: a 2-word statement needs ⌈2·6/6⌉ = 2 supporters
    U = np.array([[4, 0, 2], [4, 0, 2], [0, 4, 2], [0, 4, 2], [0, 0, 2], [0, 0, 2]], dtype=float)
    result = compute("gsc-budgeted", U, 3, budget=6, costs=[2, 2, 2])
    assert result.slate == [0, 1, 2]
    assert [r["level"] for r in result.info["rounds"]] == [4.0, 4.0, 2.0]
    assert result.info["spent"] == 6 and result.info["unmatched"] == 0
    # with B = 5 a statement needs ⌈2·6/5⌉ = 3 supporters: none at level 4, the broad statement 2 at level 2,
    # statement 0 at level 0, and 1 word is left
    result = compute("gsc-budgeted", U, 3, budget=5, costs=[2, 2, 2])
    assert result.slate == [2, 0] and [r["level"] for r in result.info["rounds"]] == [2.0, 0.0]


def test_unknown_utilities_are_a_clear_error_not_a_crash():
    U = np.array([[4.0, np.nan], [np.nan, np.nan], [3.0, 1.0]])
    for rule in ("gsc", "gsc-budgeted"):
        params = {"budget": 2} if rule == "gsc-budgeted" else {}
        with pytest.raises(InputError, match="unknown"):
            compute(rule, U, 2, **params)
    with pytest.raises(InputError, match=r"participant 0 for statement 1"):
        gsc_round(U, np.ones(3, dtype=bool), 1)
