"""A real local Ray cluster (a head and two worker nodes, separate processes on 127.0.0.1) and an
OpenAI-compatible endpoint of our own that answers ratings from a known matrix with a fixed latency."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the Ray tests need pnyx[ray] (bash scripts/install.sh --dev installs it)")

from scale_support import SRC, rating

PAIR = re.compile(r"I am participant (p\d+)\..*<statement>\s*(s\d+)\b", re.S)


class Endpoint:
    """``/v1/chat/completions`` and ``/v1/completions`` on 127.0.0.1 (uvicorn + Starlette): a rating
    prompt gets the matrix's digit after ``latency`` seconds; every call is counted per pair."""

    def __init__(self, latency: float):
        import uvicorn
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        self.latency = latency
        self.calls: Counter = Counter()
        self._lock = threading.Lock()

        async def complete(request):
            body = await request.json()
            prompt = body.get("prompt") or "\n".join(m["content"] for m in body.get("messages", []))
            found = PAIR.search(prompt)
            key = found.groups() if found else ("generation", prompt[-40:])
            with self._lock:
                self.calls[key] += 1
            await asyncio.sleep(self.latency)
            text = str(rating(*key)) if found else "Everyone agrees on something."
            usage = {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}
            if "messages" in body:
                choice = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
                return JSONResponse({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                     "choices": [choice], "usage": usage})
            choice = {"index": 0, "finish_reason": "stop", "text": text, "logprobs": None}
            return JSONResponse({"id": "x", "object": "text_completion", "created": 0, "model": body["model"],
                                 "choices": [choice], "usage": usage})

        app = Starlette(routes=[Route("/v1/chat/completions", complete, methods=["POST"]),
                                Route("/v1/completions", complete, methods=["POST"])])
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", limit_concurrency=1000,
                                                    backlog=2048))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started and time.time() < deadline:
            time.sleep(0.02)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.calls.values())

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def endpoint():
    server = Endpoint(latency=0.05)
    yield server
    server.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """``ray start --head`` (no CPUs: tasks go to the workers) and ``ray start --address`` twice, each
    node in its own process group so the fixture can end exactly the processes it started."""

    def __init__(self, workers: int = 2, cpus: int = 2):
        self.ray = str(Path(sys.executable).with_name("ray"))
        self.temp = tempfile.mkdtemp(prefix="pnyxray", dir="/tmp")  # unix socket paths must stay short
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
                    "PYTHONPATH": os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")]))}
        common = ["--node-ip-address=127.0.0.1", "--disable-usage-stats"]
        self.groups: list[int] = []
        try:
            self._start_nodes(workers, cpus, common)
        except BaseException:
            self.stop()
            raise

    def _start_nodes(self, workers: int, cpus: int, common: list[str]) -> None:
        self._start(["--head", f"--port={self.port}", "--num-cpus=0", "--include-dashboard=false",
                     f"--temp-dir={self.temp}", *common])
        self._wait(self._gcs_up, "the head node")
        for _ in range(workers):
            self._start([f"--address={self.address}", f"--num-cpus={cpus}", *common])
        ray.init(address=self.address, log_to_driver=False, configure_logging=False)  # this process: the driver
        self._wait(lambda: sum(n["Alive"] for n in ray.nodes()) == 1 + workers, f"{workers} worker nodes")

    def _start(self, args: list[str]) -> None:
        """``ray start`` in a new session: the node's processes keep its process group after it returns."""
        proc = subprocess.Popen([self.ray, "start", *args], env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.groups.append(proc.pid)
        out, _ = proc.communicate(timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"ray start {' '.join(args)} failed:\n{out[-3000:]}")

    def _gcs_up(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def _wait(self, ready, what: str, timeout: float = 120) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if ready():
                return
            time.sleep(0.5)
        raise RuntimeError(f"{what} did not come up within {timeout} s")

    def worker_pids(self) -> list[int]:
        """Processes running a pnyx query batch right now (Ray titles them ``ray::pnyx-model-queries``)."""
        found = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and b"pnyx-model-queries" in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
        return found

    def stop(self) -> None:
        """End the nodes' process groups (workers first, the head last): only what this fixture started."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for group in reversed(self.groups):
                try:
                    os.killpg(group, sig)
                except ProcessLookupError:
                    pass
            time.sleep(2 if sig == signal.SIGTERM else 0)
        shutil.rmtree(self.temp, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_cluster():
    os.environ["RAY_AUTH_MODE"] = "disabled"
    cluster = Cluster()
    try:
        yield cluster
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.stop()
