"""The egalitarian group slate against brute force; EM groups recover planted clusters."""

from itertools import combinations

import numpy as np
import pytest

from pnyx.data import InputError
from pnyx.methods.groups import em_groups, group_utilities, groups_from_labels, maxmin_groups
from pnyx.rules import compute


def _brute(U, k, labels):
    g = groups_from_labels(labels)
    return max(np.nanmin(group_utilities(U, list(W), g)) for W in combinations(range(U.shape[1]), k))


@pytest.mark.parametrize("seed", range(5))
def test_milp_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    n, m, k = 14, 7, int(rng.integers(1, 4))
    U = rng.integers(0, 5, size=(n, m)).astype(float)
    labels = rng.choice(["a", "b", "c"], size=n).tolist()
    r = maxmin_groups(U, k, groups=labels, method="milp")
    assert r.status == "optimal" and len(r.slate) == k
    assert r.scores[0] == pytest.approx(_brute(U, k, labels))
    greedy = maxmin_groups(U, k, groups=labels, method="greedy")
    assert greedy.scores[0] <= r.scores[0] + 1e-9


def test_the_worst_group_decides():
    # group a loves column 0, group b column 1, everyone likes column 2 a little more on the sum
    U = np.array([[4, 0, 3], [4, 0, 3], [4, 0, 3], [0, 4, 1]], dtype=float)
    labels = ["a", "a", "a", "b"]
    assert compute("maxmin-groups", U, 1, groups=labels).slate == [2]  # min(3, 1) = 1 beats min(4, 0), min(0, 4)
    assert maxmin_groups(U, 2, groups=labels).slate == [0, 1]


def test_em_recovers_planted_clusters():
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(0)
    centres = rng.uniform(0, 4, size=(3, 12))
    truth = np.repeat([0, 1, 2], [40, 30, 30])
    U = np.clip(centres[truth] + rng.normal(0, 0.3, size=(100, 12)), 0, 4)
    fixed = em_groups(U, 3, seed=0)
    assert adjusted_rand_score(truth, fixed.labels) == 1.0
    chosen = em_groups(U, seed=0)  # the number of groups by BIC
    assert chosen.count == 3 and adjusted_rand_score(truth, chosen.labels) == 1.0


def test_rule_learns_groups_when_none_given_and_is_seeded():
    rng = np.random.default_rng(1)
    U = rng.uniform(0, 4, size=(40, 9))
    a, b = compute("maxmin-groups", U, 3, seed=5), compute("maxmin-groups", U, 3, seed=5)
    assert a.slate == b.slate and a.info["group_method"] == "em" and len(a.slate) == 3


def test_bad_groups():
    with pytest.raises(InputError, match="labels"):
        maxmin_groups(np.ones((3, 2)), 1, groups=["a"])
    with pytest.raises(InputError, match="no participant"):
        maxmin_groups(np.ones((2, 2)), 1, groups=[None, None])


def test_greedy_is_called_optimal_only_at_the_bound():
    U = np.array([[4, 0, 1], [4, 0, 1], [0, 4, 1], [0, 4, 1.]])
    labels = ["a", "a", "b", "b"]
    two = maxmin_groups(U, 2, groups=labels, method="greedy")
    assert two.slate == [0, 1] and two.status.startswith("optimal") and two.info["upper_bound"] == 4
    one = maxmin_groups(U, 1, groups=labels, method="greedy")
    assert one.status == "greedy+swap" and one.scores[0] == 1 < one.info["upper_bound"]
