"""The one model client: any OpenAI-compatible endpoint, through the one cache.

:class:`ModelClient` owns what callers must not re-implement: the cache look-up before every call,
timeouts, retries with exponential backoff on timeouts, connection errors, 429 and 5xx (tenacity;
the SDK's own retries are off so that every HTTP attempt is counted here), bounded concurrency (an
:class:`asyncio.Semaphore`), token and cost accounting in :attr:`ModelClient.usage`, the model's
context window (:meth:`ModelClient.context_window`: the setting, else what the server says, else
:data:`DEFAULT_CONTEXT_WINDOW`) and token counts by the server's own tokenizer where it has one
(:meth:`ModelClient.count_tokens`). A failure that retries cannot fix becomes a :class:`ModelError`
whose one-line message names the cause and the fix (:func:`describe_failure`).

Nothing here has a default endpoint: a remote model is called only when the user configures one
(:meth:`LLMConfig.from_env` or explicit arguments).
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Sequence

import httpx
import openai
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from pnyx.data import InputError
from pnyx.queries.cache import Cache

Endpoint = Literal["chat", "completions"]

DEFAULT_CONTEXT_WINDOW = 4096
"""Tokens assumed when neither the setting nor the server says: small enough for most local models."""

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
    max_tokens: int = 128
    """The generated statement's tokens at most (one or two sentences need fewer than 100)."""
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
    context_window: int | None = None
    """Tokens the model sees at once, prompt and completion (``PNYX_LLM_CONTEXT``). None: what the server
    says (llama.cpp ``/props``, vLLM ``/v1/models``), else :data:`DEFAULT_CONTEXT_WINDOW`."""
    context_margin: int = 64
    """Tokens kept free besides the completion: the chat template's own tokens and estimation error."""
    chars_per_token: float = 3.0
    """Characters per token assumed where the server has no tokenizer endpoint (English text is ~4 in
    common tokenizers, so 3 over-counts; text in scripts with short tokens may need less)."""

    def __post_init__(self) -> None:
        if self.mode not in ("chat", "completions"):
            raise InputError(f"mode must be 'chat' or 'completions', not {self.mode!r}", field="mode")
        if self.concurrency < 1:
            raise InputError(f"concurrency must be at least 1, not {self.concurrency}", field="concurrency")
        if self.context_window is not None and self.context_window < 256:
            raise InputError(f"the context window must be at least 256 tokens, not {self.context_window}",
                             field="context_window")
        if self.chars_per_token <= 0:
            raise InputError(f"chars_per_token must be positive, not {self.chars_per_token}", field="chars_per_token")

    @classmethod
    def from_env(cls, **overrides: Any) -> "LLMConfig":
        """Read ``PNYX_LLM_BASE_URL``, ``PNYX_LLM_MODEL``, ``PNYX_LLM_API_KEY`` (else ``OPENAI_API_KEY``),
        ``PNYX_LLM_MODE`` and the numbers in :data:`ENV_NUMBERS` (``PNYX_LLM_CONTEXT``: the context window
        in tokens, ...); keyword arguments that are not None take precedence."""
        env: dict[str, Any] = {
            "base_url": os.environ.get("PNYX_LLM_BASE_URL") or None,
            "model": os.environ.get("PNYX_LLM_MODEL") or "",
            "api_key": os.environ.get("PNYX_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY") or None,
            "mode": os.environ.get("PNYX_LLM_MODE") or "chat",
        }
        for name, (var, kind) in ENV_NUMBERS.items():
            if value := os.environ.get(var):
                try:
                    env[name] = kind(value)
                except ValueError:
                    raise InputError(f"{var} must be a {'whole ' if kind is int else ''}number, not {value!r}",
                                     field=var) from None
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


ENV_NUMBERS: dict[str, tuple[str, type]] = {
    "context_window": ("PNYX_LLM_CONTEXT", int),
    "max_tokens": ("PNYX_LLM_MAX_TOKENS", int),
    "concurrency": ("PNYX_LLM_CONCURRENCY", int),
    "timeout": ("PNYX_LLM_TIMEOUT", float),
}
"""The numeric settings :meth:`LLMConfig.from_env` reads: field → (variable, type). A local server
that answers one request at a time wants ``PNYX_LLM_CONCURRENCY=1`` and a ``PNYX_LLM_TIMEOUT`` that
covers its slowest prompt."""


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


class ModelError(InputError):
    """A model call that failed in a way retries cannot fix (a prompt the model cannot take, a refusal,
    a wrong model name, a server that is not there). The message is one line: the cause and the fix."""


@dataclass(frozen=True)
class ContextWindow:
    """The tokens a model sees at once and where that number came from: ``setting`` (``context_window``
    / ``PNYX_LLM_CONTEXT``), ``server /props`` (llama.cpp), ``server /v1/models`` (vLLM's
    ``max_model_len``), ``server error`` (a 400 that named the limit) or ``default``."""

    tokens: int
    source: str


_CONTEXT_IN_MESSAGE = re.compile(r"(?:maximum context length|context (?:window|length|size)) (?:is|of) (\d+)", re.I)


def context_limit_in(exc: BaseException) -> int | None:
    """The context length a 400 names ("This model's maximum context length is 4096 tokens" from
    OpenAI, vLLM and llama-cpp-python; ``n_ctx`` in llama.cpp's error body), or None."""
    if not isinstance(exc, openai.BadRequestError):
        return None
    body = exc.body if isinstance(exc.body, dict) else {}
    if isinstance(body.get("error"), dict):
        body = body["error"]
    if isinstance(body.get("n_ctx"), int):
        return body["n_ctx"]
    match = _CONTEXT_IN_MESSAGE.search(str(exc))
    return int(match[1]) if match else None


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_failure(exc: BaseException, config: "LLMConfig") -> tuple[str, str]:
    """(cause, one-line message with the fix) for a model call that failed after its retries.

    Causes: ``context`` (the prompt and completion exceed the model's context), ``bad_request``
    (another 400), ``auth`` (401/403), ``not_found`` (404: model or URL), ``rate_limit``, ``server``
    (5xx), ``connection`` and ``error`` (anything else)."""
    where = f"{config.model!r} at {config.base_url}"
    if isinstance(exc, openai.BadRequestError):
        if context_limit_in(exc) is not None or re.search(r"context|too long|requested \d+ tokens", str(exc), re.I):
            return "context", (f"the prompt does not fit {where}'s context ({_one_line(exc.message)}); set "
                               "PNYX_LLM_CONTEXT to the server's context size (llama.cpp: --ctx-size) or lower max_tokens")
        return "bad_request", f"{where} refused the request ({_one_line(exc.message)}); check PNYX_LLM_MODE (chat or completions)"
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return "auth", f"{where} refused the key ({_one_line(exc.message)}); set PNYX_LLM_API_KEY"
    if isinstance(exc, openai.NotFoundError):
        return "not_found", f"{where} is not there ({_one_line(exc.message)}); check PNYX_LLM_BASE_URL and PNYX_LLM_MODEL"
    if isinstance(exc, openai.RateLimitError):
        return "rate_limit", f"{where} kept answering 429 after {config.max_retries} retries; lower concurrency or try later"
    if isinstance(exc, openai.APIStatusError):
        return "server", (f"{where} kept failing ({exc.status_code}: {_one_line(exc.message)}) after "
                          f"{config.max_retries} retries; check the server's log")
    if isinstance(exc, openai.APIConnectionError):
        return "connection", (f"cannot reach {where} after {config.max_retries} retries ({_one_line(exc)}); "
                              "is the server running, and is PNYX_LLM_BASE_URL right?")
    return "error", f"the call to {where} failed: {type(exc).__name__}: {_one_line(exc)}"
class EndpointUnreachable(InputError):
    """The endpoint refused the connection or its host name does not resolve (no server there)."""


def _unreachable(exc: BaseException) -> str | None:
    """Why nothing listens at the endpoint (connection refused, unknown host), or None."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return "unknown host"
        text = str(seen)
        if "Connection refused" in text or "[Errno 111]" in text:
            return "connection refused"
        if "Name or service not known" in text or "nodename nor servname" in text:
            return "unknown host"
        seen = seen.__cause__ or seen.__context__
    return None


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
        self._context: ContextWindow | None = None
        self._tokenizer: str | None = None  # the tokenizer endpoint that answered; "" when none does
        self._lock = threading.Lock()

    def with_config(self, **changes: Any) -> "ModelClient":
        """A client with some settings changed, sharing this one's cache and executor (usage starts at zero)."""
        return ModelClient(replace(self.config, **changes), self.cache, self.executor)

    # -- what the server says about the model ---------------------------------------------------
    @property
    def server_root(self) -> str:
        """The base URL without its ``/v1``: where llama.cpp and vLLM serve ``/props`` and ``/tokenize``."""
        return re.sub(r"/v1/?$", "", str(self.config.base_url).rstrip("/"))

    def _http(self, method: str, url: str, **kwargs: Any) -> Any | None:
        """A short side request to the server (JSON answer), or None where it has no such endpoint."""
        headers = {"Authorization": f"Bearer {self.config.api_key}"} if self.config.api_key else {}
        try:
            response = httpx.request(method, url, headers=headers, timeout=min(self.config.timeout, 10.0), **kwargs)
            return response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None

    def context_window(self) -> ContextWindow:
        """The model's context window: the setting, else what the server says (llama.cpp: ``GET /props``
        → ``default_generation_settings.n_ctx``; vLLM: ``GET /v1/models`` → ``max_model_len``), else
        :data:`DEFAULT_CONTEXT_WINDOW`. Asked once per client."""
        if self._context is None:
            if self.config.context_window is not None:
                self._context = ContextWindow(self.config.context_window, "setting")
            else:
                self._context = self._context_from_server() or ContextWindow(DEFAULT_CONTEXT_WINDOW, "default")
        return self._context

    def _context_from_server(self) -> ContextWindow | None:
        props = self._http("GET", f"{self.server_root}/props") or {}
        n_ctx = (props.get("default_generation_settings") or {}).get("n_ctx") if isinstance(props, dict) else None
        if isinstance(n_ctx, int) and n_ctx > 0:
            return ContextWindow(n_ctx, "server /props")
        models = self._http("GET", f"{self.config.base_url.rstrip('/')}/models") or {}
        for m in (models.get("data") or []) if isinstance(models, dict) else []:
            if isinstance(m, dict) and m.get("id") == self.config.model and isinstance(m.get("max_model_len"), int):
                return ContextWindow(m["max_model_len"], "server /v1/models")
        return None

    def learn_context(self, tokens: int) -> None:
        """Take the context length a server named in an error (see :func:`context_limit_in`)."""
        if self.config.context_window is None or tokens < self.config.context_window:
            self._context = ContextWindow(tokens, "server error")

    def count_tokens(self, text: str) -> int | None:
        """The number of tokens of ``text`` by the server's tokenizer (llama.cpp and vLLM ``POST /tokenize``,
        llama-cpp-python ``POST /extras/tokenize/count``), or None where the server has none (OpenAI).
        Chat-template tokens are not included."""
        endpoints = {"/tokenize": {"content": text, "prompt": text, "model": self.config.model},
                     "/extras/tokenize/count": {"input": text, "model": self.config.model}}
        for path, body in endpoints.items():
            if self._tokenizer not in (None, path):
                continue
            answer = self._http("POST", f"{self.server_root}{path}", json=body)
            count = None
            if isinstance(answer, dict):
                count = answer.get("count", len(answer["tokens"]) if isinstance(answer.get("tokens"), list) else None)
            if isinstance(count, int):
                self._tokenizer = path
                return count
        if self._tokenizer is None:
            self._tokenizer = ""
        return None

    # -- sync entry points ----------------------------------------------------------------------
    def run_many(
        self, requests: Sequence[ModelRequest], *, progress: bool = False, return_exceptions: bool = False
    ) -> list[Any]:
        """Responses (as JSON dicts) in the order of ``requests``; shows a progress bar if asked.

        With ``return_exceptions`` a request that fails after its retries gives its exception in its
        place and the others go on; without, the first such failure is raised.

        Inside a running event loop (a notebook) the calls run on a helper thread's loop; async code
        can ``await`` :meth:`gather` instead."""
        work = self.gather(requests, progress=progress, return_exceptions=return_exceptions)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(work)
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, work).result()

    def run(self, request: ModelRequest) -> dict[str, Any]:
        return self.run_many([request])[0]

    # -- async core -----------------------------------------------------------------------------
    async def gather(
        self, requests: Sequence[ModelRequest], *, progress: bool = False, return_exceptions: bool = False
    ) -> list[Any]:
        """Answer every request; identical requests are called once. On a failure that outlives its
        retries the other calls are cancelled (finished ones are already cached) and it is raised, or,
        with ``return_exceptions``, it takes the request's place and the others go on."""
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

            def failed(key: str, exc: BaseException) -> None:
                results[key] = exc

            if self.executor.name == "local":
                await self._call_all(todo, store, progress, on_error=failed if return_exceptions else None)
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
                        report_retries: bool = False,
                        on_error: Callable[[str, BaseException], None] | None = None) -> None:
        """Call the endpoint for every request, ``store(key, response, retries)`` as each answer arrives
        (``retries``: the failed attempts before it, if ``report_retries``; else 0, as they are in :attr:`usage`).
        A call that fails after its retries is raised (the others cancelled), or handed to ``on_error``."""
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
                        try:
                            response = await self._call(api, request, retried)
                        except openai.OpenAIError as exc:
                            if on_error is None:
                                raise
                            on_error(key, exc)
                            bar.advance(task)
                            return
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
            # nothing listening before any call succeeded: a wrong URL or a server not started, not a hiccup
            retry=retry_if_exception(lambda e: _retryable(e) and not (self.usage["calls"] == 0 and _unreachable(e))),
            before_sleep=count,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    if request.endpoint == "chat":
                        response = await api.chat.completions.create(model=request.model, messages=request.input,
                                                                     **request.params)
                    else:
                        response = await api.completions.create(model=request.model, prompt=request.input, **request.params)
        except openai.APIConnectionError as exc:
            why = _unreachable(exc)
            if why is None:
                raise
            raise EndpointUnreachable(f"cannot reach the LLM endpoint {cfg.base_url} ({why}): start the server or "
                                      "fix PNYX_LLM_BASE_URL", field="base_url") from None
        return response.model_dump(mode="json")

    def _account(self, response: dict[str, Any]) -> None:
        usage = response.get("usage") or {}
        prompt, completion = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
        self.usage["calls"] += 1
        self.usage["prompt_tokens"] += prompt
        self.usage["completion_tokens"] += completion
        self.usage["cost_usd"] += (prompt * self.config.price_prompt_per_1k + completion * self.config.price_completion_per_1k) / 1000
