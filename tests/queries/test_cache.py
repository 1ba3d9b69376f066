"""The one cache: SQLite, canonical keys, commit per result; a cached run makes no HTTP calls."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from pnyx.queries import get_discriminative
from pnyx.queries.cache import Cache
from pnyx.queries.client import LLMConfig, ModelClient, ModelRequest


def test_get_put_persist_across_reopen(tmp_path):
    path = tmp_path / "sub" / "cache.sqlite"
    with Cache(path) as cache:
        key = Cache.key({"what": "embedding", "text": "hello"})
        assert cache.get(key) is None and key not in cache
        cache.put(key, {"vector": [0.5, -1.25], "note": "ünïcode"}, namespace="embed")
        cache.put(Cache.key("other"), 3)
    with Cache(path) as cache:
        assert cache.get(key) == {"vector": [0.5, -1.25], "note": "ünïcode"}
        assert key in cache and len(cache) == 2 and cache.count("embed") == 1
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_key_is_canonical():
    assert Cache.key({"a": 1, "b": [1, 2]}) == Cache.key({"b": [1, 2], "a": 1})
    assert Cache.key({"a": 1}) != Cache.key({"a": 1.5}) != Cache.key({"a": "1"})
    base = ModelRequest("chat", "m", [{"role": "user", "content": "x"}], {"temperature": 0, "seed": 0})
    same = ModelRequest("chat", "m", [{"role": "user", "content": "x"}], {"seed": 0, "temperature": 0})
    different = [
        ModelRequest("chat", "m", [{"role": "user", "content": "x"}], {"temperature": 1, "seed": 0}),
        ModelRequest("chat", "m", [{"role": "user", "content": "x"}], {"temperature": 0, "seed": 1}),
        ModelRequest("chat", "m2", [{"role": "user", "content": "x"}], {"temperature": 0, "seed": 0}),
        ModelRequest("chat", "m", [{"role": "user", "content": "y"}], {"temperature": 0, "seed": 0}),
        ModelRequest("completions", "m", [{"role": "user", "content": "x"}], {"temperature": 0, "seed": 0}),
    ]
    assert same.key() == base.key()
    assert len({d.key() for d in different} | {base.key()}) == len(different) + 1


def test_concurrent_writers(tmp_path):
    """Threads sharing one Cache and a second connection to the same file (as another process would)."""
    path = tmp_path / "cache.sqlite"
    shared, other = Cache(path), Cache(path)

    def write(t: int) -> None:
        target = shared if t % 2 else other
        for k in range(50):
            target.put(Cache.key([t, k]), {"t": t, "k": k})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(8)))
    assert len(shared) == len(other) == 400
    assert shared.get(Cache.key([3, 49])) == {"t": 3, "k": 49}


def test_second_run_makes_no_http_calls(llm_server, llm_proxy, opinions_profile, tmp_path):
    path = tmp_path / "cache.sqlite"
    proxy = llm_proxy()
    prices = {"price_prompt_per_1k": 1.0, "price_completion_per_1k": 2.0}
    first = get_discriminative("llm", base_url=proxy.base_url, model=llm_server.model, cache=path, mode="completions", **prices)
    pred1 = first.predict(opinions_profile, participants=[0, 3], statements=[1])
    usage = first.client.usage
    assert proxy.forwarded == usage["calls"] == 2 and usage["cached"] == 0
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["cost_usd"] == pytest.approx((usage["prompt_tokens"] + 2 * usage["completion_tokens"]) / 1000)

    # A new process would see only the file: a fresh backend, client and connection.
    second = get_discriminative("llm", base_url=proxy.base_url, model=llm_server.model, cache=path, mode="completions", **prices)
    pred2 = second.predict(opinions_profile, participants=[0, 3], statements=[1])
    assert proxy.received == 2
    assert second.client.usage == {"calls": 0, "cached": 2, "retries": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
    assert np.array_equal(pred1.utilities, pred2.utilities) and np.array_equal(pred1.uncertainty, pred2.uncertainty)
    assert second.client.cache.count("openai:completions") == 2


def test_cache_is_independent_of_the_endpoint_url(llm_server, llm_proxy, tmp_path):
    """The base URL is not part of the key: the same model behind another host or port hits the cache."""
    a, b = llm_proxy(), llm_proxy()
    cache = Cache(tmp_path / "cache.sqlite")
    request = ModelRequest("chat", llm_server.model, [{"role": "user", "content": "Name a colour."}], {"max_tokens": 2, "temperature": 0})
    other = ModelRequest("chat", llm_server.model, [{"role": "user", "content": "Name a fruit."}], {"max_tokens": 2, "temperature": 0})
    first = ModelClient(LLMConfig(base_url=a.base_url, model=llm_server.model), cache).run_many([request, request, other])
    assert a.forwarded == 2 and first[0] == first[1]  # identical requests in one batch are called once
    again = ModelClient(LLMConfig(base_url=b.base_url, model=llm_server.model), cache).run(request)
    assert b.received == 0 and again == first[0]
