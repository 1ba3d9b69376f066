"""Prompts that fit the model and model errors that become counts or one-line messages, against the real
llama.cpp server (SmolLM2-135M, 4,096-token context; see conftest.py). Plumbing, not quality."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pnyx.data import InputError

from pnyx.io import load
from pnyx.queries import get_discriminative, get_generative
from pnyx.queries.cache import Cache
from pnyx.queries.client import DEFAULT_CONTEXT_WINDOW, LLMConfig, ModelClient, ModelError
from pnyx.queries.prompts import TokenEstimate

CHATBOT = Path(__file__).resolve().parents[3] / "shared" / "data" / "chatbot_personalization" / "participants.jsonl"
ONE_GROUP = dict(n_random=0, n_neighbourhoods=0, temperatures=(0.0,), mode="completions")


@pytest.fixture(scope="module")
def chatbot10(tmp_path_factory):
    path = tmp_path_factory.mktemp("chatbot") / "participants10.jsonl"
    path.write_text("".join(CHATBOT.read_text(encoding="utf-8").splitlines(keepends=True)[:10]), encoding="utf-8")
    return load(path)


def generator(url, model, **kw):
    return get_generative("llm", base_url=url, model=model, **{**ONE_GROUP, **kw})


def test_the_estimate_is_conservative_and_the_fit_is_checked_by_the_servers_tokenizer(llm_server, chatbot10):
    client = ModelClient(LLMConfig(base_url=llm_server.base_url, model=llm_server.model))
    # llama-cpp-python's server states no context size: the default, said so
    assert (client.context_window().tokens, client.context_window().source) == (DEFAULT_CONTEXT_WINDOW, "default")
    texts = [p.text() for p in chatbot10.participants]
    counted = [client.count_tokens(t) for t in texts]
    assert all(c is not None and c > 50 for c in counted)
    assert all(TokenEstimate().tokens(t) >= c for t, c in zip(texts, counted))  # 3 characters per token over-counts
    gen = generator(llm_server.base_url, llm_server.model, client=client)
    messages, fit = gen.fit_prompt(chatbot10, list(range(10)), max_tokens=128, size_target=5, word_budget=None, seed=0)
    budget = DEFAULT_CONTEXT_WINDOW - 128 - gen.config.context_margin
    assert fit.budget == budget and fit.counted_by == "server"
    assert fit.tokens == client.count_tokens("\n".join(m["content"] for m in messages)) <= budget
    assert fit.tokens > 0.7 * budget  # the calibrated estimate does not waste the window
    assert fit.included == list(range(10)) and fit.truncated and not fit.omitted


def test_fitted_prompts_are_accepted_by_a_small_context(llm_server, chatbot10):
    """The fitted prompt with its chat template and completion stays within the context the server counts."""
    context = 1024
    gen = generator(llm_server.base_url, llm_server.model, max_tokens=8, context_window=context)
    candidates = gen.generate(chatbot10, list(range(10)), size_target=5, seed=0)
    assert len(candidates) == 1 and gen.client.usage["calls"] == 1
    fit = candidates[0].provenance["fit"]
    assert fit["context_window"] == context and fit["context_source"] == "setting"
    assert fit["included"] == chatbot10.participant_ids and fit["truncated"] and fit["omitted"] == []
    assert fit["tokens"] <= fit["budget"] == context - 8 - gen.config.context_margin
    assert gen.client.usage["prompt_tokens"] <= context - 8  # what the server counted, template included
    # the rating backend fits its prompts the same way (the longest participant's answers are cut)
    longest = max(range(10), key=lambda i: len(chatbot10.participants[i].text()))
    rater = get_discriminative("llm", base_url=llm_server.base_url, model=llm_server.model, mode="completions",
                               context_window=512)
    pred = rater.predict(chatbot10, participants=[longest], statements=[0])
    assert pred.info["truncated"] == 1 and pred.info["context_window"] == 512
    assert 0 < rater.client.usage["prompt_tokens"] <= 512 - rater.max_tokens
    assert pred.info["sources"]["none"] == 0


def test_a_failed_request_is_a_skipped_candidate_and_all_failing_is_one_line(llm_server, llm_proxy, opinions_profile):
    proxy = llm_proxy(fail=(400,), fail_message="unknown field 'seed'")
    gen = generator(proxy.base_url, llm_server.model, max_tokens=16, temperatures=(0.0, 1.0))
    candidates = gen.generate(opinions_profile, [0, 1, 2, 3], size_target=2, seed=0)
    assert len(candidates) == 1 and proxy.received == 2 and proxy.forwarded == 1
    assert gen.info["skipped"] == {"bad_request": 1} and gen.info["requests"] == 2 and gen.info["candidates"] == 1
    assert "unknown field 'seed'" in gen.info["errors"][0]
    proxy = llm_proxy(fail=(400, 400), fail_message="unknown field 'seed'")
    gen = generator(proxy.base_url, llm_server.model, max_tokens=16, temperatures=(0.0, 1.0))
    with pytest.raises(ModelError) as info:
        gen.generate(opinions_profile, [0, 1, 2, 3], size_target=2, seed=0)
    message = str(info.value)
    assert "\n" not in message and "no statement from 2 requests (bad_request: 2)" in message
    assert "PNYX_LLM_MODE" in message  # the fix
    assert gen.info["skipped"] == {"bad_request": 2}


def test_a_context_named_in_a_400_is_learned_and_the_prompt_fitted_again(llm_server, llm_proxy, chatbot10):
    proxy = llm_proxy(fail=(400,), fail_message="This model's maximum context length is 512 tokens. However, you "
                                                "requested 3900 tokens (3772 in the messages, 128 in the completion).")
    gen = generator(proxy.base_url, llm_server.model, max_tokens=8)
    (candidate,) = gen.generate(chatbot10, [0, 1, 2], size_target=2, seed=0)
    fit = candidate.provenance["fit"]
    assert (fit["context_window"], fit["context_source"]) == (512, "server error")
    assert fit["budget"] == 512 - 8 - gen.config.context_margin and fit["tokens"] <= fit["budget"]
    assert gen.client.usage["prompt_tokens"] <= 512 - 8
    assert proxy.received == 2 and proxy.forwarded == 1 and gen.info["skipped"] == {}


def test_rating_failures_name_the_pair_the_cause_and_the_fix(llm_server, llm_proxy, opinions_profile):
    proxy = llm_proxy(fail=(400,), fail_message="logprobs are not supported")
    rater = get_discriminative("llm", base_url=proxy.base_url, model=llm_server.model, mode="completions")
    with pytest.raises(ModelError) as info:
        rater.predict(opinions_profile, participants=[1], statements=[0])
    message = str(info.value)
    assert "\n" not in message and "participant 'p2', statement 's1'" in message
    assert "1 of 1 rating requests failed (bad_request: 1)" in message and "logprobs are not supported" in message
    # nothing listens on port 9: one line at once, before any retry
    rater = get_discriminative("llm", base_url="http://127.0.0.1:9/v1", model="m", max_retries=0)
    with pytest.raises(InputError, match=r"cannot reach the LLM endpoint http://127\.0\.0\.1:9/v1.*PNYX_LLM_BASE_URL"):
        rater.predict(opinions_profile, participants=[0], statements=[1])


def test_summaries_stand_for_participants_and_are_cached(llm_server, llm_proxy, opinions_profile):
    proxy = llm_proxy()
    cache = Cache()
    gen = generator(proxy.base_url, llm_server.model, max_tokens=16, summarise="always", summary_words=8, cache=cache)
    (candidate,) = gen.generate(opinions_profile, [0, 1, 2, 3], size_target=2, seed=0)
    fit = candidate.provenance["fit"]
    assert fit["summarised"] == fit["included"] == opinions_profile.participant_ids
    prompt = candidate.provenance["prompt"]
    assert prompt.count("Summary of their opinions:") == 4 and "Answer to q1" not in prompt
    assert gen.info["summaries"] == 4 and proxy.forwarded == 5  # four summaries, one statement
    again = generator(proxy.base_url, llm_server.model, max_tokens=16, summarise="always", summary_words=8, cache=cache)
    assert [c.text for c in again.generate(opinions_profile, [0, 1, 2, 3], size_target=2, seed=0)] == [candidate.text]
    assert proxy.forwarded == 5 and again.client.usage["cached"] == 5
    json.dumps(candidate.provenance)  # JSON-ready
