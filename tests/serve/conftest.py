"""Fixtures for ``pnyx serve``: a throwaway PostgreSQL cluster, a live server in a subprocess, a browser.

``db_url`` is parametrised: every test that takes it runs on a SQLite file and on a real PostgreSQL
server started from Debian's ``postgresql`` package (``initdb``/``pg_ctl`` in a temporary folder on a
free port; as root it runs as the ``postgres`` user, since PostgreSQL refuses to run as root).
Missing binaries fail the tests, they do not skip them (``bash scripts/install.sh --dev`` installs both).
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
INSTALL_HINT = "bash scripts/install.sh --dev installs it"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        pytest.fail(f"PostgreSQL (Debian's postgresql package) is not installed; {INSTALL_HINT}")
    return Path(found[-1]).parent


@dataclass
class PgCluster:
    port: int
    folder: Path
    user: str | None

    def url(self, name: str) -> str:
        return f"postgresql://pnyx@127.0.0.1:{self.port}/{name}"


def _as_user(cmd: list[str], user: str | None) -> list[str]:
    return cmd if user is None else ["runuser", "-u", user, "--", *cmd]


@pytest.fixture(scope="session")
def pg_cluster():
    """A PostgreSQL cluster for this test session (trust auth on 127.0.0.1 only, superuser ``pnyx``)."""
    bin_dir = _pg_bin()
    user = None
    if os.geteuid() == 0:
        user = "postgres" if _has_user("postgres") else "nobody"
    folder = Path(tempfile.mkdtemp(prefix="pnyx-pg-"))
    if user is not None:
        pw = pwd.getpwnam(user)
        os.chown(folder, pw.pw_uid, pw.pw_gid)
    data = folder / "data"
    port = free_port()
    subprocess.run(_as_user([str(bin_dir / "initdb"), "-D", str(data), "-U", "pnyx", "-A", "trust", "-E", "UTF8",
                             "--no-sync"], user), check=True, capture_output=True, cwd=folder)
    opts = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200"
    subprocess.run(_as_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(folder / "log"), "-w",
                             "start"], user), check=True, capture_output=True, cwd=folder)
    try:
        yield PgCluster(port, folder, user)
    finally:
        subprocess.run(_as_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], user),
                       capture_output=True, cwd=folder)
        shutil.rmtree(folder, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def new_pg_database(cluster: PgCluster) -> str:
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return cluster.url(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty database: a SQLite file, or a new database on the session's PostgreSQL cluster."""
    if request.param == "sqlite":
        return str(tmp_path / "pnyx.db")
    return new_pg_database(request.getfixturevalue("pg_cluster"))


@pytest.fixture
def sqlite_url(tmp_path):
    return str(tmp_path / "pnyx.db")


class LiveServer:
    """``pnyx serve`` in a subprocess on 127.0.0.1 and a free port; ``kill()`` sends SIGKILL, ``start()`` restarts."""

    def __init__(self, db: str, folder: Path):
        self.db, self.folder, self.port = db, folder, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.admin_link: str | None = None
        self._logs = 0

    def start(self, timeout: float = 30.0) -> "LiveServer":
        self._logs += 1
        out = open(self.folder / f"server-{self._logs}.log", "w+")
        env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               "PNYX_LLM_BASE_URL": "", "OPENAI_BASE_URL": ""}
        self.proc = subprocess.Popen([sys.executable, "-m", "pnyx.cli", "serve", "--db", self.db, "--port",
                                      str(self.port)], stdout=out, stderr=subprocess.STDOUT, cwd=self.folder, env=env)
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
        """SIGKILL: no shutdown code runs."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.folder.glob("server-*.log")))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def live_server(request, tmp_path_factory):
    """``pnyx serve`` on a fresh SQLite file or PostgreSQL database, shared by a module's tests (each test
    makes its own consultation)."""
    folder = tmp_path_factory.mktemp(f"serve-{request.param}")
    url = str(folder / "pnyx.db") if request.param == "sqlite" else new_pg_database(request.getfixturevalue("pg_cluster"))
    server = LiveServer(url, folder).start()
    yield server
    server.stop()


@pytest.fixture
def fresh_server(db_url, tmp_path):
    """A server of its own (for tests that kill it)."""
    server = LiveServer(db_url, tmp_path).start()
    yield server
    server.stop()


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (never ``playwright install``)."""
    from playwright.sync_api import sync_playwright

    path = shutil.which("chromium")
    if path is None:
        pytest.fail(f"Debian's chromium package is missing; {INSTALL_HINT}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


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
