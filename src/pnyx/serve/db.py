"""Engines and transactions: SQLite (WAL) by default, PostgreSQL (psycopg 3) by URL; Alembic migrations.

``Database(url)`` opens the engine and brings the schema up to date. ``db.write()`` is the one way to
change data: a transaction that is committed before the block returns, so whatever the caller
acknowledges afterwards is on disk (SQLite in WAL mode: in the log, which survives a killed process;
``synchronous=NORMAL`` trades only power-loss durability of the last commits). SQLite allows one
writer at a time; writers queue on a lock rather than on SQLite's busy timeout (whose retries sleep):
a thread lock in this process and an ``flock`` on ``<database>.lock`` across processes (the worker
processes of ``pnyx serve --workers N``, the command line), which the kernel releases when a process
dies, SIGKILL included. The busy timeout stays as the fallback for writers that take no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from pnyx.data import InputError

MIGRATIONS = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """``pnyx.db`` or ``sqlite:///pnyx.db`` → a SQLite URL; ``postgresql://…`` → the psycopg 3 driver.

    Raises
    ------
    InputError
        For a URL of another database.
    """
    if "://" not in url:
        return f"sqlite:///{url}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith(("sqlite://", "postgresql+psycopg://")):
        return url
    raise InputError(f"unsupported database URL {url.split('://')[0]!r}: use a SQLite file or postgresql://…",
                     field="--db")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class WriterLock:
    """One writer at a time: a thread lock, then an exclusive ``flock`` on ``path`` (across processes)."""

    def __init__(self, path: Path):
        self.path, self._threads, self._fd = path, threading.Lock(), None

    def __enter__(self) -> "WriterLock":
        self._threads.acquire()
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def close(self) -> None:
        with self._threads:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class Database:
    """An engine, a session factory and (SQLite) the writer lock."""

    def __init__(self, url: str, *, migrate: bool = True):
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self._write_lock: Any = contextlib.nullcontext()
        if self.is_sqlite:
            path = make_url(self.url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                self._write_lock = WriterLock(Path(path + ".lock"))
            else:
                self._write_lock = threading.Lock()
            self.engine: Engine = create_engine(self.url, connect_args={"check_same_thread": False, "timeout": 30},
                                                pool_size=20, max_overflow=20)
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(self.url, pool_size=20, max_overflow=20, pool_pre_ping=True)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        """Upgrade the schema to the newest Alembic revision (idempotent)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self._write_lock, self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        with self.sessions() as s:
            yield s

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction committed when the block ends (rolled back on an exception)."""
        with self._write_lock, self.sessions() as s, s.begin():
            yield s

    @property
    def data_dir(self) -> Path:
        """Where files that go with this database live (the model-call cache)."""
        if self.is_sqlite:
            path = make_url(self.url).database
            if path and path != ":memory:":
                return Path(path).resolve().parent / (Path(path).name + ".files")
        return Path.cwd() / ".pnyx-serve"

    def dispose(self) -> None:
        self.engine.dispose()
        if isinstance(self._write_lock, WriterLock):
            self._write_lock.close()
