"""Where model calls run: in this process (``local``) or as tasks on a Ray cluster (``ray``).

:class:`pnyx.queries.client.ModelClient` looks every request up in its one cache first; only the
requests the cache cannot answer go to the executor, and every answer comes back to the client,
which writes it through the cache *as it arrives*. So the cache has one writer (the driver), a
killed worker loses only the calls it had in flight, and a rerun repeats no answered call.

* :class:`LocalExecutor` — the client's own bounded-concurrency asyncio loop (the default).
* :class:`RayExecutor` — the requests are split into batches; each batch is a Ray task (Ray Core,
  a streaming generator task) whose worker calls the endpoint with the same :class:`LLMConfig`
  (timeouts, retries with backoff, concurrency per worker) and yields each answer as it gets it.
  At most ``workers`` batches run at once (default: the cluster's CPUs). A batch whose worker dies
  is resubmitted without the answers it already yielded, up to ``attempts`` times. A worker that
  cannot reach the endpoint after its retries stops the run with :class:`EndpointUnreachable`,
  naming the endpoint and the worker's node; a cluster address that does not answer fails at once
  with :class:`RayUnavailable` instead of waiting.

Ray is an optional extra (``pip install 'pnyx[ray]'``); every node needs pnyx installed (the task
is pnyx code) and network access to the endpoint. Answers do not depend on where they were computed,
so a slate is the same with either executor for the same seed.
"""

from __future__ import annotations

import socket
import threading
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Callable

from pnyx.data import InputError

EXECUTORS = ("local", "ray")

Store = Callable[[str, dict, int], None]
"""``store(key, response, retries)``: hand one answer back to the client (which caches it)."""


class ExecutorError(RuntimeError):
    """Model queries could not be run where they were sent (the message says why and what to do)."""


class RayUnavailable(ExecutorError):
    """Ray is not installed, or the cluster at the given address does not answer."""


class EndpointUnreachable(ExecutorError):
    """A worker could not reach the model endpoint (after its retries)."""


class Executor(ABC):
    name: str = ""

    @abstractmethod
    def call(self, config: Any, todo: dict[str, Any], store: Store, progress: bool = False) -> None:
        """Answer every request of ``todo`` (cache key → :class:`~pnyx.queries.client.ModelRequest`)
        at the endpoint of ``config``, calling ``store`` once per answer as it arrives."""


class LocalExecutor(Executor):
    """The calls run in this process (:meth:`ModelClient.gather` runs them on its own event loop)."""

    name = "local"

    def call(self, config: Any, todo: dict[str, Any], store: Store, progress: bool = False) -> None:
        import asyncio

        from pnyx.queries.client import ModelClient

        asyncio.run(ModelClient(config)._call_all(todo, store, progress, report_retries=True))

    def __repr__(self) -> str:
        return "LocalExecutor()"


def _answer_batch(config: Any, batch: dict[str, Any]):
    """The Ray task: call the endpoint for ``batch`` and yield ``(key, response, retries)`` as each
    answer arrives (a streaming generator, so the driver caches answers before the batch ends)."""
    import os

    from pnyx.queries.client import ModelClient

    _reach(config)
    try:
        yield from ModelClient(config).answers(batch)
    except Exception as exc:
        import openai

        if isinstance(exc, openai.APIConnectionError):  # includes timeouts
            raise EndpointUnreachable(
                f"a Ray worker (pid {os.getpid()}, node {socket.gethostname()}) could not reach the model endpoint "
                f"{config.base_url} after {config.max_retries + 1} attempts: {exc}") from None
        raise


def _reach(config: Any, attempts: int = 3) -> None:
    """Fail fast, with the endpoint's address in the message, when no TCP connection to it opens."""
    import os
    import time
    from urllib.parse import urlsplit

    url = urlsplit(config.base_url)
    port = url.port or (443 if url.scheme == "https" else 80)
    for attempt in range(attempts):
        try:
            socket.create_connection((url.hostname, port), timeout=min(config.timeout, 5.0)).close()
            return
        except OSError as exc:
            if attempt == attempts - 1:
                raise EndpointUnreachable(
                    f"a Ray worker (pid {os.getpid()}, node {socket.gethostname()}) cannot connect to the model "
                    f"endpoint {config.base_url} ({exc}); is it running and reachable from every node?") from None
            time.sleep(0.5 * (attempt + 1))


class RayExecutor(Executor):
    """Model calls as Ray tasks (see the module docstring).

    Parameters
    ----------
    address
        The cluster to join (``host:port`` of the head's GCS, ``auto``, or ``ray://host:port``); None
        joins the cluster named by ``RAY_ADDRESS`` or starts a local one.
    workers
        Batches in flight at once (default: the cluster's CPUs).
    batch_size
        Requests per task.
    attempts
        How often a batch whose worker died is submitted (with its unanswered requests only).
    connect_timeout
        Seconds to wait for the cluster address to accept a connection.
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, workers: int | None = None, batch_size: int = 16,
                 attempts: int = 3, connect_timeout: float = 10.0):
        if batch_size < 1 or attempts < 1 or (workers is not None and workers < 1):
            raise InputError("batch_size, attempts and workers must be positive", field="executor")
        self.address, self.workers, self.batch_size, self.attempts = address, workers, batch_size, attempts
        self.connect_timeout = connect_timeout
        self._task = None

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, workers={self.workers}, batch_size={self.batch_size})"

    def connect(self) -> Any:
        """Join (or start) the cluster once; the remote task, ready to submit."""
        try:
            import ray
        except ImportError:
            raise RayUnavailable("the ray executor needs Ray: pip install 'pnyx[ray]'") from None
        if not ray.is_initialized():
            address = self.address
            if address and address != "auto" and not address.startswith("ray://"):
                host, _, port = address.rpartition(":")
                try:
                    socket.create_connection((host or "127.0.0.1", int(port)), timeout=self.connect_timeout).close()
                except (OSError, ValueError) as exc:
                    raise RayUnavailable(f"cannot reach the Ray cluster at {address!r} ({exc}); start one with "
                                         "`ray start --head` or pass the head's address") from None
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        if self._task is None:
            self._task = ray.remote(num_cpus=1, max_retries=0)(_answer_batch)
        return self._task

    def call(self, config: Any, todo: dict[str, Any], store: Store, progress: bool = False) -> None:
        import ray

        task = self.connect()
        workers = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        pending = dict(todo)
        lock = threading.Lock()
        running: list[Any] = []

        def run(batch: dict[str, Any]) -> None:
            generator = task.options(name="pnyx-model-queries").remote(config, batch)
            running.append(generator)
            for ref in generator:
                key, response, retries = ray.get(ref)
                with lock:
                    if pending.pop(key, None) is None:
                        continue  # answered by an earlier attempt
                store(key, response, retries)

        crashed: list[BaseException] = []
        for _ in range(self.attempts):
            items = list(pending.items())
            crashed = []
            with ThreadPoolExecutor(workers) as pool:
                futures = [pool.submit(run, dict(items[i:i + self.batch_size]))
                           for i in range(0, len(items), self.batch_size)]
                for future in as_completed(futures):
                    error = future.exception()
                    if error is None:
                        continue
                    if _lost_worker(error):
                        crashed.append(error)
                        continue
                    for f in futures:
                        f.cancel()
                    for generator in running:
                        ray.cancel(generator)
                    raise getattr(error, "cause", None) or error
            if not pending or not crashed:
                break
        if pending:
            raise ExecutorError(f"{len(pending)} model queries are unanswered after {self.attempts} attempts on the "
                               f"Ray cluster (last error: {crashed[-1] if crashed else 'none'}); the answers received "
                               "are cached, so a rerun asks only for these")


def _lost_worker(error: BaseException) -> bool:
    """A worker or node died (retry the batch), as opposed to an error of the task itself."""
    from ray.exceptions import RayError, RayTaskError

    return isinstance(error, RayError) and not isinstance(error, RayTaskError)


def get_executor(executor: str | Executor | None = None, *, address: str | None = None, **options: Any) -> Executor:
    """An executor by name (``local``, the default, or ``ray``), or ``executor`` itself if it is one.

    Raises
    ------
    InputError
        An unknown name.
    """
    if isinstance(executor, Executor):
        return executor
    name = executor or "local"
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(address, **options)
    raise InputError(f"unknown executor {name!r}; known: {', '.join(EXECUTORS)}", field="--executor")
