"""`pnyx run` and `pnyx evaluate-slate` end to end, on the bundled Polis conversation and the paper's data."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pnyx.cli import app

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "scoop-hivemind-biodiversity"
SHARED = REPO.parent / "shared" / "data"
VALIDATION = SHARED / "chatbot_personalization" / "validation.jsonl"

runner = CliRunner()


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "pnyx-out"
    result = runner.invoke(app, ["run", str(EXAMPLE), "-k", "5", "--out", str(out), "--seed", "7", "--backend", "cf"])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_run_writes_the_four_outputs_and_says_where_the_report_is(first_run):
    out, output = first_run
    for name in ("slate.json", "assignment.csv", "audit.json", "report.html"):
        assert (out / name).is_file()
    assert f"report: {out / 'report.html'}" in output


def test_slate_json_uses_the_datas_ids_and_lists_supporters(first_run):
    out, _ = first_run
    slate = json.loads((out / "slate.json").read_text())
    assert slate["k"] == 5 and slate["rule"] == "gsc" and slate["backend"] == "cf" and slate["seed"] == 7
    with (EXAMPLE / "comments.csv").open() as f:
        comments = {row["comment-id"]: row["comment-body"] for row in csv.DictReader(f)}
    supporters = [p for s in slate["statements"] for p in s["supporters"]]
    assert sum(s["seats"] for s in slate["statements"]) == 5
    for s in slate["statements"]:
        assert set(s) >= {"id", "text", "source", "supporters"}
        if s["source"] == "data":
            assert comments[s["id"]].split() == s["text"].split()
    assert len(supporters) == len(set(supporters)) == 529  # 536 less the 7 who never voted


def test_assignment_csv_covers_everyone_in_balanced_groups(first_run):
    out, _ = first_run
    with (out / "assignment.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["participant", "statement", "utility", "observed"]
    assert len({r["participant"] for r in rows}) == len(rows) == 529
    sizes = Counter(r["statement"] for r in rows)
    seats = {s["id"]: s["seats"] for s in json.loads((out / "slate.json").read_text())["statements"]}
    assert sum(seats.values()) == 5 and set(sizes) == set(seats)
    for sid, size in sizes.items():  # every seat holds ⌊n/k⌋ or ⌈n/k⌉ participants
        assert seats[sid] * (529 // 5) <= size <= seats[sid] * -(-529 // 5)
    assert all(0.0 <= float(r["utility"]) <= 4.0 for r in rows)
    assert {r["observed"] for r in rows} <= {"True", "False"}


def test_audit_has_bjr_ejr_accuracy_and_usage(first_run):
    out, _ = first_run
    audit = json.loads((out / "audit.json").read_text())
    assert isinstance(audit["bjr"]["satisfied"], bool) and "witness" in audit["bjr"]
    assert isinstance(audit["ejr"]["satisfied"], bool)
    assert audit["accuracy"]["metrics"] and audit["accuracy"]["baselines"]
    assert set(audit["model_usage"]) >= {"calls", "prompt_tokens", "completion_tokens", "cost_usd"}


def test_rerun_with_the_same_seed_and_cache_gives_the_same_slate(first_run, tmp_path):
    out, _ = first_run
    again = tmp_path / "again"
    result = runner.invoke(app, ["run", str(EXAMPLE), "-k", "5", "--out", str(again), "--seed", "7",
                                 "--cache", str(out / "cache.sqlite"), "--no-accuracy", "--backend", "cf"])
    assert result.exit_code == 0, result.output
    first = json.loads((out / "slate.json").read_text())
    second = json.loads((again / "slate.json").read_text())
    assert first["statements"] == second["statements"]


def test_budgeted_run_keeps_the_word_budget_and_audits_cbjr(tmp_path):
    out = tmp_path / "budgeted"
    result = runner.invoke(app, ["run", str(EXAMPLE), "-k", "5", "--budget", "60", "--out", str(out),
                                 "--backend", "cf", "--no-accuracy"])
    assert result.exit_code == 0, result.output
    slate = json.loads((out / "slate.json").read_text())
    audit = json.loads((out / "audit.json").read_text())
    assert slate["rule"] == "gsc-budgeted" and slate["budget"] == 60
    assert sum(len(s["text"].split()) for s in slate["statements"]) <= 60
    assert audit["cbjr"]["words"] <= 60 and isinstance(audit["cbjr"]["satisfied"], bool)
    with (out / "assignment.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 529


def test_bad_input_fails_before_anything_runs(tmp_path):
    bad = tmp_path / "polis"
    shutil.copytree(EXAMPLE, bad)
    votes = bad / "votes.csv"
    lines = votes.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",maybe"
    votes.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(bad), "-k", "5", "--out", str(out)])
    assert result.exit_code == 2
    assert "votes.csv" in result.output and "line 4" in result.output
    assert not out.exists()


def test_unknown_rule_fails_before_anything_runs(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(EXAMPLE), "-k", "5", "--rule", "borda-ish", "--out", str(out)])
    assert result.exit_code == 2 and "unknown rule 'borda-ish'" in result.output
    assert not out.exists()


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared data folder is absent")
def test_evaluate_slate_reproduces_the_papers_validation():
    result = runner.invoke(app, ["evaluate-slate", str(VALIDATION)])
    assert result.exit_code == 0, result.output
    assert "total: 366" in result.output
    assert "assigned ratings: 4: 75, 3: 18, 2: 6, 1: 0, 0: 1" in result.output
    assert '93 of 100 "mostly" or "perfectly"' in result.output
    as_json = json.loads(runner.invoke(app, ["evaluate-slate", str(VALIDATION), "--json"]).output)
    assert as_json["n"] == 100 and as_json["total"] == 366
    assert as_json["assigned_ratings"] == {"0": 1, "1": 0, "2": 6, "3": 18, "4": 75}


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared data folder is absent")
def test_evaluate_slate_on_a_sub_slate():
    result = runner.invoke(app, ["evaluate-slate", str(VALIDATION), "--slate", "S1,S3", "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    assert got["n"] == 100 and sum(got["assigned_ratings"].values()) == 100
    assert got["total"] < 366
