"""pnyx JSONL on the chatbot-personalization files, checked against the files read with the json module."""

from __future__ import annotations

import json
import shutil

import numpy as np

from pnyx.io import load, read_jsonl
from pnyx.io._common import natural_key


def _lines(path):
    """The file's records in the order of their ids, the order every reader gives participants in."""
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return sorted(records, key=lambda r: natural_key(r["id"]))


def test_participants_jsonl_matches_the_file(chatbot):
    records = _lines(chatbot / "participants.jsonl")
    slate = json.loads((chatbot / "slate.json").read_text(encoding="utf-8"))
    profile = load(chatbot / "participants.jsonl")

    assert (profile.n, profile.m, int(profile.observed.sum())) == (100, 6, 600)
    assert profile.scale == "rating" and profile.info["format"] == "jsonl"
    assert profile.participant_ids == [r["id"] for r in records]
    texts = {s["id"]: s["text"] for s in slate["generation_survey_statements"]}
    assert {s.id: s.text for s in profile.statements} == texts

    for i, r in enumerate(records):
        for rating in r["ratings"]:
            j = profile.statement_index(rating["statement_id"])
            assert profile.utilities[i, j] == rating["rating"]
            assert profile.explanations[i, j] == rating["explanation"]
        nonempty = {a["question_id"]: a["text"] for a in r["answers"] if a["text"]}
        assert profile.participants[i].answers == nonempty
        assert list(profile.participants[i].answers) == sorted(nonempty)  # question ids in order
        assert profile.participants[i].metadata["hand_annotations"] == r["hand_annotations"]
        assert profile.participants[i].metadata["answer_date"] == r["answer_date"]

    empty = sum(1 for r in records for a in r["answers"] if not a["text"])
    assert profile.excluded == {"empty answers": empty} and empty > 0
    prompt = {a["question_id"] for r in records for a in r["answers"] if a["used_in_paper_disc_prompt"]}
    assert set(profile.info["prompt_questions"]) == prompt and len(prompt) == 4


def test_validation_jsonl_and_folder(chatbot):
    records = _lines(chatbot / "validation.jsonl")
    profile = load(chatbot / "validation.jsonl")
    assert (profile.n, profile.m, int(profile.observed.sum())) == (100, 5, 500)
    assert profile.statement_ids == ["S1", "S2", "S3", "S4", "S5"]
    assert all(not p.answers for p in profile.participants)
    assert [p.metadata["paper_assignment"] for p in profile.participants] == [r["paper_assignment"] for r in records]
    totals = {s: sum(x["rating"] for r in records for x in r["ratings"] if x["statement_id"] == s) for s in profile.statement_ids}
    assert np.nansum(profile.utilities, axis=0).tolist() == [totals[s] for s in profile.statement_ids]

    folder = load(chatbot)  # a folder holding participants.jsonl
    assert folder.summary() == load(chatbot / "participants.jsonl").summary()


def test_without_slate_json_texts_come_from_the_ratings(chatbot, tmp_path):
    shutil.copy(chatbot / "validation.jsonl", tmp_path / "v.jsonl")
    alone = read_jsonl(tmp_path / "v.jsonl")
    with_slate = read_jsonl(chatbot / "validation.jsonl")
    first = [x["statement_id"] for x in _lines(chatbot / "validation.jsonl")[0]["ratings"]]
    assert alone.statement_ids == first  # order of first appearance
    assert {s.id: s.text for s in alone.statements} == {s.id: s.text for s in with_slate.statements}
    assert "rating_question" not in alone.info and "rating_question" in with_slate.info
