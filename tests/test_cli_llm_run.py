"""`pnyx run --backend llm` with LLM generation, end to end on the real llama.cpp server (4,096-token
context, SmolLM2-135M): ten participants of the paper's chatbot survey, k = 2. Plumbing, not quality."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pnyx.cli import app

CHATBOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "chatbot_personalization" / "participants.jsonl"


@pytest.mark.slow
def test_llm_run_on_ten_chatbot_participants_completes(llm_server, tmp_path, monkeypatch):
    data = tmp_path / "participants10.jsonl"
    data.write_text("".join(CHATBOT.read_text(encoding="utf-8").splitlines(keepends=True)[:10]), encoding="utf-8")
    for var, value in {
        "PNYX_LLM_BASE_URL": llm_server.base_url, "PNYX_LLM_MODEL": llm_server.model,
        "PNYX_LLM_MODE": "completions",  # where the tiny model answers with a rating digit
        # A 512-token window: the participants' texts (~1,100 tokens each) are cut in every prompt, the
        # prompt for all ten leaves some out and shows the others by summaries; at the server's own
        # 4,096 tokens the run reads ~10 times more tokens, which takes many minutes on one core.
        "PNYX_LLM_CONTEXT": "512", "PNYX_LLM_MAX_TOKENS": "32",
        "PNYX_LLM_CONCURRENCY": "1", "PNYX_LLM_TIMEOUT": "600",  # the server answers one request at a time
    }.items():
        monkeypatch.setenv(var, value)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(data), "-k", "2", "--backend", "llm", "--no-accuracy", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    slate = json.loads((out / "slate.json").read_text())
    assert slate["generators"] == ["llm", "extractive"] and slate["backend"] == "llm"
    assert sum(s["seats"] for s in slate["statements"]) == 2
    assert sorted(p for s in slate["statements"] for p in s["supporters"]) == sorted(f"generation{i}" for i in range(1, 11))
    usage = json.loads((out / "audit.json").read_text())["model_usage"]
    assert usage["calls"] > 0 and usage["prompt_tokens"] > 0
    assert usage["prompt_tokens"] <= usage["calls"] * (512 - 5)  # no prompt over the window (ratings answer in 5 tokens)
