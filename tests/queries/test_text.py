"""The ``text`` backend: held-out accuracy on real data, text signal where there is one, degradation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from pnyx.data import Judgment, Participant, Profile, Statement
from pnyx.evaluate.accuracy import statement_held_out
from pnyx.io import load
from pnyx.queries import get_discriminative
from pnyx.queries.text import FEATURES, TextBackend

REPO = Path(__file__).resolve().parents[2]
CHATBOT = REPO.parent / "shared" / "data" / "chatbot_personalization" / "participants.jsonl"
POLIS = REPO / "examples" / "scoop-hivemind-biodiversity"


def test_registered_as_text():
    assert isinstance(get_discriminative("text"), TextBackend)


def test_chatbot_statement_held_out_beats_the_global_mean():
    if not CHATBOT.parent.is_dir():
        pytest.skip("shared data folder absent")
    report = statement_held_out(load(CHATBOT), TextBackend(features=("offset", "neighbours")))
    assert report.metrics["n"] == 600
    assert report.metrics["mae"] < report.baselines["global mean"]["mae"] - 0.02
    assert report.metrics["within_1"] > report.baselines["global mean"]["within_1"]
    assert all(0 <= p["predicted"] <= 4 for p in report.predictions)


def _pets_profile() -> Profile:
    """Cat people rate cat statements 4 and dog statements 0; dog people the reverse."""
    cats = ["Cats are the best pets.", "I love my kitten.", "Felines are wonderful companions.", "A cat purring is joy."]
    dogs = ["Dogs are the best pets.", "I love my puppy.", "Canines are wonderful companions.", "A dog wagging is joy."]
    statements = [Statement(f"s{a}", t) for a, t in enumerate(cats + dogs)]
    rng = np.random.default_rng(0)
    people, judgments = [], []
    for i in range(24):
        cat_person = i % 2 == 0
        people.append(Participant(f"p{i}", {"q": "I adore cats." if cat_person else "I adore dogs."}))
        for a, s in enumerate(statements):
            likes = (a < 4) == cat_person
            judgments.append(Judgment(f"p{i}", s.id, float(np.clip((4 if likes else 0) + rng.integers(-1, 2), 0, 4))))
    return Profile.from_judgments(people, statements, judgments, "rating")


def test_learns_statement_similarity_where_it_carries_signal():
    profile = _pets_profile()
    report = statement_held_out(profile, TextBackend())
    true = np.array([profile.utilities[profile.participant_index(p["participant"]), profile.statement_index(p["statement"])]
                     for p in report.predictions])
    predicted = np.array([p["predicted"] for p in report.predictions])
    assert report.metrics["mae"] < 0.6 * report.baselines["participant mean"]["mae"]
    assert spearmanr(true, predicted).statistic > 0.7


def test_prediction_never_reads_the_target_column():
    profile = _pets_profile()
    hidden = profile.hide(np.isin(np.arange(profile.m), [0])[None, :] & profile.observed)
    flipped = hidden.hide(np.zeros_like(hidden.observed))
    flipped.utilities[:, 0] = 4.0 - profile.utilities[:, 0]  # values under the hidden mask must not matter
    a = TextBackend().predict(hidden, statements=[0])
    b = TextBackend().predict(flipped, statements=[0])
    np.testing.assert_array_equal(a.utilities, b.utilities)
    assert a.uncertainty is not None and np.all(np.isfinite(a.uncertainty))


def test_degrades_without_texts_and_says_so():
    polis = load(POLIS)
    sub = polis.subset(np.arange(120), np.arange(30))
    sub = sub.subset([i for i in range(sub.n) if not sub.participants[i].text().strip()])
    pred = TextBackend(features=FEATURES).predict(sub, statements=[0, 1])
    assert any("answers" in why for why in pred.info["missing"])
    assert any("explanations" in why for why in pred.info["missing"])
    assert pred.utilities.shape == (sub.n, 2) and np.all((pred.utilities >= 0) & (pred.utilities <= 4))


def test_falls_back_to_participant_mean_with_one_judged_statement():
    profile = _pets_profile().subset(statements=[0, 4])
    one = profile.hide(np.isin(np.arange(2), [1])[None, :] & profile.observed)
    pred = TextBackend(features=("offset",)).predict(one, statements=[1])
    np.testing.assert_allclose(pred.utilities[:, 0], one.utilities[:, 0])
    assert any("participant mean" in why for why in pred.info["missing"])


def test_unknown_feature_is_rejected():
    with pytest.raises(ValueError, match="unknown text features"):
        TextBackend(features=("offset", "sentiment"))
