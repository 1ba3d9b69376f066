"""Diversity against the metric's public explainer; mutual consensus LP against brute force."""

import numpy as np
import pytest

from pnyx.methods.consensus import consensus_costs, kappa, mutual_consensus
from pnyx.methods.diversity import diversity, slate_inclusion

SHAPES = {"color": ["green"] * 3, "size": ["small", "medium", "large"], "shape": ["circle", "circle", "triangle"]}
CATEGORIES = {"color": ["red", "blue", "green"], "size": ["small", "medium", "large"],
              "shape": ["triangle", "square", "circle"]}


def test_explainer_green_shapes():
    d = diversity(SHAPES, categories=CATEGORIES)
    assert d == pytest.approx({"color": 1 / 3, "shape": 2 / 3, "size": 1.0})
    assert diversity(SHAPES, [0, 1], categories=CATEGORIES, aggregate="min") == {"color": 0, "size": 0, "shape": 0}


def test_slate_inclusion():
    U = np.array([[4, 0], [3, 1], [0, 4], [1, 2.]])
    r = slate_inclusion(U, [0, 1], [0, 0, 1, 1], {"group": ["x", "x", "y", "y"]})
    np.testing.assert_allclose(r.inclusion, [1, 0.5, 1, 0])
    assert r.summaries["egalitarian"] == 0 and r.summaries["utilitarian"] == pytest.approx(0.625)
    assert r.per_statement[1]["speaks_for"] == 1  # participant 3 rates statement 1 only 2 < 3
    assert r.per_group["y"] == {"participants": 2, "mean_inclusion": 0.5, "spoken_for": 1, "present": 1}


def _brute(o, eps):
    return min(np.abs(np.clip(o, L, L + eps) - o).sum() for L in np.concatenate([o, o - eps]))


@pytest.mark.parametrize("seed", range(8))
def test_lp_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    o = rng.choice(np.arange(5.0), size=int(rng.integers(2, 30))) if seed % 2 else rng.uniform(0, 4, 25)
    eps = float(rng.uniform(0, 3))
    r = mutual_consensus(o, eps)
    assert r.cost == pytest.approx(_brute(o, eps), abs=1e-7)
    assert kappa(r.adjusted) <= eps + 1e-7 and r.kappa == pytest.approx(o.max() - o.min())
    assert np.abs(r.adjusted - o).sum() == pytest.approx(r.cost, abs=1e-7)
    assert consensus_costs(o[:, None], eps)[0] == pytest.approx(r.cost, abs=1e-7)


def test_weights_and_nan():
    assert mutual_consensus([0, 4, np.nan], 2).n == 2
    assert mutual_consensus([0, 4], 2, weights=[1, 3]).cost == pytest.approx(2.0)  # move the cheap one
