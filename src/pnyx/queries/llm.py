"""LLM backends for any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp server, Ollama).

* :class:`LLMBackend` (discriminative ``llm``): the expected rating Σ r·p(r) over the rating tokens
  "0".."4" among the top log-probabilities of the answer, renormalised over those tokens, as in Fish et
  al. (arXiv 2309.01291, §4); its standard deviation is the uncertainty. Where the endpoint returns no
  log-probabilities, the first digit 0–4 of the answer is taken instead; ``Prediction.info["source"]``
  says which, per entry.
* :class:`LLMGenerator` (generative ``llm``): the paper's ensemble of generative queries — one over all
  given participants, seeded random subsets and nearest-neighbour subsets around seeded centres — each
  at temperatures 0 and 1; every candidate carries its provenance.

Calls go through :class:`pnyx.queries.client.ModelClient` and so through the one cache. Nothing is
called unless an endpoint is configured (:class:`LLMConfig`); see ``README.md`` ("Local LLM").
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pnyx.data import Profile
from pnyx.queries import register_discriminative, register_generative
from pnyx.queries.base import Candidate, DiscriminativeBackend, GenerativeBackend, Prediction
from pnyx.queries.cache import Cache
from pnyx.queries.client import LLMConfig, ModelClient, ModelRequest
from pnyx.queries.prompts import as_completion_prompt, generation_messages, rating_messages

__all__ = ["LLMConfig", "LLMBackend", "LLMGenerator", "expected_rating"]

RATINGS = np.arange(5, dtype=float)
_DIGIT = re.compile(r"(?<!\d)[0-4](?!\d)")


def _client(config: LLMConfig | None, client: ModelClient | None, cache: Cache | str | Path | None, settings: dict,
            executor: Any = None) -> ModelClient:
    if client is not None:
        return client.with_config(**settings) if settings else client
    config = LLMConfig.from_env(**settings) if config is None else replace(config, **settings)
    return ModelClient(config, cache, executor)


def _answer_text(response: dict[str, Any]) -> str:
    choice = response["choices"][0]
    return (choice.get("message") or {}).get("content") or choice.get("text") or ""


def _top_logprobs(response: dict[str, Any]) -> list[tuple[str, list[tuple[str, float]]]]:
    """Per generated position: the sampled token and its top (token, logprob) alternatives."""
    logprobs = response["choices"][0].get("logprobs") or {}
    if "content" in logprobs:  # chat completions
        return [(c["token"], [(t["token"], t["logprob"]) for t in c.get("top_logprobs") or []]) for c in logprobs["content"] or []]
    tops = logprobs.get("top_logprobs") or []  # legacy completions: one {token: logprob} per position
    return [(token, list((top or {}).items())) for token, top in zip(logprobs.get("tokens") or [], tops)]


MIN_DIGIT_MASS = 0.5
"""At a position where no rating digit was sampled, the digits must hold at least this probability
for their distribution to count as the model's rating (else it is noise among the alternatives)."""


def _rating_distribution(top: list[tuple[str, float]]) -> tuple[np.ndarray | None, float]:
    """The distribution over "0".."4" renormalised over those tokens, and their raw probability mass."""
    p = np.zeros(5)
    for token, logprob in top:
        t = token.strip()
        if len(t) == 1 and t in "01234":
            p[int(t)] += math.exp(logprob)
    mass = float(p.sum())
    return (p / mass if mass > 0 else None), mass


def expected_rating(response: dict[str, Any]) -> tuple[float, float, str]:
    """(expected rating, standard deviation, source) from one response.

    Source ``logprobs``: the distribution over "0".."4" among the top alternatives, renormalised, at
    the first answer position where a rating digit was sampled or where the digits hold at least
    :data:`MIN_DIGIT_MASS` of the probability — not at a position where they are a stray 1 % (a chat
    model answering "The statement is …"). Source ``parsed``: otherwise, the first digit 0–4 in the
    answer (standard deviation NaN). Source ``none``: neither; the rating is NaN.
    """
    for token, top in _top_logprobs(response):
        p, mass = _rating_distribution(top)
        if p is not None and (token.strip() in ("0", "1", "2", "3", "4") or mass >= MIN_DIGIT_MASS):
            mean = float(p @ RATINGS)
            return mean, float(np.sqrt(p @ (RATINGS - mean) ** 2)), "logprobs"
    match = _DIGIT.search(_answer_text(response))
    if match:
        return float(match.group()), math.nan, "parsed"
    return math.nan, math.nan, "none"


@register_discriminative("llm")
class LLMBackend(DiscriminativeBackend):
    """Discriminative queries to an LLM, one request per (participant, statement) pair.

    Settings not named here go to :class:`LLMConfig` (``base_url``, ``model``, ``mode``, ...), on top of
    ``config`` or, without one, of :meth:`LLMConfig.from_env`. ``executor`` (``local``, ``ray`` or a
    :class:`pnyx.queries.executor.Executor`) is where the calls run.
    """

    name = "llm"

    def __init__(
        self,
        config: LLMConfig | None = None,
        *,
        cache: Cache | str | Path | None = None,
        client: ModelClient | None = None,
        logprobs: bool = True,
        max_tokens: int = 5,
        seed: int = 0,
        max_judgments: int = 20,
        progress: bool = False,
        executor: Any = None,
        **settings: Any,
    ):
        self.client = _client(config, client, cache, settings, executor)
        self.config = self.client.config
        self.model = self.config.model
        self.logprobs, self.max_tokens, self.seed = logprobs, max_tokens, seed
        self.max_judgments, self.progress = max_judgments, progress

    def request(self, profile: Profile, i: int, j: int) -> ModelRequest:
        """The request that rates statement ``j`` for participant ``i`` (it holds no other participant)."""
        cfg = self.config
        messages = rating_messages(profile, i, j, max_judgments=self.max_judgments)
        params: dict[str, Any] = {"temperature": cfg.temperature, "max_tokens": self.max_tokens, "seed": self.seed}
        if self.logprobs:
            params |= {"logprobs": True, "top_logprobs": cfg.top_logprobs} if cfg.mode == "chat" else {"logprobs": cfg.top_logprobs}
        return ModelRequest(cfg.mode, cfg.model, messages if cfg.mode == "chat" else as_completion_prompt(messages), params)

    def predict(
        self,
        profile: Profile,
        participants: Sequence[int] | None = None,
        statements: Sequence[int] | None = None,
    ) -> Prediction:
        rows = np.arange(profile.n) if participants is None else np.asarray(participants, dtype=int)
        cols = np.arange(profile.m) if statements is None else np.asarray(statements, dtype=int)
        requests = [self.request(profile, int(i), int(j)) for i in rows for j in cols]
        responses = self.client.run_many(requests, progress=self.progress)
        mean, std, source = zip(*map(expected_rating, responses)) if responses else ((), (), ())
        shape = (len(rows), len(cols))
        sources = np.array(source, dtype=object).reshape(shape)
        return Prediction(
            utilities=np.array(mean, dtype=float).reshape(shape),
            participants=rows,
            statements=cols,
            backend=self.name,
            model=self.model,
            uncertainty=np.array(std, dtype=float).reshape(shape),
            info={
                "source": sources,
                "sources": {s: int((sources == s).sum()) for s in ("logprobs", "parsed", "none")},
                "mode": self.config.mode,
                "usage": dict(self.client.usage),
            },
        )


def _clean_statement(text: str) -> str:
    """The statement in a generated answer: its first paragraph, without labels, bullets or quotes."""
    text = re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0]
    text = re.sub(r"^\s*(?:[-*•]\s*|\d+[.)]\s*)?(?:statement\s*:\s*)?", "", text, flags=re.IGNORECASE)
    return " ".join(text.split()).strip("\"'“”‘’ ")


@register_generative("llm")
class LLMGenerator(GenerativeBackend):
    """The paper's LLM ensemble of generative queries (Fish et al., arXiv 2309.01291, §4).

    For the given participants: one prompt over all of them (a seeded sample of ``max_participants``
    if there are more), ``n_random`` seeded random subsets, and ``n_neighbourhoods`` nearest-neighbour
    subsets around seeded centres (by text embedding when every participant has text and the embedder
    is installed, else by rating vectors), each at every temperature in ``temperatures``. Subsets have
    ``size_target`` members (default half the group). ``word_budget`` is asked for in the prompt and
    enforced by trimming; a trimmed candidate says so in its provenance.
    """

    name = "llm"

    def __init__(
        self,
        config: LLMConfig | None = None,
        *,
        cache: Cache | str | Path | None = None,
        client: ModelClient | None = None,
        temperatures: Sequence[float] = (0.0, 1.0),
        n_random: int = 1,
        n_neighbourhoods: int = 2,
        max_participants: int = 20,
        similarity: str = "auto",
        progress: bool = False,
        executor: Any = None,
        seed: int = 0,
        **settings: Any,
    ):
        if similarity not in ("auto", "embedding", "ratings"):
            raise ValueError(f"similarity must be 'auto', 'embedding' or 'ratings', not {similarity!r}")
        self.client = _client(config, client, cache, settings, executor)
        self.config = self.client.config
        self.model = self.config.model
        self.temperatures = tuple(float(t) for t in temperatures)
        self.n_random, self.n_neighbourhoods, self.max_participants = n_random, n_neighbourhoods, max_participants
        self.similarity, self.progress = similarity, progress

    # -- the ensemble ---------------------------------------------------------------------------
    def _features(self, profile: Profile, members: np.ndarray) -> tuple[np.ndarray, str]:
        texts = [profile.participants[i].text() for i in members]
        if self.similarity == "embedding" or (self.similarity == "auto" and all(texts)):
            try:
                from pnyx.queries.embed import embed

                return np.asarray(embed(texts)), "embedding"
            except (ImportError, RuntimeError):  # the offline embedding model is not installed
                if self.similarity == "embedding":
                    raise
        U = profile.utilities[members]
        known = ~np.isnan(U)
        column_mean = np.where(known.any(axis=0), np.nansum(U, axis=0) / np.maximum(known.sum(axis=0), 1), 2.0)
        return np.where(known, U, column_mean), "ratings"

    def ensemble(self, profile: Profile, participants: Sequence[int], *, size_target: int | None, seed: int) -> list[dict[str, Any]]:
        """The groups to prompt for: dicts with ``method``, ``members`` (profile indices) and, for
        neighbourhoods, ``centre`` and ``similarity``. Repeated groups are left out."""
        members = np.asarray(participants, dtype=int)
        rng = np.random.default_rng(seed)
        n = len(members)
        size = min(self.max_participants, n, max(1, size_target or math.ceil(n / 2)))
        everyone = members if n <= self.max_participants else np.sort(rng.choice(members, self.max_participants, replace=False))
        groups = [{"method": "all", "members": everyone}]
        groups += [{"method": "random", "members": np.sort(rng.choice(members, size, replace=False))} for _ in range(self.n_random)]
        if self.n_neighbourhoods and n > 1:
            X, how = self._features(profile, members)
            for c in rng.choice(n, min(self.n_neighbourhoods, n), replace=False):
                distance = np.linalg.norm(X - X[c], axis=1)
                nearest = members[np.argsort(distance, kind="stable")[:size]]
                groups.append({"method": "nearest", "members": np.sort(nearest), "centre": int(members[c]), "similarity": how})
        unique: dict[tuple[int, ...], dict[str, Any]] = {}
        for g in groups:
            unique.setdefault(tuple(int(i) for i in g["members"]), g)
        return list(unique.values())

    # -- the query ------------------------------------------------------------------------------
    def generate(
        self,
        profile: Profile,
        participants: Sequence[int],
        *,
        size_target: int | None = None,
        word_budget: int | None = None,
        seed: int = 0,
    ) -> list[Candidate]:
        if len(participants) == 0:
            return []
        cfg = self.config
        max_tokens = cfg.max_tokens if word_budget is None else min(cfg.max_tokens, 3 * word_budget + 16)
        jobs, requests = [], []
        for group in self.ensemble(profile, participants, size_target=size_target, seed=seed):
            target = None if size_target is None else min(size_target, len(group["members"]))
            messages = generation_messages(profile, group["members"], size_target=target, word_budget=word_budget)
            prompt = messages if cfg.mode == "chat" else as_completion_prompt(messages, "\n\nStatement:")
            for t in self.temperatures:
                requests.append(ModelRequest(cfg.mode, cfg.model, prompt, {"temperature": t, "max_tokens": max_tokens, "seed": seed}))
                jobs.append((group, t))
        responses = self.client.run_many(requests, progress=self.progress)

        candidates, seen = [], set()
        for (group, t), request, response in zip(jobs, requests, responses):
            text = _clean_statement(_answer_text(response))
            words = text.split()
            trimmed = word_budget is not None and len(words) > word_budget
            if trimmed:
                text = " ".join(words[:word_budget])
            if not text or text.casefold() in seen:
                continue
            seen.add(text.casefold())
            provenance = {
                "generator": self.name,
                "method": group["method"],
                "model": cfg.model,
                "mode": cfg.mode,
                "seed": seed,
                "temperature": t,
                "participants": [profile.participants[i].id for i in group["members"]],
                "prompt": request.input,
                "size_target": size_target,
                "word_budget": word_budget,
                "trimmed": trimmed,
                "words": len(words),
                "finish_reason": response["choices"][0].get("finish_reason"),
            }
            if "centre" in group:
                provenance |= {"centre": profile.participants[group["centre"]].id, "similarity": group["similarity"]}
            candidates.append(Candidate(text=text, generator=self.name, provenance=provenance))
        return candidates
