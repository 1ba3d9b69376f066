"""``pnyx validate PATH [--json]`` on real files, and its errors on bad ones."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pnyx.cli import app

REPO = Path(__file__).resolve().parents[1]
POLIS = REPO / "examples" / "scoop-hivemind-biodiversity"
CHATBOT = REPO.parent / "shared" / "data" / "chatbot_personalization"
runner = CliRunner()


def _validate(*args: str) -> dict:
    result = runner.invoke(app, ["validate", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_chatbot_participants():
    if not CHATBOT.is_dir():
        pytest.skip(f"shared data folder {CHATBOT} is absent")
    out = _validate(str(CHATBOT / "participants.jsonl"))
    assert (out["participants"], out["statements"], out["observed"]) == (100, 6, 600)
    assert out["excluded"] == {"empty answers": 3} and out["format"] == "jsonl"


def test_polis_counts_match_participants_votes_csv():
    with open(POLIS / "comments.csv", encoding="utf-8", newline="") as f:
        kept = {c["comment-id"] for c in csv.DictReader(f) if int(c["moderated"]) >= 0}
    with open(POLIS / "participants-votes.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    out = _validate(str(POLIS))
    assert out["participants"] == len(rows)
    assert out["statements"] == len(kept)
    assert out["observed"] == sum(1 for row in rows for cid in kept if row.get(cid, "") != "")
    assert out["excluded"]["moderated-out comments"] > 0 and out["scale"] == "vote"


def test_human_readable_summary():
    result = runner.invoke(app, ["validate", str(POLIS)])
    assert result.exit_code == 0
    assert "536 participants, 154 statements" in result.stdout and "excluded: moderated-out comments: 162" in result.stdout


def test_format_option(tmp_path):
    path = tmp_path / "ratings.txt"
    path.write_text("participant_id,statement_id,rating\na,s,3\n", encoding="utf-8")
    assert _validate(str(path), "--format", "csv")["observed"] == 1


@pytest.mark.parametrize(
    "name, content, where",
    [
        ("p.jsonl", '{"id": "a"}\n{"id": "a"}\n', "line 2, field 'id'"),
        ("r.csv", "participant_id,statement_id,rating\na,s,3\nb,s,7\n", "line 3, field 'rating'"),
        ("r.csv", b"participant_id,statement_id,rating\na,s,3\nb,\xff,3\n", "line 3"),
        ("x.cat", "# NUMBER ALTERNATIVES: 2\n1: 1, 2\n1: 1,\n", "line 3"),
    ],
)
def test_bad_input_exits_non_zero_naming_file_and_line(tmp_path, name, content, where):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = runner.invoke(app, ["validate", str(path), "--json"])
    assert result.exit_code == 2
    assert f"{path}, {where}" in result.stderr and result.stdout == ""
