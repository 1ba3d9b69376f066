"""The accuracy harness on real data: statement-held-out (chatbot ratings), vote-held-out (Polis votes)."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from pnyx.evaluate.accuracy import predict_pairs, rating_metrics, statement_held_out, vote_held_out, vote_metrics
from pnyx.io import load
from pnyx.queries import get_discriminative
from pnyx.queries.base import DiscriminativeBackend

REPO = Path(__file__).resolve().parents[2]
CHATBOT = REPO.parent / "shared" / "data" / "chatbot_personalization"
POLIS = REPO / "examples" / "scoop-hivemind-biodiversity"


@pytest.fixture(scope="module")
def chatbot():
    if not CHATBOT.is_dir():
        pytest.skip(f"{CHATBOT} is absent")
    return load(CHATBOT)


@pytest.fixture(scope="module")
def polis():
    return load(POLIS)


def raw_chatbot_ratings():
    """participant id → {statement id: rating}, read straight from the file (independent of pnyx.io)."""
    rows = [json.loads(line) for line in (CHATBOT / "participants.jsonl").read_text(encoding="utf-8").splitlines()]
    return {r["id"]: {x["statement_id"]: x["rating"] for x in r["ratings"]} for r in rows}


class Spy(DiscriminativeBackend):
    """Records what it is shown; predicts with biases-only cf."""

    name = "spy"

    def __init__(self):
        self.calls = []

    def predict(self, profile, participants=None, statements=None):
        self.calls.append((profile.observed.copy(), list(statements)))
        return get_discriminative("cf", ranks=(0,), regs=(3.0,)).predict(profile, participants, statements)


def test_metrics_by_hand():
    m = rating_metrics(np.array([0, 2, 4, 3]), np.array([0.4, 3.6, 2.2, 3.0]))
    assert m["n"] == 4
    assert m["mae"] == pytest.approx((0.4 + 1.6 + 1.8 + 0) / 4)
    assert m["rmse"] == pytest.approx(np.sqrt((0.16 + 2.56 + 3.24) / 4))
    assert m["exact"] == 0.5 and m["within_1"] == 0.5  # rounded: 0, 4, 2, 3
    assert m["spearman"] == pytest.approx(spearmanr([0, 2, 4, 3], [0.4, 3.6, 2.2, 3.0]).statistic)
    v = vote_metrics(np.array([True, True, False, False]), np.array([3.0, 1.0, 0.5, 2.5]))
    assert v["accuracy"] == 0.5 and v["auc"] == 0.75


def test_statement_held_out_hides_each_statement_from_everyone(chatbot):
    spy = Spy()
    report = statement_held_out(chatbot, spy)
    assert [s for _, s in spy.calls] == [[j] for j in range(6)]
    for seen, (j,) in spy.calls:
        assert not seen[:, j].any() and seen[:, np.arange(6) != j].all()
    assert report.metrics["n"] == 600 and report.protocol == "statement-held-out"


def test_statement_held_out_baselines_and_predictions_on_chatbot(chatbot):
    report = statement_held_out(chatbot, get_discriminative("cf"))
    ratings = raw_chatbot_ratings()
    # participant's mean of their other five ratings, computed from the raw file
    err = [abs(np.mean([v for t, v in r.items() if t != s]) - r[s]) for r in ratings.values() for s in r]
    assert report.baselines["participant mean"]["mae"] == pytest.approx(np.mean(err))
    assert report.baselines["participant mean"]["mae"] == pytest.approx(1.1667, abs=1e-4)
    assert len(report.predictions) == 600
    first = report.predictions[0]
    assert set(first) == {"participant", "statement", "predicted"}
    assert first["participant"] in ratings and first["statement"] in ratings[first["participant"]]
    assert all(0 <= p["predicted"] <= 4 for p in report.predictions)
    assert report.metrics["mae"] < 1.25  # ratings alone carry little about a new statement: see benchmarks/README.md


def test_vote_held_out_on_polis_beats_the_majority_baselines(polis):
    report = vote_held_out(polis, get_discriminative("cf"), frac=0.1, seed=0)
    signed = int((polis.observed & (polis.utilities != 2)).sum())
    assert report.metrics["n"] == report.info["hidden"] == round(0.1 * signed)
    assert report.metrics["accuracy"] >= 0.85
    for name in ("comment majority", "participant majority", "global majority"):
        assert report.metrics["accuracy"] > report.baselines[name]["accuracy"] + 0.02
    assert report.metrics["auc"] > report.baselines["comment majority"]["auc"]
    assert all(-1 <= p["predicted"] <= 1 for p in report.predictions)
    # every scored vote was a real agree or disagree in the data
    pidx = {p: i for i, p in enumerate(polis.participant_ids)}
    sidx = {s: j for j, s in enumerate(polis.statement_ids)}
    true = [polis.utilities[pidx[p["participant"]], sidx[p["statement"]]] for p in report.predictions]
    assert set(true) == {0.0, 4.0}


def test_vote_held_out_is_seeded(polis):
    cf = get_discriminative("cf", ranks=(0,), regs=(3.0,))
    a, b, c = (vote_held_out(polis, cf, seed=s) for s in (1, 1, 2))
    assert a.predictions == b.predictions and a.predictions != c.predictions


def test_vote_held_out_refuses_ratings(chatbot):
    with pytest.raises(ValueError, match="needs agree/disagree votes; this profile holds ratings"):
        vote_held_out(chatbot, get_discriminative("cf"))


def test_predict_pairs_in_the_data_scale_with_provenance(polis):
    i, j = np.argwhere(~polis.observed)[0]
    rows = predict_pairs(polis, get_discriminative("cf"), [(i, j), (0, 0)])
    assert [r["participant"] for r in rows] == [polis.participant_ids[i], polis.participant_ids[0]]
    assert all(-1 <= r["predicted"] <= 1 and r["backend"] == "cf:biased-mf" and 0 < r["uncertainty"] < 2 for r in rows)
