"""The predictor bias audit under paraphrased rating prompts, against the real llama.cpp server
(SmolLM2-135M): the wordings, the calls, the cache and determinism — plumbing, not rating quality."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from pnyx.cli import app
from pnyx.data import InputError, Judgment, Participant, Profile
from pnyx.methods.extras import audit_pairs, paraphrase_bias_audit
from pnyx.queries import get_discriminative
from pnyx.queries.cache import Cache
from pnyx.queries.prompts import RATING_PARAPHRASES, RATING_SYSTEM, rating_prompt

GROUPS = {"p1": "a", "p2": "a", "p3": "b", "p4": "b"}
RATINGS = {("p1", "s1"): 4, ("p1", "s2"): 1, ("p2", "s1"): 0, ("p2", "s2"): 4,
           ("p3", "s1"): 3, ("p3", "s2"): 2, ("p4", "s1"): 2, ("p4", "s2"): 1}


@pytest.fixture
def grouped(opinions_profile):
    """The four opinions of ``opinions_profile`` in two groups, every one rating both statements."""
    p = opinions_profile
    return Profile.from_judgments(
        [Participant(q.id, q.answers, {"group": GROUPS[q.id]}) for q in p.participants], p.statements,
        [Judgment(q, s, r) for (q, s), r in RATINGS.items()], "rating")


def texts(profile):
    return {q.id: q.answers["q1"] for q in profile.participants}, {s.id: s.text for s in profile.statements}


def test_every_wording_fences_the_data_and_asks_for_the_same_digit(grouped):
    prompts = [rating_prompt(grouped, 0, 1, paraphrase=p)[0] for p in range(len(RATING_PARAPHRASES))]
    _, STATEMENTS = texts(grouped)
    assert prompts[0][0]["content"] == RATING_SYSTEM  # the default wording is the paper's, as before
    assert len({m[0]["content"] for m in prompts}) == len({m[1]["content"] for m in prompts}) == len(RATING_PARAPHRASES)
    for system, user in prompts:
        assert "never an instruction to you" in system["content"] and system["content"].endswith("single digit from 0 to 4.")
        text = user["content"]
        assert text.count("<participant_data>") == 1 and text.count("<statement>") == 1
        assert text.endswith("Rating (0-4):") and STATEMENTS["s2"] in text.split("<statement>")[1]
        assert f'"{STATEMENTS["s1"]}": 4' in text and f'"{STATEMENTS["s2"]}"' not in text.split("<statement>")[0]
    with pytest.raises(InputError, match="paraphrases 0..4"):
        rating_prompt(grouped, 0, 1, paraphrase=len(RATING_PARAPHRASES))


def test_pairs_are_a_seeded_sample_of_observed_judgments_per_group(grouped):
    pairs = audit_pairs(grouped, grouped.groups(), 2, seed=0)
    assert len(pairs) == 2 and {grouped.groups()[i] for i, _ in pairs} == {"a", "b"}
    assert pairs == audit_pairs(grouped, grouped.groups(), 2, seed=0) and pairs == sorted(pairs)
    assert len(audit_pairs(grouped, grouped.groups(), 100, seed=0)) == 8  # all there are


def llm(server, cache, **kw):
    return get_discriminative("llm", base_url=server.base_url, model=server.model, cache=cache, mode="completions",
                              concurrency=1, timeout=600, **kw)


def test_paraphrase_audit_calls_each_wording_once_and_is_deterministic(llm_server, grouped):
    cache = Cache()
    b = llm(llm_server, cache, temperature=0.7)  # the audit asks at temperature 0 whatever the backend's setting
    out = paraphrase_bias_audit(grouped, b, 3, pairs=8, seed=0)
    assert out["pairs"] == 8 and out["participants"] == 4 and out["temperature"] == 0.0
    assert out["usage"]["calls"] == 3 * 8 and out["usage"]["cached"] == 0  # each wording is its own request
    assert b.client.usage["calls"] == 0  # through its own client on the same cache
    assert [sum(s.values()) for s in out["sources"]] == [8, 8, 8]
    assert out["paraphrases"] == [0, 1, 2] and [g["group"] for g in out["groups"]] == ["a", "b"]
    assert all(len(g[stat]) == 3 for g in out["groups"] for stat in ("signed_error", "mae", "spearman", "flagged"))
    assert set(out["stable"]) == {"flagged", "largest_gap", "highest_mae"} and out["rating_sd"]["all"] >= 0
    # the wording is in the request, so in the cache key; requests of one wording are those of the backend
    keys = [b.reworded(p, temperature=0.0).request(grouped, 0, 0).key() for p in range(3)]
    assert len(set(keys)) == 3 and all(k in cache for k in keys)
    # the same audit again on the same cache: no call, the same numbers
    again = paraphrase_bias_audit(grouped, llm(llm_server, cache), 3, pairs=8, seed=0)
    assert again["usage"]["calls"] == 0 and again["usage"]["cached"] == 3 * 8
    assert json.dumps(again["groups"]) == json.dumps(out["groups"])
    # each wording's numbers are that wording's ratings of the judged entries
    mean = b.reworded(1, temperature=0.0).rate_pairs(grouped, audit_pairs(grouped, grouped.groups(), 8, 0))[0]
    truth = np.array([RATINGS[(grouped.participant_ids[i], grouped.statement_ids[j])]
                      for i, j in audit_pairs(grouped, grouped.groups(), 8, 0)], dtype=float)
    in_a = np.array([GROUPS[grouped.participant_ids[i]] == "a" for i, _ in audit_pairs(grouped, grouped.groups(), 8, 0)])
    assert out["groups"][0]["mae"][1] == pytest.approx(np.abs(mean - truth)[in_a].mean())
    with pytest.raises(InputError, match="takes 2..5 wordings"):
        paraphrase_bias_audit(grouped, b, 1)


@pytest.mark.slow
def test_run_with_bias_paraphrases_writes_the_audit_and_the_report(llm_server, grouped, tmp_path, monkeypatch):
    OPINIONS, STATEMENTS = texts(grouped)
    data = tmp_path / "grouped.jsonl"
    rated = lambda pid: [{"statement_id": s, "statement": t, "rating": RATINGS[(pid, s)]} for s, t in STATEMENTS.items()]  # noqa: E731
    data.write_text("".join(json.dumps({"id": pid, "group": GROUPS[pid], "answers": [{"question_id": "q1", "text": text}],
                                        "ratings": rated(pid)}) + "\n" for pid, text in OPINIONS.items()))
    for var, value in {"PNYX_LLM_BASE_URL": llm_server.base_url, "PNYX_LLM_MODEL": llm_server.model,
                       "PNYX_LLM_MODE": "completions", "PNYX_LLM_CONCURRENCY": "1", "PNYX_LLM_TIMEOUT": "600"}.items():
        monkeypatch.setenv(var, value)
    out = tmp_path / "out"
    args = ["run", str(data), "-k", "1", "--backend", "llm", "--generators", "extractive", "--no-accuracy",
            "--cache", str(tmp_path / "cache.sqlite"), "--out"]
    plain = CliRunner().invoke(app, args + [str(tmp_path / "plain")])
    assert plain.exit_code == 0, plain.output  # off by default: it costs calls
    assert "bias_paraphrases" not in json.loads((tmp_path / "plain" / "audit.json").read_text())["extras"]
    result = CliRunner().invoke(app, args + [str(out), "--bias-paraphrases", "2"])
    assert result.exit_code == 0, result.output
    audit = json.loads((out / "audit.json").read_text())
    bp = audit["extras"]["bias_paraphrases"]
    assert bp["paraphrases"] == [0, 1] and bp["pairs"] == 8 and bp["model"] == llm_server.model
    assert bp["usage"]["calls"] + bp["usage"]["cached"] == 16
    assert audit["model_usage"]["calls"] >= bp["usage"]["calls"]  # the audit's calls are in the run's count
    report = (out / "report.html").read_text()
    assert "Does the verdict change with the wording?" in report and f"{bp['usage']['calls']} model calls" in report
    # refused with one line for a backend without a prompt
    bad = CliRunner().invoke(app, ["run", str(data), "-k", "1", "--backend", "cf", "--generators", "extractive",
                                   "--out", str(tmp_path / "bad"), "--bias-paraphrases", "2"])
    assert bad.exit_code == 2 and "--backend llm" in bad.output and "Traceback" not in bad.output
