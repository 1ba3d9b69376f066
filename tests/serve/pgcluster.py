"""A throwaway PostgreSQL cluster from Debian's ``postgresql`` package (used by the tests and benchmarks/serve.py).

``initdb`` and ``pg_ctl`` in a temporary folder, listening on 127.0.0.1 and a free port, trust
authentication, superuser ``pnyx``. As root it runs as the ``postgres`` user (or ``nobody``), since
PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


@dataclass
class PgCluster:
    port: int
    folder: Path

    def url(self, name: str) -> str:
        return f"postgresql://pnyx@127.0.0.1:{self.port}/{name}"

    def new_database(self) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and there is neither a postgres nor a nobody user to run PostgreSQL as")


@contextlib.contextmanager
def pg_cluster() -> Iterator[PgCluster]:
    bin_dir = pg_bin()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL (Debian's postgresql package) is not installed; "
                                "bash scripts/install.sh --dev installs it")
    user = _user()
    as_user = (lambda cmd: cmd) if user is None else (lambda cmd: ["runuser", "-u", user, "--", *cmd])
    folder = Path(tempfile.mkdtemp(prefix="pnyx-pg-"))
    if user is not None:
        pw = pwd.getpwnam(user)
        os.chown(folder, pw.pw_uid, pw.pw_gid)
    data, port = folder / "data", free_port()
    run = lambda cmd: subprocess.run(as_user(cmd), check=True, capture_output=True, cwd=folder)  # noqa: E731
    try:
        run([str(bin_dir / "initdb"), "-D", str(data), "-U", "pnyx", "-A", "trust", "-E", "UTF8", "--no-sync"])
        run([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "start", "-o",
             f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=300"])
        yield PgCluster(port, folder)
    finally:
        subprocess.run(as_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True, cwd=folder)
        shutil.rmtree(folder, ignore_errors=True)
