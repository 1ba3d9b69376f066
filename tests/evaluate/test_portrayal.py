"""Held-out portrayal measures and baseline slates on tiny hand-made vote matrices (numbers worked out by hand)."""

import numpy as np
import pytest

from pnyx.data import InputError
from pnyx.evaluate.portrayal import (coverage, group_representatives, held_out, jr_gap, portrayal, split_participants,
                                     top_by_agree_count, top_by_agree_rate)

nan = np.nan

# rows: participants; columns: statements; 1 agree, 0 pass, -1 disagree, nan not seen
COUNTS = np.array([[1, 1, nan, -1],
                   [1, -1, 1, 1],
                   [nan, 1, 1, 1],
                   [0, 1, -1, 1]])


def test_split_is_seeded_disjoint_and_sized():
    train, test = split_participants(10, fraction=0.2, seed=3)
    assert test.size == 2 and train.size == 8
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(10))
    assert train.tolist() == sorted(train.tolist()) and test.tolist() == sorted(test.tolist())
    assert np.array_equal(split_participants(10, fraction=0.2, seed=3)[1], test)
    assert len({tuple(split_participants(10, seed=s)[1]) for s in range(5)}) > 1
    with pytest.raises(InputError, match="between 0 and 1"):
        split_participants(10, fraction=1.0)


def test_top_by_agree_count_and_rate():
    # agrees per column: 2, 3, 2, 3; votes cast: 3, 4, 3, 4
    assert top_by_agree_count(COUNTS, 2) == [1, 3]
    assert top_by_agree_count(COUNTS, 3) == [1, 3, 0]  # 0 and 2 tie: lowest column
    assert top_by_agree_count(COUNTS, 2, pool=[0, 2, 3]) == [3, 0]
    assert top_by_agree_rate(COUNTS, 4, min_votes=1) == [1, 3, 0, 2]  # 3/4, 3/4, 2/3, 2/3
    assert top_by_agree_rate(COUNTS, 3, min_votes=4) == [1, 3, 0]  # 0 and 2 have 3 votes: last
    with pytest.raises(InputError, match="larger than the number of candidate statements"):
        top_by_agree_count(COUNTS, 3, pool=[0, 1])


# groups a, a, b, none. Column 0: a agrees, the rest disagree; column 1 the opposite; column 2 everyone agrees.
GROUPED = np.array([[1, -1, 1],
                    [1, -1, 1],
                    [-1, 1, 1],
                    [-1, 1, 1]])
GROUPS = ["a", "a", "b", None]


def test_group_representatives_by_rate_difference_in_turns():
    # smoothed agree rates (agrees + 1) / (votes + 2):
    #   a: inside .75 .25 .75, outside (b and none) .25 .75 .75 → differences .5, -.5, 0 → a ranks 0, 2, 1
    #   b: inside 1/3 2/3 2/3, outside (a, a, none) .6 .4 .8 → differences -.27, .27, -.13 → b ranks 1, 2, 0
    assert group_representatives(GROUPED, GROUPS, 2) == [0, 1]  # a (the larger group) first, then b
    assert group_representatives(GROUPED, GROUPS, 3) == [0, 1, 2]
    assert group_representatives(GROUPED, GROUPS, 2, pool=[1, 2]) == [2, 1]


def test_group_representatives_polis_repness_proportional_seats():
    # repness pa·pa/pa_out with pa > 1/2: a: 2.25, (pa .25 last), .75 → 0, 2, 1; b: (1/3 last), 1.11, .56 → 1, 2, 0
    # seats 3·(2, 1)/3 = 2 for a, 1 for b
    assert group_representatives(GROUPED, GROUPS, 3, score="repness", seats="proportional") == [0, 2, 1]
    assert group_representatives(GROUPED, GROUPS, 1, score="repness", seats="proportional") == [0]


def test_group_representatives_refuses_bad_groups():
    with pytest.raises(InputError, match="one group per participant"):
        group_representatives(GROUPED, ["a"], 2)
    with pytest.raises(InputError, match="no participant has a group"):
        group_representatives(GROUPED, [None] * 4, 2)
    with pytest.raises(InputError, match="score must be one of"):
        group_representatives(GROUPED, GROUPS, 2, score="best")


HELD = np.array([[1, -1, nan],   # voted on the slate [0, 1], agrees with 0: covered
                 [-1, 0, 1],     # voted, agrees with none of it; agrees with 2
                 [nan, nan, 1],  # never voted on the slate: not in coverage; agrees with 2
                 [0, nan, 1]])   # a pass is a vote: evaluated, not covered; agrees with 2


def test_coverage_counts_people_who_voted_on_the_slate():
    assert coverage(HELD, [0, 1]) == (pytest.approx(1 / 3), 3)
    assert coverage(HELD, [2]) == (pytest.approx(1.0), 3)
    share, evaluated = coverage(np.full((2, 2), nan), [0])
    assert np.isnan(share) and evaluated == 0


def test_jr_gap_is_the_largest_uncovered_agreeing_group_over_n_by_k():
    # rows 1, 2, 3 agree with nothing on the slate and all agree with 2: 3 people, n/k = 4/2
    assert jr_gap(HELD, [0, 1]) == (3, 1.5)
    assert jr_gap(HELD, [0, 1], 4) == (3, 3.0)
    assert jr_gap(HELD, [0, 1], pool=[0, 1]) == (0, 0.0)  # statement 2 not a candidate
    assert jr_gap(HELD, [0, 2]) == (0, 0.0)


def test_portrayal_separating_slate_predicts_what_the_majority_misses():
    train = np.array([[1, 1, 1], [1, 1, 1], [-1, 1, -1]])
    test = np.array([[-1, 1, -1]])
    p = portrayal(train, test, [0, 1], neighbours=1)
    # similarities (-1·1 + 1·1, same, 1 + 1) = (0, 0, 2): the neighbour is row 2, who disagrees with 2 as
    # the held-out person does; the majority of statement 2 is agree
    assert (p.accuracy, p.baseline_accuracy, p.gain, p.votes, p.people) == (1.0, 0.0, 1.0, 1, 1)
    # a slate everyone agrees with: every training participant ties, the neighbours are everyone
    q = portrayal(train, test, [1], neighbours=1)
    assert (q.accuracy, q.baseline_accuracy, q.votes) == (0.0, 0.0, 2)
    r = portrayal(train, test, [1], neighbours=1, pool=[1, 2])  # statement 0 is not a candidate: not predicted
    assert (r.accuracy, r.votes) == (0.0, 1)
    empty = portrayal(train, test, [0, 1], pool=[0, 1])
    assert np.isnan(empty.accuracy) and empty.votes == 0


def test_portrayal_ties_at_the_cut_and_silent_neighbours():
    train = np.array([[1, nan, -1],
                      [1, nan, -1],
                      [-1, 1, 1],
                      [-1, 1, 1],
                      [-1, 1, nan]])
    test = np.array([[1, -1, -1],
                     [nan, 1, 1],    # no vote on the slate: not evaluated
                     [0, 0, 1]])     # passed on the slate (similarity 0 to all); passed on 1: only 2 is predicted
    # person 0: similarities (1, 1, -1, -1, -1); neighbours rows 0, 1 (tied, both kept even when 1 is asked).
    #   Statement 1: they never voted → per-statement majority (3 agrees: agree) ✗.
    #   Statement 2: they disagree → disagree ✓. Majority of 2: 2 − 2 = 0, tie → overall decisive sum 3 > 0: agree ✗.
    # person 2: all five tie → neighbours' tally = the column sums, so the majority's answer: statement 2 agree ✓ ✓.
    for n in (1, 2):
        p = portrayal(train, test, [0], neighbours=n)
        assert (p.accuracy, p.baseline_accuracy, p.votes, p.people) == (2 / 3, 1 / 3, 3, 2)
    everyone = portrayal(train, test, [0], neighbours=5)
    assert everyone.gain == 0.0  # the whole training set's majority is the baseline itself


def test_portrayal_on_two_opinion_blocs():
    """Seeded synthetic conversation: two blocs who disagree on half the statements and agree on the rest; each
    person votes on a random 60 %. A slate of divisive statements portrays the blocs, a consensual one does not."""
    rng = np.random.default_rng(0)
    n, m = 300, 20
    bloc = rng.integers(0, 2, n)
    divisive = np.where(bloc[:, None] == 1, 1.0, -1.0) * np.ones((1, m // 2))
    consensual = np.ones((n, m // 2))
    votes = np.hstack([divisive, consensual])
    flip = rng.random((n, m)) < 0.1
    votes[flip] *= -1
    votes[rng.random((n, m)) < 0.4] = nan
    train, test = split_participants(n, seed=0)
    sep = held_out(votes[train], votes[test], [0, 1, 2], 3)
    flat = held_out(votes[train], votes[test], [10, 11, 12], 3)
    assert sep.portrayal.gain > 0.1  # of at most ~0.18: the majority is right on the consensual half
    assert abs(flat.portrayal.gain) < 0.02
    assert flat.coverage > sep.coverage  # consensual statements cover more people, portray less
    voted = ~np.isnan(votes[test][:, :3]).all(axis=1)
    assert sep.evaluated == sep.portrayal.people == voted.sum()  # everyone has votes off the slate here
    assert sep.portrayal.votes == (~np.isnan(votes[test][voted][:, 3:])).sum()  # no passes in this profile


def test_bad_votes_and_shapes_are_refused():
    with pytest.raises(InputError, match="votes are 1 agree, 0 pass, -1 disagree"):
        coverage(np.array([[2.0, 1.0]]), [0])
    with pytest.raises(InputError, match="same statements"):
        portrayal(np.ones((3, 2)), np.ones((1, 3)), [0])
    with pytest.raises(InputError, match="neighbours must be a positive integer"):
        portrayal(np.ones((3, 2)), np.ones((1, 2)), [0], neighbours=0)
    with pytest.raises(InputError, match="out of range"):
        jr_gap(HELD, [5])
