"""A real local Ray cluster (a head and two worker nodes, separate processes on 127.0.0.1) and an
OpenAI-compatible endpoint of our own that answers ratings from a known matrix with a fixed latency.

Shared by the Ray tests of tests/scale and tests/serve (their fixtures ``ray_cluster`` and ``endpoint``
are in tests/conftest.py) and by benchmarks/scale.py; Ray itself is imported only when a cluster starts.
"""

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
from typing import Callable

SRC = str(Path(__file__).resolve().parents[1] / "src")
PAIR = re.compile(r"I am participant (p\d+)\..*<statement>\s*(s\d+)\b", re.S)


def rating(participant: str, statement: str) -> int:
    """The known matrix the test endpoint answers from (participant ``pI``, statement ``sJ``)."""
    return (7 * int(participant[1:]) + 3 * int(statement[1:])) % 5


def prompt_of(body: dict) -> str:
    """The text of a request's prompt (a completion's ``prompt``, or a chat's messages joined)."""
    return body.get("prompt") or "\n".join(m["content"] for m in body.get("messages", []))


def matrix_answer(body: dict) -> tuple[tuple, str]:
    """The default answer of :class:`Endpoint`: a rating prompt for ``pI`` and ``sJ`` (:data:`PAIR`) gets
    :func:`rating`; any other prompt (a generative query) one fixed statement."""
    prompt = prompt_of(body)
    found = PAIR.search(prompt)
    if found:
        return found.groups(), str(rating(*found.groups()))
    return ("generation", prompt[-40:]), "Everyone agrees on something."


def socket_inode(peer_port: int, server_port: int) -> str | None:
    """The inode of the loopback TCP socket from ``peer_port`` to ``server_port`` (/proc/net/tcp), or None."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == peer_port and int(fields[2].split(":")[1], 16) == server_port:
            return fields[9]
    return None


def parent_pid(pid: int) -> int:
    """The parent of process ``pid`` (/proc/PID/stat; OSError if it is gone)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def pid_of_socket(inode: str) -> int | None:
    """The process that has the socket ``inode`` among its open files, or None."""
    target = f"socket:[{inode}]"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) == target for fd in (proc / "fd").iterdir()):
                return int(proc.name)
        except OSError:
            continue
    return None


class Endpoint:
    """``/v1/chat/completions`` and ``/v1/completions`` on 127.0.0.1 (uvicorn + Starlette): after ``latency``
    seconds (read at each call) a request gets ``answer(body)``'s text (default :func:`matrix_answer`: a
    rating prompt the matrix's digit); every call is counted under ``answer``'s key (per pair).

    ``callers=True`` also records which process made each call (the client socket's inode, then its
    process, once per connection): ``callers`` maps pid → [calls, its parent's pid, its command line
    when first seen]."""

    def __init__(self, latency: float, answer: Callable[[dict], tuple[tuple, str]] = matrix_answer,
                 callers: bool = False):
        import uvicorn
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        self.latency = latency
        self.calls: Counter = Counter()
        self.callers: dict[int, list] = {}
        self._lock = threading.Lock()
        owners: dict[str, int | None] = {}  # socket inode → pid

        def identify(peer_port: int) -> None:
            inode = socket_inode(peer_port, self.port)
            if inode is not None and inode not in owners:
                owners[inode] = pid_of_socket(inode)
            pid = owners.get(inode)
            if pid is None:
                return
            with self._lock:
                if pid not in self.callers:
                    try:
                        parent = parent_pid(pid)
                        title = Path(f"/proc/{pid}/cmdline").read_bytes()
                    except OSError:
                        parent, title = None, b""
                    self.callers[pid] = [0, parent, title.replace(b"\0", b" ").decode(errors="replace").strip()]
                self.callers[pid][0] += 1

        async def complete(request):
            body = await request.json()
            key, text = answer(body)
            with self._lock:
                self.calls[key] += 1
            if callers:
                await asyncio.to_thread(identify, request.client.port)
            await asyncio.sleep(self.latency)
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
            self.callers.clear()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """``ray start --head`` (no CPUs: tasks go to the workers) and ``ray start --address`` twice, each
    node in its own process group so the fixture can end exactly the processes it started (Ray's worker
    processes have groups of their own and end with their node's raylet)."""

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
        import ray

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

    def started(self, worker: int) -> bool:
        """Whether the process ``worker`` was started by a raylet of this cluster (Ray workers have process
        groups of their own; their parent, the raylet, keeps its node's)."""
        try:
            return os.getpgid(parent_pid(worker)) in self.groups
        except OSError:
            return False

    def worker_pids(self) -> list[int]:
        """This cluster's processes running a pnyx query batch right now (Ray titles them
        ``ray::pnyx-model-queries``); not those of another cluster on the machine."""
        found = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and b"pnyx-model-queries" in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
        return [pid for pid in found if self.started(pid)]

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
