"""Refusals and empty answers from a model become skipped candidates, and a call with none usable one
line (no server: the model's answers are given; the HTTP failures are tested against the real server in
test_llm_context.py)."""

from __future__ import annotations

import pytest

from pnyx.queries.client import LLMConfig, ModelClient, ModelError
from pnyx.queries.llm import LLMGenerator


class Answers(ModelClient):
    """A client whose model answers with the given texts in turn (and has no tokenizer endpoint)."""

    def __init__(self, texts):
        super().__init__(LLMConfig(base_url="http://127.0.0.1:9/v1", model="m", context_window=4096))
        self.texts = list(texts)

    def count_tokens(self, text):
        return None

    def run_many(self, requests, *, progress=False, return_exceptions=False):
        return [{"choices": [{"message": {"content": self.texts.pop(0)}, "finish_reason": "stop"}]} for _ in requests]


def generator(texts, **kw):
    return LLMGenerator(client=Answers(texts), n_random=0, n_neighbourhoods=0, **kw)


def test_refusals_empty_answers_and_repeats_are_skipped_and_counted(opinions_profile):
    gen = generator(["I'm sorry, but I can't help with that.", "", "Consent first.", "consent first."],
                    temperatures=(0.0, 0.5, 1.0, 1.5))
    candidates = gen.generate(opinions_profile, [0, 1, 2, 3], size_target=2)
    assert [c.text for c in candidates] == ["Consent first."]
    assert gen.info["skipped"] == {"refusal": 1, "empty": 1, "duplicate": 1}
    assert gen.info["requests"] == 4 and gen.info["candidates"] == 1
    fit = candidates[0].provenance["fit"]
    assert fit["counted_by"] == "estimate" and fit["context_window"] == 4096 and fit["context_source"] == "setting"
    assert fit["included"] == opinions_profile.participant_ids and fit["tokens"] <= fit["budget"] == 4096 - 128 - 64


def test_no_usable_statement_is_one_line_naming_the_fix(opinions_profile):
    gen = generator(["As an AI, I cannot write opinions.", "  "], temperatures=(0.0, 1.0))
    with pytest.raises(ModelError) as info:
        gen.generate(opinions_profile, [0, 1, 2, 3])
    message = str(info.value)
    assert "\n" not in message and "no statement from 2 requests (refusal: 1, empty: 1)" in message
    assert "instruction-tuned model" in message


def test_a_context_too_small_for_any_prompt_is_one_line(opinions_profile):
    gen = LLMGenerator(client=ModelClient(LLMConfig(base_url="http://127.0.0.1:9/v1", model="m", context_window=256,
                                                    max_tokens=128)))
    with pytest.raises(ModelError, match=r"context of 256 tokens \(setting\) leaves 64 tokens .*PNYX_LLM_CONTEXT"):
        gen.generate(opinions_profile, [0, 1])
