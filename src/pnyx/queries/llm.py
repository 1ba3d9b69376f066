"""LLM backends for any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp server, Ollama).

* :class:`LLMBackend` (discriminative ``llm``): the expected rating Σ r·p(r) over the rating tokens
  "0".."4" among the top log-probabilities of the answer, renormalised over those tokens, as in Fish et
  al. (arXiv 2309.01291, §4); its standard deviation is the uncertainty. Where the endpoint returns no
  log-probabilities, the first digit 0–4 of the answer is taken instead; ``Prediction.info["source"]``
  says which, per entry.
* :class:`LLMGenerator` (generative ``llm``): the paper's ensemble of generative queries — one over all
  given participants, seeded random subsets and nearest-neighbour subsets around seeded centres — each
  at temperatures 0 and 1; every candidate carries its provenance.

Both fit every prompt to the model's context window (``LLMConfig.context_window``, else what the server
says, else 4,096 tokens), and turn a model's failures into skipped candidates with a count or a
:class:`pnyx.queries.client.ModelError` whose one line names the cause and the fix.

Calls go through :class:`pnyx.queries.client.ModelClient` and so through the one cache. Nothing is
called unless an endpoint is configured (:class:`LLMConfig`); see ``README.md`` ("Local LLM").
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from pnyx.data import Profile
from pnyx.scale import MIDPOINT
from pnyx.queries import register_discriminative, register_generative
from pnyx.queries.base import Candidate, DiscriminativeBackend, GenerativeBackend, Prediction
from pnyx.queries.cache import Cache
from pnyx.queries.client import LLMConfig, ModelClient, ModelError, ModelRequest, context_limit_in, describe_failure
from pnyx.queries.prompts import (
    PromptFit,
    TokenEstimate,
    as_completion_prompt,
    generation_prompt,
    rating_messages,
    rating_prompt,
    rating_system,
    summary_prompt,
)

__all__ = ["LLMConfig", "LLMBackend", "LLMGenerator", "ModelError", "expected_rating"]

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


class _Fitting:
    """What a backend needs to fit its prompts to the model: the context window (asked once), the
    prompt budget (context − completion − margin) and a token estimate calibrated on the server's
    tokenizer where it has one (0.9 × the characters per token it measures on a first prompt)."""

    def __init__(self, client: ModelClient):
        self.client = client
        self._estimate: TokenEstimate | None = None

    def budget(self, max_tokens: int) -> int:
        """Prompt tokens allowed beside a completion of ``max_tokens``."""
        context = self.client.context_window()
        budget = context.tokens - max_tokens - self.client.config.context_margin
        if budget < MIN_PROMPT_TOKENS:
            raise ModelError(
                f"the model's context of {context.tokens} tokens ({context.source}) leaves {budget} tokens for a prompt "
                f"beside {max_tokens} for the answer and a margin of {self.client.config.context_margin}; set "
                "PNYX_LLM_CONTEXT to the server's context size (llama.cpp: --ctx-size) or lower max_tokens")
        return budget

    def estimate(self, sample: Callable[[], str]) -> TokenEstimate:
        """The token estimate, calibrated on the text ``sample()`` the first time it is asked for."""
        if self._estimate is None:
            sample = sample()
            counted = self.client.count_tokens(sample) if sample else None
            self._estimate = (TokenEstimate(0.9 * len(sample) / counted) if counted
                              else TokenEstimate(self.client.config.chars_per_token))
        return self._estimate

    def count(self, messages: Any) -> int | None:
        """The prompt's tokens by the server's tokenizer (without the chat template's), or None."""
        text = messages if isinstance(messages, str) else "\n".join(m["content"] for m in messages)
        return self.client.count_tokens(text)

    @property
    def context(self) -> dict[str, Any]:
        window = self.client.context_window()
        return {"context_window": window.tokens, "context_source": window.source}


MIN_PROMPT_TOKENS = 128
"""A context that leaves fewer tokens than this for the prompt is refused with a message."""

REFITS = 6
"""Times a prompt is fitted again when the server's tokenizer counts it over its budget."""


def _shrink(room: int, counted: int, budget: int) -> int:
    """The estimated room for the next fit when the server counted ``counted`` > ``budget`` tokens."""
    return max(1, min(room * budget // counted, room - (counted - budget)) - 1)


def _run_refitting(fitting: _Fitting, build, n: int, progress: bool) -> tuple[list[ModelRequest], list[Any]]:
    """``build(indices)`` → requests; run all ``n``. Requests refused because the server's context is
    smaller than assumed (a 400 that names it) are built again for that context and retried once.
    Failures come back as exceptions in the responses' places."""
    requests = build(range(n))
    responses = fitting.client.run_many(requests, progress=progress, return_exceptions=True)
    limits = [limit for r in responses if (limit := context_limit_in(r)) is not None]
    if limits and min(limits) < fitting.client.context_window().tokens:
        fitting.client.learn_context(min(limits))
        again = [a for a, r in enumerate(responses) if isinstance(r, Exception)]
        retried = build(again)
        for a, request, response in zip(again, retried, fitting.client.run_many(retried, progress=progress,
                                                                                return_exceptions=True)):
            requests[a], responses[a] = request, response
    return requests, responses


@register_discriminative("llm")
class LLMBackend(DiscriminativeBackend):
    """Discriminative queries to an LLM, one request per (participant, statement) pair.

    Each prompt is fitted to the model's context window (the participant's long answers cut, see
    :func:`pnyx.queries.prompts.rating_prompt`); ``Prediction.info["truncated"]`` counts the prompts
    that were cut. A pair whose request fails after its retries raises a :class:`ModelError` naming
    the cause and the fix.

    Settings not named here go to :class:`LLMConfig` (``base_url``, ``model``, ``mode``, ...), on top of
    ``config`` or, without one, of :meth:`LLMConfig.from_env`. ``executor`` (``local``, ``ray`` or a
    :class:`pnyx.queries.executor.Executor`) is where the calls run. ``paraphrase`` picks the wording of
    the rating prompt (:data:`pnyx.queries.prompts.RATING_PARAPHRASES`; 0, the paper's, by default).
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
        paraphrase: int = 0,
        **settings: Any,
    ):
        rating_system(paraphrase)  # a wording that does not exist fails here, before any call
        self.client = _client(config, client, cache, settings, executor)
        self.config = self.client.config
        self.model = self.config.model
        self.logprobs, self.max_tokens, self.seed = logprobs, max_tokens, seed
        self.max_judgments, self.progress, self.paraphrase = max_judgments, progress, paraphrase
        self.fitting = _Fitting(self.client)

    def reworded(self, paraphrase: int, **settings: Any) -> "LLMBackend":
        """This backend with the rating prompt in wording ``paraphrase`` and the :class:`LLMConfig`
        ``settings`` changed (e.g. ``temperature=0``): the same cache and executor, its own usage."""
        return LLMBackend(client=self.client.with_config(**settings) if settings else self.client,
                          logprobs=self.logprobs, max_tokens=self.max_tokens, seed=self.seed,
                          max_judgments=self.max_judgments, progress=self.progress, paraphrase=paraphrase)

    def _request(self, profile: Profile, i: int, j: int) -> tuple[ModelRequest, bool]:
        cfg = self.config
        budget = self.fitting.budget(self.max_tokens)
        wording = {"max_judgments": self.max_judgments, "paraphrase": self.paraphrase}
        estimate = self.fitting.estimate(lambda: rating_messages(profile, i, j, **wording)[-1]["content"])
        messages, cut = rating_prompt(profile, i, j, budget=budget, estimate=estimate, **wording)
        if estimate.tokens(messages[-1]["content"]) > budget // 2:  # near the limit: ask the server's tokenizer
            room = budget
            for _ in range(REFITS):
                counted = self.fitting.count(messages)
                if counted is None or counted <= budget:
                    break
                room = _shrink(room, counted, budget)
                messages, cut = rating_prompt(profile, i, j, budget=room, estimate=estimate, **wording)
        params: dict[str, Any] = {"temperature": cfg.temperature, "max_tokens": self.max_tokens, "seed": self.seed}
        if self.logprobs:
            params |= {"logprobs": True, "top_logprobs": cfg.top_logprobs} if cfg.mode == "chat" else {"logprobs": cfg.top_logprobs}
        return ModelRequest(cfg.mode, cfg.model, messages if cfg.mode == "chat" else as_completion_prompt(messages), params), cut

    def request(self, profile: Profile, i: int, j: int) -> ModelRequest:
        """The request that rates statement ``j`` for participant ``i`` (it holds no other participant)."""
        return self._request(profile, i, j)[0]

    def predict(
        self,
        profile: Profile,
        participants: Sequence[int] | None = None,
        statements: Sequence[int] | None = None,
    ) -> Prediction:
        rows = np.arange(profile.n) if participants is None else np.asarray(participants, dtype=int)
        cols = np.arange(profile.m) if statements is None else np.asarray(statements, dtype=int)
        mean, std, source, truncated = self.rate_pairs(profile, [(int(i), int(j)) for i in rows for j in cols])
        shape = (len(rows), len(cols))
        sources = source.reshape(shape)
        return Prediction(
            utilities=mean.reshape(shape),
            participants=rows,
            statements=cols,
            backend=self.name,
            model=self.model,
            uncertainty=std.reshape(shape),
            info={
                "source": sources,
                "sources": {s: int((sources == s).sum()) for s in ("logprobs", "parsed", "none")},
                "mode": self.config.mode,
                "truncated": truncated,
                **self.fitting.context,
                "usage": dict(self.client.usage),
                "paraphrase": self.paraphrase,
            },
        )

    def rate_pairs(self, profile: Profile, pairs: Sequence[tuple[int, int]]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Rate each (participant, statement) pair: the expected ratings, their standard deviations, the
        source of each (:func:`expected_rating`) and how many prompts were cut to fit.

        Raises
        ------
        ModelError
            A request failed after its retries (the message counts the failures by cause).
        """
        pairs = [(int(i), int(j)) for i, j in pairs]
        cut: dict[int, bool] = {}

        def build(indices) -> list[ModelRequest]:
            out = []
            for a in indices:
                request, cut[a] = self._request(profile, *pairs[a])
                out.append(request)
            return out

        _, responses = _run_refitting(self.fitting, build, len(pairs), self.progress)
        failed = [a for a, r in enumerate(responses) if isinstance(r, Exception)]
        if failed:
            i, j = pairs[failed[0]]
            causes = Counter(describe_failure(responses[a], self.config)[0] for a in failed)
            raise ModelError(
                f"{len(failed)} of {len(pairs)} rating requests failed ({', '.join(f'{c}: {n}' for c, n in causes.items())}); "
                f"e.g. participant {profile.participants[i].id!r}, statement {profile.statements[j].id!r}: "
                + describe_failure(responses[failed[0]], self.config)[1])
        mean, std, source = zip(*map(expected_rating, responses)) if responses else ((), (), ())
        return (np.array(mean, dtype=float), np.array(std, dtype=float), np.array(source, dtype=object),
                int(sum(cut.values())))


def _clean_statement(text: str) -> str:
    """The statement in a generated answer: its first paragraph, without labels, bullets or quotes."""
    text = re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0]
    text = re.sub(r"^\s*(?:[-*•]\s*|\d+[.)]\s*)?(?:statement\s*:\s*)?", "", text, flags=re.IGNORECASE)
    return " ".join(text.split()).strip("\"'“”‘’ ")


_REFUSAL = re.compile(r"^(?:I'?m sorry|I am sorry|sorry,|I (?:can ?not|can't|won't|am unable|'m unable|apologi[sz]e)|As an AI\b)", re.I)


def _unusable(text: str) -> str | None:
    """Why a generated answer is no statement (``empty`` or ``refusal``), or None."""
    if not text:
        return "empty"
    return "refusal" if _REFUSAL.match(text) else None


@register_generative("llm")
class LLMGenerator(GenerativeBackend):
    """The paper's LLM ensemble of generative queries (Fish et al., arXiv 2309.01291, §4).

    For the given participants: one prompt over all of them (a seeded sample of ``max_participants``
    if there are more), ``n_random`` seeded random subsets, and ``n_neighbourhoods`` nearest-neighbour
    subsets around seeded centres (by text embedding when every participant has text and the embedder
    is installed, else by rating vectors), each at every temperature in ``temperatures``. Subsets have
    ``size_target`` members (default half the group). ``word_budget`` is asked for in the prompt and
    enforced by trimming; a trimmed candidate says so in its provenance.

    Every prompt fits the model's context window (:func:`pnyx.queries.prompts.generation_prompt`: a
    seeded subset of the group if not all fit at ``min_participant_tokens`` each, the longest texts cut
    to a common length). With ``summarise="auto"`` participants are shown by a summary of their
    opinions in at most ``summary_words`` words (one cached request each, as Boehmer et al., arXiv
    2505.22939) when not all of the group would fit otherwise; ``"always"`` and ``"never"`` decide
    for every group. Each candidate's provenance ``fit``
    says who was included, cut, summarised and left out, and the prompt's tokens.

    A request that fails (a 400, a refusal, an empty answer) is skipped and counted in
    :attr:`info` ``skipped``; if no request of a call gives a statement, :class:`ModelError` says why.
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
        summarise: str = "auto",
        summary_words: int = 40,
        min_participant_tokens: int = 48,
        progress: bool = False,
        executor: Any = None,
        seed: int = 0,
        **settings: Any,
    ):
        if similarity not in ("auto", "embedding", "ratings"):
            raise ValueError(f"similarity must be 'auto', 'embedding' or 'ratings', not {similarity!r}")
        if summarise not in ("auto", "always", "never"):
            raise ValueError(f"summarise must be 'auto', 'always' or 'never', not {summarise!r}")
        self.client = _client(config, client, cache, settings, executor)
        self.config = self.client.config
        self.model = self.config.model
        self.temperatures = tuple(float(t) for t in temperatures)
        self.n_random, self.n_neighbourhoods, self.max_participants = n_random, n_neighbourhoods, max_participants
        self.similarity, self.progress = similarity, progress
        self.summarise, self.summary_words = summarise, summary_words
        self.min_participant_tokens = min_participant_tokens
        self.fitting = _Fitting(self.client)
        self.info: dict[str, Any] = {"requests": 0, "candidates": 0, "summaries": 0, "skipped": {}, "errors": []}
        """Over this generator's life: requests made, candidates returned, participant summaries used,
        requests ``skipped`` by cause (a failed call's cause from :func:`describe_failure`, ``refusal``,
        ``empty``, ``duplicate``), the first few error messages, and the context window used."""

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
        column_mean = np.where(known.any(axis=0), np.nansum(U, axis=0) / np.maximum(known.sum(axis=0), 1), MIDPOINT)
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

    # -- fitting the prompt ---------------------------------------------------------------------
    def summaries(self, profile: Profile, members: Sequence[int], *, seed: int = 0) -> dict[int, str]:
        """Summaries of the opinions of ``members`` (profile index → text), one cached request each;
        a participant whose request fails or gives no text is left out (and counted in :attr:`info`)."""
        cfg, words = self.config, self.summary_words
        max_tokens = 2 * words + 16
        budget = self.fitting.budget(max_tokens)
        estimate = self.fitting.estimate(lambda: summary_prompt(profile, int(members[0]), words=words)[-1]["content"])
        requests = []
        for i in members:
            messages = summary_prompt(profile, int(i), words=words, budget=budget, estimate=estimate)
            prompt = messages if cfg.mode == "chat" else as_completion_prompt(messages, "\n\nSummary:")
            requests.append(ModelRequest(cfg.mode, cfg.model, prompt, {"temperature": 0.0, "max_tokens": max_tokens, "seed": seed}))
        out = {}
        for i, response in zip(members, self.client.run_many(requests, progress=self.progress, return_exceptions=True)):
            text = None if isinstance(response, Exception) else " ".join(_answer_text(response).split())
            why = describe_failure(response, cfg)[0] if isinstance(response, Exception) else _unusable(text)
            if why is None:
                out[int(i)] = text
            else:
                self._skip(f"summary {why}", response)
        self.info["summaries"] += len(out)
        return out

    def fit_prompt(self, profile: Profile, members: Sequence[int], *, max_tokens: int, size_target: int | None,
                   word_budget: int | None, seed: int, summaries: dict[int, str] | None = None) -> tuple[list[dict[str, str]], PromptFit]:
        """The generative prompt for ``members`` fitted to the context (see :func:`generation_prompt`);
        its tokens checked by the server's tokenizer where there is one (and fitted again if over)."""
        budget = self.fitting.budget(max_tokens)
        kw = dict(size_target=size_target, word_budget=word_budget, min_tokens=self.min_participant_tokens, seed=seed)
        estimate = self.fitting.estimate(lambda: generation_prompt(profile, members[:1], **kw)[0][-1]["content"])
        room = budget
        for _ in range(REFITS):
            messages, fit = generation_prompt(profile, members, budget=room, estimate=estimate, summaries=summaries, **kw)
            counted = self.fitting.count(messages)
            if counted is None:
                break
            fit.tokens, fit.counted_by = counted, "server"
            if counted <= budget:
                break
            room = _shrink(room, counted, budget)
        fit.budget = budget
        return messages, fit

    def _wants_summaries(self, fit: PromptFit) -> bool:
        return self.summarise == "always" or (self.summarise == "auto" and bool(fit.omitted))

    def _skip(self, cause: str, error: Any = None) -> None:
        self.info["skipped"][cause] = self.info["skipped"].get(cause, 0) + 1
        if isinstance(error, Exception) and len(self.info["errors"]) < 5:
            self.info["errors"].append(describe_failure(error, self.config)[1])

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
        groups = self.ensemble(profile, participants, size_target=size_target, seed=seed)
        jobs = [(g, t) for g in range(len(groups)) for t in self.temperatures]
        fitted: dict[tuple[int, int], tuple[list[dict[str, str]], PromptFit]] = {}
        used: dict[int, PromptFit] = {}

        def fit(g: int) -> tuple[list[dict[str, str]], PromptFit]:
            key = (g, self.client.context_window().tokens)  # fitted again once a smaller context is learned
            if key not in fitted:
                members = [int(i) for i in groups[g]["members"]]
                target = None if size_target is None else min(size_target, len(members))
                kw = dict(max_tokens=max_tokens, size_target=target, word_budget=word_budget, seed=seed)
                messages, how = self.fit_prompt(profile, members, **kw)
                if self._wants_summaries(how):
                    summaries = self.summaries(profile, members, seed=seed)
                    if summaries:
                        messages, how = self.fit_prompt(profile, members, summaries=summaries, **kw)
                fitted[key] = messages, how
            return fitted[key]

        def build(indices) -> list[ModelRequest]:
            out = []
            for a in indices:
                g, t = jobs[a]
                messages, used[a] = fit(g)
                prompt = messages if cfg.mode == "chat" else as_completion_prompt(messages, "\n\nStatement:")
                out.append(ModelRequest(cfg.mode, cfg.model, prompt, {"temperature": t, "max_tokens": max_tokens, "seed": seed}))
            return out

        requests, responses = _run_refitting(self.fitting, build, len(jobs), self.progress)
        self.info["requests"] += len(requests)

        candidates, seen = [], set()
        for a, ((g, t), request, response) in enumerate(zip(jobs, requests, responses)):
            group = groups[g]
            if isinstance(response, Exception):
                self._skip(describe_failure(response, cfg)[0], response)
                continue
            text = _clean_statement(_answer_text(response))
            if (why := _unusable(text)) is not None:
                self._skip(why)
                continue
            words = text.split()
            trimmed = word_budget is not None and len(words) > word_budget
            if trimmed:
                text = " ".join(words[:word_budget])
            if text.casefold() in seen:
                self._skip("duplicate")
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
                "fit": {**used[a].record(profile), **self.fitting.context},
            }
            if "centre" in group:
                provenance |= {"centre": profile.participants[group["centre"]].id, "similarity": group["similarity"]}
            candidates.append(Candidate(text=text, generator=self.name, provenance=provenance))
        self.info["candidates"] += len(candidates)
        self.info |= self.fitting.context
        if not candidates:
            failures = [r for r in responses if isinstance(r, Exception)]
            causes = Counter(describe_failure(r, cfg)[0] if isinstance(r, Exception)
                             else _unusable(_clean_statement(_answer_text(r))) for r in responses)
            reason = (describe_failure(failures[0], cfg)[1] if failures else
                      f"{cfg.model!r} answered with no usable statement; try an instruction-tuned model, or "
                      "PNYX_LLM_MODE=completions for a base model")
            raise ModelError(f"the llm generator got no statement from {len(requests)} requests "
                             f"({', '.join(f'{c}: {n}' for c, n in causes.items())}): {reason}")
        return candidates
