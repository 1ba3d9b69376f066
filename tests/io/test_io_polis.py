"""Polis exports: the bundled real conversation, counted independently with the csv module."""

from __future__ import annotations

import csv
import shutil
from collections import Counter

import numpy as np
import pytest

from pnyx.io import load, read_polis

META = {"participant", "group-id", "n-comments", "n-votes", "n-agree", "n-disagree"}


def _csv(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _write(path, rows, fieldnames):
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)


def test_counts_match_participants_votes_csv(polis):
    comments = _csv(polis / "comments.csv")
    kept = {c["comment-id"] for c in comments if int(c["moderated"]) >= 0}
    matrix = _csv(polis / "participants-votes.csv")
    observed = sum(1 for row in matrix for cid in kept if row.get(cid, "") != "")

    profile = load(polis)
    assert profile.summary()["participants"] == len(matrix) == 536
    assert profile.summary()["statements"] == len(kept) == 154
    assert profile.summary()["observed"] == observed
    assert profile.scale == "vote" and profile.info["format"] == "polis" and profile.info["layout"] == "classic"

    raw = _csv(polis / "votes.csv")
    final = {(v["voter-id"], v["comment-id"]) for v in raw}
    assert profile.excluded == {
        "moderated-out comments": len(comments) - len(kept),
        "votes on excluded comments": sum(1 for _, cid in final if cid not in kept),
        "superseded votes": len(raw) - len(final),
    }
    assert profile.info["raw_votes"] == len(raw) and profile.info["topic"].startswith("Protecting and Restoring")

    by_id = {c["comment-id"]: c for c in comments}
    for s in profile.statements:
        assert (s.text, s.author) == (by_id[s.id]["comment-body"], by_id[s.id]["author-id"])
    groups = {row["participant"]: row["group-id"] for row in matrix}
    assert all(p.group == (groups[p.id] or None) for p in profile.participants)
    authored = Counter(by_id[c]["author-id"] for c in kept)
    assert {p.id: len(p.answers) for p in profile.participants if p.answers} == dict(authored)


def test_votes_csv_agrees_with_participants_votes_csv(polis, tmp_path):
    """votes.csv (latest vote wins) and participants-votes.csv give the same profile."""
    shutil.copy(polis / "comments.csv", tmp_path)
    shutil.copy(polis / "participants-votes.csv", tmp_path)
    from_matrix = read_polis(tmp_path)
    from_votes = read_polis(polis)
    assert from_matrix.info["votes_from"] == "participants-votes.csv"
    assert from_matrix.participant_ids == from_votes.participant_ids
    assert from_matrix.statement_ids == from_votes.statement_ids
    np.testing.assert_array_equal(from_matrix.observed, from_votes.observed)
    np.testing.assert_array_equal(from_matrix.utilities, from_votes.utilities)
    values = from_votes.observed_values()[from_votes.observed]
    assert set(np.unique(values)) == {-1.0, 0.0, 1.0}


def test_2024_layout(polis, tmp_path):
    """The same conversation rewritten in the 2024 column layout reads the same."""
    comments = _csv(polis / "comments.csv")
    for k, c in enumerate(comments):
        del c["datetime"]
        c.update({"is-meta": "true" if k == 0 else "false", "is-seed": "false", "group-informed-consensus": "0.5"})
    _write(tmp_path / "comments.csv", comments, ["timestamp", "comment-id", "author-id", "agrees", "disagrees", "moderated",
                                                  "is-meta", "is-seed", "group-informed-consensus", "comment-body"])
    matrix = _csv(polis / "participants-votes.csv")
    fields = list(matrix[0])
    for row in matrix:
        row["xid"] = f"x{row['participant']}"
    _write(tmp_path / "participants-votes.csv", matrix, ["participant", "xid"] + fields[1:])
    shutil.copy(polis / "votes.csv", tmp_path)

    new, old = read_polis(tmp_path), read_polis(polis)
    assert new.info["layout"] == "2024" and new.info["meta_comments"] == [comments[0]["comment-id"]]
    assert new.summary() == old.summary()
    np.testing.assert_array_equal(new.utilities, old.utilities)
    assert new.participants[3].metadata["xid"] == f"x{new.participants[3].id}"


def test_latest_vote_wins_and_moderation(tmp_path):
    (tmp_path / "comments.csv").write_text(
        "timestamp,datetime,comment-id,author-id,agrees,disagrees,moderated,comment-body\n"
        "1,d,0,7,1,0,1,Keep it\n2,d,1,7,0,0,-1,Moderated out\n3,d,2,8,0,0,0,Not yet moderated\n", encoding="utf-8")
    (tmp_path / "votes.csv").write_text(
        "timestamp,datetime,comment-id,voter-id,vote\n"
        "20,d,0,5,1\n10,d,0,5,-1\n30,d,2,5,-1\n40,d,2,5,0\n5,d,1,5,1\n1,d,0,7,1\n", encoding="utf-8")
    profile = read_polis(tmp_path)
    assert profile.participant_ids == ["5", "7", "8"]  # 8 only authored a comment
    assert profile.statement_ids == ["0", "2"]
    values = profile.observed_values()
    assert values[0].tolist() == [1.0, 0.0]  # the vote at t=20 beats the one at t=10, wherever it is in the file
    assert profile.excluded == {"moderated-out comments": 1, "votes on excluded comments": 1, "superseded votes": 2}
    assert profile.participants[1].answers == {"0": "Keep it"}

    everything = read_polis(tmp_path, keep_moderated_out=True)
    assert everything.statement_ids == ["0", "1", "2"] and everything.excluded == {"superseded votes": 2}


@pytest.mark.parametrize("missing", ["votes.csv", "participants-votes.csv"])
def test_either_vote_file_is_enough(polis, tmp_path, missing):
    for name in ("comments.csv", "votes.csv", "participants-votes.csv"):
        if name != missing:
            shutil.copy(polis / name, tmp_path)
    assert read_polis(tmp_path).summary()["observed"] == load(polis).summary()["observed"]
