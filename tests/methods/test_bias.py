"""The predictor bias audit detects a planted bias and reports none on unbiased noise."""

import numpy as np
import pytest

from pnyx.data import InputError
from pnyx.methods.bias import bias_audit


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
