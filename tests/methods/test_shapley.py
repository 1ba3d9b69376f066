"""Shapley values against shap's ExactExplainer, efficiency, and the glove game."""

import numpy as np
import pytest

from pnyx.methods.shapley import (explain_statement, sentence_game, shapley_exact, shapley_permutation,
                                  support_game)


def _game(n, seed):
    rng = np.random.default_rng(seed)
    w, pairs = rng.normal(size=n), rng.normal(size=(n, n))

    def v(S):
        S = S.astype(float)
        return S @ w + np.einsum("ci,ij,cj->c", S, np.triu(pairs, 1), S) + np.maximum(S.sum(1) - 2, 0) ** 1.5

    return v


@pytest.mark.parametrize("n", [3, 6, 8])
def test_equals_shap_exact_explainer_on_a_binary_mask_game(n):
    import shap

    v = _game(n, n)
    background = np.zeros((1, n))
    explainer = shap.explainers.Exact(lambda X: v(X > 0.5), shap.maskers.Independent(background, max_samples=1))
    expected = explainer(np.ones((1, n))).values[0]
    np.testing.assert_allclose(shapley_exact(v, n).values, expected, atol=1e-9)


def test_efficiency_exact_and_permutation():
    v = _game(7, 1)
    ex = shapley_exact(v, 7)
    assert ex.values.sum() == pytest.approx(ex.v_all - ex.v_empty)
    pm = shapley_permutation(v, 7, permutations=400, seed=0)
    assert pm.values.sum() == pytest.approx(pm.v_all - pm.v_empty)
    assert (np.abs(pm.values - ex.values) <= 5 * pm.stderr + 1e-9).all()


def test_glove_game_closed_form():
    def glove(left):
        return lambda S: np.minimum(S[:, :left].sum(1), S[:, left:].sum(1)).astype(float)

    np.testing.assert_allclose(shapley_exact(glove(1), 3).values, [2 / 3, 1 / 6, 1 / 6])
    np.testing.assert_allclose(shapley_exact(glove(3), 6).values, [0.5] * 6)


def test_support_game_and_groups():
    U = np.array([[4, 0], [4, 0], [0, 4], [3, 1.]])
    by_person = explain_statement(U, 0)
    assert by_person.values.sum() == pytest.approx(4 + 4 + 0 + 3 - 0 - 0 - 4 - 1)
    assert by_person.values[2] < 0 < by_person.values[3] < by_person.values[0]
    by_group = explain_statement(U, 0, groups=["a", "a", "b", None])
    assert by_group.players == ["a", "b"] and by_group.values.sum() == pytest.approx(4.0)  # 8 − 4
    assert support_game(U, 0)(np.ones((1, 4), dtype=bool))[0] == pytest.approx(6.0)


def test_sentence_game_with_a_deterministic_stand_in_for_the_model():
    calls = []

    def rate(text):  # a pure stand-in for a cached temperature-0 LLM rating
        calls.append(text)
        return 1.0 + 2.0 * ("trees" in text) + 1.0 * ("birds" in text and "trees" in text)

    sentences = ["I like trees.", "Birds matter too: birds.", "Cities are fine."]
    r = shapley_exact(sentence_game(sentences, rate), 3, sentences)
    np.testing.assert_allclose(r.values, [2.5, 0.5, 0.0])
    assert len(calls) == 8 and r.evaluations == 8


def test_prefix_shortcut_equals_coalition_evaluation():
    rng = np.random.default_rng(2)
    U = rng.uniform(0, 4, size=(30, 5))
    v = support_game(U, 1)
    fast = shapley_permutation(v, 30, permutations=20, seed=4)
    slow = shapley_permutation(lambda S: v(S), 30, permutations=20, seed=4)
    np.testing.assert_allclose(fast.values, slow.values, atol=1e-9)


def test_owen_values():
    from pnyx.methods.shapley import owen_exact, owen_permutation

    n = 6
    v = _game(n, 5)
    shapley = shapley_exact(v, n).values
    np.testing.assert_allclose(owen_exact(v, n, [[i] for i in range(n)]).values, shapley, atol=1e-9)
    np.testing.assert_allclose(owen_exact(v, n, [list(range(n))]).values, shapley, atol=1e-9)
    groups = [[0, 3], [1, 2, 5], [4]]
    ow = owen_exact(v, n, groups)
    assert ow.values.sum() == pytest.approx(ow.v_all - ow.v_empty)

    def quotient(S):  # the game between the groups
        full = np.zeros((len(S), n), dtype=bool)
        for q, members in enumerate(groups):
            full[:, members] = S[:, [q]]
        return v(full)

    per_group = shapley_exact(quotient, 3).values
    np.testing.assert_allclose([ow.values[g].sum() for g in groups], per_group, atol=1e-9)
    sampled = owen_permutation(v, n, groups, permutations=400, seed=1)
    assert (np.abs(sampled.values - ow.values) <= 5 * sampled.stderr + 1e-9).all()
    # the glove game with the left glove and one right glove in a union {0, 1}, the other right glove {2}:
    # the union gets 1 in the quotient game; the left glove adds 1 after {2}, ½ on average before it
    glove = lambda S: np.minimum(S[:, :1].sum(1), S[:, 1:].sum(1)).astype(float)  # noqa: E731
    np.testing.assert_allclose(owen_exact(glove, 3, [[0, 1], [2]]).values, [0.75, 0.25, 0.0], atol=1e-9)
