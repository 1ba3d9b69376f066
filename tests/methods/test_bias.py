"""The predictor bias audit detects a planted bias and reports none on unbiased noise."""

import numpy as np
import pytest

from pnyx.data import InputError
from pnyx.methods.bias import bias_audit, paraphrase_bias


def _data(seed, bias):
    rng = np.random.default_rng(seed)
    n, m = 240, 30
    groups = np.repeat(["a", "b", "c"], n // 3).tolist()
    full = rng.uniform(0, 4, size=(n, m))
    pred = full + rng.normal(0, 0.6, size=(n, m))
    pred[np.array(groups) == "b"] += bias
    truth = np.where(rng.random((n, m)) < 0.5, np.nan, full)
    return truth, pred, groups


def test_planted_bias_is_detected():
    truth, pred, groups = _data(0, 0.5)
    r = bias_audit(truth, pred, groups, slate=[0, 1, 2], seed=0)
    assert r.flagged == ["b"]
    b = next(g for g in r.groups if g.group == "b")
    assert b.signed_error == pytest.approx(0.5, abs=0.05) and b.signed_error_ci[0] > 0.4
    assert {r.largest_gap["high"], r.largest_gap["low"]} & {"b"} and r.largest_gap["ci"][0] > 0.3
    # half the entries were predicted (and so biased) already: replacing the truth shifts b more than a and c
    assert min(r.slate_shift["b"] - r.slate_shift["a"], r.slate_shift["b"] - r.slate_shift["c"]) > 0.1


@pytest.mark.parametrize("seed", range(3))
def test_no_bias_on_unbiased_noise(seed):
    r = bias_audit(*_data(seed, 0.0), seed=seed)
    assert r.flagged == []
    assert all(abs(g.signed_error) < 0.05 and g.spearman > 0.8 for g in r.groups)


def test_needs_two_groups():
    truth, pred, _ = _data(0, 0)
    with pytest.raises(InputError):
        bias_audit(truth, pred, ["a"] * truth.shape[0])


# -- the same audit under paraphrased prompts (the aggregation; the LLM plumbing is in tests/queries) --
def test_paraphrase_spread_and_verdict_change():
    truth, pred, groups = _data(0, 0.0)
    shifted = pred.copy()
    shifted[np.array(groups) == "b"] += 0.5  # the second wording rates group b half a point higher
    r = paraphrase_bias(truth, [pred, shifted], groups, paraphrases=[0, 3], seed=0)
    assert r.paraphrases == [0, 3] and len(r.audits) == 2
    rows = {g["group"]: g for g in r.groups}
    assert rows["b"]["signed_error"][1] - rows["b"]["signed_error"][0] == pytest.approx(0.5)
    assert rows["b"]["spread"]["signed_error"] == pytest.approx(0.5)
    assert rows["a"]["spread"]["signed_error"] == 0 and rows["a"]["spread"]["spearman"] == 0
    assert rows["b"]["flagged"] == [False, True]
    assert [v["flagged"] for v in r.verdicts] == [[], ["b"]]
    assert r.stable["flagged"] is False and r.to_dict()["ever_flagged"] == ["b"]
    # two wordings half a point apart: each entry's standard deviation across them is 0.25
    assert r.rating_sd["b"] == pytest.approx(0.25) and r.rating_sd["a"] == 0 and r.rating_sd["c"] == 0
    known = ~np.isnan(truth)
    in_b = known & (np.array(groups) == "b")[:, None]
    assert r.rating_sd["all"] == pytest.approx(0.25 * in_b.sum() / known.sum())


def test_same_predictions_under_every_wording_are_stable():
    truth, pred, groups = _data(1, 0.5)
    r = paraphrase_bias(truth, [pred, pred.copy(), pred.copy()], groups, seed=1)
    assert all(r.stable.values()) and r.rating_sd["all"] == pytest.approx(0, abs=1e-12)
    assert all(v == 0 for g in r.groups for v in g["spread"].values())
    assert [v["flagged"] for v in r.verdicts] == [["b"]] * 3


def test_a_group_without_ratings_under_one_wording_is_nan_there():
    truth, pred, groups = _data(2, 0.0)
    missing = pred.copy()
    missing[np.array(groups) == "c"] = np.nan  # e.g. the model never answered with a rating for them
    r = paraphrase_bias(truth, [pred, missing], groups, seed=2)
    c = next(g for g in r.groups if g["group"] == "c")
    assert np.isfinite(c["mae"][0]) and np.isnan(c["mae"][1]) and c["flagged"] == [False, False]
    assert c["spread"]["mae"] == 0  # one wording measured it: no spread to speak of


def test_paraphrase_audit_needs_two_wordings():
    truth, pred, groups = _data(0, 0)
    with pytest.raises(InputError, match="two wordings"):
        paraphrase_bias(truth, [pred], groups)
