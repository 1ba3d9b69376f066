"""Offline generators: ``extractive`` and ``cluster`` on the bundled Polis conversation and the chatbot data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pnyx.data import Profile
from pnyx.io import load
from pnyx.queries import get_generative
from pnyx.queries.base import Candidate, GenerativeBackend
from pnyx.queries.cluster import ClusterGenerator
from pnyx.queries.embed import embed
from pnyx.queries.extractive import ExtractiveGenerator, sentences
from pnyx.queries.text import TextBackend

REPO = Path(__file__).resolve().parents[2]
CHATBOT = REPO.parent / "shared" / "data" / "chatbot_personalization" / "participants.jsonl"
POLIS = REPO / "examples" / "scoop-hivemind-biodiversity"


@pytest.fixture(scope="module")
def polis() -> Profile:
    return load(POLIS)


@pytest.fixture(scope="module")
def chatbot() -> Profile:
    if not CHATBOT.parent.is_dir():
        pytest.skip("shared data folder absent")
    return load(CHATBOT)


def test_registered_names():
    assert isinstance(get_generative("extractive"), ExtractiveGenerator)
    assert isinstance(get_generative("cluster"), ClusterGenerator)
    assert isinstance(get_generative("extractive", predictor="text").predictor, TextBackend)


def test_extractive_ranks_polis_comments_by_r_support(polis):
    group, r = np.arange(0, polis.n, 2), 60
    got = ExtractiveGenerator(source="statements", max_candidates=4).generate(polis, group, size_target=r, word_budget=25)
    assert 1 <= len(got) <= 4
    # independent recomputation: the best r-support among comments within the word budget
    U = np.where(polis.observed, polis.utilities, np.nan)[group]
    best = -np.inf
    for j, s in enumerate(polis.statements):
        col = np.sort(U[:, j][~np.isnan(U[:, j])])[::-1][:r]
        if len(s.text.split()) <= 25 and len(col):
            best = max(best, col.mean())
    assert got[0].provenance["score"] == pytest.approx(best)
    scores = [c.provenance["score"] for c in got]
    assert scores == sorted(scores, reverse=True)
    ids = polis.statement_ids
    assert all(c.statement_id in ids and c.text == polis.statements[ids.index(c.statement_id)].text for c in got)
    assert all(c.statement_id is not None and len(c.text.split()) <= 25 for c in got)
    E = embed([c.text for c in got])
    assert np.max(E @ E.T - 2 * np.eye(len(got))) < 0.9  # no near-duplicates


def test_extractive_sentences_come_from_the_group(chatbot):
    group = np.arange(4)
    got = ExtractiveGenerator(source="sentences", max_candidates=3).generate(chatbot, group, size_target=3, word_budget=30)
    assert len(got) == 3
    members = {chatbot.participants[i].id: chatbot.participants[i].text() for i in group}
    for c in got:
        assert c.statement_id is None and c.provenance["source"] == "sentence"
        assert c.provenance["author"] in members and c.text in members[c.provenance["author"]]
        assert len(c.text.split()) <= 30 and c.provenance["score_kind"] == "embedding proxy"


def test_extractive_with_a_predictor_scores_sentences_on_the_utility_scale(chatbot):
    group = np.arange(5)
    got = ExtractiveGenerator(source="both", max_candidates=8, predictor=TextBackend(features=("offset",))).generate(
        chatbot, group, size_target=2)
    kinds = {c.provenance["score_kind"] for c in got}
    assert kinds <= {"r-support", "r-support (predicted)"}
    assert all(0 <= c.provenance["score"] <= 4 for c in got)
    scores = [c.provenance["score"] for c in got]
    assert scores == sorted(scores, reverse=True)


def test_cluster_partitions_the_group_and_takes_medoid_sentences(chatbot):
    group = np.arange(8)
    gen = ClusterGenerator()
    got = gen.generate(chatbot, group, size_target=4, seed=1)
    assert len(got) == 2  # k = 8 / 4
    clusters = [set(c.provenance["participants"]) for c in got]
    assert set().union(*clusters) == set(group.tolist()) and sum(map(len, clusters)) == 8
    for c, members in zip(got, clusters):
        own = {t for t, _ in sentences(chatbot, sorted(members))}
        assert c.text in own and c.provenance["summariser"].startswith("medoid sentence")
        assert c.provenance["clustered_by"] == "text embeddings"
    again = gen.generate(chatbot, group, size_target=4, seed=1)
    assert [c.text for c in again] == [c.text for c in got]


class _Recorder(GenerativeBackend):
    name = "recorder"

    def __init__(self):
        self.calls = []

    def generate(self, profile, participants, *, size_target=None, word_budget=None, seed=0):
        self.calls.append(sorted(int(i) for i in participants))
        return [Candidate(f"statement for {len(participants)} participants", self.name, provenance={"model": "stub"})]


def test_cluster_without_texts_uses_votes_and_any_summariser(polis):
    group = np.array([i for i in range(polis.n) if not polis.participants[i].text().strip()])[:200]
    recorder = _Recorder()
    got = ClusterGenerator(summariser=recorder).generate(polis, group, size_target=50, seed=0)
    assert len(got) == len(recorder.calls) == 4
    assert sorted(sum(recorder.calls, [])) == sorted(group.tolist())
    assert all(c.provenance["clustered_by"] == "observed utilities" and c.provenance["summariser"] == "recorder" for c in got)
    offline = ClusterGenerator().generate(polis, group, size_target=50, seed=0)
    assert all(c.statement_id in polis.statement_ids for c in offline)
