"""Helpers for the ``pnyx serve`` tests: a live server in a subprocess, an HTTP client per person, and a few
organiser steps over HTTP (imported by the tests; the fixtures are in conftest.py)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pgcluster import free_port

SRC = Path(__file__).resolve().parents[2] / "src"


class LiveServer:
    """``pnyx serve`` in a subprocess on 127.0.0.1 and a free port; ``kill()`` sends SIGKILL, ``start()`` restarts.
    ``args``: more options of ``pnyx serve`` (``--workers 2``); ``env``: environment variables for it (by
    default no model endpoint is configured)."""

    def __init__(self, db: str, folder: Path, args: list[str] = (), env: dict[str, str] | None = None):
        self.db, self.folder, self.port, self.args = db, folder, free_port(), list(args)
        self.env = dict(env or {})
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.admin_link: str | None = None
        self._logs = 0

    def start(self, timeout: float = 30.0) -> "LiveServer":
        self._logs += 1
        out = open(self.folder / f"server-{self._logs}.log", "w+")
        env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               "PNYX_LLM_BASE_URL": "", "OPENAI_BASE_URL": "", **self.env}
        self.proc = subprocess.Popen([sys.executable, "-m", "pnyx.cli", "serve", "--db", self.db, "--port",
                                      str(self.port), *self.args],
                                     stdout=out, stderr=subprocess.STDOUT, cwd=self.folder, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out.seek(0)
                raise RuntimeError(f"pnyx serve exited: {out.read()}")
            out.seek(0)
            text = out.read()
            m = re.search(r"organiser link \(shown once.*?: (\S+)", text)
            if m:
                self.admin_link = m.group(1)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("pnyx serve did not start in time")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs. Returns when nothing listens on the port any more (the worker
        processes of ``--workers N`` die with the server, a moment after it)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                return
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.folder.glob("server-*.log")))


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


SCREENSHOTS = Path(os.environ.get("PNYX_SCREENSHOTS", Path(tempfile.gettempdir()) / "pnyx-serve-screenshots"))


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


class Client:
    """An HTTP client with its own cookies (one person), for tests that need no rendering."""

    def __init__(self, server: LiveServer):
        import httpx

        self.http = httpx.Client(base_url=server.base, follow_redirects=True, timeout=30)
        self.csrf: str | None = None

    def open(self, link: str):
        r = self.http.get(link)
        if r.status_code == 200 and 'name="csrf"' in r.text:
            self.csrf = csrf_of(r.text)
        return r

    def post(self, path: str, data: dict | None = None, *, csrf: bool = True, **kw):
        data = dict(data or {})
        if csrf:
            data["csrf"] = self.csrf
        return self.http.post(path, data=data, **kw)

    def close(self) -> None:
        self.http.close()


def organiser(server: LiveServer) -> Client:
    org = Client(server)
    assert org.open(server.admin_link).status_code == 200
    return org


def new_consultation(org: Client, seeds: list[str], **fields) -> int:
    r = org.post("/admin/consultations", {"question": "What should the city do?", "k": "2", **fields})
    assert r.status_code == 200, r.text
    cid = int(str(r.url).rsplit("/", 1)[1])
    if seeds:
        assert org.post(f"/admin/c/{cid}/seeds", {"text": "\n".join(seeds)}).status_code == 200
    return cid


def invite_links(org: Client, cid: int, count: int) -> list[str]:
    r = org.post(f"/admin/c/{cid}/invites", {"count": str(count)})
    return re.findall(r'<code class="invite">([^<]+)</code>', r.text)


def wait_for_job(org: Client, cid: int, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        html = org.http.get(f"/admin/c/{cid}/live").text
        rows = re.findall(r'<tr class="job-(\w+)">(.*?)</tr>', html, re.S)
        if rows and rows[0][0] in ("done", "failed"):
            return rows[0][0] + ": " + re.sub(r"<[^>]+>", " ", rows[0][1])
        time.sleep(0.3)
    raise AssertionError("the job did not finish")
