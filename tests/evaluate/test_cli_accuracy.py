"""``pnyx evaluate`` and ``pnyx predict`` on real data, and their errors on bad input."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pnyx.cli import app

REPO = Path(__file__).resolve().parents[2]
CHATBOT = REPO.parent / "shared" / "data" / "chatbot_personalization"
POLIS = REPO / "examples" / "scoop-hivemind-biodiversity"
runner = CliRunner()


def test_evaluate_statement_held_out_json_and_predictions(tmp_path):
    if not CHATBOT.is_dir():
        pytest.skip(f"{CHATBOT} is absent")
    out = tmp_path / "pred.jsonl"
    result = runner.invoke(app, ["evaluate", str(CHATBOT), "--protocol", "statement-held-out", "--backend", "cf",
                                 "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["backend"] == "cf:biased-mf" and summary["metrics"]["n"] == 600
    assert set(summary["baselines"]) == {"participant mean", "global mean"}
    assert {"mae", "rmse", "exact", "within_1", "spearman"} <= set(summary["metrics"])
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 600 and set(lines[0]) == {"participant", "statement", "predicted"}
    assert {line["statement"] for line in lines} == {f"P{i}" for i in range(1, 7)}


def test_evaluate_vote_held_out_table_default_backend():
    result = runner.invoke(app, ["evaluate", str(POLIS), "--protocol", "vote-held-out", "--seed", "0"])
    assert result.exit_code == 0, result.output
    for name in ("comment majority", "participant majority", "global majority", "accuracy", "auc"):
        assert name in result.stdout


def test_predict_pairs_csv(tmp_path):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("participant,statement\n0,1\n1,315\n", encoding="utf-8")
    out = tmp_path / "pred.jsonl"
    result = runner.invoke(app, ["predict", str(POLIS), "--pairs", str(pairs), "--backend", "cf", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["participant"], r["statement"]) for r in rows] == [("0", "1"), ("1", "315")]
    assert all(-1 <= r["predicted"] <= 1 and r["backend"] == "cf:biased-mf" for r in rows)


@pytest.mark.parametrize(
    "args, message",
    [
        (["predict", str(POLIS), "--pairs", "{pairs}"], "line 3, field 'participant': unknown participant 'nobody'"),
        (["predict", str(POLIS), "--pairs", "{pairs}", "--backend", "nope"], "unknown discriminative backend 'nope'"),
        (["evaluate", str(POLIS), "--protocol", "leave-one-out"], "unknown protocol 'leave-one-out'"),
        (["evaluate", str(REPO / "no-such-folder")], "no such file or folder"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path, args, message):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("participant,statement\n0,1\nnobody,1\n", encoding="utf-8")
    result = runner.invoke(app, [a.replace("{pairs}", str(pairs)) for a in args])
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())


def test_vote_held_out_on_ratings_is_a_clear_error():
    if not CHATBOT.is_dir():
        pytest.skip(f"{CHATBOT} is absent")
    result = runner.invoke(app, ["evaluate", str(CHATBOT), "--protocol", "vote-held-out"])
    assert result.exit_code == 2 and "needs agree/disagree votes" in result.stderr
