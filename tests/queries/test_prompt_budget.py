"""Prompts fitted to a model's context window (pure: no server), on the paper's 100 chatbot participants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openai
import pytest

from pnyx.data import InputError
from pnyx.io import load
from pnyx.queries.client import DEFAULT_CONTEXT_WINDOW, LLMConfig, ModelClient, context_limit_in, describe_failure
from pnyx.queries.prompts import TokenEstimate, fitted_block, generation_prompt, rating_prompt, water_level

CHATBOT = Path(__file__).resolve().parents[3] / "shared" / "data" / "chatbot_personalization" / "participants.jsonl"


@pytest.fixture(scope="module")
def chatbot():
    return load(CHATBOT)


def test_the_100_participants_fit_a_4096_token_context(chatbot):
    assert chatbot.n == 100
    budget = DEFAULT_CONTEXT_WINDOW - 256 - 64  # the generator's default completion and margin
    estimate = TokenEstimate()
    _, unfitted = generation_prompt(chatbot, range(100), size_target=20)
    assert unfitted.tokens > 40 * budget  # the paper's prompt for everyone would need a 32k-token model many times over
    messages, fit = generation_prompt(chatbot, range(100), budget=budget, estimate=estimate, size_target=20, seed=1)
    prompt = "".join(m["content"] for m in messages)
    assert fit.tokens == estimate.tokens(messages[0]["content"]) + estimate.tokens(messages[1]["content"]) <= budget
    assert estimate.tokens(prompt) <= budget
    # not everyone fits at min_tokens each: a seeded subset is shown, the rest recorded as left out
    assert len(fit.included) + len(fit.omitted) == 100 and not set(fit.included) & set(fit.omitted)
    assert 60 <= len(fit.included) <= budget // 49  # at least 48 tokens and a line break each
    assert messages[1]["content"].count("<participant_data") == len(fit.included)
    assert f"at least 20 of these {len(fit.included)} participants" in prompt
    assert set(fit.truncated) <= set(fit.included) and fit.truncated
    record = fit.record(chatbot)
    assert record["omitted"] == [chatbot.participants[i].id for i in fit.omitted]
    assert record["tokens"] == fit.tokens and record["budget"] == budget
    # the same seed, the same subset; another seed, another
    assert generation_prompt(chatbot, range(100), budget=budget, seed=1)[1].included == fit.included
    assert generation_prompt(chatbot, range(100), budget=budget, seed=2)[1].included != fit.included


@pytest.mark.parametrize("n", [5, 10, 20])
def test_smaller_groups_are_cut_not_dropped_and_short_answers_stay_whole(chatbot, n):
    budget = 3776
    messages, fit = generation_prompt(chatbot, range(n), budget=budget)
    assert fit.tokens <= budget and fit.included == list(range(n)) and not fit.omitted
    prompt = messages[1]["content"]
    assert fit.tokens > 0.8 * budget  # the water level uses the room there is
    shortest = min(range(n), key=lambda i: len(chatbot.participants[i].text()))
    assert all(i in fit.truncated for i in range(n) if i != shortest) or not fit.truncated
    if n <= 10:  # at ~180 tokens per participant (n = 20) their blocks' ends are cut; at 360 every answer is shown
        short = min((a for i in range(n) for a in chatbot.participants[i].answers.values() if a), key=len)
        assert short.strip() in prompt  # an answer shorter than the common cut survives whole


def test_groups_that_fit_are_left_alone(chatbot):
    messages, fit = generation_prompt(chatbot, [0, 1], budget=20_000)
    assert fit.truncated == [] and fit.omitted == [] and fit.tokens_per_participant is None
    assert messages == generation_prompt(chatbot, [0, 1])[0]


def test_summaries_replace_a_participants_block(chatbot):
    messages, fit = generation_prompt(chatbot, [0, 1, 2], budget=3000, summaries={1: "Wants opt-outs. </participant_data>"})
    assert fit.summarised == [1]
    prompt = messages[1]["content"]
    second = prompt.split('<participant_data n="2">')[1].split("</participant_data>")[0]
    assert second.strip() == "Summary of their opinions: Wants opt-outs. ‹/participant_data›"


def test_water_level():
    assert water_level([10, 20, 30], 60) == 30
    assert water_level([10, 20, 30], 50) == 20  # 10 + 20 + 20
    assert water_level([10, 20, 30], 45) == 17  # 10 + 17 + 17 ≤ 45
    assert water_level([10, 20, 30], 3) == 1
    rng = np.random.default_rng(0)
    for _ in range(200):
        sizes = rng.integers(1, 500, rng.integers(1, 30))
        room = int(rng.integers(len(sizes), sizes.sum() + 10))
        c = water_level(sizes, room)
        assert np.minimum(sizes, c).sum() <= room
        assert c >= sizes.max() or np.minimum(sizes, c + 1).sum() > room


def test_a_block_is_cut_to_its_length(chatbot):
    longest = max(range(chatbot.n), key=lambda i: len(chatbot.participants[i].text()))
    for length in (5000, 1500, 400, 120):
        text, cut = fitted_block(chatbot, longest, length, max_judgments=10, max_chars=600)
        assert cut and len(text) <= length
        assert text.startswith("<participant_data>") and text.endswith("</participant_data>")


def test_rating_prompts_fit_their_budget(chatbot):
    longest = max(range(chatbot.n), key=lambda i: len(chatbot.participants[i].text()))
    estimate = TokenEstimate()
    _, cut = rating_prompt(chatbot, longest, 0)
    assert not cut
    for budget in (3000, 1000, 300):
        messages, cut = rating_prompt(chatbot, longest, 0, budget=budget, estimate=estimate)
        assert cut and sum(estimate.tokens(m["content"]) for m in messages) <= budget
        assert messages[1]["content"].endswith("Rating (0-4):")  # the statement and question are never cut
        assert chatbot.statements[0].text[:100] in messages[1]["content"]


def test_context_setting_and_env(monkeypatch):
    monkeypatch.setenv("PNYX_LLM_CONTEXT", "8192")
    assert LLMConfig.from_env(base_url="http://127.0.0.1:9/v1", model="m").context_window == 8192
    monkeypatch.setenv("PNYX_LLM_CONTEXT", "8k")
    with pytest.raises(InputError, match="PNYX_LLM_CONTEXT"):
        LLMConfig.from_env()
    with pytest.raises(InputError, match="at least 256"):
        LLMConfig(context_window=100)
    monkeypatch.delenv("PNYX_LLM_CONTEXT")
    # nothing listens on port 9: the default, said so
    client = ModelClient(LLMConfig(base_url="http://127.0.0.1:9/v1", model="m", timeout=1))
    assert (client.context_window().tokens, client.context_window().source) == (DEFAULT_CONTEXT_WINDOW, "default")
    assert client.count_tokens("hello") is None
    assert ModelClient(LLMConfig(base_url="http://127.0.0.1:9/v1", model="m", context_window=2048)).context_window().source == "setting"


def _bad_request(message: str, body=None) -> openai.BadRequestError:
    import httpx

    response = httpx.Response(400, request=httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions"))
    return openai.BadRequestError(message, response=response, body=body)


def test_context_errors_are_read_and_explained():
    cfg = LLMConfig(base_url="http://127.0.0.1:9/v1", model="m")
    llama_cpp_python = _bad_request("This model's maximum context length is 4096 tokens. However, you requested "
                                    "9320 tokens (9064 in the messages, 256 in the completion).")
    assert context_limit_in(llama_cpp_python) == 4096
    llama_cpp = _bad_request("the request exceeds the available context size, try increasing it",
                             body={"code": 400, "type": "exceed_context_size_error", "n_prompt_tokens": 9000, "n_ctx": 2048})
    assert context_limit_in(llama_cpp) == 2048
    for exc in (llama_cpp_python, llama_cpp):
        cause, message = describe_failure(exc, cfg)
        assert cause == "context" and "PNYX_LLM_CONTEXT" in message and "\n" not in message
    assert describe_failure(_bad_request("unknown field 'logprobs'"), cfg)[0] == "bad_request"
    assert context_limit_in(_bad_request("unknown field")) is None
