"""The one model client: any OpenAI-compatible endpoint, through the one cache.

:class:`ModelClient` owns what callers must not re-implement: the cache look-up before every call,
timeouts, retries with exponential backoff on timeouts, connection errors, 429 and 5xx (tenacity;
the SDK's own retries are off so that every HTTP attempt is counted here), bounded concurrency (an
:class:`asyncio.Semaphore`) and token and cost accounting in :attr:`ModelClient.usage`.

Nothing here has a default endpoint: a remote model is called only when the user configures one
(:meth:`LLMConfig.from_env` or explicit arguments).
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Sequence

import openai
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from pnyx.data import InputError
from pnyx.queries.cache import Cache

Endpoint = Literal["chat", "completions"]

OPT_IN = (
    "the llm backend calls a model endpoint only when you configure one: set PNYX_LLM_BASE_URL "
    "(e.g. http://127.0.0.1:8080/v1 for a local llama.cpp, vLLM or Ollama server, https://api.openai.com/v1 "
    "for OpenAI) and PNYX_LLM_MODEL (and PNYX_LLM_API_KEY or OPENAI_API_KEY if the endpoint needs one), "
    "or pass base_url=... and model=..."
)


@dataclass(frozen=True)
class LLMConfig:
    """How to reach an OpenAI-compatible endpoint and what a call may cost."""

    base_url: str | None = None
    model: str = ""
    api_key: str | None = None
    mode: Endpoint = "chat"
    """``chat`` (``/v1/chat/completions``) or ``completions`` (``/v1/completions``, for base models)."""
    temperature: float = 0.0
    max_tokens: int = 256
    concurrency: int = 4
    timeout: float = 60.0
    """Seconds per HTTP attempt."""
    max_retries: int = 5
    backoff: float = 1.0
    """Scale of the randomised exponential backoff between retries, in seconds (capped at 60 s)."""
    top_logprobs: int = 20
    price_prompt_per_1k: float = 0.0
    """US dollars per 1,000 prompt tokens, for :attr:`ModelClient.usage` ``cost_usd``."""
    price_completion_per_1k: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in ("chat", "completions"):
            raise InputError(f"mode must be 'chat' or 'completions', not {self.mode!r}", field="mode")
        if self.concurrency < 1:
            raise InputError(f"concurrency must be at least 1, not {self.concurrency}", field="concurrency")

    @classmethod
    def from_env(cls, **overrides: Any) -> "LLMConfig":
        """Read ``PNYX_LLM_BASE_URL``, ``PNYX_LLM_MODEL``, ``PNYX_LLM_API_KEY`` (else ``OPENAI_API_KEY``) and
        ``PNYX_LLM_MODE``; keyword arguments that are not None take precedence."""
        env = {
            "base_url": os.environ.get("PNYX_LLM_BASE_URL") or None,
            "model": os.environ.get("PNYX_LLM_MODEL") or "",
            "api_key": os.environ.get("PNYX_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY") or None,
            "mode": os.environ.get("PNYX_LLM_MODE") or "chat",
        }
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise InputError(f"unknown LLM setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        env.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**env)

    def require_endpoint(self) -> None:
        """Raise a clear error unless an endpoint and a model are configured."""
        if not self.base_url:
            raise InputError(f"no LLM endpoint configured; {OPT_IN}", field="base_url")
        if not self.model:
            raise InputError(f"no LLM model configured; {OPT_IN}", field="model")


@dataclass
class ModelRequest:
    """One call: ``input`` is a list of chat messages (``chat``) or a prompt string (``completions``);
    ``params`` are the request's other body fields (temperature, max_tokens, seed, logprobs, ...)."""

    endpoint: Endpoint
    model: str
    input: Any
    params: dict[str, Any] = field(default_factory=dict)
    backend: str = "openai"
    """The API dialect, part of the cache key."""

    def key(self) -> str:
        """The cache key: backend, endpoint, model, input and parameters (not the base URL)."""
        return Cache.key(
            {"backend": self.backend, "endpoint": self.endpoint, "model": self.model, "input": self.input, "params": self.params}
        )


def _retryable(exc: BaseException) -> bool:
    """Timeouts, dropped connections, 429 and 5xx are worth another try; other errors are not."""
    if isinstance(exc, (openai.APIConnectionError, openai.RateLimitError)):  # APITimeoutError is a connection error
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


class ModelClient:
    """Calls an OpenAI-compatible endpoint for a batch of :class:`ModelRequest` s, cache first.

    ``usage`` counts, over the client's life: ``calls`` (HTTP calls that succeeded), ``cached``
    (requests answered by the cache), ``retries`` (failed attempts that were retried),
    ``prompt_tokens``, ``completion_tokens`` and ``cost_usd`` of the calls made.

    ``executor`` (:mod:`pnyx.queries.executor`: ``"local"``, ``"ray"`` or an executor object) says
    where the calls the cache cannot answer run; whatever runs them, every answer is written here,
    through this client's one cache, as it arrives.
    """

    def __init__(self, config: LLMConfig, cache: Cache | str | Path | None = None, executor: Any = None):
        from pnyx.queries.executor import get_executor

        config.require_endpoint()
        self.config = config
        self.cache = cache if isinstance(cache, Cache) else Cache(cache if cache is not None else ":memory:")
        self.executor = get_executor(executor)
        self.usage: dict[str, float] = {
            "calls": 0, "cached": 0, "retries": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0,
        }
        self._lock = threading.Lock()

    def with_config(self, **changes: Any) -> "ModelClient":
        """A client with some settings changed, sharing this one's cache and executor (usage starts at zero)."""
        return ModelClient(replace(self.config, **changes), self.cache, self.executor)

    # -- sync entry points ----------------------------------------------------------------------
    def run_many(self, requests: Sequence[ModelRequest], *, progress: bool = False) -> list[dict[str, Any]]:
        """Responses (as JSON dicts) in the order of ``requests``; shows a progress bar if asked.

        Inside a running event loop (a notebook) the calls run on a helper thread's loop; async code
        can ``await`` :meth:`gather` instead."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.gather(requests, progress=progress))
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, self.gather(requests, progress=progress)).result()

    def run(self, request: ModelRequest) -> dict[str, Any]:
        return self.run_many([request])[0]

    # -- async core -----------------------------------------------------------------------------
    async def gather(self, requests: Sequence[ModelRequest], *, progress: bool = False) -> list[dict[str, Any]]:
        """Answer every request; identical requests are called once. On a failure that outlives its
        retries the other calls are cancelled (finished ones are already cached) and it is raised."""
        keys = [r.key() for r in requests]
        results: dict[str, dict[str, Any]] = {}
        todo: dict[str, ModelRequest] = {}
        for key, request in zip(keys, requests):
            if key in results or key in todo:
                continue
            hit = self.cache.get(key)
            if hit is None:
                todo[key] = request
            else:
                results[key] = hit["response"]
                self.usage["cached"] += 1
        if todo:
            def store(key: str, response: dict[str, Any], retries: int = 0) -> None:
                request = todo[key]
                self.cache.put(key, {"response": response}, namespace=f"{request.backend}:{request.endpoint}")
                with self._lock:
                    self._account(response)
                    self.usage["retries"] += retries
                results[key] = response

            if self.executor.name == "local":
                await self._call_all(todo, store, progress)
            else:
                await asyncio.to_thread(self.executor.call, self.config, todo, store, progress)
        return [results[k] for k in keys]

    def answers(self, requests: dict[str, ModelRequest]) -> Iterator[tuple[str, dict[str, Any], int]]:
        """``(key, response, retries)`` for each of ``requests`` (keyed by :meth:`ModelRequest.key`), in
        the order they finish, calling the endpoint for every one (no cache): what a remote worker runs."""
        done: queue.Queue = queue.Queue()
        end = object()

        def work() -> None:
            try:
                asyncio.run(self._call_all(requests, lambda key, response, retries=0: done.put((key, response, retries)),
                                           False, report_retries=True))
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                done.put(exc)
            done.put(end)

        threading.Thread(target=work, daemon=True).start()
        while (item := done.get()) is not end:
            if isinstance(item, BaseException):
                raise item
            yield item

    async def _call_all(self, todo: dict[str, ModelRequest], store: Callable[..., None], progress: bool,
                        report_retries: bool = False) -> None:
        """Call the endpoint for every request, ``store(key, response, retries)`` as each answer arrives
        (``retries``: the failed attempts before it, if ``report_retries``; else 0, as they are in :attr:`usage`)."""
        from rich.progress import Progress

        semaphore = asyncio.Semaphore(self.config.concurrency)
        cfg = self.config
        with Progress(transient=True, disable=not progress) as bar:
            task = bar.add_task(f"{cfg.model} ({len(todo)} calls)", total=len(todo))
            async with openai.AsyncOpenAI(
                base_url=cfg.base_url, api_key=cfg.api_key or "not-needed", timeout=cfg.timeout, max_retries=0
            ) as api:

                async def one(key: str, request: ModelRequest) -> None:
                    retried = [0]
                    async with semaphore:
                        response = await self._call(api, request, retried)
                        store(key, response, retried[0] if report_retries else 0)
                    bar.advance(task)

                try:
                    async with asyncio.TaskGroup() as group:
                        for key, request in todo.items():
                            group.create_task(one(key, request))
                except BaseExceptionGroup as eg:
                    raise eg.exceptions[0] from None

    async def _call(self, api: openai.AsyncOpenAI, request: ModelRequest, retried: list[int]) -> dict[str, Any]:
        cfg = self.config

        def count(_state: Any) -> None:
            retried[0] += 1
            with self._lock:
                self.usage["retries"] += 1

        retrying = AsyncRetrying(
            stop=stop_after_attempt(cfg.max_retries + 1),
            wait=wait_random_exponential(multiplier=cfg.backoff, max=60),
            retry=retry_if_exception(_retryable),
            before_sleep=count,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if request.endpoint == "chat":
                    response = await api.chat.completions.create(model=request.model, messages=request.input, **request.params)
                else:
                    response = await api.completions.create(model=request.model, prompt=request.input, **request.params)
        return response.model_dump(mode="json")

    def _account(self, response: dict[str, Any]) -> None:
        usage = response.get("usage") or {}
        prompt, completion = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
        self.usage["calls"] += 1
        self.usage["prompt_tokens"] += prompt
        self.usage["completion_tokens"] += completion
        self.usage["cost_usd"] += (prompt * self.config.price_prompt_per_1k + completion * self.config.price_completion_per_1k) / 1000
