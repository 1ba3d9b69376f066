"""The Global Dialogues reader: the hand-written fixture (always) and round 6's UK export (when the shared data is there)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from pnyx.data import InputError
from pnyx.io import detect_format, load
from pnyx.io.global_dialogues import questions

FIXTURE = Path(__file__).parent / "fixtures" / "global-dialogues" / "GDX"
GD6UK = Path(__file__).resolve().parents[3] / "shared" / "data" / "global-dialogues" / "GD6UK"


def test_fixture_question_one():
    assert detect_format(FIXTURE) == "global-dialogues"
    p = load(FIXTURE, question="7")
    assert p.info["question"] == "q-one-0001" and p.info["format"] == "global-dialogues" and p.scale == "vote"
    assert p.info["topic"] == p.info["question_text"] and p.info["topic"]  # the report's title
    assert p.statement_ids == ["t1", "t2", "t3", "t5"]  # t4 is blank
    assert [s.author for s in p.statements] == ["p1", "p2", "p3", "p5"]
    assert p.participant_ids == ["p1", "p2", "p3", "p5", "p6"]  # p4 wrote only a blank thought, p7 compared it
    votes = p.observed_values()
    assert votes[0, 1] == 1 and votes[0, 2] == -1 and votes[1, 2] == 0  # agree, disagree, neutral
    assert votes[2, 0] == 1  # p3's later vote on t1 wins
    assert p.utilities[0, 1] == 4 and p.utilities[0, 2] == 0  # agree → 4, disagree → 0
    assert int(p.observed.sum()) == 6
    assert p.pairwise.tolist() == [[0, 1, 2], [1, 2, 0], [4, 3, 0]]
    assert p.excluded == {"blank thoughts": 1, "superseded votes": 1, "votes on blank thoughts": 1,
                          "comparisons without a preference (I agree with both)": 1,
                          "comparisons with a blank thought": 1, "participants with nothing kept": 2}
    meta = {q.id: q.metadata for q in p.participants}
    assert meta["p1"] == {"language": "English", "age": "18-25", "gender": "Female", "environment": "Urban"}
    assert meta["p5"] == {"language": "French"}  # from the participant report only
    assert p.participants[0].answers == {"q-one-0001": "Plant trees on every street that has none."}


def test_fixture_question_choice():
    for asked in ("q-two-0002", "q-two", "8"):
        assert load(FIXTURE, question=asked).statement_ids == ["t6", "t7"]
    with pytest.raises(InputError, match="2 questions in this export"):
        load(FIXTURE)
    with pytest.raises(InputError, match="is not a question of this export"):
        load(FIXTURE, question="q-")  # prefixes need 4 characters
    assert [q.id for q in questions(FIXTURE)] == ["q-one-0001", "q-two-0002"]


def test_subset_keeps_only_comparisons_inside():
    p = load(FIXTURE, question="7")
    sub = p.subset(statements=[0, 2])  # t1, t3
    assert sub.pairwise.tolist() == [[1, 1, 0]]  # p2 preferred t3 to t1


@pytest.fixture
def gd6uk() -> Path:
    if not GD6UK.is_dir():
        pytest.skip(f"shared data folder {GD6UK} is absent (the fixture tests above cover the reader)")
    return GD6UK


def test_gd6uk_counts_match_the_files(gd6uk):
    """Every count checked against the raw CSVs, read here independently."""
    read = lambda name: list(csv.DictReader(open(gd6uk / f"GD6UK_{name}.csv", encoding="utf-8-sig", newline="")))  # noqa: E731
    thoughts, binary, prefs = read("verbatim_map"), read("binary"), read("preference")
    listed = questions(gd6uk)
    assert [q.thoughts for q in listed] == [1018, 1006, 1004]
    for q in listed:
        p = load(gd6uk, question=q.id)
        mine = [r for r in thoughts if r["Question ID"] == q.id]
        votes = {(r["Participant ID"], r["Thought ID"]): r["Vote"] for r in binary if r["Question ID"] == q.id}
        strict = [r for r in prefs if r["Question ID"] == q.id and r["Vote"] in ("Thought A", "Thought B")]
        assert p.m == len(mine) and int(p.observed.sum()) == len(votes) and len(p.pairwise) == len(strict)
        people = {r["Participant ID"] for r in mine} | {pid for pid, _ in votes} | {r["Participant ID"] for r in strict}
        assert set(p.participant_ids) == people
        agree = Counter(v for v in votes.values())["Agree"]
        assert int((p.utilities[p.observed] == 4).sum()) == agree
        others = Counter(r["Vote"] for r in prefs if r["Question ID"] == q.id and r["Vote"] not in ("Thought A", "Thought B"))
        assert {k.split("(")[1][:-1]: v for k, v in p.excluded.items() if k.startswith("comparisons without")} == dict(others)
        assert all(s.text.strip() for s in p.statements)
    assert np.isin(p.pairwise[:, 1:], np.arange(p.m)).all()
