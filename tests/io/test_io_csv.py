"""Generic CSV: the chatbot-personalization data written as opinions and judgments files."""

from __future__ import annotations

import csv
import json

import numpy as np

from pnyx.io import load


def _records(chatbot):
    return [json.loads(line) for line in (chatbot / "participants.jsonl").read_text(encoding="utf-8").splitlines()]


def _write(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_judgments_csv_equals_the_jsonl(chatbot, tmp_path):
    rows = [(r["id"], x["statement_id"], x["rating"], x["statement"], x["explanation"]) for r in _records(chatbot) for x in r["ratings"]]
    path = _write(tmp_path / "ratings.csv", ["participant_id", "statement_id", "rating", "statement", "explanation"], rows)
    from_csv, from_jsonl = load(path), load(chatbot / "participants.jsonl")
    assert from_csv.info == {"format": "csv", "statements_without_text": 0}
    order = [from_csv.statement_index(s) for s in from_jsonl.statement_ids]
    assert from_csv.participant_ids == from_jsonl.participant_ids
    np.testing.assert_array_equal(from_csv.utilities[:, order], from_jsonl.utilities)
    assert [from_csv.statements[j].text for j in order] == [s.text for s in from_jsonl.statements]
    assert len(from_csv.explanations) == 600


def test_votes_csv_and_statements_without_text(tmp_path):
    path = _write(tmp_path / "votes.csv", ["participant_id", "statement_id", "vote"], [("a", "s1", "1"), ("a", "s2", "-1"), ("b", "s1", "0")])
    profile = load(path)
    assert profile.scale == "vote" and profile.utilities[0].tolist() == [4.0, 0.0]
    assert np.isnan(profile.utilities[1, 1]) and profile.utilities[1, 0] == 2.0
    assert [s.text for s in profile.statements] == ["s1", "s2"] and profile.info["statements_without_text"] == 2


def test_opinions_csv_equals_the_jsonl_answers(chatbot, tmp_path):
    records = _records(chatbot)
    rows = [(r["id"], a["text"] or "", a["question_id"]) for r in records for a in r["answers"]]
    profile = load(_write(tmp_path / "opinions.csv", ["participant_id", "text", "question"], rows))
    jsonl = load(chatbot / "participants.jsonl")
    assert profile.m == 0
    assert [p.answers for p in profile.participants] == [p.answers for p in jsonl.participants]
    assert profile.excluded == jsonl.excluded == {"empty answers": 3}

    numbered = load(_write(tmp_path / "plain.csv", ["participant_id", "text"], [("a", "one"), ("a", "two"), ("b", "three")]))
    assert [p.answers for p in numbered.participants] == [{"1": "one", "2": "two"}, {"1": "three"}]


def test_a_folder_of_opinions_judgments_and_statements(chatbot, tmp_path):
    records = _records(chatbot)
    _write(tmp_path / "opinions.csv", ["participant_id", "question", "text"],
           [(r["id"], a["question_id"], a["text"] or "") for r in records for a in r["answers"]])
    _write(tmp_path / "judgments.csv", ["participant_id", "statement_id", "rating"],
           [(r["id"], x["statement_id"], x["rating"]) for r in records for x in r["ratings"]])
    slate = json.loads((chatbot / "slate.json").read_text(encoding="utf-8"))["generation_survey_statements"]
    _write(tmp_path / "statements.csv", ["statement_id", "text"], [(s["id"], s["text"]) for s in slate])
    folder, jsonl = load(tmp_path), load(chatbot / "participants.jsonl")
    assert folder.summary() == {**jsonl.summary(), "excluded": {"empty answers": 3}}
    assert folder.statements == jsonl.statements and folder.participants[5].answers == jsonl.participants[5].answers
    np.testing.assert_array_equal(folder.utilities, jsonl.utilities)
